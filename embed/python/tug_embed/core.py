"""tug-core's WebAssembly component (component/wit/tug.wit), loaded with wasmtime-py. Bytes
cross as the WIT's `latin1` strings: `data.decode("latin-1")` in, `text.encode("latin-1")` out."""

import contextlib
import json
import os

import wasmtime
from wasmtime import component as wc

INTERFACE = "tug:core/sansio@0.1.0"
# The seed of Rust's HashMap hasher: the one import the component calls.
SEED = "wasi:random/insecure-seed@"
# The repository's build (scripts/build-component.sh), unless TUG_COMPONENT names another.
DEFAULT_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "..", "target",
                            "wasm32-wasip2", "dist", "tug_component.wasm")
FUNCS = ("push", "pull", "copy",
         "[method]operation.poll", "[method]operation.handle", "[method]operation.cancel")


class Failed(Exception):
    """The operation failed: a WIT `failure`, the core's error class (input, auth, ...) first."""

    def __init__(self, failure):
        super().__init__(f"{failure.__dict__['class']}: {failure.message}")
        self.exit_code = failure.__dict__["exit-code"]  # the CLI's code for the class


class Core:
    """One instance of the component. Of its imports (what Rust's std links) only the hash
    seed is given; every other one traps: the component does no I/O, so never calls them."""

    def __init__(self, path=None):
        engine = wasmtime.Engine()
        self.store = wasmtime.Store(engine)
        path = path or os.environ.get("TUG_COMPONENT", DEFAULT_PATH)
        component = None  # from its machine code (scripts/build-component.sh) if new and fitting
        if os.path.isfile(path + ".cwasm") and os.path.getmtime(path + ".cwasm") >= os.path.getmtime(path):
            with contextlib.suppress(wasmtime.WasmtimeError):
                component = wc.Component.deserialize_file(engine, path + ".cwasm")
        component = component or wc.Component.from_file(engine, path)  # else compiled (a second)
        linker = wc.Linker(engine)
        seed_import = next(i for i in component.type.imports(engine) if i.startswith(SEED))
        with linker.root() as root, root.add_instance(seed_import) as seed:
            seed.add_func("insecure-seed", lambda _store: (0x7AC3, 0x11F0))
        linker.define_unknown_imports_as_traps(component)
        instance = linker.instantiate(self.store, component)
        iface = instance.get_export_index(self.store, INTERFACE)
        index = {name: instance.get_export_index(self.store, name, iface) for name in FUNCS}
        self._funcs = {name: instance.get_func(self.store, i) for name, i in index.items()}

    def _call(self, name, *args):
        func = self._funcs[name]
        result = func(self.store, *args)
        func.post_return(self.store)
        return result

    def start(self, kind, place, options, target=None):
        """A `push` (to `place`, of the layout the host reads), a `pull` (of `place`, into the
        layout the host writes) or a `copy` (of `place` to `target`), with `options` as the WIT says."""
        options = json.dumps({k: v for k, v in options.items() if v is not None})
        result = self._call(kind, place, *filter(None, [target]), options)
        if isinstance(result, wc.Record):  # result<operation, failure>: the failure
            raise Failed(result)
        return result

    def poll(self, op):
        """The next output as (tag, payload), or None until an input."""
        out = self._call("[method]operation.poll", op)
        return None if out is None else (out.tag, out.payload)

    def handle(self, op, now_ns, tag, payload=None):
        """Feeds input `tag` (a case of the WIT `input` variant) at `now_ns`."""
        error = self._call("[method]operation.handle", op, now_ns, wc.Variant(tag, payload))
        assert error is None, f"host misuse: {error}"

    def cancel(self, op):
        self._call("[method]operation.cancel", op)
