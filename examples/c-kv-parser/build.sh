#!/usr/bin/env bash
# Builds the component: ./build.sh [OUT_DIR]
#
# OUT_DIR defaults to <repo>/target/examples/c-kv-parser. Prints the
# component's path on stdout. The tools (wit-bindgen 0.63.0, Debian's clang 14
# with wasi-libc, wasm-tools 1.263.0 and the wasi_snapshot_preview1 reactor
# adapter 48.0.8) are installed by scripts/ensure-tool if missing. The build
# is skipped when the sources, the WIT and the tool versions are those of the
# last build.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$repo/target/examples/c-kv-parser}"
wasm="$out/c_kv_parser.wasm"
sources=(plugin.c kv.c config.c)
mkdir -p "$out"

# One build at a time per output directory (tests run in parallel).
exec 9>"$out/.lock"
flock -x 9

stamp="$(cd "$here" && cat "${sources[@]}" kv.h config.h build.sh "$repo/wit/sluice.wit" \
    "$repo/scripts/ensure-tool" | sha256sum | cut -d' ' -f1)"
if [ -s "$wasm" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "$wasm"
    exit 0
fi

tool() { "$repo/scripts/ensure-tool" "$1"; }
wit_bindgen="$(tool wit-bindgen)"
clang="$(tool clang)"
sysroot="$(tool wasi-sysroot)"
wasm_tools="$(tool wasm-tools)"
adapter="$(tool wasi-adapter)"

# 1. C bindings for the world `transform`: transform.h, transform.c and
#    transform_component_type.o (the WIT, embedded as a custom section).
rm -rf "$out/bindings"
"$wit_bindgen" c --world transform --out-dir "$out/bindings" "$repo/wit" >&2

# 2. A core module for WASI preview 1, as a reactor: no main, exports called
#    any number of times. --strip-all drops the name section (two thirds of
#    the size; traps then show no function names).
(cd "$here" && "$clang" --target=wasm32-wasi --sysroot="$sysroot" -mexec-model=reactor \
    -std=c11 -O2 -Wall -Wextra -Werror -I "$out/bindings" -Wl,--strip-all \
    -o "$out/core.wasm" "${sources[@]}" \
    "$out/bindings/transform.c" "$out/bindings/transform_component_type.o" >&2)

# 3. The component: the adapter turns the preview 1 imports into WASI 0.2.
"$wasm_tools" component new "$out/core.wasm" \
    --adapt "wasi_snapshot_preview1=$adapter" -o "$wasm.tmp" >&2
"$wasm_tools" validate --features component-model "$wasm.tmp" >&2
mv "$wasm.tmp" "$wasm"
echo "$stamp" >"$out/.stamp"
echo "$wasm"
