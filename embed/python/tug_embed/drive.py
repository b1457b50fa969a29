"""The driving loop: drain the operation's outputs (send, wait, show, read or write files),
then wait for one message from a request, the timer, or Ctrl-C, and feed it in — until the
operation finishes. The same loop as the Rust runners', written once for push and pull."""

import json
import os
import queue
import sys
import time

from .core import Failed


def drive(core, op, transport, layout, show=None):
    """Runs `op` to its end; returns its JSON report or raises `Failed`."""
    show = show or (lambda event: print(json.dumps(event), file=sys.stderr))
    origin = time.monotonic_ns()

    def now():
        return time.monotonic_ns() - origin
    while True:
        deadline = None
        while (out := core.poll(op)) is not None:
            tag, p = out
            if tag == "send":
                transport.send(p)
            elif tag == "abort":
                transport.abort(p)
            elif tag == "event":
                show(json.loads(p))
            elif tag == "wait-until":
                deadline = p
            elif tag == "read-file":
                core.handle(op, now(), "file", (p.path, layout.read(p.path, p.__dict__["max-len"])))
            elif tag == "stat":
                core.handle(op, now(), "size", (p, layout.size(p)))
            elif tag == "write":
                layout.write(p.path, p.offset, p.data)
            elif tag == "rename":
                os.replace(layout.path(p.source), layout.path(p.target))
            elif tag == "remove":
                layout.remove(p)
            elif tag == "finished":
                if isinstance(p, str):
                    return json.loads(p)
                raise Failed(p.__dict__["class"], p.message)
        timeout = None if deadline is None else max(0, deadline - now()) / 1e9
        try:
            tag, payload = transport.messages.get(timeout=timeout)
        except queue.Empty:
            tag, payload = "timeout", None
        except KeyboardInterrupt:
            core.cancel(op)
            continue
        core.handle(op, now(), tag, payload)


class Layout:
    """The files of an OCI layout directory, by the `/`-separated paths the core names."""

    def __init__(self, root):
        self.root = root

    def path(self, relative):
        return os.path.join(self.root, *relative.split("/"))

    def read(self, relative, max_len):
        if os.path.isfile(self.path(relative)):
            with open(self.path(relative), "rb") as f:
                return f.read(max_len)
        return None

    def size(self, relative):
        return os.stat(self.path(relative)).st_size if os.path.isfile(self.path(relative)) else None

    def write(self, relative, offset, data):
        path = self.path(relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "r+b" if os.path.exists(path) else "wb") as f:
            f.seek(offset)
            f.write(data)

    def remove(self, relative):
        if os.path.exists(self.path(relative)):
            os.remove(self.path(relative))
