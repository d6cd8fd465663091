#!/usr/bin/env bash
# Installs what runbook's tests need on Debian or Ubuntu. Idempotent: does
# nothing when everything is already there.
set -euo pipefail

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v sudo >/dev/null || need+=(sudo)
# become_method: doas (OpenDoas); su is util-linux's, always there.
[ -x /usr/bin/doas ] || need+=(doas)
# The lab: real hosts in systemd-nspawn machines and network namespaces.
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
command -v ip >/dev/null || need+=(iproute2)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v socat >/dev/null || need+=(socat)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "setup: missing ${need[*]}; install them as root (apt-get install ${need[*]})." >&2
  echo "setup: without them the SSH tests are skipped (and fail under CI)." >&2
  exit 0
fi
echo "setup: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The package may start a system sshd; the tests start their own.
