# syntax=docker/dockerfile:1
# The Python services image: the platform backend (gunicorn backend.wsgi on 0.0.0.0:8000, health
# at /api/health/; `python -m backend migrate` as the pod's init step), and with other commands a
# federated client's backend (gunicorn federated_backend.wsgi, same port and health path) and the
# loggers (python -m data_control_logger / model_control_logger). Each program picks its own
# Django settings module, so the image sets none. Built from the repository root:
#   docker build -f docker/services.Dockerfile -t kafka-ml/platform:0.1.0 .
# No TensorFlow (see docker/requirements-services.txt), no compiler, no secret: keys and the
# database URL come from mounted Secrets at run time.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- builder: the locked dependencies in a virtualenv, before any code (cached across code edits)
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# strip(1) for slim-venv.sh --strip, in this stage only (Debian 12's binutils; its version does not
# matter to what it removes).
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends binutils && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
COPY requirements-lock.txt docker/requirements-services.txt /tmp/requirements/
# The package index settings come as build secrets (pip.conf, its CA bundle): used by this step
# only, in no layer (docker/images.py passes this machine's; without them pip's defaults apply).
# No byte-code yet: slim-venv.sh compiles what stays, once.
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf --mount=type=secret,id=ca-certificates.crt \
    /opt/venv/bin/pip install --no-cache-dir --no-compile \
        -c /tmp/requirements/requirements-lock.txt -r /tmp/requirements/requirements-services.txt
COPY docker/slim-venv.sh /tmp/
RUN sh /tmp/slim-venv.sh --strip /opt/venv

# --- final: the virtualenv and the code only, as a numeric non-root user
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
RUN groupadd --system --gid 10001 kafkaml \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin kafkaml
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY kafkaml /app/kafkaml
COPY backend /app/backend
COPY federated_backend /app/federated_backend
COPY data_control_logger /app/data_control_logger
COPY model_control_logger /app/model_control_logger
COPY contracts/artifacts/FederatedLearning.json contracts/artifacts/RewardToken.json \
     contracts/artifacts/TrainingFactory.json contracts/artifacts/standard-input.json /app/contracts/artifacts/
# Byte-code compiled at build time: the root filesystem is read-only at run time.
RUN python -m compileall -q /app/kafkaml /app/backend /app/federated_backend /app/data_control_logger \
        /app/model_control_logger
USER 10001:10001
EXPOSE 8000
# Docker's own check (for either backend; the loggers serve nothing, run them with --no-healthcheck);
# Kubernetes uses the Deployments' probes on the same path. The Host header
# must be one of BACKEND_ALLOWED_HOSTS (its default includes localhost).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; r = u.Request('http://127.0.0.1:8000/api/health/', headers={'Host': 'localhost'}); sys.exit(0 if u.urlopen(r, timeout=4).status == 200 else 1)"]
CMD ["gunicorn", "backend.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--timeout", "120", "--worker-tmp-dir", "/tmp", "--access-logfile", "-"]
