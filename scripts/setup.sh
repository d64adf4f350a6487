#!/usr/bin/env bash
# Installs everything Paddock needs on a Debian 12 machine with Node 20, idempotently:
# Debian packages, pnpm, the workspace's dependencies, the native addon and the CLI bundle.
# Each step is skipped when its result is already there, so running it twice is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

# Debian packages: build tools for the addon and eBPF, capnp for the schema, runc for calves,
# patchelf for paddock pack (make pack; the packing itself is not part of setup),
# and the real servers and clients the integration tests and benchmarks run against.
APT_PACKAGES=(
  capnproto clang llvm libbpf-dev make g++ python3 pkg-config patchelf
  runc crun iproute2 tshark tcpdump
  dnsmasq-base kea-dhcp4-server kea-dhcp6-server isc-dhcp-server isc-dhcp-client busybox dhcpcd-base
  chrony radvd faketime ntpsec-ntpdig
  golang-github-opencontainers-specs-dev
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    say "missing Debian packages: ${missing[*]}; run this script as root or install them with apt-get."
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The packaged servers are started by the tests in namespaces, never as system services: keep
  # the packages' scripts from starting them at all (chrony would otherwise run on the host with
  # CAP_SYS_TIME), then disable them.
  policy=/usr/sbin/policy-rc.d
  had_policy=0
  [[ -e $policy ]] && had_policy=1
  if ((!had_policy)); then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"; fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || { ((had_policy)) || rm -f "$policy"; exit 1; }
  ((had_policy)) || rm -f "$policy"
  for svc in kea-dhcp4-server kea-dhcp6-server isc-dhcp-server isc-dhcp-server6 chrony radvd; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
fi

# ntpsec's ntpd, a server for the NTP interop test: its package conflicts with chrony's (both
# provide time-daemon), so it is unpacked under /opt/paddock-test, never installed or started.
NTPSEC_DIR=/opt/paddock-test/ntpsec
if [[ ! -x $NTPSEC_DIR/usr/sbin/ntpd && $(id -u) -eq 0 ]]; then
  say "unpacking ntpsec's ntpd into $NTPSEC_DIR"
  deb_dir=$(mktemp -d) && chmod 755 "$deb_dir"
  # apt's package lists may be missing or stale when no other package had to be installed.
  (cd "$deb_dir" && { apt-get download -qq ntpsec >/dev/null 2>&1 || { apt-get update -qq && apt-get download -qq ntpsec >/dev/null; }; }) && mkdir -p "$NTPSEC_DIR" && dpkg-deb -x "$deb_dir"/ntpsec_*.deb "$NTPSEC_DIR"
  rm -rf "$deb_dir"
fi

# pnpm 10 (the packageManager field pins it; pnpm 12 needs a platform binary the registry lacks).
PNPM_VERSION=$(node -p 'require("./package.json").packageManager.split("@")[1]')
if ! command -v pnpm >/dev/null 2>&1 || [[ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]]; then
  say "installing pnpm $PNPM_VERSION"
  npm install -g --silent "pnpm@$PNPM_VERSION" >/dev/null
fi

# Dependencies: a frozen lockfile, so a fresh clone gets exactly what was tested.
pnpm install --frozen-lockfile --reporter=silent

# The native addon: npm's bundled node-gyp 12 against the system Node headers
# (node-gyp 13 needs Node 22). Rebuilt only when a source is newer than the binary.
if [[ -f native/binding.gyp ]]; then
  addon=native/build/Release/paddock_native.node
  if [[ ! -f $addon ]] || [[ -n $(find native/binding.gyp native/src native/bpf -newer "$addon" -type f 2>/dev/null | head -1) ]]; then
    say "building the native addon"
    NODE_GYP=$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js
    (cd native && node "$NODE_GYP" rebuild --nodedir=/usr --silent >/dev/null)
  fi
fi

# The calf launcher (docs/decisions/0013-external-calves.md): a static C program a calf's own
# systemd unit runs to connect the calf to the priv; rebuilt only when its source is newer.
launcher=native/launcher/build/paddock-calf-launch
if [[ ! -x $launcher || native/launcher/calf-launch.c -nt $launcher ]]; then
  say "building the calf launcher"
  mkdir -p native/launcher/build
  gcc -static -O2 -s -Wall -Wextra -o "$launcher" native/launcher/calf-launch.c
fi

# QuickJS, the lean calf engine (docs/decisions/0010-quickjs-calf-engine.md): its sources come from
# the npm package qjsc@0.3.0 (Debian 12 has no QuickJS); built once, skipped when already built.
native/quickjs/build.sh

# The CLI bundle and the calf bundles (esbuild; the QuickJS calves also qjsc and gcc): single files
# that start without a TypeScript loader.
node_modules/.bin/tsx scripts/build.ts
