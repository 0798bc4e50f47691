"""Server settings read from the environment: one place for every limit and knob.

Each is read when asked (not at import), so a test or a server can change the
environment and the next validation sees it.  A value that is not an integer
falls back to the default rather than taking a server down.
"""

from __future__ import annotations

import os


def env_int(name: str, default: int) -> int:
    """An integer setting from the environment (``OPTLAB_MAX_STEPS`` …), else ``default``."""
    raw = os.environ.get(name)
    try:
        return int(raw) if raw else default
    except ValueError:
        return default


def env_float(name: str, default: float) -> float:
    """A float setting from the environment, else ``default``."""
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


def max_lr_finds_per_client() -> int:
    """Dashboard LR range tests (child processes) running at once per browser session
    (``OPTLAB_MAX_LR_FINDS_PER_CLIENT``)."""
    return env_int("OPTLAB_MAX_LR_FINDS_PER_CLIENT", 1)


def max_lr_finds() -> int:
    """Dashboard LR range tests running at once on the server (``OPTLAB_MAX_LR_FINDS``)."""
    return env_int("OPTLAB_MAX_LR_FINDS", 4)


def max_steps() -> int:
    """Steps per surface experiment (``OPTLAB_MAX_STEPS``)."""
    return env_int("OPTLAB_MAX_STEPS", 100_000)


def max_epochs() -> int:
    """Epochs per model experiment (``OPTLAB_MAX_EPOCHS``)."""
    return env_int("OPTLAB_MAX_EPOCHS", 50)


def max_runs() -> int:
    """Runs per experiment (``OPTLAB_MAX_RUNS``)."""
    return env_int("OPTLAB_MAX_RUNS", 12)


MAX_BATCH_SIZE = 4096


def max_trials() -> int:
    """Trials per sweep on a 2-D surface (``OPTLAB_MAX_TRIALS``)."""
    return env_int("OPTLAB_MAX_TRIALS", 20_000)


def max_model_trials() -> int:
    """Trials per sweep on a model problem (``OPTLAB_MAX_MODEL_TRIALS``)."""
    return env_int("OPTLAB_MAX_MODEL_TRIALS", 64)


# ---- the size of what a spec may ask for (checked on the raw input, before anything is built)


def max_spec_bytes() -> int:
    """Bytes of one spec's JSON, from a file, an upload or a link (``OPTLAB_MAX_SPEC_BYTES``).

    The dashboard's upload limit (``.streamlit/config.toml`` ``server.maxUploadSize``, 1 MB)
    matches the default.
    """
    return env_int("OPTLAB_MAX_SPEC_BYTES", 1 << 20)


def max_spec_depth() -> int:
    """Nesting depth of a spec's JSON: objects and lists inside each other
    (``OPTLAB_MAX_SPEC_DEPTH``; at most 200, far below Python's recursion limit)."""
    return max(1, min(200, env_int("OPTLAB_MAX_SPEC_DEPTH", 32)))


def max_spec_items() -> int:
    """Elements of one JSON list, or keys of one object, in a spec (``OPTLAB_MAX_SPEC_ITEMS``)."""
    return env_int("OPTLAB_MAX_SPEC_ITEMS", 1000)


def max_text_chars() -> int:
    """Characters of one string in a spec (``OPTLAB_MAX_TEXT_CHARS``)."""
    return env_int("OPTLAB_MAX_TEXT_CHARS", 10_000)


#: digits of a JSON integer (a 64-bit integer has at most 19)
MAX_INT_DIGITS = 19


def max_schedulers() -> int:
    """Schedulers in one run's schedule, composites and their children counted
    (``OPTLAB_MAX_SCHEDULERS``)."""
    return env_int("OPTLAB_MAX_SCHEDULERS", 16)


# ---- work per step and memory: hyperparameters that size an inner loop or a buffer


def max_inner_iterations() -> int:
    """Loss evaluations in one step (LBFGS ``max_iter``/``max_eval``)
    (``OPTLAB_MAX_INNER_ITERATIONS``)."""
    return env_int("OPTLAB_MAX_INNER_ITERATIONS", 1000)


def max_matrix_iterations() -> int:
    """Iterations of a matrix routine in one step (Newton-Schulz, power iteration…)
    (``OPTLAB_MAX_MATRIX_ITERATIONS``)."""
    return env_int("OPTLAB_MAX_MATRIX_ITERATIONS", 100)


def max_history() -> int:
    """Past gradients or vectors an optimizer keeps (LBFGS ``history_size``, AdaShift
    ``keep_num``…), each as large as the model (``OPTLAB_MAX_HISTORY``)."""
    return env_int("OPTLAB_MAX_HISTORY", 256)


def spec_limits() -> tuple[int, ...]:
    """Every limit a spec's validation depends on (a cache of answers keys on it)."""
    return (
        max_steps(),
        max_epochs(),
        max_runs(),
        max_spec_bytes(),
        max_spec_depth(),
        max_spec_items(),
        max_text_chars(),
        max_schedulers(),
        max_inner_iterations(),
        max_matrix_iterations(),
        max_history(),
    )


# ---- jobs


def cancel_grace_seconds() -> float:
    """How long a worker has to stop after a cancel before it is killed and replaced
    (``OPTLAB_CANCEL_GRACE_SECONDS``)."""
    return max(0.05, env_float("OPTLAB_CANCEL_GRACE_SECONDS", 2.0))


#: the executors ``OPTLAB_EXECUTOR`` may name
EXECUTORS = ("local", "ray")


def executor() -> str:
    """Where jobs run (``OPTLAB_EXECUTOR``): ``local`` worker processes (the default) or
    ``ray`` (a local Ray, or the cluster at ``RAY_ADDRESS``).  Anything else is refused
    with one line naming the setting, since silently running locally would hide a typo."""
    raw = os.environ.get("OPTLAB_EXECUTOR", "").strip().lower() or "local"
    if raw not in EXECUTORS:
        allowed = ", ".join(EXECUTORS)
        raise ValueError(
            f"OPTLAB_EXECUTOR={os.environ['OPTLAB_EXECUTOR']!r} is not an executor; "
            f"allowed: {allowed}"
        )
    return raw


def ray_address() -> str | None:
    """The Ray cluster to join (``RAY_ADDRESS``, e.g. ``10.0.0.5:6379``); None: start a
    local Ray on this machine."""
    return os.environ.get("RAY_ADDRESS", "").strip() or None


def ray_object_store_mb() -> int:
    """The object store of a local Ray, in MB (``OPTLAB_RAY_OBJECT_STORE_MB``, default 128).

    Records travel as small inline task returns, not through the object store, so a
    small store is enough; Ray's own default (30 % of RAM in /dev/shm) would take
    about 7 GB of a shared 24 GB server for nothing.  Ray's minimum is 75 MB."""
    return max(80, env_int("OPTLAB_RAY_OBJECT_STORE_MB", 128))
