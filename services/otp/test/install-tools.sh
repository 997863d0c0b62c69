#!/usr/bin/env bash
# Installs the command-line tools the otp tests need, from Debian packages:
# oathtool (an independent RFC 6238 generator the TOTP tests check against).
# Idempotent and quiet: does nothing when every tool is present; runs
# `apt-get update` only when a package has no install candidate.
set -euo pipefail

declare -A tool_package=(
  [oathtool]=oathtool
)

missing=()
for tool in "${!tool_package[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${tool_package[$tool]}")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
    echo "install-tools: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=()
fi
export DEBIAN_FRONTEND=noninteractive

have_candidates() {
  local pkg candidate
  for pkg in "$@"; do
    candidate="$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ { print $2 }')"
    if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then return 1; fi
  done
}
have_candidates "${missing[@]}" || "${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-tools: installed ${missing[*]}"
