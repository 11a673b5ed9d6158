#!/usr/bin/env bash
# Pins the code under test: exports a commit (default HEAD) of the workspace to a folder and
# links it to this checkout's installed dependencies, so a long campaign runs one fixed version
# of the node while the working tree keeps changing. Then: pnpm verify --node-root <folder>.
set -euo pipefail
root="$(git rev-parse --show-toplevel)"
commit="${2:-HEAD}"
target="${1:-/tmp/distsync-snapshot-$(git -C "$root" rev-parse --short "$commit")}"
rm -rf "$target"
mkdir -p "$target"
git -C "$root" archive "$commit" | tar -x -C "$target"
ln -s "$root/node_modules" "$target/node_modules"
for dir in "$root"/packages/* "$root"/apps/* "$root"/tooling/*; do
  rel="${dir#"$root"/}"
  if [ -d "$dir/node_modules" ] && [ -d "$target/$rel" ]; then
    cp -a "$dir/node_modules" "$target/$rel/node_modules"
  fi
done
echo "$target"
