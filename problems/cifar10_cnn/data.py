"""CIFAR-10 as arrays and tensors: the official-format reader, the download, the bundled sample.

The reader accepts the official ``cifar-10-batches-py`` layout (five ``data_batch_*``
files and ``test_batch``, pickled dicts holding a uint8 ``(N, 3072)`` array and a
label list). Pickles are loaded with a restricted unpickler that only admits the
numpy globals such files use, so a data folder cannot run code. A small real
subset ships in ``problems/cifar10_cnn/sample_data`` so everything works offline.

Torch helpers (:func:`normalize`, :func:`augment`) are batched tensor ops, meant to
run on whatever device holds the dataset (no DataLoader: see docs/architecture.md §3).
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

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
    "load_cifar10",
    "normalize",
    "read_batch",
    "sample_dir",
]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
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
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
SAMPLE_SOURCE = "bundled sample"

_IMAGE_SHAPE = (3, 32, 32)
_ROW = 3 * 32 * 32
_CHUNK = 1 << 16  # download read size: 64 KiB


class DataError(Exception):
    """CIFAR-10 data is missing, corrupt or unreachable; the message names the file or URL."""


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


def _required_files(batches: Path) -> list[Path]:
    return [batches / name for name in (*TRAIN_FILES, TEST_FILE)]


def _is_complete(root: Path) -> bool:
    return all(p.is_file() for p in _required_files(root / BATCH_DIR))


# --------------------------------------------------------------------------- reading

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


def _read_split(files: list[Path], limit: int | None) -> tuple[np.ndarray, np.ndarray]:
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
    train_x, train_y = _read_split([batches / n for n in TRAIN_FILES], limit_train)
    test_x, test_y = _read_split([batches / TEST_FILE], limit_test)
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
    if root is None:
        root = data_dir()
        if root is None:
            root = default_download_root() if download else sample_dir()
    root = Path(root).expanduser().resolve()
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
    for path in _required_files(root / BATCH_DIR):
        try:
            st = path.stat()
        except OSError:
            raise DataError(f"{path}: file not found{hint}") from None
        stamps.append((st.st_mtime_ns, st.st_size))
    return _load_cached(str(root), source, limit_train, limit_test, tuple(stamps))


# --------------------------------------------------------------------------- download


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _fetch(
    url: str,
    dest: Path,
    md5: str,
    progress: bool,
    progress_callback: Callable[[int, int], None] | None,
) -> Path:
    """Stream ``url`` to a ``.part`` file in ``dest``, check its md5, then rename it into place."""
    name = Path(urllib.parse.urlsplit(url).path).name or "cifar-10-python.tar.gz"
    target = dest / name
    fd, part_name = tempfile.mkstemp(dir=dest, prefix=f".{name}.", suffix=".part")
    part = Path(part_name)
    h = hashlib.md5(usedforsecurity=False)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=60)
            except (urllib.error.URLError, OSError, ValueError) as e:
                raise DataError(f"{url}: download failed ({getattr(e, 'reason', e)})") from None
            with response:
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                with tqdm(
                    total=total or None,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=f"Downloading {name}",
                    file=sys.stderr,
                    disable=not progress,
                ) as bar:
                    while True:
                        try:
                            block = response.read(_CHUNK)
                        except OSError as e:
                            raise DataError(f"{url}: download interrupted ({e})") from None
                        if not block:
                            break
                        out.write(block)
                        h.update(block)
                        done += len(block)
                        bar.update(len(block))
                        if progress_callback is not None:
                            progress_callback(done, total)
        if total and done != total:
            raise DataError(f"{url}: download incomplete ({done} of {total} bytes)")
        actual = h.hexdigest()
        if actual != md5.lower():
            raise DataError(
                f"{url}: md5 mismatch (expected {md5}, got {actual}); the download was deleted"
            )
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return target


def _extract(archive: Path, dest: Path) -> Path:
    """Extract the ``cifar-10-batches-py`` members of ``archive`` into ``dest``, atomically.

    Members go to a temporary folder first (with tarfile's ``data`` filter: no absolute
    paths, links out of the tree or device files); each complete file is then moved
    into ``dest/cifar-10-batches-py`` with ``os.replace``.
    """
    final = dest / BATCH_DIR
    tmp = Path(tempfile.mkdtemp(dir=dest, prefix=".extract-"))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = [
                    m
                    for m in tar.getmembers()
                    if m.name.removeprefix("./").split("/", 1)[0] == BATCH_DIR
                ]
                if not members:
                    raise DataError(f"{archive}: no {BATCH_DIR}/ folder in the archive")
                tar.extractall(tmp, members=members, filter="data")
        except (tarfile.TarError, EOFError, OSError) as e:
            raise DataError(f"{archive}: cannot extract ({type(e).__name__}: {e})") from None
        extracted = tmp / BATCH_DIR
        missing = [p.name for p in _required_files(extracted) if not p.is_file()]
        if missing:
            raise DataError(f"{archive}: the archive lacks {BATCH_DIR}/{', '.join(missing)}")
        final.mkdir(exist_ok=True)
        for item in sorted(extracted.iterdir()):
            if item.is_file():
                os.replace(item, final / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def download_cifar10(
    dest: Path,
    *,
    url: str = CIFAR10_URL,
    md5: str = CIFAR10_MD5,
    progress: bool = True,
    progress_callback: Callable[[int, int], None] | None = None,
) -> Path:
    """Download, verify and extract CIFAR-10 into ``dest``; returns ``dest/cifar-10-batches-py``.

    Streams ``url`` (http(s):// or file://) with a tqdm bar on stderr when ``progress``;
    ``progress_callback(done_bytes, total_bytes)`` is called after every chunk
    (``total_bytes`` is 0 when the server does not say). The md5 is checked before
    anything is extracted: on a mismatch the download is deleted and :class:`DataError`
    raised. The archive is removed after a successful extraction.
    """
    dest = Path(dest).expanduser()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{dest}: cannot create the data folder ({e.strerror or e})") from None
    archive = _fetch(url, dest, md5, progress, progress_callback)
    try:
        return _extract(archive, dest)
    finally:
        archive.unlink(missing_ok=True)


# --------------------------------------------------------------------------- tensors


@functools.lru_cache(maxsize=16)
def _affine(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``scale, shift`` with ``normalize(x) = x * scale - shift``, shaped (1, 3, 1, 1)."""
    mean = torch.tensor(MEAN, dtype=torch.float64)
    std = torch.tensor(STD, dtype=torch.float64)
    scale = (1.0 / (255.0 * std)).to(torch.float32).view(1, 3, 1, 1)
    shift = (mean / std).to(torch.float32).view(1, 3, 1, 1)
    return scale.to(device), shift.to(device)


def normalize(x_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 images ``(N, 3, H, W)`` as float32 with CIFAR-10's per-channel mean and std.

    One fused multiply-subtract on the tensor's own device; keeps channels_last.
    """
    if x_uint8.dtype != torch.uint8:
        raise TypeError(f"normalize expects uint8 images, got {x_uint8.dtype}")
    if x_uint8.ndim != 4 or x_uint8.shape[1] != 3:
        raise ValueError(f"normalize expects (N, 3, H, W), got {tuple(x_uint8.shape)}")
    scale, shift = _affine(x_uint8.device)
    return x_uint8.to(torch.float32).mul_(scale).sub_(shift)


def augment(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    padding: int = 4,
    flip: bool = True,
) -> torch.Tensor:
    """Standard CIFAR augmentation, batched: random crop with ``padding`` zeros, random h-flip.

    Each image gets its own offsets and flip, drawn from ``generator`` (on the
    generator's device, so the result depends only on its state); the crop and flip
    are one gather (index_select for channels_last) from a zero-padded copy, with no
    per-image loop.
    Works for any dtype and device; keeps channels_last.
    """
    if x.ndim != 4:
        raise ValueError(f"augment expects (N, C, H, W), got {tuple(x.shape)}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    n, c, h, w = x.shape
    if n == 0 or (padding == 0 and not flip):
        return x.clone()
    gen_device = generator.device if generator is not None else torch.device("cpu")
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=gen_device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=gen_device)
    flips = torch.randint(0, 2, (n,), generator=generator, device=gen_device).bool()
    dy, dx, flips = dy.to(x.device), dx.to(x.device), flips.to(x.device)
    if not flip:
        flips = torch.zeros_like(flips)

    hp, wp = h + 2 * padding, w + 2 * padding
    ar_h = torch.arange(h, device=x.device)
    ar_w = torch.arange(w, device=x.device)
    rows = dy[:, None] + ar_h  # (N, H) rows of the padded image
    cols = dx[:, None] + torch.where(flips[:, None], w - 1 - ar_w, ar_w)  # (N, W)
    pixel = rows[:, :, None] * wp + cols[:, None, :]  # (N, H, W) flat index in a padded plane

    pad = (padding, padding, padding, padding)
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    if channels_last:
        # NHWC view: pick whole C-long pixel rows with one index_select (measured fastest).
        padded = F.pad(x.permute(0, 2, 3, 1), (0, 0, *pad))  # (N, Hp, Wp, C), contiguous
        offset = torch.arange(n, device=x.device)[:, None, None] * (hp * wp)
        out = padded.reshape(-1, c).index_select(0, (pixel + offset).view(-1))
        return out.view(n, h, w, c).permute(0, 3, 1, 2)
    # NCHW: one gather per plane along the flattened padded H*W axis.
    padded = F.pad(x, pad)  # (N, C, Hp, Wp)
    index = pixel.view(n, 1, h * w).expand(n, c, h * w)
    return padded.reshape(n, c, hp * wp).gather(2, index).view(n, c, h, w)
