# syntax=docker/dockerfile:1
# One image for the whole suite; HERALD_SERVICE (or the command) picks what a container runs:
#   docker build -t herald:0.1.0 .
#   docker run -e HERALD_SERVICE=ingest herald:0.1.0             # identity, ingest, campaign, delivery, gateway
#   docker run herald:0.1.0 herald migrate                       # or any `herald` command
# Checked by tests/deploy/test_image.py (hadolint and the rules of docs/kubernetes.md), which also
# builds the same wheel from the same files and installs it. Pin PYTHON_IMAGE by digest to make
# rebuilds byte-for-byte: --build-arg PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:<digest>
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---- builder: herald's wheel and a wheel of every dependency ---------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY libs ./libs
COPY services ./services
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# ---- runtime: the wheels installed, nothing to build with, a numeric non-root user -----------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HERALD_SERVICE=identity \
    HERALD_BIND_HOST=0.0.0.0 \
    HERALD_DATA_DIR=/var/lib/herald
# Installed from the builder's wheels through a bind mount, so no wheel stays in a layer; pip,
# setuptools and wheel leave with it: the image runs herald, it installs nothing.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index /wheels/*.whl \
 && pip uninstall --no-cache-dir -y pip setuptools wheel \
 && groupadd --gid 10001 herald \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin herald \
 && mkdir -p /var/lib/herald \
 && chown 10001:10001 /var/lib/herald
WORKDIR /var/lib/herald
USER 10001:10001
# gRPC: identity 7101, ingest 7102, campaign 7103, delivery 7104; gateway HTTP 8080; metrics 9101-9105
EXPOSE 7101 7102 7103 7104 8080 9101 9102 9103 9104 9105
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-m", "herald_common.healthcheck"]
CMD ["sh", "-c", "exec python -m \"herald_services.${HERALD_SERVICE}.main\""]
