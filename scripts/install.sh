#!/usr/bin/env bash
# Installs a Governor agent home on a VM (default /opt/governor) from a release archive
# (scripts/pack.sh) or a build folder (artifacts/governor), and prints the lines that attach
# the agent to a systemd service. Idempotent: running it again upgrades in place and keeps
# the installed governor.json and rules. Never reads stdin (CI, cloud-init, config management).
#
#   scripts/install.sh [--prefix DIR] [SOURCE]      install or upgrade
#   scripts/install.sh [--prefix DIR] --uninstall [--force]   remove
#
# stdout carries only the systemd drop-in ([Service] and Environment= lines), so
#   install.sh governor-0.1.0-linux-x64.tar.gz > /etc/systemd/system/app.service.d/governor.conf
# works; progress and errors go to stderr. Exit codes: 0 ok, 1 failure, 2 usage error.
set -euo pipefail

prefix="/opt/governor"
source=""
uninstall=0
force=0
marker=".governor-install"

say() { echo "install.sh: $*" >&2; }
fail() { echo "install.sh: error: $1" >&2; [ -n "${2:-}" ] && echo "  $2" >&2; exit 1; }
usage() {
  cat >&2 <<USAGE
Usage: install.sh [--prefix DIR] [SOURCE]
       install.sh [--prefix DIR] --uninstall [--force]
  SOURCE       a release archive (governor-<version>-linux-x64.tar.gz, made by scripts/pack.sh)
               or an agent home folder (artifacts/governor after 'dotnet build').
               Default: the only governor-*-linux-x64.tar.gz in the current folder or beside
               this script, else artifacts/governor of this repository.
  --prefix DIR where to install (default /opt/governor)
  --uninstall  remove the installation at the prefix; refused while a systemd unit or a running
               process still names its hook (a service whose DOTNET_STARTUP_HOOKS names a missing
               file fails to start), unless --force
USAGE
}

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix)
      [ $# -ge 2 ] && [ -n "$2" ] || { say "--prefix needs a directory, e.g. --prefix /opt/governor"; exit 2; }
      prefix="$2"; shift ;;
    --prefix=*) prefix="${1#--prefix=}" ;;
    --uninstall) uninstall=1 ;;
    --force) force=1 ;;
    -h|--help) usage; exit 0 ;;
    -*) say "unknown option '$1'"; usage; exit 2 ;;
    *)
      [ -z "$source" ] || { say "only one SOURCE may be given (got '$source' and '$1')"; exit 2; }
      source="$1" ;;
  esac
  shift
done

case "$prefix" in
  /*) ;;
  *) prefix="$(pwd)/$prefix" ;;
esac
prefix="${prefix%/}"
[ -n "$prefix" ] && [ "$prefix" != "/" ] || { say "--prefix must not be /"; exit 2; }

is_home() { [ -f "$1/Governor.StartupHook.dll" ] && [ -f "$1/core/Governor.Core.dll" ]; }

# ---- uninstall -------------------------------------------------------------------------------
if [ "$uninstall" = 1 ]; then
  [ -z "$source" ] || { say "--uninstall takes no SOURCE"; exit 2; }
  if [ ! -e "$prefix" ]; then
    say "nothing installed at $prefix; nothing to do."
    exit 0
  fi
  if [ ! -f "$prefix/$marker" ] && ! is_home "$prefix"; then
    fail "$prefix is not a Governor installation (no $marker, no Governor.StartupHook.dll); refusing to delete it." "Check --prefix."
  fi
  [ -w "$(dirname "$prefix")" ] || fail "no permission to remove $prefix." "Run as root (sudo) or as the owner of $(dirname "$prefix")."
  hook="$prefix/Governor.StartupHook.dll"
  # The .NET runtime refuses to start a process whose DOTNET_STARTUP_HOOKS names a missing
  # file, so removing a home that is still referenced would break the next service restart.
  users=()
  for dir in ${GOVERNOR_INSTALL_UNIT_DIRS:-/etc/systemd/system /run/systemd/system /usr/lib/systemd/system /lib/systemd/system}; do
    [ -d "$dir" ] || continue
    while IFS= read -r unit; do users+=("unit $unit"); done < <(grep -rlF "$hook" "$dir" 2>/dev/null || true)
  done
  for environ in /proc/[0-9]*/environ; do
    if grep -qaF "$hook" "$environ" 2>/dev/null; then
      pid="${environ#/proc/}"; pid="${pid%/environ}"
      [ "$pid" = "$$" ] || users+=("process $pid ($(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-80))")
    fi
  done
  if [ "${#users[@]}" -gt 0 ] && [ "$force" != 1 ]; then
    echo "install.sh: error: $prefix is still in use; a service restarted after its removal would fail to start:" >&2
    printf '  %s\n' "${users[@]}" >&2
    echo "  Remove the DOTNET_STARTUP_HOOKS line from those units (systemctl edit <unit>), restart them, then run --uninstall again (or add --force)." >&2
    exit 1
  fi
  rm -rf "$prefix"
  say "removed $prefix."
  if [ "${#users[@]}" -gt 0 ]; then
    say "warning: still referenced by: ${users[*]}; remove DOTNET_STARTUP_HOOKS=$hook there before they restart."
  fi
  exit 0
fi

# ---- checks ----------------------------------------------------------------------------------
# The test suite sets GOVERNOR_INSTALL_ARCH to check this message without another machine.
arch="${GOVERNOR_INSTALL_ARCH:-$(uname -m)}"
case "$arch" in
  x86_64|amd64) ;;
  *) fail "this Governor build is for x86_64 (linux-x64); this machine is $arch." "Use a release archive built for this architecture." ;;
esac

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "$source" ]; then
  candidates=()
  for dir in "$(pwd)" "$script_dir"; do
    for f in "$dir"/governor-*-linux-x64.tar.gz; do
      [ -f "$f" ] && candidates+=("$f")
    done
  done
  if [ "${#candidates[@]}" -eq 1 ]; then
    source="${candidates[0]}"
  elif [ "${#candidates[@]}" -gt 1 ]; then
    fail "several release archives found (${candidates[*]}); name one." "install.sh governor-<version>-linux-x64.tar.gz"
  elif is_home "$script_dir/../artifacts/governor"; then
    source="$script_dir/../artifacts/governor"
  else
    fail "no source given and no governor-*-linux-x64.tar.gz here." "Pass a release archive (scripts/pack.sh makes one) or an agent home folder (artifacts/governor)."
  fi
fi

work="$(mktemp -d)"
stage=""
cleanup() { rm -rf "$work"; [ -n "$stage" ] && rm -rf "$stage"; return 0; }
trap cleanup EXIT

if [ -d "$source" ]; then
  home="$(cd "$source" && pwd)"
  is_home "$home" || fail "$source is not a Governor agent home (it needs Governor.StartupHook.dll and core/Governor.Core.dll)." "Pass artifacts/governor after 'dotnet build', or a release archive."
elif [ -f "$source" ]; then
  tar -xzf "$source" -C "$work" 2>"$work/tar.err" || fail "cannot unpack $source: $(head -n 1 "$work/tar.err")" "Is it a .tar.gz made by scripts/pack.sh? Download it again if it is truncated."
  home=""
  for candidate in "$work" "$work"/*; do
    if [ -d "$candidate" ] && is_home "$candidate"; then home="$candidate"; break; fi
  done
  [ -n "$home" ] || fail "$source does not contain a Governor agent home (no Governor.StartupHook.dll with core/Governor.Core.dll)." "Use a release archive made by scripts/pack.sh."
else
  fail "$source not found." "Pass the path of a release archive (governor-<version>-linux-x64.tar.gz) or of an agent home folder."
fi

version="dev"
if [ -f "$home/VERSION" ]; then
  version="$(sed -n 's/^version=//p' "$home/VERSION" | head -n 1)"
  rid="$(sed -n 's/^rid=//p' "$home/VERSION" | head -n 1)"
  [ -z "$rid" ] || [ "$rid" = "linux-x64" ] || fail "$source is built for $rid; this machine needs linux-x64." "Use the linux-x64 release archive."
fi

parent="$(dirname "$prefix")"
mkdir -p "$parent" 2>/dev/null || fail "cannot create $parent: permission denied." "Run as root (sudo) or choose a writable --prefix DIR."
[ -w "$parent" ] || fail "no permission to write in $parent." "Run as root (sudo) or choose a writable --prefix DIR."
if [ -e "$prefix" ] && [ ! -f "$prefix/$marker" ] && ! is_home "$prefix"; then
  fail "$prefix exists and is not a Governor installation; refusing to replace it." "Choose another --prefix or remove it yourself."
fi

# ---- install: stage beside the target, then swap with two renames ------------------------------
# Services already running keep the files they opened (the old inodes stay alive); services
# started afterwards get the new version. A failed copy never leaves a half-installed home.
stage="$parent/.governor-stage.$$"
rm -rf "$stage"
cp -a "$home" "$stage"
mkdir -p "$stage/rules"
if [ -d "$prefix" ]; then
  # Upgrades keep what the operator configured.
  [ -f "$prefix/governor.json" ] && cp -a "$prefix/governor.json" "$stage/governor.json"
  if [ -d "$prefix/rules" ] && [ -n "$(ls -A "$prefix/rules" 2>/dev/null)" ]; then
    rm -rf "$stage/rules"
    cp -a "$prefix/rules" "$stage/rules"
  fi
fi
printf 'version=%s\nsource=%s\ninstalled=%s\n' "$version" "$source" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$stage/$marker"
chmod -R u+rwX,go+rX "$stage"

old=""
if [ -e "$prefix" ]; then
  old="$parent/.governor-old.$$"
  mv "$prefix" "$old"
fi
mv "$stage" "$prefix"
stage=""
[ -z "$old" ] || rm -rf "$old"

say "Governor $version installed in $prefix (from $source)."
if [ -x "$prefix/bin/governor" ]; then
  say "CLI: $prefix/bin/governor (e.g. ln -sf $prefix/bin/governor /usr/local/bin/governor)."
fi
say "Add the lines below to the service's unit (systemctl edit <unit>), then: systemctl restart <unit>"
say "Verify: governor status \$(systemctl show -p MainPID --value <unit>)"

# The same variables as 'governor env --shell systemd': the hook, then env.d/*.env of the home.
systemd_line() {
  local assignment="${1//%/%%}"
  case "$assignment" in
    *[[:space:]\"\\\']*) assignment="${assignment//\\/\\\\}"; echo "Environment=\"${assignment//\"/\\\"}\"" ;;
    *) echo "Environment=$assignment" ;;
  esac
}
echo "[Service]"
echo "# Governor $version: attaches the agent (if the unit already sets DOTNET_STARTUP_HOOKS, join both values with ':')"
systemd_line "DOTNET_STARTUP_HOOKS=$prefix/Governor.StartupHook.dll"
# Framework assemblies the plugins enabled by default patch and want JIT-compiled: the manifests'
# "readyToRunExclude" (one line each, as the build writes them), joined with ';' as the runtime reads them.
r2r=""
for manifest in "$prefix"/plugins/*/plugin.json; do
  [ -f "$manifest" ] || continue
  grep -q '"enabledByDefault"[[:space:]]*:[[:space:]]*false' "$manifest" && continue
  names="$(sed -n 's/.*"readyToRunExclude"[[:space:]]*:[[:space:]]*\[\([^]]*\)\].*/\1/p' "$manifest" | tr -d '" ' | tr ',' ' ')"
  for name in $names; do
    case ";$r2r;" in *";$name;"*) ;; *) r2r="${r2r:+$r2r;}$name" ;; esac
  done
done
if [ -n "$r2r" ]; then
  echo "# JIT-compiles what the plugins patch (if the unit already sets DOTNET_ReadyToRunExcludeList, join both values with ';')"
  systemd_line "DOTNET_ReadyToRunExcludeList=$r2r"
fi
if [ -d "$prefix/env.d" ]; then
  for f in "$prefix"/env.d/*.env; do
    [ -f "$f" ] || continue
    while IFS= read -r line || [ -n "$line" ]; do
      line="${line#"${line%%[![:space:]]*}"}"
      case "$line" in ''|'#'*) continue ;; esac
      systemd_line "${line//\{home\}/$prefix}"
    done < "$f"
  done
fi
