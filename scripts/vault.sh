#!/usr/bin/env bash
# Builds Vault from the Go module proxy (HashiCorp's downloads are out of
# reach here) into the machine's cache, once per version, and prints the
# binary's path. tools/vault is a module of its own, so Vault's dependency
# tree never enters runbook's go.mod. Tests that start a Vault server run
# it under CI; a lock keeps two of them from building at once.
set -euo pipefail
dir="$(cd "$(dirname "$0")/../tools/vault" && pwd)"
version=$(cd "$dir" && go list -m -f '{{.Version}}' github.com/hashicorp/vault)
version=${version#v}
[ -n "$version" ] || { echo "vault: cannot tell the version from tools/vault/go.mod" >&2; exit 1; }
cache=${RUNBOOK_CACHE_DIR:-/var/cache/runbook}/vault/$version
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ ! -x "$cache/vault" ]; then
  echo "vault: building $version from the Go module proxy (20 to 30 minutes on 2 cores, once per machine)" >&2
  (cd "$dir" && CGO_ENABLED=0 nice go build -trimpath -ldflags "-s -w" -o "$cache/vault.tmp" .)
  mv "$cache/vault.tmp" "$cache/vault"
  sha256sum "$cache/vault" | cut -d' ' -f1 > "$cache/vault.sha256"
fi
[ -s "$cache/vault.sha256" ] || sha256sum "$cache/vault" | cut -d' ' -f1 > "$cache/vault.sha256"
echo "$cache/vault"
