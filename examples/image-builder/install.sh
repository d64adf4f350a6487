#!/usr/bin/env bash
# Installs the DHCP shim into an OS image's root (DESTDIR), as an image builder would:
#
#   DESTDIR/usr/lib/paddock/paddock.mjs          the CLI, one bundled file
#   DESTDIR/usr/lib/paddock/calves/calf-dhcp4.mjs  the DHCP calf, one bundled file
#   DESTDIR/usr/lib/paddock/native/               the Node-API addon and the eBPF objects
#   DESTDIR/usr/sbin/paddock                      a wrapper that points the CLI at them
#   DESTDIR/lib/systemd/system/paddock-dhcp@.service   one instance per interface
#   DESTDIR/lib/systemd/system/paddock-wait-online.service   network-online.target's wait for the leases
#
# The image needs Node 20 (/usr/bin/node), runc and libbpf1 at run time; nothing from npm.
# Run `make setup` in the repository first (it builds the bundles and the addon).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
dest=${1:?usage: install.sh DESTDIR}

for f in packages/cli/dist/paddock.mjs packages/services/dhcp4/calf/dist/calf-dhcp4.mjs \
         native/build/Release/paddock_native.node native/build/Release/dhcp_filter.bpf.o \
         native/build/Release/egress_policy.bpf.o; do
  [[ -f $repo/$f ]] || { echo "install.sh: $f is missing; run make setup first" >&2; exit 1; }
done

lib=$dest/usr/lib/paddock
install -d -m 0755 "$lib/calves" "$lib/native" "$dest/usr/sbin" "$dest/lib/systemd/system"
install -m 0644 "$repo/packages/cli/dist/paddock.mjs" "$lib/paddock.mjs"
install -m 0644 "$repo/packages/services/dhcp4/calf/dist/calf-dhcp4.mjs" "$lib/calves/calf-dhcp4.mjs"
install -m 0644 "$repo/native/build/Release/paddock_native.node" "$repo/native/build/Release/"*.bpf.o "$lib/native/"
cat > "$dest/usr/sbin/paddock" <<'WRAPPER'
#!/bin/sh
# Paddock, as installed in this image: the bundled CLI, its calves and its native addon.
PADDOCK_NATIVE_DIR=/usr/lib/paddock/native PADDOCK_CALF_DIR=/usr/lib/paddock/calves \
  exec /usr/bin/node /usr/lib/paddock/paddock.mjs "$@"
WRAPPER
chmod 0755 "$dest/usr/sbin/paddock"
install -m 0644 "$here/paddock-dhcp@.service" "$dest/lib/systemd/system/paddock-dhcp@.service"
install -m 0644 "$here/paddock-wait-online.service" "$dest/lib/systemd/system/paddock-wait-online.service"
echo "installed Paddock into $dest"
