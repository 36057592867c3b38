#!/usr/bin/env bash
# The seed README's REST examples, run with curl against a real `agenticore serve`.
#
#   tests/seed_curl.sh            # the debug binary where cargo builds it (tests/bin-path.sh)
#   AGENTICORE_BIN=path tests/seed_curl.sh
#
# Runs in a private temp home with the fake claude; the repo of the README's POST example is a
# local bare repository (file://), so nothing leaves the machine. Ends with "N passed, N failed"
# and exits non-zero when anything failed.
set -u

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$(bash "$ROOT/tests/bin-path.sh")"
[ -x "$BIN" ] || { echo "no agenticore binary at $BIN (cargo build first)" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is required" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 2; }

TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"

# Same environment as tests/server_rest.rs (nothing of the caller's AGENTICORE_* leaks in).
for v in $(env | sed -n 's/^\(AGENTICORE_[A-Z_]*\)=.*/\1/p; s/^\(REDIS_URL\|POSTGRES_URL\)=.*/\1/p'); do
  unset "$v"
done
mkdir -p "$TMP/home"
export HOME="$TMP/home"
export AGENTICORE_HOME="$TMP/agenticore"
export AGENTICORE_REPOS_ROOT="$TMP/repos"
export AGENTICORE_CLAUDE_BINARY="$ROOT/tests/fixtures/fake-claude"
export AGENTICORE_OTEL_ENABLED=false
export AGENTICORE_MAX_PARALLEL_JOBS=2
export AGENTICORE_KILL_GRACE=1
export AGENTICORE_HOST=127.0.0.1
export RUST_LOG="${RUST_LOG:-agenticore=info}"

# A local stand-in for https://github.com/org/repo, with a `main` branch.
REPO_URL=""
if command -v git >/dev/null; then
  (
    set -e
    mkdir -p "$TMP/seed-work"
    cd "$TMP/seed-work"
    git init -q -b main
    echo hello > README.md
    git add -A
    git -c user.name=t -c user.email=t@example.com commit -q -m init
    git clone -q --bare "$TMP/seed-work" "$TMP/remote.git"
  ) && REPO_URL="file://$TMP/remote.git"
fi

"$BIN" serve --port "$PORT" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!

up=0
for _ in $(seq 1 100); do
  if curl -fsS "$BASE/health" >/dev/null 2>&1; then up=1; break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ "$up" != 1 ]; then
  echo "the server did not come up on $BASE; its log:" >&2
  cat "$TMP/server.log" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

PASS=0
FAIL=0
BODY="$TMP/body.json"

# check NAME WANT_STATUS PY_CONDITION CURL_ARGS...
#   PY_CONDITION is a Python expression over `j` (the JSON body).
check() {
  local name="$1" want="$2" cond="$3"
  shift 3
  local code
  code="$(curl -sS -o "$BODY" -w '%{http_code}' "$@")" || code="curl-error"
  if [ "$code" = "$want" ] && python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)
' "$BODY" "$cond" 2>/dev/null; then
    PASS=$((PASS + 1))
    echo "ok   $name"
  else
    FAIL=$((FAIL + 1))
    echo "FAIL $name: HTTP $code (want $want), body: $(head -c 500 "$BODY" 2>/dev/null)"
  fi
}

json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["job"]["id"])' "$BODY" 2>/dev/null; }

# Submit a job (the README's example; the repo is the local bare repo when git is here).
check "POST /jobs" 200 'j["success"] is True and j["job"]["status"] in ("queued","running","succeeded")' \
  -X POST "$BASE/jobs" \
  -H "Content-Type: application/json" \
  -d "{\"task\": \"fix the auth bug [fake:sleep=0]\", \"repo_url\": \"$REPO_URL\", \"profile\": \"code\"}"
JOB_ID="$(json_field)"

# Check status
check "GET /jobs/{job_id}" 200 "j['success'] is True and j['job']['id'] == '$JOB_ID'" \
  "$BASE/jobs/$JOB_ID"

# List jobs
check "GET /jobs" 200 'j["success"] is True and j["count"] >= 1 and len(j["jobs"]) == j["count"]' \
  "$BASE/jobs"

# Cancel (a job long enough to still be there)
check "POST /jobs (long)" 200 'j["success"] is True' \
  -X POST "$BASE/jobs" -H "Content-Type: application/json" \
  -d '{"task": "long one [fake:sleep=30]"}'
LONG_ID="$(json_field)"
check "DELETE /jobs/{job_id}" 200 \
  "j['success'] is True and j['job']['id'] == '$LONG_ID' and (j['job']['status'] == 'cancelled' or j['job'].get('cancel_requested') is True)" \
  -X DELETE "$BASE/jobs/$LONG_ID"

# List profiles
check "GET /profiles" 200 'j["success"] is True and j["count"] == len(j["profiles"]) >= 1' \
  "$BASE/profiles"

# Health check
check "GET /health" 200 'j["status"] == "ok" and j["service"] == "agenticore"' \
  "$BASE/health"

# The seed's not-found answer.
check "GET /jobs/{unknown}" 404 'j == {"success": False, "error": "Job not found: 00000000-0000-0000-0000-000000000000"}' \
  "$BASE/jobs/00000000-0000-0000-0000-000000000000"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
