"""HTTP with the standard library: each request the core asks for runs on its own thread
and reports its head, body chunks and end (or a transport error) on a queue. It sends the
request exactly as described and reads every response; deciding what it means is the core's."""

import http.client
import os
import queue
import socket
import ssl
import threading
import urllib.parse
from types import SimpleNamespace as Record

CHUNK = 1 << 20


class Transport:
    def __init__(self, source_dir=None, ca_file=None):
        self.source_dir = source_dir
        self.tls = ssl.create_default_context(cafile=ca_file)
        self.messages = queue.Queue(maxsize=64)  # a full queue holds the senders back
        self.open = {}

    def send(self, req):
        threading.Thread(target=self._run, args=(req,), daemon=True).start()

    def abort(self, request_id):  # the core gave up on it: close its connection
        self.open.pop(request_id, http.client.HTTPConnection("unused")).close()

    def _run(self, req):
        post = self.messages.put
        url = urllib.parse.urlsplit(req.url)
        tls = {"context": self.tls} if url.scheme == "https" else {}
        connection = http.client.HTTPSConnection if tls else http.client.HTTPConnection
        conn = self.open[req.id] = connection(url.hostname, url.port, timeout=300, **tls)
        try:
            target = url.path + ("?" + url.query if url.query else "")
            conn.putrequest(req.method, target, skip_accept_encoding=True)
            for name, value in req.headers:
                conn.putheader(name, value)
            body = req.body  # the WIT body: None (empty), bytes, or a byte-range record
            if body is not None and not any(n.lower() == "content-length" for n, _ in req.headers):
                size = len(body) if isinstance(body, bytes) else body.end - body.start
                conn.putheader("Content-Length", str(size))
            conn.endheaders()
            if isinstance(body, bytes):
                conn.send(body)
            elif body is not None:
                self._send_range(conn, req.id, body, post)
            resp = conn.getresponse()
            post(("response", (req.id, Record(status=resp.status, headers=resp.getheaders()))))
            while chunk := resp.read1(CHUNK):
                post(("body-chunk", (req.id, chunk)))
            post(("body-end", req.id))
        except SourceError as e:
            post(("transport-failed", (req.id, Record(kind="source", message=str(e)))))
        except Exception as e:  # noqa: BLE001 - every failure below HTTP goes to the core
            failure = Record(kind=error_kind(e), message=f"{type(e).__name__}: {e}")
            post(("transport-failed", (req.id, failure)))
        finally:
            self.open.pop(req.id, None)
            conn.close()

    def _send_range(self, conn, request_id, rng, post):
        try:
            f = open(os.path.join(self.source_dir, rng.source), "rb")
        except OSError as e:
            raise SourceError(f"{rng.source}: {e}") from e
        with f:
            f.seek(rng.start)
            left = rng.end - rng.start
            while left > 0:
                data = f.read(min(CHUNK, left))
                if not data:
                    raise SourceError(f"{rng.source}: ended {left} bytes early")
                conn.send(data)
                post(("body-sent", (request_id, data)))
                left -= len(data)


class SourceError(Exception):
    """The file a body comes from cannot be read."""


def error_kind(e):
    """The WIT `transport-error-kind` of a Python exception."""
    if isinstance(e, ssl.SSLError):
        return "not-tls" if "WRONG_VERSION_NUMBER" in str(e) else "tls"
    kinds = [((socket.timeout, TimeoutError), "timeout"), ((ConnectionRefusedError, socket.gaierror), "connect"),
             ((OSError, http.client.HTTPException), "io")]
    return next((kind for types, kind in kinds if isinstance(e, types)), "other")
