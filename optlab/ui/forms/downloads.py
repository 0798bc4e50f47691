"""The CIFAR-10 download, run in a background thread with its progress for the page.

One download per server process at a time; the page polls :func:`state` in a
fragment.  The thread never touches Streamlit (docs/architecture.md §6): it only updates a
plain object that the page reads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from problems.cifar10_cnn import data


@dataclass
class DownloadState:
    running: bool = False
    done_bytes: int = 0
    total_bytes: int = 0
    error: str = ""
    path: str = ""
    finished: bool = False

    @property
    def fraction(self) -> float:
        return self.done_bytes / self.total_bytes if self.total_bytes else 0.0


_STATE = DownloadState()
_LOCK = threading.Lock()


def state() -> DownloadState:
    with _LOCK:
        return DownloadState(**vars(_STATE))


def target() -> Path:
    """Where the full dataset goes (``$OPTLAB_HOME/data``)."""
    return data.default_download_root()


def present(root: Path | None = None) -> bool:
    """Whether a complete CIFAR-10 is already in ``root`` (default: the download folder)."""
    batches = (root or target()) / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
    return all((batches / n).is_file() for n in names)


def start(url: str | None = None) -> bool:
    """Start the download unless one is running; False when one already is."""
    with _LOCK:
        if _STATE.running:
            return False
        _STATE.__init__()  # type: ignore[misc]
        _STATE.running = True

    def progress(done: int, total: int) -> None:
        with _LOCK:
            _STATE.done_bytes, _STATE.total_bytes = done, total

    def work() -> None:
        try:
            kwargs = {"url": url} if url else {}
            path = data.download_cifar10(
                target(), progress=False, progress_callback=progress, **kwargs
            )
            with _LOCK:
                _STATE.path, _STATE.finished = str(path), True
        except Exception as exc:  # DataError (network, checksum) or OSError: shown on the page
            with _LOCK:
                _STATE.error = str(exc)
        finally:
            with _LOCK:
                _STATE.running = False

    threading.Thread(target=work, name="optlab-cifar-download", daemon=True).start()
    return True
