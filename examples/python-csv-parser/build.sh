#!/usr/bin/env bash
# Builds the component: ./build.sh [OUT_DIR]
#
# OUT_DIR defaults to <repo>/target/examples/python-csv-parser. Prints the
# component's path on stdout. componentize-py 0.25.1 is installed by
# scripts/ensure-tool if missing. The build (about 20 s) is skipped when the
# sources, the WIT and the tool versions are those of the last build.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$repo/target/examples/python-csv-parser}"
wasm="$out/csv_parser.wasm"
mkdir -p "$out"

# One build at a time per output directory (tests run in parallel).
exec 9>"$out/.lock"
flock -x 9

stamp="$(cat "$here/app.py" "$here/csvline.py" "$repo/wit/sluice.wit" "$here/build.sh" \
    "$repo/scripts/ensure-tool" | sha256sum | cut -d' ' -f1)"
if [ -s "$wasm" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "$wasm"
    exit 0
fi

componentize_py="$("$repo/scripts/ensure-tool" componentize-py)"
# The bindings (the `wit_world` package) are generated into the component;
# `componentize-py -d wit -w transform bindings DIR` writes them out to read.
# Unset VIRTUAL_ENV so only this directory (and the stdlib) is bundled.
(cd "$here" && env -u VIRTUAL_ENV "$componentize_py" -d "$repo/wit" -w transform \
    componentize -p "$here" app -o "$wasm.tmp" >&2)
mv "$wasm.tmp" "$wasm"
echo "$stamp" >"$out/.stamp"
echo "$wasm"
