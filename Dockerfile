# optlab demo image. CPU torch by default; a CUDA build with
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 -t optlab:cuda .
# and run it with `docker run --gpus all -p 8501:8501 -v optlab-home:/data optlab:cuda`.
FROM python:3.11-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    OPTLAB_HOME=/data \
    OPTLAB_ADDRESS=0.0.0.0 \
    OPTLAB_PORT=8501 \
    VENV=/opt/venv

RUN useradd --create-home --uid 1000 optlab \
    && mkdir -p /data /opt/venv \
    && chown optlab:optlab /data /opt/venv
WORKDIR /app
COPY --chown=optlab:optlab . /app
USER 1000:1000

# The same install step as `make run` and CI: scripts/setup.sh (venv + pinned requirements).
RUN PIP_EXTRA_ARGS="--extra-index-url ${TORCH_INDEX}" scripts/setup.sh requirements.txt

VOLUME ["/data"]
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/opt/venv/bin/python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() == b'ok' else 1)"]

# The same start step as `make run` and CI: scripts/serve.sh (headless streamlit).
CMD ["scripts/serve.sh"]
