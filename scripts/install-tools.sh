#!/usr/bin/env bash
# Debian tools the tests use as independent peers or validators. Each owner's
# script installs only what is missing and is quiet when all is there:
#   deploy/install-tools.sh          docker-compose, promtool, nginx
#   services/otp/test/install-tools.sh  oathtool (independent TOTP generator)
#   chromium (browser test of the dev inbox)
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-tools.sh
[ -f services/otp/test/install-tools.sh ] && bash services/otp/test/install-tools.sh
if ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || {
    apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null
  }
fi
