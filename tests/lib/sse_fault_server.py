#!/usr/bin/env python3
"""A fault-injecting Server-Sent-Events server for tests (Python 3 stdlib).

Python::

    from sse_fault_server import FaultServer
    srv = FaultServer(script=["503:2", {"events": 2, "after": "rst"}, "live"],
                      initial_events=5)
    url = srv.start()                 # http://127.0.0.1:PORT/events
    ...                               # point the client at url
    srv.wait_requests(3, timeout=10)
    assert srv.requests[2]["last_event_id"] == "2"
    srv.push("hello")                 # to every live subscriber (id 6)
    srv.stop()

Shell / C tests::

    python3 tests/lib/sse_fault_server.py --port 0 --events 5 \\
        --scenario '500,rst:2,live'          # or a JSON list, or @file.json
    -> stdout line 1: http://127.0.0.1:PORT/events   (runs until SIGTERM/INT)
    control over HTTP on the same port (never counted or recorded):
      GET  /_control/requests        JSON list of recorded requests
      GET  /_control/events          JSON event log
      POST /_control/push            body = data; ?event=NAME&id=ID (id= empty
                                     -> no id line); X-Batch: n -> n copies
      POST /_control/raw             body sent verbatim to live streams
      POST /_control/script          body = scenario (JSON / shorthands);
                                     ?default=SPEC
      POST /_control/drop?how=rst    drop live streams (rst|fin|end)
      POST /_control/reset           clear recorded requests (numbering
                                     restarts at 0)
      GET  /_control/live            number of live streams

API (FaultServer): start() -> url, stop(), restart() (same port), url,
base_url, port; add_events(k) (log only), push(data, event, id),
push_many(items), push_raw(text); drop(how, n=None); set_script(list,
default), set_default(spec), script_next(*specs), reset_requests();
requests, header(n, name), requests_json(); wait_requests(n),
wait_stream(n), wait_live(k), wait_ended(n) -> end reason, wait_for(pred).
All waits take timeout= and raise AssertionError when it expires.

THE EVENT LOG.  The server keeps one ordered log of events ({"id", "event",
"data"}); `initial_events=N` creates ids "1".."N" with data
data_template.format(n=N) (default "event N"; LF in the template gives
multi-line data).  push() appends to the log (next number as id unless given)
and sends to every live stream.  A stream resumes from Last-Event-ID: after
the log entry with that exact id, else after the numeric position, else from
the start (unless the behaviour's "resume" says otherwise).  The log survives
stop()/start(), like a durable server.

SCENARIO.  Every request to a non-control path gets a number n (0, 1, 2 ...,
in arrival order).  Request n is answered with script[n] if it exists, else
with `default` (default: "live").  A behaviour is a dict (all keys optional)
or a shorthand string:

  status        HTTP status (200).  Not 200: a short text body (or "body"),
                Content-Length, Connection: close.  204: no body at all.
  headers       dict of extra response headers, e.g. {"Retry-After": "3"}
  content_type  Content-Type for 200 ("text/event-stream"); null = omit
  body          raw body text for non-200 responses
  delay         seconds to wait before sending the response head
  send_headers  false -> read the request, then send NOTHING (stall before
                the response head) until the client or the server goes
  transfer      "chunked" (default) | "close" (body delimited by close)
  bom           true -> start the body with a UTF-8 BOM
  line_ending   "\\n" (default) | "\\r\\n" | "\\r": used for every line
  retry         int -> "retry: N" line at stream start
  preamble      list of raw lines sent at stream start (e.g. ": hi", "")
  interleave    raw text sent before every event frame (e.g. ":c\\n")
  resume        "after" (default: honour Last-Event-ID) | "ignore" (always
                from the start: duplicates) | int K (start after id K
                whatever the client sent: gap or duplicates)
  events        max number of events on this stream (backlog + live); then
                "after" happens.  null = the whole backlog, then "after"
  after         what happens after the events: "live" (default: keep the
                stream open and send pushed events), "end" (clean end of
                the response: last chunk / FIN), "fin" (TCP FIN at once, even
                inside a chunked body), "rst" (RST via SO_LINGER 0),
                "stall" (keep the socket open, send nothing)
  tail          raw text sent just before "after" (e.g. "id: 9\\ndata: half"
                for a truncated event)
  heartbeat     seconds: send heartbeat_text while live and idle
  heartbeat_text  default ":\\n" (a comment line)
  chunking      "split" (each write cut into 1-3 byte sends, TCP_NODELAY,
                each its own HTTP chunk) | "merge" (preamble + all backlog
                frames + tail in ONE send; push_many batches likewise) |
                null (one send per event frame)
  split_delay   seconds between split sends (default 0.0005)
  keep_alive    true -> after "end" keep the connection for another request

Shorthands:  "live" / "ok" = {}; "end:K", "fin:K", "rst:K", "stall:K" =
{"events": K, "after": ...} (K omitted = whole backlog); "NNN" = status
NNN; "429:S" / "503:S" = that status with "Retry-After: S"; "ctype:T" =
200 with Content-Type T; "split" / "merge" = live with that chunking;
"crlf" / "cr" = live with those line endings; "bom" = live with a BOM;
"retry:MS" = live with "retry: MS"; "hang" = {"send_headers": false};
"close" = {"events": 0, "after": "end"} (200 then immediate close).

REQUEST RECORDS (srv.requests, a list of dicts, also via /_control/requests):
  n, method, path, headers (dict, original case), last_event_id (None if
  absent), time (monotonic), wall (time.time()), body (str), client,
  spec (the behaviour used), status, live (True while the stream takes
  pushes), sent_ids (ids sent on this stream, in
  order), writes (logical body writes: 1 per event frame, per merged
  batch, per preamble, per heartbeat / raw push), sends (send() calls for
  the body: = writes, except in split mode), end ("end" | "fin" | "rst" | "stall-end" | "client-closed" |
  "server-stop" | "dropped-<how>" | "error:<...>"), ended (monotonic).
  srv.header(n, name) looks a header up case-insensitively.
"""

import argparse
import json
import queue
import random
import signal
import socket
import sys
import time
import urllib.parse

import httpbase

__all__ = ["FaultServer", "parse_spec", "parse_scenario", "format_event"]

REASONS = {200: "OK", 204: "No Content", 400: "Bad Request",
           401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           429: "Too Many Requests", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout"}


def parse_spec(s):
    """A behaviour dict from a dict or a shorthand string."""
    if s is None:
        return {}
    if isinstance(s, dict):
        return dict(s)
    if isinstance(s, int):
        return {"status": s}
    s = s.strip()
    head, _, arg = s.partition(":")
    if head in ("live", "ok"):
        return {}
    if head in ("end", "fin", "rst", "stall"):
        d = {"after": head}
        if arg != "":
            d["events"] = int(arg)
        return d
    if head.isdigit():
        d = {"status": int(head)}
        if arg:
            d["headers"] = {"Retry-After": arg}
        return d
    if head == "ctype":
        return {"content_type": arg}
    if head in ("split", "merge"):
        return {"chunking": head}
    if head == "crlf":
        return {"line_ending": "\r\n"}
    if head == "cr":
        return {"line_ending": "\r"}
    if head == "bom":
        return {"bom": True}
    if head == "retry":
        return {"retry": int(arg)}
    if head == "hang":
        return {"send_headers": False}
    if head == "close":
        return {"events": 0, "after": "end"}
    raise ValueError("unknown scenario shorthand %r" % s)


def parse_scenario(text):
    """A list of behaviours from a JSON list / a single JSON object /
    '@file' / comma-separated shorthands."""
    return httpbase.parse_list(text, parse_spec)


def format_event(ev):
    """The SSE frame for a log entry, with LF line endings."""
    out = []
    if ev.get("event"):
        out.append("event: %s" % ev["event"])
    if ev.get("id") is not None:
        out.append("id: %s" % ev["id"])
    for line in str(ev.get("data", "")).split("\n"):
        out.append("data: %s" % line)
    return "\n".join(out) + "\n\n"


class _Conn:
    """A live stream: the handler thread drains q."""

    def __init__(self, handler, rec):
        self.handler = handler
        self.rec = rec
        self.q = queue.Queue()


class _Handler(httpbase.Handler):
    server_version = "sse-fault-server/1"
    log_name = "fault-server"

    # -- helpers -------------------------------------------------------
    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _dispatch(self):
        fs = self.server.owner
        body = self._read_body()
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/_control/"):
            self.close_connection = True
            return self._control(url, body)
        rec = fs._record(self, body)
        self._rec = rec
        spec = rec["spec"]
        try:
            self._play(rec, spec)
        except (BrokenPipeError, ConnectionResetError):
            fs._end(rec, "client-closed")
            self.close_connection = True
        except OSError as e:
            fs._end(rec, "server-stop" if fs._stopping.is_set() else "error:%s" % e)
            self.close_connection = True

    def _control(self, url, body):
        fs = self.server.owner
        qs = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        what = url.path[len("/_control/"):]
        status, out = 200, None
        try:
            if what == "requests":
                out = fs.requests_json()
            elif what == "events":
                with fs._lock:
                    out = list(fs.log)
            elif what == "live":
                out = {"live": fs.live_count()}
            elif what == "push":
                n = int(self.headers.get("X-Batch") or 1)
                ev = qs.get("event") or None
                idv = qs.get("id", None)
                items = [{"data": body.decode("utf-8"), "event": ev,
                          "id": (False if idv == "" else idv)}] * n
                out = fs.push_many(items)
            elif what == "raw":
                fs.push_raw(body)
                out = {"ok": True}
            elif what == "script":
                fs.set_script(parse_scenario(body.decode("utf-8")),
                              default=qs.get("default"))
                out = {"ok": True}
            elif what == "drop":
                out = {"dropped": fs.drop(qs.get("how", "rst"))}
            elif what == "reset":
                fs.reset_requests()
                out = {"ok": True}
            else:
                status, out = 404, {"error": "unknown control %s" % what}
        except Exception as e:  # report, do not kill the server
            status, out = 400, {"error": repr(e)}
        self._send_json_close(status, json.dumps(out).encode())

    # -- playing a behaviour -------------------------------------------
    def _wait(self, seconds, rec):
        """Wait up to `seconds` (None = forever) while the client stays and
        the server runs.  Returns "client-closed", "server-stop" or None."""
        fs = self.server.owner
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            r = self._poll_stop(rec)
            if r:
                return r
            left = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
            if left <= 0:
                return None
            fs._stopping.wait(left)

    def _play(self, rec, spec):
        fs = self.server.owner
        self.close_connection = not spec.get("keep_alive", False)
        if spec.get("delay"):
            r = self._wait(float(spec["delay"]), rec)
            if r:
                return self._finish(rec, r)
        if spec.get("send_headers") is False:
            r = self._wait(None, rec)
            return self._finish(rec, r or "stall-end")
        status = int(spec.get("status", 200))
        rec["status"] = status
        extra = dict(spec.get("headers") or {})
        if status != 200:
            return self._error_response(rec, status, spec, extra)
        ctype = spec.get("content_type", "text/event-stream")
        self._chunked = spec.get("transfer", "chunked") == "chunked"
        head = ["HTTP/1.1 200 OK"]
        if ctype is not None:
            head.append("Content-Type: %s" % ctype)
        head.append("Cache-Control: no-cache")
        if self._chunked:
            head.append("Transfer-Encoding: chunked")
        if self.close_connection or not self._chunked:
            head.append("Connection: close")
            self.close_connection = True
        head += ["%s: %s" % kv for kv in extra.items()]
        self._send("\r\n".join(head) + "\r\n\r\n")
        self._mode = spec.get("chunking")
        self._le = spec.get("line_ending", "\n")
        self._rng = random.Random(rec["n"])
        self._split_delay = float(spec.get("split_delay", 0.0005))
        if self._mode == "split":
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        # Register as live and take the backlog atomically w.r.t. push().
        conn = _Conn(self, rec)
        backlog = fs._attach(conn, rec, spec)
        try:
            self._stream(rec, spec, conn, backlog)
        finally:
            fs._detach(conn)

    def _stream(self, rec, spec, conn, backlog):
        limit = spec.get("events")
        limit = None if limit is None else int(limit)
        after = spec.get("after", "live")
        inter = spec.get("interleave") or ""
        first = []
        if spec.get("bom"):
            first.append(b"\xef\xbb\xbf")
        if spec.get("retry") is not None:
            first.append(self._text("retry: %d\n" % int(spec["retry"])))
        for line in spec.get("preamble") or []:
            first.append(self._text(line + "\n"))
        if limit is not None:
            backlog = backlog[:limit]
        frames = [(ev, self._text(inter + format_event(ev))) for ev in backlog]
        sent = len(frames)
        # Does the stream go on after the backlog (live or waiting for
        # pushed events to reach the limit)?
        goes_on = after == "live" or (limit is not None and sent < limit)
        tail = self._text(spec["tail"]) if spec.get("tail") else b""
        if self._mode == "merge":
            buf = b"".join(first) + b"".join(f for _, f in frames)
            if not goes_on:
                buf += tail
                tail = b""
            self._write(buf)
            rec["sent_ids"].extend(ev.get("id") for ev, _ in frames)
        else:
            if first:
                self._write(b"".join(first))
            for ev, f in frames:
                self._write(f)
                rec["sent_ids"].append(ev.get("id"))
        if goes_on:
            hb = spec.get("heartbeat")
            hb_text = self._text(spec.get("heartbeat_text", ":\n"))
            next_hb = time.monotonic() + float(hb) if hb else None
            while limit is None or sent < limit:
                r = self._poll_stop(rec)
                if r:
                    return self._finish(rec, r)
                try:
                    kind, payload = conn.q.get(timeout=0.05)
                except queue.Empty:
                    if next_hb is not None and time.monotonic() >= next_hb:
                        self._write(hb_text)
                        next_hb = time.monotonic() + float(hb)
                    continue
                if kind == "raw":
                    self._write(payload)
                    continue
                if limit is not None:
                    payload = payload[:limit - sent]
                bufs = [self._text(inter + format_event(ev)) for ev in payload]
                if self._mode == "merge":
                    self._write(b"".join(bufs))
                    rec["sent_ids"].extend(ev.get("id") for ev in payload)
                else:
                    for ev, b in zip(payload, bufs):
                        self._write(b)
                        rec["sent_ids"].append(ev.get("id"))
                sent += len(payload)
                if next_hb is not None:
                    next_hb = time.monotonic() + float(hb)
            if after == "live":
                after = "stall"   # limit reached on a live stream: hold it
        if tail:
            self._write(tail)
        return self._after(rec, after)

    def _poll_stop(self, rec):
        fs = self.server.owner
        if fs._stopping.is_set():
            return "server-stop"
        if rec.get("_drop"):
            return "dropped"
        if self._client_gone():
            return "client-closed"
        return None

    def _after(self, rec, after):
        if after == "end":
            if self._chunked:
                self._send(httpbase.LAST_CHUNK)
            if self.close_connection:
                self._fin()
            return self._finish(rec, "end")
        if after == "fin":
            self._fin()
            self.close_connection = True
            return self._finish(rec, "fin")
        if after == "rst":
            self._rst()
            return self._finish(rec, "rst")
        if after == "stall":
            r = self._wait(None, rec)
            return self._finish(rec, r or "stall-end")
        raise ValueError("unknown after %r" % after)

    def _finish(self, rec, how):
        if how == "dropped":
            how = "dropped-" + rec.get("_drop", "?")
            d = rec.get("_drop")
            if d == "rst":
                self._rst()
            elif d == "end":
                try:
                    if getattr(self, "_chunked", False):
                        self._send(httpbase.LAST_CHUNK)
                except OSError:
                    pass
                self._fin()
            else:
                self._fin()
        elif how == "server-stop":
            self._fin()
        self.close_connection = True
        self.server.owner._end(rec, how)

    def _error_response(self, rec, status, spec, extra):
        reason = REASONS.get(status, "Status")
        if status == 204 or status == 304:
            head = ["HTTP/1.1 %d %s" % (status, reason)]
            head += ["%s: %s" % kv for kv in extra.items()]
            head.append("Connection: close")
            self._send("\r\n".join(head) + "\r\n\r\n")
        else:
            body = spec.get("body")
            if body is None:
                body = "%d %s\n" % (status, reason)
            body = body.encode("utf-8")
            ctype = spec.get("content_type", "text/plain")
            head = ["HTTP/1.1 %d %s" % (status, reason)]
            if ctype is not None:
                head.append("Content-Type: %s" % ctype)
            head.append("Content-Length: %d" % len(body))
            head += ["%s: %s" % kv for kv in extra.items()]
            head.append("Connection: close")
            self._send("\r\n".join(head) + "\r\n\r\n")
            if self.command != "HEAD":
                self._send(body)
        self.close_connection = True
        self._fin()
        self.server.owner._end(rec, "end")

    def _text(self, s):
        if isinstance(s, bytes):
            return s
        if self._le != "\n":
            s = s.replace("\n", self._le)
        return s.encode("utf-8")

    def _write(self, data):
        """One logical write, framed (chunked or raw) and cut per mode."""
        if not data:
            return
        self._rec["writes"] += 1
        rng = self._rng if self._mode == "split" else None
        for buf in httpbase.body_sends(data, self._chunked, rng, self._split_delay):
            self._send(buf)
            self._rec["sends"] += 1


class FaultServer(httpbase.BackgroundServer):
    _handler_class = _Handler

    def __init__(self, script=None, default="live", initial_events=0,
                 data_template="event {n}", event_name=None, port=0,
                 host="127.0.0.1", path="/events", verbose=False, tls_context=None):
        self.tls_context = tls_context     # an ssl.SSLContext: serve https
        self.script = parse_scenario(script) if script is not None else []
        self.default = parse_spec(default)
        self.data_template = data_template
        self.event_name = event_name
        self.port = port
        self.host = host
        self.path = path
        self.verbose = verbose
        self.log = []
        self.requests = []
        self._next_id = 1
        self._live = []
        self._init_server()
        if initial_events:
            self.add_events(initial_events)

    # -- properties ----------------------------------------------------
    @property
    def base_url(self):
        return "%s://%s:%d" % ("https" if self.tls_context else "http", self.host, self.port)

    @property
    def url(self):
        return self.base_url + self.path

    # -- life cycle ----------------------------------------------------
    def start(self):
        """Bind (port 0 = OS-chosen; after stop() the same port again) and
        serve in a background thread.  Returns the stream URL."""
        self._serve()
        return self.url

    def stop(self, timeout=5.0):
        """Stop listening and end every open stream with FIN (handlers see
        'server-stop').  The port is released; start() binds it again."""
        self._unserve(timeout)

    # -- scenario ------------------------------------------------------
    def set_script(self, script, default=None):
        """Replace the script; it is indexed by request number n, so to
        script the NEXT requests use reset_requests() first or pad."""
        with self._lock:
            self.script = parse_scenario(script)
            if default is not None:
                self.default = parse_spec(default)

    def set_default(self, spec):
        with self._lock:
            self.default = parse_spec(spec)

    def script_next(self, *specs):
        """Make the next len(specs) requests (from now) play `specs`."""
        with self._lock:
            n = len(self.requests)
            while len(self.script) < n:
                self.script.append(dict(self.default))
            self.script[n:n + len(specs)] = [parse_spec(s) for s in specs]

    def reset_requests(self):
        with self._lock:
            self.requests = []

    def _spec_for(self, n):
        if n < len(self.script):
            return dict(self.script[n])
        return dict(self.default)

    # -- the event log -------------------------------------------------
    def _new_event(self, data=None, event=None, id=None):
        n = self._next_id
        if id is None:
            id = str(n)
            self._next_id += 1
        elif id is False:
            id = None
        else:
            id = str(id)
            if id.isdigit():
                self._next_id = max(self._next_id, int(id) + 1)
        if data is None:
            data = self.data_template.format(n=n)
        if event is None:
            event = self.event_name.format(n=n) if self.event_name else None
        ev = {"id": id, "event": event, "data": data}
        self.log.append(ev)
        return ev

    def add_events(self, count):
        """Append `count` numbered events to the log WITHOUT sending them to
        live streams (they are delivered on the next (re)connect)."""
        with self._lock:
            return [self._new_event() for _ in range(count)]

    def push(self, data=None, event=None, id=None):
        """Append one event to the log and send it to every live stream.
        id=None: next number; id=False: no id line.  Returns the event."""
        return self.push_many([{"data": data, "event": event, "id": id}])[0]

    def push_many(self, items):
        """Append several events; live streams get them as ONE batch (a
        single send in "merge" mode).  items: dicts (data, event, id) or
        strings (data) or ints (a count of numbered events)."""
        with self._lock:
            evs = []
            for it in items:
                if isinstance(it, int):
                    evs += [self._new_event() for _ in range(it)]
                elif isinstance(it, str):
                    evs.append(self._new_event(it))
                else:
                    evs.append(self._new_event(it.get("data"), it.get("event"),
                                               it.get("id")))
            for c in self._live:
                c.q.put(("events", evs))
            return evs

    def push_raw(self, data):
        """Send raw text/bytes (as-is, but with the stream's line ending
        conversion for str) to every live stream; not logged."""
        with self._lock:
            for c in self._live:
                c.q.put(("raw", c.handler._text(data)))

    def drop(self, how="rst", n=None):
        """End live streams now: "rst", "fin" or "end" (clean end of the
        response).  n=None: every live stream; else only request n's.
        Returns the number of streams dropped."""
        with self._lock:
            live = [c for c in self._live if n is None or c.rec["n"] == n]
            for c in live:
                c.rec["_drop"] = how
        return len(live)

    def live_count(self):
        with self._lock:
            return len(self._live)

    def _resume_index(self, lei, spec):
        mode = spec.get("resume", "after")
        if mode == "ignore":
            return 0
        if isinstance(mode, int) or (isinstance(mode, str) and mode.isdigit()):
            lei = str(mode)
        elif lei is None:
            return 0
        for i in range(len(self.log) - 1, -1, -1):
            if self.log[i]["id"] == lei:
                return i + 1
        if lei.isdigit():
            k = int(lei)
            for i, ev in enumerate(self.log):
                if ev["id"] is not None and ev["id"].isdigit() and int(ev["id"]) > k:
                    return i
            return len(self.log)
        return 0

    def _attach(self, conn, rec, spec):
        with self._lock:
            start = self._resume_index(rec["last_event_id"], spec)
            backlog = list(self.log[start:])
            rec["live"] = True
            self._live.append(conn)
            self._cv.notify_all()
            return backlog

    def _detach(self, conn):
        with self._lock:
            if conn in self._live:
                self._live.remove(conn)
            conn.rec["live"] = False
            self._cv.notify_all()

    # -- requests ------------------------------------------------------
    def _record(self, handler, body):
        with self._lock:
            n = len(self.requests)
            hdrs = {}
            for k, v in handler.headers.items():
                hdrs[k] = v
            lei = None
            for k, v in handler.headers.items():
                if k.lower() == "last-event-id":
                    lei = v
            rec = {"n": n, "method": handler.command, "path": handler.path,
                   "headers": hdrs, "last_event_id": lei,
                   "time": time.monotonic(), "wall": time.time(),
                   "body": body.decode("utf-8", "replace"),
                   "client": list(handler.client_address),
                   "spec": self._spec_for(n), "status": None,
                   "sent_ids": [], "writes": 0, "sends": 0, "live": False, "end": None, "ended": None}
            self.requests.append(rec)
            self._cv.notify_all()
            return rec

    def header(self, n, name):
        """Request n's header `name` (case-insensitive) or None."""
        return httpbase.find_header(self.requests[n]["headers"], name)

    def requests_json(self):
        with self._lock:
            return [{k: v for k, v in r.items() if not k.startswith("_")}
                    for r in self.requests]

    def wait_for(self, pred, timeout=5.0):
        """Wait until pred(self) is true (evaluated under the lock); raise
        AssertionError on timeout."""
        httpbase.wait_until(self._cv, lambda: pred(self), timeout, 0.1,
                            lambda: "fault server: condition not met in %.1fs; "
                                    "requests=%r" % (timeout, self.requests_json()))
        return True

    def wait_requests(self, n, timeout=5.0):
        """Wait until at least n requests were received; returns them."""
        self.wait_for(lambda s: len(s.requests) >= n, timeout)
        return self.requests[:n]

    def wait_live(self, n=1, timeout=5.0):
        """Wait until at least n streams are live (head sent, backlog taken)."""
        return self.wait_for(lambda s: len(s._live) >= n, timeout)

    def wait_stream(self, n, timeout=5.0):
        """Wait until request n's stream is live (head sent, backlog taken,
        receiving pushes)."""
        return self.wait_for(lambda s: len(s.requests) > n and s.requests[n]["live"],
                             timeout)

    def wait_ended(self, n, timeout=5.0):
        """Wait until request n's stream has ended; returns its end reason."""
        self.wait_for(lambda s: len(s.requests) > n and s.requests[n]["end"] is not None,
                      timeout)
        return self.requests[n]["end"]


def main(argv=None):
    ap = argparse.ArgumentParser(description="fault-injecting SSE server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--scenario", default="",
                    help="JSON list, @file.json, or shorthands like '500,rst:2,live'")
    ap.add_argument("--default", default="live", help="behaviour after the script")
    ap.add_argument("--events", type=int, default=0, help="initial numbered events")
    ap.add_argument("--data-template", default="event {n}")
    ap.add_argument("--event-name", default=None)
    ap.add_argument("--path", default="/events")
    ap.add_argument("--push-every", type=float, default=0.0,
                    help="push a numbered event every S seconds")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    fs = FaultServer(script=parse_scenario(a.scenario), default=a.default,
                     initial_events=a.events, data_template=a.data_template,
                     event_name=a.event_name, port=a.port, host=a.host,
                     path=a.path, verbose=a.verbose)
    sigs = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    print(fs.start(), flush=True)
    try:
        while True:
            t = a.push_every if a.push_every > 0 else 3600
            if signal.sigtimedwait(sigs, t) is not None:
                break
            if a.push_every > 0:
                fs.push()
    finally:
        fs.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
