"""CIFAR-10 data access: the bundled sample, the official-format reader, download, tensors."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import pickle
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from problems.cifar10_cnn import data
from problems.cifar10_cnn.data import BATCH_DIR, DataError

SAMPLE_BATCHES = Path(data.__file__).parent / "sample_data" / BATCH_DIR


# --------------------------------------------------------------------------- fixtures


def write_batch(path: Path, rows: np.ndarray, labels: list[int], str_keys: bool = False) -> None:
    """One batch file laid out like the official release (protocol 2 pickle)."""
    batch: dict = {b"batch_label": b"fixture", b"labels": labels, b"data": rows}
    if str_keys:
        batch = {k.decode(): v for k, v in batch.items()}
    path.write_bytes(pickle.dumps(batch, protocol=2))


def make_official(root: Path, n: int = 6, seed: int = 0, str_keys: bool = False) -> dict:
    """A tiny dataset in the official layout under ``root/cifar-10-batches-py``."""
    rng = np.random.default_rng(seed)
    folder = root / BATCH_DIR
    folder.mkdir(parents=True)
    rows, labels = {}, {}
    for name in (*data.TRAIN_FILES, data.TEST_FILE):
        rows[name] = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels[name] = rng.integers(0, 10, n).tolist()
        write_batch(folder / name, rows[name], labels[name], str_keys=str_keys)
    meta = {b"label_names": [c.encode() for c in data.CLASSES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    train_rows = np.concatenate([rows[f] for f in data.TRAIN_FILES])
    return {
        "train_x": train_rows.reshape(-1, 3, 32, 32),
        "train_y": np.concatenate([labels[f] for f in data.TRAIN_FILES]),
        "test_x": rows[data.TEST_FILE].reshape(-1, 3, 32, 32),
        "test_y": np.asarray(labels[data.TEST_FILE]),
    }


def assert_matches(loaded: data.Cifar10, expected: dict) -> None:
    for key, value in expected.items():
        np.testing.assert_array_equal(getattr(loaded, key), value, err_msg=key)


def make_archive(tmp_path: Path, n: int = 30, extra: dict[str, bytes] | None = None):
    """A ``cifar-10-python.tar.gz`` in the official layout; returns (path, md5, expected)."""
    src = tmp_path / "src"
    expected = make_official(src, n=n, seed=1)
    archive = tmp_path / "serve" / "cifar-10-python.tar.gz"
    archive.parent.mkdir(exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / BATCH_DIR, arcname=BATCH_DIR)
        for name, payload in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return archive, hashlib.md5(archive.read_bytes()).hexdigest(), expected


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OPTLAB_DATA_DIR", raising=False)
    monkeypatch.setenv("OPTLAB_HOME", str(tmp_path / "home"))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A real HTTP server on 127.0.0.1 serving ``tmp_path/serve``; yields (folder, base URL)."""
    folder = tmp_path / "serve"
    folder.mkdir(exist_ok=True)
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --------------------------------------------------------------------------- bundled sample


def test_bundled_sample_reads_correctly() -> None:
    d = data.load_cifar10()
    assert d.source == "bundled sample"
    assert d.train_x.shape == (5085, 3, 32, 32) and d.train_x.dtype == np.uint8
    assert d.train_y.shape == (5085,) and d.train_y.dtype == np.int64
    assert d.test_x.shape == (1017, 3, 32, 32) and d.test_x.dtype == np.uint8
    assert d.test_y.shape == (1017,) and d.test_y.dtype == np.int64
    assert d.test_y[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    counts = np.bincount(d.train_y, minlength=10)
    assert counts.min() > 400 and counts.max() < 620  # roughly 100 per class per batch
    assert len(data.CLASSES) == 10 and data.CLASSES[3] == "cat" and data.CLASSES[8] == "ship"


def test_pixel_layout_matches_raw_rows() -> None:
    with (SAMPLE_BATCHES / "test_batch").open("rb") as f:
        raw = pickle.load(f, encoding="latin1")["data"]
    x, _ = data.read_batch(SAMPLE_BATCHES / "test_batch")
    for i in (0, 1, 500, 1016):
        for c in range(3):  # 1024 red, then green, then blue values, row-major 32x32
            np.testing.assert_array_equal(
                x[i, c], raw[i, c * 1024 : (c + 1) * 1024].reshape(32, 32)
            )
        assert x[i, 0, 0, 1] == raw[i, 1] and x[i, 0, 1, 0] == raw[i, 32]
    # The three planes of an image differ (a wrong reshape would mix them).
    assert not np.array_equal(x[0, 0], x[0, 2])


def test_sample_checksums_match() -> None:
    sums = (SAMPLE_BATCHES.parent / "SHA256SUMS").read_text().split("\n")
    entries = [line.split() for line in sums if line.strip()]
    assert len(entries) == 7
    for digest, name in entries:
        assert hashlib.sha256((SAMPLE_BATCHES.parent / name).read_bytes()).hexdigest() == digest


def test_loads_are_cached_and_read_only() -> None:
    a = data.load_cifar10()
    assert data.load_cifar10() is a
    assert not a.train_x.flags.writeable
    with pytest.raises(ValueError):
        a.train_x[0, 0, 0, 0] = 1
    tx, ty, _, _ = a.tensors()
    assert tx.dtype == torch.uint8 and ty.dtype == torch.int64 and tx.shape == (5085, 3, 32, 32)
    tx[0] = 0  # writable copies
    assert a.train_x[0].any()


# --------------------------------------------------------------------------- data folders


@pytest.mark.parametrize("str_keys", [False, True])
def test_optlab_data_dir_is_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, str_keys: bool
) -> None:
    expected = make_official(tmp_path / "ds", n=5, str_keys=str_keys)
    monkeypatch.setenv("OPTLAB_DATA_DIR", str(tmp_path / "ds"))
    assert data.data_dir() == tmp_path / "ds"
    d = data.load_cifar10()
    assert d.source == str((tmp_path / "ds").resolve())
    assert d.train_x.shape == (25, 3, 32, 32) and d.test_x.shape == (5, 3, 32, 32)
    assert_matches(d, expected)


def test_limits_keep_the_first_rows_and_skip_later_batches(tmp_path: Path) -> None:
    expected = make_official(tmp_path, n=5)
    (tmp_path / BATCH_DIR / "data_batch_3").write_bytes(b"garbage")  # never read below
    d = data.load_cifar10(tmp_path, limit_train=7, limit_test=2)
    np.testing.assert_array_equal(d.train_x, expected["train_x"][:7])
    np.testing.assert_array_equal(d.train_y, expected["train_y"][:7])
    np.testing.assert_array_equal(d.test_y, expected["test_y"][:2])
    assert data.load_cifar10(tmp_path, limit_train=0).train_x.shape == (0, 3, 32, 32)
    with pytest.raises(DataError, match="data_batch_3"):
        data.load_cifar10(tmp_path, limit_train=11)
    with pytest.raises(ValueError, match="limit_train"):
        data.load_cifar10(tmp_path, limit_train=-1)


def test_cache_notices_a_changed_file(tmp_path: Path) -> None:
    make_official(tmp_path, n=4)
    first = data.load_cifar10(tmp_path)
    assert data.load_cifar10(tmp_path) is first
    write_batch(tmp_path / BATCH_DIR / "test_batch", np.zeros((3, 3072), np.uint8), [1, 2, 3])
    second = data.load_cifar10(tmp_path)
    assert second.test_y.tolist() == [1, 2, 3]


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    make_official(tmp_path, n=2)
    (tmp_path / BATCH_DIR / "data_batch_4").unlink()
    with pytest.raises(DataError, match=r"data_batch_4: file not found"):
        data.load_cifar10(tmp_path)
    with pytest.raises(DataError, match=r"nowhere/cifar-10-batches-py: folder not found"):
        data.load_cifar10(tmp_path / "nowhere")
    with pytest.raises(DataError, match="file not found"):
        data.read_batch(tmp_path / "absent")


def test_corrupt_files_name_the_file(tmp_path: Path) -> None:
    make_official(tmp_path, n=4)
    path = tmp_path / BATCH_DIR / "data_batch_2"
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # truncated
    with pytest.raises(DataError, match=r"data_batch_2: corrupt"):
        data.load_cifar10(tmp_path)
    path.write_bytes(os.urandom(5000))  # garbage
    with pytest.raises(DataError, match=r"data_batch_2: corrupt"):
        data.read_batch(path)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (
            {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]},
            r"'data' has shape \(2, 100\)",
        ),
        ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "dtype float32"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "'labels' has shape"),
        (
            {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]},
            r"labels must lie in 0\.\.9",
        ),
        ({b"labels": [0, 1]}, "missing key 'data'"),
        ([1, 2, 3], "expected a dict"),
    ],
)
def test_wrong_contents_are_rejected(tmp_path: Path, batch: object, message: str) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match=message) as info:
        data.read_batch(path)
    assert str(path) in str(info.value)


class _Sneaky:
    def __reduce__(self):
        return (os.getpid, ())


def test_pickles_cannot_call_arbitrary_functions(tmp_path: Path) -> None:
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": _Sneaky(), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match=r"test_batch: .*forbidden global posix\.getpid"):
        data.read_batch(path)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_written_pickles_of_any_protocol_load(tmp_path: Path, protocol: int) -> None:
    rows = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps({"data": rows, "labels": np.array([4, 2])}, protocol=protocol))
    x, y = data.read_batch(path)
    np.testing.assert_array_equal(x.reshape(2, -1), rows)
    assert y.tolist() == [4, 2] and y.dtype == np.int64


# --------------------------------------------------------------------------- download


def test_download_from_file_url_extracts_and_loads(tmp_path: Path) -> None:
    archive, md5, expected = make_archive(tmp_path, extra={"outside.txt": b"not cifar"})
    dest = tmp_path / "data"
    d = data.load_cifar10(dest, download=True, url=archive.as_uri(), md5=md5, progress=False)
    assert_matches(d, expected)
    assert sorted(p.name for p in dest.iterdir()) == [BATCH_DIR]  # no archive, .part, extras
    assert (dest / BATCH_DIR / "batches.meta").is_file()
    # Complete now: a second call neither downloads (bad URL unused) nor re-reads.
    again = data.load_cifar10(dest, download=True, url="file:///nonexistent", progress=False)
    assert again is d


def test_download_defaults_to_optlab_home(tmp_path: Path) -> None:
    archive, md5, expected = make_archive(tmp_path, n=3)
    d = data.load_cifar10(download=True, url=archive.as_uri(), md5=md5, progress=False)
    assert d.source == str((tmp_path / "home" / "data").resolve())
    assert_matches(d, expected)


def test_wrong_md5_deletes_the_download_and_extracts_nothing(tmp_path: Path) -> None:
    archive, _, _ = make_archive(tmp_path)
    dest = tmp_path / "data"
    with pytest.raises(DataError, match=r"cifar-10-python\.tar\.gz: md5 mismatch"):
        data.load_cifar10(dest, download=True, url=archive.as_uri(), md5="0" * 32, progress=False)
    assert list(dest.iterdir()) == []


def test_http_download_with_progress(http_dir: tuple[Path, str], tmp_path: Path) -> None:
    folder, base = http_dir
    archive, md5, expected = make_archive(tmp_path, n=40)
    assert archive.parent == folder
    size = archive.stat().st_size
    seen: list[tuple[int, int]] = []
    out = data.download_cifar10(
        tmp_path / "data",
        url=f"{base}/{archive.name}",
        md5=md5,
        progress=False,
        progress_callback=lambda done, total: seen.append((done, total)),
    )
    assert out == tmp_path / "data" / BATCH_DIR
    assert len(seen) >= 3  # several chunks
    dones = [done for done, _ in seen]
    assert dones == sorted(dones) and len(set(dones)) == len(dones)
    assert dones[-1] == size and {total for _, total in seen} == {size}
    assert_matches(data.load_cifar10(tmp_path / "data"), expected)


def test_http_download_wrong_md5(http_dir: tuple[Path, str], tmp_path: Path) -> None:
    _, base = http_dir
    archive, md5, _ = make_archive(tmp_path)
    bad = md5[::-1]
    with pytest.raises(DataError, match=f"expected {bad}, got {md5}"):
        data.download_cifar10(
            tmp_path / "data", url=f"{base}/{archive.name}", md5=bad, progress=False
        )
    assert list((tmp_path / "data").iterdir()) == []
    with pytest.raises(DataError, match=r"missing\.tar\.gz: download failed"):
        data.download_cifar10(tmp_path / "data", url=f"{base}/missing.tar.gz", progress=False)
    assert list((tmp_path / "data").iterdir()) == []


def test_progress_bar_goes_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive, md5, _ = make_archive(tmp_path, n=3)
    data.download_cifar10(tmp_path / "data", url=archive.as_uri(), md5=md5, progress=True)
    captured = capsys.readouterr()
    assert "Downloading cifar-10-python.tar.gz" in captured.err and "100%" in captured.err
    assert captured.out == ""


def test_unreachable_server_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"http://127\.0\.0\.1:1/x\.tar\.gz: download failed"):
        data.download_cifar10(tmp_path, url="http://127.0.0.1:1/x.tar.gz", progress=False)


def test_archive_escaping_its_folder_is_refused(tmp_path: Path) -> None:
    evil = {f"{BATCH_DIR}/../../escaped.txt": b"boom"}
    archive, md5, _ = make_archive(tmp_path, n=2, extra=evil)
    dest = tmp_path / "a" / "b"
    with pytest.raises(DataError, match="cannot extract"):
        data.download_cifar10(dest, url=archive.as_uri(), md5=md5, progress=False)
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "a" / "escaped.txt").exists()
    assert list(dest.iterdir()) == []


def test_archive_without_the_batches_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "other.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("something/else.txt")
        tar.addfile(info, io.BytesIO(b""))
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    with pytest.raises(DataError, match="no cifar-10-batches-py/ folder"):
        data.download_cifar10(tmp_path / "d", url=archive.as_uri(), md5=md5, progress=False)


# --------------------------------------------------------------------------- tensors


def test_normalize_standardizes_the_sample() -> None:
    x = torch.from_numpy(data.load_cifar10().train_x.copy())
    z = data.normalize(x)
    assert z.dtype == torch.float32 and z.shape == x.shape
    assert z.mean(dim=(0, 2, 3)).abs().max() < 0.05
    assert (z.std(dim=(0, 2, 3)) - 1).abs().max() < 0.05
    white = data.normalize(torch.full((1, 3, 2, 2), 255, dtype=torch.uint8))
    want = (1 - torch.tensor(data.MEAN)) / torch.tensor(data.STD)
    torch.testing.assert_close(white[0, :, 0, 0], want)
    cl = data.normalize(x[:8].contiguous(memory_format=torch.channels_last))
    assert cl.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(cl, z[:8])
    with pytest.raises(TypeError, match="uint8"):
        data.normalize(z)


def _images(n: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8).to(dtype)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_augment_shape_dtype_and_determinism(dtype: torch.dtype) -> None:
    x = _images(64, dtype)
    a = data.augment(x, torch.Generator().manual_seed(7))
    b = data.augment(x, torch.Generator().manual_seed(7))
    c = data.augment(x, torch.Generator().manual_seed(8))
    assert a.shape == x.shape and a.dtype == dtype
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert data.augment(x, None).shape == x.shape
    cl = data.augment(
        x.contiguous(memory_format=torch.channels_last), torch.Generator().manual_seed(7)
    )
    assert cl.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(cl, a)  # both memory layouts make the same images


def test_augment_flip_only_is_identity_or_torch_flip() -> None:
    image = torch.arange(3 * 32 * 32, dtype=torch.float32).view(1, 3, 32, 32)  # asymmetric
    x = image.expand(64, -1, -1, -1).contiguous()
    out = data.augment(x, torch.Generator().manual_seed(0), padding=0)
    flipped = torch.flip(image, dims=[-1])
    assert not torch.equal(flipped, image)
    is_same = (out == image).flatten(1).all(1)
    is_flipped = (out == flipped).flatten(1).all(1)
    assert bool((is_same | is_flipped).all())  # nothing else (no vertical flip, no shift)
    assert 10 < int(is_flipped.sum()) < 54  # about half flipped


def test_augment_outputs_are_padded_crops_of_the_image_or_its_flip() -> None:
    image = _images(1, torch.float32, seed=3)
    n, pad = 1500, 4
    out = data.augment(image.expand(n, -1, -1, -1), torch.Generator().manual_seed(1))
    # Every candidate: zero-pad by 4, crop 32x32 at (dy, dx), optionally torch.flip.
    windows = F.pad(image, (pad,) * 4).unfold(2, 32, 1).unfold(3, 32, 1)[0]  # (3, 9, 9, 32, 32)
    crops = windows.permute(1, 2, 0, 3, 4).reshape(81, 3, 32, 32)
    cands = torch.cat([crops, torch.flip(crops, dims=[-1])])  # (162, 3, 32, 32)
    w = torch.randn(3 * 32 * 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sig_out = out.reshape(n, -1).double() @ w
    sig_cand = cands.reshape(162, -1).double() @ w
    match = (sig_out[:, None] - sig_cand[None, :]).abs().argmin(1)
    assert torch.equal(out, cands[match])  # each output is exactly one candidate
    assert len(set(match.tolist())) > 150  # all offsets and both flips occur
    # Zero padding shows as zeros: a crop shifted fully right has 4 zero columns on the left.
    assert bool((out == 0).any())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_augment_and_normalize_on_cuda() -> None:
    x = _images(32, torch.uint8)
    gen = torch.Generator().manual_seed(5)
    cpu = data.augment(x, gen)
    gpu = data.augment(x.cuda(), torch.Generator().manual_seed(5))
    assert gpu.device.type == "cuda" and torch.equal(gpu.cpu(), cpu)
    cuda_gen = torch.Generator(device="cuda").manual_seed(5)
    assert data.augment(x.cuda(), cuda_gen).shape == x.shape
    torch.testing.assert_close(data.normalize(x.cuda()).cpu(), data.normalize(x))
