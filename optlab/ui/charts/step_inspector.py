"""The step inspector: a run's update rule with its recorded numbers substituted (issue 12 §2).

For a surface run with ``record_state``, every held step gets the rule of its optimizer
(SGD, momentum, Nesterov; Adam, AdamW, AMSGrad; RMSprop; Adagrad; Adadelta; otherwise the
state tensors and the update) as template lines such as
``m_t = β₁·m_{t−1} + (1−β₁)·g_t = {b1}·{m_prev} + {omb1}·{g} = {m}``, plus the values of
every ``{name}`` per held step.  The player (``instruments.js``) fills the lines in at the step
it shows, in the browser, so the inspector follows playback without a rerun;
:func:`render` does the same in Python.  Values are the recorded state and gradient
(``optimizer.state``), the hyperparameters the optimizer was built with (the library's
defaults where the spec leaves one out) and the bias corrections and predicted update
computed from them; the last line is the update the run really took, to compare.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import torch

from optlab.catalog import optimizers
from optlab.ui.charts.series import RunSeries

Values = dict[str, np.ndarray]
_NAME = re.compile(r"\{(\w+)\}")


def _prev(a: np.ndarray, steps: np.ndarray, initial: float = 0.0) -> np.ndarray:
    """``a`` one step earlier (the state before update t); ``initial`` before step 0."""
    out = np.full_like(a, np.nan)
    if len(a) > 1:
        follows = (np.diff(steps) == 1).reshape(-1, *([1] * (a.ndim - 1)))
        out[1:] = np.where(follows, a[:-1], np.nan)
    if len(a) and steps[0] == 0:
        out[0] = initial
    return out


def _defaults(opt_spec: Any) -> dict[str, Any]:
    """The hyperparameters the run's optimizer was built with (library defaults filled in)."""
    probe = [torch.zeros(2, dtype=torch.float64, requires_grad=True)]
    return dict(optimizers.build_optimizer(opt_spec, [{"params": probe}]).defaults)


def _sgd(
    d: dict[str, Any], v: Values, state: dict[str, np.ndarray], steps: np.ndarray
) -> list[str]:
    mu, damp = float(d.get("momentum") or 0.0), float(d.get("dampening") or 0.0)
    if not mu or "momentum_buffer" not in state:
        _predict(v, -v["lr"][:, None] * v["g"])
        return ["Δθ = −lr·g_t = −{lr}·{g} = {pred}"]
    b = state["momentum_buffer"]
    v.update(mu=_const(v, mu), omd=_const(v, 1 - damp), b=b, b_prev=_prev(b, steps))
    if damp:  # torch starts the buffer at b_0 = g_0, undampened: show step 0 that way
        first = steps == 0
        v.update(mu_t=np.where(first, 0.0, mu), omd_t=np.where(first, 1.0, 1 - damp))
        lines = [
            "b_t = μ·b_{t−1} + (1−dampening)·g_t (torch: b_0 = g_0) "
            "= {mu_t}·{b_prev} + {omd_t}·{g} = {b}"
        ]
    else:
        lines = ["b_t = μ·b_{t−1} + (1−dampening)·g_t = {mu}·{b_prev} + {omd}·{g} = {b}"]
    _expect(
        v,
        v.get("mu_t", v["mu"])[:, None] * v["b_prev"] + v.get("omd_t", v["omd"])[:, None] * v["g"],
        b,
    )
    if d.get("nesterov"):
        v["nest"] = v["g"] + mu * b
        lines.append("Nesterov: g_t + μ·b_t = {nest}")
        _predict(v, -v["lr"][:, None] * v["nest"])
        return [*lines, "Δθ = −lr·(g_t + μ·b_t) = −{lr}·{nest} = {pred}"]
    _predict(v, -v["lr"][:, None] * b)
    return [*lines, "Δθ = −lr·b_t = −{lr}·{b} = {pred}"]


def _adam(
    d: dict[str, Any], v: Values, state: dict[str, np.ndarray], steps: np.ndarray, decoupled: bool
) -> list[str]:
    if not {"exp_avg", "exp_avg_sq"} <= state.keys():
        return []
    b1, b2 = (float(x) for x in d.get("betas", (0.9, 0.999)))
    eps = float(d.get("eps", 1e-8))
    m, s = state["exp_avg"], state["exp_avg_sq"]
    k = (steps + 1).astype(np.float64)
    v.update(b1=_const(v, b1), omb1=_const(v, 1 - b1), b2=_const(v, b2), omb2=_const(v, 1 - b2))
    v.update(m=m, m_prev=_prev(m, steps), v=s, v_prev=_prev(s, steps), g2=v["g"] ** 2, k=k)
    v.update(bc1=1 - b1**k, bc2=1 - b2**k, eps=_const(v, eps))
    _expect(v, b1 * v["m_prev"] + (1 - b1) * v["g"], m)
    _expect(v, b2 * v["v_prev"] + (1 - b2) * v["g2"], s)
    lines = [
        "m_t = β₁·m_{t−1} + (1−β₁)·g_t = {b1}·{m_prev} + {omb1}·{g} = {m}",
        "v_t = β₂·v_{t−1} + (1−β₂)·g_t² = {b2}·{v_prev} + {omb2}·{g2} = {v}",
    ]
    second = s
    if d.get("amsgrad") and "max_exp_avg_sq" in state:
        second = v["vmax"] = state["max_exp_avg_sq"]
        lines.append("v_max = max(v_max(t−1), v_t) = {vmax}")
    v["mhat"] = m / v["bc1"][:, None]
    v["vhat"] = second / v["bc2"][:, None]
    v["second"] = second
    lines += [
        "bias corrections (step k = {k}): 1−β₁^k = {bc1}, 1−β₂^k = {bc2}",
        "m̂_t = m_t / (1−β₁^k) = {mhat}",
        ("v̂_t = v_max / (1−β₂^k) = {vhat}" if second is not s else "v̂_t = v_t / (1−β₂^k) = {vhat}"),
    ]
    step = -v["lr"][:, None] * v["mhat"] / (np.sqrt(v["vhat"]) + eps)
    wd = float(d.get("weight_decay") or 0.0)
    if decoupled and wd:
        v["wd"] = _const(v, wd)
        _predict(v, step - v["lr"][:, None] * wd * v["theta"])
        return [
            *lines,
            "decoupled decay (AdamW): θ ← θ − lr·λ·θ, λ = {wd}",
            "Δθ = −lr·m̂_t / (√v̂_t + ε) − lr·λ·θ_t "
            "= −{lr}·{mhat} / (√{vhat} + {eps}) − {lr}·{wd}·{theta} = {pred}",
        ]
    _predict(v, step)
    return [*lines, "Δθ = −lr·m̂_t / (√v̂_t + ε) = −{lr}·{mhat} / (√{vhat} + {eps}) = {pred}"]


def _rmsprop(
    d: dict[str, Any], v: Values, state: dict[str, np.ndarray], steps: np.ndarray
) -> list[str]:
    if "square_avg" not in state:
        return []
    alpha, eps = float(d.get("alpha", 0.99)), float(d.get("eps", 1e-8))
    sq = state["square_avg"]
    v.update(alpha=_const(v, alpha), oma=_const(v, 1 - alpha), eps=_const(v, eps))
    v.update(s=sq, s_prev=_prev(sq, steps), g2=v["g"] ** 2)
    lines = ["v_t = α·v_{t−1} + (1−α)·g_t² = {alpha}·{s_prev} + {oma}·{g2} = {s}"]
    _expect(v, alpha * v["s_prev"] + (1 - alpha) * v["g2"], sq)
    var = sq
    if d.get("centered") and "grad_avg" in state:
        v.update(ga=state["grad_avg"], ga_prev=_prev(state["grad_avg"], steps))
        lines.append("ḡ_t = α·ḡ_{t−1} + (1−α)·g_t = {ga}")
        var = sq - state["grad_avg"] ** 2
        v["var"] = var
        lines.append("centered: v_t − ḡ_t² = {var}")
    v["denom"] = np.sqrt(var) + eps
    mu = float(d.get("momentum") or 0.0)
    if mu and "momentum_buffer" in state:
        b = state["momentum_buffer"]
        v.update(mu=_const(v, mu), b=b, b_prev=_prev(b, steps))
        lines.append("b_t = μ·b_{t−1} + g_t/(√v_t + ε) = {mu}·{b_prev} + {g}/{denom} = {b}")
        _expect(v, mu * v["b_prev"] + v["g"] / v["denom"], b)
        _predict(v, -v["lr"][:, None] * b)
        return [*lines, "Δθ = −lr·b_t = −{lr}·{b} = {pred}"]
    _predict(v, -v["lr"][:, None] * v["g"] / v["denom"])
    return [*lines, "Δθ = −lr·g_t / (√v_t + ε) = −{lr}·{g} / {denom} = {pred}"]


def _adagrad(
    d: dict[str, Any], v: Values, state: dict[str, np.ndarray], steps: np.ndarray
) -> list[str]:
    if "sum" not in state:
        return []
    eps, decay = float(d.get("eps", 1e-10)), float(d.get("lr_decay") or 0.0)
    init = float(d.get("initial_accumulator_value") or 0.0)
    acc = state["sum"]
    v.update(s=acc, s_prev=_prev(acc, steps, init), g2=v["g"] ** 2, eps=_const(v, eps))
    v["clr"] = v["lr"] / (1 + steps.astype(np.float64) * decay)
    _expect(v, v["s_prev"] + v["g2"], acc)
    _predict(v, -v["clr"][:, None] * v["g"] / (np.sqrt(acc) + eps))
    return [
        "s_t = s_{t−1} + g_t² = {s_prev} + {g2} = {s}",
        "lr_t = lr / (1 + t·lr_decay) = {clr}",
        "Δθ = −lr_t·g_t / (√s_t + ε) = −{clr}·{g} / (√{s} + {eps}) = {pred}",
    ]


def _adadelta(
    d: dict[str, Any], v: Values, state: dict[str, np.ndarray], steps: np.ndarray
) -> list[str]:
    if not {"square_avg", "acc_delta"} <= state.keys():
        return []
    rho, eps = float(d.get("rho", 0.9)), float(d.get("eps", 1e-6))
    sq, acc = state["square_avg"], state["acc_delta"]
    acc_prev = _prev(acc, steps)
    delta = np.sqrt(acc_prev + eps) / np.sqrt(sq + eps) * v["g"]
    v.update(rho=_const(v, rho), omr=_const(v, 1 - rho), s=sq, s_prev=_prev(sq, steps))
    v.update(u=acc, u_prev=acc_prev, delta=delta, g2=v["g"] ** 2)
    _expect(v, rho * v["s_prev"] + (1 - rho) * v["g2"], sq)
    _expect(v, rho * acc_prev + (1 - rho) * delta**2, acc)
    _predict(v, -v["lr"][:, None] * delta)
    return [
        "v_t = ρ·v_{t−1} + (1−ρ)·g_t² = {rho}·{s_prev} + {omr}·{g2} = {s}",
        "δ_t = √(u_{t−1} + ε) / √(v_t + ε) · g_t = {delta}",
        "u_t = ρ·u_{t−1} + (1−ρ)·δ_t² = {rho}·{u_prev} + {omr}·δ_t² = {u}",
        "Δθ = −lr·δ_t = −{lr}·{delta} = {pred}",
    ]


def _const(v: Values, value: float) -> np.ndarray:
    return np.full(len(v["lr"]), value)


def _predict(v: Values, step: np.ndarray) -> None:
    """The update the rule gives with the recorded numbers (``{pred}``)."""
    v["pred"] = step


MISMATCH = "(the rule with constant hyperparameters does not give this run's updates: its state)"


def _close(computed: np.ndarray, recorded: np.ndarray) -> bool:
    ok = np.isfinite(computed).all(axis=1) & np.isfinite(recorded).all(axis=1)
    if not ok.any():
        return True
    scale = float(np.abs(recorded[ok]).max())
    return bool(np.allclose(computed[ok], recorded[ok], rtol=1e-6, atol=1e-9 * scale + 1e-300))


def _expect(v: Values, computed: np.ndarray, recorded: np.ndarray) -> None:
    """Note a state line whose substituted numbers do not give the recorded state."""
    if not _close(computed, recorded):
        v["_mismatch"] = np.ones(1)


def _agrees(v: Values) -> bool:
    """Whether every state line and the predicted update match what the run recorded."""
    return "_mismatch" not in v and _close(v["pred"], v["update"])


def _generic(v: Values, state: dict[str, np.ndarray]) -> list[str]:
    lines = []
    for name, value in state.items():
        key = "st_" + re.sub(r"\W", "_", name)
        v[key] = value
        lines.append(f"{name} = {{{key}}}")
    return lines


_RULES = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop"}


def inspector_data(run: RunSeries, opt_spec: Any) -> dict[str, Any] | None:
    """``{"title", "lines", "values": {name: (n,) or (n, 2)}}`` over the run's held steps;
    None unless the run recorded its state (``record_state`` on a surface)."""
    inst = run.instruments
    if "grad" not in inst or "update" not in inst or run.params is None:
        return None
    n = min(run.n, len(inst["grad"]), run.params.shape[0])
    steps = run.step[:n]
    state = {k: np.asarray(a)[:n] for k, a in (inst.get("state") or {}).items()}
    lr = run.lr[:n, 0] if run.lr.ndim == 2 and run.lr.shape[1] else np.full(n, np.nan)
    grad = np.asarray(inst["grad"])[:n]
    v: Values = {"lr": lr.astype(np.float64), "g": grad, "graw": grad}
    v["theta"] = run.params[:n]
    v["update"] = np.asarray(inst["update"])[:n]
    leaf = optimizers.innermost(opt_spec)
    name = leaf.name.lower()
    d = _defaults(leaf)
    wd = float(d.get("weight_decay") or 0.0)
    decoupled = name == "adamw" or (name == "adam" and bool(d.get("decoupled_weight_decay")))
    head = ["g_t = ∇f(θ_t) = {graw}  at θ_t = {theta}"]
    if d.get("maximize"):  # torch negates the gradient before anything else
        v["g"] = -grad
        head.append("maximize: g_t ← −∇f(θ_t) = {g}")
    coupled = ("sgd", "adam", "rmsprop", "adagrad", "adadelta")
    if wd and name in coupled and not decoupled and opt_spec is leaf:
        v["wd"] = _const(v, wd)
        v["g"] = v["g"] + wd * v["theta"]
        head.append("coupled L2: g_t ← g_t + λ·θ_t = {g}  (λ = {wd})")
    if opt_spec is not leaf:  # Lookahead & co.: the inner rule alone does not make the step
        lines = _generic(v, state)
    elif name == "sgd":
        lines = _sgd(d, v, state, steps)
    elif name in ("adam", "adamw"):
        lines = _adam(d, v, state, steps, decoupled=decoupled)
    elif name == "rmsprop":
        lines = _rmsprop(d, v, state, steps)
    elif name == "adagrad":
        lines = _adagrad(d, v, state, steps)
    elif name == "adadelta":
        lines = _adadelta(d, v, state, steps)
    else:
        lines = []
    if "pred" in v and not _agrees(v):
        # e.g. a schedule that cycles β or a group with its own momentum: the rule with
        # constant hyperparameters would show wrong math, so show the state instead
        del v["pred"]
        lines = [MISMATCH, *_generic(v, state)]
    v.pop("_mismatch", None)
    if not lines:
        lines = _generic(v, state)
    tail = ["taken: θ_{t+1} − θ_t = {update}"]
    title = f"{opt_spec.name} — update t = {{t}}"
    v["t"] = steps.astype(np.float64)
    return {"title": title, "lines": [*head, *lines, *tail], "values": v}


def fmt(value: float) -> str:
    """4 significant digits as ``instruments.js`` writes them: like ``f"{v:.4g}"``, but a tie
    rounds away from zero, as JavaScript's ``toPrecision`` does (24025 → 2.403e+04)."""
    if not np.isfinite(value):
        return "—"
    if value == 0:
        return "0"
    exact = Decimal(float(value))
    digits = _four_digits(exact)
    if digits.adjusted() != exact.adjusted():  # rounding carried into a new digit (9999.5 →
        digits = _four_digits(digits)  # 1.000e+04): round again at the new exponent
    return f"{float(digits):.4g}".replace("-", "−")


def _four_digits(exact: Decimal) -> Decimal:
    """``exact`` rounded to 4 significant digits, a tie away from zero."""
    return exact.quantize(Decimal(1).scaleb(exact.adjusted() - 3), rounding=ROUND_HALF_UP)


def render(data: dict[str, Any], k: int) -> list[str]:
    """The title and lines with the values at index ``k`` (what the browser shows)."""

    def sub(match: re.Match[str]) -> str:
        if match.group(1) not in data["values"]:
            return match.group(0)
        arr = np.asarray(data["values"][match.group(1)])[k]
        if np.ndim(arr) == 0:
            return fmt(float(arr))
        return "(" + ", ".join(fmt(float(x)) for x in arr) + ")"

    return [_NAME.sub(sub, line) for line in [data["title"], *data["lines"]]]
