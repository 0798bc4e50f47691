"""Downloading CIFAR-10: a streamed, md5-verified fetch and a safe, atomic extraction."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from .reader import BATCH_DIR, DataError, required_files

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
_CHUNK = 1 << 16  # download read size: 64 KiB


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
        missing = [p.name for p in required_files(extracted) if not p.is_file()]
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
