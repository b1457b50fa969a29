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

CHUNK = 1 << 20


class Transport:
    def __init__(self, source_dir=None, ca_file=None):
        self.source_dir = source_dir
        self.tls = ssl.create_default_context(cafile=ca_file)
        self.messages = queue.Queue(maxsize=64)  # a full queue holds the senders back
        self.open = {}

    def send(self, req):
        threading.Thread(target=self._run, args=(req,), daemon=True).start()

    def abort(self, request_id):
        conn = self.open.pop(request_id, None)
        if conn is not None:
            conn.close()

    def _connect(self, url):
        if url.scheme == "https":
            return http.client.HTTPSConnection(url.hostname, url.port, context=self.tls, timeout=300)
        return http.client.HTTPConnection(url.hostname, url.port, timeout=300)

    def _run(self, req):
        post = self.messages.put
        url = urllib.parse.urlsplit(req.url)
        conn = self.open[req.id] = self._connect(url)
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
            post(("response", (req.id, resp.status, resp.getheaders())))
            while chunk := resp.read1(CHUNK):
                post(("body-chunk", (req.id, chunk)))
            post(("body-end", req.id))
        except SourceError as e:
            post(("transport-failed", (req.id, "source", str(e))))
        except Exception as e:  # noqa: BLE001 - every failure below HTTP goes to the core
            post(("transport-failed", (req.id, error_kind(e), f"{type(e).__name__}: {e}")))
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
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(e, (ConnectionRefusedError, socket.gaierror)):
        return "connect"
    if isinstance(e, (OSError, http.client.HTTPException)):
        return "io"
    return "other"
