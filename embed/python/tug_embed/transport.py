"""HTTP with the standard library: each request the core asks for runs on its own thread, is sent
exactly as described and reports its head, body chunks and end (or a transport error) on a queue;
deciding what a response means is the core's. Connections to a host are kept and reused."""

import http.client
import os
import queue
import select
import socket
import ssl
import threading
import urllib.parse
from types import SimpleNamespace as Record

CHUNK = 1 << 20  # whole MiBs: each crossing into the core costs


def error_kind(e):
    """The WIT `transport-error-kind` of an exception from a request."""
    if isinstance(e, ssl.SSLError):
        return "not-tls" if "WRONG_VERSION_NUMBER" in str(e) else "tls"
    kinds = [((EOFError, FileNotFoundError, PermissionError, IsADirectoryError), "source"),  # body's file
             ((socket.timeout, TimeoutError), "timeout"),
             ((ConnectionRefusedError, socket.gaierror), "connect"),
             ((OSError, http.client.HTTPException), "io")]
    return next((kind for types, kind in kinds if isinstance(e, types)), "other")


class Transport:
    def __init__(self, source_dir=None, ca_file=None):
        self.source_dir = source_dir
        self.tls = ssl.create_default_context(cafile=ca_file)
        self.messages = queue.Queue(maxsize=64)  # a full queue holds the senders back
        self.open = {}  # request id: its connection
        self.idle = {}  # (scheme, host, port): connections whose last response was read
        self.lock = threading.Lock()

    def send(self, req):
        threading.Thread(target=self._run, args=(req,), daemon=True).start()

    def abort(self, request_id):  # the core gave up on it: close its connection
        self.open.pop(request_id, http.client.HTTPConnection("unused")).close()

    def _connect(self, url):
        """An idle connection to the URL's host the server has not closed, or a new one."""
        key = (url.scheme, url.hostname, url.port)
        with self.lock:
            idle = self.idle.get(key, [])
            while idle:
                conn = idle.pop()
                if conn.sock is not None and not select.select([conn.sock], [], [], 0)[0]:
                    return key, conn
                conn.close()  # closed by the server (or it sent something unasked)
        if url.scheme == "https":
            return key, http.client.HTTPSConnection(url.hostname, url.port, timeout=300, context=self.tls)
        return key, http.client.HTTPConnection(url.hostname, url.port, timeout=300)

    def _run(self, req):
        post = self.messages.put
        url = urllib.parse.urlsplit(req.url)
        key, conn = self._connect(url)
        self.open[req.id] = conn
        reusable = False
        try:
            target = url.path + ("?" + url.query if url.query else "")
            conn.putrequest(req.method, target, skip_accept_encoding=True)
            for name, value in req.headers:
                conn.putheader(name, value)
            conn.endheaders()
            if isinstance(req.body, str):  # the WIT body: None (empty), latin1 bytes, or a byte range
                conn.send(req.body.encode("latin-1"))
            elif req.body is not None:
                self._send_range(conn, req.id, req.body, post)
            resp = conn.getresponse()
            post(("response", (req.id, Record(status=resp.status, headers=resp.getheaders()))))
            while chunk := resp.read(CHUNK):
                post(("body-chunk", (req.id, chunk.decode("latin-1"))))
            reusable = not resp.will_close
            resp.close()  # read to its end: the connection can take the next request
            post(("body-end", req.id))
        except Exception as e:  # noqa: BLE001 - every failure below HTTP goes to the core
            failure = Record(kind=error_kind(e), message=f"{type(e).__name__}: {e}")
            post(("transport-failed", (req.id, failure)))
        finally:
            if self.open.pop(req.id, None) is conn and reusable:
                with self.lock:
                    self.idle.setdefault(key, []).append(conn)
            else:  # failed, aborted, or the server closes it
                conn.close()

    def _send_range(self, conn, request_id, rng, post):
        """Streams the range from its file: the kernel copies it (sendfile) over plain HTTP,
        one reused buffer feeds TLS. The core is told how much went, not what: the registry
        checks the blob's digest (the core hashes what it is shown, when a host shows it)."""
        with open(os.path.join(self.source_dir, rng.source), "rb", buffering=0) as f:
            buffer = memoryview(bytearray(CHUNK)) if isinstance(conn.sock, ssl.SSLSocket) else None
            offset = rng.start
            while offset < rng.end:
                want = min(CHUNK, rng.end - offset)
                if buffer is None:
                    n = conn.sock.sendfile(f, offset, want)
                else:
                    f.seek(offset)
                    n = f.readinto(buffer[:want])
                    conn.sock.sendall(buffer[:n])
                if not n:
                    raise EOFError(f"{rng.source}: ended {rng.end - offset} bytes early")
                post(("body-progress", (request_id, n)))
                offset += n
