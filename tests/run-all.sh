#!/usr/bin/env bash
# The whole test suite, as CI runs it. Needs only this repository, the Rust toolchain with
# cargo-nextest, python3, node/npm, git, curl and tmux; it installs the rest into the git-ignored
# .e2e/ on first use (the MCP Python SDK from PyPI, Claude Code from npm).
#
#   bash tests/run-all.sh
#
# Every tier runs even when an earlier one failed; the summary names the failed ones and the
# exit status is non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
MCP_SDK_VERSION=2.3.0

failed=()
tier() { # name command...
  local name="$1"; shift
  echo; echo "== $name"
  local start=$SECONDS
  if "$@"; then echo "== $name: ok ($((SECONDS - start)) s)"
  else echo "== $name: FAILED ($((SECONDS - start)) s)"; failed+=("$name"); fi
}

mcp_sdk() {
  if ! .e2e/venv/bin/python -c 'import importlib.metadata as m, sys; sys.exit(m.version("mcp") != sys.argv[1])' \
      "$MCP_SDK_VERSION" 2>/dev/null; then
    rm -rf .e2e/venv
    python3 -m venv .e2e/venv && .e2e/venv/bin/pip install -q "mcp==$MCP_SDK_VERSION" || return 1
  fi
  cargo build --locked --quiet --bin agenticore && .e2e/venv/bin/python tests/mcp/test_sdk.py
}

# The Redis store's tests need a Redis: a private one on a unix socket (stopped at exit) when
# redis-server is installed, unless AGENTICORE_TEST_REDIS_URL names one; else the one on
# 127.0.0.1:6379.
private_redis() {
  [ -n "${AGENTICORE_TEST_REDIS_URL:-}" ] && return 0
  if ! command -v redis-server >/dev/null; then
    echo "redis-server not found: the Redis tests use redis://127.0.0.1:6379"
    return 0
  fi
  REDIS_DIR="$(mktemp -d /tmp/agenticore-redis.XXXXXX)"
  trap 'kill "$(cat "$REDIS_DIR/redis.pid" 2>/dev/null)" 2>/dev/null; rm -rf "$REDIS_DIR"' EXIT
  redis-server --port 0 --unixsocket "$REDIS_DIR/redis.sock" --unixsocketperm 700 --save '' \
    --appendonly no --daemonize yes --pidfile "$REDIS_DIR/redis.pid" \
    --logfile "$REDIS_DIR/redis.log" || return 1
  for _ in $(seq 50); do [ -S "$REDIS_DIR/redis.sock" ] && break; sleep 0.1; done
  export AGENTICORE_TEST_REDIS_URL="unix://$REDIS_DIR/redis.sock"
  echo "a private redis-server for the tests: $AGENTICORE_TEST_REDIS_URL"
}
private_redis || echo "could not start a private redis-server"

tier "unit and integration tests (cargo nextest)" cargo nextest run --locked --no-fail-fast
tier "the mock Anthropic API's own tests" python3 tests/mock-anthropic/test_mock.py
tier "MCP: the official Python SDK over stdio and Streamable HTTP" mcp_sdk
tier "the seed's curl examples against a real daemon" bash tests/seed_curl.sh
tier "the dashboard in a real terminal (tmux)" bash tests/tui/tmux.sh
tier "e2e: the real Claude Code CLI against the mock API" bash tests/e2e/run.sh
tier "Docker image and compose file" bash tests/docker-build.sh

echo
if [ ${#failed[@]} -eq 0 ]; then
  echo "all tiers passed"
else
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
