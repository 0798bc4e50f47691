"""The optimizer catalogue against the real classes: every entry steps, the builder matches
the textbook constructor bit for bit, names and hyperparameters validate, and the curated
facts (element-wise, per-group keys, float64, exclusions) hold for the installed libraries."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import pytorch_optimizer as po
import torch
from pydantic import ValidationError

from optlab.catalog import _optimizer_facts as facts
from optlab.catalog import optimizers
from optlab.catalog.optimizers import EXCLUDED, build_optimizer, canonical_name, catalogue, get_info
from optlab.spec import OptimizerSpec

CATALOGUE = catalogue()
# Optimizers that do nothing for their first steps by design: AdaShift waits for keep_num
# gradients, ScheduleFreeRAdam's RAdam warm-up is silent.
FIRST_MOVE = {"AdaShift": 12, "ScheduleFreeRAdam": 8}


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny tensors: intra-op threads only add sync overhead (10x under CPU contention)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def spec(name: str, **kwargs: Any) -> OptimizerSpec:
    return OptimizerSpec.model_validate({"name": name, **kwargs})


def mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


DATA = torch.randn(32, 3, generator=torch.Generator().manual_seed(1))
TARGET = torch.randn(32, 2, generator=torch.Generator().manual_seed(2))


def train(model: torch.nn.Module, opt: torch.optim.Optimizer, steps: int, closure: bool) -> None:
    for _ in range(steps):

        def loss_fn() -> torch.Tensor:
            with torch.enable_grad():  # AliG calls the closure under no_grad
                opt.zero_grad()
                loss = ((model(DATA) - TARGET) ** 2).mean()
                loss.backward()
            return loss

        if closure:
            opt.step(loss_fn)
        else:
            loss_fn()
            opt.step()


def trainable(model: torch.nn.Module, name: str) -> list[torch.Tensor]:
    """All parameters, or only the weight matrices for matrix-only optimizers (Muon)."""
    ps = list(model.parameters())
    return [p for p in ps if p.ndim == 2] if get_info(name).matrix_only else ps


# ------------------------------------------------------------------------ every entry steps


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_every_entry_builds_and_steps(name: str) -> None:
    """Defaults only (Lookahead wraps Adam); params change and stay finite."""
    info = CATALOGUE[name]
    model = mlp()
    params = trainable(model, name)
    before = [p.detach().clone() for p in params]
    extra = {"optimizer": {"name": "Adam"}} if info.wraps_optimizer else {}
    opt = build_optimizer(spec(name, **extra), [{"params": params}])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(model, opt, FIRST_MOVE.get(name, 3), info.needs_closure)
    assert any(not torch.equal(a, b) for a, b in zip(before, params, strict=True))
    assert all(torch.isfinite(p).all() for p in params)


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_float64_flag_is_honest(name: str) -> None:
    """2-D surfaces train float64 points: supports_float64 says whether that works."""
    info = CATALOGUE[name]
    point = torch.tensor([[-1.5, 2.0]] if info.matrix_only else [-1.5, 2.0], dtype=torch.float64)
    point.requires_grad_(True)
    extra = {"optimizer": {"name": "Adam"}} if info.wraps_optimizer else {}
    opt = build_optimizer(spec(name, **extra), [{"params": [point]}])

    def closure() -> torch.Tensor:
        with torch.enable_grad():
            opt.zero_grad()
            loss = ((point - 1.0) ** 2).sum()
            loss.backward()
        return loss

    def steps() -> None:
        for _ in range(3):
            if info.needs_closure:
                opt.step(closure)
            else:
                closure()
                opt.step()

    if info.supports_float64:
        steps()
        assert point.dtype == torch.float64
    else:
        with pytest.raises(RuntimeError):
            steps()


# ------------------------------------------------------------- builder == textbook constructor

T, P = torch.optim, po
# fmt: off
BUILD_CASES: list[tuple[str, dict[str, Any], Callable[[list[dict[str, Any]]], Any]]] = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3},
     lambda g: T.SGD(g, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("sgd", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "maximize": False},
     lambda g: T.SGD(g, lr=0.05, momentum=0.8, dampening=0.3)),
    ("Adam", {"lr": 0.01, "betas": [0.8, 0.99], "amsgrad": True, "weight_decay": 1e-2},
     lambda g: T.Adam(g, lr=0.01, betas=(0.8, 0.99), amsgrad=True, weight_decay=1e-2)),
    ("adam", {"lr": 0.01, "decoupled_weight_decay": True, "weight_decay": 0.1, "foreach": False},
     lambda g: T.Adam(g, lr=0.01, decoupled_weight_decay=True, weight_decay=0.1, foreach=False)),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "eps": 1e-6},
     lambda g: T.AdamW(g, lr=0.01, weight_decay=0.1, eps=1e-6)),
    ("NAdam", {"lr": 0.01, "momentum_decay": 0.01, "decoupled_weight_decay": True},
     lambda g: T.NAdam(g, lr=0.01, momentum_decay=0.01, decoupled_weight_decay=True)),
    ("RAdam", {"lr": 0.01, "betas": [0.85, 0.98], "weight_decay": 0.01},
     lambda g: T.RAdam(g, lr=0.01, betas=(0.85, 0.98), weight_decay=0.01)),
    ("Adamax", {"lr": 0.01, "betas": [0.8, 0.95]},
     lambda g: T.Adamax(g, lr=0.01, betas=(0.8, 0.95))),
    ("Adagrad", {"lr": 0.05, "lr_decay": 0.01, "initial_accumulator_value": 0.1},
     lambda g: T.Adagrad(g, lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1)),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-5},
     lambda g: T.Adadelta(g, lr=0.5, rho=0.8, eps=1e-5)),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True},
     lambda g: T.RMSprop(g, lr=0.01, alpha=0.9, momentum=0.5, centered=True)),
    ("Rprop", {"lr": 0.02, "etas": [0.4, 1.3], "step_sizes": [1e-5, 1.0]},
     lambda g: T.Rprop(g, lr=0.02, etas=(0.4, 1.3), step_sizes=(1e-5, 1.0))),
    ("ASGD", {"lr": 0.05, "lambd": 1e-3, "alpha": 0.5, "t0": 5.0},
     lambda g: T.ASGD(g, lr=0.05, lambd=1e-3, alpha=0.5, t0=5.0)),
    ("LBFGS", {"lr": 0.5, "max_iter": 3, "history_size": 5, "line_search_fn": "strong_wolfe"},
     lambda g: T.LBFGS(g, lr=0.5, max_iter=3, history_size=5, line_search_fn="strong_wolfe")),
    ("Adafactor", {"lr": 0.02, "beta2_decay": -0.6, "d": 2.0, "weight_decay": 0.01},
     lambda g: T.Adafactor(g, lr=0.02, beta2_decay=-0.6, d=2.0, weight_decay=0.01)),
    ("Muon", {"lr": 0.02, "momentum": 0.9, "nesterov": False, "adjust_lr_fn": "match_rms_adamw"},
     lambda g: T.Muon(g, lr=0.02, momentum=0.9, nesterov=False, adjust_lr_fn="match_rms_adamw")),
    ("AdaBound", {"lr": 0.01, "final_lr": 0.05, "gamma": 0.01, "ams_bound": True},
     lambda g: P.AdaBound(g, lr=0.01, final_lr=0.05, gamma=0.01, ams_bound=True)),
    ("SWATS", {"lr": 0.01, "nesterov": True, "weight_decay": 0.01},
     lambda g: P.SWATS(g, lr=0.01, nesterov=True, weight_decay=0.01)),
    ("Lion", {"lr": 1e-3, "betas": [0.95, 0.98], "weight_decay": 0.1},
     lambda g: P.Lion(g, lr=1e-3, betas=(0.95, 0.98), weight_decay=0.1)),
    ("Prodigy", {"lr": 0.5, "d0": 1e-4, "safeguard_warmup": True, "bias_correction": True},
     lambda g: P.Prodigy(g, lr=0.5, d0=1e-4, safeguard_warmup=True, bias_correction=True)),
    ("ScheduleFreeAdamW", {"lr": 0.01, "warmup_steps": 5, "weight_lr_power": 1.0},
     lambda g: P.ScheduleFreeAdamW(g, lr=0.01, warmup_steps=5, weight_lr_power=1.0)),
    ("MADGRAD", {"lr": 0.01, "momentum": 0.8, "weight_decay": 1e-3},
     lambda g: P.MADGRAD(g, lr=0.01, momentum=0.8, weight_decay=1e-3)),
    ("AdaBelief", {"lr": 0.01, "rectify": True, "eps": 1e-12},
     lambda g: P.AdaBelief(g, lr=0.01, rectify=True, eps=1e-12)),
    ("Adan", {"lr": 0.01, "betas": [0.9, 0.9, 0.95], "max_grad_norm": 1.0},
     lambda g: P.Adan(g, lr=0.01, betas=(0.9, 0.9, 0.95), max_grad_norm=1.0)),
    ("Ranger", {"lr": 0.01, "k": 3, "alpha": 0.6},
     lambda g: P.Ranger(g, lr=0.01, k=3, alpha=0.6)),
    ("Ranger21", {"num_iterations": 20, "lr": 0.01},
     lambda g: P.Ranger21(g, num_iterations=20, lr=0.01)),
    ("Lookahead", {"k": 3, "alpha": 0.6, "optimizer": {"name": "Adam", "lr": 0.02}},
     lambda g: P.Lookahead(T.Adam(g, lr=0.02), k=3, alpha=0.6)),
]
# fmt: on


def _groups(model: torch.nn.Module, name: str, override: bool) -> list[dict[str, Any]]:
    """Two groups when the optimizer allows a per-group lr (first layer at 3x), else one."""
    ps = trainable(model, name)
    if not override:
        return [{"params": ps}]
    return [{"params": ps[:1], "lr": 0.03}, {"params": ps[1:]}]


@pytest.mark.parametrize(
    ("name", "kwargs", "textbook"),
    BUILD_CASES,
    ids=[f"{i}-{c[0]}" for i, c in enumerate(BUILD_CASES)],
)
def test_build_matches_textbook_constructor(
    name: str, kwargs: dict[str, Any], textbook: Callable[[list[dict[str, Any]]], Any]
) -> None:
    info = get_info(name)
    inner = get_info(kwargs["optimizer"]["name"]) if info.wraps_optimizer else info
    override = "lr" in inner.group_keys and len(trainable(mlp(), name)) > 1
    trajectories = []
    for make in (lambda g: build_optimizer(spec(name, **kwargs), g), textbook):
        model = mlp()
        opt = make(_groups(model, name, override))
        train(model, opt, 20, info.needs_closure)
        trajectories.append([p.detach().clone() for p in model.parameters()])
    built, direct = trajectories
    assert all(torch.equal(a, b) for a, b in zip(built, direct, strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(built, mlp().parameters(), strict=True))


def test_textbook_cases_cover_every_torch_optimizer() -> None:
    covered = {canonical_name(n) for n, _, _ in BUILD_CASES}
    assert {n for n, i in CATALOGUE.items() if i.source == "torch"} <= covered


def test_run_length_argument_is_filled_by_the_run() -> None:
    """Ranger21 requires num_iterations; left out, the run's number of steps fills it."""
    import pytorch_optimizer as po

    params = list(mlp().parameters())
    opt = build_optimizer(spec("Ranger21"), [{"params": params}], run_steps=400)
    hand = po.Ranger21(list(mlp().parameters()), num_iterations=400)
    assert (opt.start_warm_down, opt.num_warm_down_iterations, opt.num_warm_up_iterations) == (
        hand.start_warm_down,
        hand.num_warm_down_iterations,
        hand.num_warm_up_iterations,
    )
    given = build_optimizer(spec("Ranger21", num_iterations=50), [{"params": params}], 400)
    assert given.start_warm_down + given.num_warm_down_iterations == 50
    assert get_info("Ranger21").params["num_iterations"].default is None


def test_group_override_not_stored_per_group_is_refused() -> None:
    params = list(mlp().parameters())
    with pytest.raises(ValueError, match="cannot set maximize per param group"):
        build_optimizer(spec("Lion"), [{"params": params[:1], "maximize": True}])
    with pytest.raises(ValidationError, match="momentum"):
        build_optimizer(spec("SGD"), [{"params": params[:1], "momentum": 2.0}])


# -------------------------------------------------------------------- names and validation


def test_names_are_case_insensitive() -> None:
    assert canonical_name("sgd") == "SGD"
    assert canonical_name("ADAMW") == "AdamW"
    assert canonical_name("schedulefreeadamw") == "ScheduleFreeAdamW"
    assert get_info(" lookahead ").wraps_optimizer


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(ValueError, match=r"unknown optimizer 'sgdd'; did you mean SGD\?"):
        canonical_name("sgdd")
    with pytest.raises(ValueError, match="python -m optlab list"):
        canonical_name("zzzzzz")
    with pytest.raises(ValueError, match="sparse gradients only"):
        canonical_name("SparseAdam")


@pytest.mark.parametrize(
    ("name", "kwargs", "field"),
    [
        ("SGD", {"momentun": 0.9}, "momentun"),
        ("Adam", {"betas": [1.5, 0.9]}, "betas.0"),
        ("Adam", {"lr": -1}, "lr"),
        ("Adam", {"betas": [0.9]}, "betas"),
        ("Adam", {"eps": 0.0}, "eps"),
        ("SGD", {"momentum": 1.5}, "momentum"),
        ("RMSprop", {"alpha": 1.2}, "alpha"),
        ("Lion", {"weight_decay": -0.1}, "weight_decay"),
        ("LBFGS", {"line_search_fn": "wolfe"}, "line_search_fn"),
        ("Lookahead", {"pullback_momentum": "x"}, "pullback_momentum"),
    ],
)
def test_bad_hyperparameters_are_rejected_with_the_key(
    name: str, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        get_info(name).params_model.model_validate(kwargs)
    assert field in {".".join(map(str, e["loc"])) for e in caught.value.errors()}


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_defaults_fit_their_ranges_and_match_the_class(name: str) -> None:
    info = CATALOGUE[name]
    defaults = {k: hp.default for k, hp in info.params.items()}
    info.params_model.model_validate(defaults)
    signature = inspect.signature(info.cls.__init__).parameters
    for key, hp in info.params.items():
        lib = signature[key].default
        if lib is inspect.Parameter.empty:
            continue
        lib = getattr(lib, "value", lib)  # enums are offered by value
        assert hp.default == (tuple(lib) if isinstance(lib, list) else lib), key
    assert info.description and "\n" not in info.description


def test_catalogue_contents_and_exclusions() -> None:
    must = {"SGD", "Adam", "AdamW", "NAdam", "RAdam", "Adamax", "Adagrad", "Adadelta", "RMSprop",
            "Rprop", "ASGD", "LBFGS", "Adafactor", "Muon", "AdaBound", "SWATS", "Lion", "Prodigy",
            "ScheduleFreeAdamW", "ScheduleFreeSGD", "ScheduleFreeRAdam", "MADGRAD", "AdaBelief",
            "Adan", "Ranger", "Ranger21", "Lookahead"}  # fmt: skip
    assert must <= set(CATALOGUE)
    assert "SparseAdam" not in CATALOGUE and "torch.optim.SparseAdam" in EXCLUDED
    lower = [n.lower() for n in CATALOGUE]
    assert len(lower) == len(set(lower))
    for key in po.get_supported_optimizers():  # every supported one is listed or excluded
        cls = po.load_optimizer(key)
        listed = CATALOGUE.get(cls.__name__)
        assert (listed is not None and listed.cls is cls) or (
            f"pytorch_optimizer.{cls.__name__}" in EXCLUDED
        ), key
    for qualified in EXCLUDED:
        module, cls_name = qualified.rsplit(".", 1)
        assert hasattr(torch.optim if module == "torch.optim" else po, cls_name), qualified
    assert get_info("LBFGS").needs_closure and get_info("AliG").needs_closure
    assert get_info("Muon").matrix_only and "2-D" in get_info("Muon").description
    rules = [n for n, i in CATALOGUE.items() if i.update_rule]
    assert {"SGD", "Adam", "AdamW", "RMSprop", "Lion", "AdaBound", "Lookahead"} <= set(rules)
    for name in rules:
        rule = CATALOGUE[name].update_rule
        assert rule.count("{") == rule.count("}"), name
        assert rule.count(r"\begin") == rule.count(r"\end"), name


@pytest.mark.parametrize("name", [n for n, i in CATALOGUE.items() if not i.wraps_optimizer])
def test_group_keys_are_what_the_class_stores_per_group(name: str) -> None:
    info = CATALOGUE[name]
    point = torch.zeros(2, 2, requires_grad=True)
    if name in facts.SINGLE_GROUP:
        assert not info.group_keys
        groups = [{"params": [point]}, {"params": [torch.zeros(2, 2, requires_grad=True)]}]
        with pytest.raises(ValueError, match="single parameter group"):
            build_optimizer(spec(name), groups)
        return
    opt = build_optimizer(spec(name), [{"params": [point]}])
    stored = set(opt.param_groups[0])
    assert info.group_keys == (set(info.params) & stored) - {"foreach", "fused"}


# ------------------------------------------------------------------------------ element-wise

ELEMENTWISE_KWARGS: dict[str, dict[str, Any]] = {
    "SGD": {"lr": 1e-3, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    "Adam": {"lr": 0.02, "amsgrad": True, "weight_decay": 0.01},
    "RMSprop": {"lr": 0.01, "momentum": 0.5, "centered": True},
    "Adagrad": {"lr": 0.1, "lr_decay": 0.01},
    "ScheduleFreeSGD": {"lr": 1e-3},
}


@pytest.mark.parametrize("name", sorted(facts.ELEMENTWISE))
def test_elementwise_batch_equals_separate_runs(name: str) -> None:
    """B points in one (B, 2) tensor follow the same path, bit for bit, as B separate (2,)
    tensors with their own optimizers (what the surface engine batches on)."""
    assert CATALOGUE[name].elementwise
    start = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))

    def rosenbrock(xy: torch.Tensor) -> torch.Tensor:
        return ((1 - xy[..., 0]) ** 2 + 5 * (xy[..., 1] - xy[..., 0] ** 2) ** 2).sum()

    def run(points: list[torch.Tensor]) -> None:
        opts = [build_optimizer(spec(name, **ELEMENTWISE_KWARGS.get(name, {})), [{"params": [p]}])
                for p in points]  # fmt: skip
        for _ in range(30):
            for p, opt in zip(points, opts, strict=True):
                opt.zero_grad()
                rosenbrock(p).backward()
                opt.step()

    batch = start.clone().requires_grad_(True)
    rows = [row.clone().requires_grad_(True) for row in start]
    run([batch])
    run(rows)
    assert torch.equal(batch.detach(), torch.stack([r.detach() for r in rows]))
    assert not torch.equal(batch.detach(), start)


@pytest.mark.parametrize("name", ["Adafactor", "Prodigy", "Lamb", "Ranger", "SWATS"])
def test_non_elementwise_ones_are_flagged(name: str) -> None:
    assert not CATALOGUE[name].elementwise


def test_catalogue_is_cached_and_fast() -> None:
    import time

    optimizers.catalogue.cache_clear()
    optimizers._by_lower.cache_clear()
    started = time.perf_counter()
    fresh = catalogue()
    assert time.perf_counter() - started < 1.0
    assert catalogue() is fresh and list(fresh) == list(CATALOGUE)
