# syntax=docker/dockerfile:1
# Witryna's serving image, for the CPU or for NVIDIA GPUs from this one file:
#   docker build -t witryna:0.1.0-cpu .
#   docker build --build-arg VARIANT=gpu -t witryna:0.1.0-gpu .
# Only service/ goes in: no torch, no training code, no compilers. Whatever models/ holds
# in the build context is baked in; mount a volume over /srv/witryna/models to serve
# models published after the build.

# cpu or gpu: picks the base image and the ONNX Runtime package.
ARG VARIANT=cpu

FROM python:3.11-slim-bookworm AS runtime-cpu

# onnxruntime-gpu 1.31 is built against CUDA 13 and cuDNN 9: move this tag and
# ORT_GPU_VERSION together. CUDA 13 needs a host driver of 580 or newer.
FROM nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04 AS runtime-gpu
# The CUDA tag already fixes the Ubuntu release; exact Debian versions would only break
# the build at the next security update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/*

FROM runtime-cpu AS build-cpu

FROM runtime-gpu AS build-gpu
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends python3-venv \
    && rm -rf /var/lib/apt/lists/*

# The virtual environment is built on the runtime's own interpreter so it can be copied.
# build-${VARIANT} is a stage above, not an image from a registry, so it has no tag.
# hadolint ignore=DL3006
FROM build-${VARIANT} AS build
ARG VARIANT
ARG ORT_GPU_VERSION=1.31.1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service/ service/
# The project depends on the CPU onnxruntime; the GPU image swaps it for onnxruntime-gpu
# (both own the `onnxruntime` package, so they cannot sit side by side).
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir . \
    && if [ "${VARIANT}" = gpu ]; then \
        /opt/venv/bin/pip uninstall --yes onnxruntime \
        && /opt/venv/bin/pip install --no-cache-dir "onnxruntime-gpu==${ORT_GPU_VERSION}"; \
    fi

# hadolint ignore=DL3006
FROM runtime-${VARIANT} AS runtime
ARG VARIANT
LABEL org.opencontainers.image.title="witryna" \
      org.opencontainers.image.description="Real-time website personalisation (${VARIANT})" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric id, so that Kubernetes' runAsNonRoot can check it.
# WITRYNA_DATA_DIR, the service's own state, is the user's: mount a volume over it to keep it.
RUN groupadd --system --gid 10001 witryna \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin witryna \
    && install --directory --owner 10001 --group 10001 --mode 0750 /var/lib/witryna
COPY --from=build /opt/venv /opt/venv
COPY models/ /srv/witryna/models/
WORKDIR /srv/witryna
# No private redis-server here: WITRYNA_REDIS_URL must name one (the Helm chart sets it).
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WITRYNA_HOST=0.0.0.0 \
    WITRYNA_PORT=8000 \
    WITRYNA_MODELS_DIR=/srv/witryna/models \
    WITRYNA_DATA_DIR=/var/lib/witryna \
    WITRYNA_DEMO=0 \
    WITRYNA_OPENAPI=0
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['WITRYNA_PORT'] + '/healthz', timeout=2)"]
ENTRYPOINT ["witryna"]
CMD ["serve"]
