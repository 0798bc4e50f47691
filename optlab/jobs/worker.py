"""A worker process: runs experiments for the job manager (``python -m optlab.jobs.worker``).

Its entry is this module, never ``app.py`` (docs/architecture.md §6).  It warms up once
(``import torch``, the catalogues, a first optimizer) and then runs one experiment
at a time, streaming record batches back about every 50 ms.

Protocol: length-prefixed pickles over the process's stdin (manager → worker) and
its original stdout (worker → manager; stray prints are redirected to stderr).
Manager → worker::

    ("run", job_id, spec_dict, checkpoint_bytes | None, options)
    ("cancel", job_id, [run, …] | None)        # None: every run
    ("sweep", shard_id, spec_dict, [Trial, …], options)   # see optlab.jobs.sweep_jobs
    ("stop",)                                  # exit now (also on stdin EOF)

Worker → manager::

    ("ready", {"pid", "device", "cuda", "warmup_s"})
    ("started", job_id, {"device", "resumed": None | {"running": {run: steps_done}, "epochs_done"}})
    ("batch", job_id, Batch)
    ("checkpoint", job_id, step, bytes)      # right after the batch it follows
    ("trials", shard_id, [TrialResult, …])   # a sweep's trials that ended
    ("done", job_id)
    ("error", job_id, message, fatal)        # fatal: this process must be replaced

When stdin closes (the manager died) the worker exits at once.
"""

from __future__ import annotations

import argparse
import os
import pickle
import queue
import struct
import sys
import threading
import time
from typing import Any, BinaryIO

_HEADER = struct.Struct("<Q")


class Channel:
    """Pickled messages over a pair of byte streams; ``send`` is thread-safe."""

    def __init__(self, reader: BinaryIO, writer: BinaryIO) -> None:
        self.reader, self.writer = reader, writer
        self._send_lock = threading.Lock()

    def send(self, message: Any) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        with self._send_lock:
            self.writer.write(_HEADER.pack(len(data)) + data)
            self.writer.flush()

    def recv(self) -> Any:
        """The next message; ``EOFError`` when the other side is gone."""
        (size,) = _HEADER.unpack(self._read(_HEADER.size))
        return pickle.loads(self._read(size))

    def _read(self, n: int) -> bytes:
        parts, left = [], n
        while left:
            part = self.reader.read(left)
            if not part:
                raise EOFError("channel closed")
            parts.append(part)
            left -= len(part)
        return b"".join(parts)


WARMUP_SPEC = {
    "problem": {"name": "rosenbrock"},
    "steps": 3,
    "runs": [{"label": "warmup", "optimizer": {"name": "Adam", "lr": 0.01}}],
}


def warm_up() -> float:
    """Pay the cold-start costs now (torch, catalogues, lazy dynamo import): seconds spent."""
    start = time.perf_counter()
    import torch

    from optlab.engine.experiment import Experiment
    from optlab.spec import parse_spec

    param = torch.zeros(2, requires_grad=True)
    opt = torch.optim.Adam([param], lr=0.1)
    param.sum().backward()
    opt.step()
    try:
        for _ in Experiment(parse_spec(WARMUP_SPEC)).batches():
            pass
    except Exception as exc:  # a broken catalogue shows up in the first real job too
        print(f"optlab worker: warm-up experiment failed: {exc}", file=sys.stderr)
    return time.perf_counter() - start


def _is_fatal(exc: BaseException) -> bool:
    """Errors after which this process cannot be trusted (a CUDA context is poisoned)."""
    text = f"{type(exc).__name__}: {exc}"
    return "CUDA error" in text or "CUDNN_STATUS" in text or "cuda runtime error" in text


class _Worker:
    def __init__(self, chan: Channel) -> None:
        self.chan = chan
        self.inbox: queue.Queue[Any] = queue.Queue()

    def read_forever(self) -> None:
        """Reader thread: queue messages; exit the process when the manager is gone."""
        try:
            while True:
                msg = self.chan.recv()
                if msg[0] == "stop":
                    break
                self.inbox.put(msg)
        except (EOFError, OSError):
            pass
        sys.stderr.flush()
        os._exit(0)

    def serve(self) -> None:
        """Run jobs until the reader thread ends the process."""
        while True:
            msg = self.inbox.get()
            if msg[0] == "run":
                self.run_job(*msg[1:])
            elif msg[0] == "sweep":
                self.run_sweep_trials(*msg[1:])
            # a "cancel" for a job that already ended is dropped

    def _drain(self, job_id: str, exp: Any) -> None:
        """Apply the cancels that arrived since the last batch."""
        while True:
            try:
                msg = self.inbox.get_nowait()
            except queue.Empty:
                return
            if msg[0] == "cancel" and msg[1] == job_id:
                exp.cancel(None if msg[2] is None else set(msg[2]))

    def run_sweep_trials(
        self, job_id: str, spec_dict: dict[str, Any], trials: list[Any], opts: dict[str, Any]
    ) -> None:
        """Run some trials of a sweep (optlab.jobs.sweep_jobs), sending results as they end."""
        import torch

        from optlab.engine.sweep import run_trials
        from optlab.spec import parse_spec

        threads = torch.get_num_threads()
        flush = float(opts.get("flush_seconds", 0.05))
        pending: list[Any] = []
        last = [time.monotonic()]
        stopped = [False]

        def send() -> None:
            if pending:
                self.chan.send(("trials", job_id, list(pending)))
                pending.clear()
            last[0] = time.monotonic()

        def on_result(result: Any) -> None:
            pending.append(result)
            if time.monotonic() - last[0] >= flush:
                send()

        def should_stop() -> bool:
            while not stopped[0]:
                try:
                    msg = self.inbox.get_nowait()
                except queue.Empty:
                    break
                if msg[0] == "cancel" and msg[1] == job_id:
                    stopped[0] = True
            if pending and time.monotonic() - last[0] >= flush:
                send()
            return stopped[0]

        try:
            spec = parse_spec(spec_dict)
            if not should_stop():
                run_trials(
                    spec,
                    trials,
                    on_result=on_result,
                    should_stop=should_stop,
                    threads=1 if spec.is_surface else threads,
                )
            send()
            self.chan.send(("done", job_id))
        except Exception as exc:
            send()
            fatal = _is_fatal(exc)
            self.chan.send(("error", job_id, f"{type(exc).__name__}: {exc}", fatal))
            if fatal:
                sys.stderr.flush()
                os._exit(3)
        finally:
            torch.set_num_threads(threads)

    def run_job(
        self, job_id: str, spec_dict: dict[str, Any], checkpoint: bytes | None, opts: dict[str, Any]
    ) -> None:
        from optlab.engine.experiment import Experiment, device_label
        from optlab.spec import parse_spec

        try:
            spec = parse_spec(spec_dict)
            exp = Experiment.resume(spec, checkpoint) if checkpoint else Experiment(spec)
            resumed = None
            if checkpoint:
                per_epoch = exp.steps_per_epoch
                resumed = {
                    "running": {s.run: s.steps_done for s in exp.start_batch().statuses},
                    "epochs_done": exp.steps_done // per_epoch if per_epoch else None,
                }
            self.chan.send(
                ("started", job_id, {"device": device_label(exp.device), "resumed": resumed})
            )
            cancel = opts.get("cancel", [])
            if cancel is None or cancel:
                exp.cancel(None if cancel is None else set(cancel))
            every = float(opts.get("checkpoint_seconds", 5.0))
            last = time.monotonic()
            for batch in exp.batches(float(opts.get("flush_seconds", 0.05))):
                self.chan.send(("batch", job_id, batch))
                self._drain(job_id, exp)
                if (
                    every > 0
                    and time.monotonic() - last >= every
                    and exp.steps_done < exp.total_steps
                ):
                    self.chan.send(("checkpoint", job_id, exp.steps_done, exp.checkpoint_bytes()))
                    last = time.monotonic()
            self.chan.send(("done", job_id))
        except Exception as exc:
            fatal = _is_fatal(exc)
            self.chan.send(("error", job_id, f"{type(exc).__name__}: {exc}", fatal))
            if fatal:
                sys.stderr.flush()
                os._exit(3)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m optlab.jobs.worker", description=__doc__)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--slot", type=int, default=0, help="worker number (for logs)")
    args = parser.parse_args(argv)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # prints must not corrupt the channel
    chan = Channel(sys.stdin.buffer, out)

    import torch

    torch.set_num_threads(max(1, args.threads))
    seconds = warm_up()
    from optlab.engine.experiment import device_label, pick_device

    worker = _Worker(chan)
    threading.Thread(target=worker.read_forever, name="optlab-worker-reader", daemon=True).start()
    chan.send(
        (
            "ready",
            {
                "pid": os.getpid(),
                "device": device_label(pick_device("auto")),
                "cuda": bool(torch.cuda.is_available()),
                "warmup_s": seconds,
                "threads": torch.get_num_threads(),
            },
        )
    )
    worker.serve()


if __name__ == "__main__":
    main()
