#!/usr/bin/env bash
# Before `npm test`: the suite drives real tools (the age CLI for interop, ssh-keygen for ssh
# identities, git for worksites, setpriv/useradd for the second-user daemon checks, zsh, fish and
# python3 for the shell, README and terminal tests, curl for install.sh, gnome-keyring + secret-tool
# + dbus for the OS keychain's Secret Service). Install
# the missing ones with apt-get when we can (root on Debian/Ubuntu); otherwise say what to install.
set -euo pipefail
need=()
command -v age >/dev/null 2>&1 || need+=(age)
command -v age-keygen >/dev/null 2>&1 || need+=(age)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v git >/dev/null 2>&1 || need+=(git)
command -v ps >/dev/null 2>&1 || need+=(procps)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v useradd >/dev/null 2>&1 || need+=(passwd)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v zsh >/dev/null 2>&1 || need+=(zsh)          # `source <(keyrack …)` is tested in bash and zsh
command -v fish >/dev/null 2>&1 || need+=(fish)        # the README's fish completion line is run
command -v python3 >/dev/null 2>&1 || need+=(python3)  # pseudo-terminal drivers (prompts, help width, doc tests)
command -v curl >/dev/null 2>&1 || need+=(curl)      # install.sh downloads releases
# vault os.keychain is tested against a real Secret Service on a private session bus
command -v secret-tool >/dev/null 2>&1 || need+=(libsecret-tools)
command -v gnome-keyring-daemon >/dev/null 2>&1 || need+=(gnome-keyring)
command -v dbus-daemon >/dev/null 2>&1 || need+=(dbus)
command -v dbus-send >/dev/null 2>&1 || need+=(dbus)
command -v jq >/dev/null 2>&1 || need+=(jq)          # the README's GitHub App line builds its JSON with jq
[ ${#need[@]} -eq 0 ] && exit 0
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  echo "test-deps: installing ${need[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null >/dev/null
  apt-get install -y -qq "${need[@]}" </dev/null >/dev/null
  exit 0
fi
echo "test-deps: the test suite needs: ${need[*]}" >&2
echo "test-deps: install them, e.g. \`sudo apt-get install ${need[*]}\` (Debian/Ubuntu) or \`brew install age\` (macOS)" >&2
exit 1
