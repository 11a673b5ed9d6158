#!/usr/bin/env bash
# `pnpm check` (and so `npm run test:all` and CI): build, then the static checks side by side,
# then the tests. Typecheck, lint, the format check and publint are each one single-threaded
# process, so one after the other they left a core idle on a 2-core machine; together they take
# about as long as the slowest (lint). Every phase prints its wall time; the first failure stops
# the run after every static check has finished and printed its output.
set -euo pipefail
cd "$(dirname "$0")/.."

phase() {
  local name=$1 started=$SECONDS
  shift
  echo "› $name"
  "$@"
  echo "› $name: $((SECONDS - started)) s"
}

static_checks() {
  local logs name index code names=(typecheck lint format:check publint) pids=() failed=()
  logs=$(mktemp -d)
  for name in "${names[@]}"; do
    (
      started=$SECONDS
      code=0
      pnpm run --silent "$name" >"$logs/$name.log" 2>&1 || code=$?
      echo "$code $((SECONDS - started))" >"$logs/$name.result"
      exit "$code"
    ) &
    pids+=($!)
  done
  for index in "${!names[@]}"; do
    name=${names[$index]}
    code=0
    wait "${pids[$index]}" || code=$?
    cat "$logs/$name.log"
    echo "› $name: exit $code after $(cut -d' ' -f2 "$logs/$name.result" 2>/dev/null || echo '?') s"
    [ "$code" -eq 0 ] || failed+=("$name")
  done
  rm -rf "$logs"
  if [ ${#failed[@]} -gt 0 ]; then
    echo "✖ failed: ${failed[*]}" >&2
    return 1
  fi
}

total=$SECONDS
phase build pnpm run --silent build
phase "typecheck, lint, format:check, publint" static_checks
phase test pnpm run --silent test
echo "› check: $((SECONDS - total)) s"
