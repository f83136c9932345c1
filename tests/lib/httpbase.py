"""HTTP plumbing shared by the test servers sse_fault_server.py and
aviso_emulator.py (Python 3 stdlib).

* BackgroundServer: a mixin for the server object (FaultServer, Emulator).
  It serves HTTP/1.1 in a background thread and keeps track of every handler
  thread and client socket, so that stop() ends them all; start() after
  stop() binds the same port again.  It owns the object's _lock (an RLock),
  _cv (a Condition on it) and _stopping (an Event set while stopping);
  _end() marks a request record (a dict with "end", "ended") ended.
* Handler: the request handler base: every method goes to _dispatch(), log
  lines only when the owner is verbose, raw-socket helpers.
* fin() / rst() / peer_closed(): end a client socket with FIN or RST (SO_LINGER
  0), or see whether the client has gone, without consuming data.
* body_sends(): the send() payloads of one body write, as an HTTP chunk or
  cut into 1-3 byte chunks ("split" mode).
* wait_until(): wait on a condition variable for a predicate, bounded.
* parse_list(): a fault script from a list, JSON, '@file' or shorthands.
"""

import json
import os
import select
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LAST_CHUNK = b"0\r\n\r\n"


# -- client sockets --------------------------------------------------------

def fin(sock):
    """Send FIN (shut down our writing side); errors are ignored."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def rst(sock):
    """Abort the connection with RST: SO_LINGER {1, 0} then close the
    descriptor itself (a shutdown would send FIN first)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        fd = sock.detach()
        os.close(fd)
    except OSError:
        pass


def peer_closed(sock):
    """True if the client has closed its side (readable, but EOF) or the
    socket is unusable.  Never consumes data."""
    try:
        r, _, _ = select.select([sock], [], [], 0)
        if r:
            return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True
    return False


def body_sends(data, chunked=True, rng=None, delay=0.0):
    """The send() payloads of one body write: `data` as one HTTP chunk, or,
    with rng ("split" mode), cut into pieces of rng.randint(1, 3) bytes, each
    its own chunk, pausing `delay` seconds after each send (pacing, not
    synchronisation).  chunked=False: the bytes unframed (body delimited by
    close).  The caller sends (and counts) each payload as it comes."""
    if rng is None:
        yield _frame(data, chunked)
        return
    i = 0
    while i < len(data):
        n = rng.randint(1, 3)
        yield _frame(data[i:i + n], chunked)
        i += n
        if delay:
            time.sleep(delay)


def _frame(piece, chunked):
    if chunked:
        return b"%x\r\n" % len(piece) + piece + b"\r\n"
    return piece


# -- headers and waiting ---------------------------------------------------

def find_header(headers, name):
    """The value of header `name` (case-insensitive) in a dict, or None."""
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def wait_until(cv, pred, timeout, step, describe):
    """Wait (holding cv, waking at least every `step` seconds) until pred()
    is true and return its value; after `timeout` seconds raise
    AssertionError(describe())."""
    deadline = time.monotonic() + timeout
    with cv:
        while True:
            v = pred()
            if v:
                return v
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(describe())
            cv.wait(min(left, step))


def parse_list(text, parse_one):
    """A list of parse_one(item) from a list, a JSON list or object text,
    '@file' (its content, likewise) or comma-separated shorthands."""
    if text is None or text == "":
        return []
    if isinstance(text, list):
        return [parse_one(x) for x in text]
    if text.startswith("@"):
        with open(text[1:]) as f:
            text = f.read()
    t = text.strip()
    if t.startswith("[") or t.startswith("{"):
        v = json.loads(t)
        if isinstance(v, dict):
            v = [v]
        return [parse_one(x) for x in v]
    return [parse_one(x) for x in t.split(",") if x.strip()]


# -- server and handler ----------------------------------------------------

class TrackingHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that registers each handler thread and client
    socket in owner._threads / owner._socks (under owner._lock) and prints
    handler errors only when owner.verbose."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler_class, owner, queue_size=64):
        self.owner = owner
        self.request_queue_size = queue_size
        super().__init__(addr, handler_class)

    def process_request(self, request, client_address):
        t = threading.Thread(target=self.process_request_thread,
                             args=(request, client_address), daemon=True)
        o = self.owner
        with o._lock:
            o._threads = [x for x in o._threads if x.is_alive()]
            o._threads.append(t)
            o._socks = [x for x in o._socks if x.fileno() != -1]
            o._socks.append(request)
        t.start()

    def handle_error(self, request, client_address):
        if self.owner.verbose:
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1; every method goes to self._dispatch(); self.server.owner is
    the server object."""
    protocol_version = "HTTP/1.1"
    log_name = "server"   # prefix of the log lines (verbose only)

    def log_message(self, fmt, *args):
        if self.server.owner.verbose:
            sys.stderr.write(self.log_name + ": " + (fmt % args) + "\n")

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    def _send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.connection.sendall(data)

    def _fin(self):
        fin(self.connection)

    def _rst(self):
        rst(self.connection)
        self.close_connection = True

    def _client_gone(self):
        return peer_closed(self.connection)

    def _send_json_close(self, status, data):
        """A complete JSON response (data: bytes) with Connection: close
        (the control endpoints' answer)."""
        self._send("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\nConnection: close\r\n\r\n"
                   % (status, self.responses.get(status, ("X",))[0], len(data)))
        self._send(data)


class BackgroundServer:
    """Mixin for a server object.  The class sets _handler_class (a Handler
    subclass) and may set _request_queue_size; the object sets host, port
    and verbose, calls _init_server() in __init__, and implements start() /
    stop() with _serve() / _unserve()."""
    _handler_class = None
    _request_queue_size = 64

    def _init_server(self):
        self._lock = threading.RLock()
        self._cv = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._threads = []
        self._socks = []
        self._httpd = None
        self._serve_thread = None

    def _serve(self):
        """Bind (port 0: OS-chosen; after a stop: the same port again) and
        serve in a background thread."""
        self._stopping.clear()
        self._httpd = TrackingHTTPServer((self.host, self.port), self._handler_class, self,
                                         self._request_queue_size)
        self.port = self._httpd.server_address[1]
        if getattr(self, "tls_context", None):
            # https: the handshake happens in accept(); one that fails
            # (the client refused the certificate) drops that connection.
            self._httpd.socket = self.tls_context.wrap_socket(self._httpd.socket, server_side=True)
        self._serve_thread = threading.Thread(target=self._httpd.serve_forever,
                                              kwargs={"poll_interval": 0.05}, daemon=True)
        self._serve_thread.start()

    def _unserve(self, timeout, shutdown_sockets=False):
        """Set _stopping, stop listening, wait (up to `timeout` in all) for
        the handler threads, then close every client socket.
        shutdown_sockets: shut the sockets down (both ways) BEFORE waiting,
        so that handlers blocked on them return at once."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            threads = list(self._threads)
            socks = list(self._socks)
        if shutdown_sockets:
            for s in socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._socks = []
            self._cv.notify_all()
        self._httpd = None

    def _end(self, rec, how):
        """Mark a request record ended (its first end reason and the
        monotonic time) and wake the waiters."""
        with self._lock:
            if rec["end"] is None:
                rec["end"] = how
                rec["ended"] = time.monotonic()
            self._cv.notify_all()

    def restart(self):
        self.stop()
        return self.start()

    def __enter__(self):
        if self._httpd is None:
            self.start()
        return self

    def __exit__(self, *a):
        self.stop()
