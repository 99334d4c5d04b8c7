#!/usr/bin/env bash
# Install step of the keyrack GitHub Action (action.yml): puts a keyrack binary on the job's
# PATH and names it in the step output `bin`.
#
# Which keyrack (the `version` input):
#   (empty, the default)  the action's own ref when that is a release tag (`uses: ehmpathy/keyrack@v0.2.0`
#                         installs release v0.2.0); any other ref (a branch, a commit sha) builds the
#                         action's own checkout, which is exactly the code that ref names
#   v1.2.3 / 1.2.3        that release
#   latest                the latest release
#   source                build the action's checkout with `install.sh --from-source` (needs Node.js)
#
# A release is downloaded by install.sh, so it is verified against the release's SHA256SUMS and
# refused on any mismatch, exactly as `curl … | sh` on a laptop. A verified release binary is kept in
# the runner's tool cache ($RUNNER_TOOL_CACHE/keyrack/<version>/<arch>/, with the `<arch>.complete`
# marker @actions/tool-cache uses), so later jobs on the same runner skip the download; a cached
# binary is used only if it still has the SHA-256 recorded when it was verified.
#
# environment (the action sets these; inputs arrive as env vars, never pasted into the script):
#   KEYRACK_ACTION_VERSION     the `version` input
#   KEYRACK_ACTION_REF         the action's ref (github.action_ref; GITHUB_ACTION_REF as a fallback)
#   KEYRACK_ACTION_REPOSITORY  the action's repository (github.action_repository), whose releases to use
#   GITHUB_SERVER_URL          https://github.com (or a GitHub Enterprise server)
#   GITHUB_ACTION_PATH, RUNNER_TEMP, RUNNER_TOOL_CACHE, RUNNER_ARCH   set by the runner
#   GITHUB_PATH, GITHUB_OUTPUT  workflow files the runner reads after the step
set -euo pipefail

# an input is never echoed raw into a workflow command
clean() { printf '%s' "${1//[^A-Za-z0-9._-]/?}"; }
fail() {
  echo "::error title=keyrack::$1"
  exit "${2:-1}"
}

action_path=${GITHUB_ACTION_PATH:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)}
requested=${KEYRACK_ACTION_VERSION:-}
own_ref=${KEYRACK_ACTION_REF:-${GITHUB_ACTION_REF:-}}
semver='^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$'

if [ -z "$requested" ]; then
  if [[ $own_ref =~ $semver ]]; then
    requested=$own_ref
  else
    echo "keyrack: the action runs at ref '$(clean "${own_ref:-unknown}")', which is not a release tag: building keyrack from the action's checkout (pin a release tag, e.g. ehmpathy/keyrack@v0.2.0, to install a release binary)"
    requested=source
  fi
fi

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | awk '{ print $1 }'; else shasum -a 256 "$1" | awk '{ print $1 }'; fi
}

publish() {
  [ -z "${GITHUB_PATH:-}" ] || echo "$1" >>"$GITHUB_PATH"
  [ -z "${GITHUB_OUTPUT:-}" ] || echo "bin=$1/keyrack" >>"$GITHUB_OUTPUT"
  echo "keyrack: $("$1/keyrack" --version)"
}

if [ "$requested" = source ]; then
  install_dir=${RUNNER_TEMP:-/tmp}/keyrack/bin
  KEYRACK_INSTALL_DIR=$install_dir "$action_path/install.sh" --from-source
  publish "$install_dir"
  exit 0
fi

if [ "$requested" != latest ] && ! [[ $requested =~ $semver ]]; then
  fail "version '$(clean "$requested")' is not a release (e.g. v0.2.0), \`latest\` or \`source\`" 2
fi

repository=${KEYRACK_ACTION_REPOSITORY:-ehmpathy/keyrack}
[[ $repository =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || fail "the action repository '$(clean "$repository")' is not owner/name" 2
export KEYRACK_RELEASE_URL=${GITHUB_SERVER_URL:-https://github.com}/$repository/releases

arch=$(printf '%s' "${RUNNER_ARCH:-$(uname -m)}" | tr '[:upper:]' '[:lower:]')
case $arch in x86_64 | amd64) arch=x64 ;; aarch64) arch=arm64 ;; esac

# a release already verified on this runner: use it if it is byte for byte what was verified
if [ "$requested" != latest ] && [ -n "${RUNNER_TOOL_CACHE:-}" ]; then
  version=${requested#v}
  cached=$RUNNER_TOOL_CACHE/keyrack/$version/$arch
  if [ -f "$cached.complete" ] && [ -x "$cached/keyrack" ] && [ -f "$cached/keyrack.sha256" ] &&
    [ "$(sha256 "$cached/keyrack")" = "$(cat "$cached/keyrack.sha256")" ]; then
    echo "keyrack: v$version from the runner's tool cache ($cached)"
    publish "$cached"
    exit 0
  fi
fi

download=${RUNNER_TEMP:-/tmp}/keyrack/download
rm -rf "$download"
args=()
[ "$requested" = latest ] || args=(--version "$requested")
if ! KEYRACK_INSTALL_DIR=$download "$action_path/install.sh" "${args[@]}"; then
  fail "could not install keyrack $(clean "$requested") from $KEYRACK_RELEASE_URL (see the log above; nothing was installed)"
fi

[ -n "${RUNNER_TOOL_CACHE:-}" ] || { publish "$download"; exit 0; }
# the version the binary reports decides the cache folder (`latest` resolves here)
version=$("$download/keyrack" --version | awk '{ print $1 }')
cached=$RUNNER_TOOL_CACHE/keyrack/$version/$arch
rm -rf "$cached" "$cached.complete"
mkdir -p "$cached"
cp "$download/keyrack" "$cached/keyrack"
chmod 0755 "$cached/keyrack"
sha256 "$cached/keyrack" >"$cached/keyrack.sha256"
touch "$cached.complete"
publish "$cached"
