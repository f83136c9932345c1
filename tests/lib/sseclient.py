"""A small, strict SSE test client (Python 3 stdlib only).

Used by the self-tests of the test servers and available to integration
tests that need to look at a stream the way a conformant client does.

* Speaks raw HTTP/1.1 over a socket, so the exact bytes are visible
  (``raw_head``, ``raw_body``); decodes ``Transfer-Encoding: chunked``.
* Parses the body with a WHATWG-conformant incremental parser
  (``SSEParser``): BOM stripped once, CR / LF / CRLF line endings (also split
  across reads), comments, ``id`` (ignored if it contains NUL), ``retry``
  (digits only), sticky last event id, incomplete event discarded at EOF.
* A reader thread feeds the parser; tests wait with ``wait_events(n)``,
  ``wait_for(pred)`` or ``wait_closed()``, all bounded by a timeout.
* Records how the stream ended: ``"eof"`` (FIN), ``"rst"`` (ECONNRESET) or
  ``"closed"`` (we closed it ourselves).

Example::

    with SSEClient(url, last_event_id="3") as c:
        assert c.status == 200
        evs = c.wait_events(2, timeout=5)
"""

import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

__all__ = ["Event", "SSEParser", "SSEClient", "parse_stream"]


@dataclass
class Event:
    data: str
    event: str = "message"
    id: str = ""          # the last event id in effect at dispatch (sticky)
    id_field: bool = False  # this event block itself carried an id: field


@dataclass
class _Pending:
    data: list = field(default_factory=list)
    event: str = ""
    has_data: bool = False
    saw_id: bool = False


class SSEParser:
    """Incremental WHATWG event-stream parser working on bytes."""

    def __init__(self):
        self.events = []        # dispatched Event objects
        self.comments = []      # comment lines, without the leading ':'
        self.retries = []       # every valid retry value, in ms
        self.id_only_blocks = []  # ids set by blocks that dispatched nothing
        self.last_event_id = ""
        self._buf = b""
        self._started = False
        self._cr_pending = False  # last byte fed was CR: a following LF is ignored
        self._p = _Pending()

    def feed(self, data: bytes):
        if not self._started:
            self._buf += data
            if len(self._buf) < 3 and b"\xef\xbb\xbf".startswith(self._buf):
                return
            if self._buf.startswith(b"\xef\xbb\xbf"):
                self._buf = self._buf[3:]
            self._started = True
            data, self._buf = self._buf, b""
        if self._cr_pending and data.startswith(b"\n"):
            data = data[1:]
        self._cr_pending = False
        buf = self._buf + data
        start = 0
        i = 0
        n = len(buf)
        while i < n:
            c = buf[i]
            if c == 0x0D or c == 0x0A:
                self._line(buf[start:i])
                if c == 0x0D:
                    if i + 1 < n:
                        if buf[i + 1] == 0x0A:
                            i += 1
                    else:
                        self._cr_pending = True
                i += 1
                start = i
            else:
                i += 1
        self._buf = buf[start:]

    def _line(self, raw: bytes):
        line = raw.decode("utf-8", "replace")
        p = self._p
        if line == "":
            self._dispatch()
            return
        if line.startswith(":"):
            self.comments.append(line[1:])
            return
        if ":" in line:
            name, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            name, value = line, ""
        if name == "data":
            p.data.append(value)
            p.has_data = True
        elif name == "event":
            p.event = value
        elif name == "id":
            if "\x00" not in value:
                self.last_event_id = value
                p.saw_id = True
        elif name == "retry":
            if value and value.isascii() and value.isdigit():
                self.retries.append(int(value))

    def _dispatch(self):
        p = self._p
        self._p = _Pending()
        if not p.has_data:
            if p.saw_id:
                self.id_only_blocks.append(self.last_event_id)
            return
        self.events.append(Event(data="\n".join(p.data),
                                 event=p.event or "message",
                                 id=self.last_event_id, id_field=p.saw_id))


def parse_stream(data: bytes) -> SSEParser:
    """Parse a complete body; returns the parser (``.events`` etc.)."""
    p = SSEParser()
    p.feed(data)
    return p


class SSEClient:
    def __init__(self, url, last_event_id=None, headers=None, timeout=5.0,
                 method="GET", body=None, connect=True):
        u = urllib.parse.urlsplit(url)
        self.host = u.hostname
        self.port = u.port or 80
        self.path = (u.path or "/") + ("?" + u.query if u.query else "")
        self.method = method
        self.body = body
        self.timeout = timeout
        self.req_headers = {"Host": "%s:%d" % (self.host, self.port),
                            "Accept": "text/event-stream",
                            "Cache-Control": "no-cache"}
        if last_event_id is not None:
            self.req_headers["Last-Event-ID"] = last_event_id
        if headers:
            self.req_headers.update(headers)
        self.status = None
        self.reason = None
        self.headers = {}        # lower-cased name -> value (last wins)
        self.header_list = []    # [(name, value)] as received
        self.raw_head = b""
        self.raw_body = bytearray()  # de-chunked body bytes
        self.reads = []          # sizes of each recv() of body data
        self.parser = SSEParser()
        self.end = None          # None while open; "eof" | "rst" | "closed" | "error:..."
        self.complete = False    # body framing completed (last chunk seen,
                                 # Content-Length reached); False for a
                                 # close-delimited body or a truncated one
        self.connected_at = None
        self.ended_at = None
        self._cv = threading.Condition()
        self._sock = None
        self._thread = None
        if connect:
            self.connect()

    # -- life cycle ----------------------------------------------------
    def connect(self):
        self._sock = socket.create_connection((self.host, self.port),
                                              timeout=self.timeout)
        try:
            return self._connect()
        except BaseException:
            self._sock.close()
            self._sock = None
            raise

    def _connect(self):
        self.connected_at = time.monotonic()
        lines = ["%s %s HTTP/1.1" % (self.method, self.path)]
        hdrs = dict(self.req_headers)
        if self.body is not None:
            hdrs["Content-Length"] = str(len(self.body))
        lines += ["%s: %s" % kv for kv in hdrs.items()]
        req = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self.body is not None:
            req += self.body
        self._sock.sendall(req)
        head = b""
        rest = b""
        while b"\r\n\r\n" not in head:
            d = self._sock.recv(65536)
            if not d:
                raise ConnectionError("EOF before end of response headers: %r" % head)
            head += d
        head, rest = head.split(b"\r\n\r\n", 1)
        self.raw_head = head + b"\r\n\r\n"
        status_line, *hl = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        self.status = int(parts[1])
        self.reason = parts[2] if len(parts) > 2 else ""
        for h in hl:
            k, _, v = h.partition(":")
            self.header_list.append((k, v.strip()))
            self.headers[k.strip().lower()] = v.strip()
        self._chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        self._clen = None
        if not self._chunked and "content-length" in self.headers:
            self._clen = int(self.headers["content-length"])
        if self.method == "HEAD" or self.status in (204, 304):
            self._clen = 0
        self._chunk_state = b""
        self._sock.settimeout(None)
        self._thread = threading.Thread(target=self._reader, args=(rest,),
                                        daemon=True)
        self._thread.start()
        return self

    def close(self):
        s = self._sock
        if s is not None:
            with self._cv:
                if self.end is None:
                    self.end = "closed"
                    self.ended_at = time.monotonic()
                self._cv.notify_all()
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    # -- reading -------------------------------------------------------
    def _body(self, data):
        if not data:
            return
        with self._cv:
            self.raw_body += data
            self.reads.append(len(data))
            self.parser.feed(data)
            self._cv.notify_all()

    def _dechunk(self, data):
        """Feed chunked transfer-coded bytes; returns True at the last chunk."""
        buf = self._chunk_state + data
        out = bytearray()
        done = False
        while True:
            if getattr(self, "_chunk_left", 0) > 0:
                take = buf[:self._chunk_left]
                out += take
                self._chunk_left -= len(take)
                buf = buf[len(take):]
                if self._chunk_left > 0:
                    break
                self._need_crlf = True
            if getattr(self, "_need_crlf", False):
                if len(buf) < 2:
                    break
                buf = buf[2:]
                self._need_crlf = False
            if b"\r\n" not in buf:
                break
            line, buf = buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                done = True
                break
            self._chunk_left = size
        self._chunk_state = buf
        self._body(bytes(out))
        return done

    def _reader(self, first):
        end = "eof"
        try:
            data = first
            got = 0
            while True:
                if data:
                    if self._chunked:
                        if self._dechunk(data):
                            self.complete = True  # last chunk received
                            end = "eof"
                            break
                    else:
                        if self._clen is not None:
                            data = data[:self._clen - got]
                        got += len(data)
                        self._body(data)
                if self._clen is not None and got >= self._clen:
                    self.complete = True
                    break
                data = self._sock.recv(65536)
                if not data:
                    end = "eof"
                    break
        except ConnectionResetError:
            end = "rst"
        except OSError as e:
            end = "error:%s" % e
        with self._cv:
            if self.end is None:
                self.end = end
                self.ended_at = time.monotonic()
            self._cv.notify_all()

    # -- waiting -------------------------------------------------------
    @property
    def events(self):
        with self._cv:
            return list(self.parser.events)

    @property
    def comments(self):
        with self._cv:
            return list(self.parser.comments)

    def wait_for(self, pred, timeout=5.0):
        """Wait until pred(self) is true; returns True, or False on timeout or
        when the stream ended without pred becoming true."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                if pred(self):
                    return True
                if self.end is not None:
                    return bool(pred(self))
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)

    def wait_events(self, n, timeout=5.0):
        """Wait for at least n events; raise AssertionError otherwise."""
        if not self.wait_for(lambda c: len(c.parser.events) >= n, timeout):
            raise AssertionError("expected %d events, got %d (end=%s) body=%r"
                                 % (n, len(self.parser.events), self.end,
                                    bytes(self.raw_body[-2000:])))
        return self.events

    def wait_closed(self, timeout=5.0):
        """Wait until the server ends the stream; returns self.end or None."""
        self.wait_for(lambda c: c.end is not None, timeout)
        return self.end

    def ensure_quiet(self, duration):
        """Wait `duration` seconds and return the events that arrived in that
        window (used to assert that NOTHING more arrives; the wait is the
        assertion's window, not a synchronisation)."""
        n0 = len(self.events)
        self.wait_for(lambda c: False, duration)
        return self.events[n0:]
