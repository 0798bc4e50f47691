"""Issue 9 item 6: the plotted learning rate is the one applied.

Each family is run in a plain loop written here; the lr its step applies is read from the
optimizer's state with the formula written out here (or measured from what the step did),
and compared with the ``effective_lr`` optlab records.
"""

from __future__ import annotations

import math

import pytest
import pytorch_optimizer as po
import torch

from optlab.engine.experiment import run_experiment
from optlab.spec import parse_spec

STEPS = 60


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def rosen(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2


def engine(name, steps=STEPS, **kwargs):
    spec = {
        "problem": {"name": "rosenbrock"},
        "steps": steps,
        "runs": [{"label": name, "optimizer": {"name": name, **kwargs}}],
    }
    return run_experiment(parse_spec(spec))["runs"][0]


def plain(make_opt, applied, steps=STEPS):
    """The user's loop on Rosenbrock from (-1.5, 2); ``applied(opt, xy, t, step)`` gives the
    lr of update t: it may read the state before and call ``step()`` itself to measure."""
    xy = torch.tensor((-1.5, 2.0), dtype=torch.float64, requires_grad=True)
    opt = make_opt([xy])
    out = []
    for t in range(steps):
        opt.zero_grad()
        rosen(xy[0], xy[1]).backward()
        out.append(applied(opt, xy, t, opt.step))
    return out


def group_d_lr(opt, xy, t, step):
    """D-Adaptation's step size: d times lr of the (first) group."""
    g = opt.param_groups[0]
    value = float(g["d"] * g["lr"])
    step()
    return value


def column(run, g=0):
    return [row[g] for row in run["effective_lr"]]


def d_times_lr(bias_correction):
    """``applied`` for D-Adaptation's Adam and Prodigy: d·lr of the first group (times
    Adam's bias correction sqrt(1 - β2^k) / (1 - β1^k) when asked), read before the step."""

    def applied(opt, xy, t, step):
        g = opt.param_groups[0]
        k = t + 1
        value = g["d"] * g["lr"]
        if bias_correction:
            value *= math.sqrt(1 - 0.999**k) / (1 - 0.9**k)
        step()
        return value

    return applied


@pytest.mark.parametrize(
    ("name", "cls"),
    [("DAdaptAdaGrad", po.DAdaptAdaGrad), ("DAdaptAdan", po.DAdaptAdan)],
)
def test_dadapt_records_d_times_lr(name, cls):
    run = engine(name)
    want = plain(lambda p: cls(p), group_d_lr)
    assert column(run) == want
    assert {row[0] for row in run["lr"]} == {1.0}  # the nominal lr would mislead
    assert max(want) < 0.1


@pytest.mark.parametrize("bias_correction", [False, True])
def test_dadapt_adam_records_d_times_lr_bias_corrected_when_asked(bias_correction):
    applied = d_times_lr(bias_correction)
    run = engine("DAdaptAdam", bias_correction=bias_correction)
    want = plain(lambda p: po.DAdaptAdam(p, bias_correction=bias_correction), applied)
    assert column(run) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("bias_correction", [False, True])
def test_prodigy_records_d_times_lr(bias_correction):
    applied = d_times_lr(bias_correction)
    run = engine("Prodigy", lr=0.5, d_coef=2.0, bias_correction=bias_correction)
    want = plain(
        lambda p: po.Prodigy(p, lr=0.5, d_coef=2.0, bias_correction=bias_correction), applied
    )
    assert column(run) == pytest.approx(want, rel=1e-12)
    assert want[-1] > 100 * want[0]


def test_dadapt_sgd_records_the_step_it_takes_per_unit_gradient():
    """Measured: the step adds d·lr/‖g₀‖ times the gradient to its sum ``s``."""

    def applied(opt, xy, t, step):
        before = opt.state[xy]["s"].clone() if "s" in opt.state[xy] else torch.zeros_like(xy)
        grad = xy.grad.clone()
        step()
        return float(((opt.state[xy]["s"] - before) / grad)[0])

    run = engine("DAdaptSGD")
    want = plain(lambda p: po.DAdaptSGD(p), applied)
    assert column(run) == pytest.approx(want, rel=1e-9)
    g0 = math.hypot(2 * (-1.5 - 1) - 400 * -1.5 * (2 - 2.25), 200 * (2 - 2.25))
    assert run["effective_lr"][0][0] == pytest.approx(1e-6 / g0, rel=1e-6)


def test_dadapt_lion_records_the_size_of_its_sign_step():
    """Measured: Lion moves every coordinate by exactly d·lr."""

    def applied(opt, xy, t, step):
        before = xy.detach().clone()
        step()
        return float((xy.detach() - before).abs().max())

    run = engine("DAdaptLion")
    want = plain(lambda p: po.DAdaptLion(p), applied)
    assert column(run) == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize(
    ("name", "cls"),
    [("ScheduleFreeAdamW", po.ScheduleFreeAdamW), ("ScheduleFreeSGD", po.ScheduleFreeSGD)],
)
def test_schedule_free_records_its_warmup(name, cls):
    def applied(opt, xy, t, step):
        step()
        k = t + 1
        return 0.01 * min(1.0, k / 20)

    run = engine(name, lr=0.01, warmup_steps=20)
    assert column(run) == pytest.approx(plain(lambda p: cls(p, lr=0.01, warmup_steps=20), applied))
    assert column(run)[0] == pytest.approx(0.0005)
    assert "effective_lr" not in engine(name, lr=0.01)  # no warm-up: the group lr is applied


def test_schedule_free_radam_records_the_rectified_step():
    def applied(opt, xy, t, step):
        step()
        k, b2 = t + 1, 0.999
        rho_inf = 2 / (1 - b2) - 1
        rho = rho_inf - 2 * k * b2**k / (1 - b2**k)
        if rho < 4:
            return 0.0  # silent SGD phase: no update
        return 0.01 * math.sqrt(
            (rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)
        )

    run = engine("ScheduleFreeRAdam", lr=0.01)
    want = plain(lambda p: po.ScheduleFreeRAdam(p, lr=0.01), applied)
    assert column(run) == pytest.approx(want, rel=1e-9, abs=1e-15)
    assert column(run)[:4] == [0.0] * 4


def test_ranger21_records_its_warmup_and_warmdown():
    steps = 200

    def applied(opt, xy, t, step):
        k, lr, low = t + 1, 1e-3, 3e-5
        warm_up = opt.num_warm_up_iterations
        start = opt.start_warm_down
        value = lr * min(1.0, k / warm_up) if k <= warm_up else lr
        if k >= start:
            done = min((k + 1 - start) / (opt.num_warm_down_iterations + 1), 1.0)
            value = max(lr - (lr - low) * done, low)
        step()
        return value

    run = engine("Ranger21", steps=steps, lr=1e-3)
    want = plain(lambda p: po.Ranger21(p, num_iterations=steps, lr=1e-3), applied, steps)
    assert column(run) == pytest.approx(want, rel=1e-12)
    assert min(want) < 1e-4 and max(want) == 1e-3
    assert "effective_lr" not in engine("Ranger21", lr=1e-3, disable_lr_scheduler=True)


def test_plain_optimizers_and_lookahead_inner():
    assert "effective_lr" not in engine("Adam", lr=0.01)
    wrapped = parse_spec(
        {
            "problem": {"name": "rosenbrock"},
            "steps": 30,
            "runs": [
                {
                    "label": "la",
                    "optimizer": {"name": "Lookahead", "optimizer": {"name": "Prodigy"}},
                },
                {"label": "p", "optimizer": {"name": "Prodigy"}},
            ],
        }
    )
    la, _ = run_experiment(wrapped)["runs"]
    assert len(la["effective_lr"]) == 30
    assert la["effective_lr"][0] == [1e-6]


def test_model_groups_get_the_first_groups_d_times_lr():
    """On a model with two groups: Prodigy steps both with the FIRST group's d·lr."""
    spec = parse_spec(
        {
            "problem": {"name": "mse_regression", "n_samples": 200},
            "epochs": 2,
            "batch_size": 32,
            "seed": 3,
            "device": "cpu",
            "runs": [
                {
                    "label": "p",
                    "optimizer": {"name": "Prodigy", "lr": 1.0},
                    "param_groups": [{"params": "layer1.*", "lr": 0.5}],
                }
            ],
        }
    )
    run = run_experiment(spec)["runs"][0]
    problem = spec.problem.build()
    data = problem.load_data(torch.device("cpu"), spec.seed)
    torch.manual_seed(spec.seed)
    model = problem.build_model()
    named = dict(model.named_parameters())
    first = [p for n, p in named.items() if n.startswith("layer1.")]
    rest = [p for n, p in named.items() if not n.startswith("layer1.")]
    opt = po.Prodigy([{"params": first, "lr": 0.5}, {"params": rest}], lr=1.0)
    want = []
    n, bs = data.n_train, spec.batch_size
    for epoch in range(spec.epochs):
        gen = torch.Generator().manual_seed(spec.seed * 1_000_003 + epoch)
        perm = torch.randperm(n, generator=gen)
        for b in range(math.ceil(n / bs)):
            idx = perm[b * bs : (b + 1) * bs]
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(data.train_x[idx]), data.train_y[idx]).backward()
            g = opt.param_groups[0]
            want.append([g["d"] * g["lr"]] * 2)
            opt.step()
    assert [v for row in run["effective_lr"] for v in row] == pytest.approx(
        [v for row in want for v in row], rel=1e-12
    )
    assert run["lr"][0] == [0.5, 1.0]
    assert want[-1][0] > want[0][0]
