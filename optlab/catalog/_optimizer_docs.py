"""Curated text for the optimizer catalogue: one-line descriptions, LaTeX update rules and
hyperparameter ranges.

Kept apart from :mod:`optlab.catalog.optimizers` (which introspects the classes) because it
is prose: the long tail of ``pytorch_optimizer`` gets its description from the class docstring, the
classics get a hand-written line and the update rule as KaTeX-compatible LaTeX
(``st.latex`` renders it).  Notation: :math:`g_t` gradient, :math:`\\gamma` lr,
:math:`\\lambda` weight_decay, :math:`\\epsilon` eps, :math:`\\beta_1,\\beta_2` betas.
"""

from __future__ import annotations

from typing import Any

DESCRIPTIONS: dict[str, str] = {
    "SGD": "Stochastic gradient descent with optional momentum (heavy-ball or Nesterov), "
    "dampening and L2 weight decay.",
    "Adam": "Adaptive moments: bias-corrected running means of the gradient and of its square "
    "give every coordinate its own step size (AMSGrad and decoupled weight decay optional).",
    "AdamW": "Adam with decoupled weight decay: the weights shrink directly instead of an L2 "
    "term being added to the gradient.",
    "NAdam": "Adam with Nesterov momentum (Dozat's momentum-decay schedule).",
    "RAdam": "Rectified Adam: takes plain momentum steps until the variance of the adaptive "
    "step size is tractable, an automatic warm-up.",
    "Adamax": "Adam with the infinity norm: a decaying running max of |g| replaces the "
    "squared-gradient average.",
    "Adagrad": "Per-coordinate step sizes that shrink with the accumulated sum of squared "
    "gradients.",
    "Adadelta": "Adagrad with running averages of squared gradients and of squared updates, "
    "so the step has the units of the parameters (lr only scales it).",
    "RMSprop": "Divides the gradient by a running RMS of recent gradients (optional momentum "
    "and centering).",
    "Rprop": "Resilient propagation: uses only the gradient's sign; per-coordinate step sizes "
    "grow while the sign holds and shrink when it flips (meant for full-batch).",
    "ASGD": "Averaged SGD: SGD with a decaying step size; the Polyak-Ruppert average of the "
    "iterates is kept in the optimizer state (the parameters follow plain SGD).",
    "LBFGS": "Limited-memory BFGS quasi-Newton method; step() needs a closure that recomputes "
    "the loss and may call it several times per step.",
    "Adafactor": "Memory-light Adam relative: factored (row/column) second-moment estimates "
    "for matrices and a step size relative to the parameter scale.",
    "Muon": "Momentum orthogonalized by Newton-Schulz iterations: each weight matrix moves "
    "along (roughly) the orthogonal matrix nearest to its momentum. Only 2-D parameters "
    "(matrices): it rejects 1-D parameters such as biases or a point stored as a vector.",
    "AdaBound": "Adam whose per-coordinate step size is clipped into bounds that tighten "
    "towards final_lr, so it turns into SGD over time.",
    "SWATS": "Starts as Adam and switches to SGD once a projected SGD step size has settled.",
    "Lion": "Sign momentum (EvoLved Sign Momentum): steps by the sign of an interpolation of "
    "momentum and gradient, so every coordinate moves by exactly lr.",
    "Prodigy": "Learning-rate-free Adam: estimates the distance to the solution (D-Adaptation "
    "style) and scales the step by it; keep lr at 1.",
    "ScheduleFreeAdamW": "Schedule-free AdamW: interpolates between an SGD-like sequence and "
    "its running average, so no learning-rate schedule is needed (the parameters during "
    "training are the gradient evaluation point; optimizer.eval() swaps in the average).",
    "ScheduleFreeSGD": "Schedule-free SGD with momentum through iterate averaging (parameters "
    "during training are the gradient evaluation point; optimizer.eval() swaps in the "
    "average).",
    "ScheduleFreeRAdam": "Schedule-free RAdam: iterate averaging instead of a schedule, with "
    "RAdam's rectified warm-up (no update during the first steps by default).",
    "MADGRAD": "Momentumized, adaptive, dual-averaged gradient: dual averaging with a "
    "cube-root AdaGrad-style denominator.",
    "AdaBelief": "Adam that scales the step by the belief in the gradient: the running "
    "variance of g around its mean instead of the raw second moment.",
    "Adan": "Adaptive Nesterov momentum: Adam-like moments of the gradient and of its "
    "difference between steps.",
    "Ranger": "RAdam + Lookahead + gradient centralization in one optimizer.",
    "Ranger21": "Ranger plus AdamW-style decay, adaptive gradient clipping, positive-negative "
    "momentum, norm loss and a built-in warm-up/warm-down schedule driven by num_iterations "
    "(left out: the run's number of steps).",
    "Lookahead": "Wraps another optimizer: its fast weights take k steps, then the slow "
    "weights move a fraction alpha towards them and the fast weights restart there.",
    "Lamb": "Layer-wise adaptive moments: Adam steps rescaled per tensor by the trust ratio "
    "||w|| / ||update||.",
    "LARS": "Layer-wise adaptive rate scaling: SGD with momentum whose step is scaled per "
    "tensor by ||w|| / ||g||.",
    "Yogi": "Adam with an additive, sign-controlled second-moment update that cannot grow "
    "the effective step as quickly.",
}

UPDATE_RULES: dict[str, str] = {
    "SGD": r"""\begin{aligned}
g_t &= \nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1} \\
b_t &= \mu\, b_{t-1} + (1-\tau)\, g_t \qquad (b_1 = g_1) \\
d_t &= \begin{cases} g_t + \mu\, b_t & \text{nesterov} \\ b_t & \mu \ne 0 \\ g_t & \mu = 0
\end{cases} \\
\theta_t &= \theta_{t-1} - \gamma\, d_t
\end{aligned}""",
    "Adagrad": r"""\begin{aligned}
g_t &= \nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1} \\
\tilde\gamma_t &= \gamma / (1 + (t-1)\,\eta) \qquad (\eta = \text{lr\_decay}) \\
s_t &= s_{t-1} + g_t^2 \\
\theta_t &= \theta_{t-1} - \tilde\gamma_t\, g_t / (\sqrt{s_t} + \epsilon)
\end{aligned}""",
    "RMSprop": r"""\begin{aligned}
v_t &= \alpha\, v_{t-1} + (1-\alpha)\, g_t^2 \\
\tilde v_t &= v_t - \bar g_t^2, \quad \bar g_t = \alpha\,\bar g_{t-1} + (1-\alpha)\, g_t
\quad \text{(centered; else } \tilde v_t = v_t) \\
b_t &= \mu\, b_{t-1} + g_t / (\sqrt{\tilde v_t} + \epsilon) \\
\theta_t &= \theta_{t-1} - \gamma\, b_t
\end{aligned}""",
    "Adadelta": r"""\begin{aligned}
v_t &= \rho\, v_{t-1} + (1-\rho)\, g_t^2 \\
\Delta_t &= \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t \\
u_t &= \rho\, u_{t-1} + (1-\rho)\, \Delta_t^2 \\
\theta_t &= \theta_{t-1} - \gamma\, \Delta_t
\end{aligned}""",
    "Adam": r"""\begin{aligned}
g_t &= \nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1} \\
m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad
v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
\hat m_t &= m_t / (1-\beta_1^t), \qquad \hat v_t = v_t / (1-\beta_2^t) \\
\theta_t &= \theta_{t-1} - \gamma\, \hat m_t / (\sqrt{\hat v_t} + \epsilon) \\
&\text{AMSGrad: } v_t \leftarrow \max(v_{t-1}^{\max}, v_t) \text{ before bias correction}
\end{aligned}""",
    "AdamW": r"""\begin{aligned}
\theta_{t-1} &\leftarrow \theta_{t-1}\,(1 - \gamma\lambda) \\
m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad
v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
\theta_t &= \theta_{t-1} - \gamma\, \frac{m_t / (1-\beta_1^t)}
{\sqrt{v_t / (1-\beta_2^t)} + \epsilon}
\end{aligned}""",
    "NAdam": r"""\begin{aligned}
\mu_t &= \beta_1 \big(1 - \tfrac12\, 0.96^{t\psi}\big) \qquad (\psi = \text{momentum\_decay}) \\
m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad
v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
\hat m_t &= \frac{\mu_{t+1}\, m_t}{1 - \prod_{i=1}^{t+1}\mu_i}
 + \frac{(1-\mu_t)\, g_t}{1 - \prod_{i=1}^{t}\mu_i} \\
\theta_t &= \theta_{t-1} - \gamma\, \hat m_t / (\sqrt{v_t / (1-\beta_2^t)} + \epsilon)
\end{aligned}""",
    "RAdam": r"""\begin{aligned}
m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad
v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2, \qquad \hat m_t = m_t / (1-\beta_1^t) \\
\rho_\infty &= \tfrac{2}{1-\beta_2} - 1, \qquad
\rho_t = \rho_\infty - \tfrac{2t\beta_2^t}{1-\beta_2^t} \\
\theta_t &= \begin{cases}
\theta_{t-1} - \gamma\, \hat m_t\, r_t \dfrac{\sqrt{1-\beta_2^t}}{\sqrt{v_t} + \epsilon},\;
r_t = \sqrt{\dfrac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}
& \rho_t > 5 \\
\theta_{t-1} - \gamma\, \hat m_t & \text{otherwise}
\end{cases}
\end{aligned}""",
    "Adamax": r"""\begin{aligned}
m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
u_t &= \max(\beta_2\, u_{t-1},\ |g_t| + \epsilon) \\
\theta_t &= \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\, \frac{m_t}{u_t}
\end{aligned}""",
    "Rprop": r"""\begin{aligned}
\eta_t &= \begin{cases}
\min(\eta_{t-1}\,\eta_+,\ \Gamma_{\max}) & g_t\, g_{t-1} > 0 \\
\max(\eta_{t-1}\,\eta_-,\ \Gamma_{\min}) & g_t\, g_{t-1} < 0 \ (\text{then } g_t \leftarrow 0) \\
\eta_{t-1} & \text{otherwise}
\end{cases} \\
\theta_t &= \theta_{t-1} - \eta_t\, \operatorname{sign}(g_t)
\end{aligned}""",
    "ASGD": r"""\begin{aligned}
\eta_t &= \gamma / (1 + \lambda_d\, \gamma\, t)^{\alpha}, \qquad
\mu_t = 1 / \max(1,\ t - t_0) \\
\theta_t &= \theta_{t-1}\,(1 - \lambda_d\, \eta_t) - \eta_t\, g_t \\
\bar\theta_t &= \bar\theta_{t-1} + \mu_t\, (\theta_t - \bar\theta_{t-1})
\end{aligned}""",
    "Muon": r"""\begin{aligned}
B_t &= \mu\, B_{t-1} + G_t, \qquad \tilde B_t = G_t + \mu\, B_t \ \text{(nesterov)} \\
O_t &= \operatorname{NewtonSchulz}(\tilde B_t) \approx U V^\top
\quad (\tilde B_t = U \Sigma V^\top) \\
\theta_t &= \theta_{t-1}(1 - \gamma\lambda) - \gamma\, s\, O_t \qquad
(s \text{ from adjust\_lr\_fn})
\end{aligned}""",
    "Lion": r"""\begin{aligned}
c_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
\theta_t &= \theta_{t-1} - \gamma\, \big(\operatorname{sign}(c_t) + \lambda\, \theta_{t-1}\big) \\
m_t &= \beta_2 m_{t-1} + (1-\beta_2)\, g_t
\end{aligned}""",
    "AdaBound": r"""\begin{aligned}
m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad
v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
\eta_\ell(t) &= \alpha^\star\Big(1 - \frac{1}{\gamma_b t + 1}\Big), \qquad
\eta_u(t) = \alpha^\star\Big(1 + \frac{1}{\gamma_b t}\Big) \qquad
(\alpha^\star = \text{final\_lr}\cdot\gamma/\gamma_0,\ \gamma_b = \text{gamma}) \\
\eta_t &= \operatorname{clip}\!\Big(\frac{\gamma\sqrt{1-\beta_2^t}}{(1-\beta_1^t)(\sqrt{v_t}
+ \epsilon)},\ \eta_\ell(t),\ \eta_u(t)\Big) \\
\theta_t &= \theta_{t-1} - \eta_t\, m_t
\end{aligned}""",
    "AdaBelief": r"""\begin{aligned}
m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
s_t &= \beta_2 s_{t-1} + (1-\beta_2)\, (g_t - m_t)^2 + \epsilon \\
\theta_t &= \theta_{t-1} - \gamma\, \frac{m_t / (1-\beta_1^t)}{\sqrt{s_t / (1-\beta_2^t)}
+ \epsilon}
\end{aligned}""",
    "MADGRAD": r"""\begin{aligned}
\lambda_t &= \gamma \sqrt{t+1} \\
s_t &= s_{t-1} + \lambda_t\, g_t, \qquad \nu_t = \nu_{t-1} + \lambda_t\, g_t^2 \\
z_t &= \theta_0 - s_t / (\sqrt[3]{\nu_t} + \epsilon) \\
\theta_t &= (1 - c)\, \theta_{t-1} + c\, z_t \qquad (c = 1 - \text{momentum})
\end{aligned}""",
    "ScheduleFreeAdamW": r"""\begin{aligned}
y_t &= (1-\beta_1)\, z_t + \beta_1\, x_t \qquad (\text{gradient taken at } y_t) \\
v_t &= \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
z_{t+1} &= z_t - \gamma_t\, \big(g_t / (\sqrt{v_t / (1-\beta_2^t)} + \epsilon)
+ \lambda\, y_t\big) \\
x_{t+1} &= (1 - c_{t+1})\, x_t + c_{t+1}\, z_{t+1}, \qquad
c_{t+1} = \frac{\gamma_t^{p}}{\sum_{i \le t} \gamma_i^{p}} \quad (p = \text{weight\_lr\_power})
\end{aligned}""",
    "Lookahead": r"""\begin{aligned}
\theta_{t} &= \operatorname{InnerStep}(\theta_{t-1}) \qquad \text{(fast weights)} \\
&\text{every } k \text{ steps:}\quad \phi \leftarrow \phi + \alpha\,(\theta_t - \phi),
\qquad \theta_t \leftarrow \phi
\end{aligned}""",
}

# Field overrides for HyperParam, by parameter name, for every optimizer that has it.
# A default outside a range widens that range (see optimizers._fit_default).
_UNIT = {"minimum": 0.0, "maximum": 1.0}
_UNIT_OPEN = {"minimum": 0.0, "maximum": 1.0, "exclusive_maximum": True}
_NONNEG = {"minimum": 0.0}
_POS_LOG = {"minimum": 0.0, "exclusive_minimum": True, "log_scale": True}
_NONNEG_LOG = {"minimum": 0.0, "log_scale": True}

PARAM_HINTS: dict[str, dict[str, Any]] = {
    "lr": {"minimum": 0.0, "maximum": 10.0, "log_scale": True, "help": "learning rate"},
    "betas": {**_UNIT_OPEN, "help": "decay rates of the running averages"},
    "eps": {**_POS_LOG, "help": "term added to the denominator for numerical stability"},
    "eps1": _NONNEG_LOG,
    "eps2": _NONNEG_LOG,
    "eps_2": _NONNEG_LOG,
    "matrix_eps": _NONNEG_LOG,
    "diagonal_eps": _NONNEG_LOG,
    "momentum": {**_UNIT, "help": "momentum factor"},
    "dampening": {**_UNIT, "help": "dampening for momentum"},
    "weight_decay": {**_NONNEG, "help": "weight decay coefficient"},
    "rho": _UNIT,
    "lr_decay": _NONNEG,
    "initial_accumulator_value": _NONNEG,
    "momentum_decay": _NONNEG,
    "final_lr": {"minimum": 0.0, "log_scale": True},
    "d0": _POS_LOG,
    "d_coef": {"minimum": 0.0, "exclusive_minimum": True},
    "beta3": _UNIT_OPEN,
    "weight_lr_power": _NONNEG,
    "warmup_steps": {"minimum": 0},
    "n_sma_threshold": {"minimum": 0},
    "k": {"minimum": 1},
    "max_grad_norm": _NONNEG,
    "foreach": {
        "help": "use the multi-tensor (foreach) implementation; None lets the library decide"
    },
    "fused": {"help": "use the fused kernel (CUDA and some CPU builds); None lets PyTorch decide"},
    "maximize": {"help": "maximize the objective instead of minimizing it"},
}

# Overrides for one optimizer's parameter: (optimizer, parameter) -> HyperParam fields.
OPT_PARAM_HINTS: dict[tuple[str, str], dict[str, Any]] = {
    ("SGD", "nesterov"): {"help": "Nesterov momentum (needs momentum > 0 and dampening = 0)"},
    ("Adam", "amsgrad"): {"help": "AMSGrad: use the running maximum of the second moment"},
    ("Adam", "decoupled_weight_decay"): {"help": "decouple weight decay (AdamW behaviour)"},
    ("RMSprop", "alpha"): {**_UNIT, "help": "smoothing constant of the squared-gradient average"},
    ("RMSprop", "centered"): {"help": "normalize by an estimate of the gradient variance"},
    ("ASGD", "lambd"): {**_NONNEG, "help": "decay term"},
    ("ASGD", "alpha"): {**_NONNEG, "help": "power for the step-size decay"},
    ("ASGD", "t0"): {**_NONNEG, "help": "step at which averaging starts"},
    ("Rprop", "etas"): {
        "minimum": 0.0,
        "exclusive_minimum": True,
        "help": "(etaminus, etaplus): multiplicative decrease and increase, 0 < etaminus < 1 < "
        "etaplus",
    },
    ("Rprop", "step_sizes"): {"minimum": 0.0, "help": "(min, max) allowed step size"},
    ("LBFGS", "max_iter"): {"minimum": 1, "help": "maximal number of iterations per step"},
    ("LBFGS", "max_eval"): {
        "minimum": 1,
        "help": "maximal function evaluations per step (default max_iter * 1.25)",
    },
    ("LBFGS", "tolerance_grad"): _NONNEG_LOG,
    ("LBFGS", "tolerance_change"): _NONNEG_LOG,
    ("LBFGS", "history_size"): {"minimum": 1, "help": "update history size"},
    ("LBFGS", "line_search_fn"): {
        "kind": "choice",
        "choices": ("strong_wolfe",),
        "help": "line search: None or 'strong_wolfe'",
    },
    ("Adafactor", "beta2_decay"): {"maximum": 0.0, "help": "decay rate of beta2 (≤ 0)"},
    ("Adafactor", "d"): {**_NONNEG, "help": "clipping threshold of the update RMS"},
    ("Muon", "ns_steps"): {"minimum": 1, "maximum": 99, "help": "Newton-Schulz iterations"},
    ("Muon", "ns_coefficients"): {"help": "coefficients (a, b, c) of the Newton-Schulz polynomial"},
    ("Muon", "adjust_lr_fn"): {
        "kind": "choice",
        "choices": ("original", "match_rms_adamw"),
        "help": "how lr is scaled per matrix shape",
    },
    ("Lookahead", "k"): {"minimum": 1, "help": "inner steps between slow-weight updates"},
    ("Lookahead", "alpha"): {**_UNIT, "help": "slow-weight step towards the fast weights"},
    ("Lookahead", "pullback_momentum"): {
        "kind": "choice",
        "choices": ("none", "reset", "pullback"),
    },
    ("Ranger", "alpha"): {**_UNIT, "help": "Lookahead slow-weight step"},
    ("Ranger21", "num_iterations"): {
        "minimum": 1,
        "default": None,
        "help": "total number of optimizer steps; drives the built-in warm-up and warm-down "
        "(left out: the run's number of steps)",
    },
    ("ApolloDQN", "rebound"): {"kind": "choice", "choices": ("constant", "belief")},
    ("ApolloDQN", "weight_decay_type"): {
        "kind": "choice",
        "choices": ("l2", "decoupled", "stable"),
    },
}
