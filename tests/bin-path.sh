#!/usr/bin/env bash
# Prints the path of the agenticore binary that cargo builds for a profile, for the test and
# bench scripts:
#
#   BIN="$(bash tests/bin-path.sh [debug|release])"      (default: debug)
#
# $AGENTICORE_BIN when set; else <target dir>/<profile>/agenticore, where the target dir is
# $CARGO_TARGET_DIR, else what `cargo metadata` says (it also knows build.target-dir from
# .cargo/config.toml), else the project's ./target.
set -u
if [ -n "${AGENTICORE_BIN:-}" ]; then echo "$AGENTICORE_BIN"; exit 0; fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${CARGO_TARGET_DIR:-}"
if [ -z "$dir" ]; then
  dir="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null)"
fi
case "$dir" in
  "") dir="$ROOT/target" ;;
  /*) ;;
  *) dir="$ROOT/$dir" ;;  # relative: to the project, where the scripts run cargo build
esac
echo "$dir/${1:-debug}/agenticore"
