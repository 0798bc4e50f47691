"""One warm ``python -m optlab.jobs.worker`` process and the pipe to it.

The local executor's slots each own one; it starts the worker, waits for it to be
ready, sends it jobs and reads what it sends back, and says in words why it died.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO, cast

import optlab
from optlab.jobs.worker import Channel

READY_TIMEOUT_S = 120.0


STDERR_LINES = 40


def describe_exit(code: int | None) -> str:
    """A readable reason for a worker's end, from its exit status."""
    if code is None:
        return "worker process stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        hint = " (killed; out of memory?)" if -code == signal.SIGKILL else ""
        return f"worker process died (signal {-code}: {name}){hint}"
    return f"worker process exited with code {code}"


class WorkerProcess:
    """Manager-side handle of one worker process."""

    def __init__(self, slot: int, threads: int, gpu: bool) -> None:
        env = dict(os.environ)
        root = str(Path(optlab.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        if not gpu:
            env["CUDA_VISIBLE_DEVICES"] = ""
        extra: dict[str, Any] = {"start_new_session": True} if os.name == "posix" else {}
        self.slot = slot
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "optlab.jobs.worker",
                "--threads",
                str(threads),
                "--slot",
                str(slot),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            **extra,
        )
        assert self.proc.stdin and self.proc.stdout and self.proc.stderr
        # binary pipes (no text/encoding given); **extra hides that from Popen's overloads
        self.chan = Channel(cast(BinaryIO, self.proc.stdout), cast(BinaryIO, self.proc.stdin))
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        threading.Thread(
            target=self._drain_stderr, daemon=True, name=f"optlab-worker-{slot}-stderr"
        ).start()
        self.info: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _drain_stderr(self) -> None:
        """Forward the worker's stderr to ours, keeping the last lines for error messages."""
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            self.stderr_tail.append(line)
            print(f"[optlab worker {self.slot}] {line}", file=sys.stderr, flush=True)

    def wait_ready(self) -> dict[str, Any]:
        """Block until the warm-up is done; its info (device, cuda …)."""
        msg = self.chan.recv()
        if msg[0] != "ready":
            raise RuntimeError(f"unexpected first message from the worker: {msg[0]!r}")
        self.info = msg[1]
        return self.info

    def send(self, message: Any) -> None:
        self.chan.send(message)

    def recv(self) -> Any:
        """The worker's next message; ``EOFError`` when it is gone."""
        return self.chan.recv()

    def wait(self) -> None:
        """Wait for the (killed) process to end."""
        self.proc.wait()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker and anything it started (it leads its own process group)."""
        with contextlib.suppress(OSError):
            if os.name == "posix":
                os.killpg(self.proc.pid, signal.SIGKILL)
            else:  # pragma: no cover - not tested off POSIX
                self.proc.kill()

    def exit_reason(self) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        reason = describe_exit(code)
        time.sleep(0.05)  # let the stderr thread catch the last lines
        last = [ln for ln in self.stderr_tail if ln.strip()]
        if code is not None and code > 0 and last:
            reason += f": {last[-1]}"
        return reason

    def stop(self) -> None:
        """Close the channel (the worker exits on EOF); kill it if it lingers."""
        if not self.info:  # still warming up: it reads no messages yet
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.send(("stop",))
        with contextlib.suppress(Exception):
            self.proc.stdin.close()  # type: ignore[union-attr]
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
