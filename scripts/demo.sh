#!/usr/bin/env bash
# The seed walkthrough, end to end, in the lab: five bare-metal hosts through
# the lab's Equinix Metal API, a Consul cluster, and the Fortune Cookie
# Service secured behind Connect sidecars. Needs root. Run by `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: the lab needs root: run sudo make demo" >&2
  exit 1
fi
rb=bin/runbook
consul=$(./scripts/consul.sh)
consul_sha256=$(cat "$(dirname "$consul")/consul.sha256")

echo "== starting the lab (an Equinix-Metal-compatible API on 127.0.0.1, real hosts)"
eval "$($rb lab up)"
key=/var/lib/runbook/lab/id_ed25519   # the lab's controller key, registered as a project key
# The age key that encrypts the secrets runbook makes (gossip key, CA,
# ACL tokens) in secrets/walkthrough.yaml; made once.
export RUNBOOK_AGE_KEY_FILE=${RUNBOOK_AGE_KEY_FILE:-/var/lib/runbook/lab/age.key}
[ -f "$RUNBOOK_AGE_KEY_FILE" ] || $rb secrets init >/dev/null

echo "== runbook apply runbooks/secure.yaml"
$rb apply runbooks/secure.yaml --private-key "$key" \
  -e ssh_key="$key.pub" -e consul_src="$consul" -e consul_sha256="$consul_sha256"

fcc=$($rb lab status | awk '$1 == "fcc00" {print $5}')
echo
echo "== a fortune read on fcc00 through its sidecar (127.0.0.1:9191), over mutual TLS to fcs00:"
ssh -q -i "$key" -o UserKnownHostsFile="$RUNBOOK_KNOWN_HOSTS" -o StrictHostKeyChecking=yes "root@$fcc" \
  'socat -u TCP:127.0.0.1:9191,connect-timeout=5 -' | sed 's/^/    /'

echo
echo "== runbook apply --check runbooks/secure.yaml (exit 0: no drift, 2: drift)"
set +e
$rb apply --check runbooks/secure.yaml --private-key "$key" \
  -e ssh_key="$key.pub" -e consul_src="$consul" -e consul_sha256="$consul_sha256" > /tmp/runbook-demo-check.log
code=$?
set -e
tail -n 12 /tmp/runbook-demo-check.log
case $code in
  0) echo "verdict: in sync, nothing would change (exit 0)";;
  2) echo "verdict: drift found (exit 2)";;
  *) echo "verdict: the check failed (exit $code)"; exit $code;;
esac
cat <<MSG

The lab keeps running. To use it yourself:
$( $rb lab up 2>/dev/null | sed 's/^/  /' )
  export RUNBOOK_AGE_KEY_FILE=$RUNBOOK_AGE_KEY_FILE   # the secrets in secrets/walkthrough.yaml
  sudo bin/runbook lab status
  bin/runbook apply --check runbooks/secure.yaml --private-key $key -e consul_src=$consul -e consul_sha256=$consul_sha256
To remove every host, namespace, bridge, mount and process it made:
  sudo bin/runbook lab down
MSG
