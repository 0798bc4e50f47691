#!/usr/bin/env sh
# Create the virtual environment (if missing) and install pinned requirements into it.
# Used by `make run`/`make test`, by CI and by the Dockerfile, so all install the same way.
# Usage: scripts/setup.sh [--no-project] [requirements file]   (VENV=.venv PYTHON=python3)
#   --no-project  the requirements only, not the project itself: the Dockerfile installs
#                 them before it copies the source, so a source change keeps that layer.
set -eu
PROJECT=1
if [ "${1:-}" = "--no-project" ]; then
    PROJECT=0
    shift
fi
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
REQS="${1:-requirements.txt}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC2086  # PIP_EXTRA_ARGS holds several words on purpose
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check ${PIP_EXTRA_ARGS:-} -r "$REQS"
if [ "$PROJECT" = 1 ]; then
    # the project itself, editable, so `python -m optlab` works from any folder
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .
fi
