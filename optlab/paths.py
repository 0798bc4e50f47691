"""Where optlab keeps its state: ``OPTLAB_HOME`` (default ``~/.optlab``).

One folder holds the run store (``optlab.db``) and the resume checkpoints
(``checkpoints/<experiment id>.pt``), so a Docker volume on it keeps every run.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """``$OPTLAB_HOME`` or ``~/.optlab``, created if missing."""
    raw = os.environ.get("OPTLAB_HOME", "").strip()
    path = Path(raw).expanduser() if raw else Path.home() / ".optlab"
    path.mkdir(parents=True, exist_ok=True)
    return path


def db_path() -> Path:
    return home() / "optlab.db"


def checkpoint_dir(root: Path | None = None) -> Path:
    """The resume checkpoints' folder beside a store in ``root`` (default: the home)."""
    return (root if root is not None else home()) / "checkpoints"


def checkpoint_path(experiment_id: str, folder: Path | None = None) -> Path:
    """One experiment's resume checkpoint in ``folder`` (default: :func:`checkpoint_dir`)."""
    return (folder if folder is not None else checkpoint_dir()) / f"{experiment_id}.pt"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` so a reader (or a crash) sees the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
