#!/bin/sh
# Installs the keyrack binary (SPEC §2.4).
#
#   curl -fsSL <release-url>/install.sh | sh                 latest release
#   curl -fsSL <release-url>/install.sh | sh -s -- --version v0.1.0
#   ./install.sh --from-source                               build this checkout with Bun
#
# It picks the asset for this machine: keyrack-<linux|darwin>-<x64|arm64>, with -musl on musl libc
# (Alpine), and the native arm64 binary for an x64 shell under Rosetta 2 on Apple silicon. A
# downloaded binary is installed only if its SHA-256 matches the release's SHA256SUMS; when the
# sums are missing, do not list the binary, or no sha256 tool exists, it fails closed. Running it
# again with the same release changes nothing (the installed binary's SHA-256 already matches).
# It never edits shell rc files: when the install dir is not on PATH it prints the line to add.
set -eu

DEFAULT_RELEASE_URL='https://github.com/ehmpathy/keyrack/releases'

if [ -t 2 ]; then Red='\033[0;31m'; Off='\033[0m'; else Red=''; Off=''; fi

error() {
  printf "${Red}error${Off}: %s\n" "$*" >&2
  exit 1
}

# shows $HOME as ~ in messages
tildify() {
  case $1 in
    "$HOME"/*) printf '~%s' "${1#"$HOME"}" ;;
    *) printf '%s' "$1" ;;
  esac
}

usage() {
  cat <<EOF
Install keyrack, the credential firewall.

usage: install.sh [--version vX.Y.Z] [--no-modify-path]
       install.sh --from-source [--no-modify-path]

  --version vX.Y.Z   install this release instead of the latest
  --from-source      build this checkout with Bun (runs npm ci if node_modules is missing)
  --no-modify-path   never edit shell rc files (the default: the PATH line is only printed)
  -h, --help         show this help

environment:
  KEYRACK_INSTALL_DIR   where to install (default: ~/.local/bin)
  KEYRACK_RELEASE_URL   releases base URL (default: $DEFAULT_RELEASE_URL)
                        binaries come from <url>/latest/download/<asset>
                        or <url>/download/<version>/<asset>
EOF
}

mode=download
version=''
while [ $# -gt 0 ]; do
  case $1 in
    --from-source) mode=source ;;
    --version)
      [ $# -ge 2 ] || error "--version needs a value, e.g. --version v0.1.0"
      version=$2
      shift
      ;;
    --version=*) version=${1#--version=} ;;
    --no-modify-path) ;; # the only behaviour: rc files are never edited
    -h | --help)
      usage
      exit 0
      ;;
    *) error "unknown option '$1' (see: install.sh --help)" ;;
  esac
  shift
done

[ -n "${HOME:-}" ] || error "HOME is not set"
install_dir=${KEYRACK_INSTALL_DIR:-$HOME/.local/bin}
release_url=${KEYRACK_RELEASE_URL:-$DEFAULT_RELEASE_URL}
release_url=${release_url%/}

tmp=$(mktemp -d 2>/dev/null || mktemp -d -t keyrack) || error "Failed to create a temp directory"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# copies $1 to $install_dir/keyrack, 0755, replacing any previous binary atomically
install_binary() {
  mkdir -p "$install_dir" || error "Failed to create $(tildify "$install_dir")"
  cp "$1" "$install_dir/.keyrack.tmp.$$" || error "Failed to copy keyrack into $(tildify "$install_dir")"
  chmod 0755 "$install_dir/.keyrack.tmp.$$" || error "Failed to make keyrack executable"
  mv -f "$install_dir/.keyrack.tmp.$$" "$install_dir/keyrack" || error "Failed to move keyrack into $(tildify "$install_dir")"
}

# prints the SHA-256 of $1; fails closed when no tool can compute it
sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | awk '{ print $1 }'
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | awk '{ print $1 }'
  else
    error "neither sha256sum nor shasum is installed; cannot verify keyrack, refusing to install"
  fi
}

# musl libc (Alpine, Void musl, …): the glibc binary would not start there
is_musl() {
  if command -v ldd >/dev/null 2>&1; then
    ldd --version 2>&1 | grep -qi musl && return 0
    ldd --version 2>&1 | grep -qiE 'glibc|gnu libc' && return 1
  fi
  [ -f /etc/alpine-release ] && return 0
  for loader in /lib/ld-musl-*.so.1; do [ -e "$loader" ] && return 0; done
  return 1
}

if [ "$mode" = source ]; then
  [ -z "$version" ] || error "--version and --from-source cannot be combined (a checkout builds its own version)"
  src=$(CDPATH='' cd -- "$(dirname -- "$0")" 2>/dev/null && pwd) || src=''
  [ -n "$src" ] && [ -f "$src/build.ts" ] || src=$PWD
  [ -f "$src/build.ts" ] && [ -f "$src/package.json" ] ||
    error "--from-source must run inside a keyrack checkout (no build.ts in $(tildify "$src"))"
  cd "$src" || error "Failed to enter $(tildify "$src")"
  command -v npm >/dev/null 2>&1 || error "npm is required to build from source (install Node.js)"
  if [ ! -d node_modules ]; then
    echo "installing dependencies (npm ci)"
    npm ci --no-audit --no-fund || error "Failed to install dependencies (npm ci)"
  fi
  # the Bun pinned in package.json (what `npx bun` would run), without npx's network fallback
  [ -x node_modules/.bin/bun ] || error "node_modules/.bin/bun is missing; run: rm -rf node_modules && npm ci"
  echo "building keyrack (bun run build.ts --single)"
  node_modules/.bin/bun run build.ts --single || error "Failed to build keyrack (bun run build.ts --single)"
  [ -f dist/keyrack ] || error "Failed to build keyrack: dist/keyrack is missing"
  install_binary dist/keyrack
else
  command -v curl >/dev/null 2>&1 || error "curl is required to download keyrack"

  case $(uname -s) in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) error "unsupported OS '$(uname -s)': keyrack ships binaries for Linux and macOS (or build from a checkout: ./install.sh --from-source)" ;;
  esac
  case $(uname -m) in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) error "unsupported CPU '$(uname -m)': keyrack ships binaries for x64 and arm64" ;;
  esac
  # an x64 shell under Rosetta 2 on Apple silicon reports x86_64: install the native arm64 binary
  if [ "$os" = darwin ] && [ "$arch" = x64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || true)" = 1 ]; then
    arch=arm64
    echo "Rosetta 2 detected: installing the native arm64 binary"
  fi
  suffix=''
  if [ "$os" = linux ] && is_musl; then
    suffix=-musl
  fi

  asset=keyrack-$os-$arch$suffix
  if [ -n "$version" ]; then
    case $version in v*) ;; *) version=v$version ;; esac
    base=$release_url/download/$version
  else
    base=$release_url/latest/download
  fi

  curl --fail --location --silent --show-error --output "$tmp/SHA256SUMS" "$base/SHA256SUMS" ||
    error "Failed to download SHA256SUMS from $base (does release ${version:-latest} exist? see $release_url); refusing to install an unverified binary"
  expected=$(awk -v f="$asset" '$2 == f || $2 == "*" f { print $1; exit }' "$tmp/SHA256SUMS") ||
    error "Failed to read SHA256SUMS"
  [ -n "$expected" ] || error "SHA256SUMS does not list $asset; refusing to install an unverified binary"
  case $expected in
    *[!0-9a-f]* | '') error "SHA256SUMS has a malformed entry for $asset; refusing to install" ;;
  esac
  [ ${#expected} -eq 64 ] || error "SHA256SUMS has a malformed entry for $asset; refusing to install"

  if [ -f "$install_dir/keyrack" ] && [ "$(sha256 "$install_dir/keyrack")" = "$expected" ]; then
    # the same verified binary is already there: nothing to download, nothing to change
    echo "$asset ${version:-latest} is already installed at $(tildify "$install_dir/keyrack") (SHA-256 matches)"
  else
    echo "downloading $asset from $base"
    curl --fail --location --silent --show-error --output "$tmp/$asset" "$base/$asset" ||
      error "Failed to download $asset from $base"
    actual=$(sha256 "$tmp/$asset")
    [ "$actual" = "$expected" ] ||
      error "SHA-256 mismatch for $asset (expected $expected, got $actual); refusing to install"
    echo "verified SHA-256 of $asset"
    install_binary "$tmp/$asset"
  fi
fi

if ! installed=$("$install_dir/keyrack" --version 2>&1); then
  # the file is the verified release binary; it just cannot start here
  case ${suffix:-} in
    -musl) why="musl builds need the C++ runtime: apk add libstdc++ libgcc" ;;
    *) why="is this machine really ${os:-this os}/${arch:-this cpu}? check \`uname -sm\`" ;;
  esac
  error "installed $(tildify "$install_dir/keyrack"), but it does not start on this machine ($why)"
fi
echo "installed keyrack $installed to $(tildify "$install_dir/keyrack")"

case ":${PATH:-}:" in
  *":$install_dir:"* | *":$install_dir/:"*) ;;
  *)
    case $install_dir in
      "$HOME"/*) path_line="export PATH=\"\$HOME${install_dir#"$HOME"}:\$PATH\"" ;;
      *) path_line="export PATH=\"$install_dir:\$PATH\"" ;;
    esac
    echo
    echo "$(tildify "$install_dir") is not on your PATH; add this line to your shell's rc file:"
    echo
    echo "  $path_line"
    ;;
esac

echo
echo "To get started, run:"
echo
echo "  keyrack --help"
