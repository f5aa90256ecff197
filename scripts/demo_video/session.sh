#!/usr/bin/env bash
# The quick start as a newcomer types it, recorded by asciinema (run by record.sh, not by hand): `make demo` on a
# brand-new data directory, the README's first query with curl, then the Python SDK. The server keeps running
# after the recording (its pid in $DEMO_PIDFILE) so that record.sh can film the map page next.
set -uo pipefail
cd "$(dirname "$0")/../.."

say() { printf '\033[1;34m# %s\033[0m\n' "$1"; sleep 0.6; }
type_cmd() {
  printf '\033[1;32m$\033[0m '
  local text="$1"
  for ((i = 0; i < ${#text}; i++)); do printf '%s' "${text:i:1}"; sleep 0.025; done
  printf '\n'
  sleep 0.3
}

say "Atlas4D Gateway: the quick start on a fresh data directory"
type_cmd "make demo"
: >"$DEMO_LOG"
setsid make demo >"$DEMO_LOG" 2>&1 </dev/null &
echo $! >"$DEMO_PIDFILE"
tail -n +1 -f "$DEMO_LOG" &
TAIL=$!
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$ATLAS4D_PORT/health" >/dev/null && break
  sleep 0.5
done
sleep 1
kill "$TAIL" 2>/dev/null
wait "$TAIL" 2>/dev/null

echo
say "The README's first query, over plain HTTP"
QUERY='{ entities(filter: {kinds: [\"vehicle\"]}, first: 3) { nodes { name latestObservation { time lon lat speed } } } }'
type_cmd "curl -s localhost:$ATLAS4D_PORT/graphql -H 'content-type: application/json' -d '{\"query\": \"$QUERY\"}' | python3 -m json.tool"
curl -s "localhost:$ATLAS4D_PORT/graphql" -H 'content-type: application/json' -d "{\"query\": \"$QUERY\"}" | python3 -m json.tool
sleep 1.5

echo
say "The same server from the Python SDK (clients/python)"
type_cmd "python"
.venv/bin/python - <<'PY'
# a REPL typed by a ghost: each line is shown as typed, then run by the real interpreter (what is shown is what runs)
import code
import time

console = code.InteractiveConsole()
for line in [
    "from datetime import timedelta",
    "from shapely.geometry import Point",
    "from atlas4d_client import Client, Last, Near, ObservationFilter, TrackFilter",
    "client = Client()  # ATLAS4D_URL, or ATLAS4D_HOST/ATLAS4D_PORT",
    "recent = ObservationFilter(kinds=['vehicle'], time=Last(timedelta(hours=1)))",
    "sum(1 for _ in client.observations.iter(recent, page_size=200))  # every page, by cursor",
    "port = Near.point(Point(27.478, 42.494), radius_meters=2000)",
    "tracks = client.tracks.page(TrackFilter(near=port), first=5, with_geometry=True)",
    "[round(t.length_meters) for t in tracks]",
    "t = tracks.items[0]",
    "client.tracks.position_at(t.id, t.start_time + t.duration / 2)",
]:
    print(">>> ", end="", flush=True)
    for ch in line:
        print(ch, end="", flush=True)
        time.sleep(0.02)
    print(flush=True)
    console.push(line)
    time.sleep(0.6)
time.sleep(1.5)
PY
echo
say "Next: the map at http://127.0.0.1:$ATLAS4D_PORT/map"
sleep 1.5
