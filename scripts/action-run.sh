#!/usr/bin/env bash
# Check step of the keyrack GitHub Action (action.yml), runnable on its own for tests:
#
#   keyrack get --for repo --env "$KEYRACK_ACTION_ENV" --ci --output github-env
#
# in CI mode: every key the repo manifest allowlists for the env must be in this step's
# environment (from `secrets.*`) and pass the firewall, else a per-key report and a non-zero
# exit (4 missing, 5 blocked long-lived credential) with no key written anywhere. On success each
# secret is masked (`::add-mask::` on stdout, first) and appended to $GITHUB_ENV for later steps;
# running it twice changes nothing.
#
# environment:
#   KEYRACK_ACTION_ENV      (required) the `env` input: which env of .agent/keyrack.yml to check
#   KEYRACK_BIN             the keyrack binary (default: `keyrack` on PATH; tests point it at
#                           dist/keyrack so nothing is installed)
#   KEYRACK_ACTION_WORKDIR  the repo directory (the `working-directory` input; default: .)
#   GITHUB_ENV, GITHUB_ACTIONS, CI  set by the runner
set -uo pipefail

env_name=${KEYRACK_ACTION_ENV:-}
if [ -z "$env_name" ]; then
  echo '::error title=keyrack::the action needs its `env` input, e.g. `with: { env: test }`'
  exit 2
fi
bin=${KEYRACK_BIN:-keyrack}
if ! command -v "$bin" >/dev/null 2>&1; then
  echo "::error title=keyrack::no keyrack binary at '$bin': run the action's install step first, or set KEYRACK_BIN"
  exit 2
fi
cd -- "${KEYRACK_ACTION_WORKDIR:-.}" || {
  echo "::error title=keyrack::working-directory '${KEYRACK_ACTION_WORKDIR}' does not exist"
  exit 2
}

"$bin" get --for repo --env "$env_name" --ci --output github-env
status=$?
if [ "$status" -ne 0 ]; then
  case $status in
    4) why='a key is missing from the environment' ;;
    5) why='a long-lived credential was refused by the firewall' ;;
    *) why='see the report above' ;;
  esac
  # the report on stderr names each key and what to do; this line makes it an annotation
  echo "::error title=keyrack::keys for env ${env_name//[^A-Za-z0-9._-]/?} not granted (exit $status): $why"
fi
exit "$status"
