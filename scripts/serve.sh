#!/usr/bin/env sh
# Start the dashboard. Used by `make run`, CI and the Docker image alike.
# OPTLAB_ADDRESS (default 127.0.0.1; 0.0.0.0 to serve a lecture hall) and OPTLAB_PORT (8501).
set -eu
VENV="${VENV:-.venv}"
if [ -x "$VENV/bin/streamlit" ]; then STREAMLIT="$VENV/bin/streamlit"; else STREAMLIT=streamlit; fi
exec "$STREAMLIT" run app.py \
    --server.address="${OPTLAB_ADDRESS:-127.0.0.1}" \
    --server.port="${OPTLAB_PORT:-8501}" \
    --server.headless=true \
    --browser.gatherUsageStats=false \
    --server.fileWatcherType=none
