# Vigil's one image: every service is `vigil serve <name>` (ingest, incidents, escalator, slo).
# Build: docker build -t vigil:dev .      Run: docker run --rm vigil:dev serve ingest
# Checked by tests/deploy/test_image.py (hadolint and the rules below); Docker does not run in CI.
ARG PYTHON_VERSION=3.11

# --- build: a virtualenv with Vigil and its dependencies (wheels only, no compiler needed) ---
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ONLY_BINARY=:all:
WORKDIR /src
RUN python -m venv /opt/vigil
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
RUN /opt/vigil/bin/pip install --no-compile . \
 && /opt/vigil/bin/python -m compileall -q /opt/vigil/lib

# --- runtime: the virtualenv and two helper scripts, run as an unprivileged user ---
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="vigil" \
      org.opencontainers.image.description="Vigil: alerts in, incidents, escalations, pages and SLOs out" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 vigil \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin vigil
COPY --from=build /opt/vigil /opt/vigil
COPY deploy/docker/healthcheck.py deploy/docker/migrate.py /opt/vigil/libexec/
# Containers listen on every interface; the code's default (127.0.0.1) is for laptops.
ENV PATH=/opt/vigil/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIGIL_HOST=0.0.0.0 \
    VIGIL_LOG_FORMAT=json
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080 8081 8082 8083 8084
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "/opt/vigil/libexec/healthcheck.py"]
ENTRYPOINT ["vigil"]
CMD ["serve", "ingest"]
