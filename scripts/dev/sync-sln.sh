#!/usr/bin/env bash
# Adds every project that belongs in Agent.sln and is missing from it (used after merges).
# Apps that tests publish themselves (tests/apps, *.TestApp) stay out of the solution so the
# solution build never races with their private publishes.
set -euo pipefail
cd "$(dirname "$0")/../.."
find agent plugins injector-webhook tools samples benchmarks tests -name '*.csproj' -not -path '*/bin/*' -not -path '*/obj/*' \
  | grep -v -E '^tests/apps/|\.TestApp/' | sort | while read -r proj; do
  if ! grep -q "$(basename "$proj")" Agent.sln; then
    folder=$(echo "$proj" | cut -d/ -f1)
    dotnet sln Agent.sln add --solution-folder "$folder" "$proj" >/dev/null
    echo "added $proj"
  fi
done
