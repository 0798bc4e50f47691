"""Where a model problem's data lives, and which folders a server lets it read or write.

Kept apart from the problem interface because it is about the file system: a
:class:`DataSource` describes the bundled sample, the environment's folder and the
download folder; :func:`check_data_dir` keeps reads inside ``OPTLAB_DATA_ROOTS`` and
downloads under ``$OPTLAB_HOME/data`` (or an allowed root).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar


class DataError(Exception):
    """A model problem's data is missing, corrupt, unreachable or not allowed; the message
    names the file, folder or URL.  The command line reports it as the user's input
    (exit 2), naming ``problem.data_dir``."""


def _inside(path: Path, root: Path) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def data_home() -> Path:
    """Where datasets are downloaded by default: ``$OPTLAB_HOME/data`` (``~/.optlab/data``)."""
    raw = os.environ.get("OPTLAB_HOME", "").strip()
    return (Path(raw).expanduser() if raw else Path.home() / ".optlab") / "data"


def data_roots() -> list[Path]:
    """``OPTLAB_DATA_ROOTS``: the folders (``os.pathsep``-separated) a shared server may read
    datasets from and download into, besides :func:`data_home`; empty when unset.  (A
    server setting kept here, beside its only user: plugins import this interface only.)"""
    raw = os.environ.get("OPTLAB_DATA_ROOTS", "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def check_data_dir(path: str | Path, *, download: bool, extra: tuple[Path, ...] = ()) -> Path:
    """``path`` as a folder the server may use for data, else :class:`DataError`.

    Downloads go only under ``$OPTLAB_HOME/data`` or an ``OPTLAB_DATA_ROOTS`` folder; when
    ``OPTLAB_DATA_ROOTS`` is set (a shared server), reading is confined to those folders,
    ``$OPTLAB_HOME/data`` and ``extra`` (the problem's own bundled sample, say).
    Symlinks are resolved before comparing.
    """
    try:
        folder = Path(path).expanduser()
        os.path.realpath(folder)
    except (OSError, RuntimeError, ValueError) as exc:
        raise DataError(f"{str(path)!r} is not a usable folder ({exc})") from None
    roots = data_roots()
    allowed_roots = [data_home(), *roots, *([] if download else extra)]
    if (download or roots) and not any(_inside(folder, r) for r in allowed_roots):
        allowed = os.pathsep.join(str(r) for r in allowed_roots)
        what = "downloads go" if download else "data is read"
        raise DataError(
            f"{str(path)!r} is outside the allowed data folders ({what} only under {allowed}; "
            "OPTLAB_DATA_ROOTS lists more)"
        )
    return folder


class DataSource:
    """Where a model problem's dataset comes from: a bundled sample, a download, a folder.

    Returned by :meth:`ModelProblem.data_source` for problems whose ``Params`` have
    ``data_dir`` (a folder) and ``download`` (fetch it when missing) fields; the
    Training page then offers the sample, the full download or a folder on the server,
    and fills those two fields.  The texts below are its words.
    """

    #: the dataset's name ("CIFAR-10")
    title: ClassVar[str] = "the dataset"
    #: what the bundled sample holds ("5,085 + 1,017 real images")
    sample_text: ClassVar[str] = "sample"
    #: how big the download is ("170 MB")
    download_size: ClassVar[str] = ""
    #: what a data folder holds ("cifar-10-batches-py/")
    folder_content: ClassVar[str] = "the data"

    def sample_dir(self) -> Path:
        """The folder of the bundled sample (a ``data_dir`` value)."""
        raise NotImplementedError

    def env_dir(self) -> Path | None:
        """The folder the environment names (e.g. ``OPTLAB_DATA_DIR``), or None."""
        return None

    def download_dir(self) -> Path:
        """Where the full dataset is downloaded to."""
        raise NotImplementedError

    def present(self, root: Path) -> bool:
        """Whether ``root`` already holds the complete dataset."""
        raise NotImplementedError

    def download(
        self,
        dest: Path,
        progress_callback: Callable[[int, int], None] | None = None,
        url: str | None = None,
    ) -> Path:
        """Fetch the dataset into ``dest`` (from ``url`` instead of the official one when
        given), calling ``progress_callback(done_bytes, total_bytes)`` as it goes; returns
        the folder it fills."""
        raise NotImplementedError
