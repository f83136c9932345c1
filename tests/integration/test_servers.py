"""Self-tests of the integration-test servers in tests/lib/.

    python3 -m unittest tests/integration/test_servers.py     (from the root)
    python3 tests/integration/test_servers.py -v

Checks the nchan facts documented at the top of tests/lib/nchan.py (the
daemon's integration tests are designed from them) and every behaviour of
tests/lib/sse_fault_server.py, with a real client (tests/lib/sseclient.py,
raw sockets) and curl.  No fixed sleeps: waits are conditions with deadlines;
the only timed windows are "nothing more arrives within T" assertions.
"""

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.path.join(os.path.dirname(HERE), "lib")
sys.path.insert(0, LIB)

from nchan import Nchan, NCHAN_MODULE, NGINX  # noqa: E402
from procs import (MAY_SKIP, Workspace, WaitTimeout, free_port, start_process,  # noqa: E402
                   stop_process, wait_for_line, wait_port, wait_until)
from sse_fault_server import FaultServer, parse_scenario  # noqa: E402
from sseclient import SSEClient, SSEParser, parse_stream  # noqa: E402

HAVE_NCHAN = os.path.exists(NCHAN_MODULE) and os.path.exists(NGINX)
HAVE_CURL = shutil.which("curl") is not None
QUIET = 0.3   # window for "nothing (more) arrives" assertions


def chan():
    return "c" + uuid.uuid4().hex[:10]


def pairs(events):
    return [(e.id, e.data) for e in events]


# ---------------------------------------------------------------------------
# nchan
# ---------------------------------------------------------------------------

@unittest.skipUnless(HAVE_NCHAN, "nginx / nchan module not installed (scripts/install-deps)")
class NchanSharedTest(unittest.TestCase):
    """Facts checked on one shared nginx, each test on its own channels."""

    @classmethod
    def setUpClass(cls):
        cls.ws = Workspace(prefix="nchan-selftest-")
        cls.addClassCleanup(cls.ws.cleanup)
        cls.nc = Nchan(cls.ws.mkdir("nginx"))
        cls.addClassCleanup(cls.nc.stop)
        cls.nc.start()

    def sub(self, ch, **kw):
        c = SSEClient(self.nc.sub_url(ch), **kw)
        self.addCleanup(c.close)
        return c

    def test_response_head_and_hello_comment(self):
        c = self.sub(chan())
        self.assertEqual(c.status, 200)
        self.assertEqual(c.headers["content-type"], "text/event-stream; charset=utf-8")
        self.assertNotIn("transfer-encoding", c.headers)
        self.assertNotIn("content-length", c.headers)
        self.assertEqual(c.headers["connection"], "keep-alive")
        c.wait_for(lambda c: len(c.raw_body) >= 6)
        self.assertEqual(bytes(c.raw_body), b": hi\n\n")

    def test_accept_header_required(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.nc.port, timeout=5)
        self.addCleanup(conn.close)
        conn.request("GET", "/sub/" + chan())
        r = conn.getresponse()
        self.assertEqual(r.status, 403)
        self.assertEqual(r.read(), b"")

    def test_exact_message_bytes(self):
        ch = chan()
        i1 = self.nc.publish(ch, "hello")
        i2 = self.nc.publish(ch, "line1\nline2", event="myev")
        i3 = self.nc.publish(ch, "")
        i4 = self.nc.publish(ch, "trail\n")
        for i in (i1, i2, i3, i4):
            self.assertRegex(i, r"^\d+:\d+$")
        c = self.sub(ch)
        c.wait_events(4)
        want = (": hi\n\n"
                "id: %s\ndata: hello\n\n"
                "event: myev\nid: %s\ndata: line1\ndata: line2\n\n"
                "id: %s\ndata: \n\n"
                "id: %s\ndata: trail\ndata: \n\n" % (i1, i2, i3, i4)).encode()
        self.assertEqual(bytes(c.raw_body), want)
        self.assertEqual([(e.event, e.id, e.data) for e in c.events],
                         [("message", i1, "hello"), ("myev", i2, "line1\nline2"),
                          ("message", i3, ""), ("message", i4, "trail\n")])
        self.assertEqual(c.parser.retries, [])   # nchan never sends retry:

    def test_ids_ordered_within_and_across_seconds(self):
        ch = chan()
        ids = [self.nc.publish(ch, "m%d" % i) for i in range(5)]
        keys = [tuple(map(int, i.split(":"))) for i in ids]
        self.assertEqual(keys, sorted(keys))
        self.assertEqual(len(set(keys)), 5)

    def test_buffered_without_subscriber_and_resume_is_exclusive(self):
        ch = chan()
        ids = [self.nc.publish(ch, "m%d" % i) for i in range(4)]
        # fresh subscriber: everything buffered (first_message = oldest)
        c = self.sub(ch)
        self.assertEqual(pairs(c.wait_events(4)),
                         list(zip(ids, ["m0", "m1", "m2", "m3"])))
        # resume after ids[1]: starts with ids[2]
        c2 = self.sub(ch, last_event_id=ids[1])
        self.assertEqual(pairs(c2.wait_events(2)), [(ids[2], "m2"), (ids[3], "m3")])
        self.assertEqual(c2.ensure_quiet(QUIET), [])
        # resume from the newest: nothing, then live messages
        c3 = self.sub(ch, last_event_id=ids[3])
        self.assertEqual(c3.ensure_quiet(QUIET), [])
        i5 = self.nc.publish(ch, "live")
        self.assertEqual(pairs(c3.wait_events(1)), [(i5, "live")])
        # the query argument works like the header
        c4 = SSEClient(self.nc.sub_url(ch) + "?last_event_id=" + ids[2])
        self.addCleanup(c4.close)
        self.assertEqual([e.data for e in c4.wait_events(2)], ["m3", "live"])

    def test_unknown_or_old_ids_replay_everything(self):
        ch = chan()
        ids = [self.nc.publish(ch, "m%d" % i) for i in range(3)]
        for lei in ("", "garbage", "0:0", "1000000000:0"):
            with self.subTest(lei=lei):
                c = self.sub(ch, last_event_id=lei)
                self.assertEqual([e.id for e in c.wait_events(3)], ids)

    def test_id_ahead_of_channel_starves(self):
        ch = chan()
        last = self.nc.publish(ch, "g0")
        sec, n = map(int, last.split(":"))
        ahead = self.sub(ch, last_event_id="%d:%d" % (sec, n + 5))
        future = self.sub(ch, last_event_id="%d:0" % (sec + 100000))
        new = [self.nc.publish(ch, "g%d" % i) for i in range(1, 9)]
        # the "ahead" subscriber only gets ids greater than its id (all of
        # them when the publishes crossed into the next second)
        want = [i for i in new if tuple(map(int, i.split(":"))) > (sec, n + 5)]
        if want:
            ahead.wait_events(len(want))
        self.assertEqual(ahead.ensure_quiet(QUIET), [])
        self.assertEqual([e.id for e in ahead.events], want)
        self.assertEqual(future.events, [])

    def test_future_id_on_new_channel_gets_everything(self):
        ch = chan()
        c = self.sub(ch, last_event_id="%d:0" % (int(time.time()) + 100000))
        ids = [self.nc.publish(ch, "x%d" % i) for i in range(2)]
        self.assertEqual([e.id for e in c.wait_events(2)], ids)

    def test_delete_channel_sends_410_then_eof(self):
        ch = chan()
        self.nc.publish(ch, "x")
        c = self.sub(ch)
        c.wait_events(1)
        self.assertEqual(self.nc.delete(ch), 200)
        self.assertEqual(c.wait_closed(5), "eof")
        self.assertTrue(bytes(c.raw_body).endswith(b"\n\n:410: 410 Gone\n\n"))

    def test_publisher_status_codes(self):
        ch = chan()

        def pub():
            conn = http.client.HTTPConnection("127.0.0.1", self.nc.port, timeout=5)
            conn.request("POST", "/pub/" + ch, body=b"x")
            r = conn.getresponse()
            r.read()
            conn.close()
            return r.status
        self.assertEqual(pub(), 202)          # no subscriber
        c = self.sub(ch)
        c.wait_events(1)
        self.assertEqual(pub(), 201)          # one subscriber
        c.wait_events(2)

    def test_large_message(self):
        ch = chan()
        big = "y" * 200000
        self.nc.publish(ch, big)
        c = self.sub(ch)
        self.assertEqual(c.wait_events(1)[0].data, big)

    @unittest.skipUnless(HAVE_CURL, "curl missing")
    def test_curl_sees_stream(self):
        ch = chan()
        i = self.nc.publish(ch, "via curl")
        want = (": hi\n\nid: %s\ndata: via curl\n\n" % i).encode()
        ws = Workspace()
        self.addCleanup(ws.cleanup)
        with open(ws.path("curl.out"), "wb") as out:
            p = subprocess.Popen(["curl", "-sN", "-H", "Accept: text/event-stream", self.nc.sub_url(ch)],
                                 stdout=out, stderr=subprocess.DEVNULL)
        self.addCleanup(stop_process, p)

        def got():
            with open(ws.path("curl.out"), "rb") as f:
                return f.read()
        wait_until(lambda: len(got()) >= len(want), 10)
        self.assertEqual(got(), want)
        self.assertIsNone(p.poll())     # the stream does not end by itself


@unittest.skipUnless(HAVE_NCHAN, "nginx / nchan module not installed (scripts/install-deps)")
class NchanLifecycleTest(unittest.TestCase):
    """Each test runs its own nginx."""

    def nchan(self, **kw):
        ws = Workspace(prefix="nchan-selftest-")
        self.addCleanup(ws.cleanup)
        nc = Nchan(ws.mkdir("nginx"), **kw)
        self.addCleanup(nc.stop)
        nc.start()
        return nc

    def sub(self, url, **kw):
        c = SSEClient(url, **kw)
        self.addCleanup(c.close)
        return c

    def test_layout_and_own_process_group(self):
        nc = self.nchan()
        self.assertTrue(os.path.exists(os.path.join(nc.dir, "nginx.pid")))
        with open(os.path.join(nc.dir, "nginx.pid")) as f:
            self.assertEqual(int(f.read()), nc.pid)
        self.assertTrue(os.path.exists(nc.error_log))
        self.assertEqual(os.getpgid(nc.pid), nc.pid)
        with open(os.path.join(nc.dir, "nginx.conf")) as f:
            conf = f.read()
        self.assertIn("load_module %s;" % NCHAN_MODULE, conf)
        self.assertIn("listen 127.0.0.1:%d;" % nc.port, conf)
        pid = nc.pid
        nc.stop()
        self.assertFalse(Nchan._group_alive(pid))

    def test_ping_formats(self):
        default = self.nchan(ping_interval=1)
        comment = self.nchan(ping_interval=1, ping_event="", ping_comment="keepalive")
        a = self.sub(default.sub_url("p"))
        b = self.sub(comment.sub_url("p"))
        self.assertTrue(a.wait_for(lambda c: b"event: ping\n\n" in c.raw_body, 5))
        self.assertTrue(b.wait_for(lambda c: b":keepalive\n\n" in c.raw_body, 5))
        self.assertEqual(bytes(a.raw_body[:len(b": hi\n\nevent: ping\n\n")]),
                         b": hi\n\nevent: ping\n\n")
        self.assertEqual(a.events, [])      # data-less block: nothing dispatched
        self.assertEqual(b.events, [])
        self.assertIn("keepalive", b.comments)

    def test_eviction_is_a_silent_gap(self):
        nc = self.nchan(buffer_length=3)
        ids = [nc.publish("e", "m%d" % i) for i in range(6)]
        c = self.sub(nc.sub_url("e"), last_event_id=ids[0])
        self.assertEqual([e.data for e in c.wait_events(3)], ["m3", "m4", "m5"])
        self.assertEqual(c.ensure_quiet(QUIET), [])

    def test_stop_sigterm_and_sigquit_send_410_then_fin(self):
        for sig in (signal.SIGTERM, signal.SIGQUIT):
            with self.subTest(sig=sig):
                nc = self.nchan()
                nc.publish("a", "one")
                c = self.sub(nc.sub_url("a"))
                c.wait_events(1)
                nc.stop(sig=sig)
                self.assertEqual(c.wait_closed(5), "eof")
                self.assertTrue(bytes(c.raw_body).endswith(b"data: one\n\n:410: 410 Gone\n\n"))

    def test_kill_gives_plain_eof(self):
        nc = self.nchan()
        nc.publish("a", "one")
        c = self.sub(nc.sub_url("a"))
        c.wait_events(1)
        nc.kill()
        self.assertEqual(c.wait_closed(5), "eof")
        self.assertTrue(bytes(c.raw_body).endswith(b"data: one\n\n"))

    @unittest.skipUnless(HAVE_CURL, "curl missing")
    def test_curl_exit_status_is_0_when_nginx_stops(self):
        nc = self.nchan()
        nc.publish("a", "x")
        p = subprocess.Popen(["curl", "-sSN", "-H", "Accept: text/event-stream",
                              nc.sub_url("a")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.addCleanup(stop_process, p)
        wait_until(lambda: nc.status().get("subscribers") == "1", 5)
        nc.stop()
        out, _ = p.communicate(timeout=5)
        self.assertEqual(p.returncode, 0)   # close-delimited body: CURLE_OK
        self.assertTrue(out.endswith(b":410: 410 Gone\n\n"))

    def test_restart_same_port_old_id_gets_all_new_messages(self):
        nc = self.nchan()
        port = nc.port
        old = [nc.publish("a", "old%d" % i) for i in range(3)]
        c = self.sub(nc.sub_url("a"))
        c.wait_events(3)
        nc.restart()
        self.assertEqual(nc.port, port)
        self.assertEqual(c.wait_closed(5), "eof")
        # the channel is gone; a resuming subscriber gets nothing old ...
        r = self.sub(nc.sub_url("a"), last_event_id=old[-1])
        self.assertEqual(r.ensure_quiet(QUIET), [])
        self.assertEqual(bytes(r.raw_body), b": hi\n\n")
        new = [nc.publish("a", "new%d" % i) for i in range(3)]
        self.assertGreater(tuple(map(int, new[0].split(":"))),
                           tuple(map(int, old[-1].split(":"))))
        # ... then every new message
        self.assertEqual(pairs(r.wait_events(3)),
                         list(zip(new, ["new0", "new1", "new2"])))
        # a subscriber connecting later with the old id: all new messages
        late = self.sub(nc.sub_url("a"), last_event_id=old[1])
        self.assertEqual([e.id for e in late.wait_events(3)], new)

    def test_restart_within_same_second_reuses_ids(self):
        """The hazard restart(new_second=False) can reproduce: new ids equal
        old ones, and a subscriber resuming from an old id skips them."""
        nc = self.nchan()
        for attempt in range(5):
            wait_until(lambda: time.time() % 1.0 < 0.5, 2, 0.005)
            old = [nc.publish("a", "o%d" % i) for i in range(3)]
            nc.restart(new_second=False)
            first = nc.publish("a", "n0")
            if first.split(":")[0] != old[0].split(":")[0]:
                continue   # crossed a second boundary: try again
            self.assertEqual(first, old[0])             # id reused
            c = self.sub(nc.sub_url("a"), last_event_id=old[2])
            more = [nc.publish("a", "n%d" % i) for i in range(1, 5)]
            # n0..n2 have ids <= old[2]: skipped
            want = [d for i, d in zip([first] + more, ["n0", "n1", "n2", "n3", "n4"])
                    if tuple(map(int, i.split(":"))) > tuple(map(int, old[2].split(":")))]
            c.wait_events(len(want))
            self.assertEqual(c.ensure_quiet(QUIET), [])
            got = [e.data for e in c.events]
            self.assertEqual(got, want)
            self.assertNotIn("n0", got)
            return
        self.skipTest(MAY_SKIP + "could not keep a restart within one second")

    def test_cli(self):
        ws = Workspace()
        self.addCleanup(ws.cleanup)
        p = start_process([sys.executable, os.path.join(LIB, "nchan.py"),
                           "--dir", ws.mkdir("n")], ws.path("cli"))
        self.addCleanup(stop_process, p)
        m = p.wait_line(r"^http://127\.0\.0\.1:(\d+)$", timeout=10, stream="out")
        port = int(m.group(1))
        c = SSEClient("http://127.0.0.1:%d/sub/x" % port)
        self.addCleanup(c.close)
        c.wait_for(lambda c: len(c.raw_body) >= 6)
        m2 = p.wait_line(r"pid=(\d+)", stream="err")
        nginx_pid = int(m2.group(1))
        self.assertEqual(stop_process(p), 0)
        self.assertEqual(c.wait_closed(5), "eof")
        self.assertFalse(Nchan._group_alive(nginx_pid))


# ---------------------------------------------------------------------------
# fault server
# ---------------------------------------------------------------------------

class FaultServerTest(unittest.TestCase):

    def server(self, script=None, **kw):
        fs = FaultServer(script=script, **kw)
        self.addCleanup(fs.stop)
        fs.start()
        return fs

    def sub(self, url, **kw):
        c = SSEClient(url, **kw)
        self.addCleanup(c.close)
        return c

    def test_sequence_resume_and_recorded_request(self):
        fs = self.server(["end:"], initial_events=5)
        c = self.sub(fs.url, headers={"X-Test": "1"})
        self.assertEqual(c.wait_closed(), "eof")
        self.assertTrue(c.complete)
        self.assertEqual(pairs(c.events), [(str(i), "event %d" % i) for i in range(1, 6)])
        r = self.sub(fs.url, last_event_id="3")
        self.assertEqual(pairs(r.wait_events(2)), [("4", "event 4"), ("5", "event 5")])
        fs.wait_requests(2)
        q0, q1 = fs.requests[0], fs.requests[1]
        self.assertEqual(q0["method"], "GET")
        self.assertEqual(q0["path"], "/events")
        self.assertIsNone(q0["last_event_id"])
        self.assertEqual(q1["last_event_id"], "3")
        self.assertEqual(fs.header(0, "x-test"), "1")
        self.assertEqual(fs.header(1, "ACCEPT"), "text/event-stream")
        self.assertEqual(q0["end"], "end")
        self.assertEqual(q0["sent_ids"], ["1", "2", "3", "4", "5"])
        self.assertLessEqual(q0["time"], q1["time"])
        self.assertEqual(c.headers["content-type"], "text/event-stream")
        self.assertEqual(c.headers["transfer-encoding"], "chunked")

    def test_live_push_to_all_and_resume_gets_missed(self):
        fs = self.server(initial_events=1)
        a, b = self.sub(fs.url), self.sub(fs.url)
        a.wait_events(1)
        b.wait_events(1)
        fs.wait_live(2)
        ev = fs.push("hello", event="greet")
        self.assertEqual(ev["id"], "2")
        self.assertEqual([(e.event, e.id, e.data) for e in a.wait_events(2)][1],
                         ("greet", "2", "hello"))
        b.wait_events(2)
        b.close()
        fs.wait_ended(1)
        fs.push_many(["x", "y"])
        fs.push("no id", id=False)
        a.wait_events(5)
        self.assertEqual(a.events[-1].data, "no id")
        self.assertEqual(a.events[-1].id, "4")    # sticky id, none sent
        self.assertFalse(a.events[-1].id_field)
        r = self.sub(fs.url, last_event_id="2")
        self.assertEqual([e.data for e in r.wait_events(3)], ["x", "y", "no id"])
        self.assertEqual(fs.requests[1]["end"], "client-closed")

    def test_drop_rst_mid_stream(self):
        fs = self.server(["rst:2"], initial_events=5)
        c = self.sub(fs.url)
        self.assertEqual(c.wait_closed(), "rst")
        self.assertEqual([e.id for e in c.events], ["1", "2"])
        self.assertEqual(fs.wait_ended(0), "rst")

    def test_drop_fin_mid_chunked_body(self):
        fs = self.server(["fin:2"], initial_events=5)
        c = self.sub(fs.url)
        self.assertEqual(c.wait_closed(), "eof")
        self.assertFalse(c.complete)          # no terminating chunk
        self.assertEqual([e.id for e in c.events], ["1", "2"])

    def test_close_delimited_transfer(self):
        fs = self.server([{"events": 2, "after": "fin", "transfer": "close"}],
                         initial_events=3)
        c = self.sub(fs.url)
        self.assertEqual(c.wait_closed(), "eof")
        self.assertNotIn("transfer-encoding", c.headers)
        self.assertEqual(c.headers["connection"], "close")
        self.assertEqual([e.id for e in c.events], ["1", "2"])

    def test_tail_partial_event_is_discarded(self):
        fs = self.server([{"events": 1, "after": "fin", "tail": "id: 99\ndata: half"}],
                         initial_events=2)
        c = self.sub(fs.url)
        c.wait_closed()
        self.assertTrue(bytes(c.raw_body).endswith(b"id: 99\ndata: half"))
        self.assertEqual([e.id for e in c.events], ["1"])

    def test_stall_keeps_socket_open_and_silent(self):
        fs = self.server(["stall:1"], initial_events=3)
        c = self.sub(fs.url)
        c.wait_events(1)
        n = len(c.raw_body)
        self.assertEqual(c.ensure_quiet(QUIET), [])
        self.assertEqual(len(c.raw_body), n)
        self.assertIsNone(c.end)
        fs.push("not sent")                  # a stalled stream ignores pushes
        self.assertEqual(c.ensure_quiet(QUIET), [])
        c.close()
        self.assertEqual(fs.wait_ended(0), "client-closed")

    def test_hang_before_headers(self):
        fs = self.server(["hang"])
        with self.assertRaises(OSError):   # socket.timeout is an OSError
            SSEClient(fs.url, timeout=QUIET)
        fs.wait_requests(1)
        self.assertIsNone(fs.requests[0]["status"])

    def test_delay_before_headers(self):
        fs = self.server([{"delay": 0.2, "events": 0, "after": "end"}])
        t = time.monotonic()
        c = self.sub(fs.url)
        self.assertGreaterEqual(time.monotonic() - t, 0.19)
        self.assertEqual(c.status, 200)

    def test_split_frames_reassemble(self):
        fs = self.server(["split"], initial_events=4,
                         data_template="first {n}\nsecond line {n}")
        c = self.sub(fs.url, last_event_id="1")
        c.wait_events(3)
        fs.push("pushed")
        evs = c.wait_events(4)
        self.assertEqual(pairs(evs), [("2", "first 2\nsecond line 2"),
                                      ("3", "first 3\nsecond line 3"),
                                      ("4", "first 4\nsecond line 4"),
                                      ("5", "pushed")])
        # 1-3 bytes per send (the client may still read several at once)
        body_len = len(c.raw_body)
        self.assertGreaterEqual(fs.requests[0]["sends"], body_len // 3)
        self.assertGreater(fs.requests[0]["sends"], fs.requests[0]["writes"])

    def test_merge_sends_backlog_in_one_write(self):
        fs = self.server(["merge"], initial_events=6)
        c = self.sub(fs.url)
        c.wait_events(6)
        self.assertEqual(fs.requests[0]["writes"], 1)
        fs.push_many([3])
        self.assertEqual([e.id for e in c.wait_events(9)],
                         [str(i) for i in range(1, 10)])
        self.assertEqual(fs.requests[0]["writes"], 2)

    def test_status_codes(self):
        cases = [("500", 500, None), ("502", 502, None), ("503", 503, None),
                 ("503:7", 503, "7"), ("429:3", 429, "3"), ("404", 404, None),
                 ("400", 400, None), ("403", 403, None), ("401", 401, None)]
        fs = self.server([c[0] for c in cases] + ["204"])
        for i, (spec, code, ra) in enumerate(cases):
            with self.subTest(spec=spec):
                c = self.sub(fs.url)
                self.assertEqual(c.status, code)
                self.assertEqual(c.headers.get("retry-after"), ra)
                self.assertEqual(c.wait_closed(), "eof")
                self.assertTrue(c.complete)
                self.assertEqual(fs.requests[i]["status"], code)
        c = self.sub(fs.url)
        self.assertEqual(c.status, 204)
        self.assertEqual(c.wait_closed(), "eof")
        self.assertNotIn("content-length", c.headers)
        self.assertNotIn("content-type", c.headers)
        self.assertEqual(bytes(c.raw_body), b"")

    def test_wrong_content_type(self):
        fs = self.server(["ctype:text/plain", "ctype:application/json",
                          {"content_type": None, "events": 1, "after": "end"}],
                         initial_events=1)
        for want in ("text/plain", "application/json", None):
            c = self.sub(fs.url)
            self.assertEqual(c.status, 200)
            self.assertEqual(c.headers.get("content-type"), want)
            c.wait_events(1)
            c.close()

    def test_200_then_immediate_close(self):
        fs = self.server(["close", "close"], initial_events=3)
        for _ in range(2):
            c = self.sub(fs.url)
            self.assertEqual(c.status, 200)
            self.assertEqual(c.wait_closed(), "eof")
            self.assertTrue(c.complete)
            self.assertEqual(bytes(c.raw_body), b"")

    def test_retry_comments_heartbeat(self):
        fs = self.server([{"retry": 1500, "preamble": [": hello", ""],
                           "interleave": ":c\n", "heartbeat": 0.05,
                           "heartbeat_text": ":hb\n"}], initial_events=2)
        c = self.sub(fs.url)
        c.wait_events(2)
        self.assertTrue(c.wait_for(lambda c: c.parser.comments.count("hb") >= 2, 5))
        self.assertEqual(c.parser.retries, [1500])
        self.assertEqual(c.comments[:3], [" hello", "c", "c"])
        self.assertTrue(bytes(c.raw_body).startswith(b"retry: 1500\n: hello\n\n:c\nid: 1\n"))

    def test_line_endings_and_bom(self):
        for spec, le in (("crlf", b"\r\n"), ("cr", b"\r"),
                         ({"bom": True, "chunking": "split"}, b"\n"),
                         ({"bom": True, "line_ending": "\r\n", "chunking": "split"}, b"\r\n")):
            with self.subTest(spec=spec):
                fs = self.server([spec], initial_events=2,
                                 data_template="a {n}\nb {n}")
                c = self.sub(fs.url)
                evs = c.wait_events(2)
                self.assertEqual(pairs(evs), [("1", "a 1\nb 1"), ("2", "a 2\nb 2")])
                # the 2nd event dispatches at the CR of its final CRLF; wait
                # for the LF as well
                self.assertTrue(c.wait_for(
                    lambda c: bytes(c.raw_body).count(le + le) >= 2))
                body = bytes(c.raw_body)
                if isinstance(spec, dict) and spec.get("bom"):
                    self.assertTrue(body.startswith(b"\xef\xbb\xbfid: 1" + le))
                else:
                    self.assertTrue(body.startswith(b"id: 1" + le))
                self.assertEqual(body.count(le + le), 2)

    def test_drop_live_streams(self):
        fs = self.server(initial_events=1)
        a, b = self.sub(fs.url), self.sub(fs.url)
        a.wait_events(1)
        b.wait_events(1)
        fs.wait_live(2)
        self.assertEqual(fs.drop("rst"), 2)
        self.assertEqual(a.wait_closed(), "rst")
        self.assertEqual(b.wait_closed(), "rst")
        self.assertEqual(fs.wait_ended(0), "dropped-rst")
        c = self.sub(fs.url, last_event_id="1")
        fs.wait_stream(2)
        self.assertEqual(fs.drop("end", n=2), 1)
        self.assertEqual(c.wait_closed(), "eof")
        self.assertTrue(c.complete)

    def test_script_next_and_keepalive_after_end(self):
        fs = self.server(initial_events=2)
        fs.script_next("503:1", "end:1")
        self.assertEqual(self.sub(fs.url).status, 503)
        c = self.sub(fs.url)
        self.assertEqual([e.id for e in c.wait_events(1)], ["1"])
        self.assertEqual(c.wait_closed(), "eof")
        c3 = self.sub(fs.url)                  # back to the default: live
        c3.wait_events(2)
        self.assertIsNone(c3.end)

    def test_stop_and_restart_same_port(self):
        fs = self.server(initial_events=2)
        port = fs.port
        c = self.sub(fs.url)
        c.wait_events(2)
        fs.stop()
        self.assertEqual(c.wait_closed(), "eof")
        self.assertEqual(fs.requests[0]["end"], "server-stop")
        with self.assertRaises(ConnectionRefusedError):
            SSEClient(fs.url, timeout=2)
        fs.start()
        self.assertEqual(fs.port, port)
        r = self.sub(fs.url, last_event_id="2")
        fs.wait_stream(1)
        fs.push("after restart")
        self.assertEqual(pairs(r.wait_events(1)), [("3", "after restart")])

    def test_resume_policies(self):
        fs = self.server([{"resume": "ignore", "after": "end"},
                          {"resume": 3, "after": "end"}], initial_events=5)
        a = self.sub(fs.url, last_event_id="4")
        a.wait_closed()
        self.assertEqual([e.id for e in a.events], ["1", "2", "3", "4", "5"])
        b = self.sub(fs.url, last_event_id="1")
        b.wait_closed()
        self.assertEqual([e.id for e in b.events], ["4", "5"])

    def test_post_body_recorded(self):
        fs = self.server(["end:1"], initial_events=1)
        c = self.sub(fs.url, method="POST", body=b'{"a": 1}',
                     headers={"Content-Type": "application/json"})
        c.wait_closed()
        self.assertEqual(fs.requests[0]["method"], "POST")
        self.assertEqual(fs.requests[0]["body"], '{"a": 1}')

    @unittest.skipUnless(HAVE_CURL, "curl missing")
    def test_curl_exit_codes(self):
        fs = self.server(["end:1", "fin:1", "rst:1", "503:2"], initial_events=2)
        want = [(0, b"id: 1\ndata: event 1\n\n"), (18, b"id: 1\ndata: event 1\n\n"),
                (56, b"id: 1\ndata: event 1\n\n"), (22, b"")]
        for i, (rc, out) in enumerate(want):
            with self.subTest(n=i):
                p = subprocess.run(["curl", "-sfN", "--max-time", "5", fs.url],
                                   capture_output=True, timeout=10)
                self.assertEqual((p.returncode, p.stdout), (rc, out))

    def test_parse_scenario_forms(self):
        self.assertEqual(parse_scenario("500,rst:2,live,429:3,close"),
                         [{"status": 500}, {"after": "rst", "events": 2}, {},
                          {"status": 429, "headers": {"Retry-After": "3"}},
                          {"events": 0, "after": "end"}])
        self.assertEqual(parse_scenario('[{"status": 502}, "stall:1"]'),
                         [{"status": 502}, {"after": "stall", "events": 1}])
        self.assertEqual(parse_scenario('{"status": 401}'), [{"status": 401}])

    def test_cli_and_control_api(self):
        ws = Workspace()
        self.addCleanup(ws.cleanup)
        p = start_process([sys.executable, os.path.join(LIB, "sse_fault_server.py"),
                           "--port", "0", "--events", "2", "--scenario", "503:1"],
                          ws.path("fault"))
        self.addCleanup(stop_process, p)
        m = p.wait_line(r"^(http://127\.0\.0\.1:(\d+))/events$", timeout=10, stream="out")
        base, url = m.group(1), m.group(0)

        def ctl(method, what, body=b"", headers=None):
            conn = http.client.HTTPConnection("127.0.0.1", int(m.group(2)), timeout=5)
            conn.request(method, "/_control/" + what, body=body, headers=headers or {})
            r = conn.getresponse()
            data = json.loads(r.read())
            conn.close()
            return r.status, data
        self.assertEqual(self.sub(url).status, 503)
        c = self.sub(url, last_event_id="1")
        c.wait_events(1)
        wait_until(lambda: ctl("GET", "live")[1]["live"] == 1)
        self.assertEqual(ctl("POST", "push?event=e1", b"pushed")[0], 200)
        self.assertEqual(ctl("POST", "push", b"b", {"X-Batch": "2"})[1][1]["id"], "5")
        evs = c.wait_events(4)
        self.assertEqual([(e.event, e.id, e.data) for e in evs],
                         [("message", "2", "event 2"), ("e1", "3", "pushed"),
                          ("message", "4", "b"), ("message", "5", "b")])
        ctl("POST", "raw", b": raw comment\n")
        c.wait_for(lambda c: " raw comment" in c.parser.comments)
        st, reqs = ctl("GET", "requests")
        self.assertEqual([r["last_event_id"] for r in reqs], [None, "1"])
        self.assertEqual(reqs[0]["status"], 503)
        self.assertEqual(ctl("POST", "drop?how=fin")[1]["dropped"], 1)
        self.assertEqual(c.wait_closed(), "eof")
        ctl("POST", "reset")
        ctl("POST", "script", b"429:9")
        r = self.sub(url)
        self.assertEqual((r.status, r.headers["retry-after"]), (429, "9"))
        self.assertEqual(len(ctl("GET", "events")[1]), 5)
        self.assertEqual(ctl("GET", "nope")[0], 404)
        self.assertEqual(stop_process(p), 0)


# ---------------------------------------------------------------------------
# procs / sseclient helpers
# ---------------------------------------------------------------------------

class HelpersTest(unittest.TestCase):

    def test_wait_until(self):
        t0 = time.monotonic()
        self.assertEqual(wait_until(lambda: time.monotonic() - t0 > 0.05 and "ok", 2), "ok")
        with self.assertRaises(WaitTimeout):
            wait_until(lambda: False, 0.05)

    def test_process_lines_and_stop(self):
        ws = Workspace()
        self.addCleanup(ws.cleanup)
        p = start_process(["sh", "-c", "echo starting; echo err >&2; "
                           "trap 'echo bye; exit 3' TERM; echo ready; "
                           "while :; do sleep 0.05; done"], ws.path("sh"))
        self.addCleanup(stop_process, p)
        self.assertEqual(p.wait_line(r"^read(y)$").group(1), "y")
        wait_for_line(p.err, "err")
        with self.assertRaises(WaitTimeout):
            wait_for_line(p.out, "never", timeout=0.05)
        self.assertEqual(stop_process(p), 3)
        self.assertIn("bye", p.stdout())

    def test_stop_escalates_to_sigkill(self):
        ws = Workspace()
        self.addCleanup(ws.cleanup)
        p = start_process(["sh", "-c", "trap '' TERM; echo up; "
                           "while :; do sleep 0.05; done"], ws.path("stubborn"))
        self.addCleanup(stop_process, p)
        p.wait_line("up")
        self.assertEqual(stop_process(p, timeout=0.2), -signal.SIGKILL)

    def test_exit_before_line_fails_fast(self):
        ws = Workspace()
        self.addCleanup(ws.cleanup)
        p = start_process(["sh", "-c", "echo nope; exit 4"], ws.path("x"))
        self.addCleanup(stop_process, p)
        t = time.monotonic()
        with self.assertRaisesRegex(WaitTimeout, "exited with 4"):
            p.wait_line("ready", timeout=5)
        self.assertLess(time.monotonic() - t, 4)

    def test_free_port_and_wait_port(self):
        fs = FaultServer(port=free_port())
        self.addCleanup(fs.stop)
        fs.start()
        wait_port(fs.port)

    def test_parser_edge_cases(self):
        p = parse_stream(b"\xef\xbb\xbfdata: a\r\ndata:b\rid: 7\n\n"
                         b"id: 8\n\n"
                         b"retry: 03000\nretry: 1x\n: c\ndata\n\n"
                         b"id: x\x00y\ndata: z\n\ndata: partial")
        self.assertEqual([(e.id, e.data) for e in p.events],
                         [("7", "a\nb"), ("8", ""), ("8", "z")])
        self.assertEqual(p.id_only_blocks, ["8"])
        self.assertEqual(p.retries, [3000])
        # the same bytes fed one at a time give the same result
        q = SSEParser()
        for b in (b"\xef\xbb\xbfdata: a\r\ndata:b\rid: 7\n\n"):
            q.feed(bytes([b]))
        self.assertEqual([(e.id, e.data) for e in q.events], [("7", "a\nb")])


if __name__ == "__main__":
    unittest.main()
