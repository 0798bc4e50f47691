"""The lessons' numbers and claims hold: checked against the instruments and plain PyTorch.

- momentum valley: the captions' optimal heavy ball and stability limits are what
  ``engine/curvature.py`` computes; the third scene's runs sit at 0.98x and 1.02x the
  limit, and only the second diverges;
- scheduler order: the "scheduler first" run's lrs are a plain torch loop's with
  ``scheduler.step()`` called before ``optimizer.step()``;
- the captions carry the seed articles' facts (step order, 1.1.0, add_param_group,
  per-batch stepping, the optimizer family, fits faster vs generalizes better).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optlab.engine.curvature import analyze
from optlab.engine.experiment import run_experiment
from optlab.spec import parse_spec
from optlab.ui import lessons


def _fmt(x: float, digits: int) -> str:
    return f"{x:.{digits}f}"


def test_momentum_captions_use_the_computed_optimum() -> None:
    lesson = lessons.load("momentum_valley")
    scene = lesson.scenes[1]
    report = analyze(parse_spec(scene.spec))
    lam_min, lam_max = report["eigenvalues"]
    kappa = lam_max / lam_min
    assert kappa == pytest.approx(50)
    # Distill's optimal heavy ball, written out here
    lr = 4 / (math.sqrt(lam_max) + math.sqrt(lam_min)) ** 2
    beta = ((math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)) ** 2
    assert report["optimal"]["lr"] == pytest.approx(lr)
    assert report["optimal"]["momentum"] == pytest.approx(beta)
    for number in (
        _fmt(lr, 2),
        _fmt(beta, 3),
        _fmt((math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1), 3),
    ):
        assert number in scene.caption, number
    optimal = next(r for r in scene.spec["runs"] if r["label"] == "optimal heavy ball")
    assert optimal["optimizer"]["lr"] == pytest.approx(lr, abs=5e-3)
    assert optimal["optimizer"]["momentum"] == pytest.approx(beta, abs=5e-3)


def test_momentum_scene_straddles_the_stability_limit() -> None:
    scene = next(s for s in lessons.load("momentum_valley").scenes if "limit" in s.title.lower()
                 and any("0.98" in r["label"] for r in s.spec["runs"]))  # fmt: skip
    spec = parse_spec(scene.spec)
    report = analyze(spec)
    lam_max = report["eigenvalues"][-1]
    runs = report["runs"]
    limit = (2 + 2 * 0.9) / lam_max  # heavy ball, beta = 0.9
    assert runs[0]["stability_limit"] == pytest.approx(limit)
    assert runs[0]["lr"] / limit == pytest.approx(0.98, abs=1e-4)
    assert runs[1]["lr"] / limit == pytest.approx(1.02, abs=1e-4)
    assert _fmt(limit, 1) in scene.caption and "3.724" in scene.caption and "3.876" in scene.caption
    statuses = [r["status"] for r in run_experiment(spec)["runs"]]
    assert statuses[:2] == ["finished", "diverged"]


def test_scheduler_first_matches_a_plain_torch_loop() -> None:
    scene = lessons.load("scheduler_order").scenes[0]
    result = run_experiment(parse_spec(scene.spec))
    lrs = {r["label"]: np.asarray(r["lr"])[:, 0] for r in result["runs"]}

    def torch_lrs(scheduler_first: bool) -> list[float]:
        w = torch.zeros(2, requires_grad=True)
        opt = torch.optim.SGD([w], lr=0.5)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=100, gamma=0.5)
        out = []
        for _ in range(400):
            opt.zero_grad()
            (w**2).sum().backward()
            if scheduler_first:
                sched.step()
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            if not scheduler_first:
                sched.step()
        return out

    with pytest.warns(UserWarning):  # PyTorch warns about the wrong order
        wrong = torch_lrs(True)
    np.testing.assert_allclose(lrs["right order (StepLR)"], torch_lrs(False))
    np.testing.assert_allclose(lrs["wrong order (scheduler first)"], wrong)
    assert wrong[99] == 0.25 and torch_lrs(False)[99] == 0.5  # the drop comes a step early


def test_unfreeze_scene_adds_the_group_at_its_step() -> None:
    scene = lessons.load("scheduler_order").scenes[1]
    result = run_experiment(parse_spec(scene.spec))
    frozen = result["runs"][1]
    assert frozen["status"] == "finished"
    assert "layer1.*" in frozen["groups"]
    lr = np.asarray(frozen["lr"], dtype=np.float64)
    g = frozen["groups"].index("layer1.*")
    assert np.all(np.isnan(lr[:100, g])) and np.all(lr[100:, g] == 0.05)  # joins at step 100


@pytest.mark.parametrize(
    ("name", "facts"),
    [
        ("scheduler_order", ["zero_grad()", "backward()", "1.1.0", "add_param_group",
                             "param_groups"]),
        ("warmup_cosine", ["inside the batch loop", "epochs"]),
        ("sgdm_vs_adam_cifar", ["NAG", "Adagrad", "RMSProp", "Adadelta", "AMSGrad", "AdamW",
                                "**training**", "**validation**"]),
        ("momentum_valley", ["zero_grad()", "stability_limit"]),
    ],
)  # fmt: skip
def test_captions_carry_the_seed_facts(name: str, facts: list[str]) -> None:
    text = " ".join(s.caption for s in lessons.load(name).scenes)
    for fact in facts:
        assert fact in text, (name, fact)
