"""``record_state`` and ``record_sharpness`` against plain PyTorch loops (issue 12 §2, §3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optlab.engine.experiment import run_experiment
from optlab.spec import SpecError, parse_spec

OPTIMIZERS = {
    "SGD momentum": ("SGD", {"lr": 0.001, "momentum": 0.9}),
    "Adam": ("Adam", {"lr": 0.05}),
    "AMSGrad": ("Adam", {"lr": 0.05, "amsgrad": True}),
    "RMSprop": ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    "Adagrad": ("Adagrad", {"lr": 0.1}),
    "Adadelta": ("Adadelta", {"lr": 1.0}),
}
EXPECTED = {
    "SGD momentum": {"momentum_buffer"},
    "Adam": {"exp_avg", "exp_avg_sq"},
    "AMSGrad": {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
    "RMSprop": {"square_avg", "momentum_buffer", "grad_avg"},
    "Adagrad": {"sum"},
    "Adadelta": {"square_avg", "acc_delta"},
}
STEPS = 60


@pytest.mark.parametrize("label", list(OPTIMIZERS))
def test_surface_state_matches_the_plain_loop(label):
    name, kwargs = OPTIMIZERS[label]
    spec = parse_spec(
        {
            "problem": {"name": "rosenbrock", "start": [-1.5, 2.0], "noise": 0.3},
            "steps": STEPS,
            "runs": [
                {"label": label, "optimizer": {"name": name, **kwargs}, "record_state": True},
                {"label": "plain", "optimizer": {"name": "SGD", "lr": 1e-4}},
            ],
        }
    )
    problem = spec.problem.build()
    noise = torch.randn((STEPS, 2), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    noise = noise * 0.3
    xy = torch.tensor(problem.start, dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, name)([xy], **kwargs)
    states: dict[str, list[list[float]]] = {}
    updates = []
    for t in range(STEPS):
        before = xy.detach().clone()
        loss = problem.value(xy[0], xy[1]) + noise[t, 0] * xy[0] + noise[t, 1] * xy[1]
        opt.zero_grad()
        loss.backward()
        opt.step()
        for key, value in opt.state[xy].items():
            if value.shape == xy.shape:
                states.setdefault(key, []).append(value.tolist())
        updates.append((xy.detach() - before).tolist())
    run, plain = run_experiment(spec)["runs"]
    assert run["status"] == "finished"
    assert set(run["state"]) == set(states) == EXPECTED[label]
    for key, values in states.items():
        np.testing.assert_array_equal(run["state"][key], values, err_msg=key)
    np.testing.assert_array_equal(run["update"], updates)
    assert "state" not in plain and "update" not in plain


def _model_spec(**run):
    return parse_spec(
        {
            "problem": {"name": "mse_regression", "n_samples": 120, "n_features": 2, "hidden": 3},
            "epochs": 2,
            "batch_size": 16,
            "device": "cpu",
            "runs": [{"label": "a", "optimizer": {"name": "Adam", "lr": 0.01}, **run}],
        }
    )


def _reference_model(spec, make_opt, steps_fn):
    """The engine's batch order, the textbook loop; ``steps_fn(t, opt, model)`` after each step."""
    problem = spec.problem.build()
    device = torch.device("cpu")
    torch.manual_seed(spec.seed)
    model = problem.prepare_model(problem.build_model(), device)
    model.train()
    data = problem.load_data(device, spec.seed)
    n, bs = data.n_train, int(spec.batch_size)
    per_epoch = math.ceil(n / bs)
    opt = make_opt(model)
    aug = torch.Generator(device=device)
    for t in range(int(spec.epochs) * per_epoch):
        b = t % per_epoch
        if b == 0:
            gen = torch.Generator(device=device).manual_seed(spec.seed * 1_000_003 + t // per_epoch)
            perm = torch.randperm(n, generator=gen, device=device)
            aug.manual_seed(spec.seed * 7_919 + t // per_epoch)
        x, y = problem.batch(data, perm[b * bs : (b + 1) * bs], train=True, generator=aug)
        steps_fn(t, "before", opt, model)
        loss = problem.loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps_fn(t, "after", opt, model)
    return problem, data


def test_model_state_norms_per_group_match_the_plain_loop():
    spec = _model_spec(param_groups=[{"params": "layer2.*", "lr": 0.02}], record_state=True)
    norms: dict[str, dict[str, list[float]]] = {}

    def make_opt(model):
        l1 = [p for k, p in model.named_parameters() if k.startswith("layer1")]
        l2 = [p for k, p in model.named_parameters() if k.startswith("layer2")]
        return torch.optim.Adam([{"params": l2, "lr": 0.02}, {"params": l1}], lr=0.01)

    def after(t, when, opt, model):
        if when != "after":
            return
        for group, name in zip(opt.param_groups, ["layer2.*", "default"], strict=True):
            for key in ("exp_avg", "exp_avg_sq"):
                total = sum(float((opt.state[p][key].double() ** 2).sum()) for p in group["params"])
                norms.setdefault(name, {}).setdefault(key, []).append(math.sqrt(total))

    _reference_model(spec, make_opt, after)
    run = run_experiment(spec)["runs"][0]
    assert set(run["state_norms"]) == {"layer2.*", "default"}
    for group, series in norms.items():
        assert set(run["state_norms"][group]) == set(series)
        for key, values in series.items():
            np.testing.assert_allclose(run["state_norms"][group][key], values, rtol=1e-6)


def test_sharpness_matches_the_full_hessian_of_a_tiny_model():
    spec = _model_spec(
        optimizer={"name": "SGD", "lr": 0.1}, record_sharpness={"every": 4, "iters": 300}
    )
    expected: dict[int, float] = {}
    problem = spec.problem.build()
    state = {}

    def before(t, when, opt, model):
        if when != "before" or t % 4:
            return
        x, y = problem.batch(state["data"], torch.arange(16), train=False)
        names = [k for k, _ in model.named_parameters()]
        shapes = [p.shape for _, p in model.named_parameters()]
        flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

        def loss_of(vector):
            params, i = {}, 0
            for k, shape in zip(names, shapes, strict=True):
                size = math.prod(shape)
                params[k] = vector[i : i + size].reshape(shape)
                i += size
            out = torch.func.functional_call(model, params, (x,))
            return problem.loss(out, y)

        hessian = torch.autograd.functional.hessian(loss_of, flat).double().numpy()
        eig = np.linalg.eigvalsh((hessian + hessian.T) / 2)
        expected[t] = float(eig[np.argmax(np.abs(eig))])

    state["data"] = problem.load_data(torch.device("cpu"), spec.seed)
    _reference_model(spec, lambda m: torch.optim.SGD(m.parameters(), lr=0.1), before)
    run = run_experiment(spec)["runs"][0]
    sharp = run["sharpness"]
    assert len(sharp) == len(run["loss"])
    assert [t for t, v in enumerate(sharp) if v is not None] == sorted(expected)
    for t, value in expected.items():
        assert sharp[t] == pytest.approx(value, rel=1e-4)


def test_sharpness_is_for_models_only():
    with pytest.raises(SpecError) as err:
        parse_spec(
            {
                "problem": {"name": "quadratic"},
                "runs": [
                    {
                        "label": "a",
                        "optimizer": {"name": "SGD"},
                        "record_sharpness": {"every": 1},
                    }
                ],
            }
        )
    assert "runs[0].record_sharpness" in str(err.value)
