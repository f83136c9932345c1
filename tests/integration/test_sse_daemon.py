"""ssewatchd with `protocol: sse` listeners, end to end, against a real
nginx + nchan and the project's fault-injecting SSE server.

Every wait is on an observable condition (a trigger's output, a log line, a
request reaching the server); nothing sleeps in place of an event.
"""

import http.client
import json
import os
import random
import resource
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from daemon import RECORD, Daemon, read_records, record_trigger, under_valgrind  # noqa: E402
from nchan import Nchan  # noqa: E402
from procs import MAY_SKIP, Workspace, wait_until  # noqa: E402
from post_sink import PostSink  # noqa: E402
from sse_fault_server import FaultServer  # noqa: E402

# Volume tests scale down under valgrind, which is ~50x slower.
VOLUME = int(os.environ.get("SSEWATCHD_TEST_VOLUME", "10000" if not under_valgrind() else "300"))
# `make torture` raises this to 100.
KILLS = int(os.environ.get("SSEWATCHD_TEST_KILLS", "10"))
# make torture runs the SIGKILL test with each commit mode.
COMMIT = os.environ.get("SSEWATCHD_TEST_COMMIT", "per_event")


def sse_listener(name, url, out, **extra):
    l = {"name": name, "protocol": "sse", "url": url, "triggers": [record_trigger(out)]}
    l.update(extra)
    return l


class Publisher:
    """Publishes to nchan over one keep-alive connection (fast enough for 10k)."""

    def __init__(self, nchan, channel):
        u = urllib.parse.urlsplit(nchan.base_url)
        self.host, self.port = u.hostname, u.port
        self.path = "/pub/" + channel
        self.conn = None

    def publish(self, data):
        for attempt in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                self.conn.request("POST", self.path, body=data.encode())
                r = self.conn.getresponse()
                r.read()
                if r.status not in (201, 202):
                    raise AssertionError("publish answered %d" % r.status)
                return
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


def data_of(records):
    return [d for _, d in records]


class NchanTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ws = Workspace()
        cls.nchan = Nchan(cls.ws.path("nchan"))
        cls.nchan.start()

    @classmethod
    def tearDownClass(cls):
        cls.nchan.cleanup()
        cls.ws.cleanup()

    def setUp(self):
        self.ws = Workspace()
        self.addCleanup(self.ws.cleanup)
        self.channel = "%s-%d" % (self._testMethodName, os.getpid())
        self.out = self.ws.path("out.txt")

    def daemon(self, **extra):
        d = Daemon(self.ws, [sse_listener("nchan", self.nchan.sub_url(self.channel), self.out, **extra)])
        self.addCleanup(d.cleanup)
        return d

    def wait_records(self, n, timeout=30.0):
        return wait_until(lambda: len(read_records(self.out)) >= n and read_records(self.out), timeout,
                          message="expected %d trigger runs, have %d" % (n, len(read_records(self.out))))

    def test_events_run_the_trigger_once_each_in_order(self):
        d = self.daemon()
        d.start()
        d.wait_log(r"nchan: connected")
        pub = Publisher(self.nchan, self.channel)
        for i in range(20):
            pub.publish("message %d" % i)
        pub.close()
        recs = self.wait_records(20)
        self.assertEqual(data_of(recs), ["message %d" % i for i in range(20)])
        # nchan ids are "<second>:<index>"; each reached the trigger's environment.
        for eid, _ in recs:
            self.assertRegex(eid, r"^\d+:\d+$")
        self.assertEqual(d.stop(), 0)
        self.assertEqual(len(read_records(self.out)), 20)

    def test_replay_runs_the_events_after_from_up_to_to_and_leaves_the_state_alone(self):
        ids = [self.nchan.publish(self.channel, "m%d" % i) for i in range(6)]
        d = self.daemon()
        r = d.run_command("replay", "nchan", "--from", ids[1], "--to", ids[4])
        self.assertEqual(r.returncode, 0, r.stderr)
        recs = read_records(self.out)
        self.assertEqual(recs, [(ids[i], "m%d" % i) for i in (2, 3, 4)])
        self.assertIn("replay nchan: 3 notification(s), 0 trigger run(s) failed", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(d.state_dir, "nchan.json")))

    def test_resume_with_last_event_id_across_a_daemon_restart(self):
        d = self.daemon()
        pub = Publisher(self.nchan, self.channel)
        d.start()
        d.wait_log(r"nchan: connected")
        for i in range(5):
            pub.publish("before %d" % i)
        recs = self.wait_records(5)
        self.assertEqual(d.stop(), 0)
        # Published while the daemon is down: nchan buffers them.
        for i in range(5):
            pub.publish("while down %d" % i)
        d.start()
        d.wait_log(r"connected \(resuming after %s\)" % recs[-1][0])
        for i in range(5):
            pub.publish("after %d" % i)
        pub.close()
        recs = self.wait_records(15)
        self.assertEqual(data_of(recs), ["before %d" % i for i in range(5)] +
                         ["while down %d" % i for i in range(5)] + ["after %d" % i for i in range(5)])
        self.assertEqual(d.stop(), 0)

        show = d.run_command("state", "show", "nchan")
        self.assertEqual(show.returncode, 0, show.stderr)
        self.assertIn('"cursor": "%s"' % recs[-1][0], show.stdout)
        self.assertIn('"pending": 0', show.stdout)

    def test_resume_across_an_nginx_restart(self):
        d = self.daemon()
        pub = Publisher(self.nchan, self.channel)
        d.start()
        d.wait_log(r"nchan: connected")
        for i in range(5):
            pub.publish("old %d" % i)
        self.wait_records(5)
        pub.close()
        # nchan loses its messages on restart and hands out ids from the new
        # second on; the daemon reconnects with its old Last-Event-ID and
        # gets everything published after the restart.
        self.nchan.restart()
        wait_until(lambda: d.log().count("nchan: connected") >= 2, 30,
                   message="no reconnect after the nginx restart")
        pub = Publisher(self.nchan, self.channel)
        for i in range(5):
            pub.publish("new %d" % i)
        pub.close()
        recs = self.wait_records(10)
        self.assertEqual(data_of(recs), ["old %d" % i for i in range(5)] + ["new %d" % i for i in range(5)])
        self.assertEqual(d.stop(), 0)

    def test_volume_every_event_triggered_exactly_once_in_order(self):
        d = self.daemon()
        d.start()
        d.wait_log(r"nchan: connected")
        pub = Publisher(self.nchan, self.channel)
        for i in range(VOLUME):
            pub.publish("v%d" % i)
        pub.close()
        recs = self.wait_records(VOLUME, timeout=600)
        self.assertEqual(data_of(recs), ["v%d" % i for i in range(VOLUME)])
        self.assertEqual(d.stop(), 0)

    def test_volume_with_sigkills_loses_nothing(self):
        """SIGKILL the daemon at random moments while VOLUME events flow
        through a command trigger that sleeps 0-20 ms: none lost, first runs
        in order, duplicates no more than the kills."""
        rng = random.Random(int(os.environ.get("SSEWATCHD_TEST_SEED", "0")) or None)
        seed = rng.randrange(1 << 30)
        rng.seed(seed)
        kill_at = sorted(rng.sample(range(1, VOLUME), KILLS))
        d = Daemon(self.ws, [sse_listener("nchan", self.nchan.sub_url(self.channel), self.out, commit=COMMIT,
                                          triggers=[record_trigger(self.out, env={"RECORD_SLEEP_MAX_MS": "20"})])])
        self.addCleanup(d.cleanup)
        d.start()
        d.wait_log(r"nchan: connected")

        errors = []

        def publish_all():
            try:
                pub = Publisher(self.nchan, self.channel)
                for i in range(VOLUME):
                    pub.publish("k%d" % i)
                pub.close()
            except Exception as e:  # reported by the main thread
                errors.append(e)

        t = threading.Thread(target=publish_all)
        t.start()
        try:
            for threshold in kill_at:
                # The moment is random: a random point in the stream, reached
                # while the daemon works (not a sleep).
                wait_until(lambda: len(read_records(self.out)) >= threshold, 300,
                           message="stuck before %d (seed %d)" % (threshold, seed))
                d.kill()
                d.start()
        finally:
            t.join()
        self.assertEqual(errors, [])

        want = ["k%d" % i for i in range(VOLUME)]
        wait_until(lambda: set(data_of(read_records(self.out))) >= set(want), 600,
                   message="not every event was triggered (seed %d)" % seed)
        self.assertEqual(d.stop(), 0)
        got = data_of(read_records(self.out))
        first = []
        seen = set()
        for x in got:
            if x not in seen:
                seen.add(x)
                first.append(x)
        self.assertEqual(first, want, "first runs out of order (seed %d)" % seed)
        # per_event: a kill repeats at most the trigger that was running.
        # batch: it repeats what completed since the last commit, at most
        # 100 ms of triggers that each take a millisecond or more.
        most = KILLS if COMMIT == "per_event" else KILLS * 100
        self.assertLessEqual(len(got) - len(want), most, "more duplicates than allowed (seed %d)" % seed)


class FaultTests(unittest.TestCase):
    def setUp(self):
        self.ws = Workspace()
        self.addCleanup(self.ws.cleanup)
        self.out = self.ws.path("out.txt")

    def server(self, script, **kw):
        srv = FaultServer(script=script, **kw)
        srv.start()
        self.addCleanup(srv.stop)
        return srv

    def daemon(self, url, name="faulty", **extra):
        d = Daemon(self.ws, [sse_listener(name, url, self.out, **extra)])
        self.addCleanup(d.cleanup)
        d.start()
        return d

    def wait_data(self, want, timeout=30.0):
        wait_until(lambda: len(read_records(self.out)) >= len(want), timeout,
                   message="expected %d trigger runs, have %r" % (len(want), read_records(self.out)))
        self.assertEqual(data_of(read_records(self.out)), want)

    def test_dropped_connections_resume_after_the_last_event_id(self):
        srv = self.server(["rst:3", "fin:3", "live"], initial_events=9)
        d = self.daemon(srv.url)
        self.wait_data(["event %d" % i for i in range(1, 10)])
        self.assertIsNone(srv.requests[0]["last_event_id"])
        self.assertEqual(srv.requests[1]["last_event_id"], "3")
        self.assertEqual(srv.requests[2]["last_event_id"], "6")
        self.assertEqual(srv.requests[0]["headers"].get("Accept"), "text/event-stream")
        self.assertEqual(d.stop(), 0)

    def test_split_and_merged_frames(self):
        srv = self.server([{"events": 10, "after": "fin", "chunking": "split"}, "merge"], initial_events=20,
                          data_template="event {n}\nsecond line")
        d = self.daemon(srv.url)
        self.wait_data(["event %d\\nsecond line" % i for i in range(1, 21)], timeout=30)
        # The first stream really came in pieces: several sends per event.
        self.assertGreater(srv.requests[0]["sends"], 5 * 10)
        self.assertEqual(d.stop(), 0)

    def test_line_endings_bom_and_truncated_event(self):
        srv = self.server([
            {"line_ending": "\r\n", "bom": True, "events": 3, "after": "fin"},
            {"line_ending": "\r", "events": 3, "after": "end", "tail": "id: 99\ndata: half"},
            "live"], initial_events=9)
        d = self.daemon(srv.url)
        self.wait_data(["event %d" % i for i in range(1, 10)])
        # The half-received "id: 99" must not become the cursor.
        self.assertEqual(srv.requests[2]["last_event_id"], "6")
        self.assertEqual(d.stop(), 0)

    def test_server_errors_back_off_then_resume(self):
        srv = self.server(["500", "502", "503", "live"], initial_events=3)
        d = self.daemon(srv.url)
        self.wait_data(["event 1", "event 2", "event 3"])
        t = [r["time"] for r in srv.requests[:4]]
        gaps = [b - a for a, b in zip(t, t[1:])]
        # Jittered exponential backoff: each wait is at least half its
        # ceiling (0.25 s, 0.5 s, 1 s).
        self.assertGreaterEqual(gaps[0], 0.12)
        self.assertGreaterEqual(gaps[1], 0.24)
        self.assertGreaterEqual(gaps[2], 0.49)
        self.assertIn("HTTP 502", d.log())
        self.assertEqual(d.stop(), 0)

    def test_429_retry_after_is_honoured(self):
        srv = self.server(["429:2", "live"], initial_events=1)
        d = self.daemon(srv.url)
        self.wait_data(["event 1"])
        self.assertGreaterEqual(srv.requests[1]["time"] - srv.requests[0]["time"], 1.95)
        self.assertEqual(d.stop(), 0)

    def test_retry_field_sets_the_reconnection_time(self):
        srv = self.server([{"retry": 1500, "events": 1, "after": "end"}, "live"], initial_events=2)
        d = self.daemon(srv.url)
        self.wait_data(["event 1", "event 2"])
        # At least 1.5 s (spread to [1.5 s, 2.25 s]), measured from the
        # first request: the stream it opened lived a little before its end.
        self.assertGreaterEqual(srv.requests[1]["time"] - srv.requests[0]["time"], 1.49)
        self.assertEqual(d.stop(), 0)

    def test_short_sessions_are_throttled(self):
        srv = self.server(["close"] * 5 + ["live"], initial_events=1)
        d = self.daemon(srv.url)
        self.wait_data(["event 1"], timeout=60)
        t = [r["time"] for r in srv.requests[:6]]
        # Sessions that close at once back off like failures: the waits are
        # at least 0.125, 0.25, 0.5, 1 and 2 s.
        self.assertGreaterEqual(t[5] - t[0], 3.8)
        self.assertEqual(d.stop(), 0)

    def test_204_stops_the_listener(self):
        srv = self.server(["204"], initial_events=1)
        d = self.daemon(srv.url)
        d.wait_log(r"204 No Content: listener stopped")
        d.wait_listener_final("faulty", "stopped")
        self.assertEqual(len(srv.requests), 1)
        self.assertEqual(d.stop(), 0)

    def test_wrong_content_type_fails_that_listener_only(self):
        bad = self.server(["ctype:text/plain"], initial_events=1)
        good = self.server(["live"], initial_events=2)
        d = Daemon(self.ws, [
            sse_listener("bad", bad.url, self.ws.path("bad.txt")),
            sse_listener("good", good.url, self.out),
        ])
        self.addCleanup(d.cleanup)
        d.start()
        d.wait_log(r"bad: listener failed: wrong Content-Type")
        d.wait_listener_final("bad")
        self.wait_data(["event 1", "event 2"])
        good.push("live one")
        self.wait_data(["event 1", "event 2", "live one"])
        self.assertEqual(len(bad.requests), 1)
        self.assertEqual(read_records(self.ws.path("bad.txt")), [])
        self.assertEqual(d.stop(), 0)

    def test_not_found_fails_that_listener(self):
        srv = self.server(["404"], initial_events=1)
        d = self.daemon(srv.url)
        d.wait_log(r"listener failed: HTTP status")
        self.assertIn("HTTP 404", d.log())
        d.wait_listener_final("faulty")
        self.assertEqual(len(srv.requests), 1)
        self.assertEqual(d.stop(), 0)

    def test_an_id_that_is_not_utf8_leaves_the_cursor_where_it_was(self):
        srv = self.server(["live", "live", "live"])
        d = self.daemon(srv.url, max_event_size="1KiB")
        srv.wait_live(1, timeout=10)
        srv.push_raw(b"id: a1\ndata: one\n\nid: \xff\n\ndata: two\n\n")          # an id-only block
        self.wait_data(["one", "two"])
        srv.drop("fin")
        srv.wait_requests(2, timeout=15)
        self.assertEqual(srv.requests[1]["last_event_id"], "a1")
        srv.wait_stream(1, timeout=10)       # the new stream, not the one dropped
        srv.push_raw(b"id: b1\ndata: three\n\nid: \xfe\ndata: " + b"x" * 2000 + b"\n\ndata: four\n\n")  # oversize
        self.wait_data(["one", "two", "three", "four"])
        srv.drop("fin")
        srv.wait_requests(3, timeout=15)
        self.assertEqual(srv.requests[2]["last_event_id"], "b1")
        self.assertEqual(d.stop(), 0)

    def test_batch_cursor_follows_ids_within_one_read(self):
        # commit: batch keeps a read's last event id aside and sets the
        # cursor once, at the read's end: an id-only block after it, or an
        # event whose id is not UTF-8, must still decide the cursor as if
        # each had been applied in turn.
        srv = self.server(["live", "live", "live"])
        d = self.daemon(srv.url, commit="batch")
        srv.wait_live(1, timeout=10)
        srv.push_raw(b"id: a1\ndata: one\n\nid: a2\n\nid: a3\ndata: three\n\n"
                     b"id: \xff\xfe\ndata: four\n\n")
        self.wait_data(["one", "three", "four"])
        srv.drop("fin")
        srv.wait_requests(2, timeout=15)
        self.assertEqual(srv.requests[1]["last_event_id"], "a3")
        srv.wait_stream(1, timeout=10)       # the new stream, not the one dropped
        srv.push_raw(b"id: b1\n\nid: b2\ndata: five\n\nid: b3\n\n")
        self.wait_data(["one", "three", "four", "five"])
        srv.drop("fin")
        srv.wait_requests(3, timeout=15)
        self.assertEqual(srv.requests[2]["last_event_id"], "b3")
        self.assertEqual(d.stop(), 0)

    def test_stalled_stream_is_detected_by_the_idle_watchdog(self):
        srv = self.server(["stall:2", "live"], initial_events=3)
        d = self.daemon(srv.url, idle_timeout="1500ms")
        self.wait_data(["event 1", "event 2", "event 3"], timeout=30)
        self.assertIn("nothing received for", d.log())
        self.assertEqual(srv.requests[1]["last_event_id"], "2")
        self.assertEqual(d.stop(), 0)

    def test_failing_trigger_is_retried_then_dead_lettered(self):
        srv = self.server(["live"], initial_events=3)
        d = Daemon(self.ws, [sse_listener("faulty", srv.url, self.out,
                                          triggers=[record_trigger(self.out, retries=2, retry_delay="50ms",
                                                                   env={"RECORD_FAIL_MATCH": "event 2"})])])
        self.addCleanup(d.cleanup)
        d.start()
        self.wait_data(["event 1", "event 3"])
        d.wait_log(r"failed after all retries: exit status 3")
        d.wait_log(r"dead-lettered after 3 attempts")
        self.assertEqual(d.stop(), 0)
        listing = d.run_command("state", "list")
        self.assertRegex(listing.stdout, r"faulty .*pending=0 dead_letters=1")

    def test_a_command_strings_non_zero_exit_is_final_by_default_as_in_aviso(self):
        # aviso's fail_fast defaults to true, and aviso has only command
        # strings: their exit status is the verdict; retries are for
        # timeouts and failed starts. (An argv retries, as above.)
        srv = self.server(["live"], initial_events=3)
        shell = {"type": "command", "command": "exec %s '%s'" % (RECORD, self.out), "retries": 2,
                 "retry_delay": "50ms", "env": {"RECORD_FAIL_MATCH": "event 2"}}
        d = Daemon(self.ws, [sse_listener("faulty", srv.url, self.out, triggers=[shell])])
        self.addCleanup(d.cleanup)
        d.start()
        self.wait_data(["event 1", "event 3"])
        d.wait_log(r"dead-lettered after 1 attempt of ")
        self.assertNotIn("attempt 1 of 3", d.log())
        self.assertNotIn("after all retries", d.log())
        self.assertEqual(d.stop(), 0)

    def test_fewer_triggers_after_a_stop_finish_the_pending_notification(self):
        srv = self.server(["live"], initial_events=2)
        other = self.ws.path("other.txt")
        two = [record_trigger(self.out), record_trigger(other, env={"RECORD_FAIL_MATCH": "event 2"})]
        d = self.daemon(srv.url, on_failure="stop", triggers=two)
        self.wait_data(["event 1", "event 2"])
        d.wait_log(r"on_failure is stop: listener stopped")
        d.wait_listener_final("faulty")
        self.assertEqual(d.stop(), 0)
        self.assertRegex(d.run_command("state", "list").stdout, r"faulty .*pending=1 ")

        # The second trigger is gone: event 2 has run every trigger there is.
        d.write_config([sse_listener("faulty", srv.url, self.out, triggers=[record_trigger(self.out)])])
        d.start()
        d.wait_log(r"faulty: notification \d+ had run 1 trigger\(s\) before the stop; "
                   r"the configuration now has 1, so it is finished")
        srv.wait_live(1, timeout=10)
        srv.push("event 3")
        self.wait_data(["event 1", "event 2", "event 3"])
        self.assertEqual(d.stop(), 0)
        self.assertRegex(d.run_command("state", "list").stdout, r"faulty .*pending=0 dead_letters=0")


class TunnelOnlyProxy:
    """An HTTP proxy that opens every CONNECT tunnel ("200 Connection
    established") and then closes it: the TLS handshake through it fails."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.connects = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                self.connects.append(head.split(b"\r\n", 1)[0].decode(errors="replace"))
                try:
                    conn.sendall(b"HTTP/1.1 200 Connection established\r\nProxy-Agent: test\r\n\r\n")
                except OSError:
                    pass

    def stop(self):
        self.sock.close()


class ProxyTests(unittest.TestCase):
    def setUp(self):
        self.ws = Workspace()
        self.addCleanup(self.ws.cleanup)

    def test_a_tunnel_that_fails_after_connect_is_retried_not_fatal(self):
        proxy = TunnelOnlyProxy()
        self.addCleanup(proxy.stop)
        # The proxy's own "200" is no answer from the stream's server.
        d = Daemon(self.ws, [sse_listener("p", "https://stream.invalid/events", self.ws.path("out.txt"),
                                          proxy=proxy.url)])
        self.addCleanup(d.cleanup)
        d.start()
        wait_until(lambda: len(proxy.connects) >= 2, 20, message="the listener did not try again")
        self.assertEqual(proxy.connects[0], "CONNECT stream.invalid:443 HTTP/1.1")
        self.assertEqual(d.stop(), 0)
        self.assertNotIn("Content-Type", d.all_logs())


class GarbageThenStream:
    """A raw server: the first connection gets a reply that is not HTTP
    (a middlebox's garbage), later ones a stream with one event."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = "http://127.0.0.1:%d/events" % self.sock.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            c.recv(65536)
            if len(self.conns) == 1:
                c.sendall(b"garbage from a middlebox\r\n\r\n")
                c.close()
            else:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\nid: 1\ndata: hello\n\n")

    def stop(self):
        self.sock.close()
        for c in self.conns:
            c.close()


class NotHttpTests(unittest.TestCase):
    def test_a_reply_that_is_not_http_is_retried(self):
        ws = Workspace()
        self.addCleanup(ws.cleanup)
        srv = GarbageThenStream()
        self.addCleanup(srv.stop)
        out = ws.path("out")
        d = Daemon(ws, [sse_listener("l", srv.url, out)])
        self.addCleanup(d.cleanup)
        d.start()
        wait_until(lambda: read_records(out) == [("1", "hello")], 20)
        self.assertNotIn("listener failed", d.log())
        self.assertEqual(d.stop(), 0)


class TriggerOutputTests(unittest.TestCase):
    def test_output_logged_is_its_end_escaped_on_one_line(self):
        # A failing trigger's reason is usually at the end of its output:
        # that part is logged, and neither newlines nor terminal escapes
        # nor bytes that are not UTF-8 get through as such.
        ws = Workspace()
        self.addCleanup(ws.cleanup)
        srv = FaultServer(initial_events=1)
        srv.start()
        self.addCleanup(srv.stop)
        script = ("head -c 5000 /dev/zero | tr '\\0' a >&2; "
                  "printf 'x\\nerror: other: forged \\033[31m\\377\\000 FATAL: the real reason\\n' >&2; exit 3")
        d = Daemon(ws, [{"name": "l", "protocol": "sse", "url": srv.url,
                         "triggers": [{"type": "command", "command": script, "required": False}]}])
        self.addCleanup(d.cleanup)
        d.start()
        m = d.wait_log(r"l: listeners\[0\]\.triggers\[0\] stderr \(last bytes\): a+x(.*)$", 20)
        self.assertEqual(m.group(1), r"\nerror: other: forged \x1b[31m\xff\x00 FATAL: the real reason")
        self.assertNotIn("\x1b", d.log())
        self.assertNotRegex(d.log(), r"(?m)^error: other: forged")
        self.assertEqual(d.stop(), 0)


def make_certificates(ws):
    """A private CA and a certificate it signed for 127.0.0.1; returns
    (ca.pem, server.pem, server.key)."""
    ca, ca_key = ws.path("ca.pem"), ws.path("ca.key")
    crt, key, csr, ext = ws.path("server.pem"), ws.path("server.key"), ws.path("server.csr"), ws.path("ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    for argv in (["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
                  "-subj", "/CN=ssewatchd test CA"],
                 ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
                 ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", crt,
                  "-days", "2", "-extfile", ext]):
        subprocess.run(["openssl"] + argv, check=True, capture_output=True)
    return ca, crt, key


class TlsTests(unittest.TestCase):
    def setUp(self):
        self.ws = Workspace()
        self.addCleanup(self.ws.cleanup)
        self.ca, crt, key = make_certificates(self.ws)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        self.srv = FaultServer(initial_events=3, tls_context=ctx)
        self.srv.start()
        self.addCleanup(self.srv.stop)
        self.out = self.ws.path("out")

    def test_ca_bundle_adds_a_private_ca(self):
        d = Daemon(self.ws, [sse_listener("l", self.srv.url, self.out, tls={"ca_bundle": [self.ca]})])
        self.addCleanup(d.cleanup)
        d.start()
        wait_until(lambda: len(read_records(self.out)) == 3, 20)
        self.assertEqual([x for _, x in read_records(self.out)], ["event 1", "event 2", "event 3"])
        self.assertEqual(d.stop(), 0)

    def test_without_it_the_certificate_is_refused(self):
        d = Daemon(self.ws, [sse_listener("l", self.srv.url, self.out)])
        self.addCleanup(d.cleanup)
        d.start()
        d.wait_log(r"l: connection failed: .*(certificate|SSL)", 20)
        self.assertEqual(read_records(self.out), [])
        self.assertEqual(d.stop(), 0)


class PostTests(unittest.TestCase):
    """The post trigger: a structured CloudEvent, retried only when it may help."""

    def setUp(self):
        self.ws = Workspace()
        self.addCleanup(self.ws.cleanup)
        self.src = FaultServer(script=[], initial_events=0)
        self.src.start()
        self.addCleanup(self.src.stop)

    def daemon(self, sink, src_url=None, **post):
        trig = {"type": "post", "url": sink.url, "retry_delay": "50ms"}
        trig.update(post)
        d = Daemon(self.ws, [{"name": "hook", "protocol": "sse", "url": src_url or self.src.url,
                              "triggers": [trig]}])
        self.addCleanup(d.cleanup)
        d.start()
        d.wait_log(r"hook: connected")
        return d

    def sink(self, *statuses):
        s = PostSink(statuses=statuses).start()
        self.addCleanup(s.stop)
        return s

    def test_posts_a_structured_cloudevent(self):
        sink = self.sink()
        d = self.daemon(sink, headers={"X-Hook-Token": "s3cret-value"})
        self.src.push('{"page": "Main", "n": 1}', event="edit", id="e-1")
        self.src.push("plain text", id="e-2")
        reqs = sink.wait_requests(2)
        self.assertEqual(reqs[0]["headers"]["Content-Type"], "application/cloudevents+json")
        self.assertEqual(reqs[0]["headers"]["X-Hook-Token"], "s3cret-value")
        ce = reqs[0]["json"]
        self.assertEqual((ce["specversion"], ce["id"], ce["source"], ce["type"]),
                         ("1.0", "e-1", self.src.url, "ssewatchd.sse.edit"))
        self.assertEqual(ce["datacontenttype"], "application/json")
        self.assertEqual(ce["data"], {"page": "Main", "n": 1})
        self.assertRegex(ce["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        self.assertEqual((reqs[1]["json"]["datacontenttype"], reqs[1]["json"]["data"]), ("text/plain", "plain text"))
        self.assertEqual(d.stop(), 0)
        self.assertNotIn("s3cret-value", d.all_logs())

    def test_source_carries_no_credentials_of_the_stream_url(self):
        sink = self.sink()
        url = self.src.url.replace("http://", "http://alice:pw-SECRET@") + "?access_token=tok-SECRET&lang=en"
        d = self.daemon(sink, src_url=url)
        self.src.push("x", id="e-1")
        ce = sink.wait_requests(1)[0]["json"]
        self.assertEqual(ce["source"], self.src.url.replace("http://", "http://(secret)@")
                         + "?access_token=(secret)&lang=en")
        self.assertEqual(d.stop(), 0)

    def test_empty_header_values_are_sent_empty(self):
        # curl leaves out a header written "Name:" with nothing after it.
        sink = self.sink()
        url = self.src.url
        d = Daemon(self.ws, [{"name": "hook", "protocol": "sse", "url": url, "headers": {"X-Stream-Empty": ""},
                              "triggers": [{"type": "post", "url": sink.url, "headers": {"X-Empty": ""}}]}])
        self.addCleanup(d.cleanup)
        d.start()
        d.wait_log(r"hook: connected")
        self.src.push("x", id="e-1")
        self.assertEqual(sink.wait_requests(1)[0]["headers"].get("X-Empty"), "")
        self.assertEqual(self.src.requests[-1]["headers"].get("X-Stream-Empty"), "")
        self.assertEqual(d.stop(), 0)

    def test_5xx_and_429_are_retried(self):
        sink = self.sink(503, 429, 500, 200)
        d = self.daemon(sink, retries=3)
        self.src.push("x", id="1")
        sink.wait_requests(4)
        wait_until(lambda: "pending=0" in d.run_command("state", "list").stdout, 10)
        self.assertEqual(d.stop(), 0)
        self.assertEqual([r["status"] for r in sink.requests], [503, 429, 500, 200])
        self.assertRegex(d.all_logs(), r"attempt 1 of 4\): the server answered HTTP 503: error 503 from the sink")

    def test_4xx_is_not_retried_and_dead_letters(self):
        sink = self.sink(400)
        d = self.daemon(sink, retries=3)
        self.src.push("x", id="1")
        d.wait_log(r"dead-lettered after 1 attempt of ")
        self.src.push("y", id="2")
        sink.wait_requests(2)
        self.assertEqual([r["status"] for r in sink.requests], [400, 200])
        self.assertEqual(d.stop(), 0)

    def test_unreachable_target_is_retried_then_dead_lettered(self):
        sink = self.sink()
        url = sink.url
        sink.stop()
        d = self.daemon(type("S", (), {"url": url})(), retries=2)
        self.src.push("x", id="1")
        d.wait_log(r"dead-lettered after 3 attempts of listeners\[0\]\.triggers\[0\]: POST failed")
        self.assertEqual(d.stop(), 0)

    def test_a_sub_millisecond_timeout_still_times_out(self):
        silent = socket.socket()                       # connections queue up; nothing ever answers
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = "http://127.0.0.1:%d/hook" % silent.getsockname()[1]
        d = self.daemon(type("S", (), {"url": url})(), timeout="500us", retries=0)
        self.src.push("x", id="1")
        d.wait_log(r"dead-lettered after 1 attempt of listeners\[0\]\.triggers\[0\]: POST failed: Timeout")
        self.assertEqual(d.stop(), 0)


class TemplateTests(unittest.TestCase):
    """{{ notification.PATH }} in argv, shell strings and post URLs."""

    HOSTILE = ["it's \"quoted\"", "$(touch PWNED)", "`touch PWNED`", "; touch PWNED", "a\ntouch PWNED",
               "$HOME", "\\", "*", "-rf /", "'; touch PWNED; '", "${IFS}touch${IFS}PWNED"]

    def setUp(self):
        self.ws = Workspace()
        self.addCleanup(self.ws.cleanup)
        self.src = FaultServer(script=[], initial_events=0)
        self.src.start()
        self.addCleanup(self.src.stop)
        self.dir = self.ws.mkdir("work")

    def run_triggers(self, triggers, values):
        d = Daemon(self.ws, [{"name": "t", "protocol": "sse", "url": self.src.url, "triggers": triggers}])
        self.addCleanup(d.cleanup)
        d.start()
        d.wait_log(r"t: connected")
        for i, v in enumerate(values):
            self.src.push(json.dumps({"v": v, "i": i}), id=str(i + 1))
        wait_until(lambda: len(os.listdir(self.ws.path("done"))) == len(values) if os.path.isdir(
            self.ws.path("done")) else False, 20, message="not every trigger ran:\n" + d.log())
        self.assertEqual(d.stop(), 0)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "PWNED")), "a value was executed")
        return d

    def test_shell_string_values_are_never_executed(self):
        script = ('printf %s {{ notification.json.v }} > out.{{ notification.json.i }}; '
                  'printf "%s" "{{ notification.json.v }}" > dq.{{ notification.json.i }}; '
                  "printf '%s' '{{ notification.json.v }}' > sq.{{ notification.json.i }}; "
                  'touch {{ env.DONE_DIR }}/{{ notification.json.i }}')
        os.makedirs(self.ws.path("done"))
        os.environ["DONE_DIR"] = self.ws.path("done")
        self.addCleanup(os.environ.pop, "DONE_DIR", None)
        self.run_triggers([{"type": "command", "command": script, "working_dir": self.dir}], self.HOSTILE)
        for i, v in enumerate(self.HOSTILE):
            for prefix in ("out", "dq", "sq"):
                with open(os.path.join(self.dir, "%s.%d" % (prefix, i)), encoding="utf-8") as f:
                    self.assertEqual(f.read(), v, "%s.%d" % (prefix, i))

    def test_argv_placeholders_are_single_arguments(self):
        os.makedirs(self.ws.path("done"))
        rec = os.path.join(self.dir, "args")
        argv = ["/bin/sh", "-c", 'printf "%%s|" "$@" >> "$0"; echo >> "$0"; touch "%s/$2"' % self.ws.path("done"),
                rec, "{{ notification.json.v }}", "n{{ notification.json.i }}", "whole={{ notification.id }}"]
        self.run_triggers([{"type": "command", "argv": argv}], self.HOSTILE[:4])
        with open(rec, encoding="utf-8") as f:
            lines = f.read().splitlines()
        self.assertEqual(lines, ["%s|n%d|whole=%d|" % (v, i, i + 1) for i, v in enumerate(self.HOSTILE[:4])])

    def test_programs_start_with_the_descriptor_limit_the_daemon_was_given(self):
        # The daemon raises its own soft limit to the hard one for its
        # sockets; a program must get the limit the daemon started with.
        if under_valgrind():
            # valgrind keeps the process's limits to itself (it answers
            # setrlimit without the kernel): a program sees valgrind's own.
            self.skipTest(MAY_SKIP + "the daemon runs under valgrind")
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard < 2048:
            self.skipTest("hard RLIMIT_NOFILE %d leaves no room to raise" % hard)
        os.makedirs(self.ws.path("done"))
        out = os.path.join(self.dir, "limit")
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        try:
            self.run_triggers([{"type": "command", "argv": [
                "/bin/sh", "-c", 'ulimit -n > "$0"; touch "$1/0"', out, self.ws.path("done")]}], ["x"])
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        with open(out, encoding="utf-8") as f:
            self.assertEqual(f.read().strip(), "1024")

    def test_missing_field_fails_without_retries(self):
        d = Daemon(self.ws, [{"name": "t", "protocol": "sse", "url": self.src.url, "triggers": [
            {"type": "command", "argv": ["/bin/echo", "{{ notification.json.nope }}"], "retries": 5}]}])
        self.addCleanup(d.cleanup)
        d.start()
        d.wait_log(r"t: connected")
        self.src.push(json.dumps({"v": 1}), id="1")
        d.wait_log(r"dead-lettered after 1 attempt .*argv: notification\.json\.nope: not present")
        self.assertEqual(d.stop(), 0)

    def test_post_url_values_are_percent_encoded(self):
        sink = PostSink().start()
        self.addCleanup(sink.stop)
        d = Daemon(self.ws, [{"name": "t", "protocol": "sse", "url": self.src.url, "triggers": [
            {"type": "post", "url": sink.url + "/{{ notification.json.v }}?n={{ notification.json.i }}",
             "headers": {"X-Id": "{{ notification.id }}"}}]}])
        self.addCleanup(d.cleanup)
        d.start()
        d.wait_log(r"t: connected")
        self.src.push(json.dumps({"v": "a b/c?d&e", "i": 7}), id="x-1")
        req = sink.wait_requests(1)[0]
        self.assertEqual(req["path"], "/hook/a%20b%2Fc%3Fd%26e?n=7")
        self.assertEqual(req["headers"]["X-Id"], "x-1")
        self.assertEqual(d.stop(), 0)


class StateTests(unittest.TestCase):
    """What the daemon does when its state or configuration is not right."""

    def setUp(self):
        self.ws = Workspace()
        self.addCleanup(self.ws.cleanup)

    def server(self, **kw):
        srv = FaultServer(script=[], **kw)
        srv.start()
        self.addCleanup(srv.stop)
        return srv

    def test_corrupt_state_file_stops_only_that_listener_and_is_kept(self):
        a, b = self.server(initial_events=1), self.server(initial_events=1)
        d = Daemon(self.ws, [sse_listener("a", a.url, self.ws.path("a.txt")),
                             sse_listener("b", b.url, self.ws.path("b.txt"))])
        self.addCleanup(d.cleanup)
        d.start()
        wait_until(lambda: read_records(self.ws.path("a.txt")) and read_records(self.ws.path("b.txt")), 10)
        self.assertEqual(d.stop(), 0)

        path = os.path.join(d.state_dir, "a.json")
        with open(path, "w") as f:
            f.write('{"format":"ssewatchd-state","version":1,')
        d.start()
        d.wait_log(r"a: .*a\.json.*the listener stays stopped")
        b.push("still flowing")
        wait_until(lambda: len(read_records(self.ws.path("b.txt"))) == 2, 10)
        self.assertEqual(len(a.requests), 1)          # a never reconnected
        self.assertEqual(d.stop(), 0)
        with open(path) as f:                          # never silently replaced
            self.assertEqual(f.read(), '{"format":"ssewatchd-state","version":1,')
        show = d.run_command("state", "show", "a")
        self.assertEqual(show.returncode, 1)               # a runtime failure, not a usage error
        self.assertIn("a.json", show.stderr)
        self.assertNotIn("no listener named", show.stderr)

    def test_changed_url_is_refused_with_a_remedy(self):
        old, new = self.server(initial_events=2), self.server(initial_events=2)
        d = Daemon(self.ws, [sse_listener("l", old.url, self.ws.path("out.txt"))])
        self.addCleanup(d.cleanup)
        d.start()
        wait_until(lambda: len(read_records(self.ws.path("out.txt"))) == 2, 10)
        self.assertEqual(d.stop(), 0)

        d.write_config([sse_listener("l", new.url, self.ws.path("out.txt"))])
        d.start()
        d.wait_log(r"ssewatchd state reset l.*state file was written for .*%s" % old.port)
        self.assertEqual(new.requests, [])
        self.assertEqual(d.stop(), 0)

    def test_a_message_too_long_keeps_its_start_and_says_it_was_cut(self):
        # A 3 KB URL: the line is cut at 2 KiB, visibly, and the remedy,
        # which comes first, survives.
        old, new = self.server(initial_events=1), self.server(initial_events=1)
        d = Daemon(self.ws, [sse_listener("l", old.url, self.ws.path("out.txt"))])
        self.addCleanup(d.cleanup)
        d.start()
        wait_until(lambda: len(read_records(self.ws.path("out.txt"))) == 1, 10)
        self.assertEqual(d.stop(), 0)
        d.write_config([sse_listener("l", new.url + "?q=" + "x" * 3000, self.ws.path("out.txt"))])
        d.start()
        line = d.wait_log(r"ssewatchd state reset l").string
        self.assertEqual(d.stop(), 0)
        self.assertTrue(line.endswith("xxx\u2026"), line[-80:])
        self.assertIn("state file was written for", line)
        self.assertGreater(len(line.encode()), 2000)

    def test_url_password_and_token_reach_no_log_state_or_output(self):
        secret, token = "hunter2-%d" % os.getpid(), "tok-%d" % os.getpid()
        old, new = self.server(initial_events=2), self.server(initial_events=1)

        def url(srv):
            return srv.url.replace("http://", "http://user:%s@" % secret) + "?topic=t&access_token=" + token

        d = Daemon(self.ws, [sse_listener("l", url(old), self.ws.path("out.txt"))], log_level="debug")
        self.addCleanup(d.cleanup)
        d.start()
        wait_until(lambda: len(read_records(self.ws.path("out.txt"))) == 2, 10)
        self.assertEqual(d.stop(), 0)
        self.assertTrue(old.requests)                    # the password did reach the server
        path = os.path.join(d.state_dir, "l.json")
        with open(path) as f:
            state = f.read()
        self.assertNotIn(secret, state)
        self.assertNotIn(token, state)
        show = self.run_ok_out(d, "state", "show", "l")
        self.assertNotIn(secret, show)
        self.assertNotIn(token, show)
        self.assertIn("(secret)@127.0.0.1", show)
        self.assertIn("?topic=t&access_token=(secret)", show)
        check = self.run_ok_out(d, "check")
        self.assertNotIn(secret, check)
        self.assertNotIn(token, check)

        # A state an earlier build wrote, the secrets in its identity, still matches.
        legacy = state.replace("(secret)@", "user:%s@" % secret).replace("token=(secret)", "token=" + token)
        self.assertIn(secret, legacy)
        self.assertIn(token, legacy)
        with open(path, "w") as f:
            f.write(legacy)
        d.start()
        old.push("event 3")
        wait_until(lambda: len(read_records(self.ws.path("out.txt"))) == 3, 10)
        self.assertEqual(d.stop(), 0)
        with open(path) as f:
            text = f.read()
        self.assertNotIn(secret, text)
        self.assertNotIn(token, text)

        # A changed URL is reported without the secrets.
        d.write_config([sse_listener("l", url(new), self.ws.path("out.txt"))], log_level="debug")
        d.start()
        d.wait_log(r"state file was written for .*\(secret\)@127\.0\.0\.1:%d" % old.port)
        self.assertEqual(d.stop(), 0)
        self.assertNotIn(secret, d.all_logs())
        self.assertNotIn(token, d.all_logs())

    def run_ok_out(self, d, *args):
        r = d.run_command(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout + r.stderr

    def test_second_daemon_on_the_same_state_directory_refuses(self):
        srv = self.server(initial_events=1)
        d1 = Daemon(self.ws, [sse_listener("l", srv.url, self.ws.path("out.txt"))], name="first")
        self.addCleanup(d1.cleanup)
        d1.start()
        d1.wait_log(r"l: connected")
        d2 = Daemon(self.ws, [sse_listener("l", srv.url, self.ws.path("out.txt"))], name="second",
                    state_dir=d1.state_dir)
        self.addCleanup(d2.cleanup)
        p = d2.start()
        self.assertEqual(p.wait(timeout=30), 1)
        self.assertRegex(p.output(), r"locked by another ssewatchd \(pid %d\)" % d1.proc.pid)
        self.assertEqual(d1.stop(), 0)

    def test_invalid_configuration_exits_78_naming_the_place(self):
        d = Daemon(self.ws, [{"name": "x", "protocol": "sse", "url": "http://127.0.0.1:1/",
                              "triggers": [{"type": "echo", "retires": 3}]}])
        self.addCleanup(d.cleanup)
        p = d.start()
        self.assertEqual(p.wait(timeout=30), 78)
        self.assertRegex(p.output(), r"daemon\.yaml:\d+:\d+: listeners\[0\]\.triggers\[0\]\.retires: "
                                     r"unknown key 'retires'; did you mean 'retries'\?")
        check = d.run_command("check")
        self.assertEqual(check.returncode, 78)


if __name__ == "__main__":
    unittest.main()
