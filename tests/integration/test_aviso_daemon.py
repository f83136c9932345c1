"""ssewatchd with `protocol: aviso` listeners against the project's
aviso-server emulator (tests/lib/aviso_emulator.py): resume by from_id, the
opening check, duplicates, gaps, close reasons, error frames, authentication
and token rotation, replay, and a long run with a fault every ~500."""

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from aviso_emulator import Emulator  # noqa: E402
from daemon import ROOT, Daemon, read_records, record_trigger, under_valgrind  # noqa: E402
from procs import WaitTimeout, Workspace, wait_until  # noqa: E402

VOLUME = int(os.environ.get("SSEWATCHD_TEST_VOLUME", "10000" if not under_valgrind() else "600"))
MARS = {"class": "od", "stream": "enfo"}
# A schema whose identifiers are all optional, for unfiltered listeners.
PLAIN = {"plain": {"identifier": {"x": {"type": "string", "required": False, "example": "a"}},
                   "payload": {"required": False}}}


class CursorEmulator(Emulator):
    """Reads the daemon's committed cursor from its state file the moment a
    watch request arrives: the daemon commits before it reconnects, and
    nothing moves the cursor while no stream is open."""

    state_file = None

    def _record(self, handler, body, url):
        rec = super()._record(handler, body, url)
        if self.state_file and url.path.endswith("/watch"):
            try:
                rec["state_cursor"] = self._committed_cursor()
            except (ValueError, KeyError, AssertionError) as e:
                rec["state_cursor"], rec["state_error"] = None, repr(e)
        return rec

    def _committed_cursor(self):
        # As the README tells readers: a shared lock, and the file still
        # the state file, or the daemon may be writing over it.
        for _ in range(100):
            try:
                with open(self.state_file) as f:
                    fcntl.flock(f, fcntl.LOCK_SH)
                    if os.fstat(f.fileno()).st_ino != os.stat(self.state_file).st_ino:
                        continue
                    return json.load(f)["cursor"]
            except FileNotFoundError:
                return None
        raise AssertionError("%s kept changing under a shared lock" % self.state_file)


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def seqs_of(log_path):
    """The sequences of the log's whole lines.  The daemon appends many
    lines in one write, and a reader polling the file while that write is
    being copied in can see its first pages only: a last line without its
    newline is still being written, not a bad line."""
    try:
        with open(log_path) as f:
            text = f.read()
    except FileNotFoundError:
        return []
    return [json.loads(l)["sequence"] for l in text.split("\n")[:-1]]


class AvisoTests(unittest.TestCase):
    def setUp(self):
        self.ws = Workspace()
        self.addCleanup(self.ws.cleanup)
        self.log = self.ws.path("log.ndjson")

    def emulator(self, cls=Emulator, **kw):
        kw.setdefault("heartbeat", 0.5)
        emu = cls(**kw)
        emu.start()
        self.addCleanup(emu.stop)
        return emu

    def listener(self, emu, name="m", event="mars", identifiers=MARS, triggers=None, **extra):
        l = {"name": name, "base_url": emu.base_url if hasattr(emu, "base_url") else emu,
             "event": event, "identifiers": identifiers,
             "triggers": triggers or [{"type": "log", "path": self.log}]}
        l.update(extra)
        return l

    def daemon(self, *listeners, **top):
        d = Daemon(self.ws, list(listeners), **top)
        self.addCleanup(d.cleanup)
        d.start()
        return d

    def publish(self, emu, n, event="mars", ident=MARS):
        return [emu.notify(event, dict(ident, step=i % 1000) if event == "mars" else dict(ident),
                           payload={"i": i}, fill=True) for i in range(n)]

    def wait_seqs(self, want, timeout=30):
        wait_until(lambda: len(seqs_of(self.log)) >= len(want), timeout,
                   message="expected %d notifications, have %d" % (len(want), len(seqs_of(self.log))))
        self.assertEqual(seqs_of(self.log), want)

    # ------------------------------------------------------------ basics

    def test_live_then_resume_with_from_id(self):
        emu = self.emulator()
        d = self.daemon(self.listener(emu))
        d.wait_log(r"m: connected")
        first = self.publish(emu, 3)
        self.wait_seqs(first)
        self.assertNotIn("from_id", emu.stream_requests()[0]["json"])
        self.assertEqual(d.stop(), 0)
        later = self.publish(emu, 3)
        d.start()
        self.wait_seqs(first + later)
        req = emu.stream_requests()[1]
        self.assertEqual(req["from_id"], str(first[-1] + 1))
        self.assertIsInstance(req["from_id"], str)       # a decimal string, never a number
        self.assertEqual(req["json"]["identifier"], MARS)
        self.assertEqual(d.stop(), 0)

    def test_notification_reaches_triggers_as_the_contract_says(self):
        emu = self.emulator()
        seq = emu.notify("mars", dict(MARS, step=6, expver="0001"), payload={"path": "/x/y"}, fill=True)
        out = self.ws.path("rec.txt")
        d = self.daemon(self.listener(emu, from_id=str(seq), triggers=[
            record_trigger(out),
            {"type": "command", "argv": ["/bin/sh", "-c", 'env | grep -E "^(AVISO|SSEWATCHD)_" | sort > "$0"',
                                         self.ws.path("env.txt")]},
            {"type": "command", "command": "echo {{ notification.identifier.step }} "
                                           "{{ notification.sequence }} > %s" % self.ws.path("shell.txt")},
        ]))
        wait_until(lambda: read_text(self.ws.path("shell.txt")).strip(), 15)
        (eid, data), = read_records(out)
        self.assertEqual(eid, "mars@%d" % seq)
        n = json.loads(data)
        self.assertEqual(sorted(n), ["event_type", "id", "identifier", "payload", "sequence", "time"])
        self.assertEqual((n["event_type"], n["sequence"], n["payload"]), ("mars", seq, {"path": "/x/y"}))
        self.assertEqual(n["identifier"]["step"], "6")
        with open(self.ws.path("env.txt")) as f:
            env = dict(l.rstrip("\n").split("=", 1) for l in f)
        self.assertEqual(env["AVISO_EVENT_TYPE"], "mars")
        self.assertEqual(env["AVISO_SEQUENCE"], str(seq))
        self.assertEqual(env["AVISO_IDENTIFIER_STEP"], "6")
        self.assertEqual(env["AVISO_IDENTIFIER_CLASS"], "od")
        self.assertEqual(json.loads(env["AVISO_PAYLOAD_JSON"]), {"path": "/x/y"})
        self.assertEqual(json.loads(env["AVISO_NOTIFICATION_JSON"]), n)
        self.assertEqual(env["SSEWATCHD_EVENT_ID"], "mars@%d" % seq)
        self.assertEqual(env["SSEWATCHD_LISTENER"], "m")
        self.assertEqual(env["SSEWATCHD_EVENT"], "replay")
        with open(self.ws.path("shell.txt")) as f:
            self.assertEqual(f.read(), "6 %d\n" % seq)
        self.assertEqual(d.stop(), 0)

    def test_from_date_bootstraps_only_until_something_is_committed(self):
        emu = self.emulator()
        self.publish(emu, 2)
        d = self.daemon(self.listener(emu, from_date="2000-01-01T00:00:00Z"))
        self.wait_seqs([1, 2])
        self.assertEqual(emu.stream_requests()[0]["from_date"], "2000-01-01T00:00:00Z")
        emu.drop_streams("fin")
        wait_until(lambda: len(emu.stream_requests()) == 2, 10)
        self.assertIsNone(emu.stream_requests()[1]["from_date"])
        self.assertEqual(emu.stream_requests()[1]["from_id"], "3")
        self.assertEqual(d.stop(), 0)

    def test_dead_letters_retried_before_the_first_start_keep_the_configured_start(self):
        emu = self.emulator()
        sent = self.publish(emu, 3)
        failing = [record_trigger(self.ws.path("out.txt"), env={"RECORD_FAIL_MATCH": "mars"})]
        d = self.daemon(self.listener(emu, from_id="1", triggers=failing))
        wait_until(lambda: "dead_letters=3" in d.run_command("state", "list").stdout, 15)
        self.assertEqual(d.stop(), 0)
        for args in (("state", "reset", "m"), ("dead-letter", "retry", "m")):
            r = d.run_command(*args)
            self.assertEqual(r.returncode, 0, r.stderr)

        d.write_config([self.listener(emu, from_id="1")])
        d.start()
        self.wait_seqs(sent + sent)                   # the retried three, then from_id 1 again
        self.assertEqual(emu.stream_requests()[-1]["from_id"], "1")
        self.assertEqual(d.stop(), 0)

    def test_a_notification_the_server_cannot_render_is_a_gap_not_a_loop(self):
        # The server sends an error frame for it at every replay; ending the
        # stream for it would reconnect to the same error forever.
        emu = self.emulator()
        sent = self.publish(emu, 4)
        emu.poison("mars", sent[1])
        d = self.daemon(self.listener(emu, from_id=str(sent[0])))
        self.wait_seqs([sent[0], sent[2], sent[3]])
        d.wait_log(r"m: the server could not send notification mars@%d \(CloudEvent creation failed: "
                   r"Failed to create CloudEvent for notification mars@%d: emulated failure\); skipped"
                   % (sent[1], sent[1]))
        self.assertEqual(len(emu.stream_requests()), 1)
        self.assertEqual(d.stop(), 0)

    def test_a_notification_the_server_cannot_render_is_reported_once(self):
        # Unfiltered, the sequence is checked too: the skipped one is not
        # reported a second time as a hole before the next.
        emu = self.emulator(schema=PLAIN)
        self.publish(emu, 3, event="plain", ident={})
        emu.poison("plain", 2)
        d = self.daemon(self.listener(emu, event="plain", identifiers={}, from_id="1"))
        self.wait_seqs([1, 3])
        d.wait_log(r"m: the server could not send notification plain@2 ")
        self.assertNotIn("gap: expected sequence", d.log())
        self.assertEqual(d.stop(), 0)

    def test_opening_deadline_waits_while_the_queue_is_full(self):
        # The first stream fills the queue (max_pending 2) and ends; the
        # reconnect's first bytes wait until the queue has room. That wait
        # is ours: the opening frame's 10 s deadline must not count it.
        emu = self.emulator()
        sent = self.publish(emu, 2)
        emu.script(["max_duration_reached:2+merge", "ok"])   # one read: both, then the close
        gate, out = self.ws.path("gate"), self.ws.path("out")
        hold = {"type": "command", "command": "while [ ! -e '%s' ]; do sleep 0.05; done; "
                "echo \"$AVISO_SEQUENCE\" >> '%s'" % (gate, out)}
        d = self.daemon(self.listener(emu, from_id=str(sent[0]), max_pending=2, triggers=[hold]))
        emu.wait_requests(2, kind="watch")
        with self.assertRaises(WaitTimeout):     # the deadline passes unseen
            d.wait_log(r"no connection_established or replay_started frame", timeout=12)
        open(gate, "w").close()
        sent += self.publish(emu, 1)
        wait_until(lambda: read_text(out).split() == [str(s) for s in sent], 20)
        self.assertEqual(len(emu.stream_requests()), 2)
        self.assertEqual(d.stop(), 0)

    def test_an_oversize_frame_stops_the_listener_until_the_limit_is_raised(self):
        # Its sequence is unknown, so it cannot be skipped with a record:
        # the listener stops, and nothing is lost once the limit allows it.
        emu = self.emulator()
        first = self.publish(emu, 1)
        d = self.daemon(self.listener(emu, from_id=str(first[0]), max_event_size="1KiB"))
        self.wait_seqs(first)
        big = emu.notify("mars", dict(MARS, step=1), payload={"blob": "x" * 3000}, fill=True)
        d.wait_log(r"m: a frame of \d+ bytes exceeds max_event_size \(1024\): listener stopped")
        d.write_config([self.listener(emu, from_id=str(first[0]))])
        d.proc.send_signal(signal.SIGHUP)
        self.wait_seqs(first + [big])
        self.assertEqual(d.stop(), 0)

    def test_batch_keeps_what_came_before_an_error_frame(self):
        # The notifications before the frame that ends the stream were
        # received whole: committed, not left for the server to send again
        # (a server that has cut its history would not).
        emu = self.emulator()
        seqs = self.publish(emu, 5)
        emu.script(["error_replay:5"])
        d = self.daemon(self.listener(emu, from_id=str(seqs[0]), commit="batch"))
        d.wait_log(r"m: .*the server reported an error")
        wait_until(lambda: len(emu.stream_requests()) >= 2, 15)
        self.assertEqual(emu.stream_requests()[1]["from_id"], str(seqs[-1] + 1))
        self.wait_seqs(seqs)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(seqs_of(self.log), seqs)

    def test_a_payload_holding_a_nul_is_delivered(self):
        # "\u0000" is valid JSON; aviso passes payloads through as they are.
        emu = self.emulator()
        first = self.publish(emu, 1)
        d = self.daemon(self.listener(emu, from_id=str(first[0])))
        nul = emu.notify("mars", dict(MARS, step=1), payload={"s": "a\x00b"}, fill=True)
        after = self.publish(emu, 1)
        self.wait_seqs(first + [nul] + after)
        self.assertEqual(d.stop(), 0)
        recs = [json.loads(l) for l in read_text(self.log).splitlines()]
        self.assertEqual(recs[1]["payload"], {"s": "a\x00b"})
        self.assertNotIn("cannot be read", d.all_logs())

    def test_a_notification_nested_too_deep_is_a_dead_letter_and_the_state_stays_readable(self):
        # Deeper than the state file could be read back: recorded by its
        # id alone, and the stream goes on; a restart reads the state.
        emu = self.emulator()
        first = self.publish(emu, 1)
        d = self.daemon(self.listener(emu, from_id=str(first[0])))
        self.wait_seqs(first)
        deep = "0"
        for _ in range(2040):
            deep = [deep]
        # The emulator's threads write it out with json too.
        self.addCleanup(sys.setrecursionlimit, sys.getrecursionlimit())
        sys.setrecursionlimit(20000)
        seq = emu.notify("mars", dict(MARS, step=1), payload=deep, fill=True)
        after = self.publish(emu, 1)
        d.wait_log(r"m: the CloudEvent is nested deeper than 1024 levels: skipped, recorded as dead letter \d+")
        self.wait_seqs(first + after)
        self.assertEqual(d.stop(), 0)
        listing = d.run_command("dead-letter", "list", "m")
        self.assertEqual(listing.returncode, 0, listing.stderr)
        self.assertIn("mars@%d" % seq, listing.stdout)
        self.assertIn("nested deeper than 1024 levels", listing.stdout)
        show = d.run_command("state", "show", "m")
        self.assertEqual(show.returncode, 0, show.stderr)
        self.assertEqual(json.loads(show.stdout)["cursor"], after[0])
        d.start()
        d.wait_log(r"m: connected")
        self.assertEqual(d.stop(), 0)
        self.assertEqual(seqs_of(self.log), first + after)
        # Its content was not kept: nothing to run it with.
        retry = d.run_command("dead-letter", "retry", "m")
        self.assertIn("cannot be retried: its content was not kept (the CloudEvent is nested deeper than 1024 "
                      "levels)", retry.stderr)
        self.assertEqual(json.loads(d.run_command("state", "show", "m").stdout)["pending"], 0)
        # A replay skips it too, and writes no dead letter.
        replay_log = self.ws.path("replay.ndjson")
        d.write_config([self.listener(emu, triggers=[{"type": "log", "path": replay_log}])])
        before = sorted(os.listdir(os.path.join(d.state_dir, "dead-letters", "m")))
        r = d.run_command("replay", "m", "--from", str(first[0]), "--to", str(after[0]))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(seqs_of(replay_log), first + after)
        self.assertIn("nested deeper than 1024 levels: skipped", r.stderr)
        self.assertEqual(sorted(os.listdir(os.path.join(d.state_dir, "dead-letters", "m"))), before)

    def test_a_notification_jansson_cannot_read_stops_the_listener_with_a_remedy(self):
        # Valid JSON, but beyond jansson's integers: asked for again and
        # again it would hold everything after it back. After a few tries,
        # the listener stops and says how to go past it.
        emu = self.emulator()
        first = self.publish(emu, 1)
        bad = emu.notify("mars", dict(MARS, step=1), payload={"n": 18446744073709551615}, fill=True)
        after = self.publish(emu, 1)
        d = self.daemon(self.listener(emu, from_id=str(first[0])))
        d.wait_log(r"m: a replay frame whose data cannot be read: too big integer.*, 5 times in a row after "
                   r"sequence %d: listener stopped\. If it is a notification, 'ssewatchd state reset m --to N'"
                   % first[0], timeout=30)
        d.wait_listener_final("m")
        self.assertEqual(d.stop(), 0)
        self.assertEqual(seqs_of(self.log), first)
        r = d.run_command("state", "reset", "m", "--to", str(bad))
        self.assertEqual(r.returncode, 0, r.stderr)
        d.start()
        self.wait_seqs(first + after)
        self.assertEqual(d.stop(), 0)

    def test_a_server_that_goes_live_instead_of_replaying_is_a_gap(self):
        # With identifiers the sequence numbers skip anyway, so only the
        # opening frame can tell that the asked-for replay did not happen.
        emu = self.emulator()
        emu.script(["bad_first:swap"])
        sent = self.publish(emu, 2)
        d = self.daemon(self.listener(emu, from_id=str(sent[0])))
        d.wait_log(r"m: asked to replay \(from_id or from_date\), the server went live at once "
                   r"\(connection_established\): notifications since then may be missing")
        self.assertEqual(d.stop(), 0)

    def test_a_live_start_expects_connection_established(self):
        emu = self.emulator()
        d = self.daemon(self.listener(emu))
        d.wait_log(r"m: connected")
        self.wait_seqs(self.publish(emu, 1))
        self.assertNotIn("went live at once", d.log())
        self.assertEqual(d.stop(), 0)

    def test_duplicates_at_the_replay_live_boundary_are_dropped(self):
        emu = self.emulator()
        self.publish(emu, 5)
        emu.script(["dup:3"])
        d = self.daemon(self.listener(emu, from_id="1"))
        self.wait_seqs([1, 2, 3, 4, 5])
        more = self.publish(emu, 2)
        self.wait_seqs([1, 2, 3, 4, 5] + more)
        self.assertEqual(d.stop(), 0)

    # ------------------------------------------------------------ the opening, frames

    def test_no_opening_frame_within_10s_reconnects(self):
        emu = self.emulator()
        emu.script(["silent"])
        d = self.daemon(self.listener(emu))
        d.wait_log(r"no connection_established or replay_started frame within 10s", timeout=20)
        wait_until(lambda: len(emu.stream_requests()) == 2, 10)
        d.wait_log(r"m: connected")
        self.assertEqual(d.stop(), 0)

    def test_a_failed_streams_opening_deadline_ends_with_it(self):
        # The first stream is cut 0.2 s after its 200 head, its opening
        # frame's deadline (10 s) running. The server holds the next request
        # 12 s before answering: that deadline must not end it.
        emu = self.emulator()
        emu.script(["silent:0.2:rst", "delay:12"])
        d = self.daemon(self.listener(emu))
        d.wait_log(r"m: connected", timeout=30)
        self.assertNotIn("within 10s", d.log())
        self.assertEqual([r["faults_fired"] for r in emu.stream_requests()], [["silent"], ["delay"]])
        self.assertEqual(d.stop(), 0)

    def test_unknown_events_and_control_types_are_ignored(self):
        emu = self.emulator()
        self.publish(emu, 4)
        emu.script(["unknown_event:1+unknown_control:2"])
        d = self.daemon(self.listener(emu, from_id="1"))
        self.wait_seqs([1, 2, 3, 4])
        self.assertEqual(len(emu.stream_requests()), 1)
        self.assertEqual(d.stop(), 0)

    def test_error_frame_reconnects_from_the_checkpoint(self):
        emu = self.emulator()
        self.publish(emu, 6)
        emu.script(["error_replay:3"])
        d = self.daemon(self.listener(emu, from_id="1"))
        self.wait_seqs([1, 2, 3, 4, 5, 6])
        d.wait_log(r"the server reported an error: stream_processing_failed")
        self.assertEqual(emu.stream_requests()[1]["from_id"], "4")
        self.assertEqual(d.stop(), 0)

    def test_malformed_id_stops_that_listener_only(self):
        # Two emulators: with one, which listener's request arrives first
        # (and so receives the scripted fault) would be a race.
        emu = self.emulator()
        other_emu = self.emulator()
        self.publish(emu, 2)
        emu.script_at(0, "bad_id:mars@x")
        d = self.daemon(self.listener(emu, from_id="1"),
                        self.listener(other_emu, name="other",
                                      triggers=[{"type": "log", "path": self.ws.path("o")}]))
        d.wait_log(r"m: malformed CloudEvent id 'mars@x'")
        d.wait_log(r"m: listener failed: protocol error")
        d.wait_listener_final("m")
        d.wait_log(r"other: connected")
        self.publish(other_emu, 1)
        wait_until(lambda: seqs_of(self.ws.path("o")) == [1], 10)
        self.assertEqual(d.stop(), 0)

    def test_close_reasons(self):
        emu = self.emulator()
        emu.script(["max_duration_reached:0", "server_shutdown:0", "end_of_stream:0"])
        d = self.daemon(self.listener(emu))
        wait_until(lambda: len(emu.stream_requests()) == 4, 20)
        ends = [emu.wait_stream_end(i) for i in range(3)]
        self.assertEqual(len(ends), 3)
        r = emu.stream_requests()
        gaps = [r[i + 1]["time"] - r[i]["time"] for i in range(3)]
        # max_duration_reached and end_of_stream: at once; server_shutdown: ~5 s.
        # (The upper bounds only tell "at once" from those 5 s, with room
        # for a slow machine or valgrind.)
        self.assertLess(gaps[0], 4)
        self.assertGreaterEqual(gaps[1], 4.9)
        self.assertLess(gaps[2], 4)
        self.assertEqual(d.stop(), 0)

    # ------------------------------------------------------------ gaps

    def test_gap_in_an_unfiltered_stream_is_logged(self):
        emu = self.emulator(schema=PLAIN)
        seqs = self.publish(emu, 5, event="plain", ident={})
        emu.delete("plain", 3)
        d = self.daemon(self.listener(emu, event="plain", identifiers={}, from_id="1"))
        self.wait_seqs([1, 2, 4, 5])
        d.wait_log(r"gap: expected sequence 3, got 4 \(1 missing\)")
        self.assertEqual(seqs, [1, 2, 3, 4, 5])
        self.assertEqual(d.stop(), 0)

    def test_gap_with_on_gap_stop_stops_the_listener(self):
        emu = self.emulator(schema=PLAIN)
        self.publish(emu, 3, event="plain", ident={})
        emu.delete("plain", 2)
        d = self.daemon(self.listener(emu, event="plain", identifiers={}, from_id="1", on_gap="stop"))
        d.wait_log(r"on_gap is stop: listener stopped")
        d.wait_log(r"listener failed: gap")
        d.wait_listener_final("m")
        # Notification 1 came before the gap: it is still delivered (the
        # pump may run after the failure is logged), and nothing after it.
        wait_until(lambda: seqs_of(self.log) == [1], 10)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(seqs_of(self.log), [1])

    def test_a_replay_limit_then_the_streams_end_resumes_after_the_last_one(self):
        # Newer servers end the stream at their limit: each next request
        # goes on from the cursor, so nothing is missing, even with
        # on_gap: stop.
        emu = self.emulator(max_historical=2, limit_form="new")
        seqs = self.publish(emu, 5)
        d = self.daemon(self.listener(emu, from_id="1", on_gap="stop"))
        self.wait_seqs(seqs)
        self.assertEqual([r["from_id"] for r in emu.stream_requests()[:3]], ["1", "3", "5"])
        self.assertEqual(d.stop(), 0)
        self.assertIn("stopped replaying at its limit (2 notifications a request)", d.all_logs())
        self.assertNotIn("gap", d.all_logs())

    def test_a_replay_limit_before_live_is_paged_through(self):
        # aviso 0.7.1 would go live after its limit, and never send what
        # lies between: the stream is ended at the limit and asked again.
        emu = self.emulator(max_historical=2, limit_form="0.7.1")
        seqs = self.publish(emu, 5)
        d = self.daemon(self.listener(emu, from_id="1", on_gap="stop"))
        self.wait_seqs(seqs)
        self.assertEqual([r["from_id"] for r in emu.stream_requests()[:3]], ["1", "3", "5"])
        live = self.publish(emu, 1)
        self.wait_seqs(seqs + live)
        self.assertEqual(d.stop(), 0)
        self.assertNotIn("gap", d.all_logs())

    def test_a_replay_limit_with_nothing_before_it_then_live_is_a_gap(self):
        emu = self.emulator(max_historical=0, limit_form="0.7.1")
        self.publish(emu, 3)
        d = self.daemon(self.listener(emu, from_id="1"))
        d.wait_log(r"m: the server stopped replaying at its limit \(0 notifications a request\) and went live: "
                   r"the notifications between the last one replayed and the first live one were not sent")
        self.assertEqual(d.stop(), 0)

    def test_one_shot_replay_goes_past_the_servers_limit(self):
        for form in ("new", "0.7.1"):
            with self.subTest(form=form):
                emu = self.emulator(max_historical=3, limit_form=form)
                self.publish(emu, 10)
                log = self.ws.path("replay-%s.ndjson" % form)
                d = Daemon(self.ws, [self.listener(emu, triggers=[{"type": "log", "path": log}])])
                self.addCleanup(d.cleanup)
                r = d.run_command("replay", "m", "--from", "2", "--to", "9")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(seqs_of(log), list(range(2, 10)))
                self.assertNotIn("gap", r.stderr)

    # ------------------------------------------------------------ auth

    def test_bearer_token_file_rotation_loses_nothing(self):
        emu = self.emulator(on_token_revoked="fin")
        emu.set_valid_tokens(["tok-1"])
        token = self.ws.write("token", "tok-1\n")
        d = self.daemon(self.listener(emu, auth={"bearer_token_file": token}))
        d.wait_log(r"m: connected")
        first = self.publish(emu, 3)
        self.wait_seqs(first)
        self.ws.write("token", "tok-2\n")
        emu.set_valid_tokens(["tok-2"])            # the open stream is cut
        second = self.publish(emu, 3)
        self.wait_seqs(first + second)
        auths = [r["authorization"] for r in emu.stream_requests()]
        self.assertEqual(auths[0], "Bearer tok-1")
        self.assertEqual(auths[-1], "Bearer tok-2")
        self.assertIn(401, [r["status"] for r in emu.stream_requests()])
        d.wait_log(r"credentials refreshed")
        self.assertEqual(d.stop(), 0)
        self.assertNotIn("tok-", d.all_logs())

    def test_refresh_command_rotation_loses_nothing(self):
        emu = self.emulator(on_token_revoked="fin")
        emu.set_valid_tokens(["cmd-1"])
        src = self.ws.write("current", "cmd-1\n")
        d = self.daemon(self.listener(emu, auth={"refresh_command": ["/bin/cat", src]}))
        d.wait_log(r"m: connected")
        first = self.publish(emu, 2)
        self.wait_seqs(first)
        self.ws.write("current", "cmd-2\n")
        emu.set_valid_tokens(["cmd-2"])
        second = self.publish(emu, 2)
        self.wait_seqs(first + second)
        self.assertEqual(emu.stream_requests()[-1]["authorization"], "Bearer cmd-2")
        self.assertEqual(d.stop(), 0)
        self.assertNotIn("cmd-", d.all_logs())

    def test_a_rotated_token_file_wins_over_a_fetched_token(self):
        # bearer_token_file with refresh_command: the command's token
        # stands in for a rejected file, but a file rotated since is read
        # again, on the next 401 as on a reload.
        emu = self.emulator(on_token_revoked="fin")
        emu.set_valid_tokens(["file-1"])
        token = self.ws.write("token", "file-1\n")
        src = self.ws.write("current", "cmd-1\n")
        d = self.daemon(self.listener(emu, auth={"bearer_token_file": token,
                                                 "refresh_command": ["/bin/cat", src]}))
        d.wait_log(r"m: connected")
        seqs = self.publish(emu, 1)
        self.wait_seqs(seqs)
        emu.set_valid_tokens(["cmd-1"])             # the file's token revoked
        seqs += self.publish(emu, 1)
        self.wait_seqs(seqs)
        self.ws.write("token", "file-2\n")
        emu.set_valid_tokens(["file-2"])            # the fetched one revoked
        seqs += self.publish(emu, 1)
        self.wait_seqs(seqs)
        self.ws.write("token", "file-3\n")
        emu.set_valid_tokens(["file-3", "file-2"])
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log(r"configuration reloaded")
        emu.set_valid_tokens(["file-3"])            # cuts the stream
        seqs += self.publish(emu, 1)
        self.wait_seqs(seqs)
        auths = [(r["authorization"], r["status"]) for r in emu.stream_requests()]
        self.assertEqual(auths[:5], [("Bearer file-1", 200), ("Bearer file-1", 401), ("Bearer cmd-1", 200),
                                     ("Bearer cmd-1", 401), ("Bearer file-2", 200)])
        self.assertEqual(auths[-1], ("Bearer file-3", 200))
        self.assertNotIn(("Bearer file-2", 401), auths)
        self.assertEqual(d.stop(), 0)

    def test_a_first_token_fetch_that_fails_is_tried_again(self):
        # An identity provider down when the daemon starts: the listener
        # backs off and tries again, rather than stop until a reload.
        emu = self.emulator()
        emu.set_valid_tokens(["late-tok"])
        src = self.ws.path("token")
        d = self.daemon(self.listener(emu, auth={"refresh_command": ["/bin/cat", src]}))
        d.wait_log(r"m: cannot refresh credentials")
        d.wait_log(r"m: reconnecting in")
        self.ws.write("token", "late-tok\n")
        d.wait_log(r"m: connected", timeout=30)
        self.wait_seqs(self.publish(emu, 1))
        self.assertNotIn("listener failed", d.log())
        self.assertEqual(d.stop(), 0)
        self.assertNotIn("late-tok", d.all_logs())

    def test_second_401_after_refresh_fails_the_listener(self):
        emu = self.emulator()
        emu.set_valid_tokens(["good"])
        token = self.ws.write("token", "stale\n")
        d = self.daemon(self.listener(emu, auth={"bearer_token_file": token}))
        d.wait_log(r"listener failed: authentication rejected")
        d.wait_listener_final("m")
        self.assertEqual([r["status"] for r in emu.stream_requests()], [401, 401])
        self.assertEqual(d.stop(), 0)

    def test_a_reload_restarts_a_failed_listener_once_its_token_is_mended(self):
        emu = self.emulator()
        emu.set_valid_tokens(["good"])
        token = self.ws.write("token", "stale\n")
        d = self.daemon(self.listener(emu, auth={"bearer_token_file": token}))
        d.wait_log(r"listener failed: authentication rejected")
        self.ws.write("token", "good\n")
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log(r"configuration reloaded: 0 listener\(s\) unchanged, .* 1 failed or stopped one\(s\) restarted")
        d.wait_log(r"m: connected")
        self.wait_seqs(self.publish(emu, 2))
        self.assertEqual([r["status"] for r in emu.stream_requests()], [401, 401, 200])
        self.assertEqual(d.stop(), 0)

    def test_403_fails_the_listener(self):
        emu = self.emulator()
        emu.set_valid_tokens({"t": {"deny": True}})
        d = self.daemon(self.listener(emu, auth={"bearer_token": "t"}))
        d.wait_log(r"listener failed: HTTP status")
        self.assertIn("HTTP 403", d.log())
        d.wait_listener_final("m")
        self.assertEqual(len(emu.stream_requests()), 1)
        self.assertEqual(d.stop(), 0)

    def test_credentials_are_refused_over_plain_http_to_other_hosts(self):
        d = self.daemon(self.listener("http://192.0.2.1:9", auth={"bearer_token": "x"}))
        d.wait_log(r"refusing to send credentials over plain http to http://192\.0\.2\.1:9")
        self.assertEqual(d.stop(), 0)

    # ------------------------------------------------------------ replay

    def test_replay_runs_triggers_and_leaves_the_state_alone(self):
        self.replay_3_to_7_then_from_9()

    def test_replay_with_batch_commits_runs_the_last_read_too(self):
        # All of a replay arrives in one or two reads here: what the read
        # that reaches --to brought must run all the same.
        self.replay_3_to_7_then_from_9(commit="batch")

    def replay_3_to_7_then_from_9(self, **extra):
        emu = self.emulator()
        self.publish(emu, 10)
        d = Daemon(self.ws, [self.listener(emu, **extra)])
        self.addCleanup(d.cleanup)
        r = d.run_command("replay", "m", "--from", "3", "--to", "7")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(seqs_of(self.log), [3, 4, 5, 6, 7])
        self.assertIn("replay m: 5 notification(s), 0 trigger run(s) failed", r.stderr)
        self.assertEqual(emu.stream_requests()[0]["path"], "/api/v1/replay")
        self.assertFalse(os.path.exists(os.path.join(d.state_dir, "m.json")))
        r = d.run_command("replay", "m", "--from", "9")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(seqs_of(self.log), [3, 4, 5, 6, 7, 9, 10])

    def test_an_interrupted_replay_exits_1_and_says_how_far_it_got(self):
        emu = self.emulator()
        self.publish(emu, 5)
        out = self.ws.path("out")
        slow = {"type": "command", "command": "echo \"$AVISO_SEQUENCE\" >> '%s'; sleep 0.3" % out}
        d = Daemon(self.ws, [self.listener(emu, triggers=[slow])])
        self.addCleanup(d.cleanup)
        p = subprocess.Popen(d.argv("replay", "m", "--from", "1"), stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: read_text(out).split()[:1] == ["1"], 15)
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 1, err)
        self.assertRegex(err, r"replay m: \d notification\(s\), 0 trigger run\(s\) failed\n")
        self.assertLess(len(read_text(out).split()), 5)

    def test_replay_of_an_sse_listener_needs_to(self):
        d = Daemon(self.ws, [{"name": "s", "protocol": "sse", "url": "http://127.0.0.1:9/",
                              "triggers": [{"type": "echo"}]}])
        self.addCleanup(d.cleanup)
        r = d.run_command("replay", "s", "--from", "1")
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn("replay of an sse listener needs --from and --to event ids", r.stderr)

    # ------------------------------------------------------------ aviso's own configuration

    def test_a_configuration_written_for_the_aviso_cli_runs(self):
        emu = self.emulator()
        seqs = self.publish(emu, 2)
        conf = self.ws.write("aviso.yaml", """\
base_url: "%s"
heartbeat_interval: 30
timeout: 10s
state_file: /tmp/not-used-by-ssewatchd.json
state_dir: "%s"
listeners:
  - name: mars-listener
    event: mars
    identifiers:
      class: od
      stream: enfo
      step: {in: [0, 1]}
    from_id: "1"
    triggers:
      - type: echo
      - type: log
        path: "%s"
      - type: command
        command: "echo {{ notification.sequence }} >> %s"
        timeout: 30s
        retries: 1
""" % (emu.base_url, self.ws.path("state"), self.log, self.ws.path("seqs.txt")))
        argv = Daemon(self.ws, []).argv("run")     # the binary (and wrapper) under test
        argv[argv.index("-c") + 1] = conf
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: len(read_text(self.ws.path("seqs.txt")).split()) == 2, 15)
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        with open(self.ws.path("seqs.txt")) as f:
            self.assertEqual(f.read().split(), [str(s) for s in seqs])
        self.assertIn("state_file is ignored", err)

    # ------------------------------------------------------------ volume with faults

    def test_volume_with_a_fault_every_500(self):
        """VOLUME notifications, half before the start, half while the
        daemon streams, with a fault about every 500 (every lossless kind in
        turn): none lost, no trigger run twice, in order, and every reconnect
        asked for the last committed sequence + 1."""
        emu = self.emulator(CursorEmulator, heartbeat=0.5)
        kinds = ["rst", "fin", "eof", "stall", "close:max_duration_reached", "close:server_shutdown",
                 "close:end_of_stream", "dup", "resend:3", "unknown_event", "unknown_control", "split",
                 "merge", "500", "503", "429", "error_replay"]
        half = VOLUME // 2
        self.publish(emu, half)
        emu.fault_every(max(1, VOLUME // 20), kinds)
        d = Daemon(self.ws, [self.listener(emu, from_id="1", idle_timeout="2s")])
        self.addCleanup(d.cleanup)
        emu.state_file = os.path.join(d.state_dir, "m.json")
        d.start()

        def publish_rest():
            for start in range(half, VOLUME, 50):
                emu.notify_many([("mars", dict(MARS, step=i % 1000), {"i": i})
                                 for i in range(start, min(start + 50, VOLUME))], fill=True)
        t = threading.Thread(target=publish_rest)
        t.start()
        t.join()
        wait_until(lambda: len(seqs_of(self.log)) >= VOLUME, 600,
                   message="delivered %d of %d" % (len(seqs_of(self.log)), VOLUME))
        self.assertEqual(d.stop(), 0)
        self.assertEqual(seqs_of(self.log), list(range(1, VOLUME + 1)))
        fired = emu.fault_every_log()
        self.assertGreaterEqual(len(fired), len(kinds), fired)
        # Half the notifications wait before the start, so the first fault
        # comes after the first commit: every reconnect has a cursor to check.
        for r in emu.stream_requests()[1:]:
            self.assertNotIn("state_error", r)
            self.assertIsNotNone(r.get("state_cursor"), r)
            self.assertEqual(r["from_id"], str(r["state_cursor"] + 1), r)
        reconnects = len(emu.stream_requests()) - 1
        print("\n    aviso volume: %d notifications, %d faults, %d reconnects" % (VOLUME, len(fired), reconnects),
              file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
