"""Reading the official CIFAR-10 python batches, safely.

The official ``cifar-10-batches-py`` layout holds five ``data_batch_*`` files and
``test_batch``: pickled dicts with a uint8 ``(N, 3072)`` array and a label list.
Pickles are loaded with a restricted unpickler that only admits the numpy globals
such files use, so a data folder cannot run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
BATCH_DIR = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"

_IMAGE_SHAPE = (3, 32, 32)
_ROW = 3 * 32 * 32


class DataError(Exception):
    """CIFAR-10 data is missing, corrupt or unreachable; the message names the file or URL."""


def required_files(batches: Path) -> list[Path]:
    """The batch files a complete ``cifar-10-batches-py`` folder holds."""
    return [batches / name for name in (*TRAIN_FILES, TEST_FILE)]


# The globals an official (Python 2) or numpy-written (protocol 2-5) batch pickle uses.
_ALLOWED_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    *(
        (m, n)
        for m in ("numpy.core.multiarray", "numpy._core.multiarray")
        for n in (
            "_reconstruct",
            "scalar",
        )
    ),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


class _BatchUnpickler(pickle.Unpickler):
    """Loads only plain data and numpy arrays: a data file must not be able to run code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}")
        return super().find_class(module, name)


def _key(k: Any) -> Any:
    return k.decode("latin1") if isinstance(k, bytes) else k


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One official batch file as ``(x uint8 (N, 3, 32, 32), y int64 (N,))``.

    Accepts bytes or str keys (``encoding="bytes"`` or ``"latin1"`` pickles) and raises
    :class:`DataError` naming ``path`` when the file is missing, unreadable, not a valid
    pickle, or holds arrays of the wrong shape, type or label range.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = _BatchUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    except Exception as e:  # any unpickling failure: truncated, garbage, forbidden global
        raise DataError(
            f"{path}: corrupt or not a CIFAR-10 batch pickle ({type(e).__name__}: {e})"
        ) from None
    if not isinstance(raw, dict):
        raise DataError(
            f"{path}: expected a dict with 'data' and 'labels', got {type(raw).__name__}"
        )
    batch = {_key(k): v for k, v in raw.items()}
    for key in ("data", "labels"):
        if key not in batch:
            raise DataError(f"{path}: missing key '{key}' (found {sorted(map(str, batch))})")

    data = batch["data"]
    if isinstance(data, bytes | bytearray):  # tolerate raw bytes rows
        data = np.frombuffer(data, dtype=np.uint8)
        if data.size % _ROW:
            raise DataError(f"{path}: 'data' holds {data.size} bytes, not a multiple of {_ROW}")
        data = data.reshape(-1, _ROW)
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or (data.shape[1] != _ROW)
    ):
        desc = (
            f"shape {data.shape}, dtype {data.dtype}"
            if isinstance(data, np.ndarray)
            else type(data).__name__
        )
        raise DataError(f"{path}: 'data' has {desc}; expected uint8 of shape (N, {_ROW})")

    try:
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as e:
        raise DataError(f"{path}: 'labels' is not a list of integers ({e})") from None
    if labels.ndim != 1 or labels.shape[0] != data.shape[0]:
        raise DataError(
            f"{path}: 'labels' has shape {labels.shape}; expected ({data.shape[0]},) "
            "to match the rows of 'data'"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        raise DataError(
            f"{path}: labels must lie in 0..{len(CLASSES) - 1}, found "
            f"{labels.min()}..{labels.max()}"
        )
    # Rows are 1024 red, 1024 green, 1024 blue values, each a row-major 32x32 plane.
    return data.reshape(-1, *_IMAGE_SHAPE), labels


def read_split(files: list[Path], limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate batch files in order, reading no more files than ``limit`` rows need."""
    xs, ys, n = [], [], 0
    for path in files:
        if limit is not None and n >= limit:
            break
        x, y = read_batch(path)
        xs.append(x)
        ys.append(y)
        n += len(y)
    if not xs:
        return np.empty((0, *_IMAGE_SHAPE), np.uint8), np.empty(0, np.int64)
    x = xs[0] if len(xs) == 1 else np.concatenate(xs)
    y = ys[0] if len(ys) == 1 else np.concatenate(ys)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y
