#!/usr/bin/env bash
# The control path alone, without root: a
# standalone store with the DHCP client's schema, a lease written as the calf would write it,
# the values the schema refuses, and the audit log. Everything it creates is removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
paddock=node_modules/.bin/paddock

work=$(mktemp -d /tmp/paddock-demo.XXXXXX)
server=""
cleanup() {
  [[ -n $server ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== paddock kv serve --service dhcp4 (state in $work/state)"
$paddock kv serve --service dhcp4 --socket "$work/calf.sock" --admin-socket "$work/admin.sock" \
  --state-dir "$work/state" --log-level warn &
server=$!
for _ in $(seq 100); do [[ -S $work/admin.sock ]] && break; sleep 0.05; done

admin=(--socket "$work/admin.sock")
echo "== a lease, written key by key"
for kv in "/ip 10.77.0.161/24" "/gateway 10.77.0.1" "/mtu 1400" "/domain anc.test" \
          "/search anc.test lab.anc.test" "/nameserver/001 10.77.0.1"; do
  key=${kv%% *}; value=${kv#* }
  $paddock kv put "$key" "$value" "${admin[@]}" && echo "put $key = $value"
done
echo "== what the schema refuses (each is one clear sentence, and audited)"
$paddock kv put /mtu 70000 "${admin[@]}" || true
$paddock kv put /domain $'evil.test\nnameserver 6.6.6.6' "${admin[@]}" || true
$paddock kv put /etc/shadow x "${admin[@]}" || true
echo "== the store"
$paddock kv ls "${admin[@]}"
echo "== the audit log"
$paddock kv audit "${admin[@]}"
echo "== done: everything under $work is removed"
