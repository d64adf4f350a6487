#!/usr/bin/env bash
# Installs the DHCP shim into an OS image's root (DESTDIR), as an image builder would:
#
#   DESTDIR/usr/lib/paddock/paddock.mjs          the CLI, bundled, and chunks/ (one per command)
#   DESTDIR/usr/lib/paddock/calves/calf-dhcp4.mjs  the DHCP calf, one bundled file
#   DESTDIR/usr/lib/paddock/native/               the Node-API addon and the eBPF objects
#   DESTDIR/usr/sbin/paddock                      a wrapper that points the CLI at them
#   DESTDIR/lib/systemd/system/paddock-dhcp@.service   one instance per interface
#   DESTDIR/lib/systemd/system/paddock-wait-online.service   network-online.target's wait for the leases
#
# The image needs Node 20 (/usr/bin/node), runc and libbpf1 at run time; nothing from npm.
# Run `make setup` in the repository first (it builds the bundles and the addon).
#
# With a deployment file (install.sh DESTDIR DEPLOYMENT [VARIANT]; deployment.yaml here is one),
# `paddock generate` makes its calf bundles, configuration and hardened unit(s), which go in too:
#   DESTDIR/usr/lib/paddock/bundles/  DESTDIR/usr/lib/paddock/services/  DESTDIR/etc/paddock/
#   DESTDIR/lib/systemd/system/paddock-NAME.service, and DESTDIR/usr/share/doc/paddock/check-report.txt
# (docs/generate.md). Its checks must pass, or nothing is installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
dest=${1:?usage: install.sh DESTDIR [DEPLOYMENT [VARIANT]]}
deployment=${2:-}
variant=${3:-}

for f in packages/cli/dist/paddock.mjs packages/services/dhcp4/calf/dist/calf-dhcp4.mjs \
         native/build/Release/paddock_native.node native/build/Release/dhcp_filter.bpf.o \
         native/build/Release/egress_policy.bpf.o; do
  [[ -f $repo/$f ]] || { echo "install.sh: $f is missing; run make setup first" >&2; exit 1; }
done

lib=$dest/usr/lib/paddock
install -d -m 0755 "$lib/calves" "$lib/native" "$dest/usr/sbin" "$dest/lib/systemd/system"
install -m 0644 "$repo/packages/cli/dist/paddock.mjs" "$lib/paddock.mjs"
# The CLI's chunks (scripts/build.ts splits it per command): those paddock.mjs reaches, not the
# older builds' kept beside them in dist/chunks.
install -d -m 0755 "$lib/chunks"
node -e '
  const fs = require("fs"), path = require("path");
  const dist = process.argv[1], seen = new Set(), todo = [path.join(dist, "paddock.mjs")];
  while (todo.length > 0) {
    const file = todo.pop();
    for (const m of fs.readFileSync(file, "utf8").matchAll(/\.\/((?:chunks\/)?[\w.-]+\.mjs)/g)) {
      const chunk = path.resolve(path.dirname(file), m[1]);
      if (!seen.has(chunk) && fs.existsSync(chunk)) (seen.add(chunk), todo.push(chunk));
    }
  }
  for (const chunk of seen) console.log(chunk);
' "$repo/packages/cli/dist" | while read -r chunk; do install -m 0644 "$chunk" "$lib/chunks/"; done
install -m 0644 "$repo/packages/services/dhcp4/calf/dist/calf-dhcp4.mjs" "$lib/calves/calf-dhcp4.mjs"
if [[ -f $repo/packages/services/ntp/calf/dist/calf-ntp.mjs ]]; then
  install -m 0644 "$repo/packages/services/ntp/calf/dist/calf-ntp.mjs" "$lib/calves/calf-ntp.mjs"
fi
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
if [[ -n $deployment ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  node "$repo/packages/cli/bin/paddock.mjs" generate "$deployment" --out "$out/gen" ${variant:+--variant "$variant"} >/dev/null \
    || { echo "install.sh: paddock generate failed; nothing of the deployment was installed (its report: above)" >&2; exit 1; }
  install -d -m 0755 "$lib/bundles" "$lib/services" "$dest/etc/paddock" "$dest/usr/share/doc/paddock"
  cp -a "$out/gen/bundles/." "$lib/bundles/"
  cp -a "$out/gen/services/." "$lib/services/" 2>/dev/null || true
  install -m 0644 "$out/gen/config/"*.yaml "$dest/etc/paddock/"
  install -m 0644 "$out/gen/systemd/"*.service "$dest/lib/systemd/system/"
  install -m 0644 "$out/gen/check-report.txt" "$out/gen/linuxkit.yml" "$dest/usr/share/doc/paddock/"
  echo "installed the deployment $deployment: $(cd "$out/gen/systemd" && echo *.service)"
fi
echo "installed Paddock into $dest"
