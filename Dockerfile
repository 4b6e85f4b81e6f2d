# syntax=docker/dockerfile:1
# One image for every PAGI service; compose.yaml picks the service with `python -m <module>`.
# Stages: the web UI (Node), the Python install (with build tools), and a slim, non-root runtime.

FROM node:22-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
# The UI is built here once; the Python stage packages web/dist into the wheel (setup.py).
RUN npm run build

FROM python:3.11-slim-bookworm AS python
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PAGI_SKIP_UI_BUILD=1
WORKDIR /src
RUN python -m venv /opt/pagi
# Dependencies first, so a source change does not reinstall them.
COPY pyproject.toml setup.py README.md ./
RUN mkdir -p bus_schemas && touch bus_schemas/__init__.py \
    && /opt/pagi/bin/pip install . \
    && /opt/pagi/bin/pip uninstall -y pagi
COPY bus_schemas bus_schemas
COPY pagi pagi
COPY edge edge
COPY planner planner
COPY memory_worker memory_worker
COPY tool_worker tool_worker
COPY build_worker build_worker
COPY telemetry_agent telemetry_agent
COPY bench bench
COPY knowledge_bases knowledge_bases
COPY --from=web /web/dist web/dist
RUN /opt/pagi/bin/pip install --no-deps . && rm -rf /src

FROM python:3.11-slim-bookworm
# docker build --build-arg PAGI_VERSION=$(python -c ...) --build-arg BUILD_TIME=$(date -u +%FT%TZ) .
# (docs/release.md): the same version `pagi --version` and GET /health report.
ARG PAGI_VERSION=0.1.0
ARG BUILD_TIME=unknown
LABEL org.opencontainers.image.title="PAGI" \
      org.opencontainers.image.description="Self-hosted AI digital twins on NATS JetStream (every service)" \
      org.opencontainers.image.version="${PAGI_VERSION}" \
      org.opencontainers.image.created="${BUILD_TIME}"
# bubblewrap: the tool and build workers' sandbox (see compose.yaml for what it needs from Docker).
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap tini \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 pagi \
    && useradd --system --uid 10001 --gid pagi --create-home --home-dir /home/pagi pagi \
    && mkdir -p /data && chown pagi:pagi /data
COPY --from=python /opt/pagi /opt/pagi
ENV PATH=/opt/pagi/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PAGI_DATA_DIR=/data \
    HF_HUB_OFFLINE=1
USER pagi
WORKDIR /home/pagi
VOLUME ["/data"]
EXPOSE 8181
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "-m", "edge"]
