"""A model problem's dataset download, run in a background thread with its progress.

The problem says where the data goes and how to fetch it (its
:class:`~optlab.problem.DataSource`).  One download per server process at a time;
the page polls :func:`state` in a fragment.  The thread never touches Streamlit
(docs/architecture.md §6): it only updates a plain object that the page reads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from optlab.problem import DataSource


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


def target(source: DataSource) -> Path:
    """Where the full dataset goes (for CIFAR-10: ``$OPTLAB_HOME/data``)."""
    return source.download_dir()


def present(source: DataSource, root: Path | None = None) -> bool:
    """Whether the complete dataset is already in ``root`` (default: the download folder)."""
    return source.present(root or target(source))


def start(source: DataSource, url: str | None = None) -> bool:
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
            path = source.download(target(source), progress_callback=progress, url=url)
            with _LOCK:
                _STATE.path, _STATE.finished = str(path), True
        except Exception as exc:  # network, checksum or OSError: shown on the page
            with _LOCK:
                _STATE.error = str(exc)
        finally:
            with _LOCK:
                _STATE.running = False

    threading.Thread(target=work, name="optlab-data-download", daemon=True).start()
    return True
