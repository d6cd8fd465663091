#!/usr/bin/env bash
# Builds Consul from the Go module proxy (HashiCorp's downloads are out of
# reach here) into the machine's cache, once per version, and prints the
# binary's path. tools/consul is a module of its own, so Consul's dependency
# tree never enters runbook's go.mod.
set -euo pipefail
dir="$(cd "$(dirname "$0")/../tools/consul" && pwd)"
version=$(cd "$dir" && go list -m -f '{{.Version}}' github.com/hashicorp/consul)
version=${version#v}
[ -n "$version" ] || { echo "consul: cannot tell the version from tools/consul/go.mod" >&2; exit 1; }
cache=${RUNBOOK_CACHE_DIR:-/var/cache/runbook}/consul/$version
if [ ! -x "$cache/consul" ]; then
  echo "consul: building $version from the Go module proxy (about 4 minutes, once per machine)" >&2
  mkdir -p "$cache"
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$cache/consul.tmp" .)
  mv "$cache/consul.tmp" "$cache/consul"
  sha256sum "$cache/consul" | cut -d' ' -f1 > "$cache/consul.sha256"
fi
[ -s "$cache/consul.sha256" ] || sha256sum "$cache/consul" | cut -d' ' -f1 > "$cache/consul.sha256"
echo "$cache/consul"
