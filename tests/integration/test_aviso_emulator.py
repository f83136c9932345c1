"""Self-tests of tests/lib/aviso_emulator.py against research/aviso-protocol.md.

    python3 -m unittest tests/integration/test_aviso_emulator.py     (from the root)
    python3 tests/integration/test_aviso_emulator.py -v

Every check talks raw HTTP/1.1 over a socket (RawResponse below), so exact
bytes are visible: the head, each HTTP chunk's size, the de-chunked body and
each SSE frame.  No fixed sleeps: waits are conditions with deadlines; the
only timed windows are "nothing (more) arrives within T" assertions.
"""

import base64
import http.client
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.path.join(os.path.dirname(HERE), "lib")
sys.path.insert(0, LIB)

from aviso_emulator import (DEFAULT_SCHEMA, Emulator, compact, frame_bytes,  # noqa: E402
                            parse_entry, parse_fault, parse_from_date)
from procs import Workspace, start_process, stop_process, wait_until  # noqa: E402

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TS = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"
CE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6}|\.\d{9})?Z$")
SEL = {"class": "od", "stream": "oper"}
TOPIC = "mars.od.oper.*.*.*.*.*"
MARS = {"class": "od", "stream": "oper", "expver": "0001", "domain": "g",
        "date": "20260101", "time": "0000", "step": 0}
QUIET = 0.4


def mars(**kw):
    d = dict(MARS)
    d.update(kw)
    return d


def watch(**kw):
    d = {"event_type": "mars", "identifier": dict(SEL)}
    d.update(kw)
    return d


class RawResponse:
    """One request on its own connection; a reader thread records the raw
    bytes, the head, HTTP chunk sizes, the de-chunked body and SSE frames
    (event, data, arrival time).  end: "eof" | "rst" | "closed"."""

    FRAME = re.compile(rb"event: ([^\n]*)\ndata: ([^\n]*)")

    def __init__(self, port, method, path, body=None, headers=None, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        hdr = {"Host": "127.0.0.1:%d" % port}
        if body is not None:
            hdr["Content-Type"] = "application/json"
            hdr["Content-Length"] = str(len(body))
        for k, v in (headers or {}).items():
            if v is None:
                hdr.pop(k, None)
            else:
                hdr[k] = v
        req = "%s %s HTTP/1.1\r\n" % (method, path) + \
            "".join("%s: %s\r\n" % kv for kv in hdr.items()) + "\r\n"
        self.sock.sendall(req.encode("latin-1") + (body or b""))
        self.sock.settimeout(None)
        self.t0 = time.monotonic()
        self.cv = threading.Condition()
        self.raw = bytearray()
        self.status = None
        self.headers = []
        self.head_at = None
        self.chunks = []
        self.body = bytearray()
        self.complete = False
        self.frames = []
        self.bad_blocks = []
        self.end = None
        self._buf = bytearray()
        self._left = None
        self._crlf = False
        self._chunked = False
        self._clen = None
        self._fpos = 0
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()

    # -- reading ---------------------------------------------------------
    def _reader(self):
        end = "eof"
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    break
                with self.cv:
                    self._feed(d)
                    self.cv.notify_all()
        except ConnectionResetError:
            end = "rst"
        except OSError:
            end = "closed"
        with self.cv:
            if self.end is None:
                self.end = end
            self.cv.notify_all()

    def _feed(self, d):
        self.raw += d
        if self.status is None:
            i = self.raw.find(b"\r\n\r\n")
            if i < 0:
                return
            lines = bytes(self.raw[:i]).decode("latin-1").split("\r\n")
            self.status = int(lines[0].split(" ")[1])
            self.status_line = lines[0]
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                self.headers.append((k, v.strip()))
            self.head_at = time.monotonic()
            self._chunked = "chunked" in (self.header("transfer-encoding") or "")
            cl = self.header("content-length")
            self._clen = int(cl) if cl is not None else None
            self._buf = bytearray(self.raw[i + 4:])
        else:
            self._buf += d
        if self._chunked:
            while not self.complete:
                if self._crlf:
                    if len(self._buf) < 2:
                        break
                    assert self._buf[:2] == b"\r\n", bytes(self._buf[:10])
                    del self._buf[:2]
                    self._crlf = False
                if self._left is None:
                    j = self._buf.find(b"\r\n")
                    if j < 0:
                        break
                    size = int(bytes(self._buf[:j]), 16)
                    del self._buf[:j + 2]
                    if size == 0:
                        self.complete = True
                        break
                    self.chunks.append(size)
                    self._left = size
                take = self._buf[:self._left]
                self.body += take
                del self._buf[:len(take)]
                self._left -= len(take)
                if self._left:
                    break
                self._left = None
                self._crlf = True
        else:
            self.body += self._buf
            self._buf = bytearray()
            if self._clen is not None and len(self.body) >= self._clen:
                self.complete = True
        now = time.monotonic()
        while True:
            j = self.body.find(b"\n\n", self._fpos)
            if j < 0:
                break
            block = bytes(self.body[self._fpos:j])
            self._fpos = j + 2
            m = self.FRAME.fullmatch(block)
            if m:
                self.frames.append((m.group(1).decode(), m.group(2).decode(), now))
            else:
                self.bad_blocks.append(block)

    # -- access ----------------------------------------------------------
    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(bytes(self.body))

    def events(self):
        with self.cv:
            return [(e, json.loads(d)) for e, d, _ in self.frames]

    def names(self):
        """Frame labels: event name, or "event/type" for control frames, or
        "event@seq" for notifications."""
        out = []
        for e, d in self.events():
            if "specversion" in d:
                out.append("%s@%s" % (e, d["id"].rpartition("@")[2]))
            elif "type" in d:
                out.append("%s/%s" % (e, d["type"]))
            elif e == "error":
                out.append("error/" + d["error"])
            elif e == "connection-closing":
                out.append("close/" + d["reason"])
            else:
                out.append(e)
        return out

    def seqs(self, event=None):
        return [int(d["id"].rpartition("@")[2]) for e, d in self.events()
                if "specversion" in d and (event is None or e == event)]

    # -- waiting ---------------------------------------------------------
    def wait_for(self, pred, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                if pred(self):
                    return True
                if self.end is not None:
                    return bool(pred(self))
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cv.wait(left)

    def wait_head(self, timeout=5.0):
        if not self.wait_for(lambda r: r.status is not None, timeout):
            raise AssertionError("no response head within %.1fs: %r" % (timeout, bytes(self.raw)))
        return self

    def wait_done(self, timeout=5.0):
        if not self.wait_for(lambda r: r.complete, timeout):
            raise AssertionError("response not complete within %.1fs: %r"
                                 % (timeout, bytes(self.raw[-500:])))
        return self

    def wait_frames(self, n, timeout=5.0):
        if not self.wait_for(lambda r: len(r.frames) >= n, timeout):
            raise AssertionError("expected %d frames, have %d (end=%s): %r"
                                 % (n, len(self.frames), self.end, self.names()))
        return self.events()

    def wait_name(self, name, timeout=5.0):
        if not self.wait_for(lambda r: name in r.names(), timeout):
            raise AssertionError("no frame %r within %.1fs: %r" % (name, timeout, self.names()))
        return self.names()

    def wait_end(self, timeout=5.0):
        self.wait_for(lambda r: r.end is not None, timeout)
        return self.end

    def quiet(self, seconds):
        """Frames arriving within the next `seconds` (the wait IS the check)."""
        n0 = len(self.frames)
        self.wait_for(lambda r: False, seconds)
        return self.names()[n0:]

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


class EmuCase(unittest.TestCase):
    """Each test gets a fresh emulator unless the class shares one."""

    EMU = {"heartbeat": 30.0}

    def setUp(self):
        self.emu = Emulator(**self.EMU)
        self.emu.start()
        self.addCleanup(self.emu.stop)

    def req(self, method, path, body=None, headers=None, emu=None):
        r = RawResponse((emu or self.emu).port, method, path, body, headers)
        self.addCleanup(r.close)
        return r

    def post(self, path, body, headers=None, emu=None):
        return self.req("POST", path, body, headers, emu)

    def stream(self, path="/api/v1/watch", body=None, headers=None, emu=None, status=200):
        r = self.post(path, watch() if body is None else body, headers, emu).wait_head()
        self.assertEqual(r.status, status, bytes(r.raw))
        return r

    def publish(self, n, **kw):
        return [self.emu.notify("mars", mars(step=i), payload={"i": i}, **kw) for i in range(n)]

    def assert_error(self, r, status, code, error, message=None, details=None):
        r.wait_done()
        self.assertEqual(r.status, status, bytes(r.raw))
        self.assertEqual(r.header("content-type"), "application/json")
        raw = bytes(r.body).decode()
        b = json.loads(raw)
        self.assertEqual(raw, compact(b), "keys must be sorted, JSON compact")
        self.assertEqual(sorted(b), ["code", "details", "error", "message", "request_id"])
        self.assertEqual(b["code"], code)
        self.assertEqual(b["error"], error)
        self.assertRegex(b["request_id"], UUID4)
        self.assertEqual(r.header("x-request-id"), b["request_id"])
        if message is not None:
            self.assertEqual(b["message"], message)
        self.assertEqual(b["details"], b["message"] if details is None else details)
        return b

    def assert_auth_error(self, r, status, code, error, message):
        r.wait_done()
        self.assertEqual(r.status, status, bytes(r.raw))
        raw = bytes(r.body).decode()
        b = json.loads(raw)
        self.assertEqual(raw, compact(b))
        self.assertEqual(b, {"code": code, "error": error, "message": message,
                             "request_id": r.header("x-request-id")})
        self.assertRegex(b["request_id"], UUID4)
        return b


# ---------------------------------------------------------------------------
# Routes, request validation, error bodies
# ---------------------------------------------------------------------------

class RoutesTest(EmuCase):

    def test_health(self):
        r = self.req("GET", "/health").wait_done()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"status": "ok"})
        self.assertRegex(r.header("x-request-id"), UUID4)

    def test_framework_fallbacks_are_not_json_but_have_request_id(self):
        cases = [("GET", "/api/v1/watch", 405), ("GET", "/api/v1/replay", 405),
                 ("PUT", "/api/v1/notification", 405), ("POST", "/health", 405),
                 ("POST", "/api/v1/schema", 405), ("GET", "/api/v1/admin/wipe/all", 405),
                 ("GET", "/nope", 404), ("POST", "/api/v2/watch", 404), ("GET", "/", 404)]
        ids = set()
        for method, path, status in cases:
            r = self.req(method, path).wait_done()
            self.assertEqual(r.status, status, (method, path))
            self.assertEqual(bytes(r.body), b"")
            self.assertIsNone(r.header("content-type"))
            self.assertRegex(r.header("x-request-id"), UUID4)
            ids.add(r.header("x-request-id"))
        self.assertEqual(len(ids), len(cases), "a new request id per response")

    def test_schema_endpoints_are_public(self):
        self.emu.set_valid_tokens(["good"])
        r = self.req("GET", "/api/v1/schema", headers={"Authorization": "Bearer bad"}).wait_done()
        self.assertEqual(r.status, 200)
        b = r.json()
        self.assertEqual(b["event_types"], ["dissemination", "mars", "secure"])
        self.assertEqual(b["total_schemas"], 3)
        self.assertEqual(b["schema"]["mars"]["identifier"]["step"]["type"], "IntHandler")
        self.assertTrue(b["schema"]["mars"]["identifier"]["class"]["required"])
        self.assertNotIn("topic", b["schema"]["mars"])
        r = self.req("GET", "/api/v1/schema/mars").wait_done()
        self.assertEqual(r.json()["event_type"], "mars")
        r = self.req("GET", "/api/v1/schema/foo").wait_done()
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["available_types"], ["dissemination", "mars", "secure"])


class ValidationTest(EmuCase):
    W = ("INVALID_WATCH_REQUEST", "Invalid Watch Request")
    R = ("INVALID_REPLAY_REQUEST", "Invalid Replay Request")
    N = ("INVALID_NOTIFICATION_REQUEST", "Invalid Notification Request")

    def test_parse_errors(self):
        r = self.post("/api/v1/watch", "{")
        b = self.assert_error(r, 400, "INVALID_JSON", "Invalid Watch Request")
        self.assertTrue(b["message"].startswith("JSON parsing failed: "), b)
        r = self.post("/api/v1/replay", "")
        self.assert_error(r, 400, "INVALID_JSON", "Invalid Replay Request")
        r = self.post("/api/v1/watch", watch(x=1, a=2))
        self.assert_error(r, 400, "UNKNOWN_FIELD", "Invalid Watch Request",
                          "Request contains unknown fields: Unknown field 'a' in request. Allowed "
                          "fields: [\"event_type\", \"identifier\", \"from_id\", \"from_date\", "
                          "\"payload\"]")
        r = self.post("/api/v1/watch", watch(from_id=5))
        b = self.assert_error(r, 400, "INVALID_REQUEST_SHAPE", "Invalid Watch Request")
        self.assertIn("expected a string", b["message"])
        r = self.post("/api/v1/watch", {"event_type": "mars"})
        self.assert_error(r, 400, "INVALID_REQUEST_SHAPE", "Invalid Watch Request",
                          "missing field `identifier`")
        r = self.post("/api/v1/watch", [1])
        self.assert_error(r, 400, "INVALID_REQUEST_SHAPE", "Invalid Watch Request")
        r = self.post("/api/v1/notification", {"event_type": 3, "identifier": {}})
        self.assert_error(r, 400, "INVALID_REQUEST_SHAPE", "Invalid Notification Request")
        # null cursors are absent; payload is accepted and ignored on watch
        r = self.stream(body=watch(from_id=None, from_date=None, payload={"x": 1}))
        self.assertEqual(r.wait_frames(1)[0][1]["type"], "connection_established")

    def test_unknown_event_type_shape(self):
        r = self.post("/api/v1/watch", {"event_type": "foo", "identifier": {}}).wait_done()
        self.assertEqual(r.status, 400)
        raw = bytes(r.body).decode()
        self.assertEqual(json.loads(raw), {
            "code": "UNKNOWN_EVENT_TYPE", "configured_event_types": ["dissemination", "mars", "secure"],
            "error": "unknown_event_type", "message": "unknown event type 'foo'",
            "request_id": r.header("x-request-id")})
        self.assertEqual(raw, compact(json.loads(raw)))

    def test_cursor_rules(self):
        bad_ids = ["", "   ", " 5", "-1", "abc", "1.5", "18446744073709551616", "\u0665"]
        for v in bad_ids:
            r = self.post("/api/v1/watch", watch(from_id=v))
            r.wait_done()
            b = r.json()
            self.assertEqual((r.status, b["code"]), (400, "INVALID_WATCH_REQUEST"), v)
            if v.strip() == "":
                self.assertEqual(b["message"], "from_id cannot be empty. Provide a valid sequence "
                                               "number or omit the field")
            else:
                self.assertTrue(b["message"].startswith("from_id must be a valid positive integer. "
                                                        "Got: '%s'" % v), b)
        r = self.post("/api/v1/watch", watch(from_id="1", from_date="2026-01-01T00:00:00Z"))
        self.assert_error(r, 400, *self.W,
                          message="Cannot specify both from_id and from_date. Please provide only "
                                  "one replay parameter. Use from_id for sequence-based replay or "
                                  "from_date for time-based replay.")
        r = self.post("/api/v1/replay", watch())
        self.assert_error(r, 400, *self.R,
                          message="Replay endpoint requires either from_id or from_date parameter. "
                                  "Use from_id for sequence-based replay or from_date for time-based "
                                  "replay.")
        r = self.post("/api/v1/replay", watch(from_id="1", from_date="1"))
        self.assert_error(r, 400, *self.R)
        for v in ["2026-02-25", "-1700000000", "yesterday", "2026-13-01T00:00:00Z", ""]:
            r = self.post("/api/v1/replay", watch(from_date=v))
            self.assert_error(r, 400, *self.R)
        for v in ["+5", "007", "0", "18446744073709551615"]:
            r = self.stream("/api/v1/replay", watch(from_id=v))
            r.wait_done()

    def test_identifier_rules(self):
        r = self.post("/api/v1/watch", {"event_type": "mars", "identifier": {"class": "od"}})
        self.assert_error(r, 400, *self.W, message="Required field 'stream' missing for watch operation")
        r = self.post("/api/v1/replay", {"event_type": "mars", "identifier": {"stream": "oper"},
                                         "from_id": "1"})
        self.assert_error(r, 400, *self.R, message="Required field 'class' missing for replay operation")
        r = self.post("/api/v1/watch", watch(identifier=dict(SEL, step="six")))
        b = self.assert_error(r, 400, *self.W, details="invalid digit found in string")
        self.assertTrue(b["message"].startswith("Field 'step' must be a valid integer, got: 'six'"))
        r = self.post("/api/v1/watch", watch(identifier={"class": "zz", "stream": "oper"}))
        b = self.assert_error(r, 400, *self.W)
        self.assertTrue(b["message"].startswith("Field 'class' has invalid value 'zz'. Allowed values: ["))
        r = self.post("/api/v1/watch", watch(identifier=dict(SEL, expver={"gt": 1})))
        self.assert_error(r, 400, *self.W, message="Field 'expver' does not support constraint "
                                                   "filters; expected scalar value")
        r = self.post("/api/v1/watch", watch(identifier=dict(SEL, step={"gt": 1, "lt": 5})))
        self.assert_error(r, 400, *self.W)
        r = self.post("/api/v1/watch", watch(identifier=dict(SEL, step={"between": [5, 1]})))
        self.assert_error(r, 400, *self.W)
        r = self.post("/api/v1/watch", watch(identifier=dict(SEL, **{"class": {"gte": "od"}})))
        self.assert_error(r, 400, *self.W)
        r = self.post("/api/v1/watch", watch(identifier=dict(SEL, polygon="(0,0,0,1,1,1,0,0)",
                                                             point="0.5,0.5")))
        self.assert_error(r, 400, *self.W, message="Cannot specify both identifier.polygon and "
                                                   "identifier.point. Provide only one spatial filter.")
        r = self.post("/api/v1/watch", watch(identifier=dict(SEL, point="not-a-point")))
        b = self.assert_error(r, 400, *self.W)
        self.assertTrue(b["message"].startswith("point must be a valid 'lat,lon' coordinate pair"))
        # unknown identifier keys are ignored on watch, scalars canonicalised
        r = self.stream(body=watch(identifier={"class": "OD", "stream": "oper", "step": "06",
                                               "nonsense": 1}))
        self.assertEqual(r.wait_frames(1)[0][1]["topic"], "mars.od.oper.*.*.*.*.6")

    def test_notify_rules(self):
        r = self.post("/api/v1/notification", {"event_type": "mars", "identifier": SEL})
        b = self.assert_error(r, 400, *self.N)
        self.assertRegex(b["message"], r"^Required field '\w+' missing for notify operation$")
        r = self.post("/api/v1/notification", {"event_type": "mars", "identifier": mars(x=1)})
        self.assert_error(r, 400, *self.N, message="Unknown field 'x' provided for notify operation")
        r = self.post("/api/v1/notification", {"event_type": "mars", "identifier": mars(point="1,2")})
        self.assert_error(r, 400, *self.N, message="Unknown field 'point' provided for notify operation")
        r = self.post("/api/v1/notification", {"event_type": "mars",
                                               "identifier": mars(step={"eq": 1})})
        self.assert_error(r, 400, *self.N, message="Field 'step' constraint object is not supported "
                                                   "for notify operation")
        diss = {"destination": "SCL", "target": "E1", "class": "od", "date": "20260101", "step": 1}
        r = self.post("/api/v1/notification", {"event_type": "dissemination", "identifier": diss})
        self.assert_error(r, 400, *self.N, message="Payload is required for notify operation based "
                                                   "on schema configuration")
        r = self.post("/api/v1/notification", {"event_type": "nope", "identifier": {}}).wait_done()
        self.assertEqual(r.json()["code"], "UNKNOWN_EVENT_TYPE")
        self.assertEqual(self.emu.history(), [])
        with self.assertRaises(ValueError):
            self.emu.notify("mars", SEL)
        self.assertEqual(self.emu.notify("mars", SEL, fill=True), 1)

    def test_body_too_large(self):
        r = self.post("/api/v1/watch", "x" * (256 * 1024 + 1)).wait_done()
        self.assertEqual(r.status, 413)
        self.assertRegex(r.header("x-request-id"), UUID4)


# ---------------------------------------------------------------------------
# Stream format
# ---------------------------------------------------------------------------

class StreamFormatTest(EmuCase):
    EMU = {"heartbeat": 30.0}

    def test_sse_head_exact(self):
        r = self.stream()
        r.wait_frames(2)
        self.assertEqual(r.status_line, "HTTP/1.1 200 OK")
        names = [k for k, _ in r.headers]
        self.assertEqual([n for n in names if n != "date"],
                         ["content-type", "cache-control", "connection", "access-control-allow-origin",
                          "x-accel-buffering", "x-request-id", "transfer-encoding"])
        self.assertEqual(r.header("content-type"), "text/event-stream")
        self.assertEqual(r.header("cache-control"), "no-cache")
        self.assertEqual(r.header("connection"), "keep-alive")
        self.assertEqual(r.header("access-control-allow-origin"), "*")
        self.assertEqual(r.header("x-accel-buffering"), "no")
        self.assertEqual(r.header("transfer-encoding"), "chunked")
        self.assertIsNone(r.header("content-length"))
        self.assertRegex(r.header("x-request-id"), UUID4)
        # one HTTP chunk per frame (flushed at once)
        self.assertEqual(r.chunks, [len(frame_bytes(e, d)) for e, d, _ in r.frames])

    def test_live_watch_exact_frames(self):
        r = self.stream()
        rid = r.header("x-request-id")
        r.wait_frames(2)
        body = bytes(r.body).decode()
        m = re.fullmatch(
            r'event: live-notification\ndata: \{"connection_will_close_in_seconds":3600,"request_id":"%s",'
            r'"timestamp":"(%s)","topic":"mars\.od\.oper\.\*\.\*\.\*\.\*\.\*",'
            r'"type":"connection_established"\}\n\n'
            r'event: heartbeat\ndata: \{"timestamp":"(%s)","topic":"mars\.od\.oper\.\*\.\*\.\*\.\*\.\*"\}\n\n'
            % (rid, TS, TS), body)
        self.assertIsNotNone(m, body)
        self.emu.wait_open(1)
        seq = self.emu.notify("mars", mars(step=6), payload={"b": [1, 2], "a": "x"},
                              time_ns=1767225600123456000)
        r.wait_frames(3)
        base = self.emu.base_url
        expect = ('event: live-notification\ndata: {"data":{"identifier":{"class":"od","date":"20260101",'
                  '"domain":"g","expver":"0001","step":"6","stream":"oper","time":"0000"},"payload":'
                  '{"a":"x","b":[1,2]}},"datacontenttype":"application/json","dataschema":"%s/schema/mars",'
                  '"id":"mars@%d","source":"%s","specversion":"1.0","time":"2026-01-01T00:00:00.123456Z",'
                  '"type":"int.ecmwf.aviso.mars"}\n\n' % (base, seq, base))
        self.assertEqual(bytes(r.body)[m.end():].decode(), expect)
        self.assertEqual(r.bad_blocks, [])
        for line in bytes(r.body).decode().split("\n"):
            self.assertFalse(line.startswith(("id:", "retry:", ":")), line)

    def test_cloudevent_fields(self):
        emu = Emulator(source="http://localhost", time_precision=3)
        emu.start()
        self.addCleanup(emu.stop)
        emu.notify("mars", mars(step="012"))
        emu.notify("mars", mars(), payload="text")
        r = self.stream("/api/v1/replay", watch(from_id="0"), emu=emu)
        ev = r.wait_frames(3)
        ce = ev[1][1]
        self.assertEqual(sorted(ce), ["data", "datacontenttype", "dataschema", "id", "source",
                                      "specversion", "time", "type"])
        self.assertEqual(ce["data"]["payload"], None)
        self.assertEqual(ce["data"]["identifier"]["step"], "12")
        self.assertTrue(all(isinstance(v, str) for v in ce["data"]["identifier"].values()))
        self.assertEqual(ce["dataschema"], "http://localhost/schema/mars")
        self.assertEqual(ce["source"], "http://localhost")
        self.assertRegex(ce["time"], r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
        self.assertEqual(ev[2][1]["data"]["payload"], "text")
        # default precision: chrono AutoSi
        self.emu.notify("mars", mars())
        self.emu.notify("mars", mars(), time_ns=1767225600000000000)
        r = self.stream("/api/v1/replay", watch(from_id="0"))
        ev = r.wait_frames(3)
        self.assertRegex(ev[1][1]["time"], CE_TIME)
        self.assertEqual(ev[2][1]["time"], "2026-01-01T00:00:00Z")

    def test_heartbeat_timing_and_order(self):
        # Bounds with room for a loaded machine: the first heartbeat comes
        # before a full interval, then about one an interval.
        self.emu.configure(heartbeat=0.5)
        r = self.stream()
        r.wait_frames(7, timeout=15)
        names = r.names()
        self.assertEqual(names[0], "live-notification/connection_established")
        self.assertEqual(names[1:7], ["heartbeat"] * 6)
        t = [f[2] for f in r.frames[:7]]
        self.assertLess(t[1] - t[0], 0.4, "first heartbeat right after the opening frame")
        gaps = [b - a for a, b in zip(t[1:], t[2:])]
        for g in gaps:
            self.assertGreater(g, 0.1, gaps)
            self.assertLess(g, 2.0, gaps)
        self.assertGreater(t[6] - t[1], 2.0)

    def test_replay_endpoint(self):
        self.emu.configure(heartbeat=0.05, replay_batch_delay=0.1, batch_size=2)
        seqs = self.publish(5)
        r = self.stream("/api/v1/replay", watch(from_id=str(seqs[2])))
        rid = r.header("x-request-id")
        r.wait_done()
        self.assertEqual(r.names(), ["replay-control/replay_started", "replay@3", "replay@4",
                                     "replay@5", "replay-control/replay_completed",
                                     "close/end_of_stream"])
        ev = r.events()
        self.assertEqual(ev[0][1], {"batch_size": 2, "from_date": None, "from_sequence": 3,
                                    "request_id": rid, "timestamp": ev[0][1]["timestamp"],
                                    "topic": TOPIC, "type": "replay_started"})
        self.assertEqual(sorted(ev[4][1]), ["timestamp", "topic", "type"])
        self.assertEqual(ev[5][1], {"message": "Stream completed", "reason": "end_of_stream",
                                    "request_id": rid, "timestamp": ev[5][1]["timestamp"],
                                    "topic": TOPIC})
        self.assertTrue(r.complete)
        r = self.stream("/api/v1/replay", watch(from_id="0"))
        r.wait_done()
        self.assertEqual(r.seqs(), [1, 2, 3, 4, 5])
        r = self.stream("/api/v1/replay", watch(from_id="99"))
        r.wait_done()
        self.assertEqual(r.names(), ["replay-control/replay_started",
                                     "replay-control/replay_completed", "close/end_of_stream"])

    def test_keep_alive_after_replay_end(self):
        self.publish(2)
        c = http.client.HTTPConnection("127.0.0.1", self.emu.port, timeout=5)
        self.addCleanup(c.close)
        c.request("POST", "/api/v1/replay", body=json.dumps(watch(from_id="1")))
        resp = c.getresponse()
        data = resp.read()
        self.assertIn(b"end_of_stream", data)
        sock = c.sock
        c.request("GET", "/health")
        self.assertEqual(c.getresponse().read(), b'{"status":"ok"}')
        self.assertIs(c.sock, sock, "the connection was reused")

    def test_watch_with_from_id_replays_then_goes_live(self):
        self.emu.configure(heartbeat=0.1, batch_size=1, replay_batch_delay=0.35)
        self.publish(3)
        r = self.stream(body=watch(from_id="2"))
        r.wait_name("replay-control/replay_completed", timeout=5)
        names = r.names()
        self.assertEqual(names[:2], ["replay-control/replay_started", "heartbeat"])
        core = [n for n in names if n != "heartbeat"]
        self.assertEqual(core, ["replay-control/replay_started", "replay@2", "replay@3",
                                "replay-control/replay_completed"])
        i2, i3 = names.index("replay@2"), names.index("replay@3")
        self.assertIn("heartbeat", names[i2:i3], "heartbeats interleave with replay batches")
        seq = self.emu.notify("mars", mars(step=9))
        r.wait_name("live-notification@%d" % seq)
        self.assertEqual(self.emu.stream_requests()[0]["seqs"], [2, 3, 4])

    def test_from_date_formats(self):
        t0 = 1767225600  # 2026-01-01T00:00:00Z
        for i in range(4):
            self.emu.notify("mars", mars(step=i), time=t0 + i * 3600 + 0.5)
        # each names 2026-01-01T02:00:00.5Z or a moment just before it
        good = ["2026-01-01T02:00:00.5Z", "2026-01-01T02:00:00Z", "2026-01-01t02:00:00.25z",
                "2026-01-01T03:00:00+01:00", "2026-01-01 03:00:00.1+01:00",
                "2026-01-01T02:00:00", "2026-01-01 02:00:00.5", "1767232800",
                "1767232800000", "+1767232800500", "0001767232800000", "2026-01-01T01:59:00-00:00"]
        for v in good:
            r = self.stream("/api/v1/replay", watch(from_date=v))
            r.wait_done()
            self.assertEqual(r.seqs(), [3, 4], v)
            started = r.events()[0][1]
            self.assertIsNone(started["from_sequence"])
            exp = "2026-01-01T02:00:00Z" if not v.endswith("01:59:00-00:00") else "2026-01-01T01:59:00Z"
            self.assertEqual(started["from_date"], exp, v)
        self.assertEqual(parse_from_date("0"), 0)
        self.assertEqual(parse_from_date("99999999999"), 99999999999 * 10 ** 9)
        self.assertEqual(parse_from_date("100000000000"), 100000000000 * 10 ** 6)
        # a future date: empty replay, then a watch goes live
        r = self.stream(body=watch(from_date="2999-01-01T00:00:00Z"))
        r.wait_name("replay-control/replay_completed")
        self.assertEqual(r.seqs(), [])

    def test_identifier_filtering(self):
        emu = self.emu
        emu.notify("mars", mars(step=1))                            # 1
        emu.notify("mars", mars(step=12, domain="a"))               # 2
        emu.notify("mars", mars(**{"class": "rd"}, step=12))        # 3
        emu.notify("mars", mars(stream="enfo", step=24))            # 4
        emu.notify("mars", mars(step=48, expver="0002"))            # 5
        cases = [({}, [1, 2, 5]), ({"step": 12}, [2]), ({"step": "012"}, [2]),
                 ({"domain": "A"}, [2]), ({"step": {"gte": 12}}, [2, 5]),
                 ({"step": {"in": [1, 48]}}, [1, 5]), ({"step": {"between": [2, 48]}}, [2, 5]),
                 ({"step": {"lt": 12}}, [1]), ({"step": {"gt": 12}}, [5]),
                 ({"step": {"lte": 12}}, [1, 2]), ({"step": {"eq": "1"}}, [1]),
                 ({"domain": {"in": ["a", "G"]}}, [1, 2, 5]), ({"domain": {"eq": "a"}}, [2]),
                 ({"expver": "0002"}, [5]), ({"expver": "*"}, [1, 2, 5])]
        for extra, want in cases:
            r = self.stream("/api/v1/replay", watch(identifier=dict(SEL, **extra), from_id="0"))
            r.wait_done()
            self.assertEqual(r.seqs(), want, extra)
        r = self.stream("/api/v1/replay", watch(identifier={"class": "od", "stream": "enfo"},
                                                from_id="0"))
        r.wait_done()
        self.assertEqual(r.seqs(), [4])
        # live filtering
        w = self.stream(body=watch(identifier=dict(SEL, step={"gte": 100})))
        w.wait_frames(2)
        emu.wait_open(1)
        emu.notify_many([("mars", mars(step=5)), ("mars", mars(step=150)),
                         ("mars", mars(stream="enfo", step=200)), ("mars", mars(step=100))])
        w.wait_frames(4)
        self.assertEqual(w.seqs(), [7, 9])
        self.assertEqual(w.quiet(QUIET), [])

    def test_spatial_filters(self):
        schema = {"obs": {"identifier": {
            "region": {"type": "enum", "values": ["eu", "us"], "required": True},
            "polygon": {"type": "polygon", "required": True}}}}
        emu = Emulator(schema=schema)
        emu.start()
        self.addCleanup(emu.stop)
        emu.notify("obs", {"region": "eu", "polygon": "(46,8,46,9,47,9,47,8,46,8)"})
        emu.notify("obs", {"region": "eu", "polygon": "10,10,10,11,11,11,10,10"})
        body = {"event_type": "obs", "identifier": {"region": "eu", "point": "46.5,8.5"},
                "from_id": "0"}
        r = self.stream("/api/v1/replay", body, emu=emu)
        r.wait_done()
        self.assertEqual(r.seqs(), [1])
        self.assertEqual(r.events()[1][1]["data"]["identifier"]["polygon"], "(46,8,46,9,47,9,47,8,46,8)")
        body["identifier"] = {"region": "eu", "polygon": "(10.5,10.5,10.5,20,20,20,20,10.5,10.5,10.5)"}
        r = self.stream("/api/v1/replay", body, emu=emu)
        r.wait_done()
        self.assertEqual(r.seqs(), [2])
        body["identifier"] = {"region": "eu", "polygon": "(1,1,1,2,2,2)"}
        r = self.post("/api/v1/replay", body, emu=emu)
        self.assert_error(r, 400, "INVALID_REPLAY_REQUEST", "Invalid Replay Request")

    def test_sequence_modes_and_retention(self):
        self.emu.notify("mars", mars())
        self.emu.notify("secure", {"name": "a", "level": 1})
        self.emu.notify("mars", mars())
        r = self.stream("/api/v1/replay", watch(from_id="0"))
        r.wait_done()
        self.assertEqual(r.seqs(), [1, 3], "global counter: gaps")
        emu = Emulator(seq_mode="per_type", seq_start=100)
        emu.start()
        self.addCleanup(emu.stop)
        emu.notify("mars", mars())
        emu.notify("secure", {"name": "a", "level": 1})
        emu.notify("mars", mars())
        self.assertEqual(emu.last_seq("mars"), 101)
        r = self.stream("/api/v1/replay", watch(from_id="0"), emu=emu)
        r.wait_done()
        self.assertEqual(r.seqs(), [100, 101])
        # retention: last message per topic; per event type
        emu = Emulator(max_history_per_topic=1)
        emu.start()
        self.addCleanup(emu.stop)
        for i in range(3):
            emu.notify("mars", mars(step=1))
            emu.notify("mars", mars(step=2))
        r = self.stream("/api/v1/replay", watch(from_id="0"), emu=emu)
        r.wait_done()
        self.assertEqual(r.seqs(), [5, 6])
        emu.configure(max_history_per_topic=None, max_history=2)
        for i in range(3):
            emu.notify("mars", mars(step=i + 10))
        r = self.stream("/api/v1/replay", watch(from_id="1"), emu=emu)
        r.wait_done()
        self.assertEqual(r.seqs(), [8, 9], "from_id below the oldest: starts at the oldest")

    def test_overlap_boundary_duplicates_items_published_during_catch_up(self):
        for boundary, want_dup in (("overlap", True), ("exact", False)):
            emu = Emulator(boundary=boundary, batch_size=1, replay_batch_delay=0.3)
            emu.start()
            self.addCleanup(emu.stop)
            emu.notify("mars", mars())
            emu.notify("mars", mars())
            r = self.stream(body=watch(from_id="1"), emu=emu)
            r.wait_name("replay@1")
            emu.notify("mars", mars(step=3))
            r.wait_name("live-notification@3")
            self.assertEqual("replay@3" in r.names(), want_dup, (boundary, r.names()))


# ---------------------------------------------------------------------------
# Lifecycle, notify, admin
# ---------------------------------------------------------------------------

class LifecycleTest(EmuCase):
    EMU = {"heartbeat": 0.1, "max_duration": 0.6}

    def test_max_duration(self):
        r = self.stream()
        rid = r.header("x-request-id")
        r.wait_done(timeout=5)
        ev = r.events()
        self.assertEqual(ev[0][1]["connection_will_close_in_seconds"], 1)
        self.assertEqual(ev[-1], ("connection-closing", {
            "message": "Connection reached maximum duration", "reason": "max_duration_reached",
            "request_id": rid, "timestamp": ev[-1][1]["timestamp"], "topic": TOPIC}))
        self.assertGreaterEqual(r.names().count("heartbeat"), 4)
        self.assertGreaterEqual(r.frames[-1][2] - r.head_at, 0.55)
        self.assertEqual(self.emu.wait_stream_end(0), "max_duration_reached")
        # /replay has no maximum duration
        self.emu.configure(max_duration=0.2, replay_batch_delay=0.15, batch_size=1)
        self.publish(3)
        r = self.stream("/api/v1/replay", watch(from_id="0"))
        r.wait_done()
        self.assertEqual(r.seqs(), [1, 2, 3])
        self.assertEqual(r.names()[-1], "close/end_of_stream")

    def test_shutdown_drops_queued_frames(self):
        self.emu.configure(max_duration=None, advertised_max_duration=77)
        self.emu.script(["stall"])
        r = self.stream()
        self.assertEqual(r.wait_frames(2)[0][1]["connection_will_close_in_seconds"], 77)
        self.emu.wait_open(1)
        self.publish(3)
        self.assertEqual(r.quiet(QUIET), [], "stalled: not even heartbeats")
        self.assertEqual(self.emu.shutdown_streams(), 1)
        r.wait_done()
        self.assertEqual(r.names(), ["live-notification/connection_established", "heartbeat",
                                     "close/server_shutdown"])
        self.assertEqual(r.events()[-1][1]["message"], "Server is shutting down gracefully")
        self.assertEqual(self.emu.wait_stream_end(0), "server_shutdown")

    def test_stop_graceful(self):
        self.emu.configure(max_duration=None)
        r = self.stream()
        r.wait_frames(2)
        self.emu.wait_open(1)
        self.emu.stop(graceful=True)
        r.wait_done()
        self.assertEqual(r.names()[-1], "close/server_shutdown")
        self.assertEqual(r.wait_end(), "eof")


class NotifyAdminTest(EmuCase):

    def test_notify_success_body(self):
        r = self.post("/api/v1/notification", {"event_type": "mars", "identifier": mars(step="06"),
                                               "from_id": "3", "from_date": "x"}).wait_done()
        self.assertEqual(r.status, 200)
        rid = r.header("x-request-id")
        self.assertRegex(bytes(r.body).decode(),
                         r'^\{"status":"success","request_id":"%s","processed_at":"%s"\}$' % (rid, TS))
        self.assertEqual(r.header("content-type"), "application/json")
        h = self.emu.history()
        self.assertEqual(len(h), 1)
        self.assertEqual(h[0]["identifier"]["step"], "6")
        self.assertIsNone(h[0]["payload"])
        rec = self.emu.requests[-1]
        self.assertEqual((rec["kind"], rec["from_id"], rec["notified_seq"]), ("notify", "3", 1))
        r = self.post("/api/v1/notification", {
            "event_type": "dissemination", "payload": {"loc": "x"},
            "identifier": {"destination": "SCL", "target": "E1", "class": "od", "date": "20260101",
                           "step": 1}}).wait_done()
        self.assertEqual(r.status, 200)
        r = self.stream("/api/v1/replay", {"event_type": "dissemination",
                                           "identifier": {"destination": "SCL"}, "from_id": "0"})
        r.wait_done()
        self.assertEqual(r.events()[1][1]["id"], "dissemination@2")
        self.assertEqual(r.events()[0][1]["topic"], "diss.SCL.*.*.*.*")

    def test_admin(self):
        self.emu.set_valid_tokens({"adm": {"roles": ["admin"]}, "usr": {}})
        self.publish(3)
        r = self.req("DELETE", "/api/v1/admin/notification/mars@2")
        self.assert_auth_error(r, 401, "UNAUTHORIZED", "unauthorized", "Authorization header is required")
        r = self.req("DELETE", "/api/v1/admin/notification/mars@2", headers={"Authorization": "Bearer usr"})
        self.assert_auth_error(r, 403, "FORBIDDEN", "forbidden",
                               "User does not have required administrative role")
        r = self.req("DELETE", "/api/v1/admin/notification/mars@2", headers={"Authorization": "Bogus"})
        self.assert_auth_error(r, 401, "UNAUTHORIZED", "unauthorized",
                               "Authorization header must use Bearer or Basic scheme")
        adm = {"Authorization": "Bearer adm"}
        r = self.req("DELETE", "/api/v1/admin/notification/mars@2", headers=adm).wait_done()
        self.assertEqual(r.json(), {"message": "Notification deleted", "notification_id": "mars@2",
                                    "success": True})
        r = self.req("DELETE", "/api/v1/admin/notification/mars@2", headers=adm).wait_done()
        self.assertEqual(r.status, 404)
        r = self.req("DELETE", "/api/v1/admin/notification/mars@0", headers=adm).wait_done()
        self.assertEqual((r.status, r.json()["message"]),
                         (400, "notification_id sequence must be greater than zero"))
        r = self.stream("/api/v1/replay", watch(from_id="0"))
        r.wait_done()
        self.assertEqual(r.seqs(), [1, 3])
        r = self.req("DELETE", "/api/v1/admin/wipe/stream", {"stream_name": "mars"}, headers=adm).wait_done()
        self.assertEqual(r.json()["success"], True)
        self.assertEqual(self.emu.history(), [])


# ---------------------------------------------------------------------------
# Auth
# ---------------------------------------------------------------------------

def basic(user, pw):
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


class AuthTest(EmuCase):
    EMU = {"heartbeat": 30.0, "tokens": {"rd": {"roles": ["reader"]}, "wr": {"roles": ["writer"]},
                                          "no": {"roles": ["nobody"]}, "deny": {"deny": True},
                                          "adm": {"roles": ["admin"]}},
           "basic_users": {"alice": "pw"}}

    def sec(self, **kw):
        d = {"event_type": "secure", "identifier": {"name": "alpha"}}
        d.update(kw)
        return d

    def test_protected_stream_outcomes(self):
        r = self.post("/api/v1/watch", self.sec())
        self.assert_auth_error(r, 401, "UNAUTHORIZED", "unauthorized",
                               "Authentication is required for this stream")
        self.assertEqual(r.header_all("www-authenticate"), ["Bearer", "Basic"])
        r = self.post("/api/v1/watch", self.sec(), {"Authorization": "Bearer nope"})
        self.assert_auth_error(r, 401, "UNAUTHORIZED", "unauthorized", "Invalid or expired token")
        self.assertEqual(r.header_all("www-authenticate"), ["Bearer", "Basic"])
        r = self.post("/api/v1/watch", self.sec(), {"Authorization": "Bearer no"})
        self.assert_auth_error(r, 403, "FORBIDDEN", "forbidden",
                               "User does not have required read role for this stream")
        self.assertEqual(r.header_all("www-authenticate"), [])
        r = self.post("/api/v1/watch", self.sec(), {"Authorization": "Bearer deny"})
        self.assert_auth_error(r, 403, "FORBIDDEN", "forbidden", "Token validation was denied")
        for cred in ("Bearer rd", "bearer rd", "BEARER rd", "Bearer adm", basic("alice", "pw")):
            r = self.stream(body=self.sec(), headers={"Authorization": cred})
            self.assertEqual(r.wait_frames(1)[0][1]["type"], "connection_established", cred)
        r = self.post("/api/v1/watch", self.sec(), {"Authorization": basic("alice", "wrong")})
        self.assert_auth_error(r, 401, "UNAUTHORIZED", "unauthorized", "Invalid or expired token")
        # malformed headers are ignored on non-admin paths
        for cred in ("Token rd", "Bearer", "   "):
            r = self.post("/api/v1/watch", self.sec(), {"Authorization": cred})
            self.assert_auth_error(r, 401, "UNAUTHORIZED", "unauthorized",
                                   "Authentication is required for this stream")
            self.stream(body=watch(), headers={"Authorization": cred}).wait_frames(1)
        # order of checks: parse errors before per-stream auth ...
        r = self.post("/api/v1/watch", {"event_type": "secure"})
        self.assert_error(r, 400, "INVALID_REQUEST_SHAPE", "Invalid Watch Request")
        r = self.post("/api/v1/watch", {"event_type": "secure", "identifier": {}})
        self.assert_auth_error(r, 401, "UNAUTHORIZED", "unauthorized",
                               "Authentication is required for this stream")
        # ... but a bad credential is rejected before parsing
        r = self.post("/api/v1/watch", "{", {"Authorization": "Bearer nope"})
        self.assert_auth_error(r, 401, "UNAUTHORIZED", "unauthorized", "Invalid or expired token")

    def test_bad_credentials_on_public_streams(self):
        r = self.post("/api/v1/watch", watch(), {"Authorization": "Bearer nope"})
        self.assert_auth_error(r, 401, "UNAUTHORIZED", "unauthorized", "Invalid or expired token")
        r = self.post("/api/v1/notification", {"event_type": "mars", "identifier": MARS},
                      {"Authorization": "Bearer nope"})
        self.assert_auth_error(r, 401, "UNAUTHORIZED", "unauthorized", "Invalid or expired token")
        self.stream(body=watch(), headers={"Authorization": "Bearer rd"}).wait_frames(1)
        self.emu.set_auth_backend(False)
        r = self.post("/api/v1/watch", watch(), {"Authorization": "Bearer rd"})
        self.assert_auth_error(r, 503, "SERVICE_UNAVAILABLE", "service_unavailable",
                               "Authentication service temporarily unavailable")
        self.assertIsNone(r.header("retry-after"))
        self.stream(body=watch()).wait_frames(1)       # no credentials: no auth-o-tron call
        self.emu.configure(auth=False)
        self.stream(body=self.sec(), headers={"Authorization": "Bearer nope"}).wait_frames(1)

    def test_trusted_proxy_mode(self):
        self.emu.configure(auth_mode="trusted_proxy")
        self.emu.set_auth_backend(False)                # not used in this mode
        r = self.post("/api/v1/watch", self.sec())
        self.assert_auth_error(r, 401, "UNAUTHORIZED", "unauthorized",
                               "Authentication is required for this stream")
        self.assertEqual(r.header_all("www-authenticate"), ["Bearer"])
        r = self.post("/api/v1/watch", self.sec(), {"Authorization": basic("alice", "pw")})
        self.assert_auth_error(r, 401, "UNAUTHORIZED", "unauthorized",
                               "Authentication is required for this stream")
        self.stream(body=self.sec(), headers={"Authorization": "Bearer rd"}).wait_frames(1)

    def test_notify_write_roles(self):
        n = {"event_type": "secure", "identifier": {"name": "a", "level": 2}}
        r = self.post("/api/v1/notification", n, {"Authorization": "Bearer rd"})
        self.assert_auth_error(r, 403, "FORBIDDEN", "forbidden",
                               "User does not have required write role for this stream")
        for cred in ("Bearer wr", "Bearer adm"):
            r = self.post("/api/v1/notification", n, {"Authorization": cred}).wait_done()
            self.assertEqual(r.status, 200)
        schema = {"locked": {"identifier": {"k": {"type": "string", "required": True}},
                             "auth": {"required": True, "read_roles": {"ecmwf": ["*"]}}}}
        emu = Emulator(schema=schema, tokens={"u": {}, "other": {"realm": "x"}, "a": {"roles": ["admin"]}})
        emu.start()
        self.addCleanup(emu.stop)
        body = {"event_type": "locked", "identifier": {"k": "v"}}
        r = self.post("/api/v1/notification", body, {"Authorization": "Bearer u"}, emu=emu)
        self.assert_auth_error(r, 403, "FORBIDDEN", "forbidden",
                               "Only administrators can write to this stream")
        r = self.post("/api/v1/notification", body, {"Authorization": "Bearer a"}, emu=emu).wait_done()
        self.assertEqual(r.status, 200)
        self.stream(body=body, headers={"Authorization": "Bearer u"}, emu=emu).wait_frames(1)
        r = self.post("/api/v1/watch", body, {"Authorization": "Bearer other"}, emu=emu)
        self.assert_auth_error(r, 403, "FORBIDDEN", "forbidden",
                               "User does not have required read role for this stream")

    def test_token_rotation(self):
        emu = self.emu
        emu.configure(on_token_revoked="fin")
        emu.set_valid_tokens(["t1"])
        r = self.stream(body=self.sec(), headers={"Authorization": "Bearer t1"})
        r.wait_frames(2)
        emu.wait_open(1)
        emu.set_valid_tokens(["t2"])
        self.assertEqual(r.wait_end(), "eof")
        self.assertFalse(r.complete, "FIN without the last chunk")
        self.assertNotIn("connection-closing", [e for e, _, _ in r.frames])
        rec = emu.stream_requests()[0]
        self.assertTrue(rec["revoked"])
        self.assertEqual(rec["authorization"], "Bearer t1")
        r = self.post("/api/v1/watch", self.sec(), {"Authorization": "Bearer t1"})
        self.assert_auth_error(r, 401, "UNAUTHORIZED", "unauthorized", "Invalid or expired token")
        # revocation with a close frame
        emu.configure(on_token_revoked="server_shutdown")
        r = self.stream(body=self.sec(), headers={"Authorization": "Bearer t2"})
        r.wait_frames(2)
        emu.revoke_token("t2")
        r.wait_done()
        self.assertEqual(r.names()[-1], "close/server_shutdown")
        # "keep": the open stream goes on (the real server checks only at connect)
        emu.configure(on_token_revoked="keep")
        emu.set_valid_tokens(["t3"])
        r = self.stream(body=self.sec(), headers={"Authorization": "Bearer t3"})
        r.wait_frames(2)
        emu.wait_open(1)
        emu.set_valid_tokens([])
        emu.notify("secure", {"name": "alpha", "level": 1})
        r.wait_frames(3)
        self.assertEqual(r.seqs(), [1])
        # expiry
        emu.configure(on_token_revoked="rst")
        emu.set_valid_tokens({"short": {"expires_in": 0.5}})
        r = self.stream(body=self.sec(), headers={"Authorization": "Bearer short"})
        self.assertEqual(r.wait_end(timeout=5), "rst")
        self.assertGreaterEqual(time.monotonic() - r.t0, 0.4)


# ---------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------

class FaultsTest(EmuCase):
    EMU = {"heartbeat": 0.1}

    def live(self, n, entry, body=None, path="/api/v1/watch"):
        """Script `entry`, open a stream, publish n notifications once it is
        subscribed; returns the response."""
        self.emu.script([entry])
        r = self.stream(path, body)
        r.wait_frames(1)
        self.emu.wait_for(lambda e: e.stream_requests()[-1]["subscribed"])
        if n:
            self.publish(n)
        return r

    def test_drops(self):
        r = self.live(3, "rst:2")
        self.assertEqual(r.wait_end(), "rst")
        self.assertEqual(r.seqs(), [1, 2])
        self.assertNotIn("connection-closing", [e for e, _, _ in r.frames])
        r = self.live(3, "fin:1")
        self.assertEqual(r.wait_end(), "eof")
        self.assertFalse(r.complete)
        self.assertEqual(r.seqs(), [4])
        r = self.live(0, "eof")
        self.assertEqual(r.wait_end(), "eof")
        self.assertTrue(r.complete)
        self.assertEqual(r.names(), ["live-notification/connection_established", "heartbeat"])
        self.assertEqual([self.emu.wait_stream_end(i) for i in range(3)], ["rst", "fin", "eof"])

    def test_stall(self):
        r = self.live(2, "stall:1")
        r.wait_name("live-notification@1")
        self.assertEqual(r.quiet(0.8), [], "no heartbeats while stalled")
        self.assertIsNone(r.end)
        self.assertTrue(self.emu.stream_requests()[0]["stalled"])
        self.emu.shutdown_streams("end_of_stream")
        r.wait_done()
        self.assertEqual([n for n in r.names() if n != "heartbeat"],
                         ["live-notification/connection_established", "live-notification@1",
                          "close/end_of_stream"])
        r = self.live(0, "stall:0:1.0")
        r.wait_frames(2)
        self.assertEqual(r.quiet(0.3), [])
        r.wait_frames(4, timeout=3)
        self.assertEqual(r.names()[2:4], ["heartbeat", "heartbeat"])
        # the client going away ends a stall
        r = self.live(0, "stall")
        r.wait_frames(2)
        r.close()
        self.assertEqual(self.emu.wait_stream_end(2), "client-closed")

    def test_split_and_merge(self):
        self.publish(5)
        self.emu.script(["split"])
        r = self.stream(body=watch(from_id="1"))
        r.wait_name("replay-control/replay_completed")
        self.assertTrue(all(1 <= c <= 3 for c in r.chunks), r.chunks)
        self.assertGreater(len(r.chunks), 300)
        self.assertEqual(r.bad_blocks, [])
        self.assertEqual(r.seqs(), [1, 2, 3, 4, 5])
        self.emu.cut_stream(0, "fin")
        self.assertEqual(r.wait_end(), "eof")
        self.assertEqual(self.emu.wait_stream_end(0), "fin")
        self.assertEqual(self.emu.stream_requests()[0]["sends"], len(r.chunks))
        self.emu.script(["merge"])
        r = self.stream(body=watch(from_id="1"))
        r.wait_name("replay-control/replay_completed")
        self.assertEqual(len(r.chunks), 1, "opening + heartbeat + 5 replays + completed in one chunk")
        self.assertEqual(r.chunks[0], len(bytes(r.body)))
        self.emu.wait_open(1)
        self.emu.notify_many([("mars", mars(step=i)) for i in range(4)])
        r.wait_name("live-notification@9")
        self.assertEqual(r.seqs("live-notification"), [6, 7, 8, 9])
        merged = [c for c in r.chunks[1:] if c > 1000]
        self.assertEqual(len(merged), 1, r.chunks)

    def test_status_faults(self):
        self.emu.script(["500", "503", "503:7", "429:3", "429", "502", "ok"])
        r = self.post("/api/v1/watch", watch(identifier=dict(SEL, step=6))).wait_done()
        self.assertEqual(r.json()["code"], "SSE_STREAM_INITIALIZATION_FAILED")
        r = self.post("/api/v1/watch", watch())
        self.assert_auth_error(r, 503, "SERVICE_UNAVAILABLE", "service_unavailable",
                               "Authentication service temporarily unavailable")
        self.assertIsNone(r.header("retry-after"))
        r = self.post("/api/v1/watch", watch())
        self.assert_auth_error(r, 503, "SERVICE_UNAVAILABLE", "service_unavailable",
                               "Authentication service temporarily unavailable")
        self.assertEqual(r.header("retry-after"), "7")
        r = self.post("/api/v1/watch", watch())
        self.assert_auth_error(r, 429, "TOO_MANY_REQUESTS", "too_many_requests", "Too many requests")
        self.assertEqual(r.header("retry-after"), "3")
        r = self.post("/api/v1/watch", watch()).wait_done()
        self.assertEqual((r.status, r.header("retry-after")), (429, "1"))
        r = self.post("/api/v1/watch", watch()).wait_done()
        self.assertEqual(r.status, 502)
        self.stream().wait_frames(1)
        self.stream().wait_frames(1)
        self.assertEqual([x["stream_n"] for x in self.emu.stream_requests()], list(range(8)))

    def test_500_has_topic(self):
        self.emu.script(["500"])
        r = self.post("/api/v1/watch", watch(identifier=dict(SEL, step=6))).wait_done()
        raw = bytes(r.body).decode()
        b = json.loads(raw)
        self.assertEqual(raw, compact(b))
        self.assertEqual(sorted(b), ["code", "details", "error", "message", "request_id", "topic"])
        self.assertEqual((b["code"], b["error"], b["topic"]),
                         ("SSE_STREAM_INITIALIZATION_FAILED", "SSE stream creation failed",
                          "mars.od.oper.*.*.*.*.6"))
        self.assertEqual(b["request_id"], r.header("x-request-id"))
        # a request that fails validation answers 400 and uses up the entry
        self.emu.script(["500"])
        r = self.post("/api/v1/watch", {"event_type": "mars", "identifier": {}}).wait_done()
        self.assertEqual(r.status, 400)
        self.stream().wait_frames(1)

    def test_close_reasons(self):
        for i, (entry, reason, k) in enumerate([("max_duration_reached:1", "max_duration_reached", 1),
                                                ("server_shutdown", "server_shutdown", 0),
                                                ("end_of_stream:2", "end_of_stream", 2),
                                                ("close:going_away:1", "going_away", 1)]):
            r = self.live(3, entry)
            r.wait_done()
            ev = r.events()
            self.assertEqual(ev[-1][0], "connection-closing")
            self.assertEqual(ev[-1][1]["reason"], reason)
            self.assertEqual(len(r.seqs()), k, entry)
            self.assertEqual(self.emu.wait_stream_end(i), reason)

    def test_boundary_duplicates(self):
        self.publish(4)
        self.emu.script(["dup:2"])
        r = self.stream(body=watch(from_id="1"))
        r.wait_frames(9)
        core = [n for n in r.names() if n != "heartbeat"]
        self.assertEqual(core, ["replay-control/replay_started", "replay@1", "replay@2", "replay@3",
                                "replay@4", "replay-control/replay_completed",
                                "live-notification@3", "live-notification@4"])
        self.emu.wait_open(1)
        seq = self.emu.notify("mars", mars())
        r.wait_name("live-notification@%d" % seq)
        # resend: the last N again, mid-stream
        r = self.live(3, "resend:2@3")
        r.wait_frames(7)
        self.assertEqual([n for n in r.names() if n != "heartbeat"][1:],
                         ["live-notification@6", "live-notification@7", "live-notification@8",
                          "live-notification@7", "live-notification@8"])

    def test_error_frames(self):
        self.publish(5)
        self.emu.script(["error_replay:2"])
        r = self.stream(body=watch(from_id="1"))
        rid = r.header("x-request-id")
        r.wait_name("replay-control/replay_completed")
        core = [n for n in r.names() if n != "heartbeat"]
        self.assertEqual(core, ["replay-control/replay_started", "replay@1", "replay@2",
                                "error/stream_processing_failed", "replay-control/replay_completed"])
        err = [d for e, d in r.events() if e == "error"][0]
        self.assertEqual(sorted(err), ["error", "message", "request_id", "topic"])
        self.assertEqual((err["request_id"], err["topic"]), (rid, TOPIC))
        self.emu.wait_open(1)
        seq = self.emu.notify("mars", mars())
        r.wait_name("live-notification@%d" % seq)
        # newer form: error then end_of_stream
        self.emu.script(["error_replay_new:1"])
        r = self.stream(body=watch(from_id="1"))
        r.wait_done()
        self.assertEqual([n for n in r.names() if n != "heartbeat"],
                         ["replay-control/replay_started", "replay@1",
                          "error/stream_processing_failed", "close/end_of_stream"])
        # CloudEvent creation failed, with the sequence; the stream goes on
        self.emu.script(["error_cloudevent:2"])
        r = self.stream("/api/v1/replay", watch(from_id="1"))
        r.wait_done()
        self.assertEqual(r.names()[1:5], ["replay@1", "error/CloudEvent creation failed",
                                          "replay@3", "replay@4"])
        err = r.events()[2][1]
        self.assertEqual(sorted(err), ["error", "message", "request_id", "sequence", "topic"])
        self.assertEqual(err["sequence"], 2)
        # poison: every replay of that item
        self.emu.poison("mars", 4)
        for _ in range(2):
            r = self.stream("/api/v1/replay", watch(from_id="3"))
            r.wait_done()
            self.assertEqual(r.names()[1:4], ["replay@3", "error/CloudEvent creation failed", "replay@5"])

    def test_replay_limit_forms(self):
        self.publish(5)
        self.emu.script(["limit:2"])
        r = self.stream(body=watch(from_id="1"))
        r.wait_name("replay-control/replay_completed")
        core = [n for n in r.names() if n != "heartbeat"]
        self.assertEqual(core, ["replay-control/replay_started", "replay@1", "replay@2",
                                "replay-control/notification_replay_limit_reached",
                                "replay-control/replay_completed"])
        lim = [d for e, d in r.events() if d.get("type") == "notification_replay_limit_reached"][0]
        self.assertEqual(lim, {"max_allowed": 2, "message": "Historical replay limited to 2 messages. "
                               "Additional historical messages may be available but were not "
                               "retrieved.", "timestamp": lim["timestamp"], "topic": TOPIC,
                               "type": "notification_replay_limit_reached"})
        self.emu.wait_open(1)
        seq = self.emu.notify("mars", mars())
        r.wait_name("live-notification@%d" % seq)
        self.emu.script(["limit_new:3"])
        r = self.stream(body=watch(from_id="1"))
        r.wait_done()
        self.assertEqual([n for n in r.names() if n != "heartbeat"],
                         ["replay-control/replay_started", "replay@1", "replay@2", "replay@3",
                          "replay-control/notification_replay_limit_reached", "close/end_of_stream"])
        # the configured limit
        self.emu.configure(max_historical=4, limit_form="new")
        r = self.stream("/api/v1/replay", watch(from_id="1"))
        r.wait_done()
        self.assertEqual(r.seqs(), [1, 2, 3, 4])
        self.assertEqual(r.names()[-2:], ["replay-control/notification_replay_limit_reached",
                                          "close/end_of_stream"])
        r = self.stream("/api/v1/replay", watch(from_id="3"))
        r.wait_done()
        self.assertNotIn("replay-control/notification_replay_limit_reached", r.names())

    def test_unknown_frames(self):
        r = self.live(2, "unknown_event:1+unknown_control:1")
        r.wait_name("live-notification@2")
        names = [n for n in r.names() if n != "heartbeat"]
        self.assertEqual(names, ["live-notification/connection_established", "live-notification@1",
                                 "aviso-future-event", "replay-control/replay_paused",
                                 "live-notification@2"])

    def test_bad_head_and_first_frames(self):
        self.emu.script(["ctype", "ctype:text/plain", "bad_first", "bad_first:swap", "bad_first:swap"])
        r = self.stream()
        self.assertEqual(r.header("content-type"), "application/json")
        r.wait_frames(1)
        r = self.stream()
        self.assertEqual(r.header("content-type"), "text/plain")
        r = self.stream()
        self.assertEqual(r.wait_frames(3) and r.names()[:3],
                         ["heartbeat", "live-notification/connection_established", "heartbeat"])
        r = self.stream(body=watch(from_id="1"))
        r.wait_frames(1)
        self.assertEqual(r.names()[0], "live-notification/connection_established")
        r = self.stream()
        r.wait_frames(1)
        self.assertEqual(r.names()[0], "replay-control/replay_started")

    def test_malformed_ids(self):
        self.publish(3)
        for entry, want in (("bad_id", "mars@x"), ("bad_id:mars", "mars"), ("bad_id:@5", "@5"),
                            ("bad_id:mars@x:2", "mars@x")):
            self.emu.script([entry])
            r = self.stream("/api/v1/replay", watch(from_id="1"))
            r.wait_done()
            ids = [d["id"] for e, d in r.events() if "specversion" in d]
            nth = 2 if entry.endswith(":2") else 1
            self.assertEqual(ids[nth - 1], want, entry)
            self.assertEqual(len(ids), 3)

    def test_hang_silent_delay(self):
        self.emu.script(["hang", "silent", "delay:0.3"])
        r = self.post("/api/v1/watch", watch())
        self.assertFalse(r.wait_for(lambda r: r.status is not None, 0.4))
        r = self.stream()
        self.assertEqual(r.quiet(0.4), [])
        self.assertEqual(bytes(r.body), b"")
        r = self.post("/api/v1/watch", watch()).wait_head()
        self.assertGreaterEqual(r.head_at - r.t0, 0.28)
        r.wait_frames(1)
        recs = self.emu.stream_requests()
        self.assertEqual([x["faults_fired"][:1] for x in recs], [["hang"], ["silent"], ["delay"]])

    def test_silent_for_a_while_then_the_stream_or_a_cut(self):
        self.emu.script(["silent:0.4", "silent:0.2:rst", "silent:0:fin"])
        r = self.stream()
        r.wait_frames(1)
        self.assertGreaterEqual(r.frames[0][2] - r.head_at, 0.35, "the opening frame waited")
        self.assertEqual(r.names()[0], "live-notification/connection_established")
        self.assertEqual(self.stream().wait_end(), "rst")
        r = self.stream()
        self.assertEqual(r.wait_end(), "eof")   # a FIN, without the last chunk
        self.assertEqual((r.status, r.frames, r.complete), (200, [], False), "cut before any frame")
        recs = self.emu.stream_requests()
        self.assertEqual([x["faults_fired"] for x in recs], [["silent"]] * 3)
        self.assertEqual([bool(x.get("opened")) for x in recs], [True, False, False])
        self.assertEqual(parse_fault("silent:2.5:eof"), {"kind": "silent", "seconds": 2.5, "then": "eof"})
        with self.assertRaises(ValueError):
            parse_fault("silent:1:close")

    def test_script_at_and_combined(self):
        self.emu.script_at(1, "split+rst:1")
        self.emu.script(["eof"])
        r0 = self.stream()
        self.assertEqual(r0.wait_end(), "eof")
        r1 = self.stream()
        r1.wait_frames(1)
        self.emu.wait_open(1)
        self.publish(1)
        self.assertEqual(r1.wait_end(), "rst")
        self.assertEqual(r1.seqs(), [1])
        self.assertTrue(all(c <= 3 for c in r1.chunks))
        self.assertEqual(parse_entry("split+rst:1"),
                         [{"kind": "split", "at": None}, {"kind": "rst", "at": 1}])
        recs = self.emu.stream_requests()
        self.assertEqual([r["faults"] for r in recs],
                         [[{"kind": "eof", "at": 0}], [{"kind": "split", "at": None},
                                                      {"kind": "rst", "at": 1}]])

    def test_requests_are_recorded(self):
        self.emu.set_valid_tokens(["tok"])
        self.stream(body=watch(from_id="7"), headers={"Authorization": "Bearer tok",
                                                     "X-Request-ID": "mine"}).wait_frames(1)
        self.stream("/api/v1/replay", watch(from_date="2026-01-01T00:00:00Z")).wait_done()
        recs = self.emu.stream_requests()
        self.assertEqual([(r["kind"], r["from_id"], r["from_date"], r["authorization"], r["status"])
                          for r in recs],
                         [("watch", "7", None, "Bearer tok", 200),
                          ("replay", None, "2026-01-01T00:00:00Z", None, 200)])
        self.assertEqual(recs[0]["json"], watch(from_id="7"))
        self.assertEqual(recs[0]["headers"]["X-Request-ID"], "mine")
        self.assertNotEqual(recs[0]["request_id"], "mine", "the client's X-Request-ID is not echoed")
        self.assertEqual(self.emu.wait_stream_end(1), "end_of_stream")
        self.assertIsInstance(recs[0]["time"], float)

    def test_fault_every_volume(self):
        """A resuming client (dedupe by seq, reconnect with from_id=last+1,
        reconnect on error/close/EOF/RST/protocol error, 1 s watchdog) gets
        every notification exactly once, in order, through a fault about every
        25 notifications."""
        N = 500
        kinds = ["rst", "fin", "eof", "close:max_duration_reached", "stall", "resend:3", "503:0",
                 "split", "server_shutdown", "unknown_event", "429:0", "merge", "500", "bad_id",
                 "unknown_control", "error_replay", "normal", "end_of_stream"]
        emu = self.emu
        emu.fault_every(20, kinds, jitter=4, seed=1)   # >= 500/24 > len(kinds) faults
        state = {"last": 0, "published": 0}
        got, dups, statuses, connects = [], [0], [], []

        def publisher():
            while state["published"] < N:
                k = min(20, N - state["published"])
                emu.notify_many([("mars", mars(step=state["published"] + i)) for i in range(k)])
                state["published"] += k
                wait_until(lambda: state["last"] >= state["published"] - 40, 30)

        th = threading.Thread(target=publisher, daemon=True)
        th.start()
        deadline = time.monotonic() + 40
        while state["last"] < N and time.monotonic() < deadline:
            body = watch(from_id=str(state["last"] + 1))
            connects.append(body["from_id"])
            r = RawResponse(emu.port, "POST", "/api/v1/watch", body)
            try:
                r.wait_head()
                statuses.append(r.status)
                if r.status != 200:
                    continue
                idx, opened = 0, False
                while state["last"] < N:
                    if not r.wait_for(lambda r: len(r.frames) > idx or r.end is not None, 1.0):
                        break                       # watchdog
                    if idx >= len(r.frames):
                        break                       # EOF / RST
                    ev, data, _ = r.frames[idx]
                    idx += 1
                    d = json.loads(data)
                    if not opened:
                        self.assertEqual(d.get("type"), "replay_started")
                        opened = True
                        continue
                    if ev in ("error", "connection-closing"):
                        break
                    if ev in ("replay", "live-notification") and "specversion" in d:
                        et, sep, s = d["id"].rpartition("@")
                        if not sep or not et or not s.isdigit():
                            break                   # protocol error
                        seq = int(s)
                        if seq <= state["last"]:
                            dups[0] += 1
                            continue
                        got.append(seq)
                        state["last"] = seq
            finally:
                r.close()
        th.join(10)
        self.assertEqual(got, list(range(1, N + 1)))
        fired = {k for _, k in emu.fault_every_log()}
        self.assertTrue({"rst", "fin", "eof", "close", "resend", "status", "stall"} <= fired, fired)
        self.assertGreater(dups[0], 0)
        self.assertIn(503, statuses)
        self.assertIn(429, statuses)
        self.assertIn(500, statuses)
        recs = emu.stream_requests()
        self.assertEqual([r["from_id"] for r in recs], connects)


# ---------------------------------------------------------------------------
# Command line and control API
# ---------------------------------------------------------------------------

class CLITest(unittest.TestCase):

    def raw(self, *a, **kw):
        r = RawResponse(*a, **kw)
        self.addCleanup(r.close)
        return r

    def ctl(self, base, what, body=None, method="POST"):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        rq = urllib.request.Request(base + "/_control/" + what, data=data, method=method)
        with urllib.request.urlopen(rq, timeout=5) as f:
            return json.loads(f.read())

    def test_cli(self):
        ws = Workspace()
        self.addCleanup(ws.cleanup)
        p = start_process([sys.executable, os.path.join(LIB, "aviso_emulator.py"), "--port", "0",
                           "--heartbeat", "0.2", "--tokens", "t1", "--seq-mode", "per_type",
                           "--script", "503:2"], ws.path("emu"))
        self.addCleanup(stop_process, p)
        m = p.wait_line(r"^http://127\.0\.0\.1:\d+$", stream="out")
        base = m.group(0)
        self.assertEqual(p.stdout().splitlines()[0], base)
        port = int(base.rsplit(":", 1)[1])
        r = self.raw(port, "POST", "/api/v1/watch", watch()).wait_done()
        self.assertEqual((r.status, r.header("retry-after")), (503, "2"))
        out = self.ctl(base, "notify", [{"event_type": "mars", "identifier": MARS, "payload": 1},
                                        {"event_type": "mars", "identifier": SEL, "fill": True,
                                         "count": 2}])
        self.assertEqual(out, {"sequences": [1, 2, 3]})
        self.ctl(base, "script", b"rst:1")
        r = RawResponse(port, "POST", "/api/v1/watch", watch(from_id="2"))
        self.addCleanup(r.close)
        self.assertEqual(r.wait_end(), "rst")
        self.assertEqual(r.seqs(), [2])
        self.ctl(base, "tokens", ["t9"])
        r = self.raw(port, "POST", "/api/v1/watch", watch(), {"Authorization": "Bearer t1"}).wait_done()
        self.assertEqual(r.status, 401)
        w = RawResponse(port, "POST", "/api/v1/watch", watch(), {"Authorization": "Bearer t9"})
        self.addCleanup(w.close)
        w.wait_frames(2)
        wait_until(lambda: self.ctl(base, "streams", method="GET")["open"] == 1)
        self.ctl(base, "notify", {"event_type": "mars", "identifier": MARS})
        w.wait_frames(3)
        self.assertEqual(w.seqs(), [4])
        self.assertEqual(self.ctl(base, "close?reason=max_duration_reached"), {"closed": 1})
        w.wait_done()
        self.assertEqual(w.names()[-1], "close/max_duration_reached")
        recs = self.ctl(base, "requests", method="GET")
        self.assertEqual([(x["kind"], x["status"], x["authorization"]) for x in recs],
                         [("watch", 503, None), ("watch", 200, None), ("watch", 401, "Bearer t1"),
                          ("watch", 200, "Bearer t9")])
        self.assertEqual([x["from_id"] for x in recs], [None, "2", None, None])
        self.assertEqual(len(self.ctl(base, "history", method="GET")), 4)
        # SIGTERM: open streams get server_shutdown, exit 0
        w = RawResponse(port, "POST", "/api/v1/watch", watch())
        self.addCleanup(w.close)
        w.wait_frames(2)
        wait_until(lambda: self.ctl(base, "streams", method="GET")["open"] == 1)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(10), 0)
        w.wait_done()
        self.assertEqual(w.names()[-1], "close/server_shutdown")

    def test_dump_schema(self):
        import subprocess
        out = subprocess.run([sys.executable, os.path.join(LIB, "aviso_emulator.py"), "--dump-schema"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(json.loads(out.stdout), DEFAULT_SCHEMA)


if __name__ == "__main__":
    unittest.main()
