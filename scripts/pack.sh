#!/usr/bin/env bash
# Makes the release archive that scripts/install.sh installs:
#   artifacts/governor-<version>-linux-x64.tar.gz, holding governor/ (the agent home) with a
#   VERSION file, and with --cli also governor/bin/governor (the CLI as one self-contained file).
# Usage: scripts/pack.sh [--no-build] [--cli] [--out DIR] [--version X.Y.Z]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$repo/artifacts"
build=1
cli=0
version=""

usage() {
  cat <<USAGE
Usage: scripts/pack.sh [--no-build] [--cli] [--out DIR] [--version X.Y.Z]
  --no-build   package artifacts/governor as it is (after 'dotnet build')
  --cli        also publish the governor CLI as a single-file binary into the archive (bin/governor)
  --out DIR    where the archive goes (default: artifacts/)
  --version V  version in the archive name (default: <Version> in Directory.Build.props)
USAGE
}

while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --cli) cli=1 ;;
    --out) [ $# -ge 2 ] || { echo "pack.sh: --out needs a directory" >&2; exit 2; }; out="$2"; shift ;;
    --version) [ $# -ge 2 ] || { echo "pack.sh: --version needs a value" >&2; exit 2; }; version="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "pack.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

if [ -z "$version" ]; then
  version="$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$repo/Directory.Build.props" | head -n 1)"
fi
[ -n "$version" ] || { echo "pack.sh: cannot read <Version> from Directory.Build.props; pass --version" >&2; exit 1; }

# The SDK itself must never get an agent attached through an inherited variable.
unset DOTNET_STARTUP_HOOKS
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if [ "$build" = 1 ]; then
  # Every project that copies itself into the agent home (build/AgentCore.targets, build/Plugin.targets).
  projects=("$repo/agent/Governor.StartupHook/Governor.StartupHook.csproj" "$repo/agent/Governor.Core/Governor.Core.csproj")
  while IFS= read -r p; do projects+=("$p"); done < <(find "$repo/plugins" -name '*.csproj' -not -path '*/bin/*' -not -path '*/obj/*' 2>/dev/null | sort)
  for p in "${projects[@]}"; do
    dotnet build "$p" -c Release -nologo -v q
  done
fi

home="$repo/artifacts/governor"
if [ ! -f "$home/Governor.StartupHook.dll" ] || [ ! -f "$home/core/Governor.Core.dll" ]; then
  echo "pack.sh: $home is not a complete agent home; run 'dotnet build' first (or drop --no-build)" >&2
  exit 1
fi

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
cp -a "$home" "$stage/governor"
mkdir -p "$stage/governor/rules"
commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
printf 'version=%s\nrid=linux-x64\ncommit=%s\n' "$version" "$commit" > "$stage/governor/VERSION"

if [ "$cli" = 1 ]; then
  dotnet publish "$repo/tools/Governor.Cli/Governor.Cli.csproj" -c Release -r linux-x64 --self-contained true \
    -p:PublishSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=true -p:EnableCompressionInSingleFile=true \
    -o "$stage/cli" -nologo -v q
  mkdir -p "$stage/governor/bin"
  cp "$stage/cli/Governor.Cli" "$stage/governor/bin/governor"
fi

mkdir -p "$out"
archive="$out/governor-$version-linux-x64.tar.gz"
tar -czf "$archive" -C "$stage" governor
echo "$archive"
