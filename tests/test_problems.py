"""The problem catalogue: registry, surfaces (minima, gradients, grids), models, drop-ins."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest
import torch
from pydantic import ValidationError

import optlab.problem as problems
from optlab.problem import ModelProblem, Surface, get_problem

SURFACES = ["rosenbrock", "saddle", "quadratic", "beale", "himmelblau", "rastrigin"]
MODELS = ["mse_regression", "cifar10_cnn"]
CPU = torch.device("cpu")


def make(name: str, **params: object) -> problems.Problem:
    cls = get_problem(name)
    return cls(cls.Params(**params))


def grad_at(surface: Surface, point: tuple[float, float]) -> tuple[float, torch.Tensor]:
    """f and ∇f at ``point`` through autograd, in float64."""
    xy = torch.tensor(point, dtype=torch.float64, requires_grad=True)
    value = surface.value(xy[0], xy[1])
    (grad,) = torch.autograd.grad(value, xy)
    return float(value.detach()), grad


# --------------------------------------------------------------------------- registry


@pytest.mark.parametrize("name", SURFACES + MODELS)
def test_registry_finds_every_problem_case_insensitively(name: str) -> None:
    cls = get_problem(name.upper())
    assert cls is get_problem(name) and cls.name == name
    assert cls.kind == ("surface" if name in SURFACES else "model")
    assert cls.title and cls.description and "\n" not in cls.description
    assert issubclass(
        cls.Params, problems.SurfaceParams if name in SURFACES else problems.ModelParams
    )


def test_unknown_problem_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="rosenbrock"):
        get_problem("rosenbrok")


def test_dropped_in_problem_is_discovered(tmp_path, monkeypatch) -> None:
    (tmp_path / "my_bowl.py").write_text(
        textwrap.dedent(
            """
            from optlab.problem import Surface

            class MyBowl(Surface):
                name = "My_Bowl"
                title = "My bowl"

                def value(self, x, y):
                    return x**2 + 3 * y**2
            """
        )
    )
    monkeypatch.setenv("OPTLAB_PROBLEMS_DIR", str(tmp_path))
    monkeypatch.setattr(problems, "_REGISTRY", None)  # monkeypatch restores the cache
    cls = get_problem("my_bowl")
    assert issubclass(cls, Surface) and cls().value(1.0, 2.0) == 13.0
    assert set(SURFACES + MODELS) <= set(problems.registry())


# --------------------------------------------------------------------------- surfaces


@pytest.mark.parametrize("name", SURFACES)
def test_surface_metadata_frames_start_and_minima(name: str) -> None:
    surface = make(name)
    (x0, x1), (y0, y1) = surface.bounds
    assert x0 < x1 and y0 < y1 and surface.formula
    for x, y in [surface.default_start, *surface.minima()]:
        assert x0 <= x <= x1 and y0 <= y <= y1
    assert surface.start == surface.default_start
    assert make(name, start=(0.5, -0.25)).start == (0.5, -0.25)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("rosenbrock", {}),
        ("rosenbrock", {"a": -0.7, "b": 5.0}),
        ("quadratic", {}),
        ("quadratic", {"condition": 1e6, "angle": -75.0}),
        ("beale", {}),
        ("himmelblau", {}),
        ("rastrigin", {}),
        ("rastrigin", {"A": 3.0}),
    ],
)
def test_minima_have_value_zero_and_no_gradient(name: str, params: dict) -> None:
    surface = make(name, **params)
    minima = surface.minima()
    assert minima
    for point in minima:
        value, grad = grad_at(surface, point)
        assert value == pytest.approx(0.0, abs=1e-12)
        torch.testing.assert_close(grad, torch.zeros(2, dtype=torch.float64), rtol=0, atol=1e-8)
    # nothing on the plotted grid lies below the minimum
    assert surface.grid(101)[2].min() >= -1e-12


def test_himmelblau_has_four_distinct_minima() -> None:
    minima = make("himmelblau").minima()
    assert len({(round(x, 3), round(y, 3)) for x, y in minima}) == 4


def test_saddle_is_a_stationary_point_with_curvature_of_both_signs() -> None:
    saddle = make("saddle")
    assert saddle.minima() == []
    value, grad = grad_at(saddle, (0.0, 0.0))
    assert value == 0.0 and torch.count_nonzero(grad) == 0
    hessian = torch.autograd.functional.hessian(
        lambda p: saddle.value(p[0], p[1]), torch.zeros(2, dtype=torch.float64)
    )
    assert torch.linalg.eigvalsh(hessian).tolist() == [-2.0, 2.0]
    # the default start sits just off the ridge, so the escape along y starts slowly
    _, grad = grad_at(saddle, saddle.default_start)
    assert 0 < abs(float(grad[1])) < 1e-2 < abs(float(grad[0]))
    (bx0, bx1), _ = saddle.divergence_box()
    assert bx0 < saddle.bounds[0][0] and bx1 > saddle.bounds[0][1]


@pytest.mark.parametrize("name", SURFACES)
def test_value_on_numpy_grid_matches_torch(name: str) -> None:
    surface = make(name)
    xs, ys, z = surface.grid(37)
    assert xs.shape == (37,) and ys.shape == (37,) and z.shape == (37, 37)
    assert z.dtype == np.float64 and np.isfinite(z).all()
    xx, yy = np.meshgrid(xs, ys)
    z_torch = surface.value(torch.from_numpy(xx), torch.from_numpy(yy))
    assert isinstance(z_torch, torch.Tensor) and z_torch.dtype == torch.float64
    np.testing.assert_allclose(z, z_torch.numpy(), rtol=1e-13, atol=1e-13)
    # and Z[i, j] is f(xs[j], ys[i])
    assert z[5, 11] == pytest.approx(float(surface.value(xs[11], ys[5])), rel=1e-13)


def test_batched_points_evaluate_elementwise() -> None:
    """The engine stacks all runs' points: value on (B,) tensors is B independent values."""
    surface = make("rastrigin")
    points = torch.tensor([[0.3, -1.2], [2.5, 0.1], [-4.0, 3.3]], dtype=torch.float64)
    batched = surface.value(points[:, 0], points[:, 1])
    single = [float(surface.value(p[0], p[1])) for p in points]
    assert batched.tolist() == pytest.approx(single, rel=1e-15)


@pytest.mark.parametrize(
    ("condition", "angle"), [(50.0, 30.0), (1000.0, -60.0), (4.0, 135.0), (1e6, 0.0)]
)
def test_quadratic_hessian_has_condition_and_rotated_axes(condition: float, angle: float) -> None:
    surface = make("quadratic", condition=condition, angle=angle)
    hessian = torch.autograd.functional.hessian(
        lambda p: surface.value(p[0], p[1]), torch.tensor([0.4, -1.1], dtype=torch.float64)
    )
    eigenvalues, eigenvectors = torch.linalg.eigh(hessian)
    lam_min, lam_max = eigenvalues.tolist()
    assert lam_max == pytest.approx(1.0, rel=1e-12)
    assert lam_max / lam_min == pytest.approx(condition, rel=1e-9)
    # the shallow axis (the valley) points along `angle`, up to sign
    theta = math.radians(angle)
    valley = eigenvectors[:, 0]
    assert abs(
        float(valley @ torch.tensor([math.cos(theta), math.sin(theta)], dtype=torch.float64))
    ) == (pytest.approx(1.0, abs=1e-12))


def test_surface_params_are_validated() -> None:
    with pytest.raises(ValidationError, match="condition"):
        get_problem("quadratic").Params(condition=0.5)
    with pytest.raises(ValidationError, match="condition"):
        get_problem("quadratic").Params(condition=1e7)
    with pytest.raises(ValidationError, match="momentun"):
        get_problem("rosenbrock").Params(momentun=1)
    with pytest.raises(ValidationError, match="b"):
        get_problem("rosenbrock").Params(b=-1.0)
    assert make("rosenbrock", a=0.5).minima() == [(0.5, 0.25)]


# --------------------------------------------------------------------------- mse_regression


def test_mse_regression_layers_are_named_for_per_layer_settings() -> None:
    problem = make("mse_regression")
    assert problem.parameter_names() == [
        "layer1.weight",
        "layer1.bias",
        "layer2.weight",
        "layer2.bias",
    ]
    shapes = {row["name"]: row["shape"] for row in problem.parameter_table()}
    assert shapes["layer1.weight"] == [32, 10] and shapes["layer2.weight"] == [1, 32]
    assert problem.task == "regression"
    assert (problem.default_epochs, problem.default_batch_size) == (20, 32)


def test_mse_regression_data_is_seeded_and_split() -> None:
    problem = make("mse_regression", n_samples=101, n_features=3, val_fraction=0.2)
    a, b, c = (problem.load_data(CPU, seed) for seed in (7, 7, 8))
    assert a.train_x.shape == (81, 3) and a.val_x.shape == (20, 3)
    assert a.train_y.shape == (81, 1) and a.val_y.shape == (20, 1)
    assert a.train_x.dtype == a.train_y.dtype == torch.float32
    for field in ("train_x", "train_y", "val_x", "val_y"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    assert not torch.equal(a.train_x, c.train_x) and not torch.equal(a.train_y, c.train_y)
    default = make("mse_regression").load_data(CPU, 0)
    assert (default.n_train, default.val_x.shape[0]) == (800, 200)


def test_mse_regression_trains_below_the_variance_of_the_targets() -> None:
    problem = make("mse_regression")
    data = problem.load_data(CPU, 0)
    torch.manual_seed(0)
    model = problem.prepare_model(problem.build_model(), CPU)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        order = torch.randperm(data.n_train, generator=generator)
        for start in range(0, data.n_train, 32):
            x, y = problem.batch(data, order[start : start + 32], train=True)
            loss = problem.loss(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        x, y = problem.batch(data, torch.arange(data.val_x.shape[0]), train=False)
        val_loss = float(problem.loss(model(x), y))
    assert val_loss < 0.3 * float(data.val_y.var())


# --------------------------------------------------------------------------- cifar10_cnn


def test_cifar10_cnn_architecture() -> None:
    problem = make("cifar10_cnn")
    assert problem.parameter_names() == [
        f"{layer}.{kind}"
        for layer in ("conv1", "conv2", "conv3", "fc1", "fc2")
        for kind in ("weight", "bias")
    ]
    expected = (
        (3 * 32 * 25 + 32)
        + (32 * 32 * 25 + 32)
        + (32 * 64 * 25 + 64)
        + (1024 * 64 + 64)
        + (64 * 10 + 10)
    )
    assert sum(row["count"] for row in problem.parameter_table()) == expected == 145_578
    assert problem.task == "classification"
    assert (problem.default_epochs, problem.default_batch_size) == (3, 128)

    model = problem.build_model()
    assert any(isinstance(m, torch.nn.ReLU) for m in model.modules())
    plain = make("cifar10_cnn", activation="none").build_model()
    assert not any(isinstance(m, torch.nn.ReLU) for m in plain.modules())
    x = torch.randn(5, 3, 32, 32)
    assert model(x).shape == (5, 10) and plain(x).shape == (5, 10)
    with pytest.raises(ValidationError, match="activation"):
        get_problem("cifar10_cnn").Params(activation="tanh")
    with pytest.raises(ValidationError, match="train_limit"):
        get_problem("cifar10_cnn").Params(train_limit=0)


def test_cifar10_cnn_loads_the_bundled_sample_on_cpu(monkeypatch) -> None:
    monkeypatch.delenv("OPTLAB_DATA_DIR", raising=False)
    problem = make("cifar10_cnn")
    data = problem.load_data(CPU, 0)
    assert data.train_x.shape == (5085, 3, 32, 32) and data.val_x.shape == (1017, 3, 32, 32)
    assert data.train_y.shape == (5085,) and data.val_y.shape == (1017,)
    for x in (data.train_x, data.val_x):
        assert x.dtype == torch.float32 and x.is_contiguous(memory_format=torch.channels_last)
    assert data.train_y.dtype == torch.int64 and int(data.train_y.max()) == 9
    # normalized: roughly zero mean and unit std per channel
    assert data.train_x.mean().abs() < 0.2 and 0.8 < float(data.train_x.std()) < 1.2
    assert data.val_y[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]

    index = torch.arange(40, 168)
    x, y = problem.batch(data, index, train=True)
    assert torch.equal(x, data.train_x[index]) and torch.equal(y, data.train_y[index])
    model = problem.prepare_model(problem.build_model(), CPU)
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    loss = problem.loss(model(x), y)
    assert loss.ndim == 0 and math.isfinite(float(loss.detach()))


def test_cifar10_cnn_limits_and_augmentation(monkeypatch) -> None:
    monkeypatch.delenv("OPTLAB_DATA_DIR", raising=False)
    problem = make("cifar10_cnn", augment=True, train_limit=64, val_limit=16)
    data = problem.load_data(CPU, 0)
    assert (data.n_train, data.val_x.shape[0]) == (64, 16)
    index = torch.arange(32)
    a, _ = problem.batch(data, index, train=True, generator=torch.Generator().manual_seed(1))
    b, _ = problem.batch(data, index, train=True, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.is_contiguous(memory_format=torch.channels_last)
    assert not torch.equal(a, data.train_x[index])  # augmented
    val, _ = problem.batch(data, torch.arange(16), train=False)
    assert torch.equal(val, data.val_x)  # never augmented


def test_cifar10_cnn_normalizes_uint8_batches_like_the_cpu_path(monkeypatch) -> None:
    """On an accelerator the data stays uint8 and batch() normalizes: same numbers."""
    monkeypatch.delenv("OPTLAB_DATA_DIR", raising=False)
    problem = make("cifar10_cnn", train_limit=32, val_limit=8)
    normalized = problem.load_data(CPU, 0)
    from problems.cifar10_cnn import data as cifar

    raw_x, raw_y, _, _ = cifar.load_cifar10(limit_train=32, limit_test=8).tensors()
    raw = problems.ModelData(raw_x, raw_y, raw_x[:8], raw_y[:8])
    x, _ = problem.batch(raw, torch.arange(32), train=True)
    assert x.dtype == torch.float32 and x.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(x, normalized.train_x, rtol=0, atol=1e-6)


def test_model_problems_are_model_kind() -> None:
    for name in MODELS:
        assert issubclass(get_problem(name), ModelProblem)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cifar10_cnn_keeps_uint8_on_cuda_and_normalizes_per_batch(monkeypatch) -> None:
    monkeypatch.delenv("OPTLAB_DATA_DIR", raising=False)
    problem = make("cifar10_cnn", augment=True, train_limit=256, val_limit=64)
    cuda = torch.device("cuda")
    data = problem.load_data(cuda, 0)
    assert data.train_x.dtype == torch.uint8 and data.train_x.device.type == "cuda"
    x, y = problem.batch(data, torch.arange(64, device=cuda), train=False)
    assert x.dtype == torch.float32 and x.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(x.cpu(), problem.load_data(CPU, 0).val_x, rtol=0, atol=1e-6)
    gen = torch.Generator(device=cuda).manual_seed(0)
    xa, _ = problem.batch(data, torch.arange(128, device=cuda), train=True, generator=gen)
    model = problem.prepare_model(problem.build_model(), cuda)
    assert model(xa).shape == (128, 10) and y.device.type == "cuda"
