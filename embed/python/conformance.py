"""Replays the conformance scenarios (component/conformance/*.json, written by the native
run in component/tests/conformance.rs) through the WebAssembly component: the same inputs
at the same instants must give the same outputs, one for one.

    python embed/python/conformance.py component/conformance/*.json
"""

import json
import sys
from types import SimpleNamespace

from tug_embed.core import Core


def request_json(p):
    """A request as the native transcript writes it."""
    body = p.body
    if body is None:
        body = "empty"
    elif isinstance(body, str):  # WIT `latin1` bytes
        body = {"bytes": body.encode("latin-1").hex()}
    elif isinstance(body, int):  # a copy's upload: the `stream` the core feeds
        body = {"stream": body}
    else:
        body = {"range": {"source": body.source, "start": body.start, "end": body.end}}
    headers = [[n, v] for n, v in p.headers]
    return {"id": p.id, "method": p.method, "url": p.url, "headers": headers, "body": body}


def output_json(tag, p):
    """An output as the native transcript writes it."""
    if tag == "send":
        p = request_json(p)
    elif tag == "send-to":  # the side: source(n) as n, target as None
        side, request = p
        p = ["target" if side is None else {"source": side}, request_json(request)]
    elif tag == "body-data":
        p = [p[0], p[1].encode("latin-1").hex()]
    elif tag == "body-failed":
        p = list(p)
    elif tag == "event":
        p = json.loads(p)
    elif tag == "read-file":
        p = {"path": p.path, "max-len": p.__dict__["max-len"]}
    elif tag == "write":
        p = {"path": p.path, "offset": p.offset, "data": p.data.encode("latin-1").hex()}
    elif tag == "rename":
        p = {"source": p.source, "target": p.target}
    elif tag == "finished":
        p = {"ok": json.loads(p)} if isinstance(p, str) else \
            {"err": {"class": p.__dict__["class"], "message": p.message}}
    return {tag: p}


def input_value(step):
    """A transcript input as (tag, payload) for the component."""
    if step == "timeout":
        return "timeout", None
    [(tag, p)] = step.items()
    if tag == "response":
        head = SimpleNamespace(status=p[1]["status"], headers=[tuple(h) for h in p[1]["headers"]])
        return tag, (p[0], head)
    if tag in ("body-chunk", "body-sent"):
        return tag, (p[0], bytes.fromhex(p[1]).decode("latin-1"))
    if tag == "transport-failed":
        return tag, (p[0], SimpleNamespace(**p[1]))
    if tag == "file":
        return tag, (p[0], None if p[1] is None else bytes.fromhex(p[1]).decode("latin-1"))
    return tag, tuple(p) if isinstance(p, list) else p


def same(a, b):
    """Equal, floats included to the last bit (the core's `exp` is libm's on every target)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def replay(core, scenario):
    """None when the component did as the transcript says, else what differed."""
    if "source" in scenario:  # a copy of `source` to `image`
        op = core.start("copy", scenario["source"], scenario["options"], scenario["image"])
    else:
        op = core.start(scenario["operation"], scenario["image"], scenario["options"])
    steps = scenario["steps"]
    for i, step in enumerate(steps):
        if "in" in step:
            # A drain the transcript shows (outputs, then an input) must be the whole drain.
            extra = core.poll(op) if i > 0 and "out" in steps[i - 1] else None
            if extra is not None:
                return f"step {i}: expected the drain to end, got {json.dumps(output_json(*extra))}"
            tag, payload = input_value(step["in"])
            core.handle(op, step["now"], tag, payload)
            continue
        out = core.poll(op)
        got = None if out is None else output_json(*out)
        if not same(got, step["out"]):
            return f"step {i}: expected {json.dumps(step['out'])}\n  got {json.dumps(got)}"
    extra = core.poll(op)
    return None if extra is None else f"an output after the last step: {output_json(*extra)}"


def main(paths):
    passed = failed = 0
    for path in paths:
        with open(path) as f:
            scenario = json.load(f)
        problem = replay(Core(), scenario)
        if problem:
            failed += 1
            print(f"FAIL {scenario['scenario']}: {problem}")
        else:
            passed += 1
            print(f"ok   {scenario['scenario']} ({len(scenario['steps'])} steps)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
