"""Service operation without a service manager: the status file and
`ssewatchd status`, and reload on SIGHUP (unchanged listeners keep their
connection, changed ones restart, removed ones stop with their state kept,
new ones start, an invalid configuration changes nothing)."""

import json
import os
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from daemon import Daemon, read_records, record_trigger  # noqa: E402
from procs import Workspace, wait_until  # noqa: E402
from sse_fault_server import FaultServer  # noqa: E402


def listener(name, url, out, **extra):
    l = {"name": name, "protocol": "sse", "url": url, "triggers": [record_trigger(out)]}
    l.update(extra)
    return l


class ServiceTests(unittest.TestCase):
    def setUp(self):
        self.ws = Workspace()
        self.addCleanup(self.ws.cleanup)
        self.servers = {}

    def server(self, name, **kw):
        srv = FaultServer(script=[], **kw)
        srv.start()
        self.addCleanup(srv.stop)
        self.servers[name] = srv
        return srv

    def daemon(self, listeners):
        d = Daemon(self.ws, listeners, runtime_dir=self.ws.path("run"))
        self.addCleanup(d.cleanup)
        return d

    def status(self, d):
        r = d.run_command("status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        return {l["name"]: l for l in doc["listeners"]}, doc

    def poll_status(self, d, name, key):
        """For wait_until: the listener's value once the status file shows one
        (it is rewritten at most once a second)."""
        return (d.listener_status(name) or {}).get(key)

    def hup(self, d, expect):
        before = d.log().count("SIGHUP received")
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: d.log().count("SIGHUP received") > before, 10)
        return d.wait_log(expect)

    def test_status_shows_listeners_and_counters(self):
        a = self.server("a", initial_events=2)
        d = self.daemon([listener("a", a.url, self.ws.path("a.txt"))])
        d.start()
        wait_until(lambda: len(read_records(self.ws.path("a.txt"))) == 2, 10)
        wait_until(lambda: self.poll_status(d, "a", "triggered") == 2, 10)
        ls, doc = self.status(d)
        self.assertEqual(doc["pid"], d.proc.pid)
        self.assertEqual((ls["a"]["state"], ls["a"]["received"], ls["a"]["cursor"], ls["a"]["pending"]),
                         ("open", 2, "2", 0))
        self.assertIsNotNone(ls["a"]["connected_since"])
        human = d.run_command("status")
        self.assertEqual(human.returncode, 0)
        self.assertRegex(human.stdout, r"\na +open +\S+ +\S+ +2 +2 +0 +0 +0 +0\n")
        self.assertEqual(d.stop(), 0)
        gone = d.run_command("status")
        self.assertEqual(gone.returncode, 1)
        self.assertIn("not running", gone.stderr)

    def test_a_second_daemon_in_the_same_runtime_dir_leaves_the_status_alone(self):
        a = self.server("a", initial_events=1)
        first = self.daemon([listener("a", a.url, self.ws.path("a.txt"))])
        first.start()
        wait_until(lambda: self.poll_status(first, "a", "triggered") == 1, 10)
        second = Daemon(self.ws, [listener("b", a.url, self.ws.path("b.txt"))], name="second",
                        runtime_dir=self.ws.path("run"))
        self.addCleanup(second.cleanup)
        second.start()
        second.wait_log(r"another ssewatchd writes its status in .*/run; this one writes none")
        wait_until(lambda: len(read_records(self.ws.path("b.txt"))) == 1, 10)
        self.assertEqual(second.stop(), 0)
        ls, doc = self.status(first)        # still there, and still the first's
        self.assertEqual((doc["pid"], list(ls)), (first.proc.pid, ["a"]))
        self.assertEqual(first.stop(), 0)

    def test_a_second_sigterm_ends_the_grace_as_its_end_would(self):
        # Not SIGKILL at once: the triggers get SIGTERM, as at the end of
        # the grace period, and the daemon exits when they have ended.
        a = self.server("a", initial_events=1)
        started, got = self.ws.path("started"), self.ws.path("got-term")
        script = ("trap 'echo TERM >> %s; exit 0' TERM; echo up > %s; sleep 100 & wait" % (got, started))
        d = self.daemon([{"name": "a", "protocol": "sse", "url": a.url,
                          "triggers": [{"type": "command", "command": script}]}])
        d.start()
        wait_until(lambda: os.path.exists(started), 10)
        d.proc.send_signal(signal.SIGTERM)
        d.wait_log(r"waiting up to 30s for running triggers to finish")
        self.assertFalse(os.path.exists(got))
        d.proc.send_signal(signal.SIGTERM)
        d.wait_log(r"SIGTERM again: terminating the running triggers now")
        self.assertEqual(d.proc.popen.wait(timeout=20), 0)
        with open(got) as f:
            self.assertEqual(f.read(), "TERM\n")

    def test_status_file_with_many_listeners(self):
        # The status file is written a listener at a time, in chunks: with
        # 600 listeners it takes several, and must still be one document
        # naming each listener once, with no temp file left beside it.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]      # closed again: connections are refused
        names = ["l%03d" % i for i in range(600)]
        d = self.daemon([listener(n, "http://127.0.0.1:%d/%s" % (port, n), self.ws.path("out.txt"))
                         for n in names])
        d.start()
        wait_until(lambda: self.poll_status(d, "l599", "state") is not None, 20)
        ls, doc = self.status(d)
        self.assertEqual(sorted(ls), names)
        self.assertEqual(doc["pid"], d.proc.pid)
        self.assertFalse(doc["stopping"])
        size = os.path.getsize(os.path.join(self.ws.path("run"), "status.json"))
        self.assertGreater(size, 2 * 64 * 1024)
        # A rewrite may be under way at any moment (listeners change state
        # as they retry); a temp file left behind would stay for good.
        wait_until(lambda: os.listdir(self.ws.path("run")) == ["status.json"], 10)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(os.listdir(self.ws.path("run")), [])

    def test_reload_adds_changes_and_removes_listeners(self):
        keep = self.server("keep", initial_events=1)
        change = self.server("change", initial_events=1)
        remove = self.server("remove", initial_events=1)
        add = self.server("add", initial_events=1)
        outs = {n: self.ws.path(n + ".txt") for n in ("keep", "change", "remove", "add")}
        d = self.daemon([listener("keep", keep.url, outs["keep"]),
                         listener("change", change.url, outs["change"]),
                         listener("remove", remove.url, outs["remove"])])
        d.start()
        for n in ("keep", "change", "remove"):
            wait_until(lambda n=n: len(read_records(outs[n])) == 1, 10)
        since = wait_until(lambda: self.poll_status(d, "keep", "connected_since"), 10)

        d.write_config([listener("keep", keep.url, outs["keep"]),
                        listener("change", change.url, outs["change"], headers={"X-Version": "2"}),
                        listener("add", add.url, outs["add"])], runtime_dir=self.ws.path("run"))
        self.hup(d, r"configuration reloaded: 1 listener\(s\) unchanged, 1 changed, 1 added, 1 removed")

        wait_until(lambda: len(read_records(outs["add"])) == 1, 10)
        wait_until(lambda: len(change.requests) == 2, 10)
        self.assertEqual(change.header(1, "X-Version"), "2")
        self.assertEqual(change.requests[1]["last_event_id"], "1")      # resumed, nothing repeated
        wait_until(lambda: remove.requests[0].get("end") is not None, 10)
        # The unchanged listener kept its stream: one request, same since.
        self.assertEqual(len(keep.requests), 1)
        keep.push("after reload")
        wait_until(lambda: len(read_records(outs["keep"])) == 2, 10)
        wait_until(lambda: self.poll_status(d, "add", "received") == 1, 10)
        ls = self.status(d)[0]
        self.assertEqual(ls["keep"]["connected_since"], since)
        self.assertEqual(sorted(ls), ["add", "change", "keep"])
        self.assertEqual(d.stop(), 0)
        # The removed listener's state is kept.
        self.assertTrue(os.path.exists(os.path.join(d.state_dir, "remove.json")))
        self.assertEqual([len(read_records(outs[n])) for n in ("change", "remove")], [1, 1])

    def test_invalid_configuration_on_reload_keeps_the_old_one(self):
        a = self.server("a", initial_events=1)
        d = self.daemon([listener("a", a.url, self.ws.path("a.txt"))])
        d.start()
        wait_until(lambda: len(read_records(self.ws.path("a.txt"))) == 1, 10)
        with open(d.config, "a") as f:
            f.write("bogus_key: 1\n")
        self.hup(d, r"the new configuration is invalid .*still running the previous one")
        self.assertRegex(d.log(), r"daemon\.yaml:\d+:1: bogus_key: unknown key")
        a.push("still here")
        wait_until(lambda: len(read_records(self.ws.path("a.txt"))) == 2, 10)
        self.assertEqual(len(a.requests), 1)
        self.assertEqual(d.stop(), 0)

    def change_while_busy(self, trigger):
        """Listener a runs `trigger` (one list for both configurations) on
        event 1; a reload changes a meanwhile, so its new watch waits for
        the old one's trigger. Returns the server, the output path, the daemon."""
        a = self.server("a", initial_events=1)
        out = self.ws.path("a.txt")
        d = self.daemon([listener("a", a.url, out, triggers=trigger(out))])
        d.start()
        wait_until(lambda: self.poll_status(d, "a", "trigger_running"), 10)
        d.write_config([listener("a", a.url, out, triggers=trigger(out), headers={"X-New": "1"})],
                       runtime_dir=self.ws.path("run"))
        self.hup(d, r"1 changed")
        return a, out, d

    def gated(self, done):
        """A trigger list factory: record_trigger(out), run once the file
        done exists."""
        def triggers(out):
            rec = record_trigger(out)["argv"]
            return [{"type": "command",
                     "argv": ["sh", "-c", 'while [ ! -e "$0" ]; do sleep 0.05; done; exec "$@"', done] + rec}]
        return triggers

    def test_changed_listener_waits_for_its_running_trigger(self):
        done = self.ws.path("DONE")
        a, out, d = self.change_while_busy(self.gated(done))
        # The old watch's trigger is held running: the new watch waits,
        # and asks only after the gate let the old one finish.
        self.assertEqual(len(a.requests), 1)
        released = time.monotonic()
        open(done, "w").close()
        wait_until(lambda: len(a.requests) == 2, 15)
        self.assertGreater(a.requests[1]["time"], released)
        self.assertEqual(len(read_records(out)), 1)
        self.assertEqual(a.requests[1]["last_event_id"], "1")
        a.push("next")
        wait_until(lambda: len(read_records(out)) == 2, 15)
        self.assertEqual([x for _, x in read_records(out)], ["event 1", "next"])
        self.assertEqual(d.stop(), 0)

    def test_a_waiting_listener_removed_by_a_second_reload_never_starts(self):
        done = self.ws.path("DONE")
        a, out, d = self.change_while_busy(self.gated(done))
        # The new watch is removed before it ever started.
        b = self.server("b", initial_events=1)
        d.write_config([listener("b", b.url, self.ws.path("b.txt"))], runtime_dir=self.ws.path("run"))
        self.hup(d, r"1 added, 1 removed")
        open(done, "w").close()
        wait_until(lambda: len(read_records(out)) == 1, 15)   # the old trigger finished
        self.assertEqual(d.stop(), 0)
        self.assertEqual(len(a.requests), 1)                  # nothing started after it

    def test_the_stop_grace_terminates_triggers_of_changed_listeners_too(self):
        _, _, d = self.change_while_busy(lambda out: [record_trigger(out, env={"RECORD_SLEEP": "300"})])
        log = d.proc                                          # stop() forgets it
        self.assertEqual(d.stop(timeout=60), 0)               # after the 30 s grace
        self.assertIn("terminating them", log.output())
        self.assertNotIn("did not end after being terminated", log.output())

    def test_credentials_that_arrive_after_sigterm_open_no_stream(self):
        a = self.server("a", initial_events=1)
        out = self.ws.path("a.txt")
        d = self.daemon([listener("a", a.url, out, triggers=[record_trigger(out, env={"RECORD_SLEEP": "300"})])])
        d.start()
        wait_until(lambda: self.poll_status(d, "a", "trigger_running"), 10)
        d.kill()                                              # event 1 stays pending

        go, done = self.ws.path("GO"), self.ws.path("DONE")
        gate = "while [ ! -e %s ]; do sleep 0.05; done"
        d.write_config([listener("a", a.url, out, auth={"refresh_command": ["sh", "-c", gate % go + "; echo tok"]},
                                 triggers=[{"type": "command", "argv": ["sh", "-c", gate % done]}])],
                       runtime_dir=self.ws.path("run"))
        d.start()
        d.wait_log(r"running their remaining triggers first")  # the trigger holds the stop open
        d.proc.send_signal(signal.SIGTERM)
        d.wait_log(r"SIGTERM received")
        open(go, "w").close()
        d.wait_log(r"credentials refreshed")
        open(done, "w").close()
        self.assertEqual(d.proc.popen.wait(timeout=30), 0)
        self.assertNotIn("connected", d.proc.output())
        self.assertEqual(len(a.requests), 1)                 # the first run's only

    def test_reload_rereads_the_bearer_token_file(self):
        a = self.server("a", initial_events=1)
        token = self.ws.path("token")
        with open(token, "w") as f:
            f.write("first-token\n")
        d = self.daemon([listener("a", a.url, self.ws.path("a.txt"), auth={"bearer_token_file": token})])
        d.start()
        wait_until(lambda: len(read_records(self.ws.path("a.txt"))) == 1, 10)
        self.assertEqual(a.header(0, "Authorization"), "Bearer first-token")
        with open(token, "w") as f:
            f.write("second-token\n")
        self.hup(d, r"1 listener\(s\) unchanged")
        a.drop("fin")
        wait_until(lambda: len(a.requests) == 2, 10)
        self.assertEqual(a.header(1, "Authorization"), "Bearer second-token")
        self.assertEqual(d.stop(), 0)
        self.assertNotIn("token", d.all_logs().replace("bearer_token_file", ""))


if __name__ == "__main__":
    unittest.main()
