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
from collections.abc import Callable
from typing import Any, BinaryIO

from optlab.jobs import job_runs

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

    def _cancels(self, job_id: str) -> Callable[[], list[list[int] | None]]:
        """The cancels for ``job_id`` that arrived since the last call (other messages
        wait for the next job: the manager sends one job at a time)."""

        def take() -> list[list[int] | None]:
            found: list[list[int] | None] = []
            while True:
                try:
                    msg = self.inbox.get_nowait()
                except queue.Empty:
                    return found
                if msg[0] == "cancel" and msg[1] == job_id:
                    found.append(msg[2])

        return take

    def run_job(
        self, job_id: str, spec_dict: dict[str, Any], checkpoint: bytes | None, opts: dict[str, Any]
    ) -> None:
        fatal = job_runs.run_job(
            job_id, spec_dict, checkpoint, opts, self.chan.send, self._cancels(job_id)
        )
        self._exit_if(fatal)

    def run_sweep_trials(
        self, job_id: str, spec_dict: dict[str, Any], trials: list[Any], opts: dict[str, Any]
    ) -> None:
        fatal = job_runs.run_sweep_trials(
            job_id, spec_dict, trials, opts, self.chan.send, self._cancels(job_id)
        )
        self._exit_if(fatal)

    @staticmethod
    def _exit_if(fatal: bool) -> None:
        """A fatal error (a poisoned CUDA context): this process must be replaced."""
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
