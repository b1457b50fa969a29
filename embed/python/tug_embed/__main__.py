"""python -m tug_embed push LAYOUT IMAGE | pull IMAGE LAYOUT: pushes an OCI layout to a registry,
or pulls an image into one, with tug-core's WebAssembly component doing every protocol decision;
progress events go to standard error as JSON lines, the report to standard output."""

import argparse
import contextlib
import os
import queue
import sys
import time

from .core import Core, Failed
from .transport import Transport


def read(path, max_len):
    """The first `max_len` bytes of a file (as WIT `latin1`), or None if there is none."""
    if os.path.isfile(path):
        with open(path, "rb") as f:
            return f.read(max_len).decode("latin-1")


def write(path, offset, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "r+b" if os.path.exists(path) else "wb") as f:
        f.seek(offset)
        f.write(data.encode("latin-1"))


def remove(path):
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def drive(core, op, transport, root):
    """The driving loop: drains the operation's outputs (send, wait, show, read or write the
    layout's files), then waits for one message from a request, the timer or Ctrl-C and feeds
    it in, until the operation finishes. Returns its report (JSON) or raises `Failed`."""
    origin = time.monotonic_ns()

    def now():
        return time.monotonic_ns() - origin

    def path(relative):
        return os.path.join(root, relative)
    actions = {
        "send": transport.send,
        "abort": transport.abort,
        "event": lambda p: print(p, file=sys.stderr),
        "read-file": lambda p: ("file", (p.path, read(path(p.path), p.__dict__["max-len"]))),
        "stat": lambda p: ("size", (p, os.path.getsize(path(p)) if os.path.isfile(path(p)) else None)),
        "write": lambda p: write(path(p.path), p.offset, p.data),
        "rename": lambda p: os.replace(path(p.source), path(p.target)),
        "remove": lambda p: remove(path(p)),
    }
    while True:
        deadline = None
        while (out := core.poll(op)) is not None:
            tag, p = out
            if tag == "finished" and isinstance(p, str):
                return p
            if tag == "finished":
                raise Failed(p)
            if tag == "wait-until":
                deadline = p
            elif answer := actions[tag](p):  # the input answering a file read
                core.handle(op, now(), *answer)
        timeout = None if deadline is None else max(0, deadline - now()) / 1e9
        try:
            tag, payload = transport.messages.get(timeout=timeout)
        except queue.Empty:
            tag, payload = "timeout", None
        except KeyboardInterrupt:
            core.cancel(op)
            continue
        core.handle(op, now(), tag, payload)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tug_embed", description=__doc__)
    parser.add_argument("command", choices=["push", "pull"])
    parser.add_argument("places", nargs=2, metavar="PLACE")
    parser.add_argument("--plain-http", action="store_true", default=None)
    for flag in ("--ca", "--user", "--password", "--name", "--platform", "--jobs", "--retries"):
        parser.add_argument(flag, type=int if flag in ("--jobs", "--retries") else str)
    args = parser.parse_args(argv)
    push = args.command == "push"
    layout, image = args.places if push else reversed(args.places)
    options = {"plainHttp": args.plain_http, "username": args.user, "password": args.password,
               "jobs": args.jobs, "retries": args.retries, "userAgent": "tug-embed-python",
               "name": args.name if push else None, "platform": None if push else args.platform}
    try:
        core = Core()
        print(drive(core, core.start(args.command, image, options), Transport(layout, args.ca), layout))
    except Failed as e:
        print(f"tug_embed: {args.command} failed: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
