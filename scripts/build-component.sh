#!/usr/bin/env bash
# Builds tug-core as a WebAssembly component (component/, wasm32-wasip2, the `dist` profile:
# optimised and stripped) into target/wasm32-wasip2/dist/tug_component.wasm, sets up the
# Python host's venv (target/tug-embed-venv, wasmtime from PyPI), and checks that the
# component imports no WASI filesystem, sockets, HTTP or clocks: it does no I/O.
set -euo pipefail
cd "$(dirname "$0")/.."

# The wasmtime (PyPI) the Python host (embed/python) is tested with.
WASMTIME_PY_VERSION=50.0.1
venv=target/tug-embed-venv

cargo build -p tug-component --target wasm32-wasip2 --profile dist
wasm=target/wasm32-wasip2/dist/tug_component.wasm

if [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("wasmtime"))' 2>/dev/null)" != "$WASMTIME_PY_VERSION" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "wasmtime==$WASMTIME_PY_VERSION"
fi

# What the component imports: only what Rust's std links for wasm32-wasip2 (stdio,
# environment, exit, a hash seed); the Python host makes every import trap.
"$venv/bin/python" - "$wasm" <<'PY'
import sys, wasmtime, wasmtime.component as wc
engine = wasmtime.Engine()
imports = sorted(wc.Component.from_file(engine, sys.argv[1]).type.imports(engine))
forbidden = [i for i in imports if i.split("/")[0] in ("wasi:filesystem", "wasi:sockets", "wasi:http", "wasi:clocks")]
print("component imports:", " ".join(imports), file=sys.stderr)
if forbidden:
    sys.exit(f"the component must do no I/O, but imports {forbidden}")
PY
# The component compiled for this machine and wasmtime, which the Python host loads instead
# of compiling it on every start (embed/python/tug_embed/core.py).
"$venv/bin/python" - "$wasm" <<'PY'
import sys, wasmtime, wasmtime.component as wc
compiled = wc.Component.from_file(wasmtime.Engine(), sys.argv[1]).serialize()
open(sys.argv[1] + ".cwasm", "wb").write(compiled)
PY
printf 'built %s (%s bytes)\n' "$wasm" "$(stat -c %s "$wasm")" >&2
