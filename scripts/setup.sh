#!/usr/bin/env bash
# Installs what is missing on a Debian/Ubuntu machine, and nothing that is already there:
# PostgreSQL + PostGIS server packages, a .venv with the project, and the npm peers used by tests.
# Run by `make demo` and `make test` (and so by .ci/run). Safe to run again: second runs take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" -eq 0 ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

# 1. PostgreSQL server binaries and PostGIS (the embedded cluster runs them)
if ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then
  echo "setup: installing PostgreSQL and PostGIS from the OS packages"
  PGV="$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)"
  if [ -z "$PGV" ]; then
    PGV="$(apt-cache search --names-only '^postgresql-[0-9]+-postgis-3$' | sed -E 's/^postgresql-([0-9]+).*/\1/' | sort -n | tail -1)"
    if [ -z "$PGV" ]; then apt_install postgresql-common; PGV=15; fi
  fi
  apt_install "postgresql-$PGV" "postgresql-$PGV-postgis-3"
fi

# curl and jq: the compatibility suite runs the original Atlas4D's curl examples (curl | jq) against us
for tool in curl jq; do
  if ! command -v "$tool" >/dev/null 2>&1; then apt_install "$tool"; fi
done

# Mosquitto and nats-server (JetStream): the connector tests start private brokers from these binaries
for broker in mosquitto nats-server; do
  if ! command -v "$broker" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$broker" ]; then apt_install "$broker"; fi
done

# podman (daemonless, rootful) and debootstrap: tests/deploy/test_image.py builds and runs deploy/Dockerfile with
# scripts/image.sh on base images made from the Debian mirror (no Docker Hub needed)
if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1 || { ! command -v debootstrap >/dev/null 2>&1 && [ ! -x /usr/sbin/debootstrap ]; }; then
  echo "setup: installing podman and debootstrap"
  apt_install --no-install-recommends podman runc debootstrap
fi

# 2. Python virtualenv with the project and the Python client (clients/python, its own distribution, with its
#    GeoPandas extra); reinstalled only when either pyproject.toml changes
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv || { apt_install python3-venv; "$PY" -m venv .venv; }
fi
STAMP=".venv/.atlas4d-installed"
HASH="$(cat pyproject.toml clients/python/pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$HASH" ]; then
  echo "setup: installing the project into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  # the distribution was called atlas4d-gateway before it became `pip install atlas4d`: two installs of one
  # source tree would offer every module twice
  .venv/bin/python -m pip uninstall -q -y atlas4d-gateway 2>/dev/null || true
  .venv/bin/python -m pip install -q -e ".[dev]" -e "clients/python[geopandas]"
  echo "$HASH" > "$STAMP"
fi

# 3. Browser assets the server serves itself (GraphiQL, MapLibre for /map, Swagger UI for /docs; no CDN), copied into the package's static folder
if ! command -v npm >/dev/null 2>&1; then apt_install nodejs npm; fi
ASSETS_HASH="$(cat assets/package-lock.json scripts/assets.py src/atlas4d/web/graphiql.py src/atlas4d/web/map.py src/atlas4d/rest/docs.py graphql/examples/*.graphql | sha256sum | cut -d' ' -f1)"
if [ ! -f src/atlas4d/web/static/.atlas4d-assets ] || [ "$(cat src/atlas4d/web/static/.atlas4d-assets)" != "$ASSETS_HASH" ]; then
  echo "setup: installing the browser assets (GraphiQL, MapLibre, Swagger UI) from npm"
  npm ci --prefix assets --no-audit --no-fund --loglevel=error
  .venv/bin/python scripts/assets.py
  echo "$ASSETS_HASH" > src/atlas4d/web/static/.atlas4d-assets
fi

# 4. npm packages, each folder from its committed package-lock.json (reinstalled only when the lock changes):
#    tests/js = the peers the tests compare against or drive (Apollo composition/gateway, graphql-http, Apollo
#    Client, Playwright), clients/js = the TypeScript SDK (codegen, tsc, Apollo Client and urql for its tests);
#    and the browser the tests drive (Debian's Chromium)
npm_ci() {
  local dir="$1"
  LOCK_HASH="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$dir/node_modules/.atlas4d-lock" ] || [ "$(cat "$dir/node_modules/.atlas4d-lock")" != "$LOCK_HASH" ]; then
    echo "setup: installing npm packages in $dir"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
    echo "$LOCK_HASH" > "$dir/node_modules/.atlas4d-lock"
  fi
}
if [ "${ATLAS4D_SKIP_NPM:-0}" != "1" ]; then
  if ! command -v chromium >/dev/null 2>&1; then
    echo "setup: installing Chromium (headless browser tests)"
    apt_install chromium
  fi
  for dir in tests/js clients/js; do
    if [ -f "$dir/package-lock.json" ]; then npm_ci "$dir"; fi
  done
fi
