"""Byte lists across the component boundary at C speed. wasmtime-py (50.x) converts a WIT
`list<u8>` one byte at a time in Python (a ctypes call per byte: seconds per MiB); this
fills or reads the C array of values with a few slice copies instead. Only marshalling:
what the bytes mean is still the component's business. `install()` patches wasmtime-py's
`ListType`; any other list, and any wasmtime-py whose value layout differs, keep its code."""

import ctypes

from wasmtime import _ffi as ffi
from wasmtime.component import _types

VAL = ffi.wasmtime_component_val_t
SIZE = ctypes.sizeof(VAL)
KIND = VAL.kind.offset  # a uint8: the value's kind
U8 = VAL.of.offset  # the union's `u8` sits at its start
_template = bytearray()  # SIZE bytes per value, kinds set to U8: refilled in place


def _to_c(original):
    def convert_to_c(self, store, val, ptr):
        if not (isinstance(val, (bytes, bytearray)) and self._is_bytes()):
            return original(self, store, val, ptr)
        global _template
        n = len(val)
        if len(_template) < n * SIZE:
            _template = bytearray(n * SIZE)
            _template[KIND::SIZE] = bytes([ffi.WASMTIME_COMPONENT_U8.value]) * n
        raw = ffi.wasmtime_component_vallist_t()
        ffi.wasmtime_component_vallist_new_uninit(raw, n)
        if n:
            _template[U8:n * SIZE:SIZE] = val
            ctypes.memmove(raw.data, (ctypes.c_char * (n * SIZE)).from_buffer(_template), n * SIZE)
        ptr.contents.kind = ffi.WASMTIME_COMPONENT_LIST
        ptr.contents.of.list = raw
    return convert_to_c


def _from_c(original):
    def convert_from_c(self, c):
        if not self._is_bytes():
            return original(self, c)
        n = c.of.list.size
        try:  # u8 values own nothing: the array is freed as a whole
            if not n:
                return b""
            values = (ctypes.c_char * (n * SIZE)).from_address(ctypes.addressof(c.of.list.data.contents))
            return memoryview(values).cast("B")[U8::SIZE].tobytes()
        finally:
            ffi.wasmtime_component_vallist_delete(ctypes.byref(c.of.list))
    return convert_from_c


def install():
    """Patches wasmtime-py's byte lists, once, where its value layout is the expected one."""
    cls = _types.ListType
    if getattr(cls, "_tug_fast_bytes", False):
        return
    if VAL.kind.size != 1 or getattr(ffi, "wasmtime_component_valkind_t", None) is not ctypes.c_uint8:
        return
    cls.convert_to_c = _to_c(cls.convert_to_c)
    cls.convert_from_c = _from_c(cls.convert_from_c)
    cls._tug_fast_bytes = True
