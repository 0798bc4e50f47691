# optlab demo image. CPU torch by default; a CUDA build with
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 -t optlab:cuda .
# and run it with `docker run --gpus all -p 8501:8501 -v optlab-home:/data optlab:cuda`.
# The port is OPTLAB_PORT (8501); the health check follows it (-e OPTLAB_PORT=8530).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    OPTLAB_HOME=/data \
    OPTLAB_ADDRESS=0.0.0.0 \
    OPTLAB_PORT=8501 \
    VENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# The build and the server run as uid 1000. It owns /app (the editable install writes
# optlab.egg-info there), the venv and /data (OPTLAB_HOME: the run store, checkpoints).
RUN useradd --create-home --uid 1000 optlab \
    && mkdir -p /app /data /opt/venv \
    && chown optlab:optlab /app /data /opt/venv
WORKDIR /app
USER 1000:1000

# The image's metadata before the heavy layers: every instruction after them is another
# layer commit on each rebuild (on vfs storage a full copy of the image), and none of
# these depend on the source.
VOLUME ["/data"]
EXPOSE 8501
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "/app/scripts/healthcheck.py"]
# The same start step as `make run` and CI: scripts/serve.sh (headless streamlit).
CMD ["scripts/serve.sh"]

# Requirements first (torch included), so changing the source does not reinstall them.
# The same install script as `make run` and CI: scripts/setup.sh.
# (The index argument comes here, not earlier, so the layers above do not depend on it.)
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
COPY --chown=optlab:optlab requirements.txt /app/
COPY --chown=optlab:optlab scripts/setup.sh /app/scripts/
RUN PIP_EXTRA_ARGS="--extra-index-url ${TORCH_INDEX}" scripts/setup.sh --no-project requirements.txt

# The source (see .dockerignore), then the project itself, editable (the requirements are
# already satisfied, so this step only installs optlab).
COPY --chown=optlab:optlab . /app/
RUN PIP_EXTRA_ARGS="--extra-index-url ${TORCH_INDEX}" scripts/setup.sh requirements.txt
