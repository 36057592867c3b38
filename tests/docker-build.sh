#!/usr/bin/env bash
# The Docker image, built and run for real:
#
#   bash tests/docker-build.sh          # IMAGE=agenticore:docker-build-test by default
#
# - `docker compose config` accepts docker-compose.yml (when the compose plugin is installed),
#   and refuses it, naming the variable, without AGENTICORE_API_KEYS;
# - the image builds; with a key it serves /health, turns healthy, runs as a non-root user and
#   ships agenticore, claude (the pinned version), git and gh;
# - without AGENTICORE_API_KEYS the container exits 2 with the refusal message.
#
# Without a Docker daemon (`docker info` fails) the image cannot be built: the script prints
# "skipped: no Docker daemon" and exits 0 (after the compose check, which needs no daemon).
# Prints one line per check and ends with "N passed, N failed"; exits 0 iff all passed.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
IMAGE="${IMAGE:-agenticore:docker-build-test}"
CLAUDE_VERSION="$(sed -n 's/^ARG CLAUDE_CODE_VERSION=//p' Dockerfile)"
PASS=0; FAIL=0
ok()  { PASS=$((PASS + 1)); echo "ok   $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
summary() { echo "$PASS passed, $FAIL failed"; [ "$FAIL" -eq 0 ]; exit $?; }

if ! command -v docker >/dev/null; then
  echo "skipped: no docker CLI"
  exit 0
fi

TMP="$(mktemp -d)"
CID=""
cleanup() {
  [ -n "$CID" ] && docker rm -f "$CID" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

# ---- compose file (client side only) ----------------------------------------------------------
if docker compose version >/dev/null 2>&1; then
  : > "$TMP/empty.env"   # never the developer's .env
  if out="$(AGENTICORE_API_KEYS=compose-check docker compose --env-file "$TMP/empty.env" config -q 2>&1)"; then
    ok "docker compose config accepts docker-compose.yml"
  else
    bad "docker compose config rejects docker-compose.yml" "$out"
  fi
  out="$(env -u AGENTICORE_API_KEYS docker compose --env-file "$TMP/empty.env" config -q 2>&1)"
  if [ $? -ne 0 ] && grep -q 'set AGENTICORE_API_KEYS' <<<"$out"; then
    ok "docker compose config without AGENTICORE_API_KEYS fails and says what to set"
  else
    bad "docker compose config without AGENTICORE_API_KEYS: expected a failure naming it" "$out"
  fi
else
  echo "# no docker compose plugin: compose config not checked"
fi

if ! docker info >/dev/null 2>&1; then
  echo "skipped: no Docker daemon"
  [ "$FAIL" -eq 0 ]
  exit $?
fi

# ---- build --------------------------------------------------------------------------------------
if out="$(DOCKER_BUILDKIT=1 docker build -t "$IMAGE" . 2>&1)"; then
  ok "docker build -t $IMAGE ."
else
  bad "docker build" "$(tail -30 <<<"$out")"
  summary
fi

# ---- without keys: refused ----------------------------------------------------------------------
out="$(docker run --rm -e AGENTICORE_API_KEYS= "$IMAGE" 2>&1)"
code=$?
if [ "$code" -eq 2 ] && grep -q 'refusing to listen on 0.0.0.0 without API keys' <<<"$out"; then
  ok "without AGENTICORE_API_KEYS the container exits 2 with the refusal"
else
  bad "without AGENTICORE_API_KEYS: expected exit 2 and the refusal, got exit $code" "$out"
fi

# ---- with a key: serves ------------------------------------------------------------------------
# The key goes through the environment, not argv.
AGENTICORE_API_KEYS="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export AGENTICORE_API_KEYS
if ! CID="$(docker run -d -e AGENTICORE_API_KEYS -p 127.0.0.1::8200 "$IMAGE" 2>&1)"; then
  bad "docker run -d with a key" "$CID"
  CID=""
  summary
fi
in_container() { docker exec "$CID" "$@" 2>&1; }

health=""
for _ in $(seq 1 60); do
  health="$(docker exec -e AGENTICORE_URL=http://127.0.0.1:8200 "$CID" agenticore status --json 2>/dev/null)" && break
  health=""
  sleep 0.5
done
if grep -q '"status": *"ok"' <<<"$health"; then
  ok "/health answers ok inside the container"
else
  bad "/health did not answer ok within 30 s" "$(docker logs "$CID" 2>&1 | tail -20)"
fi

port="$(docker port "$CID" 8200/tcp | head -1)"
if command -v curl >/dev/null && [ -n "$port" ]; then
  if curl -fsS "http://$port/health" | grep -q '"agenticore"'; then
    ok "/health answers on the published port $port"
  else
    bad "/health on the published port $port"
  fi
  code="$(curl -s -o /dev/null -w '%{http_code}' "http://$port/jobs")"
  if [ "$code" = 401 ]; then
    ok "/jobs without a key is refused (401)"
  else
    bad "/jobs without a key: expected 401, got $code"
  fi
fi

out="$(in_container agenticore version)"
if grep -q '^agenticore ' <<<"$out"; then ok "agenticore version: $out"; else bad "agenticore version" "$out"; fi

uid="$(in_container id -u)"
if [ -n "$uid" ] && [ "$uid" != 0 ]; then ok "runs as uid $uid (not root)"; else bad "runs as root" "$uid"; fi

out="$(in_container claude --version)"
if grep -q "$CLAUDE_VERSION" <<<"$out"; then ok "claude --version: $out"; else bad "claude --version (want $CLAUDE_VERSION)" "$out"; fi

for tool in git gh; do
  out="$(in_container "$tool" --version)"
  if [ $? -eq 0 ]; then ok "$tool: $(head -1 <<<"$out")"; else bad "$tool --version" "$out"; fi
done

# The image's HEALTHCHECK runs every 30 s: wait for its verdict.
status=""
for _ in $(seq 1 50); do
  status="$(docker inspect -f '{{.State.Health.Status}}' "$CID" 2>/dev/null)"
  [ "$status" = healthy ] || [ "$status" = unhealthy ] && break
  sleep 2
done
if [ "$status" = healthy ]; then
  ok "Docker reports the container healthy"
else
  bad "Docker health status: ${status:-none}" \
    "$(docker inspect -f '{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}{{end}}' "$CID" 2>&1 | tail -5)"
fi

summary
