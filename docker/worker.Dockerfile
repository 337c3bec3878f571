# syntax=docker/dockerfile:1
# The training worker image: the jobs the backends launch (`python -m training_worker.aggregator`,
# `training_worker.trainer`, `training_worker.audit_job`, `inference_worker`, `kafkaml.builder`). Built from the
# repository root:
#   docker build -f docker/worker.Dockerfile -t kafka-ml/worker:0.1.0 .
# GPU variant: the CUDA build of the same TensorFlow release (its pip wheels carry the CUDA
# libraries; the node needs the NVIDIA driver and device plugin):
#   docker build -f docker/worker.Dockerfile --build-arg TENSORFLOW='tensorflow[and-cuda]==2.21.0' \
#       -t kafka-ml/worker:0.1.0-gpu .
# Every job names its module (the CMD is only a default); no health check: jobs are not servers.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- builder: the locked dependencies in a virtualenv, before any code (cached across code edits)
FROM ${PYTHON_IMAGE} AS builder
ARG TENSORFLOW=tensorflow-cpu==2.21.0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# strip(1) for slim-venv.sh --strip, in this stage only (Debian 12's binutils; its version does not
# matter to what it removes). TensorFlow's libraries lose 320 MB of symbol tables.
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends binutils && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
COPY requirements-lock.txt docker/requirements-worker.txt /tmp/requirements/
# The package index settings come as build secrets (pip.conf, its CA bundle): used by this step
# only, in no layer (docker/images.py passes this machine's; without them pip's defaults apply).
# No byte-code yet: slim-venv.sh compiles what stays, once.
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf --mount=type=secret,id=ca-certificates.crt \
    /opt/venv/bin/pip install --no-cache-dir --no-compile \
        -c /tmp/requirements/requirements-lock.txt -r /tmp/requirements/requirements-worker.txt "${TENSORFLOW}"
COPY docker/slim-venv.sh /tmp/
RUN sh /tmp/slim-venv.sh --strip /opt/venv

# --- final: the virtualenv and the code only, as a numeric non-root user
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TF_CPP_MIN_LOG_LEVEL=2
RUN groupadd --system --gid 10001 kafkaml \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin kafkaml
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY kafkaml /app/kafkaml
COPY training_worker /app/training_worker
COPY inference_worker /app/inference_worker
COPY contracts/artifacts/FederatedLearning.json contracts/artifacts/RewardToken.json \
     contracts/artifacts/TrainingFactory.json contracts/artifacts/standard-input.json /app/contracts/artifacts/
# Byte-code compiled at build time: job pods run with a read-only root filesystem.
RUN python -m compileall -q /app/kafkaml /app/training_worker /app/inference_worker
USER 10001:10001
HEALTHCHECK NONE
CMD ["python", "-m", "training_worker.aggregator"]
