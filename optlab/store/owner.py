"""Who answers for an active experiment, and whether that writer still exists.

A job manager (or a streaming ``optlab run``) takes a token from :func:`new_owner`
and stamps it, with its pid and host, on the experiments it runs.  When a manager
starts, experiments left ``queued``/``running`` by an owner that is gone become
``interrupted``; those of a live process (a terminal run, a second server) are
left alone.
"""

from __future__ import annotations

import os
import secrets
import socket

#: owner tokens of the job managers / recorders alive in THIS process
_LIVE_OWNERS: set[str] = set()


def new_owner() -> str:
    """A token for a process-local writer; experiments it owns count as alive."""
    token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    _LIVE_OWNERS.add(token)
    return token


def release_owner(token: str) -> None:
    _LIVE_OWNERS.discard(token)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C there; be conservative
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process whose parent has not reaped it yet is a zombie: dead
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def owner_alive(owner: str, pid: int | None, host: str) -> bool:
    """Whether the writer that owns an active experiment is still there."""
    if not owner or pid is None:
        return False
    if host != socket.gethostname():
        return True  # another machine's (a shared volume): not ours to judge
    if pid == os.getpid():
        return owner in _LIVE_OWNERS
    return _pid_alive(pid)
