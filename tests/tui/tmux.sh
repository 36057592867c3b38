#!/usr/bin/env bash
# The dashboard in a real terminal (tmux): against a sandbox store holding finished and running
# jobs, it moves, filters, opens a job's detail, cancels the running job with `c` + `y` (the job
# really ends cancelled and none of its processes is left), and quits with `q` (exit 0, the
# alternate screen left, the shell prompt back). Also: without a terminal it prints the help;
# and the same against a `serve` daemon with an API key (AGENTICORE_URL), including the daemon
# going away (an error in the status line, the dashboard stays) and coming back (it recovers).
#
#   bash tests/tui/tmux.sh        (needs tmux, python3; builds nothing: run `cargo build` first)
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$(bash "$ROOT/tests/bin-path.sh")"
FAILED=0
ok() { echo "ok - $*"; }
fail() { echo "FAIL - $*"; FAILED=1; }
[ -x "$BIN" ] || { echo "FAIL - no binary at $BIN (run cargo build)"; exit 1; }
command -v tmux >/dev/null || { echo "FAIL - tmux is not installed"; exit 1; }

SANDBOX="$(mktemp -d /tmp/agenticore-tui.XXXXXX)"
SOCK="$SANDBOX/tmux.sock"
T="tmux -S $SOCK"
cleanup() {
  $T kill-server 2>/dev/null
  # Whatever a failed run left behind in the sandbox.
  for p in $(pids_with "AGENTICORE_HOME=$SANDBOX/home"); do kill -9 "$p" 2>/dev/null; done
  rm -rf "$SANDBOX"
}
trap cleanup EXIT
export AGENTICORE_HOME="$SANDBOX/home" AGENTICORE_PORT=1 \
  AGENTICORE_CLAUDE_BINARY="$ROOT/tests/fixtures/fake-claude"
unset AGENTICORE_URL

screen() { $T capture-pane -p -t tui; }
# pids_with VAR=VALUE: the processes whose environment holds exactly that entry.
pids_with() {
  local e p
  for e in /proc/[0-9]*/environ; do
    if { tr '\0' '\n' <"$e"; } 2>/dev/null | grep -qxF -- "$1"; then
      p="${e#/proc/}"; echo "${p%/environ}"
    fi
  done
}
# wait_for TEXT [SECONDS]: until the screen shows TEXT.
wait_for() {
  local deadline=$((SECONDS + ${2:-10}))
  while [ $SECONDS -lt $deadline ]; do
    screen | grep -qF -- "$1" && return 0
    sleep 0.2
  done
  return 1
}
job_status() { "$BIN" job "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["status"])'; }

# --- no terminal: the help, exit 0, at once
out="$(timeout 10 "$BIN" </dev/null 2>&1)"; rc=$?
if [ $rc -eq 0 ] && grep -q "Usage:" <<<"$out"; then ok "no terminal: prints the help and exits 0"; else fail "no terminal: rc=$rc: $out"; fi
out="$(timeout 10 "$BIN" tui 2>&1 | cat)"; rc=${PIPESTATUS[0]}
if [ $rc -eq 0 ] && grep -q "Usage:" <<<"$out"; then ok "tui with stdout piped: prints the help and exits 0"; else fail "tui piped: rc=$rc"; fi

# --- a store with finished and running jobs
done_id="$("$BIN" submit "finished one [fake:sleep=0]" 2>/dev/null)"
fail_id="$("$BIN" submit "broken one [fake:exit=3]" 2>/dev/null)"
for _ in $(seq 50); do
  s1="$(job_status "$done_id")"; s2="$(job_status "$fail_id")"
  [ "$s1" = succeeded ] && [ "$s2" = failed ] && break
  sleep 0.2
done
[ "$s1" = succeeded ] && [ "$s2" = failed ] && ok "sandbox: a succeeded and a failed job" || fail "sandbox jobs: $s1 $s2"
run_id="$("$BIN" submit "long runner [fake:sleep=60;child=600]" 2>/dev/null)"
for _ in $(seq 50); do [ "$(job_status "$run_id")" = running ] && break; sleep 0.2; done
[ "$(job_status "$run_id")" = running ] && ok "sandbox: a running job" || fail "the job did not start"
short="$(echo "$run_id" | tr -d - | tail -c 9)"

# --- the dashboard
$T -f /dev/null new-session -d -s tui -x 120 -y 30 "env -i PATH=$PATH HOME=$HOME TERM=xterm-256color AGENTICORE_HOME=$AGENTICORE_HOME AGENTICORE_PORT=1 AGENTICORE_CLAUDE_BINARY=$AGENTICORE_CLAUDE_BINARY bash --norc --noprofile"
$T send-keys -t tui "PS1='PROMPT> '" Enter
$T send-keys -t tui "$BIN; echo \"EXIT=\$?\"" Enter
if wait_for "long runner" 15 && wait_for "broken one" 2; then ok "the list shows the jobs"; else fail "list: $(screen)"; fi
wait_for "1 running" 5 && ok "the header shows the load" || fail "header: $(screen | head -1)"
[ "$($T display -p -t tui '#{alternate_on}')" = 1 ] && ok "the dashboard is on the alternate screen" || fail "not on the alternate screen"

# A job submitted from another shell appears by itself.
new_id="$("$BIN" submit "from another shell [fake:sleep=0]" 2>/dev/null)"
wait_for "from another shell" 5 && ok "a job submitted elsewhere appears within a second or so" || fail "the new job did not appear"

$T send-keys -t tui j; sleep 0.3; $T send-keys -t tui k; sleep 0.3
$T send-keys -t tui 5
if wait_for "broken one" 3 && ! screen | grep -q "long runner"; then ok "filter: failed jobs only"; else fail "filter: $(screen)"; fi
$T send-keys -t tui 1
wait_for "long runner" 3 && ok "filter: all again" || fail "filter all"
$T send-keys -t tui / l o n g
if wait_for "long runner" 3 && sleep 0.5 && ! screen | grep -q "broken one"; then ok "search narrows the list"; else fail "search: $(screen)"; fi
$T send-keys -t tui Enter
$T send-keys -t tui Enter
if wait_for "job $run_id" 3 && wait_for "worktree" 2; then ok "Enter opens the detail"; else fail "detail: $(screen)"; fi
wait_for "following" 3 && ok "the detail follows the log" || fail "log: $(screen)"

# Cancel: c asks, y does it.
before="$(pids_with "AGENTICORE_JOB_ID=$run_id" | wc -l)"
[ "$before" -ge 2 ] && ok "the running job has $before processes (claude and its setsid child)" || fail "only $before processes carry the job id"
$T send-keys -t tui c
wait_for "Cancel job $short?" 3 && ok "c asks for confirmation" || fail "confirm: $(screen)"
$T send-keys -t tui y
for _ in $(seq 100); do [ "$(job_status "$run_id")" = cancelled ] && break; sleep 0.2; done
[ "$(job_status "$run_id")" = cancelled ] && ok "the job ended cancelled" || fail "status: $(job_status "$run_id")"
wait_for "cancelled" 5 && ok "the dashboard shows it cancelled" || fail "screen after cancel: $(screen)"
left=""
for _ in $(seq 50); do
  left="$(pids_with "AGENTICORE_JOB_ID=$run_id" | tr '\n' ' ')"
  [ -z "$left" ] && break
  sleep 0.2
done
[ -z "$left" ] && ok "no process of the cancelled job is left" || fail "processes left:$left"

# q goes back to the list, q again quits.
$T send-keys -t tui q
wait_for "STATUS" 3 && ok "q goes back to the list" || fail "back: $(screen)"
$T send-keys -t tui Escape   # clears the search
sleep 0.3
$T send-keys -t tui q
if wait_for "EXIT=0" 5; then ok "q quits with exit status 0"; else fail "quit: $(screen)"; fi
wait_for "PROMPT> " 2 && ok "the shell prompt is back" || fail "no prompt: $(screen)"
[ "$($T display -p -t tui '#{alternate_on}')" = 0 ] && ok "the alternate screen is left" || fail "still on the alternate screen"

# SIGTERM restores the terminal too.
$T send-keys -t tui "$BIN; echo \"EXIT=\$?\"" Enter
wait_for "from another shell" 10
pid="$(pgrep -n -f "^$BIN\$")"
if [ -n "$pid" ]; then
  kill -TERM "$pid"
  wait_for "EXIT=0" 5 && [ "$($T display -p -t tui '#{alternate_on}')" = 0 ] && ok "SIGTERM: exits 0 with the terminal restored" || fail "SIGTERM: $(screen)"
else
  fail "cannot find the dashboard's pid"
fi

# --- against a daemon with an API key: the dashboard is a client of its REST API (its own
# AGENTICORE_HOME is empty, so every job it shows comes from the daemon).
DPORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
KEY="tui-key-$RANDOM$RANDOM"
DURL="http://127.0.0.1:$DPORT"
DAEMON=""
start_daemon() {
  AGENTICORE_HOME="$SANDBOX/daemon-home" AGENTICORE_API_KEYS="$KEY" \
    "$BIN" serve --port "$DPORT" >>"$SANDBOX/daemon.out" 2>>"$SANDBOX/daemon.err" &
  DAEMON=$!
  for _ in $(seq 100); do curl -sf "$DURL/health" >/dev/null && return 0; sleep 0.05; done
  return 1
}
remote() { AGENTICORE_URL="$DURL" AGENTICORE_API_KEY="$KEY" "$BIN" "$@"; }
remote_status() { remote job "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["status"])'; }
start_daemon || fail "the daemon did not start: $(cat "$SANDBOX/daemon.err")"
rdone="$(remote submit "remote finished [fake:sleep=0]" 2>/dev/null)"
rrun="$(remote submit "remote runner [fake:sleep=60;child=600]" 2>/dev/null)"
for _ in $(seq 50); do [ "$(remote_status "$rrun")" = running ] && break; sleep 0.2; done
[ "$(remote_status "$rrun")" = running ] && ok "daemon: a running job" || fail "daemon: the job did not start"
rshort="$(echo "$rrun" | tr -d - | tail -c 9)"
$T send-keys -t tui "env AGENTICORE_HOME=$SANDBOX/client-home AGENTICORE_URL=$DURL AGENTICORE_API_KEY=$KEY $BIN; echo \"EXIT=\$?\"" Enter
if wait_for "remote runner" 15 && wait_for "remote finished" 2; then ok "daemon: the list shows the daemon's jobs"; else fail "daemon list: $(screen)"; fi
screen | head -1 | grep -qF "$DPORT" && ok "daemon: the header names the daemon" || fail "daemon header: $(screen | head -1)"
! screen | grep -q "long runner" && ok "daemon: nothing of the local store is shown" || fail "daemon: local jobs shown"
remote submit "remote later [fake:sleep=0]" >/dev/null 2>&1
wait_for "remote later" 5 && ok "daemon: a job submitted elsewhere appears" || fail "daemon: new job not shown: $(screen)"
$T send-keys -t tui / r u n n e r
sleep 0.5
$T send-keys -t tui Enter
$T send-keys -t tui Enter
wait_for "job $rrun" 5 && ok "daemon: Enter opens the detail" || fail "daemon detail: $(screen)"
$T send-keys -t tui c
wait_for "Cancel job $rshort?" 3 && ok "daemon: c asks" || fail "daemon confirm: $(screen)"
$T send-keys -t tui y
for _ in $(seq 100); do [ "$(remote_status "$rrun")" = cancelled ] && break; sleep 0.2; done
[ "$(remote_status "$rrun")" = cancelled ] && ok "daemon: the job ended cancelled" || fail "daemon status: $(remote_status "$rrun")"
left=""
for _ in $(seq 50); do
  left="$(pids_with "AGENTICORE_JOB_ID=$rrun" | tr '\n' ' ')"
  [ -z "$left" ] && break
  sleep 0.2
done
[ -z "$left" ] && ok "daemon: no process of the cancelled job is left" || fail "daemon: processes left:$left"
$T send-keys -t tui q
wait_for "STATUS" 3
$T send-keys -t tui Escape   # clears the search
sleep 0.3
# The daemon goes away: the dashboard says so and stays up; it comes back: the dashboard recovers.
kill -9 "$DAEMON"; wait "$DAEMON" 2>/dev/null
sleep 3
if screen | grep -q "STATUS" && screen | grep -qiE "unreachable|cannot|error|refused"; then
  ok "daemon gone: an error in the status line, the dashboard stays"
else fail "daemon gone: $(screen)"; fi
start_daemon || fail "the daemon did not restart"
remote submit "after the restart [fake:sleep=0]" >/dev/null 2>&1
wait_for "after the restart" 8 && ok "daemon back: the dashboard recovers by itself" || fail "no recovery: $(screen)"
$T send-keys -t tui q
wait_for "EXIT=0" 5 && ok "daemon: q quits with exit status 0" || fail "daemon quit: $(screen)"
kill "$DAEMON" 2>/dev/null; wait "$DAEMON" 2>/dev/null

exit $FAILED
