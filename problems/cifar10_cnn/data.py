"""CIFAR-10 as arrays and tensors: where the data lives, and loading it (cached).

This is the dataset's public face; the work is split by concern:
:mod:`.reader` reads the official ``cifar-10-batches-py`` batches with a restricted
unpickler (a data folder cannot run code), :mod:`.download` fetches, md5-verifies and
safely extracts the archive, :mod:`.tensors` normalizes and augments batches on the
device (no DataLoader: slicing one tensor is cheaper).  A small real subset ships in
``problems/cifar10_cnn/sample_data`` so everything works offline.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .download import CIFAR10_MD5, CIFAR10_URL, download_cifar10
from .reader import (
    BATCH_DIR,
    CLASSES,
    TEST_FILE,
    TRAIN_FILES,
    DataError,
    read_batch,
    read_split,
    required_files,
)
from .tensors import MEAN, STD, augment, normalize

__all__ = [
    "BATCH_DIR",
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "CLASSES",
    "MEAN",
    "STD",
    "TEST_FILE",
    "TRAIN_FILES",
    "Cifar10",
    "DataError",
    "augment",
    "data_dir",
    "default_download_root",
    "download_cifar10",
    "folder",
    "is_complete",
    "known_train_size",
    "load_cifar10",
    "normalize",
    "read_batch",
    "sample_dir",
]


SAMPLE_SOURCE = "bundled sample"


@dataclass(frozen=True)
class Cifar10:
    """The dataset as numpy arrays (read-only: they are shared through the in-process cache)."""

    train_x: np.ndarray  # uint8 (N, 3, 32, 32)
    train_y: np.ndarray  # int64 (N,)
    test_x: np.ndarray  # uint8 (M, 3, 32, 32)
    test_y: np.ndarray  # int64 (M,)
    source: str  # the folder holding cifar-10-batches-py/, or "bundled sample"

    def tensors(
        self, device: torch.device | str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fresh (writable) tensors ``train_x, train_y, test_x, test_y`` on ``device``.

        Copies once, straight to the device; ``torch.as_tensor`` on the read-only arrays
        would warn.
        """
        return tuple(  # type: ignore[return-value]
            torch.tensor(a, device=device)
            for a in (self.train_x, self.train_y, self.test_x, self.test_y)
        )


# --------------------------------------------------------------------------- locations


def sample_dir() -> Path:
    """The bundled ``sample_data`` folder beside this file (it holds ``cifar-10-batches-py/``)."""
    return Path(__file__).resolve().parent / "sample_data"


def data_dir() -> Path | None:
    """``OPTLAB_DATA_DIR`` (a folder holding ``cifar-10-batches-py/``), or None when unset."""
    value = os.environ.get("OPTLAB_DATA_DIR", "").strip()
    return Path(value).expanduser() if value else None


def default_download_root() -> Path:
    """Where ``download=True`` puts the data when no folder is given: ``$OPTLAB_HOME/data``."""
    home = os.environ.get("OPTLAB_HOME", "").strip() or "~/.optlab"
    return Path(home).expanduser() / "data"


def is_complete(root: Path) -> bool:
    """Whether ``root/cifar-10-batches-py`` holds every batch file."""
    return all(p.is_file() for p in required_files(root / BATCH_DIR))


_is_complete = is_complete

#: training images in the bundled sample and in the official (md5-checked) download
SAMPLE_TRAIN_SIZE = 5085
OFFICIAL_TRAIN_SIZE = 50_000


def folder(root: str | Path | None, *, download: bool = False) -> Path:
    """The resolved folder ``load_cifar10(root, download=...)`` reads; :class:`DataError`
    (naming it) when the path is unusable (a NUL, a symlink loop, an unknown ``~user``)."""
    if root is None or str(root) == "":
        root = data_dir()
        if root is None:
            root = default_download_root() if download else sample_dir()
    try:
        return Path(root).expanduser().resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise DataError(f"{str(root)!r}: not a usable folder ({exc})") from None


def known_train_size(root: Path) -> int | None:
    """Training images in ``root`` when known without reading a file: the bundled sample's,
    or the official count in the download folder (filled only by the md5-checked archive)."""
    if root == sample_dir():
        return SAMPLE_TRAIN_SIZE
    if root == folder(default_download_root()):
        return OFFICIAL_TRAIN_SIZE
    return None


@functools.lru_cache(maxsize=8)
def _load_cached(
    root: str,
    source: str,
    limit_train: int | None,
    limit_test: int | None,
    stamps: tuple[tuple[int, int], ...],  # (mtime_ns, size) per file: a changed file misses
) -> Cifar10:
    del stamps
    batches = Path(root) / BATCH_DIR
    train_x, train_y = read_split([batches / n for n in TRAIN_FILES], limit_train)
    test_x, test_y = read_split([batches / TEST_FILE], limit_test)
    return Cifar10(train_x, train_y, test_x, test_y, source)


def _check_limit(name: str, value: int | None) -> int | None:
    if value is not None and (not isinstance(value, int) or value < 0):
        raise ValueError(f"{name} must be a non-negative integer or None, got {value!r}")
    return value


def load_cifar10(
    root: str | Path | None = None,
    *,
    download: bool = False,
    url: str = CIFAR10_URL,
    md5: str = CIFAR10_MD5,
    progress: bool = True,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> Cifar10:
    """CIFAR-10 from ``root`` (a folder holding ``cifar-10-batches-py/``).

    ``root=None`` means ``OPTLAB_DATA_DIR`` when set, else the bundled sample (or, with
    ``download=True``, ``$OPTLAB_HOME/data``). With ``download=True`` a folder lacking
    the files is filled by :func:`download_cifar10`. ``limit_train``/``limit_test`` keep
    the first rows only (and skip reading batches beyond them). Results are cached per
    resolved folder, limits and file timestamps, so repeated loads are free.
    """
    _check_limit("limit_train", limit_train)
    _check_limit("limit_test", limit_test)
    root = folder(root, download=download)
    source = SAMPLE_SOURCE if root == sample_dir() else str(root)

    if download and not _is_complete(root):
        download_cifar10(root, url=url, md5=md5, progress=progress)

    hint = "" if download else " (pass download=True, or set OPTLAB_DATA_DIR)"
    if not (root / BATCH_DIR).is_dir():
        raise DataError(
            f"{root / BATCH_DIR}: folder not found; expected the official CIFAR-10 python "
            f"batches there{hint}"
        )
    stamps = []
    for path in required_files(root / BATCH_DIR):
        try:
            st = path.stat()
        except OSError:
            raise DataError(f"{path}: file not found{hint}") from None
        stamps.append((st.st_mtime_ns, st.st_size))
    return _load_cached(str(root), source, limit_train, limit_test, tuple(stamps))
