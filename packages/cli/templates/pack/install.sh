#!/bin/sh
# Installs the Paddock tree this script belongs to (paddock pack, docs/pack.md) into a root
# filesystem: an image being built (--root DIR) or this machine (no --root). The result is the
# same as `tar -xzf paddock-VERSION-linux-x64.tar.gz -C DIR`; this script also checks that DIR has
# the libraries the binaries need from Debian (libc6, libstdc++6, libgcc-s1, zlib1g, libseccomp2:
# every Debian 12 with apt has them). It needs no Node, and fetches nothing.
#
#   usage: install.sh [--root DIR]
set -eu

usage="usage: install.sh [--root DIR]"
root=/
while [ $# -gt 0 ]; do
  case $1 in
    --root) [ $# -ge 2 ] || { echo "install.sh: --root needs a directory ($usage)" >&2; exit 2; }; root=$2; shift 2 ;;
    --root=*) root=${1#--root=}; shift ;;
    -h|--help) echo "$usage"; echo "Installs Paddock under DIR/usr (default /); see /usr/share/doc/paddock/pack.md."; exit 0 ;;
    *) echo "install.sh: unknown argument $1 ($usage)" >&2; exit 2 ;;
  esac
done
[ -d "$root" ] || { echo "install.sh: $root is not a directory" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd -P)   # TREE/usr/lib/paddock
tree=$(cd "$here/../../.." && pwd -P)
target=$(cd "$root" && pwd -P)

# Only Paddock's own paths are copied, never a parent such as usr/ (whose metadata tar would reset).
if [ "$tree" != "$target" ]; then
  set -- usr/lib/paddock usr/sbin/paddock usr/share/doc/paddock
  # A generated deployment's configuration files (paddock pack --deployment).
  [ -d "$tree/etc/paddock" ] && set -- "$@" etc/paddock
  for unit in "$tree"/usr/lib/systemd/system/*; do
    [ -e "$unit" ] && set -- "$@" "usr/lib/systemd/system/${unit##*/}"
  done
  (cd "$tree" && tar -cf - --owner=0 --group=0 --numeric-owner -- "$@") | tar -xf - -C "$target"
fi

missing=""
for lib in ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libstdc++.so.6 libgcc_s.so.1 libz.so.1 libseccomp.so.2; do
  found=no
  for dir in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu lib64 usr/lib64; do
    if [ -e "$target/$dir/$lib" ]; then found=yes; break; fi
  done
  [ $found = yes ] || missing="$missing $lib"
done
version=$(cat "$target/usr/lib/paddock/VERSION" 2>/dev/null || echo "?")
echo "installed Paddock $version into $target (systemctl enable paddock-dhcp@IFACE)"
# An image root may get its Debian packages after Paddock: a warning, not a failure.
if [ -n "$missing" ]; then
  echo "install.sh: warning: $target lacks$missing, which Paddock needs to run: install Debian's libc6 libstdc++6 libgcc-s1 zlib1g libseccomp2 there" >&2
fi
