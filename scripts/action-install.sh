#!/usr/bin/env bash
# Install step of the keyrack GitHub Action (action.yml): puts a keyrack binary on the job's
# PATH and names it in the step output `bin`.
#
# environment (the action sets these; inputs arrive as env vars, never pasted into the script):
#   KEYRACK_ACTION_VERSION  the `version` input; only `source` works today: it builds keyrack
#                           from the action's own checkout with `install.sh --from-source`
#                           (release downloads arrive with the distribution issue)
#   GITHUB_ACTION_PATH      the action's checkout (set by the runner)
#   RUNNER_TEMP             where to install (set by the runner; default /tmp)
#   GITHUB_PATH, GITHUB_OUTPUT  workflow files the runner reads after the step (optional here)
set -euo pipefail

version=${KEYRACK_ACTION_VERSION:-source}
if [ "$version" != source ]; then
  echo "::error title=keyrack::version '${version//[^A-Za-z0-9._-]/?}' cannot be installed yet: only \`version: source\` works today (it builds keyrack from the action's checkout)"
  exit 2
fi

action_path=${GITHUB_ACTION_PATH:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)}
install_dir=${RUNNER_TEMP:-/tmp}/keyrack/bin
KEYRACK_INSTALL_DIR=$install_dir "$action_path/install.sh" --from-source

[ -z "${GITHUB_PATH:-}" ] || echo "$install_dir" >>"$GITHUB_PATH"
[ -z "${GITHUB_OUTPUT:-}" ] || echo "bin=$install_dir/keyrack" >>"$GITHUB_OUTPUT"
