#!/usr/bin/env bash
# tests/test_infra.py checks the production configs with the real tools: nginx (`nginx -t`, and
# serving in front of gunicorn), redis-sentinel, systemd's offline tools (`systemd-analyze`,
# `systemd-socket-activate`) and openssl (a throwaway certificate).  Install Debian's packages
# when missing, as ensure-chromium.sh does: the tests are never skipped.  Debian's postinst
# scripts may start nginx or a sentinel on their default ports; the tests start their own.
set -eu
missing=()
[ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v redis-sentinel >/dev/null 2>&1 || missing+=(redis-sentinel)
{ command -v systemd-analyze && command -v systemd-socket-activate; } >/dev/null 2>&1 || missing+=(systemd)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian's ${missing[*]} for the infrastructure tests" >&2
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ -x /usr/sbin/nginx ] && command -v redis-sentinel systemd-analyze systemd-socket-activate openssl >/dev/null
