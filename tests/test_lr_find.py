"""``optlab lr-find``: the LR range test against plain PyTorch loops (issue 12 §1)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from optlab.cli.main import main
from optlab.engine.lr_find import LRFindSettings, lr_find, ramp, smooth, suggestions, valley
from optlab.spec import parse_spec


def _reference_curve(losses_of, settings: LRFindSettings, set_lrs, step):
    """The protocol written out: ramp, record, smooth, stop."""
    lrs, losses, smoothed, avg = [], [], [], 0.0
    n = settings.num_iter
    for i in range(n):
        lr = settings.start_lr * (settings.end_lr / settings.start_lr) ** (i / (n - 1))
        set_lrs(lr)
        loss = losses_of(i)
        avg = settings.beta * avg + (1 - settings.beta) * loss
        smoothed.append(avg / (1 - settings.beta ** (i + 1)))
        losses.append(loss)
        lrs.append(lr)
        if not math.isfinite(loss) or (
            i >= 1 and smoothed[-1] > settings.stop_factor * min(smoothed)
        ):
            break
        step()
    return lrs, losses, smoothed


def test_surface_range_test_matches_the_plain_loop():
    data = {
        "problem": {"name": "rosenbrock", "start": [-1.5, 2.0]},
        "steps": 100,
        "runs": [{"label": "SGDM", "optimizer": {"name": "SGD", "lr": 0.01, "momentum": 0.9}}],
    }
    settings = LRFindSettings(start_lr=1e-6, end_lr=1.0, num_iter=80)
    spec = parse_spec(data)
    problem = spec.problem.build()
    xy = torch.tensor(problem.start, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([xy], lr=0.01, momentum=0.9)

    def set_lrs(lr: float) -> None:
        opt.param_groups[0]["lr"] = lr

    def loss_of(i: int) -> float:
        opt.zero_grad()
        loss = problem.value(xy[0], xy[1])
        loss.backward()
        return float(loss.detach())

    lrs, losses, smoothed = _reference_curve(loss_of, settings, set_lrs, opt.step)
    run = lr_find(spec, settings)["runs"][0]
    assert run["lrs"] == lrs and run["losses"] == losses and run["smoothed"] == smoothed
    assert run["stopped_at"] == len(lrs) - 1 < settings.num_iter - 1  # it blew up and stopped
    assert run["suggestions"] == suggestions(lrs, smoothed)
    assert 1e-6 <= run["suggestions"]["steep"] <= 1.0


def test_model_range_test_matches_the_plain_loop_with_group_ratios():
    data = {
        "problem": {"name": "mse_regression", "n_samples": 200},
        "epochs": 1,
        "batch_size": 16,
        "seed": 3,
        "device": "cpu",
        "runs": [
            {
                "label": "SGD",
                "optimizer": {"name": "SGD", "lr": 0.01, "momentum": 0.5},
                "param_groups": [{"params": "layer2.*", "lr": 0.02}],
            }
        ],
    }
    settings = LRFindSettings(start_lr=1e-4, end_lr=3.0, num_iter=25)  # > 10 batches/epoch
    spec = parse_spec(data)
    problem = spec.problem.build()
    device = torch.device("cpu")
    torch.manual_seed(3)
    model = problem.prepare_model(problem.build_model(), device)
    model.train()
    d = problem.load_data(device, 3)
    n, bs = d.n_train, 16
    per_epoch = math.ceil(n / bs)
    layer1 = [p for name, p in model.named_parameters() if name.startswith("layer1")]
    layer2 = [p for name, p in model.named_parameters() if name.startswith("layer2")]
    opt = torch.optim.SGD(
        [{"params": layer2, "lr": 0.02}, {"params": layer1}], lr=0.01, momentum=0.5
    )
    aug = torch.Generator(device=device)
    perm: list[torch.Tensor] = []

    def set_lrs(lr: float) -> None:
        opt.param_groups[0]["lr"] = 2 * lr  # the group with twice the lr gets twice the ramp
        opt.param_groups[1]["lr"] = lr

    def loss_of(i: int) -> float:
        b = i % per_epoch
        if b == 0:
            gen = torch.Generator(device=device).manual_seed(3 * 1_000_003 + i // per_epoch)
            perm[:] = [torch.randperm(n, generator=gen, device=device)]
            aug.manual_seed(3 * 7_919 + i // per_epoch)
        x, y = problem.batch(d, perm[0][b * bs : (b + 1) * bs], train=True, generator=aug)
        opt.zero_grad()
        loss = problem.loss(model(x), y)
        loss.backward()
        return float(loss.detach())

    lrs, losses, smoothed = _reference_curve(loss_of, settings, set_lrs, opt.step)
    run = lr_find(spec, settings)["runs"][0]
    assert run["lrs"] == lrs
    np.testing.assert_array_equal(run["losses"], losses)
    np.testing.assert_array_equal(run["smoothed"], smoothed)
    assert run["stopped_at"] == len(lrs) - 1


def test_smoothing_stopping_and_suggestions():
    assert ramp(1e-3, 10.0, 5) == pytest.approx([1e-3, 1e-2, 1e-1, 1.0, 10.0])
    assert smooth([1.0, 1.0, 1.0], 0.9) == pytest.approx([1.0, 1.0, 1.0])  # bias-corrected
    lrs = ramp(1e-4, 1.0, 9)
    curve = [5.0, 4.9, 4.5, 3.0, 1.5, 1.0, 1.2, 3.0, 9.0]
    s = suggestions(lrs, curve)
    assert s["minimum"] == pytest.approx(lrs[5] / 10)
    slope = np.gradient(np.array(curve), np.log(lrs))
    assert s["steep"] == lrs[int(np.argmin(slope))]
    # fastai's valley: the longest decreasing run ends at 5 with length 6, so (as fastai
    # writes it) max_start = 5 − 6 = −1, sections = 6/3 = 2, index = −1 + 2 + 1 = 2
    assert valley(lrs, curve) == lrs[2]


def test_seeds_give_median_and_spread(tmp_path):
    data = {
        "problem": {"name": "rosenbrock", "noise": 1.0},
        "steps": 50,
        "runs": [{"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.01}}],
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "r.json"
    assert main(["lr-find", str(path), "--num-iter", "40", "--seeds", "3", "--out", str(out)]) == 0
    run = json.loads(out.read_text())["runs"][0]
    assert [s["seed"] for s in run["seeds"]] == [0, 1, 2]
    for key in ("minimum", "steep", "valley"):
        values = [s["suggestions"][key] for s in run["seeds"]]
        assert run["suggestions"][key]["median"] == pytest.approx(float(np.median(values)))
        assert run["suggestions"][key]["spread"] == [min(values), max(values)]


def test_bad_options_exit_2_naming_the_option(tmp_path, capsys):
    path = tmp_path / "spec.json"
    path.write_text(
        json.dumps(
            {
                "problem": {"name": "quadratic"},
                "runs": [{"label": "a", "optimizer": {"name": "SGD"}}],
            }
        )
    )
    assert main(["lr-find", str(path), "--end-lr", "1e-9"]) == 2
    assert "--end-lr" in capsys.readouterr().err
    assert main(["lr-find", str(path), "--num-iter", "1"]) == 2
    assert "--num-iter" in capsys.readouterr().err
