#!/usr/bin/env bash
# Installs the command-line tools that tools/deploy-check needs, from Debian
# (bookworm) packages: docker-compose (`docker-compose config`), prometheus
# (`promtool check rules`, `promtool test rules`) and nginx (`nginx -t` and a
# routing test of deploy/nginx/nginx.conf). Idempotent and quiet: does nothing
# when all are present; runs `apt-get update` only when a package cannot be
# found in the current lists. No daemon is started (policy-rc.d permitting).
set -euo pipefail

declare -A tool_package=(
  [docker-compose]=docker-compose
  [promtool]=prometheus
  [nginx]=nginx
)

missing=()
for tool in "${!tool_package[@]}"; do
  if ! command -v "$tool" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$tool" ]; then
    missing+=("${tool_package[$tool]}")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-tools: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=()
fi

export DEBIAN_FRONTEND=noninteractive

have_candidates() {
  local pkg
  for pkg in "$@"; do
    local candidate
    candidate="$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ { print $2 }')"
    if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
      return 1
    fi
  done
}

if ! have_candidates "${missing[@]}"; then
  "${SUDO[@]}" apt-get update -qq
fi

# --no-install-recommends keeps prometheus from pulling its exporters and UI.
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-tools: installed ${missing[*]}"
