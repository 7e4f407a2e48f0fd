#!/usr/bin/env bash
# Prepares a fresh machine for `make run` and `make test`: system packages, the virtualenv with
# Vigil installed, and the Apache Kafka broker jars from Maven Central. Each step is skipped when
# already done, so it is cheap to run every time.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- system packages -------------------------------------------------------------------------
need_pkgs=()
command -v java >/dev/null 2>&1 || need_pkgs+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_pkgs+=(maven)
command -v prometheus-alertmanager >/dev/null 2>&1 || need_pkgs+=(prometheus-alertmanager)
command -v promtool >/dev/null 2>&1 || need_pkgs+=(prometheus)   # promtool, for tests/deploy
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)   # the console's browser tests (Playwright, executable_path)
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then need_pkgs+=(python3-venv); fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_pkgs[*]}"
  as_root apt-get update -qq
  # policy-rc.d on these machines keeps the packaged daemons from starting; tests start their own.
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# --- virtualenv --------------------------------------------------------------------------------
PY=${PY:-python3}
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  log "creating .venv and installing vigil with its dev dependencies"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip >/dev/null
  # setuptools' "Editable installation … be careful with folders named like your package" notice
  # is not about anything here; pip shows backend warnings even with -q.
  PYTHONWARNINGS="ignore:Editable installation" .venv/bin/pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# --- front-end packages into node_modules/: htmx and its SSE extension (the console), Swagger UI ---
# (every service's /docs). No install scripts: swagger-ui-dist's dependency @scarf/scarf sends analytics.
command -v npm >/dev/null 2>&1 || { log "installing Debian's npm"; as_root apt-get update -qq; DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends npm >/dev/null; }
nstamp=node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)
if [ ! -f "$nstamp" ]; then
  log "installing the front-end packages (npm ci) into node_modules"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  touch "$nstamp"
fi

# --- Kafka broker jars -------------------------------------------------------------------------
libs=.cache/kafka/libs
kstamp=$libs/.fetched-$(sha256sum scripts/kafka/pom.xml | cut -c1-16)
if [ ! -f "$kstamp" ]; then
  log "fetching the Apache Kafka broker jars from Maven Central into $libs"
  rm -rf "$libs"; mkdir -p "$libs"
  mvn -q -B -f scripts/kafka/pom.xml dependency:copy-dependencies \
    -DoutputDirectory="$PWD/$libs" -DincludeScope=runtime
  touch "$kstamp"
fi
# --- kustomize (tests/deploy render the Kubernetes overlays) ------------------------------------
# `kubectl kustomize` where kubectl is installed; elsewhere a pinned kustomize built by `go install`
# from the Go module proxy (about two minutes, once; the module cache keeps it cheap afterwards).
KUSTOMIZE_VERSION=v5.8.1
kustamp=.cache/bin/.kustomize-$KUSTOMIZE_VERSION
if ! command -v kubectl >/dev/null 2>&1 && [ ! -f "$kustamp" ]; then
  command -v go >/dev/null 2>&1 || { log "go is needed to build kustomize (or install kubectl)"; exit 1; }
  log "building kustomize $KUSTOMIZE_VERSION into .cache/bin"
  mkdir -p .cache/bin
  GOBIN="$PWD/.cache/bin" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  rm -f .cache/bin/.kustomize-*
  touch "$kustamp"
fi
log "ready"
