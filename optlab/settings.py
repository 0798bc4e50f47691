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
