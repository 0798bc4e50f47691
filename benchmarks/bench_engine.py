"""Engine benchmarks: same-run ratios against the loops a user writes (issue 2).

1. Six optimizers × 3000 steps on Rosenbrock: ``python -m optlab run --no-store``
   (in-process: ``run_experiment``) vs the textbook loop, one optimizer after
   another, recording each step with ``.item()``/``.tolist()``.
2. The CIFAR-10 CNN, 2 epochs of the bundled sample at batch 128: optlab (one
   channels_last tensor, index slices) vs the usual TensorDataset + DataLoader NCHW
   loop with its end-of-epoch validation.  Same model, optimizer and thread count.

Run: ``python benchmarks/bench_engine.py [--repeats 5] [--skip-cnn]``.  Prints medians
and the ratio optlab / reference (lower is better) measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

SIX = [
    ("SGD", {"name": "SGD", "lr": 1e-3}, lambda p: torch.optim.SGD(p, lr=1e-3)),
    (
        "SGDM",
        {"name": "SGD", "lr": 1e-3, "momentum": 0.9},
        lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9),
    ),
    (
        "Nesterov",
        {"name": "SGD", "lr": 1e-3, "momentum": 0.9, "nesterov": True},
        lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9, nesterov=True),
    ),
    ("Adagrad", {"name": "Adagrad", "lr": 0.1}, lambda p: torch.optim.Adagrad(p, lr=0.1)),
    ("RMSprop", {"name": "RMSprop", "lr": 1e-2}, lambda p: torch.optim.RMSprop(p, lr=1e-2)),
    ("Adam", {"name": "Adam", "lr": 0.05}, lambda p: torch.optim.Adam(p, lr=0.05)),
]
STEPS = 3000


def rosenbrock(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2


def textbook_surfaces() -> None:
    for _, _, make in SIX:
        xy = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
        opt = make([xy])
        losses, points, lrs = [], [], []
        for _ in range(STEPS):
            loss = rosenbrock(xy[0], xy[1])
            losses.append(loss.item())
            points.append(xy.detach().tolist())
            lrs.append([g["lr"] for g in opt.param_groups])
            opt.zero_grad()
            loss.backward()
            opt.step()


def optlab_surfaces() -> None:
    from optlab.engine.experiment import run_experiment
    from optlab.spec import parse_spec

    spec = parse_spec(
        {
            "problem": {"name": "rosenbrock"},
            "steps": STEPS,
            "runs": [{"label": n, "optimizer": o} for n, o, _ in SIX],
        }
    )
    run_experiment(spec)


def textbook_cnn() -> None:
    from torch.utils.data import DataLoader, TensorDataset

    from problems.cifar10_cnn import CifarCNN, data

    ds = data.load_cifar10()
    train_x, train_y, val_x, val_y = ds.tensors()
    train = TensorDataset(data.normalize(train_x), train_y)
    val = TensorDataset(data.normalize(val_x), val_y)
    loader = DataLoader(train, batch_size=128, shuffle=True)
    val_loader = DataLoader(val, batch_size=1024)
    torch.manual_seed(0)
    model = CifarCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for _ in range(2):
        model.train()
        for xb, yb in loader:
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()  # the usual end-of-epoch validation (optlab does the same)
        with torch.no_grad():
            for xb, yb in val_loader:
                out = model(xb)
                torch.nn.functional.cross_entropy(out, yb, reduction="sum").item()
                (out.argmax(1) == yb).sum().item()


def optlab_cnn() -> None:
    from optlab.engine.experiment import run_experiment
    from optlab.spec import parse_spec

    spec = parse_spec(
        {
            "problem": {"name": "cifar10_cnn"},
            "epochs": 2,
            "batch_size": 128,
            "device": "cpu",
            "runs": [{"label": "SGDM", "optimizer": {"name": "SGD", "lr": 0.01, "momentum": 0.9}}],
        }
    )
    run_experiment(spec)


def _subprocess(args: list[str]) -> None:
    import subprocess
    import sys

    subprocess.run([sys.executable, *args], check=True, capture_output=True)


def command_optlab_run(tmp: str) -> None:
    """The whole command: ``python -m optlab run SPEC --no-store`` (startup included)."""
    _subprocess(
        [
            "-m",
            "optlab",
            "run",
            f"{tmp}/spec.json",
            "--no-store",
            "--quiet",
            "--out",
            f"{tmp}/result.json",
        ]
    )


def command_textbook(tmp: str) -> None:
    """The user's script for the same six runs (startup included)."""
    _subprocess([__file__, "--textbook-only"])


def measure(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def compare(title: str, ours, reference, repeats: int) -> None:
    ours(), reference()  # warm-up: imports, lazy initialisation, data cache
    ref_times, our_times = [], []
    for _ in range(repeats):  # interleaved so drift hits both alike
        ref_times.append(measure(reference, 1))
        our_times.append(measure(ours, 1))
    ref, mine = statistics.median(ref_times), statistics.median(our_times)
    print(
        f"{title}: textbook {ref:.3f} s, optlab {mine:.3f} s (medians of {repeats}), "
        f"ratio optlab/textbook = {mine / ref:.2f}×"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-cnn", action="store_true")
    parser.add_argument("--textbook-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.textbook_only:
        textbook_surfaces()
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    compare(
        f"Rosenbrock, 6 optimizers × {STEPS} steps (in process)",
        optlab_surfaces,
        textbook_surfaces,
        args.repeats,
    )
    with tempfile.TemporaryDirectory() as tmp:
        spec = {
            "problem": {"name": "rosenbrock"},
            "steps": STEPS,
            "runs": [{"label": n, "optimizer": o} for n, o, _ in SIX],
        }
        Path(tmp, "spec.json").write_text(json.dumps(spec))
        compare(
            f"Rosenbrock, 6 optimizers × {STEPS} steps (whole commands: optlab run vs script)",
            lambda: command_optlab_run(tmp),
            lambda: command_textbook(tmp),
            args.repeats,
        )
    if not args.skip_cnn:
        compare(
            "CIFAR-10 CNN, 2 epochs of the sample, batch 128",
            optlab_cnn,
            textbook_cnn,
            max(1, args.repeats // 2),
        )


if __name__ == "__main__":
    main()
