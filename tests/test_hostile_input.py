"""Issue 14 items 5 and 7: bad input exits 2 with one line, and the server reads only
regular, bounded data files in folders it is allowed to use."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from optlab.cli.main import main
from optlab.export.script import export_script
from optlab.problem import DataError, check_data_dir
from optlab.spec import parse_spec
from problems.cifar10_cnn import data as cifar
from problems.cifar10_cnn import reader

ROOT = Path(__file__).resolve().parents[1]
RUN = {"label": "a", "optimizer": {"name": "SGD", "lr": 0.1}}


def _cifar_spec(data_dir: str, **extra: Any) -> dict[str, Any]:
    return {
        "problem": {"name": "cifar10_cnn", "data_dir": data_dir, **extra},
        "epochs": 1,
        "device": "cpu",
        "runs": [RUN],
    }


def _cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | dict) -> str:
    path = tmp_path / "spec.json"
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    rc = main(["run", str(path), "--no-store", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.startswith("error: ") and "\n" not in err and "internal error" not in err, err
    return err


# --------------------------------------------------------------------------- item 5


def test_deep_json_exits_2_in_a_real_subprocess(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text("[" * 100_000)
    proc = subprocess.run(
        [sys.executable, "-m", "optlab", "run", "deep.json", "--no-store", "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OPTLAB_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert line.startswith("error: spec file 'deep.json': ") and "nested" in line, line
    assert "\n" not in line


def test_huge_integer_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = b'{"problem": {"name": "quadratic"}, "seed": ' + b"9" * 5000 + b', "runs": []}'
    assert "5,000 digits" in _cli(tmp_path, capsys, text)


def test_spec_not_utf8_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _cli(tmp_path, capsys, b'{"name": "\xff"}')
    assert "spec.json" in err and "not UTF-8" in err


def test_nul_in_data_dir_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _cli(tmp_path, capsys, _cifar_spec("a\x00b"))
    assert err.startswith("error: problem.data_dir:") and "NUL" in err


def test_symlink_loop_data_dir_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    err = _cli(tmp_path, capsys, _cifar_spec(str(tmp_path / "loop1")))
    assert err.startswith("error: problem.data_dir:") and "loop1" in err
    assert main(["export", str(tmp_path / "spec.json")]) == 2  # export resolves it too


@pytest.mark.parametrize("kind", ["missing", "corrupt", "wrong shape"])
def test_every_cifar_data_error_exits_2(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batches = tmp_path / "d" / cifar.BATCH_DIR
    batches.mkdir(parents=True)
    if kind != "missing":
        for name in (*cifar.TRAIN_FILES, cifar.TEST_FILE):
            content = (
                b"garbage"
                if kind == "corrupt"
                else pickle.dumps({"data": np.zeros((2, 5), np.uint8), "labels": [0, 1]})
            )
            (batches / name).write_bytes(content)
    err = _cli(tmp_path, capsys, _cifar_spec(str(tmp_path / "d")))
    assert err.startswith("error: problem.data_dir:") and str(batches) in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("problem", ["mse_regression", "cifar10_cnn"])
def test_cuda_without_cuda_exits_2(
    problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {"problem": {"name": problem}, "device": "cuda", "epochs": 1, "runs": [RUN]}
    err = _cli(tmp_path, capsys, spec)
    assert err.startswith("error: device:") and "cuda" in err and "'cpu'" in err


# --------------------------------------------------------------------------- item 7


def _in_time(fn: Any, seconds: float = 10.0) -> Any:
    """fn() in a thread that must finish within ``seconds`` (a hang fails, not blocks)."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in out:
        raise out["error"]
    return out.get("value")


def test_fifo_batch_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "data_batch_1"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="not a regular file"):
        _in_time(lambda: reader.read_batch(fifo))


def test_device_file_and_symlink_loop_are_refused(tmp_path: Path) -> None:
    (tmp_path / "zero").symlink_to("/dev/zero")
    with pytest.raises(DataError, match="not a regular file"):
        _in_time(lambda: reader.read_batch(tmp_path / "zero"))
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(DataError, match="cannot read"):
        reader.read_batch(tmp_path / "a")


def test_oversized_batch_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "data_batch_1"
    with big.open("wb") as f:
        f.truncate(reader.MAX_BATCH_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(DataError, match="bytes"):
        reader.read_batch(big)


def test_shared_reference_bomb_is_refused_quickly(tmp_path: Path) -> None:
    nested: Any = [1]
    for _ in range(64):  # 2**64 leaves, a few hundred bytes pickled
        nested = [nested, nested]
    path = tmp_path / "bomb"
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": nested}))
    assert path.stat().st_size < 32_000
    start = time.perf_counter()
    with pytest.raises(DataError, match="shared references"):
        _in_time(lambda: reader.read_batch(path))
    # a dict keyed by a shared tuple: unpickling it would hash 2**64 leaves
    t: tuple = (1,)
    for _ in range(64):
        t = (t, t)
    body = pickle.dumps(t, protocol=2)
    path.write_bytes(b"\x80\x02}" + body[2:-1] + b"K\x01s.")
    with pytest.raises(DataError, match="shared references"):
        _in_time(lambda: reader.read_batch(path))
    assert time.perf_counter() - start < 2


def test_too_many_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "many"
    labels = [0] * (reader.MAX_PICKLE_OPS + 10)
    path.write_bytes(pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "labels": labels}))
    with pytest.raises(DataError, match="pickled objects"):
        reader.read_batch(path)


def test_official_sized_batch_still_reads(tmp_path: Path) -> None:
    n = 10_000
    batch = {
        b"batch_label": b"training batch 1 of 5",
        b"labels": [i % 10 for i in range(n)],
        b"data": np.zeros((n, 3072), np.uint8),
        b"filenames": [f"image_{i}.png".encode() for i in range(n)],
    }
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    x, y = reader.read_batch(path)
    assert x.shape == (n, 3, 32, 32) and y.shape == (n,)


def test_dashboard_export_never_reads_the_data_folder(tmp_path: Path) -> None:
    batches = tmp_path / cifar.BATCH_DIR
    batches.mkdir()
    for name in (*cifar.TRAIN_FILES, cifar.TEST_FILE):
        os.mkfifo(batches / name)  # reading any of these would block
    spec = parse_spec(
        {
            **_cifar_spec(str(tmp_path)),
            "runs": [{**RUN, "scheduler": {"name": "OneCycleLR", "max_lr": 0.1}}],
        }
    )
    from optlab.ui.frame.teach import script_or_reason

    script, reason = _in_time(lambda: script_or_reason(spec))
    assert script is None and "optlab export" in reason
    with pytest.raises(NotImplementedError):
        _in_time(lambda: export_script(spec, read_data=False))


def test_known_train_size_matches_the_data() -> None:
    sample = parse_spec(
        {
            **_cifar_spec(str(cifar.sample_dir()), train_limit=3000),
            "runs": [{**RUN, "scheduler": {"name": "OneCycleLR", "max_lr": 0.1}}],
        }
    )
    problem = sample.problem.build()
    assert problem.known_train_size(0) == problem.train_size(0) == 3000
    assert export_script(sample, read_data=False) == export_script(sample)
    unlimited = cifar.load_cifar10(cifar.sample_dir(), progress=False)
    assert len(unlimited.train_y) == cifar.SAMPLE_TRAIN_SIZE


def test_download_goes_only_under_allowed_roots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPTLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPTLAB_DATA_ROOTS", raising=False)
    outside = tmp_path / "etc" / "evil"
    err = _cli(tmp_path, capsys, _cifar_spec(str(outside), download=True))
    assert err.startswith("error: problem.data_dir:") and "outside the allowed" in err
    assert not outside.exists()
    with pytest.raises(DataError, match="outside"):
        from problems.cifar10_cnn import Cifar10Source

        Cifar10Source().download(outside)
    assert not outside.exists()
    assert check_data_dir(tmp_path / "home" / "data" / "x", download=True)
    monkeypatch.setenv("OPTLAB_DATA_ROOTS", os.pathsep.join([str(tmp_path / "etc"), "/nope"]))
    assert check_data_dir(outside, download=True) == outside
    # a symlink out of an allowed root does not count as inside it
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "link").symlink_to("/usr")
    with pytest.raises(DataError, match="outside"):
        check_data_dir(tmp_path / "etc" / "link" / "x", download=True)


def test_data_roots_confine_reading_on_a_shared_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPTLAB_DATA_ROOTS", raising=False)
    assert check_data_dir("/srv/anything", download=False)  # a local install reads anywhere
    monkeypatch.setenv("OPTLAB_DATA_ROOTS", str(tmp_path / "shared"))
    with pytest.raises(DataError, match="outside the allowed data folders"):
        check_data_dir("/etc", download=False)
    assert check_data_dir(tmp_path / "shared" / "cifar", download=False)
    spec = parse_spec(_cifar_spec("/etc"))
    with pytest.raises(DataError, match="outside"):
        spec.problem.build().load_data(torch.device("cpu"), 0)
    sample = parse_spec(_cifar_spec(str(cifar.sample_dir()), train_limit=10))
    assert sample.problem.build().load_data(torch.device("cpu"), 0).n_train == 10
