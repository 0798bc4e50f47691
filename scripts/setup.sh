#!/usr/bin/env sh
# Create the virtual environment (if missing) and install pinned requirements into it.
# Used by `make run`/`make test`, by CI and by the Dockerfile, so all install the same way.
# Usage: scripts/setup.sh [requirements file]   (VENV=.venv PYTHON=python3 by default)
set -eu
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
REQS="${1:-requirements.txt}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check ${PIP_EXTRA_ARGS:-} -r "$REQS"
# the project itself, editable, so `python -m optlab` works from any folder
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .
