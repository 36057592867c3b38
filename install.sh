#!/usr/bin/env sh
# Build agenticore and install it, with its shell completions and man pages, under a prefix.
#
#   ./install.sh                      build (release) and install under ~/.local
#   ./install.sh --prefix /usr/local  system-wide (run as root, or with sudo)
#   ./install.sh --uninstall          remove what an earlier run installed under the prefix
#   ./install.sh --bin PATH           install an already built binary instead of building
#
# Running it again upgrades in place. `cargo install --path .` also works (binary only).
set -eu

PREFIX="${PREFIX:-$HOME/.local}"
ACTION=install
BIN=""

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
}

die() {
  echo "install.sh: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX="$2"; shift 2 ;;
    --prefix=*) PREFIX="${1#--prefix=}"; shift ;;
    --bin) [ $# -ge 2 ] || die "--bin needs a path"; BIN="$2"; shift 2 ;;
    --bin=*) BIN="${1#--bin=}"; shift ;;
    --uninstall) ACTION=uninstall; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
[ -n "$PREFIX" ] || die "--prefix is empty"
case "$PREFIX" in /*) ;; *) PREFIX="$(pwd)/$PREFIX" ;; esac

BIN_DIR="$PREFIX/bin"
SHARE="$PREFIX/share"
MAN_DIR="$SHARE/man/man1"
BASH_DIR="$SHARE/bash-completion/completions"
ZSH_DIR="$SHARE/zsh/site-functions"
FISH_DIR="$SHARE/fish/vendor_completions.d"
OTHER_DIR="$SHARE/agenticore/completions"   # elvish and powershell: sourced by hand
MANIFEST="$SHARE/agenticore/install-manifest"

if [ "$ACTION" = uninstall ]; then
  [ -f "$MANIFEST" ] || die "nothing to uninstall: no $MANIFEST (was agenticore installed with --prefix $PREFIX?)"
  n=0
  while IFS= read -r f; do
    case "$f" in "$PREFIX"/*) ;; *) continue ;; esac   # only ever files under the prefix
    if [ -e "$f" ] || [ -L "$f" ]; then rm -f -- "$f"; n=$((n + 1)); fi
  done <"$MANIFEST"
  rm -f -- "$MANIFEST"
  rmdir "$OTHER_DIR" "$SHARE/agenticore" 2>/dev/null || true
  echo "removed $n files of agenticore from $PREFIX"
  echo "(your jobs, logs and profiles in ~/.agenticore and the clone cache are kept)"
  exit 0
fi

command -v git >/dev/null 2>&1 || die "git is not installed; agenticore needs it to run jobs on repositories.
  Debian/Ubuntu: sudo apt-get install git    Fedora: sudo dnf install git    macOS: xcode-select --install"

SRC="$(cd "$(dirname "$0")" && pwd)"
if [ -z "$BIN" ]; then
  command -v cargo >/dev/null 2>&1 || die "cargo is not installed (or not on PATH); it builds agenticore.
  Install Rust from https://rustup.rs:  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh
  then open a new shell (or: . \"\$HOME/.cargo/env\") and run ./install.sh again."
  [ -f "$SRC/Cargo.toml" ] || die "run install.sh from the agenticore source tree (no Cargo.toml in $SRC)"
  echo "building agenticore (release; the first build takes a few minutes)..."
  (cd "$SRC" && cargo build --release --locked --bin agenticore) || die "the build failed (see above)"
  # Where cargo put it: CARGO_TARGET_DIR, build.target-dir, or ./target; cargo knows.
  target_dir="$(cd "$SRC" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
  BIN="${target_dir:-$SRC/target}/release/agenticore"
fi
[ -x "$BIN" ] || die "no agenticore binary at $BIN"
version="$("$BIN" version)" || die "$BIN does not run"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/agenticore-install.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT INT TERM
"$BIN" completions --out "$tmp/completions" >/dev/null || die "cannot generate the completions"
"$BIN" man --out "$tmp/man" >/dev/null || die "cannot generate the man pages"

mkdir -p "$BIN_DIR" "$MAN_DIR" "$BASH_DIR" "$ZSH_DIR" "$FISH_DIR" "$OTHER_DIR" \
  || die "cannot create directories under $PREFIX (try sudo, or --prefix)"
: >"$tmp/manifest"
put() { # mode source destination
  # Copy then rename: a running agenticore keeps its old binary, never a half-written one.
  cp -- "$2" "$3.new.$$" && chmod "$1" "$3.new.$$" && mv -f -- "$3.new.$$" "$3" \
    || die "cannot write $3"
  echo "$3" >>"$tmp/manifest"
}
put 755 "$BIN" "$BIN_DIR/agenticore"
for page in "$tmp"/man/*.1; do put 644 "$page" "$MAN_DIR/$(basename "$page")"; done
put 644 "$tmp/completions/agenticore.bash" "$BASH_DIR/agenticore"
put 644 "$tmp/completions/_agenticore" "$ZSH_DIR/_agenticore"
put 644 "$tmp/completions/agenticore.fish" "$FISH_DIR/agenticore.fish"
put 644 "$tmp/completions/agenticore.elv" "$OTHER_DIR/agenticore.elv"
put 644 "$tmp/completions/_agenticore.ps1" "$OTHER_DIR/_agenticore.ps1"
# Files of an earlier install that this version no longer has (a removed man page).
if [ -f "$MANIFEST" ]; then
  while IFS= read -r f; do
    case "$f" in "$PREFIX"/*) ;; *) continue ;; esac
    grep -qxF -- "$f" "$tmp/manifest" || rm -f -- "$f"
  done <"$MANIFEST"
fi
cp "$tmp/manifest" "$MANIFEST"

echo "installed $version under $PREFIX:"
echo "  $BIN_DIR/agenticore"
echo "  $MAN_DIR/agenticore.1 and $(($(ls "$tmp"/man | wc -l) - 1)) pages, one per command"
echo "  completions: $BASH_DIR/agenticore, $ZSH_DIR/_agenticore, $FISH_DIR/agenticore.fish"
echo

case ":$PATH:" in
  *":$BIN_DIR:"*) ;;
  *) echo "NOTE: $BIN_DIR is not on your PATH. Add to your shell's rc file:"
     echo "  export PATH=\"$BIN_DIR:\$PATH\""
     echo ;;
esac

echo "Completions (once per shell; they call agenticore from PATH):"
echo "  bash: loaded by bash-completion from $BASH_DIR when that package is installed;"
echo "        otherwise add to ~/.bashrc:  source $BASH_DIR/agenticore"
echo "  zsh:  add to ~/.zshrc before compinit:  fpath=($ZSH_DIR \$fpath)"
echo "  fish: add to config.fish:  set -p fish_complete_path $FISH_DIR"
echo "  elvish / powershell: source the scripts in $OTHER_DIR"
echo "Manual: man agenticore   (if man does not find it: export MANPATH=\"$SHARE/man:\$MANPATH\")"
echo "Try:    agenticore --help"
