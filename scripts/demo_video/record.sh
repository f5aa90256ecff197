#!/usr/bin/env bash
# `make demo-video`: records the README's quick start and the map page into docs/media/ (not part of make test).
#   1. asciinema (PyPI, into .venv) records scripts/demo_video/session.sh: `make demo` on a brand-new data dir and
#      free ports, the first query with curl, the Python SDK -> docs/media/quickstart.cast
#   2. Chromium plays that cast (asciinema-player) and then drives /map of the same server; capture.mjs films both
#      through the DevTools screencast into ffmpeg -> docs/media/demo.webm (+ docs/media/demo.png, the poster)
# Installs what it needs and is missing: asciinema, ffmpeg and chromium (apt), the player (npm, scripts/demo_video).
set -euo pipefail
cd "$(dirname "$0")/../.."
MEDIA=docs/media
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if ! .venv/bin/asciinema --version >/dev/null 2>&1; then .venv/bin/python -m pip install -q "asciinema==2.4.0"; fi
missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
npm ci --prefix scripts/demo_video --no-audit --no-fund --loglevel=error

WORK="$(mktemp -d)"
chmod 755 "$WORK"  # the embedded cluster runs as postgres when we are root
free_port() { .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
for var in $(env | grep -o '^ATLAS4D_[A-Z_]*' || true); do unset "$var"; done
export ATLAS4D_DATA_DIR="$WORK/data" ATLAS4D_EMBEDDED_PORT="$(free_port)" ATLAS4D_PORT="$(free_port)"
export DEMO_LOG="$WORK/demo.log" DEMO_PIDFILE="$WORK/demo.pid"
cleanup() {
  if [ -f "$DEMO_PIDFILE" ]; then kill -INT -- "-$(cat "$DEMO_PIDFILE")" 2>/dev/null || true; sleep 2; fi
  .venv/bin/atlas4d db stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$MEDIA"
echo "demo-video: recording the quick start (make demo on a new data dir, port $ATLAS4D_PORT)"
.venv/bin/asciinema rec --quiet --overwrite --cols 110 --rows 30 -c "bash scripts/demo_video/session.sh" \
  "$MEDIA/quickstart.cast"
curl -sf "http://127.0.0.1:$ATLAS4D_PORT/health" >/dev/null || { echo "the demo server is not up:"; cat "$DEMO_LOG"; exit 1; }

echo "demo-video: filming the terminal and the map page in Chromium"
node scripts/demo_video/capture.mjs terminal "$MEDIA/quickstart.cast" "$WORK/terminal.webm"
node scripts/demo_video/capture.mjs map "http://127.0.0.1:$ATLAS4D_PORT" "$WORK/map.webm" "$WORK/map.png"
printf "file '%s'\nfile '%s'\n" "$WORK/terminal.webm" "$WORK/map.webm" >"$WORK/parts.txt"
ffmpeg -loglevel error -y -f concat -safe 0 -i "$WORK/parts.txt" -c copy "$MEDIA/demo.webm"
ffmpeg -loglevel error -y -i "$WORK/map.png" -vf scale=960:-2 "$MEDIA/demo.png"
ls -l "$MEDIA"
