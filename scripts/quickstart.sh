#!/usr/bin/env bash
# The README's two commands land here: `npm start` (the main job) and `npm run test:all` (the whole
# test suite). Both work on a fresh machine that has only Node.js 20 and npm: pnpm is installed
# when missing, then the workspace, then the job runs.
set -euo pipefail
cd "$(dirname "$0")/.."

ensure_pnpm() {
  if command -v pnpm >/dev/null 2>&1 && pnpm --version 2>/dev/null | grep -q '^10\.'; then
    return
  fi
  echo "› pnpm 10 not found: installing it with npm (npm i -g pnpm@10)"
  if ! npm i -g pnpm@10 >/dev/null 2>&1; then
    # No permission for a global install: use a user prefix instead.
    npm i -g --prefix "$HOME/.local" pnpm@10 >/dev/null
    export PATH="$HOME/.local/bin:$PATH"
  fi
  hash -r
}

install_workspace() {
  echo "› installing the workspace (pnpm install --frozen-lockfile)"
  pnpm install --frozen-lockfile --reporter=append-only
}

job="${1:-}"
case "$job" in
  test)
    ensure_pnpm
    install_workspace
    echo "› build; typecheck, lint, format check and publint side by side; tests"
    pnpm run check
    ;;
  start)
    ensure_pnpm
    install_workspace
    if [ -f apps/demo/package.json ]; then
      echo "› building the demo and the packages it uses"
      pnpm --filter "@distsync/demo..." run build
      # Plain node on the built demo: Ctrl-C reaches it directly. It starts an embedded
      # three-node cluster (ports 7401-7403, or free ones when taken; data in a temporary folder
      # removed on exit) and opens the menu; with no terminal on stdin it runs every scenario
      # instead and exits non-zero when a check fails. Extra arguments go to the demo.
      shift
      exec node apps/demo/dist/cli.js "$@"
    elif [ -f apps/node/package.json ]; then
      echo "› building the server and the packages it uses"
      pnpm --filter "@distsync/node..." run build
      # Plain node on the built CLI: Ctrl-C reaches it directly and every node drains cleanly.
      # Data lives in ./.distsync/ and is reused by the next run; ports 7401-7403.
      exec node apps/node/dist/cli.js cluster up
    else
      echo "The main job (an embedded three-node cluster with the demo) is not built yet:"
      echo "it arrives with the server (apps/node) and demo (apps/demo) issues."
      echo "Until then, 'npm run test:all' runs everything there is."
      exit 1
    fi
    ;;
  *)
    echo "usage: scripts/quickstart.sh <start|test>" >&2
    exit 2
    ;;
esac
