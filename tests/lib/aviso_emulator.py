#!/usr/bin/env python3
"""An emulator of ECMWF aviso-server 0.7.1's HTTP API, for tests (Python 3 stdlib).

The wire facts it reproduces are in research/aviso-protocol.md (next to
CONTRACT.md); section numbers below refer to that document.

Python::

    from aviso_emulator import Emulator
    emu = Emulator(heartbeat=1.0, max_duration=None)
    base = emu.start()                         # "http://127.0.0.1:PORT"
    seq = emu.notify("mars", {...}, payload={"k": 1})   # -> sequence number
    emu.script(["rst:2", "503:1", "ok"])       # faults for the next stream requests
    emu.wait_requests(3, kind="watch")
    assert emu.stream_requests()[2]["from_id"] == "3"
    emu.stop()

Shell / C tests::

    python3 tests/lib/aviso_emulator.py --port 0 [--schema FILE] [--heartbeat S]
        [--max-duration S] [--seq-mode global|per_type] [--script 'rst:2,ok'] ...
    -> stdout line 1: http://127.0.0.1:PORT   (runs until SIGTERM / SIGINT;
       SIGTERM first closes open streams with server_shutdown, like actix)
    Control API on the same port (never recorded, never faulted), JSON in/out:
      POST /_control/notify       {"event_type","identifier","payload"?,"count"?,
                                   "fill"?} or a list of them (one batch)
                                  -> {"sequences":[...]}
      POST /_control/script       JSON list / object / "rst:2,503:1" shorthands;
                                  ?replace=1 replaces the queue
      POST /_control/tokens       ["t1",...] or {"t1":{...}}  (set_valid_tokens)
      POST /_control/basic        {"user":"password" | {...}} (set_basic_users)
      POST /_control/auth_backend ?up=0|1
      POST /_control/close        ?reason=server_shutdown|max_duration_reached|
                                  end_of_stream|rst|fin|eof  -> {"closed":n}
      POST /_control/fault_every  {"k":50,"kinds":["rst","503"],"jitter":0,"seed":0}
                                  ({"k":0} or null turns it off)
      POST /_control/config       {"heartbeat":..,"max_duration":..,
                                   "on_token_revoked":..,...}  (configure())
      POST /_control/poison       {"event_type":"mars","seq":5}
      POST /_control/delete       {"event_type":"mars","seq":5}
      POST /_control/reset        clears recorded requests (not the history)
      GET  /_control/requests     recorded requests
      GET  /_control/history      stored notifications
      GET  /_control/streams      {"open": n}

SCHEMA FORMAT (a dict, or a JSON file given as a path; default DEFAULT_SCHEMA)::

    {"<event_type>": {
        "topic": {"base": "diss", "key_order": ["destination", ...]},  # optional;
              # default base = event type, order = identifier order
        "identifier": {
            "<key>": {"type": T, "required": bool, ...},   # or a 1-element list
            ...},
        "payload": {"required": bool},                      # default false
        "auth": {"required": bool,                          # optional
                 "read_roles": ["reader"] | {"realm": ["reader"]},
                 "write_roles": [...] | {...}}              # absent -> admins only
    }}

  T (aviso handler names accepted too, e.g. "EnumHandler"):
    "string"  any scalar; optional "max_length".  Value kept as sent.
    "enum"    "values": [...]; case-insensitive, canonical lower case.
              Constraints: eq, in.
    "int"     optional "range": [min, max]; canonical str(int) ("06" -> "6").
              Constraints: eq, in, gt, gte, lt, lte, between.
    "float"   like int; finite numbers only.
    "date"    YYYYMMDD or YYYY-MM-DD -> canonical YYYYMMDD.
    "time"    H, HH, HHMM, HH:MM -> canonical HHMM.
    "expver"  digits -> zero-padded to 4, else lower case.
    "polygon" "(lat,lon,...)" closed ring of >= 4 pairs; not part of the topic.
              Watch/replay may send identifier.point "lat,lon" instead.
  Each key may carry "example": a value used by notify(..., fill=True) for
  keys the caller left out.

THE STORE.  notify() assigns a sequence and keeps the notification:
  seq_mode "global"   one counter for all event types (in-memory backend:
                      a watcher sees gaps);
           "per_type" one counter per event type (JetStream stream sequence).
  seq_start (1) is the first sequence.  Retention: max_history (per event
  type), max_history_per_topic (the in-memory backend's default is 1; here
  None = unlimited).  CloudEvent time = notify time (or time=/time_ns=).

STREAMS.  /watch without cursor: connection_established, heartbeat, then
live notifications and heartbeats every `heartbeat` seconds (fixed schedule).
With from_id/from_date (and always on /replay): replay_started, (watch:
heartbeat), replay frames in batches of batch_size (replay_batch_delay
between batches; heartbeats fire in the gaps and between frames when due),
replay_completed, then live (watch) or connection-closing end_of_stream
(replay).  boundary="exact" (newer servers) takes the history bound
atomically with the live subscription: no overlap.  boundary="overlap"
(0.7.1) subscribes first and re-queries storage per batch, so notifications
published during catch-up come out twice.  max_historical=N: after N replay
frames, notification_replay_limit_reached, then per limit_form "0.7.1"
(replay_completed + live) or "new" (connection-closing end_of_stream).
max_duration (watch only): connection-closing max_duration_reached that many
seconds after the head; connection_will_close_in_seconds advertises
ceil(max_duration) (3600 when None, or advertised_max_duration).  Cuts
(max duration, shutdown_streams(), token revocation) drop queued frames and
send only the close frame.  After a close frame the body ends with the last
chunk and the connection stays open for another request (keep_alive).

AUTH (auth=True; auth_mode "direct" or "trusted_proxy").  Credentials:
set_valid_tokens(["t1", ...]) (identity: username "user-<token>", realm
"ecmwf", roles ["reader", "writer"]) or {"t1": {"username", "realm", "roles",
"expires_in": s, "deny": bool}}; set_basic_users({"alice": "pw" | {"password",
"roles", ...}}).  Admin roles: admin_roles (["admin"]).  Order of checks on
watch/replay/notify (§4.1): credential check when a well-formed header is
present (503 when set_auth_backend(False) in direct mode; 401 "Invalid or
expired token" even on public streams; 403 "Token validation was denied" for
deny), parse (400), unknown event type (400), per-stream auth (401/403),
semantic validation (400), fault 500, 200.  Malformed headers are ignored on
non-admin paths.  on_token_revoked: "keep" (default, like the real server:
the JWT is only checked at connect), or what an open stream whose credential
stopped being valid gets: "fin", "rst", "eof", "close" (= end_of_stream),
"end_of_stream", "server_shutdown", "max_duration_reached".

FAULTS.  Every POST /watch or /replay gets a stream number (0, 1, ... in
arrival order, rec["stream_n"]) and takes a fault entry: script_at(n, entry)
if set for n, else the next entry of the script() queue, else `default`
(no fault).  An entry is a shorthand string, a dict {"kind": ...}, or a list
of those (combined; "a+b" in shorthand).  K = "at": the fault fires right
after the K-th notification frame of that stream (0 = right after the
opening frame and first heartbeat).  Kinds (shorthand -> dict):

  ok | normal                        no fault
  rst[:K] fin[:K] eof[:K]            after K notifications: RST (SO_LINGER 0),
                                     FIN without the last chunk, or the last
                                     chunk + FIN; never a close frame
  stall[:K[:SECS]]                   after K: send nothing (no heartbeats),
                                     socket open, for SECS (default: until the
                                     client or the server goes, or a cut)
  close:REASON[:K], max_duration_reached[:K], server_shutdown[:K],
  end_of_stream[:K]                  after K: connection-closing with REASON
  split                              every write cut into 1-3 byte HTTP chunks
                                     (TCP_NODELAY, split_delay between sends)
  merge                              frames buffered and sent in one chunk
                                     whenever the stream would wait
  500                                500 SSE_STREAM_INITIALIZATION_FAILED with
                                     topic (after validation)
  503[:S]                            503 SERVICE_UNAVAILABLE (auth shape),
                                     Retry-After: S if S given
  429[:S]                            429 TOO_MANY_REQUESTS, Retry-After: S (1)
  NNN                                that status with an aviso-shaped body
  hang                               read the request, never answer
  silent[:SECS[:rst|fin|eof]]        200 head, then nothing (no opening frame)
                                     for SECS (default: as stall), then the
                                     stream as usual, or cut that way
  delay:S                            wait S seconds before answering
  dup[:N]                            0.7.1 boundary duplicates: after
                                     replay_completed the last N (3) replayed
                                     notifications are sent again as
                                     live-notification
  resend[:N][@K]                     after K notifications, send the last N
                                     again (same event name)
  error_replay[:K]                   after K replay frames (or at the end of
                                     history): event: error
                                     stream_processing_failed, then
                                     replay_completed and live (0.7.1); on a
                                     stream without replay: the error frame,
                                     stream goes on
  error_replay_new[:K]               same, then connection-closing
                                     end_of_stream (newer servers)
  error_cloudevent[:NTH]             the NTH (1) notification of the stream is
                                     replaced by event: error "CloudEvent
                                     creation failed" with its sequence (see
                                     also poison(): every stream, every time)
  limit[:K]                          after K replay frames:
                                     notification_replay_limit_reached
                                     (max_allowed K), replay_completed, live
  limit_new[:K]                      same, then end_of_stream, no
                                     replay_completed
  unknown_event[:K]                  after K: "event: aviso-future-event"
  unknown_control[:K]                after K: replay-control type
                                     "replay_paused"
  ctype[:TYPE]                       200 with Content-Type TYPE
                                     (application/json)
  bad_first[:heartbeat|swap]         first frame is a heartbeat (then the
                                     normal stream), or the wrong opening
                                     frame (connection_established on a
                                     cursor request and vice versa)
  bad_id[:ID[:NTH]]                  NTH (1) notification's CloudEvent id is
                                     ID (default "<event_type>@x")
  Dict keys: kind, at, seconds, reason, n, nth, seq, id, status,
  retry_after, headers, body, content_type, frame, name, data, type, then, form
  ("0.7.1"|"new"), message.

fault_every(k, kinds, jitter=0, seed=0): counting notification frames over
all streams, every ~k (k +/- jitter) inject the next kind of `kinds`
(cyclic) into the stream that sent the k-th one.  rst/fin/eof/stall/close/
resend/dup(= resend)/unknown_*/split/merge/normal/bad_id/error_cloudevent act
in place; error_replay/limit act in place during replay (limit: no-op in
live); kinds that only make sense at request start (status codes, hang,
silent, delay, ctype, bad_first) are queued for the NEXT stream request and
the current stream is cut with FIN.  The kinds a resuming client recovers
from without loss: rst fin eof stall close:* dup resend unknown_event
unknown_control split merge 500 503 429 bad_id error_replay.

REQUEST RECORDS (emu.requests: list of dicts; GET /_control/requests):
  n, stream_n (watch/replay only, else None), kind ("watch" | "replay" |
  "notify" | "schema" | "health" | "admin" | "other"), method, path, query,
  headers (dict, original case), authorization (str or None), body (str),
  json (parsed body or None), event_type, identifier, from_id, from_date
  (as sent, None if absent or not parseable), time (monotonic), wall,
  request_id, status, faults (the entry used), faults_fired, seqs (sequences
  sent as notifications on this stream), ce_errors, frames (event names /
  control types sent, in order), subscribed (live subscription registered),
  opened (opening frame written), end (None while open; "end_of_stream" |
  "max_duration_reached" | "server_shutdown" | other close reason | "rst" |
  "fin" | "eof" | "client-closed" | "server-stop" | "hang-end" | "response"
  for non-stream answers), ended (monotonic), revoked (True if cut because
  its credential was revoked), stalled (True while a stall fault holds the
  stream), writes / sends (logical frame writes / HTTP chunks sent), auth
  (None = no credential, "malformed", "invalid", "denied", "backend-down", or
  the username), notified_seq (notify: the sequence assigned), client.
  Records are updated BEFORE the bytes are written, except "end", which is set
  after the stream's last write: wait with wait_stream_end(n).
"""

import argparse
import base64
import bisect
import calendar
import collections
import copy
import datetime
import email.utils
import fcntl
import json
import math
import queue
import random
import re
import signal
import socket
import struct
import sys
import termios
import time
import urllib.parse
import uuid

import httpbase

__all__ = ["Emulator", "DEFAULT_SCHEMA", "parse_entry", "parse_script",
           "parse_from_date", "frame_bytes", "compact"]

# ---------------------------------------------------------------------------
# Default schema
# ---------------------------------------------------------------------------

_CLASSES = ["od", "rd", "ea", "e1", "mc", "ce"]
_STREAMS = ["oper", "enfo", "wave", "waef", "scda", "scwv", "mmsf", "msmm", "dcda"]
_DOMAINS = ["g", "a", "b", "c", "d", "e", "f", "h", "i", "j", "k", "l", "m", "n",
            "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z"]

DEFAULT_SCHEMA = {
    "mars": {
        "topic": {"base": "mars",
                  "key_order": ["class", "stream", "expver", "domain", "date", "time", "step"]},
        "identifier": {
            "class": {"type": "enum", "values": _CLASSES, "required": True, "example": "od"},
            "stream": {"type": "enum", "values": _STREAMS, "required": True, "example": "oper"},
            "expver": {"type": "string", "required": False, "example": "0001"},
            "domain": {"type": "enum", "values": _DOMAINS, "required": False, "example": "g"},
            "date": {"type": "string", "required": False, "example": "20260101"},
            "time": {"type": "string", "required": False, "example": "0000"},
            "step": {"type": "int", "range": [0, 100000], "required": False, "example": 0},
        },
        "payload": {"required": False},
    },
    "dissemination": {
        "topic": {"base": "diss",
                  "key_order": ["destination", "target", "class", "date", "step"]},
        "identifier": {
            "destination": {"type": "string", "required": True, "example": "SCL"},
            "target": {"type": "string", "required": False, "example": "E1"},
            "class": {"type": "enum", "values": _CLASSES, "required": False, "example": "od"},
            "date": {"type": "string", "required": False, "example": "20260101"},
            "step": {"type": "int", "range": [0, 100000], "required": False, "example": 0},
        },
        "payload": {"required": True},
    },
    "secure": {
        "topic": {"base": "secure", "key_order": ["name", "level"]},
        "identifier": {
            "name": {"type": "string", "required": True, "example": "alpha"},
            "level": {"type": "int", "required": False, "example": 1},
        },
        "payload": {"required": False},
        "auth": {"required": True, "read_roles": ["reader"], "write_roles": ["writer"]},
    },
}

ALLOWED_FIELDS = ["event_type", "identifier", "from_id", "from_date", "payload"]

_HANDLERS = {"string": "string", "stringhandler": "string", "enum": "enum",
             "enumhandler": "enum", "int": "int", "inthandler": "int",
             "float": "float", "floathandler": "float", "date": "date",
             "datehandler": "date", "time": "time", "timehandler": "time",
             "expver": "expver", "expverhandler": "expver", "polygon": "polygon",
             "polygonhandler": "polygon"}
_API_NAMES = {"string": "StringHandler", "enum": "EnumHandler", "int": "IntHandler",
              "float": "FloatHandler", "date": "DateHandler", "time": "TimeHandler",
              "expver": "ExpverHandler", "polygon": "PolygonHandler"}

CLOSE_MESSAGES = {"end_of_stream": "Stream completed",
                  "max_duration_reached": "Connection reached maximum duration",
                  "server_shutdown": "Server is shutting down gracefully"}

REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large",
           429: "Too Many Requests", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}

BODY_LIMIT = 256 * 1024


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

def compact(obj):
    """serde_json-like output of a Value: compact, keys sorted (BTreeMap),
    non-ASCII as UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def frame_bytes(event, data):
    """One SSE frame as the server writes it: event line, one data line, blank
    line, LF only.  data: a dict (serialised with compact()) or a str."""
    if not isinstance(data, str):
        data = compact(data)
    return ("event: %s\ndata: %s\n\n" % (event, data)).encode("utf-8")


def ts_secs(t=None):
    """Control-frame timestamp: whole seconds, Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if t is None else t))


def ts_ce(ns, precision="auto"):
    """CloudEvent time: RFC 3339 UTC, Z, chrono AutoSi fraction (0/3/6/9
    digits) or a fixed number of digits."""
    secs, frac = divmod(int(ns), 10 ** 9)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if precision == "auto":
        if frac == 0:
            digits = 0
        elif frac % 10 ** 6 == 0:
            digits = 3
        elif frac % 1000 == 0:
            digits = 6
        else:
            digits = 9
    else:
        digits = int(precision)
    if digits:
        base += "." + ("%09d" % frac)[:digits]
    return base + "Z"


def httpdate():
    return email.utils.formatdate(usegmt=True)


_DATE_RX = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?"
                      r"(Z|z|[+-]\d{2}:\d{2})?", re.ASCII)


def parse_from_date(s):
    """§3.3: returns nanoseconds since the epoch, or None if rejected."""
    if not isinstance(s, str):
        return None
    m = re.fullmatch(r"\+?([0-9]+)", s)
    if m:
        digits = m.group(1).lstrip("0") or "0"
        n = int(digits)
        if len(digits) <= 11:
            return n * 10 ** 9
        return n * 10 ** 6
    m = _DATE_RX.fullmatch(s)
    if not m:
        return None
    y, mo, d, h, mi, se = (int(m.group(i)) for i in range(1, 7))
    try:
        datetime.datetime(y, mo, d, h, mi, se)
    except ValueError:
        return None
    frac = m.group(7)
    fns = int((frac[1:] + "000000000")[:9]) if frac else 0
    off = 0
    tz = m.group(8)
    if tz and tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        hh, mm = int(tz[1:3]), int(tz[4:6])
        if hh > 23 or mm > 59:
            return None
        off = sign * (hh * 3600 + mm * 60)
    secs = calendar.timegm((y, mo, d, h, mi, se, 0, 0, 0)) - off
    return secs * 10 ** 9 + fns


def _json_desc(v):
    """serde's description of an unexpected JSON value."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean `%s`" % ("true" if v else "false")
    if isinstance(v, int):
        return "integer `%d`" % v
    if isinstance(v, float):
        return "floating point `%s`" % v
    if isinstance(v, str):
        return "string %s" % json.dumps(v)
    if isinstance(v, list):
        return "sequence"
    return "map"


def _scalar_str(key, v):
    """Canonicalise a scalar identifier value to a string (numbers and bools
    as JSON text)."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    raise ValueError("Field '%s' must be a string, number or boolean, got %s"
                     % (key, _json_desc(v)))


class _Invalid(Exception):
    """A validation error; message is the first entry of the chain, details
    the last."""

    def __init__(self, message, details=None):
        super().__init__(message)
        self.message = message
        self.details = details if details is not None else message


def _parse_coords(s, what):
    t = s.strip()
    if t.startswith("(") and t.endswith(")"):
        t = t[1:-1]
    parts = [p.strip() for p in t.split(",")]
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise _Invalid("%s must contain numeric coordinates: '%s'" % (what, s))
    if len(nums) % 2 or not nums or any(not math.isfinite(x) for x in nums):
        raise _Invalid("%s must contain an even number of finite coordinates: '%s'" % (what, s))
    pairs = [(nums[i], nums[i + 1]) for i in range(0, len(nums), 2)]
    for lat, lon in pairs:
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise _Invalid("%s coordinate out of range: (%s, %s)" % (what, lat, lon))
    return pairs


def _parse_polygon(s, key="polygon"):
    pairs = _parse_coords(s, "Field '%s'" % key)
    if len(pairs) < 4:
        raise _Invalid("Field '%s' polygon needs at least 4 coordinate pairs" % key)
    if pairs[0] != pairs[-1]:
        raise _Invalid("Field '%s' polygon must be closed (first pair equal to last)" % key)
    return pairs


def _parse_point(s):
    if not isinstance(s, str):
        raise _Invalid("point must be a valid 'lat,lon' coordinate pair: expected a string")
    try:
        pairs = _parse_coords(s, "point")
    except _Invalid as e:
        raise _Invalid("point must be a valid 'lat,lon' coordinate pair: %s" % e.message)
    if len(pairs) != 1:
        raise _Invalid("point must be a valid 'lat,lon' coordinate pair: got %d pairs" % len(pairs))
    return pairs[0]


def _point_in_poly(pt, poly):
    y, x = pt
    inside = False
    n = len(poly)
    for i in range(n - 1):
        y1, x1 = poly[i]
        y2, x2 = poly[i + 1]
        if (y1 > y) != (y2 > y):
            xi = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < xi:
                inside = not inside
        # on an edge counts as inside
        if min(y1, y2) <= y <= max(y1, y2) and min(x1, x2) <= x <= max(x1, x2):
            if (x2 - x1) * (y - y1) == (y2 - y1) * (x - x1):
                return True
    return inside


def _segments_cross(a, b, c, d):
    def orient(p, q, r):
        v = (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
        return (v > 0) - (v < 0)

    def on(p, q, r):
        return min(p[0], r[0]) <= q[0] <= max(p[0], r[0]) and min(p[1], r[1]) <= q[1] <= max(p[1], r[1])
    o1, o2, o3, o4 = orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)
    if o1 != o2 and o3 != o4:
        return True
    return ((o1 == 0 and on(a, c, b)) or (o2 == 0 and on(a, d, b))
            or (o3 == 0 and on(c, a, d)) or (o4 == 0 and on(c, b, d)))


def _polys_intersect(p, q):
    if any(_point_in_poly(v, q) for v in p) or any(_point_in_poly(v, p) for v in q):
        return True
    for i in range(len(p) - 1):
        for j in range(len(q) - 1):
            if _segments_cross(p[i], p[i + 1], q[j], q[j + 1]):
                return True
    return False


# ---------------------------------------------------------------------------
# Schema handling
# ---------------------------------------------------------------------------

class _Field:
    def __init__(self, key, cfg):
        if isinstance(cfg, list):
            if len(cfg) != 1:
                raise ValueError("identifier %r: exactly one rule expected" % key)
            cfg = cfg[0]
        self.key = key
        self.cfg = dict(cfg)
        t = str(cfg.get("type", "string")).lower()
        if t not in _HANDLERS:
            raise ValueError("identifier %r: unknown type %r" % (key, cfg.get("type")))
        self.type = _HANDLERS[t]
        self.required = bool(cfg.get("required", False))
        self.values = [str(v) for v in cfg.get("values", [])]
        self.range = cfg.get("range")
        self.max_length = cfg.get("max_length")
        self.example = cfg.get("example")

    def api(self):
        d = {"type": _API_NAMES[self.type], "required": self.required}
        if self.type == "enum":
            d["values"] = list(self.values)
        if self.range is not None:
            d["range"] = list(self.range)
        if self.max_length is not None:
            d["max_length"] = self.max_length
        return d

    def canon(self, s):
        """Validate and canonicalise a scalar string; raises _Invalid."""
        k = self.key
        if self.type == "string":
            if self.max_length is not None and len(s) > int(self.max_length):
                raise _Invalid("Field '%s' exceeds maximum length %d" % (k, int(self.max_length)))
            return s
        if self.type == "enum":
            low = s.lower()
            if any(v.lower() == low for v in self.values):
                return low
            if len(self.values) <= 10:
                shown = "[%s]" % ", ".join(self.values)
            else:
                shown = "[%s, ... and %d more]" % (", ".join(self.values[:5]), len(self.values) - 5)
            raise _Invalid("Field '%s' has invalid value '%s'. Allowed values: %s" % (k, s, shown))
        if self.type == "int":
            if not re.fullmatch(r"[+-]?[0-9]+", s):
                raise _Invalid("Field '%s' must be a valid integer, got: '%s'. Integers must be "
                               "whole numbers without decimal points or non-numeric characters" % (k, s),
                               "cannot parse integer from empty string" if s == ""
                               else "invalid digit found in string")
            n = int(s)
            if not -2 ** 63 <= n < 2 ** 63:
                raise _Invalid("Field '%s' must be a valid integer, got: '%s'. Integers must be "
                               "whole numbers without decimal points or non-numeric characters" % (k, s),
                               "number too large to fit in target type")
            self._check_range(n)
            return str(n)
        if self.type == "float":
            try:
                x = float(s)
            except ValueError:
                raise _Invalid("Field '%s' must be a valid number, got: '%s'" % (k, s),
                               "invalid float literal")
            if not math.isfinite(x):
                raise _Invalid("Field '%s' must be a finite number, got: '%s'" % (k, s))
            self._check_range(x)
            return str(int(x)) if x.is_integer() else repr(x)
        if self.type == "date":
            m = re.fullmatch(r"(\d{4})-?(\d{2})-?(\d{2})", s, re.ASCII)
            try:
                if not m:
                    raise ValueError
                datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                raise _Invalid("Field '%s' must be a valid date (YYYYMMDD or YYYY-MM-DD), got: '%s'" % (k, s))
            return m.group(1) + m.group(2) + m.group(3)
        if self.type == "time":
            m = re.fullmatch(r"(\d{1,2})(?::?(\d{2}))?", s, re.ASCII)
            if not m or int(m.group(1)) > 23 or int(m.group(2) or 0) > 59:
                raise _Invalid("Field '%s' must be a valid time (HH, HHMM or HH:MM), got: '%s'" % (k, s))
            return "%02d%02d" % (int(m.group(1)), int(m.group(2) or 0))
        if self.type == "expver":
            if re.fullmatch(r"[0-9]{1,4}", s):
                return s.zfill(4)
            if re.fullmatch(r"[A-Za-z0-9]{4}", s):
                return s.lower()
            raise _Invalid("Field '%s' must be a valid experiment version, got: '%s'" % (k, s))
        if self.type == "polygon":
            pairs = _parse_polygon(s, k)
            return "(" + ",".join("%s,%s" % (_num(a), _num(b)) for a, b in pairs) + ")"
        raise _Invalid("Field '%s': unsupported handler" % k)

    def _check_range(self, n):
        if self.range is not None:
            lo, hi = self.range
            if n < lo or n > hi:
                raise _Invalid("Field '%s' value %s is outside the allowed range [%s, %s]. Please "
                               "provide a value between %s and %s (inclusive)"
                               % (self.key, _num(n), lo, hi, lo, hi))

    def number(self, v, what):
        """A numeric constraint operand."""
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise _Invalid("Field '%s' constraint '%s' expects a number, got %s"
                           % (self.key, what, _json_desc(v)))
        if self.type == "int":
            if isinstance(v, float):
                if not v.is_integer():
                    raise _Invalid("Field '%s' constraint '%s' expects an integer, got %s"
                                   % (self.key, what, v))
                return int(v)
            if isinstance(v, str):
                if not re.fullmatch(r"[+-]?[0-9]+", v):
                    raise _Invalid("Field '%s' constraint '%s' expects an integer, got '%s'"
                                   % (self.key, what, v))
                return int(v)
            return v
        try:
            x = float(v)
        except ValueError:
            raise _Invalid("Field '%s' constraint '%s' expects a number, got '%s'" % (self.key, what, v))
        if not math.isfinite(x):
            raise _Invalid("Field '%s' constraint '%s' expects a finite number" % (self.key, what))
        return x

    def constraint(self, obj):
        """Parse a constraint object -> (op, operand)."""
        k = self.key
        if self.type not in ("int", "float", "enum"):
            raise _Invalid("Field '%s' does not support constraint filters; expected scalar value" % k)
        if len(obj) != 1:
            raise _Invalid("Field '%s' constraint must contain exactly one operator, got %d"
                           % (k, len(obj)))
        op, arg = next(iter(obj.items()))
        allowed = ["eq", "in"] if self.type == "enum" else \
            ["eq", "in", "gt", "gte", "lt", "lte", "between"]
        if op not in allowed:
            raise _Invalid("Field '%s' constraint operator '%s' is not supported; allowed: %s"
                           % (k, op, ", ".join(allowed)))
        if self.type == "enum":
            if op == "eq":
                return op, self.canon(_scalar_or_invalid(k, arg))
            if not isinstance(arg, list) or not arg:
                raise _Invalid("Field '%s' constraint 'in' expects a non-empty array" % k)
            return op, [self.canon(_scalar_or_invalid(k, a)) for a in arg]
        if op == "in":
            if not isinstance(arg, list) or not arg:
                raise _Invalid("Field '%s' constraint 'in' expects a non-empty array" % k)
            vals = [self.number(a, op) for a in arg]
            return op, vals
        if op == "between":
            if not isinstance(arg, list) or len(arg) != 2:
                raise _Invalid("Field '%s' constraint 'between' expects [min, max]" % k)
            lo, hi = self.number(arg[0], op), self.number(arg[1], op)
            if lo > hi:
                raise _Invalid("Field '%s' constraint 'between' requires min <= max" % k)
            return op, [lo, hi]
        return op, self.number(arg, op)


def _num(x):
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


def _scalar_or_invalid(key, v):
    try:
        return _scalar_str(key, v)
    except ValueError as e:
        raise _Invalid(str(e))


class _EventSchema:
    def __init__(self, name, cfg):
        self.name = name
        self.cfg = cfg
        ident = cfg.get("identifier", {})
        self.fields = collections.OrderedDict((k, _Field(k, v)) for k, v in ident.items())
        topic = cfg.get("topic") or {}
        self.base = topic.get("base", name)
        order = topic.get("key_order")
        if order is None:
            order = [k for k, f in self.fields.items() if f.type != "polygon"]
        self.key_order = list(order)
        self.payload_required = bool((cfg.get("payload") or {}).get("required", False))
        auth = cfg.get("auth") or {}
        self.auth_required = bool(auth.get("required", False))
        self.read_roles = auth.get("read_roles")
        self.write_roles = auth.get("write_roles")

    def api(self):
        d = {"identifier": {k: f.api() for k, f in self.fields.items()},
             "payload": {"required": self.payload_required}}
        if self.cfg.get("auth"):
            d["auth"] = {"required": self.auth_required}
        return d

    def topic(self, values):
        return ".".join([self.base] + [str(values.get(k, "*")) for k in self.key_order])


def load_schema(schema):
    if schema is None:
        schema = DEFAULT_SCHEMA
    if isinstance(schema, str):
        with open(schema) as f:
            schema = json.load(f)
    return {name: _EventSchema(name, cfg) for name, cfg in schema.items()}


# ---------------------------------------------------------------------------
# Fault entries
# ---------------------------------------------------------------------------

AT_KINDS = {"rst", "fin", "eof", "stall", "close", "resend", "unknown_event",
            "unknown_control", "split", "merge", "normal", "error_replay", "limit"}
START_KINDS = {"status", "hang", "silent", "delay", "ctype", "bad_first"}
KNOWN_KINDS = AT_KINDS | START_KINDS | {"ok", "dup", "error_cloudevent", "bad_id"}


def _int(s):
    return int(s) if s not in (None, "") else None


def parse_fault(s):
    """One fault dict from a dict or a shorthand (see the module doc)."""
    if isinstance(s, dict):
        d = dict(s)
        if "kind" not in d and "status" in d:
            d["kind"] = "status"
        if d.get("kind") not in KNOWN_KINDS:
            raise ValueError("unknown fault kind %r" % d.get("kind"))
        if d["kind"] in AT_KINDS and d["kind"] not in ("split", "merge", "normal"):
            d.setdefault("at", 0)
        else:
            d.setdefault("at", None)
        return d
    if isinstance(s, int):
        return {"kind": "status", "status": s}
    s = s.strip()
    head, _, arg = s.partition(":")
    args = arg.split(":") if arg else []
    if head in ("ok", "normal", "live", ""):
        return {"kind": "ok"} if head != "normal" else {"kind": "normal", "at": None}
    if head in ("rst", "fin", "eof", "unknown_event", "unknown_control"):
        return {"kind": head, "at": _int(arg) or 0}
    if head == "stall":
        d = {"kind": "stall", "at": _int(args[0]) if args else 0}
        if len(args) > 1:
            d["seconds"] = float(args[1])
        return d
    if head == "close":
        return {"kind": "close", "reason": args[0] if args else "server_shutdown",
                "at": _int(args[1]) if len(args) > 1 else 0}
    if head in CLOSE_MESSAGES:
        return {"kind": "close", "reason": head, "at": _int(arg) or 0}
    if head in ("split", "merge"):
        return {"kind": head, "at": None}
    if head.isdigit():
        d = {"kind": "status", "status": int(head)}
        if arg:
            d["retry_after"] = arg
        return d
    if head == "hang":
        return {"kind": head}
    if head == "silent":
        d = {"kind": head}
        if args and args[0]:
            d["seconds"] = float(args[0])
        if len(args) > 1:
            if args[1] not in ("rst", "fin", "eof"):
                raise ValueError("silent: the cut is rst, fin or eof, not %r" % args[1])
            d["then"] = args[1]
        return d
    if head == "delay":
        return {"kind": "delay", "seconds": float(arg or 1)}
    if head == "dup":
        return {"kind": "dup", "n": _int(arg) or 3}
    if head == "resend":
        n, _, at = arg.partition("@")
        return {"kind": "resend", "n": _int(n) or 3, "at": _int(at) or 0}
    if head in ("error_replay", "error_replay_new"):
        return {"kind": "error_replay", "at": _int(arg) or 0,
                "form": "new" if head.endswith("_new") else "0.7.1"}
    if head == "error_cloudevent":
        return {"kind": "error_cloudevent", "nth": _int(arg) or 1}
    if head in ("limit", "limit_new"):
        return {"kind": "limit", "at": _int(arg) or 0,
                "form": "new" if head.endswith("_new") else "0.7.1"}
    if head == "ctype":
        return {"kind": "ctype", "content_type": arg or "application/json"}
    if head == "bad_first":
        return {"kind": "bad_first", "frame": arg or "heartbeat"}
    if head == "bad_id":
        d = {"kind": "bad_id", "nth": 1}
        if args:
            if len(args) > 1 and args[-1].isdigit():
                d["nth"] = int(args[-1])
                args = args[:-1]
            d["id"] = ":".join(args)
        return d
    raise ValueError("unknown fault shorthand %r" % s)


def parse_entry(e):
    """A script entry -> list of fault dicts (possibly empty)."""
    if e is None:
        return []
    if isinstance(e, list):
        out = []
        for x in e:
            out += parse_entry(x)
        return out
    if isinstance(e, str) and "+" in e:
        return [f for part in e.split("+") for f in parse_entry(part)]
    f = parse_fault(e)
    return [] if f["kind"] == "ok" else [f]


def parse_script(text):
    """A list of entries from a list / a JSON text / comma-separated
    shorthands / '@file'."""
    if isinstance(text, dict):
        return [parse_entry(text)]
    return httpbase.parse_list(text, parse_entry)


# ---------------------------------------------------------------------------
# Store items and request contexts
# ---------------------------------------------------------------------------

class _Item:
    __slots__ = ("seq", "event_type", "identifier", "topic", "payload", "time_ns",
                 "polygon", "_json")

    def __init__(self, seq, event_type, identifier, topic, payload, time_ns, polygon):
        self.seq = seq
        self.event_type = event_type
        self.identifier = identifier
        self.topic = topic
        self.payload = payload
        self.time_ns = time_ns
        self.polygon = polygon
        self._json = None


class _Ctx:
    """A validated watch/replay request."""

    def __init__(self):
        self.event_type = None
        self.topic = None
        self.filters = {}       # key -> ("eq", canon) | ("c", field, op, arg)
        self.point = None
        self.polygon = None
        self.from_id = None     # int or None
        self.from_date = None   # ns or None
        self.from_date_str = None

    @property
    def cursor(self):
        return self.from_id is not None or self.from_date is not None


def _cmp(op, v, arg):
    if op == "eq":
        return v == arg
    if op == "in":
        return v in arg
    if op == "gt":
        return v > arg
    if op == "gte":
        return v >= arg
    if op == "lt":
        return v < arg
    if op == "lte":
        return v <= arg
    if op == "between":
        return arg[0] <= v <= arg[1]
    return False


def _matches(ctx, item):
    if item.event_type != ctx.event_type:
        return False
    for k, flt in ctx.filters.items():
        have = item.identifier.get(k)
        if flt[0] == "eq":
            if flt[1] != "*" and have != flt[1]:
                return False
            continue
        _, field, op, arg = flt
        if have is None:
            return False
        if field.type == "enum":
            if not _cmp(op, have, arg):
                return False
            continue
        try:
            v = int(have) if field.type == "int" else float(have)
        except ValueError:
            return False
        if not _cmp(op, v, arg):
            return False
    if ctx.point is not None:
        if item.polygon is None or not _point_in_poly(ctx.point, item.polygon):
            return False
    if ctx.polygon is not None:
        if item.polygon is None or not _polys_intersect(ctx.polygon, item.polygon):
            return False
    return True


class _End(Exception):
    def __init__(self, how):
        super().__init__(how)
        self.how = how


class _ReplayStop(Exception):
    def __init__(self, fault):
        super().__init__(fault.get("kind"))
        self.fault = fault


def _revoke_how(action):
    if action in ("fin", "rst", "eof"):
        return action
    if action == "close":
        return "close:end_of_stream"
    return "close:" + action


# ---------------------------------------------------------------------------
# One streamed response
# ---------------------------------------------------------------------------

class _Stream:
    def __init__(self, emu, handler, rec, kind, ctx, faults, cred):
        self.emu = emu
        self.h = handler
        self.rec = rec
        self.kind = kind
        self.ctx = ctx
        self.faults = faults
        self.cred = cred
        self.q = queue.Queue()
        self.cut = None
        self.count = 0
        self.phase = "opening"
        self.recent = collections.deque(maxlen=64)
        self.next_hb = None
        self.hb = None
        self.deadline = None
        self.bound = None
        self.fired = set()
        self.pending_ce_error = 0
        self.pending_bad_id = None
        self.mode = None
        self.buf = []
        self.replayed = []
        self._gone_check = 0.0
        self._rng = random.Random(rec["n"])
        self._sock = handler.connection

    # -- fault lookup ----------------------------------------------------
    def _faults(self, kind):
        return [f for f in self.faults if f["kind"] == kind]

    def _first(self, kind):
        fs = self._faults(kind)
        return fs[0] if fs else None

    # -- writing ---------------------------------------------------------
    def _send_chunk(self, data):
        rng = self._rng if self.mode == "split" else None
        for buf in httpbase.body_sends(data, rng=rng, delay=self.emu.split_delay):
            self.rec["sends"] += 1
            self._sock.sendall(buf)

    def emit(self, data, label):
        self.rec["frames"].append(label)
        self.rec["writes"] += 1
        if self.mode == "merge":
            self.buf.append(data)
        else:
            self._send_chunk(data)

    def flush(self):
        if self.buf:
            data = b"".join(self.buf)
            self.buf = []
            self._send_chunk(data)

    def _set_mode(self, mode):
        self.flush()
        self.mode = mode
        if mode == "split":
            try:
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    # -- frames ----------------------------------------------------------
    def _rid(self):
        return self.rec["request_id"]

    def emit_heartbeat(self):
        self.emit(frame_bytes("heartbeat", {"timestamp": ts_secs(), "topic": self.ctx.topic}),
                  "heartbeat")

    def _opening(self, cursor):
        if cursor:
            ctx = self.ctx
            fd = None
            if ctx.from_date is not None:
                fd = ts_secs(ctx.from_date // 10 ** 9)
            return "replay-control", {
                "batch_size": self.emu.batch_size, "from_date": fd,
                "from_sequence": ctx.from_id, "request_id": self._rid(),
                "timestamp": ts_secs(), "topic": self.ctx.topic, "type": "replay_started"}
        return "live-notification", {
            "connection_will_close_in_seconds": self.emu._advertised(),
            "request_id": self._rid(), "timestamp": ts_secs(), "topic": self.ctx.topic,
            "type": "connection_established"}

    def emit_control(self, event, data):
        self.emit(frame_bytes(event, data), data.get("type") or data.get("error") or event)

    def emit_error(self, error, message, seq=None):
        d = {"error": error, "message": message, "request_id": self._rid(),
             "topic": self.ctx.topic}
        if seq is not None:
            d["sequence"] = seq
        self.emit(frame_bytes("error", d), "error:" + error)

    def emit_item(self, event, item, bad_id=None):
        if bad_id is not None:
            ce = self.emu._cloudevent(item)
            ce["id"] = bad_id
            data = compact(ce)
        else:
            data = self.emu._ce_json(item)
        self.rec["seqs"].append(item.seq)
        self.emit(("event: %s\ndata: " % event).encode() + data.encode("utf-8") + b"\n\n",
                  "%s:%d" % (event, item.seq))

    # -- checks ----------------------------------------------------------
    def _common_checks(self, now):
        emu = self.emu
        if emu._stopping.is_set():
            raise _End("server-stop")
        if self.cut:
            raise _End(self.cut)
        if emu.on_token_revoked != "keep" and self.cred is not None \
                and not emu._cred_valid(self.cred):
            self.rec["revoked"] = True
            raise _End(_revoke_how(emu.on_token_revoked))
        if now - self._gone_check >= 0.05:
            self._gone_check = now
            if httpbase.peer_closed(self._sock):
                raise _End("client-closed")

    def check(self):
        now = time.monotonic()
        self._common_checks(now)
        if self.deadline is not None and now >= self.deadline:
            raise _End("close:max_duration_reached")
        if self.next_hb is not None and now >= self.next_hb:
            self.emit_heartbeat()
            self.next_hb += self.hb
            if self.next_hb <= now:
                self.next_hb = now + self.hb

    def _wait_timeout(self):
        now = time.monotonic()
        t = 0.05
        if self.next_hb is not None:
            t = min(t, self.next_hb - now)
        if self.deadline is not None:
            t = min(t, self.deadline - now)
        return max(t, 0.001)

    def idle(self, seconds):
        """Wait while the stream keeps running (heartbeats, cuts)."""
        end = time.monotonic() + seconds
        while True:
            self.check()
            now = time.monotonic()
            if now >= end:
                return
            self.flush()
            self.emu._stopping.wait(min(self._wait_timeout(), end - now))

    def stall(self, seconds):
        self.flush()
        self.rec["stalled"] = True
        end = None if seconds is None else time.monotonic() + float(seconds)
        while True:
            now = time.monotonic()
            self._common_checks(now)
            if end is not None and now >= end:
                self.rec["stalled"] = False
                return
            self.emu._stopping.wait(0.02)

    # -- faults ----------------------------------------------------------
    def apply(self, f):
        """Apply a fault in the middle of the stream."""
        k = f["kind"]
        self.rec["faults_fired"].append(k if k != "close" else "close:" + f.get("reason", "server_shutdown"))
        if k in ("rst", "fin", "eof"):
            raise _End(k)
        if k == "close":
            raise _End("close:" + f.get("reason", "server_shutdown"))
        if k == "stall":
            self.stall(f.get("seconds"))
        elif k in ("resend", "dup"):
            n = int(f.get("n", 3))
            for ev, item in list(self.recent)[-n:] if n else []:
                self.emit_item(ev, item)
        elif k == "unknown_event":
            self.emit(frame_bytes(f.get("name", "aviso-future-event"),
                                  f.get("data", {"note": "an event name this client does not know",
                                                 "timestamp": ts_secs(),
                                                 "topic": self.ctx.topic})),
                      f.get("name", "aviso-future-event"))
        elif k == "unknown_control":
            self.emit_control("replay-control", f.get("data", {
                "timestamp": ts_secs(), "topic": self.ctx.topic,
                "type": f.get("type", "replay_paused")}))
        elif k in ("split", "merge", "normal"):
            self._set_mode(None if k == "normal" else k)
        elif k in ("error_replay", "limit"):
            if self.phase == "replay":
                raise _ReplayStop(f)
            if k == "error_replay":
                self.emit_error("stream_processing_failed",
                                f.get("message", "Failed to process notification stream: "
                                                 "emulated backend failure"))
                if f.get("form") == "new":
                    raise _End("close:end_of_stream")
        elif k == "error_cloudevent":
            self.pending_ce_error += 1
        elif k == "bad_id":
            self.pending_bad_id = f.get("id") or (self.ctx.event_type + "@x")
        elif k in START_KINDS:
            self.emu._script_front([f])
            raise _End("fin")

    def after_count(self):
        n = self.count
        for i, f in enumerate(self.faults):
            if i in self.fired or f["kind"] not in AT_KINDS or f.get("at") is None:
                continue
            if f["kind"] in ("error_replay", "limit") and self.ctx.cursor and self.phase != "replay":
                continue   # handled by the replay phase
            if int(f.get("at", 0)) == n:
                self.fired.add(i)
                self.apply(f)

    def _fire_replay_faults(self, final):
        for i, f in enumerate(self.faults):
            if i in self.fired or f["kind"] not in ("error_replay", "limit"):
                continue
            if final or int(f.get("at", 0)) <= self.count:
                self.fired.add(i)
                self.rec["faults_fired"].append(f["kind"])
                raise _ReplayStop(f)

    def send_notification(self, item, event):
        self.count += 1
        nth = self.count
        emu = self.emu
        ce_err = (item.event_type, item.seq) in emu._poison
        for f in self._faults("error_cloudevent"):
            if ("seq" in f and int(f["seq"]) == item.seq) or ("seq" not in f and int(f.get("nth", 1)) == nth):
                ce_err = True
        if self.pending_ce_error:
            self.pending_ce_error -= 1
            ce_err = True
        if ce_err:
            self.emit_error("CloudEvent creation failed",
                            "Failed to create CloudEvent for notification %s@%d: emulated failure"
                            % (item.event_type, item.seq), seq=item.seq)
            self.rec["ce_errors"].append(item.seq)
        else:
            bad = None
            for f in self._faults("bad_id"):
                if int(f.get("nth", 1)) == nth:
                    bad = f.get("id") or (item.event_type + "@x")
            if self.pending_bad_id is not None:
                bad, self.pending_bad_id = self.pending_bad_id, None
            self.emit_item(event, item, bad_id=bad)
        self.recent.append((event, item))
        self.after_count()
        fe = emu._fe_tick()
        if fe is not None:
            self.apply(fe)

    # -- phases ----------------------------------------------------------
    def run(self):
        emu = self.emu
        rec = self.rec
        how = None
        try:
            try:
                self._run()
            except _End as e:
                how = e.how
            self._finish(how)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.h.close_connection = True
            emu._end(rec, "client-closed")
        except OSError as e:
            self.h.close_connection = True
            emu._end(rec, "server-stop" if emu._stopping.is_set() else "error:%s" % e)

    def _run(self):
        emu = self.emu
        ctx = self.ctx
        for f in self.faults:
            if f["kind"] in ("split", "merge") and f.get("at") is None:
                self._set_mode(f["kind"])
        ct = self._first("ctype")
        ctype = ct.get("content_type", "application/json") if ct else "text/event-stream"
        head = ["HTTP/1.1 200 OK"]
        if ctype is not None:
            head.append("content-type: " + ctype)
        head += ["cache-control: no-cache", "connection: keep-alive",
                 "access-control-allow-origin: *", "x-accel-buffering: no",
                 "x-request-id: " + self._rid(), "transfer-encoding: chunked",
                 "date: " + httpdate()]
        self._sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        self.rec["status"] = 200
        t0 = time.monotonic()
        if self.kind == "watch" and emu.max_duration:
            self.deadline = t0 + float(emu.max_duration)
        silent = self._first("silent")
        if silent:
            self.rec["faults_fired"].append("silent")
            self.stall(silent.get("seconds"))
            if silent.get("then"):
                raise _End(silent["then"])
        bf = self._first("bad_first")
        swap = False
        if bf:
            self.rec["faults_fired"].append("bad_first")
            if bf.get("frame", "heartbeat") == "swap":
                swap = True
            else:
                self.emit_heartbeat()
        ev, data = self._opening(ctx.cursor != swap)
        self.emit_control(ev, data)
        self.rec["opened"] = True
        if self.kind == "watch":
            self.emit_heartbeat()
            self.hb = float(emu.heartbeat) if emu.heartbeat else None
            if self.hb:
                self.next_hb = t0 + self.hb
        self.after_count()
        if ctx.cursor:
            self._replay()
        if self.kind == "replay":
            raise _End("close:end_of_stream")
        self._live()

    def _replay(self):
        emu = self.emu
        self.phase = "replay"
        replayed = 0
        mh = emu.max_historical
        try:
            self._fire_replay_faults(False)
            for batch in emu._batches(self):
                for item in batch:
                    self.check()
                    if mh is not None and replayed >= mh:
                        raise _ReplayStop({"kind": "limit", "at": mh, "form": emu.limit_form,
                                           "max_allowed": mh})
                    self.send_notification(item, "replay")
                    self.replayed.append(item)
                    if len(self.replayed) > 256:
                        del self.replayed[:128]
                    replayed += 1
                if emu.replay_batch_delay:
                    self.idle(emu.replay_batch_delay)
            self._fire_replay_faults(True)
        except _ReplayStop as rs:
            f = rs.fault
            if f["kind"] == "error_replay":
                self.emit_error("stream_processing_failed",
                                f.get("message", "Failed to fetch historical batch: "
                                                 "emulated backend failure"))
            else:
                mx = int(f.get("max_allowed", f.get("at", 0)))
                self.emit_control("replay-control", {
                    "max_allowed": mx,
                    "message": f.get("message", "Historical replay limited to %d messages. "
                                     "Additional historical messages may be available but "
                                     "were not retrieved." % mx),
                    "timestamp": ts_secs(), "topic": self.ctx.topic,
                    "type": "notification_replay_limit_reached"})
            if f.get("form", "0.7.1") == "new":
                raise _End("close:end_of_stream")
        self.check()
        self.emit_control("replay-control", {"timestamp": self.built_ts, "topic": self.ctx.topic,
                                             "type": "replay_completed"})
        self.phase = "live"
        dup = self._first("dup")
        if dup and self.kind == "watch":
            self.rec["faults_fired"].append("dup")
            n = int(dup.get("n", 3))
            for item in (self.replayed[-n:] if n else []):
                self.check()
                self.emit_item("live-notification", item)

    def _live(self):
        self.phase = "live"
        while True:
            self.check()
            try:
                batch = self.q.get_nowait()
            except queue.Empty:
                self.flush()
                try:
                    batch = self.q.get(timeout=self._wait_timeout())
                except queue.Empty:
                    continue
            for item in batch:
                self.check()
                self.send_notification(item, "live-notification")

    def _finish(self, how):
        emu = self.emu
        h = self.h
        if how is not None and how.startswith("close:"):
            reason = how[6:]
            self.buf_drop_queue()
            self.emit(frame_bytes("connection-closing", {
                "message": CLOSE_MESSAGES.get(reason, reason), "reason": reason,
                "request_id": self._rid(), "timestamp": ts_secs(), "topic": self.ctx.topic}),
                "connection-closing:" + reason)
            self.flush()
            self._sock.sendall(httpbase.LAST_CHUNK)
            h.close_connection = h.close_connection or not emu.keep_alive
            emu._end(self.rec, reason)
            return
        h.close_connection = True
        if how == "eof":
            self.flush()
            self._sock.sendall(httpbase.LAST_CHUNK)
            h._fin()
        elif how == "fin":
            self.flush()
            h._fin()
        elif how == "rst":
            self.flush()
            h._rst()
        elif how == "server-stop":
            h._fin()
        emu._end(self.rec, how or "end")

    def buf_drop_queue(self):
        try:
            while True:
                self.q.get_nowait()
        except queue.Empty:
            pass


# ---------------------------------------------------------------------------
# HTTP handler
# ---------------------------------------------------------------------------

class _Handler(httpbase.Handler):
    server_version = "aviso-emulator/0.7.1"
    log_name = "aviso-emulator"

    # -- low level -------------------------------------------------------
    def _drain(self, timeout=2.0):
        """Wait (bounded) until the peer has acknowledged everything sent, so
        an abort after K notifications really delivers K (an RST discards
        data still in the send queue)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                left = struct.unpack("i", fcntl.ioctl(self.connection.fileno(), termios.TIOCOUTQ,
                                                      b"\0\0\0\0"))[0]
            except OSError:
                return
            if left <= 0:
                return
            time.sleep(0.001)  # pacing while the kernel drains, not synchronisation

    def _rst(self):
        self._drain()
        super()._rst()

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    break
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                out += self.rfile.read(size)
                self.rfile.readline(3)
                if len(out) > BODY_LIMIT * 4:
                    break
            return bytes(out)
        n = int(self.headers.get("Content-Length") or 0)
        if n > BODY_LIMIT:
            # Drain it so the connection stays usable, but do not keep it.
            left = n
            while left > 0:
                d = self.rfile.read(min(left, 65536))
                if not d:
                    break
                left -= len(d)
            return None
        return self.rfile.read(n) if n > 0 else b""

    def _respond(self, rec, status, body=None, headers=(), ctype="application/json",
                 close=False):
        """A complete response.  body: dict/list -> compact sorted JSON, str ->
        verbatim (e.g. the notify success body), None -> empty."""
        if isinstance(body, (dict, list)):
            data = compact(body).encode("utf-8")
        elif body is None:
            data = b""
            ctype = None
        else:
            data = body.encode("utf-8") if isinstance(body, str) else body
        head = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status"))]
        if ctype is not None:
            head.append("content-type: " + ctype)
        head.append("content-length: %d" % len(data))
        if rec is not None:
            head.append("x-request-id: " + rec["request_id"])
        for k, v in headers:
            head.append("%s: %s" % (k, v))
        head.append("date: " + httpdate())
        if close or not self.server.owner.keep_alive:
            head.append("connection: close")
            self.close_connection = True
        self._send("\r\n".join(head) + "\r\n\r\n")
        if self.command != "HEAD":
            self._send(data)
        if rec is not None:
            rec["status"] = status
            self.server.owner._end(rec, "response")

    # -- dispatch --------------------------------------------------------
    def _dispatch(self):
        emu = self.server.owner
        body = self._read_body()
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/_control/"):
            self.close_connection = True
            return self._control(url, body or b"")
        if (self.headers.get("Connection") or "").lower() == "close":
            self.close_connection = True
        rec = emu._record(self, body, url)
        try:
            if body is None:
                return self._respond(rec, 413, None, close=True)
            self._route(rec, url, body)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
            emu._end(rec, "client-closed")
        except OSError as e:
            self.close_connection = True
            emu._end(rec, "server-stop" if emu._stopping.is_set() else "error:%s" % e)

    def _route(self, rec, url, body):
        p = url.path
        m = self.command
        if p in ("/api/v1/watch", "/api/v1/replay", "/api/v1/notification"):
            if m != "POST":
                return self._respond(rec, 405)
            if p == "/api/v1/notification":
                rec["kind"] = "notify"
                return self._notify(rec, body)
            rec["kind"] = "watch" if p.endswith("watch") else "replay"
            return self._streaming(rec, body)
        if p == "/health":
            rec["kind"] = "health"
            if m != "GET":
                return self._respond(rec, 405)
            return self._respond(rec, 200, {"status": "ok"})
        if p == "/api/v1/schema" or re.fullmatch(r"/api/v1/schema/[^/]+", p):
            rec["kind"] = "schema"
            if m != "GET":
                return self._respond(rec, 405)
            return self._schema(rec, p)
        if p.startswith("/api/v1/admin/notification/") and p.count("/") == 5 \
                or p in ("/api/v1/admin/wipe/stream", "/api/v1/admin/wipe/all"):
            rec["kind"] = "admin"
            if m != "DELETE":
                return self._respond(rec, 405)
            return self._admin(rec, p, body)
        return self._respond(rec, 404)

    # -- error bodies ----------------------------------------------------
    def _err(self, rec, status, code, label, message, details=None, extra=None):
        b = {"code": code, "details": message if details is None else details,
             "error": label, "message": message, "request_id": rec["request_id"]}
        if extra:
            b.update(extra)
        return self._respond(rec, status, b)

    def _auth_err(self, rec, status, message, headers=()):
        code, err = {401: ("UNAUTHORIZED", "unauthorized"), 403: ("FORBIDDEN", "forbidden"),
                     503: ("SERVICE_UNAVAILABLE", "service_unavailable"),
                     500: ("INTERNAL_ERROR", "internal_error"),
                     429: ("TOO_MANY_REQUESTS", "too_many_requests")}[status]
        hdrs = list(headers)
        if status == 401:
            hdrs.insert(0, ("www-authenticate", "Bearer"))
            if self.server.owner.auth_mode == "direct":
                hdrs.insert(1, ("www-authenticate", "Basic"))
        return self._respond(rec, status, {"code": code, "error": err, "message": message,
                                           "request_id": rec["request_id"]}, headers=hdrs)

    # -- endpoints -------------------------------------------------------
    def _schema(self, rec, p):
        emu = self.server.owner
        if p == "/api/v1/schema":
            return self._respond(rec, 200, {
                "event_types": sorted(emu.schema), "schema": {k: s.api() for k, s in emu.schema.items()},
                "status": "success", "total_schemas": len(emu.schema)})
        et = urllib.parse.unquote(p.rsplit("/", 1)[1])
        if et not in emu.schema:
            return self._respond(rec, 404, {"available_types": sorted(emu.schema),
                                            "message": "Event type '%s' not found" % et,
                                            "status": "error"})
        return self._respond(rec, 200, {"event_type": et, "schema": emu.schema[et].api(),
                                        "status": "success"})

    def _label(self, kind):
        return {"watch": ("INVALID_WATCH_REQUEST", "Invalid Watch Request"),
                "replay": ("INVALID_REPLAY_REQUEST", "Invalid Replay Request"),
                "notify": ("INVALID_NOTIFICATION_REQUEST", "Invalid Notification Request")}[kind]

    def _pre(self, rec, body, admin=False):
        """Auth middleware, parse, unknown event type.  Returns (req, identity)
        or None when a response was sent."""
        emu = self.server.owner
        ok, ident = emu._authenticate(self, rec, admin)
        if not ok:
            status, msg = ident
            self._auth_err(rec, status, msg)
            return None
        code, label = self._label(rec["kind"])
        req, err = emu._parse_request(body)
        if err is not None:
            c, msg = err
            self._err(rec, 400, c, label, msg)
            return None
        rec["event_type"] = req["event_type"]
        rec["identifier"] = req["identifier"]
        if req["event_type"] not in emu.schema:
            self._respond(rec, 400, {
                "code": "UNKNOWN_EVENT_TYPE", "configured_event_types": sorted(emu.schema),
                "error": "unknown_event_type",
                "message": "unknown event type '%s'" % req["event_type"],
                "request_id": rec["request_id"]})
            return None
        return req, ident

    def _stream_auth(self, rec, es, ident, write):
        emu = self.server.owner
        if not emu.auth or not es.auth_required:
            return True
        if ident is None:
            self._auth_err(rec, 401, "Authentication is required for this stream")
            return False
        admin = emu._is_admin(ident)
        if not write:
            if es.read_roles is not None and not admin and not emu._has_role(ident, es.read_roles):
                self._auth_err(rec, 403, "User does not have required read role for this stream")
                return False
        else:
            if es.write_roles is not None:
                if not admin and not emu._has_role(ident, es.write_roles):
                    self._auth_err(rec, 403, "User does not have required write role for this stream")
                    return False
            elif not admin:
                self._auth_err(rec, 403, "Only administrators can write to this stream")
                return False
        return True

    def _start_fault(self, rec, faults):
        """Faults applied at arrival: delay, hang, statuses other than 500.
        Returns True when a response was sent."""
        emu = self.server.owner
        for f in faults:
            if f["kind"] == "delay":
                rec["faults_fired"].append("delay")
                end = time.monotonic() + float(f.get("seconds", 1))
                while time.monotonic() < end:
                    if emu._stopping.is_set() or self._client_gone():
                        self.close_connection = True
                        emu._end(rec, "client-closed")
                        return True
                    emu._stopping.wait(0.02)
        for f in faults:
            if f["kind"] == "hang":
                rec["faults_fired"].append("hang")
                while not emu._stopping.is_set() and not self._client_gone():
                    emu._stopping.wait(0.02)
                self.close_connection = True
                self._fin()
                emu._end(rec, "hang-end")
                return True
            if f["kind"] == "status" and int(f.get("status", 500)) != 500:
                rec["faults_fired"].append("status:%s" % f.get("status"))
                self._status_fault(rec, f, None)
                return True
        return False

    def _status_fault(self, rec, f, ctx):
        st = int(f.get("status", 500))
        hdrs = [(k.lower(), str(v)) for k, v in (f.get("headers") or {}).items()]
        ra = f.get("retry_after")
        if st == 429 and ra is None:
            ra = "1"
        if ra is not None:
            hdrs.append(("retry-after", str(ra)))
        if "body" in f:
            return self._respond(rec, st, f["body"], headers=hdrs,
                                 ctype=f.get("content_type", "application/json"))
        if st == 500:
            msg = f.get("message", "Failed to subscribe to notification backend: emulated failure")
            return self._respond(rec, 500, {
                "code": "SSE_STREAM_INITIALIZATION_FAILED", "details": msg,
                "error": "SSE stream creation failed", "message": msg,
                "request_id": rec["request_id"], "topic": ctx.topic if ctx else ""}, headers=hdrs)
        if st in (401, 403, 503, 429):
            msg = f.get("message", {401: "Invalid or expired token",
                                    403: "Token validation was denied",
                                    503: "Authentication service temporarily unavailable",
                                    429: "Too many requests"}[st])
            return self._auth_err(rec, st, msg, headers=hdrs)
        msg = f.get("message", "Emulated HTTP %d" % st)
        return self._respond(rec, st, {"code": "INTERNAL_ERROR", "details": msg,
                                       "error": "Emulated Failure", "message": msg,
                                       "request_id": rec["request_id"]}, headers=hdrs)

    def _streaming(self, rec, body):
        emu = self.server.owner
        faults = emu._take_entry(rec)
        if self._start_fault(rec, faults):
            return
        pre = self._pre(rec, body)
        if pre is None:
            return
        req, ident = pre
        es = emu.schema[req["event_type"]]
        if not self._stream_auth(rec, es, ident, write=False):
            return
        try:
            ctx = emu._validate_stream(req, es, rec["kind"])
        except _Invalid as e:
            code, label = self._label(rec["kind"])
            return self._err(rec, 400, code, label, e.message, e.details)
        for f in faults:
            if f["kind"] == "status":
                rec["faults_fired"].append("status:500")
                return self._status_fault(rec, f, ctx)
        cred = self.headers.get("Authorization") if ident is not None else None
        st = _Stream(emu, self, rec, rec["kind"], ctx, faults, cred)
        emu._subscribe(st)
        try:
            st.run()
        finally:
            emu._unsubscribe(st)

    def _notify(self, rec, body):
        emu = self.server.owner
        pre = self._pre(rec, body)
        if pre is None:
            return
        req, ident = pre
        es = emu.schema[req["event_type"]]
        if not self._stream_auth(rec, es, ident, write=True):
            return
        try:
            canon, poly = emu._validate_notify(es, req["identifier"], "payload" in req)
        except _Invalid as e:
            return self._err(rec, 400, "INVALID_NOTIFICATION_REQUEST",
                             "Invalid Notification Request", e.message, e.details)
        items = emu._publish([(es, canon, poly, req.get("payload"), None)])
        rec["notified_seq"] = items[0].seq
        # A typed struct: keys in declaration order, not sorted.
        out = json.dumps({"status": "success", "request_id": rec["request_id"],
                          "processed_at": ts_secs()}, separators=(",", ":"))
        return self._respond(rec, 200, out)

    def _admin(self, rec, p, body):
        emu = self.server.owner
        ok, ident = emu._authenticate(self, rec, True)
        if not ok:
            return self._auth_err(rec, *ident)
        if p.startswith("/api/v1/admin/notification/"):
            raw = urllib.parse.unquote(p.rsplit("/", 1)[1])
            et, sep, s = raw.strip().partition("@")
            msg = None
            if not sep or not et or not s:
                msg = "notification_id must be in '<stream>@<sequence>' format"
            elif not re.fullmatch(r"\+?[0-9]+", s) or int(s) >= 2 ** 64:
                msg = "notification_id sequence must be a positive integer"
            elif int(s) == 0:
                msg = "notification_id sequence must be greater than zero"
            if msg:
                return self._respond(rec, 400, {"message": msg, "notification_id": raw,
                                                "success": False})
            name = emu._resolve_event_type(et)
            if emu.delete(name, int(s)):
                return self._respond(rec, 200, {"message": "Notification deleted",
                                                "notification_id": raw, "success": True})
            return self._respond(rec, 404, {"message": "Notification not found",
                                            "notification_id": raw, "success": False})
        if p.endswith("/wipe/all"):
            emu.wipe()
            return self._respond(rec, 200, {"message": "Successfully wiped all data",
                                            "success": True})
        try:
            name = json.loads(body.decode("utf-8"))["stream_name"]
            if not isinstance(name, str):
                raise ValueError
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return self._respond(rec, 400, "Json deserialize error: missing field `stream_name`",
                                 ctype="text/plain; charset=utf-8")
        emu.wipe(emu._resolve_event_type(name))
        return self._respond(rec, 200, {"message": "Successfully wiped stream: %s" % name,
                                        "success": True})

    # -- control ---------------------------------------------------------
    def _control(self, url, body):
        emu = self.server.owner
        qs = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        what = url.path[len("/_control/"):]
        status, out = 200, None
        try:
            text = body.decode("utf-8")
            j = json.loads(text) if text.strip() and what not in ("script",) else None
            if what == "requests":
                out = emu.requests_json()
            elif what == "history":
                out = emu.history_json()
            elif what == "streams":
                out = {"open": emu.open_streams()}
            elif what == "notify":
                items = j if isinstance(j, list) else [j]
                batch = []
                for it in items:
                    for _ in range(int(it.get("count", 1))):
                        batch.append(it)
                out = {"sequences": emu.notify_many(
                    [(it["event_type"], it.get("identifier", {}), it.get("payload"))
                     for it in batch], fill=any(it.get("fill") for it in batch))}
            elif what == "script":
                entries = parse_script(text) if text.strip() else []
                emu.script(entries, replace=qs.get("replace") in ("1", "true", "yes"))
                out = {"queued": len(emu._script_q)}
            elif what == "tokens":
                emu.set_valid_tokens(j or [])
                out = {"ok": True}
            elif what == "basic":
                emu.set_basic_users(j or {})
                out = {"ok": True}
            elif what == "auth_backend":
                emu.set_auth_backend(qs.get("up", "1") not in ("0", "false", "no"))
                out = {"ok": True}
            elif what == "close":
                out = {"closed": emu.shutdown_streams(qs.get("reason", "server_shutdown"))}
            elif what == "fault_every":
                if not j or not j.get("k"):
                    emu.fault_every(None)
                else:
                    emu.fault_every(int(j["k"]), j.get("kinds", ["rst"]),
                                    jitter=int(j.get("jitter", 0)), seed=j.get("seed", 0))
                out = {"ok": True}
            elif what == "config":
                emu.configure(**(j or {}))
                out = {"ok": True}
            elif what == "poison":
                emu.poison(j["event_type"], int(j["seq"]))
                out = {"ok": True}
            elif what == "delete":
                out = {"deleted": emu.delete(j["event_type"], int(j["seq"]))}
            elif what == "reset":
                emu.reset_requests()
                out = {"ok": True}
            else:
                status, out = 404, {"error": "unknown control %s" % what}
        except Exception as e:  # report, do not kill the server
            status, out = 400, {"error": repr(e)}
        self._send_json_close(status, json.dumps(out).encode())


# ---------------------------------------------------------------------------
# The emulator
# ---------------------------------------------------------------------------

class Emulator(httpbase.BackgroundServer):
    """See the module documentation.  All settings can be changed later with
    configure(**kw) (new streams see the new values)."""
    _handler_class = _Handler
    _request_queue_size = 128

    SETTINGS = ("heartbeat", "max_duration", "advertised_max_duration", "seq_mode",
                "max_history", "max_history_per_topic", "batch_size", "replay_batch_delay",
                "max_historical", "limit_form", "boundary", "auth", "auth_mode",
                "admin_roles", "on_token_revoked", "source", "time_precision",
                "keep_alive", "split_delay", "verbose", "default")

    def __init__(self, schema=None, heartbeat=30.0, max_duration=None,
                 advertised_max_duration=None, seq_mode="global", seq_start=1,
                 max_history=None, max_history_per_topic=None, batch_size=100,
                 replay_batch_delay=0.0, max_historical=None, limit_form="0.7.1",
                 boundary="exact", auth=True, auth_mode="direct", tokens=None,
                 basic_users=None, admin_roles=("admin",), on_token_revoked="keep",
                 source=None, time_precision="auto", keep_alive=True, split_delay=0.0,
                 script=None, default=None, host="127.0.0.1", port=0, verbose=False):
        self.schema = load_schema(schema)
        self.heartbeat = heartbeat
        self.max_duration = max_duration
        self.advertised_max_duration = advertised_max_duration
        self.seq_mode = seq_mode
        self.seq_start = seq_start
        self.max_history = max_history
        self.max_history_per_topic = max_history_per_topic
        self.batch_size = batch_size
        self.replay_batch_delay = replay_batch_delay
        self.max_historical = max_historical
        self.limit_form = limit_form
        self.boundary = boundary
        self.auth = auth
        self.auth_mode = auth_mode
        self.admin_roles = list(admin_roles)
        self.on_token_revoked = on_token_revoked
        self.source = source
        self.time_precision = time_precision
        self.keep_alive = keep_alive
        self.split_delay = split_delay
        self.default = parse_entry(default)
        self.host = host
        self.port = port
        self.verbose = verbose
        self._check_settings()
        self._init_server()

        self.requests = []
        self._stream_count = 0
        self._script_q = []
        self._script_at = {}
        self._fe = None
        self._streams = []
        self._poison = set()

        self._hist = {}
        self._hseqs = {}
        self._next_global = seq_start
        self._next_type = {}

        self._tokens = {}
        self._basic = {}
        self._backend_up = True
        if tokens is not None:
            self.set_valid_tokens(tokens)
        if basic_users is not None:
            self.set_basic_users(basic_users)
        if script:
            self.script(script)

    def _check_settings(self):
        if self.seq_mode not in ("global", "per_type"):
            raise ValueError("seq_mode must be 'global' or 'per_type'")
        if self.boundary not in ("exact", "overlap"):
            raise ValueError("boundary must be 'exact' or 'overlap'")
        if self.limit_form not in ("0.7.1", "new"):
            raise ValueError("limit_form must be '0.7.1' or 'new'")
        if self.auth_mode not in ("direct", "trusted_proxy"):
            raise ValueError("auth_mode must be 'direct' or 'trusted_proxy'")
        if self.on_token_revoked not in ("keep", "fin", "rst", "eof", "close", "end_of_stream",
                                         "server_shutdown", "max_duration_reached"):
            raise ValueError("bad on_token_revoked %r" % self.on_token_revoked)

    # -- properties ------------------------------------------------------
    @property
    def base_url(self):
        return "http://%s:%d" % (self.host, self.port)

    def url(self, path):
        return self.base_url + path

    # -- life cycle ------------------------------------------------------
    def start(self):
        """Bind (port 0: OS-chosen; after stop(): the same port) and serve in a
        background thread.  Returns the base URL."""
        self._serve()
        return self.base_url

    def stop(self, timeout=5.0, graceful=False):
        """Stop listening and end every connection.  graceful=True first
        closes open streams with server_shutdown (and waits for that);
        otherwise they end with a FIN (end "server-stop").  The history
        survives; start() serves it again on the same port."""
        if self._httpd is None:
            return
        if graceful:
            self.shutdown_streams("server_shutdown")
            try:
                self.wait_for(lambda e: not e._streams, timeout)
            except AssertionError:
                pass
        self._unserve(timeout, shutdown_sockets=True)

    def configure(self, **kw):
        with self._lock:
            for k, v in kw.items():
                if k not in self.SETTINGS:
                    raise ValueError("unknown setting %r" % k)
                if k == "default":
                    v = parse_entry(v)
                if k == "admin_roles":
                    v = list(v)
                setattr(self, k, v)
            self._check_settings()

    def _advertised(self):
        if self.advertised_max_duration is not None:
            return int(self.advertised_max_duration)
        if self.max_duration:
            return int(math.ceil(float(self.max_duration)))
        return 3600

    # -- auth ------------------------------------------------------------
    def set_valid_tokens(self, tokens):
        """Replace the set of valid Bearer tokens: a list of strings, or a dict
        token -> {"username", "realm", "roles", "expires_in" (s),
        "expires_at" (time.monotonic()), "deny"}.  Open streams whose token is
        no longer valid are handled per on_token_revoked."""
        if isinstance(tokens, str):
            tokens = [tokens]
        out = {}
        if isinstance(tokens, dict):
            items = tokens.items()
        else:
            items = [(t, {}) for t in tokens]
        for t, info in items:
            info = dict(info or {})
            if "expires_in" in info:
                info["expires_at"] = time.monotonic() + float(info.pop("expires_in"))
            info.setdefault("username", "user-%s" % t[:16])
            info.setdefault("realm", "ecmwf")
            info.setdefault("roles", ["reader", "writer"])
            out[t] = info
        with self._lock:
            self._tokens = out

    def add_token(self, token, **info):
        with self._lock:
            cur = dict(self._tokens)
        cur[token] = info
        self.set_valid_tokens({k: v for k, v in cur.items()})

    def revoke_token(self, token):
        with self._lock:
            cur = {k: v for k, v in self._tokens.items() if k != token}
            self._tokens = cur

    def set_basic_users(self, users):
        """{"alice": "password"} or {"alice": {"password", "realm", "roles"}}."""
        out = {}
        for u, info in users.items():
            if isinstance(info, str):
                info = {"password": info}
            info = dict(info)
            info.setdefault("username", u)
            info.setdefault("realm", "ecmwf")
            info.setdefault("roles", ["reader", "writer"])
            out[u] = info
        with self._lock:
            self._basic = out

    def set_auth_backend(self, up=True):
        """up=False: auth-o-tron unreachable -> 503 for requests with
        credentials (direct mode)."""
        self._backend_up = bool(up)

    def _lookup(self, cred):
        """An Authorization value -> identity dict, "deny", or None."""
        scheme, _, rest = cred.strip().partition(" ")
        rest = rest.strip()
        with self._lock:
            if scheme.lower() == "bearer":
                info = self._tokens.get(rest)
            elif scheme.lower() == "basic":
                try:
                    user, _, pw = base64.b64decode(rest, validate=True).decode("utf-8").partition(":")
                except (ValueError, UnicodeDecodeError):
                    return None
                info = self._basic.get(user)
                if info is None or info.get("password") != pw:
                    return None
            else:
                return None
        if info is None:
            return None
        if "expires_at" in info and time.monotonic() >= info["expires_at"]:
            return None
        if info.get("deny"):
            return "deny"
        return info

    def _cred_valid(self, cred):
        v = self._lookup(cred)
        return v is not None and v != "deny"

    def _is_admin(self, ident):
        return any(r in self.admin_roles for r in ident.get("roles", []))

    @staticmethod
    def _has_role(ident, spec):
        roles = set(ident.get("roles", []))
        if isinstance(spec, dict):
            spec = spec.get(ident.get("realm"))
            if spec is None:
                return False
        spec = list(spec)
        return "*" in spec or bool(roles & set(spec))

    def _authenticate(self, handler, rec, admin):
        """-> (True, identity|None) or (False, (status, message))."""
        if not self.auth:
            return True, None
        raw_hdrs = handler.headers.get_all("Authorization") or []
        if not raw_hdrs:
            if admin:
                return False, (401, "Authorization header is required")
            return True, None
        raw = raw_hdrs[0]
        malformed = None
        try:
            value = raw.encode("latin-1").decode("utf-8").strip()
        except (UnicodeEncodeError, UnicodeDecodeError):
            value = None
            malformed = "Authorization header is not valid UTF-8"
        if malformed is None:
            scheme, sp, creds = value.partition(" ")
            if self.auth_mode == "direct":
                if not value:
                    malformed = "Authorization header cannot be empty"
                elif not sp or scheme.lower() not in ("bearer", "basic"):
                    malformed = "Authorization header must use Bearer or Basic scheme"
                elif not creds.strip():
                    malformed = "Authorization header credentials cannot be empty"
            else:
                if not sp or scheme.lower() != "bearer":
                    malformed = "Authorization header must use Bearer token"
                elif not creds.strip():
                    malformed = "Authorization header cannot contain an empty token"
        if malformed is not None:
            rec["auth"] = "malformed"
            if admin:
                return False, (401, malformed)
            return True, None
        if self.auth_mode == "direct" and not self._backend_up:
            rec["auth"] = "backend-down"
            return False, (503, "Authentication service temporarily unavailable")
        ident = self._lookup(value)
        if ident is None:
            rec["auth"] = "invalid"
            return False, (401, "Invalid or expired token")
        if ident == "deny":
            rec["auth"] = "denied"
            return False, (403, "Token validation was denied")
        rec["auth"] = ident.get("username")
        if admin and not self._is_admin(ident):
            return False, (403, "User does not have required administrative role")
        return True, ident

    # -- request parsing and validation ----------------------------------
    def _parse_request(self, body):
        """-> (req, None) or (None, (code, message))."""
        if not body.strip():
            return None, ("INVALID_JSON", "JSON parsing failed: EOF while parsing a value at "
                                          "line 1 column %d" % len(body))
        try:
            v = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as e:
            return None, ("INVALID_JSON", "JSON parsing failed: invalid unicode code point at "
                                          "byte %d" % e.start)
        except json.JSONDecodeError as e:
            return None, ("INVALID_JSON", "JSON parsing failed: %s at line %d column %d"
                          % (e.msg[0].lower() + e.msg[1:], e.lineno, e.colno))
        if not isinstance(v, dict):
            return None, ("INVALID_REQUEST_SHAPE", "invalid type: %s, expected struct "
                                                   "NotificationRequest" % _json_desc(v))
        for k in sorted(v):
            if k not in ALLOWED_FIELDS:
                return None, ("UNKNOWN_FIELD", "Request contains unknown fields: Unknown field "
                              "'%s' in request. Allowed fields: [%s]"
                              % (k, ", ".join('"%s"' % a for a in ALLOWED_FIELDS)))
        for k in ("event_type", "identifier"):
            if k not in v:
                return None, ("INVALID_REQUEST_SHAPE", "missing field `%s`" % k)
        if not isinstance(v["event_type"], str):
            return None, ("INVALID_REQUEST_SHAPE", "invalid type: %s, expected a string"
                          % _json_desc(v["event_type"]))
        if not isinstance(v["identifier"], dict):
            return None, ("INVALID_REQUEST_SHAPE", "invalid type: %s, expected a map"
                          % _json_desc(v["identifier"]))
        for k in ("from_id", "from_date"):
            if v.get(k) is not None and not isinstance(v[k], str):
                return None, ("INVALID_REQUEST_SHAPE", "invalid type: %s, expected a string"
                              % _json_desc(v[k]))
        return v, None

    def _validate_stream(self, req, es, kind):
        ctx = _Ctx()
        ctx.event_type = es.name
        ident = req["identifier"]
        # 1. spatial
        has_poly = "polygon" in ident
        has_point = "point" in ident
        if has_poly and has_point:
            raise _Invalid("Cannot specify both identifier.polygon and identifier.point. "
                           "Provide only one spatial filter.")
        if has_point:
            if isinstance(ident["point"], dict):
                raise _Invalid("Field 'point' constraint object is not supported")
            ctx.point = _parse_point(ident["point"])
        # 2. cursors
        fid = req.get("from_id")
        fdate = req.get("from_date")
        if fid is not None:
            if fid.strip() == "":
                raise _Invalid("from_id cannot be empty. Provide a valid sequence number or "
                               "omit the field")
            if not re.fullmatch(r"\+?[0-9]+", fid) or int(fid) >= 2 ** 64:
                raise _Invalid("from_id must be a valid positive integer. Got: '%s'. Valid "
                               "examples: '1', '123', '9999'" % fid,
                               "invalid digit found in string"
                               if not re.fullmatch(r"\+?[0-9]+", fid)
                               else "number too large to fit in target type")
            ctx.from_id = int(fid)
        if fdate is not None:
            if fdate.strip() == "":
                raise _Invalid("from_date cannot be empty. Provide a valid datetime or omit "
                               "the field")
            ns = parse_from_date(fdate)
            if ns is None:
                raise _Invalid("from_date must be a valid datetime. Got: '%s'. Accepted: RFC3339 "
                               "('2025-06-09T13:15:00Z', '2025-06-09T13:15:00+02:00'), "
                               "'2025-06-09 13:15:00+02:00', naive '2025-06-09T13:15:00' (UTC), "
                               "unix seconds or unix milliseconds" % fdate)
            ctx.from_date = ns
            ctx.from_date_str = fdate
        if fid is not None and fdate is not None:
            raise _Invalid("Cannot specify both from_id and from_date. Please provide only one "
                           "replay parameter. Use from_id for sequence-based replay or "
                           "from_date for time-based replay.")
        if kind == "replay" and not ctx.cursor:
            raise _Invalid("Replay endpoint requires either from_id or from_date parameter. "
                           "Use from_id for sequence-based replay or from_date for time-based "
                           "replay.")
        # 3. identifier against the schema
        values = {}
        for k, field in es.fields.items():
            if k in ident:
                v = ident[k]
                if isinstance(v, dict):
                    op, arg = field.constraint(v)
                    ctx.filters[k] = ("c", field, op, arg)
                    values[k] = "*"
                    continue
                s = _scalar_or_invalid(k, v)
                if field.type == "polygon":
                    ctx.polygon = _parse_polygon(s, k)
                    values[k] = "*"
                    continue
                c = "*" if (s == "*" and field.type == "string") else field.canon(s)
                ctx.filters[k] = ("eq", c)
                values[k] = c
            elif field.required:
                if field.type == "polygon" and has_point:
                    continue
                raise _Invalid("Required field '%s' missing for %s operation" % (k, kind))
            else:
                values[k] = "*"
        ctx.topic = es.topic(values)
        return ctx

    def _validate_notify(self, es, ident, has_payload):
        """-> (canonical identifier, polygon pairs or None); raises _Invalid."""
        for k in sorted(ident):
            if k not in es.fields:
                raise _Invalid("Unknown field '%s' provided for notify operation" % k)
        canon = {}
        poly = None
        for k, field in es.fields.items():
            if k not in ident:
                raise _Invalid("Required field '%s' missing for notify operation" % k)
            v = ident[k]
            if isinstance(v, dict):
                raise _Invalid("Field '%s' constraint object is not supported for notify "
                               "operation" % k)
            s = _scalar_or_invalid(k, v)
            c = field.canon(s)
            if field.type == "polygon":
                poly = _parse_polygon(c, k)
            canon[k] = c
        if es.payload_required and not has_payload:
            raise _Invalid("Payload is required for notify operation based on schema "
                           "configuration")
        return canon, poly

    def _resolve_event_type(self, name):
        if name in self.schema:
            return name
        for et, es in self.schema.items():
            if et.lower() == name.lower() or es.base == name:
                return et
        return name

    # -- the store -------------------------------------------------------
    def notify(self, event_type, identifier, payload=None, time=None, time_ns=None,
               fill=False):
        """Publish one notification like POST /api/v1/notification (same
        validation; raises ValueError).  payload None is stored as null.
        time: epoch seconds (float) / time_ns: epoch ns, for from_date tests.
        fill=True: keys left out take the schema's "example" values.
        Returns the sequence."""
        return self.notify_many([(event_type, identifier, payload)], time=time,
                                time_ns=time_ns, fill=fill)[0]

    def notify_many(self, items, time=None, time_ns=None, fill=False):
        """Publish several notifications atomically; each live stream gets
        its matching ones as ONE batch (one send in merge mode).  items:
        (event_type, identifier[, payload]) tuples or dicts with those keys
        (and optional "time"/"time_ns").  Returns the sequences."""
        prepared = []
        for it in items:
            if isinstance(it, dict):
                et, ident, payload = it["event_type"], it.get("identifier", {}), it.get("payload")
                t, tn = it.get("time", time), it.get("time_ns", time_ns)
            else:
                et, ident = it[0], it[1]
                payload = it[2] if len(it) > 2 else None
                t, tn = time, time_ns
            if et not in self.schema:
                raise ValueError("unknown event type '%s'" % et)
            es = self.schema[et]
            ident = dict(ident)
            if fill:
                for k, f in es.fields.items():
                    if k not in ident and f.example is not None:
                        ident[k] = f.example
            try:
                canon, poly = self._validate_notify(es, ident, payload is not None)
            except _Invalid as e:
                raise ValueError(e.message)
            if tn is None and t is not None:
                tn = int(round(t * 10 ** 9))
            prepared.append((es, canon, poly, payload, tn))
        return [it.seq for it in self._publish(prepared)]

    def _publish(self, prepared):
        with self._lock:
            made = []
            for es, canon, poly, payload, tn in prepared:
                et = es.name
                if self.seq_mode == "global":
                    seq = self._next_global
                    self._next_global += 1
                else:
                    seq = self._next_type.get(et, self.seq_start)
                    self._next_type[et] = seq + 1
                if tn is None:
                    tn = time.time_ns()
                item = _Item(seq, et, canon, es.topic(canon), payload, tn, poly)
                self._hist.setdefault(et, []).append(item)
                self._hseqs.setdefault(et, []).append(seq)
                self._retain(et, item)
                made.append(item)
            for st in self._streams:
                mine = [it for it in made if _matches(st.ctx, it)]
                if mine:
                    st.q.put(mine)
            self._cv.notify_all()
            return made

    def _retain(self, et, item):
        lst = self._hist[et]
        changed = False
        if self.max_history_per_topic is not None:
            idx = [i for i, it in enumerate(lst) if it.topic == item.topic]
            excess = len(idx) - int(self.max_history_per_topic)
            if excess > 0:
                drop = set(idx[:excess])
                lst[:] = [it for i, it in enumerate(lst) if i not in drop]
                changed = True
        if self.max_history is not None and len(lst) > int(self.max_history):
            del lst[:len(lst) - int(self.max_history)]
            changed = True
        if changed:
            self._hseqs[et] = [it.seq for it in lst]

    def delete(self, event_type, seq):
        """Remove one stored notification; True if it existed."""
        with self._lock:
            lst = self._hist.get(event_type, [])
            for i, it in enumerate(lst):
                if it.seq == seq:
                    del lst[i]
                    self._hseqs[event_type] = [x.seq for x in lst]
                    return True
        return False

    def wipe(self, event_type=None):
        with self._lock:
            for et in ([event_type] if event_type else list(self._hist)):
                self._hist[et] = []
                self._hseqs[et] = []

    def poison(self, event_type, seq):
        """Every later delivery of <event_type>@<seq> is replaced by the
        "CloudEvent creation failed" error frame (on every stream, every
        replay), as for an unrenderable stored message."""
        with self._lock:
            self._poison.add((event_type, int(seq)))

    def history(self, event_type=None):
        """Stored notifications as dicts (seq, event_type, identifier, topic,
        payload, time)."""
        with self._lock:
            ets = [event_type] if event_type else sorted(self._hist)
            return [{"seq": it.seq, "event_type": it.event_type, "identifier": dict(it.identifier),
                     "topic": it.topic, "payload": it.payload,
                     "time": ts_ce(it.time_ns, self.time_precision)}
                    for et in ets for it in self._hist.get(et, [])]

    history_json = history

    def last_seq(self, event_type=None):
        """The last sequence assigned (for event_type in per_type mode)."""
        with self._lock:
            if self.seq_mode == "global":
                return self._next_global - 1
            return self._next_type.get(event_type, self.seq_start) - 1

    def _cloudevent(self, item):
        src = self.source or self.base_url
        return {"data": {"identifier": dict(item.identifier), "payload": item.payload},
                "datacontenttype": "application/json",
                "dataschema": src.rstrip("/") + "/schema/" + item.event_type,
                "id": "%s@%d" % (item.event_type, item.seq),
                "source": src, "specversion": "1.0",
                "time": ts_ce(item.time_ns, self.time_precision),
                "type": "int.ecmwf.aviso." + item.event_type}

    def _ce_json(self, item):
        if item._json is None:
            item._json = compact(self._cloudevent(item))
        return item._json

    def cloudevent(self, event_type, seq):
        """The CloudEvent dict the emulator sends for a stored notification."""
        with self._lock:
            for it in self._hist.get(event_type, []):
                if it.seq == seq:
                    return self._cloudevent(it)
        return None

    def _batches(self, st):
        """Replay batches (lists of items) in ascending sequence.  exact
        boundary: up to the bound taken at subscription; overlap (0.7.1):
        re-query storage until a query finds nothing new."""
        ctx = st.ctx
        et = ctx.event_type
        nxt = ctx.from_id if ctx.from_id is not None else 0
        bound = st.bound
        bs = max(1, int(self.batch_size))
        while True:
            exhausted = True
            with self._lock:
                lst = self._hist.get(et, [])
                seqs = self._hseqs.get(et, [])
                i = bisect.bisect_left(seqs, nxt)
                batch = []
                while i < len(lst):
                    it = lst[i]
                    if bound is not None and it.seq > bound:
                        break
                    if len(batch) >= bs:
                        exhausted = False
                        break
                    i += 1
                    nxt = it.seq + 1
                    if ctx.from_date is not None and it.time_ns < ctx.from_date:
                        continue
                    if _matches(ctx, it):
                        batch.append(it)
            if batch:
                yield batch
            if exhausted and (bound is not None or not batch):
                return

    def _subscribe(self, st):
        with self._lock:
            st.built_ts = ts_secs()
            if self.boundary == "exact":
                st.bound = self.last_seq(st.ctx.event_type) if self.seq_mode == "per_type" \
                    else self._next_global - 1
            self._streams.append(st)
            st.rec["subscribed"] = True
            self._cv.notify_all()

    def _unsubscribe(self, st):
        with self._lock:
            if st in self._streams:
                self._streams.remove(st)
            self._cv.notify_all()

    def open_streams(self):
        with self._lock:
            return len(self._streams)

    def shutdown_streams(self, reason="server_shutdown"):
        """Cut every open stream: reason = a close reason (connection-closing
        with it, queued frames dropped) or "rst" / "fin" / "eof".  Returns
        the number of streams cut."""
        how = reason if reason in ("rst", "fin", "eof") else "close:" + reason
        with self._lock:
            for st in self._streams:
                st.cut = how
            return len(self._streams)

    def drop_streams(self, how="rst"):
        return self.shutdown_streams(how)

    def cut_stream(self, stream_n, how="server_shutdown"):
        """Cut one stream (by stream number)."""
        h = how if how in ("rst", "fin", "eof") else "close:" + how
        with self._lock:
            n = 0
            for st in self._streams:
                if st.rec.get("stream_n") == stream_n:
                    st.cut = h
                    n += 1
            return n

    # -- faults ----------------------------------------------------------
    def script(self, entries, replace=False):
        """Queue fault entries for the next stream requests (one each)."""
        parsed = [parse_entry(e) for e in entries] if isinstance(entries, list) \
            else parse_script(entries)
        with self._lock:
            if replace:
                self._script_q = []
            self._script_q.extend(parsed)

    def script_at(self, stream_n, entry):
        """Fault entry for stream request number stream_n (0-based)."""
        with self._lock:
            self._script_at[int(stream_n)] = parse_entry(entry)

    def set_default(self, entry):
        """Entry used when the script is empty (default: none)."""
        with self._lock:
            self.default = parse_entry(entry)

    def _script_front(self, faults):
        with self._lock:
            self._script_q.insert(0, copy.deepcopy(faults))

    def _take_entry(self, rec):
        with self._lock:
            n = self._stream_count
            self._stream_count += 1
            rec["stream_n"] = n
            if n in self._script_at:
                e = self._script_at.pop(n)
            elif self._script_q:
                e = self._script_q.pop(0)
            else:
                e = self.default
            e = copy.deepcopy(e)
            rec["faults"] = e
            self._cv.notify_all()
            return e

    def fault_every(self, k, kinds=("rst",), jitter=0, seed=0):
        """Every ~k notification frames (over all streams) inject the next
        kind of `kinds` (cyclic; shorthands or dicts).  k=None: off."""
        with self._lock:
            if not k:
                self._fe = None
                return
            parsed = []
            for x in kinds:
                fs = parse_entry(x)
                if fs:
                    parsed.append(fs[0])
            rng = random.Random(seed)
            self._fe = {"k": int(k), "kinds": parsed, "i": 0, "count": 0, "jitter": int(jitter),
                        "rng": rng, "fired": []}
            self._fe["next"] = self._fe_step()

    def _fe_step(self):
        fe = self._fe
        j = fe["jitter"]
        return fe["count"] + max(1, fe["k"] + (fe["rng"].randint(-j, j) if j else 0))

    def _fe_tick(self):
        with self._lock:
            fe = self._fe
            if not fe or not fe["kinds"]:
                return None
            fe["count"] += 1
            if fe["count"] < fe["next"]:
                return None
            f = dict(fe["kinds"][fe["i"] % len(fe["kinds"])])
            fe["i"] += 1
            fe["next"] = self._fe_step()
            f["at"] = None
            if f["kind"] == "dup":
                f["kind"] = "resend"
            fe["fired"].append([fe["count"], f["kind"]])
            return f

    def fault_every_log(self):
        """[[notification count, kind], ...] of fault_every injections."""
        with self._lock:
            return list(self._fe["fired"]) if self._fe else []

    # -- requests --------------------------------------------------------
    def _record(self, handler, body, url):
        rid = str(uuid.uuid4())
        hdrs = {}
        for k, v in handler.headers.items():
            hdrs[k] = v
        j = None
        if body:
            try:
                j = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                j = None
        jd = j if isinstance(j, dict) else {}

        def s(k):
            v = jd.get(k)
            return v if isinstance(v, (str, int, float)) and not isinstance(v, bool) else None
        with self._lock:
            rec = {"n": len(self.requests), "stream_n": None, "kind": "other",
                   "method": handler.command, "path": url.path, "query": url.query,
                   "headers": hdrs, "authorization": handler.headers.get("Authorization"),
                   "body": body.decode("utf-8", "replace") if body else "",
                   "json": j, "event_type": jd.get("event_type"),
                   "identifier": jd.get("identifier"), "from_id": s("from_id"),
                   "from_date": s("from_date"), "time": time.monotonic(), "wall": time.time(),
                   "request_id": rid, "status": None, "faults": [], "faults_fired": [],
                   "seqs": [], "ce_errors": [], "frames": [], "writes": 0, "sends": 0,
                   "subscribed": False, "opened": False, "stalled": False, "end": None,
                   "ended": None, "revoked": False, "auth": None, "notified_seq": None,
                   "client": list(handler.client_address)}
            self.requests.append(rec)
            self._cv.notify_all()
            return rec

    def reset_requests(self):
        with self._lock:
            self.requests = []

    def requests_json(self):
        with self._lock:
            return json.loads(json.dumps(self.requests, default=str))

    def stream_requests(self, kind=None):
        """Recorded /watch and /replay requests (or only `kind`)."""
        with self._lock:
            return [r for r in self.requests
                    if r["kind"] in ((kind,) if kind else ("watch", "replay"))]

    def header(self, rec, name):
        return httpbase.find_header(rec["headers"], name)

    def wait_for(self, pred, timeout=5.0):
        """Wait until pred(self) is true (evaluated under the lock); raise
        AssertionError on timeout."""
        return httpbase.wait_until(self._cv, lambda: pred(self), timeout, 0.05,
                                   lambda: "aviso emulator: condition not met in %.1fs; "
                                           "requests:\n%s" % (timeout, self._summary()))

    def _summary(self):
        return "\n".join("  #%d %s %s status=%s from_id=%s faults=%s end=%s seqs=%s"
                         % (r["n"], r["method"], r["path"], r["status"], r["from_id"],
                            r["faults"], r["end"], r["seqs"][-5:])
                         for r in self.requests[-20:])

    def wait_requests(self, n, kind=None, timeout=5.0):
        """Wait until at least n requests (of `kind`: "watch", "replay",
        "stream" = both, "notify", ...) were received; returns them."""
        def sel(e):
            if kind is None:
                return list(e.requests)
            if kind == "stream":
                return [r for r in e.requests if r["stream_n"] is not None]
            return [r for r in e.requests if r["kind"] == kind]
        self.wait_for(lambda e: len(sel(e)) >= n, timeout)
        return sel(self)[:n]

    def _stream_rec(self, stream_n):
        for r in self.requests:
            if r["stream_n"] == stream_n:
                return r
        return None

    def wait_stream(self, stream_n, timeout=5.0):
        """Wait until stream request stream_n has written its opening frame
        (subscribed and streaming); returns its record."""
        self.wait_for(lambda e: (e._stream_rec(stream_n) or {}).get("opened"), timeout)
        return self._stream_rec(stream_n)

    def wait_stream_end(self, stream_n, timeout=5.0):
        """Wait until stream request stream_n has ended; returns rec["end"]."""
        self.wait_for(lambda e: (e._stream_rec(stream_n) or {}).get("end") is not None, timeout)
        return self._stream_rec(stream_n)["end"]

    def wait_open(self, n=1, timeout=5.0):
        """Wait until at least n streams are subscribed."""
        return self.wait_for(lambda e: len(e._streams) >= n, timeout)


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description="aviso-server 0.7.1 emulator for tests")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--schema", default=None, help="JSON schema file (default: built-in)")
    ap.add_argument("--dump-schema", action="store_true", help="print the default schema and exit")
    ap.add_argument("--heartbeat", type=float, default=30.0)
    ap.add_argument("--max-duration", type=float, default=None)
    ap.add_argument("--advertised-max-duration", type=int, default=None)
    ap.add_argument("--seq-mode", default="global", choices=["global", "per_type"])
    ap.add_argument("--seq-start", type=int, default=1)
    ap.add_argument("--max-history", type=int, default=None)
    ap.add_argument("--max-history-per-topic", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--replay-batch-delay", type=float, default=0.0)
    ap.add_argument("--max-historical", type=int, default=None)
    ap.add_argument("--limit-form", default="0.7.1", choices=["0.7.1", "new"])
    ap.add_argument("--boundary", default="exact", choices=["exact", "overlap"])
    ap.add_argument("--no-auth", action="store_true")
    ap.add_argument("--auth-mode", default="direct", choices=["direct", "trusted_proxy"])
    ap.add_argument("--tokens", default=None, help="comma-separated tokens or a JSON list/object")
    ap.add_argument("--basic", default=None, help="JSON object user -> password")
    ap.add_argument("--on-token-revoked", default="keep")
    ap.add_argument("--source", default=None)
    ap.add_argument("--time-precision", default="auto")
    ap.add_argument("--script", default="", help="JSON list, @file.json or 'rst:2,503:1,ok'")
    ap.add_argument("--default", default=None, help="fault entry when the script is empty")
    ap.add_argument("--fault-every", type=int, default=0)
    ap.add_argument("--fault-kinds", default="rst")
    ap.add_argument("--notify-every", type=float, default=0.0,
                    help="publish a notification every S seconds (demo)")
    ap.add_argument("--notify-event", default="mars")
    ap.add_argument("--notify-identifier", default="{}", help="JSON; missing keys from examples")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    if a.dump_schema:
        print(json.dumps(DEFAULT_SCHEMA, indent=2))
        return 0
    tokens = None
    if a.tokens:
        t = a.tokens.strip()
        tokens = json.loads(t) if t[:1] in "[{" else [x for x in t.split(",") if x]
    emu = Emulator(schema=a.schema, heartbeat=a.heartbeat, max_duration=a.max_duration,
                   advertised_max_duration=a.advertised_max_duration, seq_mode=a.seq_mode,
                   seq_start=a.seq_start, max_history=a.max_history,
                   max_history_per_topic=a.max_history_per_topic, batch_size=a.batch_size,
                   replay_batch_delay=a.replay_batch_delay, max_historical=a.max_historical,
                   limit_form=a.limit_form, boundary=a.boundary, auth=not a.no_auth,
                   auth_mode=a.auth_mode, tokens=tokens,
                   basic_users=json.loads(a.basic) if a.basic else None,
                   on_token_revoked=a.on_token_revoked, source=a.source,
                   time_precision=a.time_precision, default=a.default,
                   host=a.host, port=a.port, verbose=a.verbose)
    if a.script:
        emu.script(parse_script(a.script))
    if a.fault_every:
        emu.fault_every(a.fault_every, [k for k in a.fault_kinds.split(",") if k])
    sigs = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    print(emu.start(), flush=True)
    ident = json.loads(a.notify_identifier)
    n = 0
    try:
        while True:
            t = a.notify_every if a.notify_every > 0 else 3600
            if signal.sigtimedwait(sigs, t) is not None:
                break
            if a.notify_every > 0:
                n += 1
                try:
                    emu.notify(a.notify_event, ident, payload={"n": n}, fill=True)
                except ValueError as e:
                    sys.stderr.write("aviso-emulator: notify failed: %s\n" % e)
    finally:
        emu.stop(graceful=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
