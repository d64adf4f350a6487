#!/usr/bin/env bash
# Builds QuickJS, the lean calf engine (docs/decisions/0010-quickjs-calf-engine.md), from the
# 2021-03-27 sources that the npm package qjsc@0.3.0 ships (deps/quickjs_2021_03_27): QuickJS is
# not packaged in Debian 12, and the npm registry is one these machines can reach.
#
# Output, under native/quickjs/build/ (ignored by git):
#   lib/libquickjs.a, include/   the engine, linked statically into each QuickJS calf
#   bin/qjsc                     the bytecode compiler (scripts/build.ts runs it)
#   bin/qjs                      the interpreter (tests probe the engine's built-ins with it)
# Skipped when the stamp says this script already built this version: a few ms when nothing changed.
set -euo pipefail
cd "$(dirname "$0")"
self=$(basename "$0")

PACKAGE=qjsc@0.3.0
# The registry's dist.integrity of qjsc-0.3.0.tgz: what we built and reviewed is what we build.
INTEGRITY=sha512-a7+cU6/IVcZbIejffdt/wZVMX6LL2MDL3HQ9Zb5Gm23G9DvBMS/z9GHFxz39bAvp2PvMOM+ypSOAyokt2DdZ2w==
SOURCES=deps/quickjs_2021_03_27
OUT=build
STAMP="$OUT/STAMP"
want_stamp="$PACKAGE $INTEGRITY $(sha256sum "$self" | cut -d' ' -f1)"

say() { printf 'quickjs: %s\n' "$*" >&2; }

if [[ -f $STAMP && "$(cat "$STAMP")" == "$want_stamp" && -f $OUT/lib/libquickjs.a && -x $OUT/bin/qjsc && -x $OUT/bin/qjs ]]; then
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say "fetching $PACKAGE from the npm registry"
tarball=$(cd "$work" && npm pack "$PACKAGE" --silent)
got=$(node -e 'const c=require("crypto"),f=require("fs");console.log("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$work/$tarball")
if [[ $got != "$INTEGRITY" ]]; then
  say "$tarball has integrity $got, expected $INTEGRITY: refusing to build it"
  exit 1
fi
tar xzf "$work/$tarball" -C "$work" "package/$SOURCES"
src="$work/package/$SOURCES"
version=$(cat "$src/VERSION")

rm -rf "$OUT" && mkdir -p "$OUT/obj" "$OUT/lib" "$OUT/bin" "$OUT/include"
say "building QuickJS $version (about a minute)"
# The defines of QuickJS's own Makefile: BigInt (CONFIG_BIGNUM, hence libbf.c) is part of ES2020.
CFLAGS=(-O2 -g0 -fwrapv -D_GNU_SOURCE "-DCONFIG_VERSION=\"$version\"" -DCONFIG_BIGNUM -Wno-array-bounds -Wno-format-truncation -Wno-enum-int-mismatch)
LIB_SOURCES=(quickjs libregexp libunicode cutils libbf quickjs-libc)
printf '%s\n' "${LIB_SOURCES[@]}" | xargs -P "$(nproc)" -I{} gcc "${CFLAGS[@]}" -c "$src/{}.c" -o "$OUT/obj/{}.o"
ar rcs "$OUT/lib/libquickjs.a" $(printf "$OUT/obj/%s.o " "${LIB_SOURCES[@]}")
cp "$src"/{quickjs.h,quickjs-libc.h} "$OUT/include/"
cp "$src/LICENSE" "$OUT/LICENSE"
echo "$version" >"$OUT/VERSION"

# qjsc runs at build time only; -DCONFIG_CC names the C compiler it would call (we never let it).
gcc "${CFLAGS[@]}" -DCONFIG_CC=\"gcc\" -DCONFIG_PREFIX=\"/usr/local\" -c "$src/qjsc.c" -o "$OUT/obj/qjsc.o"
gcc -o "$OUT/bin/qjsc" "$OUT/obj/qjsc.o" "$OUT/lib/libquickjs.a" -lm -ldl -lpthread
# qjs, for tests: its REPL and calculator are JS compiled by qjsc.
"$OUT/bin/qjsc" -c -o "$OUT/obj/repl.c" -m "$src/repl.js"
"$OUT/bin/qjsc" -fbignum -c -o "$OUT/obj/qjscalc.c" "$src/qjscalc.js"
for f in qjs:"$src/qjs.c" repl:"$OUT/obj/repl.c" qjscalc:"$OUT/obj/qjscalc.c"; do
  gcc "${CFLAGS[@]}" -I"$src" -c "${f#*:}" -o "$OUT/obj/${f%%:*}.o"
done
gcc -o "$OUT/bin/qjs" "$OUT/obj/qjs.o" "$OUT/obj/repl.o" "$OUT/obj/qjscalc.o" "$OUT/lib/libquickjs.a" -lm -ldl -lpthread
rm -rf "$OUT/obj"
echo "$want_stamp" >"$STAMP"
say "built QuickJS $version in native/quickjs/$OUT"
