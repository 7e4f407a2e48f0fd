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

# --- assets: the front-end packages of package-lock.json, served as files (no build step) ---
# Swagger UI for every service's /docs, htmx and its SSE extension for the console. Install scripts
# are not run (swagger-ui-dist's dependency would send usage analytics).
FROM node:20-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime: the virtualenv, the front-end assets and two helper scripts, run as an unprivileged user ---
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="vigil" \
      org.opencontainers.image.description="Vigil: alerts in, incidents, escalations, pages and SLOs out" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 vigil \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin vigil
COPY --from=build /opt/vigil /opt/vigil
# What /docs loads (shared/api_docs.py) with the package's licence; the console's packages whole.
COPY --from=assets /src/node_modules/swagger-ui-dist/swagger-ui-bundle.js /src/node_modules/swagger-ui-dist/swagger-ui.css \
     /src/node_modules/swagger-ui-dist/favicon-32x32.png /src/node_modules/swagger-ui-dist/LICENSE \
     /src/node_modules/swagger-ui-dist/NOTICE /opt/vigil/node_modules/swagger-ui-dist/
COPY --from=assets /src/node_modules/htmx.org /opt/vigil/node_modules/htmx.org
COPY --from=assets /src/node_modules/htmx-ext-sse /opt/vigil/node_modules/htmx-ext-sse
COPY deploy/docker/healthcheck.py deploy/docker/migrate.py /opt/vigil/libexec/
# Containers listen on every interface; the code's default (127.0.0.1) is for laptops.
ENV PATH=/opt/vigil/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIGIL_HOST=0.0.0.0 \
    VIGIL_LOG_FORMAT=json \
    VIGIL_ASSETS_DIR=/opt/vigil/node_modules \
    VIGIL_CONSOLE_ASSETS_DIR=/opt/vigil/node_modules
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080 8081 8082 8083 8084 8085
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "/opt/vigil/libexec/healthcheck.py"]
ENTRYPOINT ["vigil"]
CMD ["serve", "ingest"]
