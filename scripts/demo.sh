#!/usr/bin/env bash
# The main job: `paddock lab`. Two throwaway network namespaces joined by a veth pair, dnsmasq on
# one side, the DHCP shim (priv + sandboxed calf) on the other; it prints what was applied and
# removes everything again, also on Ctrl-C or failure. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "make demo runs paddock lab, which creates network namespaces: run it as root" >&2
  exit 1
fi
exec node_modules/.bin/paddock lab "$@"
