#!/usr/bin/env bash
# End-to-end tier: agenticore driving the REAL Claude Code CLI (pinned) against the project's
# scripted mock of the Anthropic API (tests/mock-anthropic, scripts in tests/e2e/scripts),
# fully offline.
#
#   bash tests/e2e/run.sh            (runs cargo build first unless AGENTICORE_BIN is set;
#                                     finds the binary as tests/bin-path.sh says)
#
# Installs @anthropic-ai/claude-code@2.1.197 into .e2e/claude-cli (git-ignored) when missing.
# Runs inside a loopback-only network namespace when it can (set NO_NETNS=1 to skip).
# Prints one line per check and ends with "N passed, N failed"; exits 0 iff all passed.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MOCK="$ROOT/tests/mock-anthropic/mock_anthropic.py"
SCRIPTS="$ROOT/tests/e2e/scripts"
CLAUDE_VERSION=2.1.197
CLI_DIR="$ROOT/.e2e/claude-cli"
CLAUDE_BIN="$CLI_DIR/node_modules/.bin/claude"
PY="${PYTHON:-python3}"

# Install and build outside the network namespace (they need the registries).
if [ -z "${_E2E_IN_NETNS:-}" ]; then
  if ! "$CLAUDE_BIN" --version 2>/dev/null | grep -q "$CLAUDE_VERSION"; then
    echo "# installing @anthropic-ai/claude-code@$CLAUDE_VERSION into $CLI_DIR"
    mkdir -p "$CLI_DIR"
    (cd "$CLI_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } \
      && npm install --no-audit --no-fund "@anthropic-ai/claude-code@$CLAUDE_VERSION" >/dev/null) \
      || { echo "cannot install Claude Code"; echo "0 passed, 1 failed"; exit 1; }
  fi
  if [ -z "${AGENTICORE_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --quiet --bin agenticore) || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
  fi
  # Resolved once, before the namespace: everything below uses $AGENTICORE_BIN.
  AGENTICORE_BIN="$(bash "$ROOT/tests/bin-path.sh")"
  export AGENTICORE_BIN
  [ -x "$AGENTICORE_BIN" ] || { echo "no agenticore binary at $AGENTICORE_BIN"; echo "0 passed, 1 failed"; exit 1; }
  if [ -z "${NO_NETNS:-}" ] && command -v unshare >/dev/null && unshare -n true 2>/dev/null; then
    export _E2E_IN_NETNS=1
    exec unshare -n bash -c 'ip link set lo up 2>/dev/null || true; exec bash "$0" "$@"' "${BASH_SOURCE[0]}" "$@"
  fi
fi

BIN="$AGENTICORE_BIN"
TMP="$(mktemp -d /tmp/agenticore-e2e.XXXXXX)"
PASS=0; FAIL=0
ok()  { PASS=$((PASS+1)); echo "ok   - $*"; }
bad() { FAIL=$((FAIL+1)); echo "FAIL - $*"; }
MOCK_PID=""
worker_gone() { # waits (up to 10 s) until no background worker of an earlier case runs
  for _ in $(seq 100); do
    "$PY" - "$BIN" <<'PY' || return 0
import os, sys
for p in os.listdir("/proc"):
    try:
        cmd = open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")
    except OSError:
        continue
    if len(cmd) > 1 and cmd[0] == os.path.realpath(sys.argv[1]).encode() and cmd[1] == b"__worker":
        sys.exit(0)
sys.exit(1)
PY
    sleep 0.1
  done
}
start_mock() { # script: a fresh mock for the next case, ANTHROPIC_BASE_URL pointing at it
  # A background worker started by an earlier case still has that case's environment (its
  # mock's URL) and would take this case's jobs: let it go idle and exit first.
  worker_gone
  rm -f "$TMP/port"
  "$PY" "$MOCK" --script "$1" --port-file "$TMP/port" >/dev/null 2>>"$TMP/mock.log" &
  MOCK_PID=$!
  for _ in $(seq 200); do [ -s "$TMP/port" ] && break; sleep 0.05; done
  PORT="$(cat "$TMP/port")"
  export ANTHROPIC_BASE_URL="http://127.0.0.1:$PORT"
}
stop_mock() { [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null && wait "$MOCK_PID" 2>/dev/null; MOCK_PID=""; }
trap 'stop_mock' EXIT
mock_statuses() { # each main (non-side) request the mock served, in order: 429/sse, 200/json...
  "$PY" -c 'import json, sys, urllib.request
log = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_mock/requests"))
print(" ".join("%s/%s" % (r["status"], "sse" if r["stream"] else "json")
               for r in log if r.get("side") is False))' "$PORT"
}

# An isolated agenticore + claude environment. Only what the runner's allow-list passes on
# reaches claude: ANTHROPIC_*, CLAUDE_*, DISABLE_*, IS_SANDBOX, HOME, PATH, GIT_* identity.
export HOME="$TMP/home"; mkdir -p "$HOME"
export AGENTICORE_HOME="$TMP/agenticore" AGENTICORE_REPOS_ROOT="$TMP/repos"
export AGENTICORE_CLAUDE_BINARY="$CLAUDE_BIN" AGENTICORE_OTEL_ENABLED=false AGENTICORE_KILL_GRACE=2
export ANTHROPIC_API_KEY=sk-test CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_TELEMETRY=1 \
  DISABLE_AUTOUPDATER=1 DISABLE_ERROR_REPORTING=1 IS_SANDBOX=1 CLAUDE_CODE_MAX_RETRIES=0
export GIT_AUTHOR_NAME=e2e GIT_AUTHOR_EMAIL=e2e@example.com GIT_COMMITTER_NAME=e2e GIT_COMMITTER_EMAIL=e2e@example.com
unset REDIS_URL AGENTICORE_URL AGENTICORE_API_KEYS
mkdir -p "$AGENTICORE_HOME/profiles/e2e"
cat >"$AGENTICORE_HOME/profiles/e2e/profile.yml" <<'YML'
name: e2e
description: "e2e: the real CLI, bypassPermissions"
extends: code
claude:
  model: sonnet
  max_turns: 10
  permission_mode: bypassPermissions
  timeout: 120
auto_pr: false
YML

jget() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))["job"]
v=d
for k in sys.argv[2].split("."): v=v.get(k) if isinstance(v,dict) else None
print("" if v is None else v)' "$1" "$2" 2>/dev/null; }
job_procs() { # id -> number of live processes tagged with the job id
  grep -lsz "^AGENTICORE_JOB_ID=$1\$" /proc/[0-9]*/environ 2>/dev/null | wc -l
}
wait_status() { # id status... [seconds, default 30]
  local id="$1"; shift
  local secs=30
  case "${!#}" in ''|*[!0-9]*) ;; *) secs="${!#}"; set -- "${@:1:$(($#-1))}";; esac
  for _ in $(seq $((secs * 10))); do
    st="$("$BIN" job "$id" --json 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["job"]["status"])' 2>/dev/null)"
    for want in "$@"; do [ "$st" = "$want" ] && return 0; done
    sleep 0.1
  done
  return 1
}

# A bare remote with one commit on main.
mkdir -p "$TMP/seed" && git -C "$TMP/seed" init -q -b main && echo hi >"$TMP/seed/README.md" \
  && git -C "$TMP/seed" add -A && git -C "$TMP/seed" commit -qm init \
  && git clone -q --bare "$TMP/seed" "$TMP/remote.git"
REPO="file://$TMP/remote.git"

echo "# agenticore: $BIN; claude: $("$CLAUDE_BIN" --version); netns: ${_E2E_IN_NETNS:-no}; tmp: $TMP"

# 1. A real job: claude writes hello.txt and commits it on the job's branch.
start_mock "$SCRIPTS/commit-a-file.json"
"$BIN" submit "create hello.txt and commit it" --repo "$REPO" --profile e2e --wait --json >"$TMP/j1.json" 2>"$TMP/j1.err"
rc=$?
branch="$(jget "$TMP/j1.json" branch)"
cache="$(find "$TMP/repos" -maxdepth 1 -mindepth 1 -type d ! -name worktrees | head -1)"
if [ $rc -eq 0 ] && [ "$(jget "$TMP/j1.json" status)" = succeeded ] && [ -n "$branch" ] \
   && [ "$(git -C "$cache" log -1 --format=%s "$branch" 2>/dev/null)" = hello ] \
   && git -C "$cache" show "$branch:hello.txt" 2>/dev/null | grep -qx "hello world"; then
  ok "commit-a-file: succeeded, commit 'hello' with hello.txt on $branch"
else bad "commit-a-file rc=$rc $(head -c 600 "$TMP/j1.json") $(tail -5 "$TMP/j1.err")"; fi
cost="$(jget "$TMP/j1.json" cost_usd)"; turns="$(jget "$TMP/j1.json" num_turns)"; sid="$(jget "$TMP/j1.json" session_id)"
if [ -n "$cost" ] && "$PY" -c "import sys; sys.exit(0 if float('$cost') > 0 else 1)" && [ "$turns" = 3 ] && [ ${#sid} -eq 36 ]; then
  ok "cost/turns recorded: cost_usd=$cost num_turns=$turns session=$sid"
else bad "cost/turns: cost=$cost turns=$turns session=$sid"; fi
wt="$(jget "$TMP/j1.json" worktree_path)"
if [ -n "$wt" ] && [ ! -e "$wt" ]; then ok "worktree removed after the job"; else bad "worktree left: $wt"; fi
stop_mock

# 1b. Auto-PR: the same job with a profile that has auto_pr: true, on a GitHub-style URL that
#    git rewrites to a second bare remote (insteadOf), and the fake gh on PATH: the branch is
#    pushed and the pull request opened with the right base/head; the token stays out of it.
start_mock "$SCRIPTS/commit-a-file.json"
mkdir -p "$AGENTICORE_HOME/profiles/e2e-pr" "$TMP/bin"
printf 'extends: e2e\nauto_pr: true\n' >"$AGENTICORE_HOME/profiles/e2e-pr/profile.yml"
ln -sf "$ROOT/tests/fixtures/fake-gh" "$TMP/bin/gh"
git clone -q --bare "$TMP/seed" "$TMP/pr-remote.git"
PR_TOKEN="ghp_e2e$RANDOM$RANDOM$RANDOM"
GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0="url.file://$TMP/pr-remote.git.insteadOf" \
  GIT_CONFIG_VALUE_0=https://github.com/acme/widgets.git PATH="$TMP/bin:$PATH" \
  FAKE_GH_RECORD="$TMP/gh.jsonl" GITHUB_TOKEN="$PR_TOKEN" \
  "$BIN" submit "create hello.txt and commit it" --repo https://github.com/acme/widgets.git \
  --profile e2e-pr --wait --json >"$TMP/j1b.json" 2>"$TMP/j1b.err"
rc=$?
branch="$(jget "$TMP/j1b.json" branch)"
pr_url="$(jget "$TMP/j1b.json" pr_url)"
gh_ok="$("$PY" - "$TMP/gh.jsonl" "$branch" "$PR_TOKEN" <<'PY'
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
create = [c for c in calls if c["op"] == "create"]
def after(argv, flag):
    return argv[argv.index(flag) + 1] if flag in argv else None
ok = (len(create) == 1 and after(create[0]["argv"], "--head") == sys.argv[2]
      and after(create[0]["argv"], "--base") == "main"
      and after(create[0]["argv"], "--title") == "create hello.txt and commit it"
      and create[0]["env"].get("GH_TOKEN") == sys.argv[3]
      and not any(sys.argv[3] in json.dumps(c["argv"]) for c in calls))
print("yes" if ok else "no: %s" % [c["argv"] for c in calls])
PY
)"
if [ $rc -eq 0 ] && [ "$(jget "$TMP/j1b.json" status)" = succeeded ] \
   && [ "$pr_url" = https://github.com/acme/widgets/pull/1 ] && [ "$gh_ok" = yes ] \
   && git -C "$TMP/pr-remote.git" show "$branch:hello.txt" 2>/dev/null | grep -qx "hello world" \
   && ! grep -q "$PR_TOKEN" "$TMP/j1b.json" "$AGENTICORE_HOME/logs/$(jget "$TMP/j1b.json" id).jsonl"; then
  ok "auto-PR: $branch pushed with hello.txt, pull request $pr_url opened by gh"
else bad "auto-PR rc=$rc pr_url=$pr_url gh=$gh_ok pr_error=$(jget "$TMP/j1b.json" pr_error) $(tail -3 "$TMP/j1b.err")"; fi
stop_mock

# 2. An API error fails the job with the API's message.
start_mock "$SCRIPTS/api-error-401.json"
"$BIN" submit "hi" --profile e2e --wait --json >"$TMP/j2.json" 2>"$TMP/j2.err"
rc=$?
err="$(jget "$TMP/j2.json" error)"
if [ $rc -eq 1 ] && [ "$(jget "$TMP/j2.json" status)" = failed ] && echo "$err" | grep -q "401" \
   && echo "$err" | grep -qi "api key"; then
  ok "api-error: exit 1, error: $err"
else bad "api-error rc=$rc err=$err $(tail -3 "$TMP/j2.err")"; fi
stop_mock

# 3. A slow job cancelled while claude waits on the API: cancelled, nothing left running.
start_mock "$SCRIPTS/slow.json"
id="$("$BIN" submit "take your time" --profile e2e 2>"$TMP/j3.err")"
if wait_status "$id" running; then
  sleep 2
  n_before="$(job_procs "$id")"
  "$BIN" cancel "$id" >"$TMP/j3.cancel" 2>&1
  rc=$?
  sleep 0.5
  st="$("$BIN" job "$id" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["job"]["status"])')"
  left="$(job_procs "$id")"
  if [ $rc -eq 0 ] && [ "$st" = cancelled ] && [ "$left" -eq 0 ] && [ "$n_before" -ge 2 ]; then
    ok "cancel: cancelled, $n_before processes before, $left after"
  else bad "cancel rc=$rc status=$st procs before=$n_before after=$left $(cat "$TMP/j3.cancel")"; fi
else bad "cancel: job $id never ran: $(cat "$TMP/j3.err")"; fi

# 4. The same slow job with a 3 s timeout: failed naming the timeout, nothing left running.
"$BIN" submit "take your time" --profile e2e --timeout 3 --wait --json >"$TMP/j4.json" 2>"$TMP/j4.err"
rc=$?
id4="$(jget "$TMP/j4.json" id)"
err="$(jget "$TMP/j4.json" error)"
left="$(job_procs "$id4")"
if [ $rc -eq 1 ] && echo "$err" | grep -q "timed out after 3 s" && [ "$left" -eq 0 ]; then
  ok "timeout: exit 1, '$err', no process left"
else bad "timeout rc=$rc err=$err left=$left $(tail -3 "$TMP/j4.err")"; fi
stop_mock

# 5. Jobs whose profile brings an MCP server (agenticore itself, over stdio): three at once.
#    Each job's claude calls list_profiles and run_task(wait) through MCP; the nested jobs run.
start_mock "$SCRIPTS/mcp-jobs.json"
mkdir -p "$AGENTICORE_HOME/profiles/e2e-mcp"
cat >"$AGENTICORE_HOME/profiles/e2e-mcp/profile.yml" <<YML
extends: e2e
description: "e2e: agenticore as the job's MCP server"
mcp_servers:
  agenticore:
    command: $BIN
    args: [serve, --stdio]
    env:
      AGENTICORE_HOME: $AGENTICORE_HOME
      AGENTICORE_REPOS_ROOT: $AGENTICORE_REPOS_ROOT
      AGENTICORE_CLAUDE_BINARY: $CLAUDE_BIN
      AGENTICORE_OTEL_ENABLED: "false"
      # The cap is shared by every process on the store: the 3 outer jobs hold 3 slots while
      # they wait for their nested jobs, which need slots of their own.
      AGENTICORE_MAX_PARALLEL_JOBS: "6"
YML
ids=()
for i in 1 2 3; do
  ids+=("$("$BIN" submit "use agenticore to run a job ($i)" --profile e2e-mcp 2>>"$TMP/j5.err")")
done
all_ok=1
for id in "${ids[@]}"; do
  if ! wait_status "$id" succeeded failed cancelled 120; then all_ok=0; continue; fi
  "$BIN" job "$id" --json >"$TMP/j5-$id.json"
  if [ "$(jget "$TMP/j5-$id.json" status)" != succeeded ] || [ -n "$(jget "$TMP/j5-$id.json" mcp_failures)" ] \
     || [ -n "$(jget "$TMP/j5-$id.json" permission_denials)" ]; then
    all_ok=0; bad "mcp job $id: $(head -c 600 "$TMP/j5-$id.json")"
  fi
done
nested="$("$BIN" jobs --json -n 100 | "$PY" -c 'import json,sys; print(sum(1 for j in json.load(sys.stdin)["jobs"] if j["task"]=="hello from claude" and j["status"]=="succeeded"))')"
if [ "$all_ok" = 1 ] && [ "$nested" = 3 ]; then
  ok "3 concurrent jobs with agenticore as their MCP server: tools called, 3 nested jobs ran"
else bad "mcp jobs: all_ok=$all_ok nested succeeded=$nested $(tail -5 "$TMP/j5.err")"; fi
stop_mock

# 6. The same over Streamable HTTP: a job whose MCP server is a running agenticore daemon
#    (with an API key); claude calls its tools over /mcp and the daemon runs the nested job.
start_mock "$SCRIPTS/mcp-jobs.json"
KEY="e2e-key-$RANDOM$RANDOM"
AGENTICORE_API_KEYS="$KEY" "$BIN" serve --port 0 >"$TMP/daemon.out" 2>"$TMP/daemon.err" &
DAEMON=$!
for _ in $(seq 100); do [ -s "$TMP/daemon.out" ] && break; sleep 0.05; done
DURL="$(head -1 "$TMP/daemon.out" | awk '{print $NF}')"
mkdir -p "$AGENTICORE_HOME/profiles/e2e-mcp-http"
cat >"$AGENTICORE_HOME/profiles/e2e-mcp-http/profile.yml" <<YML
extends: e2e
mcp_servers:
  agenticore:
    url: $DURL/mcp
    headers:
      X-API-Key: $KEY
YML
"$BIN" submit "use agenticore over http" --profile e2e-mcp-http --wait --json >"$TMP/j6.json" 2>"$TMP/j6.err"
rc=$?
nested="$("$BIN" jobs --json -n 100 | "$PY" -c 'import json,sys; print(sum(1 for j in json.load(sys.stdin)["jobs"] if j["task"]=="hello from claude" and j["status"]=="succeeded"))')"
if [ $rc -eq 0 ] && [ -z "$(jget "$TMP/j6.json" mcp_failures)" ] && [ "$nested" = 4 ] \
   && ! grep -q "$KEY" "$TMP/j6.json"; then
  ok "a job with the agenticore daemon as its MCP server over HTTP (API key): tools called, nested job ran"
else bad "mcp over http rc=$rc nested=$nested $(head -c 500 "$TMP/j6.json") $(tail -3 "$TMP/j6.err") $(tail -3 "$TMP/daemon.err")"; fi
kill "$DAEMON" 2>/dev/null; wait "$DAEMON" 2>/dev/null
stop_mock

# 7-11. API failures and streams, each one `submit --wait` with its own mock script and
#    CLAUDE_CODE_MAX_RETRIES (claude's default, 10 retries with backoff, takes minutes).
api_job() { # n retries script: job JSON in $TMP/j<n>.json, exit code in RC, seconds in SECS,
            # the statuses the mock answered (main requests, in order) in SEEN
  start_mock "$SCRIPTS/$3"
  local t0="$EPOCHREALTIME"
  CLAUDE_CODE_MAX_RETRIES="$2" "$BIN" submit "answer briefly" --profile e2e --wait --json \
    >"$TMP/j$1.json" 2>"$TMP/j$1.err"
  RC=$?
  SECS="$("$PY" -c "print(f'{$EPOCHREALTIME - $t0:.1f}')")"
  SEEN="$(mock_statuses)"
  stop_mock
}
answered() { # n script: whether job n's output is exactly the text of the script's first turn
  "$PY" - "$TMP/j$1.json" "$SCRIPTS/$2" <<'PY'
import json, sys
out = json.load(open(sys.argv[1]))["job"].get("output") or ""
try:
    out = json.loads(out)["result"]  # profiles with output_format: json store the result event
except (ValueError, KeyError, TypeError):
    pass
sys.exit(0 if out.strip() == json.load(open(sys.argv[2]))["turns"][0]["text"] else 1)
PY
}

# 7. A 429 on the first request: claude retries (1 retry allowed) and the job succeeds.
api_job 7 1 rate-limit-then-ok.json
if [ $RC -eq 0 ] && [ "$(jget "$TMP/j7.json" status)" = succeeded ] && [ "$SEEN" = "429/sse 200/sse" ] \
   && answered 7 rate-limit-then-ok.json; then
  ok "429 then ok: claude retried, job succeeded (mock answered $SEEN, ${SECS}s)"
else bad "429 then ok rc=$RC seen='$SEEN' $(head -c 600 "$TMP/j7.json") $(tail -3 "$TMP/j7.err")"; fi

# 8. A 529 that persists: retried once, still overloaded, the job fails naming it.
api_job 8 1 overloaded.json
err="$(jget "$TMP/j8.json" error)"
if [ $RC -eq 1 ] && [ "$(jget "$TMP/j8.json" status)" = failed ] && [ "$SEEN" = "529/sse 529/sse" ] \
   && echo "$err" | grep -q 529 && echo "$err" | grep -qi overloaded; then
  ok "529 overloaded: failed after 1 retry ($SEEN, ${SECS}s), error: $(echo "$err" | head -c 100)"
else bad "529 overloaded rc=$RC seen='$SEEN' err=$err $(tail -3 "$TMP/j8.err")"; fi

# 9. A 500 with x-should-retry: false: no retry even though 3 are allowed; the job fails.
api_job 9 3 server-error.json
err="$(jget "$TMP/j9.json" error)"
if [ $RC -eq 1 ] && [ "$(jget "$TMP/j9.json" status)" = failed ] && [ "$SEEN" = 500/sse ] \
   && echo "$err" | grep -q 500 && echo "$err" | grep -qi "internal server error"; then
  ok "500 with x-should-retry: false: failed without retry (${SECS}s), error: $(echo "$err" | head -c 100)"
else bad "500 rc=$RC seen='$SEEN' err=$err $(tail -3 "$TMP/j9.err")"; fi

# 10. A slow stream (1 s before it, 30 ms between ~60 SSE events): the whole text arrives.
api_job 10 0 slow-stream.json
if [ $RC -eq 0 ] && [ "$(jget "$TMP/j10.json" status)" = succeeded ] && [ "$SEEN" = 200/sse ] \
   && answered 10 slow-stream.json; then
  ok "slow stream: job succeeded with the complete text (${SECS}s)"
else bad "slow stream rc=$RC seen='$SEEN' $(head -c 800 "$TMP/j10.json") $(tail -3 "$TMP/j10.err")"; fi

# 11. A stream that breaks off with an error event: claude asks again, without streaming.
api_job 11 1 mid-stream-error.json
if [ $RC -eq 0 ] && [ "$(jget "$TMP/j11.json" status)" = succeeded ] && [ "$SEEN" = "200/sse 200/json" ] \
   && answered 11 mid-stream-error.json; then
  ok "error mid-stream: claude asked again ($SEEN), job succeeded with the whole text (${SECS}s)"
else bad "error mid-stream rc=$RC seen='$SEEN' $(head -c 600 "$TMP/j11.json") $(tail -3 "$TMP/j11.err")"; fi

# 12. Telemetry: an agenticore daemon with POSTGRES_URL is Claude's OTLP endpoint. Over
#    http/json with an API key (Claude sends the job's ingest token) and over http/protobuf
#    without keys (rows name their job by OTEL_RESOURCE_ATTRIBUTES), SELECT by job id gives
#    the job's cost, its token counts and its api_request / tool_result events.
#    PostgreSQL is reached over its unix socket (the loopback-only namespace cannot reach
#    127.0.0.1:5432 of the host) unless AGENTICORE_TEST_POSTGRES_URL names one.
PG_SOCKET_DIR="${PG_SOCKET_DIR:-/var/run/postgresql}"
if [ -n "${AGENTICORE_TEST_POSTGRES_URL:-}" ]; then PG_BASE="$AGENTICORE_TEST_POSTGRES_URL"
else PG_BASE="postgresql://postgres@$(printf %s "$PG_SOCKET_DIR" | sed 's|/|%2F|g')/test"; fi
PG_SCHEMA="agenticore_e2e_otel_$$"
pg() { psql "$PG_BASE" -v ON_ERROR_STOP=1 -tAqc "SET search_path TO $PG_SCHEMA; $1" 2>>"$TMP/psql.err"; }
mkdir -p "$AGENTICORE_HOME/profiles/e2e-traces"
cat >"$AGENTICORE_HOME/profiles/e2e-traces/profile.yml" <<'YML'
extends: e2e
env:
  OTEL_TRACES_EXPORTER: otlp
  CLAUDE_CODE_ENHANCED_TELEMETRY_BETA: "1"
YML
otel_job() { # n protocol key [profile]: one job against a fresh daemon; job JSON in $TMP/j<n>.json
  local n="$1" proto="$2" key="$3" profile="${4:-e2e}" port
  port="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  start_mock "$SCRIPTS/commit-a-file.json"
  AGENTICORE_API_KEYS="$key" POSTGRES_URL="$PG_BASE?options=-c%20search_path%3D$PG_SCHEMA" \
    AGENTICORE_OTEL_ENABLED=true OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$port" \
    OTEL_EXPORTER_OTLP_PROTOCOL="$proto" \
    "$BIN" serve --port "$port" >"$TMP/otel$n.out" 2>"$TMP/otel$n.err" &
  DAEMON=$!
  for _ in $(seq 100); do [ -s "$TMP/otel$n.out" ] && break; sleep 0.05; done
  AGENTICORE_URL="http://127.0.0.1:$port" AGENTICORE_API_KEY="$key" \
    "$BIN" submit "create hello.txt and commit it" --repo "$REPO" --profile "$profile" --wait --json \
    >"$TMP/j$n.json" 2>"$TMP/j$n.err"
  RC=$?
  JOB="$(jget "$TMP/j$n.json" id)"
}
otel_rows_ok() { # n: the job's rows add up to its cost; its events are there (waits up to 20 s)
  local n="$1" cost want got events tokens
  want="$(jget "$TMP/j$n.json" cost_usd)"
  for _ in $(seq 200); do
    got="$(pg "SELECT round(sum(value)::numeric, 6) FROM agenticore_otel_metrics WHERE job_id = '$JOB' AND name = 'claude_code.cost.usage'")"
    events="$(pg "SELECT string_agg(DISTINCT name, ',' ORDER BY name) FROM agenticore_otel_events WHERE job_id = '$JOB'")"
    tokens="$(pg "SELECT sum(value) FROM agenticore_otel_metrics WHERE job_id = '$JOB' AND name = 'claude_code.token.usage'")"
    [ -n "$got" ] && echo "$events" | grep -q api_request && echo "$events" | grep -q tool_result && break
    sleep 0.1
  done
  cost="$("$PY" -c 'import sys; print("%.6f" % float(sys.argv[1] or "nan"))' "$want" 2>/dev/null)"
  OTEL_SEEN="cost job=$want rows=$got tokens=$tokens events=$events"
  [ -n "$got" ] && [ "$got" = "$cost" ] && [ "${tokens:-0}" != 0 ] \
    && echo "$events" | grep -q api_request && echo "$events" | grep -q tool_result
}
if pg "SELECT 1" >/dev/null && psql "$PG_BASE" -qc "CREATE SCHEMA $PG_SCHEMA" 2>>"$TMP/psql.err"; then
  KEY="e2e-otel-$RANDOM$RANDOM"
  otel_job 12 http/json "$KEY"
  kill "$DAEMON" 2>/dev/null; wait "$DAEMON" 2>/dev/null; stop_mock
  if [ "$RC" -eq 0 ] && otel_rows_ok 12 && ! grep -q "$KEY" "$TMP/j12.json" \
     && ! grep -q "x-agenticore-job-token" "$TMP/j12.json"; then
    ok "Claude's OTEL over http/json to agenticore (job token): SELECT by job id gives its cost, tokens, events ($OTEL_SEEN)"
  else bad "otel http/json rc=$RC $OTEL_SEEN $(tail -3 "$TMP/j12.err") $(tail -5 "$TMP/otel12.err") $(tail -3 "$TMP/psql.err")"; fi
  otel_job 13 http/protobuf "" e2e-traces
  kill "$DAEMON" 2>/dev/null; wait "$DAEMON" 2>/dev/null; stop_mock
  spans="$(pg "SELECT count(*) FILTER (WHERE name = 'claude_code.llm_request') || '/' || count(*) FROM agenticore_otel_spans WHERE job_id = '$JOB' AND trace_id <> ''")"
  if [ "$RC" -eq 0 ] && otel_rows_ok 13 && [ "${spans%%/*}" -gt 0 ] 2>/dev/null; then
    ok "Claude's OTEL over http/protobuf to agenticore (resource attributes): SELECT by job id gives its cost, tokens, events, spans ($OTEL_SEEN spans(llm/all)=$spans)"
  else bad "otel http/protobuf rc=$RC $OTEL_SEEN spans=$spans $(tail -3 "$TMP/j13.err") $(tail -5 "$TMP/otel13.err") $(tail -3 "$TMP/psql.err")"; fi
  psql "$PG_BASE" -qc "DROP SCHEMA $PG_SCHEMA CASCADE" 2>>"$TMP/psql.err"
else
  bad "telemetry: no PostgreSQL at $PG_BASE (set AGENTICORE_TEST_POSTGRES_URL): $(tail -3 "$TMP/psql.err")"
fi

echo "$PASS passed, $FAIL failed"
[ -z "${KEEP_TMP:-}" ] && rm -rf "$TMP"
[ "$FAIL" -eq 0 ]
