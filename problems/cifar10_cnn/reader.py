"""Reading the official CIFAR-10 python batches, safely.

The official ``cifar-10-batches-py`` layout holds five ``data_batch_*`` files and
``test_batch``: pickled dicts with a uint8 ``(N, 3072)`` array and a label list.
Pickles are loaded with a restricted unpickler that only admits the numpy globals
such files use, so a data folder cannot run code.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import stat
from pathlib import Path
from typing import Any

import numpy as np

from optlab import problem

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
#: an official batch file is about 31 MB (10,000 images); a bigger one is refused unread
MAX_BATCH_BYTES = 64 << 20
#: pickle opcodes in a batch file (~40,000 in an official one): every container, item and
#: shared reference the unpickler builds costs at least one, so this caps the objects
MAX_PICKLE_OPS = 250_000
#: items an object may hold with its shared references expanded (~40,000 in a batch)
MAX_PICKLE_ITEMS = 1_000_000


class DataError(problem.DataError):
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
        blob = _read_regular(path)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    except ValueError as e:  # a NUL in the path
        raise DataError(f"{path!r}: not a usable file name ({e})") from None
    try:
        _count_ops(blob, path)
        raw = _BatchUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except DataError:
        raise
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
            found = ", ".join(repr(k)[:40] for k in list(batch)[:10] if isinstance(k, str))
            raise DataError(f"{path}: missing key '{key}' (found {found or 'no text keys'})")

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

    raw_labels = batch["labels"]
    flat = (isinstance(raw_labels, np.ndarray) and raw_labels.dtype.kind in "iu") or (
        isinstance(raw_labels, list | tuple)
        and all(type(v) is int or isinstance(v, np.integer) for v in raw_labels)
    )
    if not flat:
        raise DataError(f"{path}: 'labels' is not a flat list of integers")
    try:
        labels = np.asarray(raw_labels, dtype=np.int64)
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


def _read_regular(path: Path) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most MAX_BATCH_BYTES: a FIFO
    cannot block (opened non-blocking, then refused), nor a device stream forever."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DataError(f"{path}: not a regular file; a CIFAR-10 batch is a plain file")
        if info.st_size > MAX_BATCH_BYTES:
            raise DataError(
                f"{path}: {info.st_size:,} bytes; a CIFAR-10 batch is about 31 MB "
                f"and at most {MAX_BATCH_BYTES:,} bytes are read"
            )
        with os.fdopen(fd, "rb", closefd=False) as f:
            blob = f.read(MAX_BATCH_BYTES + 1)
    finally:
        os.close(fd)
    if len(blob) > MAX_BATCH_BYTES:
        raise DataError(f"{path}: more than {MAX_BATCH_BYTES:,} bytes (it grew while read)")
    return blob


_MEMO_PUT = {"PUT", "BINPUT", "LONG_BINPUT"}
_MEMO_GET = {"GET", "BINGET", "LONG_BINGET"}
_MUTATE = {"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"}


def _count_ops(blob: bytes, path: Path) -> None:
    """Refuse a pickle that would build too much, before building anything.

    Walks the opcodes with a shadow stack holding, for every object, how many items it
    holds once shared references are expanded (what hashing a tuple, ``str`` or
    ``np.asarray`` would visit): more than MAX_PICKLE_OPS opcodes, or an object that
    expands beyond MAX_PICKLE_ITEMS (a shared-reference bomb), is a DataError.
    """
    stack: list[list[int]] = []  # one cell per object: its expanded item count
    marks: list[int] = []
    memo: dict[int, list[int]] = {}
    for n, (op, arg, _) in enumerate(pickletools.genops(blob)):
        if n >= MAX_PICKLE_OPS:
            raise DataError(
                f"{path}: more than {MAX_PICKLE_OPS:,} pickled objects; an official "
                "CIFAR-10 batch holds one array, its labels and file names"
            )
        name = op.name
        if name in _MEMO_PUT or name == "MEMOIZE":
            key = len(memo) if name == "MEMOIZE" else int(arg or 0)  # memo ops carry an int
            memo[key] = stack[-1] if stack else [1]
            continue
        if name in _MEMO_GET:
            stack.append(memo.get(int(arg or 0), [1]))
            continue
        if name == "MARK":
            marks.append(len(stack))
            continue
        before, popped = op.stack_before, []
        if pickletools.markobject in before:
            at = marks.pop() if marks else 0
            popped = stack[at:]
            del stack[at:]
            before = before[: before.index(pickletools.markobject)]
        for _ in before:
            popped.insert(0, stack.pop() if stack else [0])
        if name in _MUTATE and popped:  # items added to the object below: it grows
            target = popped[0]
            target[0] += sum(c[0] for c in popped[1:])
            cells = [target]
        else:
            cells = [[sum(c[0] for c in popped) + 1] for _ in op.stack_after]
        if any(c[0] > MAX_PICKLE_ITEMS for c in cells):
            raise DataError(
                f"{path}: its objects expand to more than {MAX_PICKLE_ITEMS:,} items "
                "(shared references); not a CIFAR-10 batch"
            )
        stack.extend(cells)


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
