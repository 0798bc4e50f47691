"""Running one job where a worker runs it: the same code in a local worker process
(:mod:`optlab.jobs.worker`) and in a Ray task (:mod:`optlab.jobs.ray_tasks`).

Each function runs an experiment, or some trials of a sweep, and hands every
message of the worker protocol (see :mod:`optlab.jobs.worker`) to ``send``:
``started``, ``batch``, ``checkpoint``, ``trials``, then ``done`` or ``error``.
``cancels()`` returns the cancels that arrived since it was last called (each a
list of run indices, or None for every run); it is polled between record batches.
Sharing this code is what makes a Ray-run experiment store exactly the records a
local one does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

Send = Callable[[Any], None]
Cancels = Callable[[], list[list[int] | None]]


def is_fatal(exc: BaseException) -> bool:
    """Errors after which this process cannot be trusted (a CUDA context is poisoned)."""
    text = f"{type(exc).__name__}: {exc}"
    return "CUDA error" in text or "CUDNN_STATUS" in text or "cuda runtime error" in text


def run_job(
    job_id: str,
    spec_dict: dict[str, Any],
    checkpoint: bytes | None,
    opts: dict[str, Any],
    send: Send,
    cancels: Cancels,
) -> bool:
    """Run one experiment, sending its records; True when the error was fatal."""
    from optlab.engine.experiment import Experiment, device_label
    from optlab.spec import parse_spec

    try:
        spec = parse_spec(spec_dict)
        if opts.get("device") is not None:  # the executor resolved "auto" (Ray: no GPU granted)
            spec = spec.model_copy(update={"device": opts["device"]})
        exp = Experiment.resume(spec, checkpoint) if checkpoint else Experiment(spec)
        resumed = None
        if checkpoint:
            per_epoch = exp.steps_per_epoch
            resumed = {
                "running": {s.run: s.steps_done for s in exp.start_batch().statuses},
                "epochs_done": exp.steps_done // per_epoch if per_epoch else None,
            }
        send(("started", job_id, {"device": device_label(exp.device), "resumed": resumed}))
        cancel = opts.get("cancel", [])
        if cancel is None or cancel:
            exp.cancel(None if cancel is None else set(cancel))
        every = float(opts.get("checkpoint_seconds", 5.0))
        last = time.monotonic()
        for batch in exp.batches(float(opts.get("flush_seconds", 0.05))):
            send(("batch", job_id, batch))
            for runs in cancels():
                exp.cancel(None if runs is None else set(runs))
            if every > 0 and time.monotonic() - last >= every and exp.steps_done < exp.total_steps:
                send(("checkpoint", job_id, exp.steps_done, exp.checkpoint_bytes()))
                last = time.monotonic()
        send(("done", job_id))
        return False
    except Exception as exc:
        fatal = is_fatal(exc)
        send(("error", job_id, f"{type(exc).__name__}: {exc}", fatal))
        return fatal


def run_sweep_trials(
    job_id: str,
    spec_dict: dict[str, Any],
    trials: list[Any],
    opts: dict[str, Any],
    send: Send,
    cancels: Cancels,
) -> bool:
    """Run some trials of a sweep (optlab.jobs.sweep_jobs), sending results as they end;
    True when the error was fatal."""
    import torch

    from optlab.engine.sweep import run_trials
    from optlab.spec import parse_spec

    threads = torch.get_num_threads()
    flush = float(opts.get("flush_seconds", 0.05))
    pending: list[Any] = []
    last = [time.monotonic()]
    stopped = [False]

    def flush_results() -> None:
        if pending:
            send(("trials", job_id, list(pending)))
            pending.clear()
        last[0] = time.monotonic()

    def on_result(result: Any) -> None:
        pending.append(result)
        if time.monotonic() - last[0] >= flush:
            flush_results()

    def should_stop() -> bool:
        if not stopped[0] and cancels():
            stopped[0] = True
        if pending and time.monotonic() - last[0] >= flush:
            flush_results()
        return stopped[0]

    try:
        spec = parse_spec(spec_dict)
        if opts.get("device") is not None:
            spec = spec.model_copy(update={"device": opts["device"]})
        if not should_stop():
            run_trials(
                spec,
                trials,
                on_result=on_result,
                should_stop=should_stop,
                threads=1 if spec.is_surface else threads,
            )
        flush_results()
        send(("done", job_id))
        return False
    except Exception as exc:
        flush_results()
        fatal = is_fatal(exc)
        send(("error", job_id, f"{type(exc).__name__}: {exc}", fatal))
        return fatal
    finally:
        torch.set_num_threads(threads)
