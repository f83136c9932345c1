"""The one-shot commands: check, state list|show|reset, dead-letter
list|retry|drop, and how they treat a running daemon's lock."""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from daemon import ROOT, Daemon, read_records, record_trigger  # noqa: E402
from procs import Workspace, wait_until  # noqa: E402
from sse_fault_server import FaultServer  # noqa: E402


class CliTests(unittest.TestCase):
    def setUp(self):
        self.ws = Workspace()
        self.addCleanup(self.ws.cleanup)
        self.srv = FaultServer(script=[], initial_events=3)
        self.srv.start()
        self.addCleanup(self.srv.stop)
        self.out = self.ws.path("out.txt")

    def daemon(self, **trigger):
        d = Daemon(self.ws, [{"name": "l", "protocol": "sse", "url": self.srv.url,
                              "triggers": [record_trigger(self.out, **trigger)]}])
        self.addCleanup(d.cleanup)
        return d

    def run_ok(self, d, *args):
        r = d.run_command(*args)
        self.assertEqual(r.returncode, 0, "%s: %s%s" % (args, r.stdout, r.stderr))
        return r

    def test_example_configurations_are_valid(self):
        """conf/ssewatchd.yaml as shipped, conf/demo.yaml as scripts/demo fills it in."""
        with open(os.path.join(ROOT, "conf", "demo.yaml")) as f:
            demo = f.read().replace("@DEMO_DIR@", self.ws.path("demo")).replace("@DEMO_PORT@", "8787") \
                .replace("@AVISO_PORT@", "8788")
        with open(self.ws.path("demo.yaml"), "w") as f:
            f.write(demo)
        d = Daemon(self.ws, [])
        for path in (os.path.join(ROOT, "conf", "ssewatchd.yaml"), self.ws.path("demo.yaml")):
            argv = d.argv("check")
            argv[argv.index(d.config)] = path
            r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, "%s: %s" % (path, r.stderr))
            self.assertIn("configuration OK", r.stderr)

    def test_state_show_and_list_after_a_run(self):
        d = self.daemon()
        d.start()
        wait_until(lambda: len(read_records(self.out)) == 3, 10)
        self.assertEqual(d.stop(), 0)
        show = json.loads(self.run_ok(d, "state", "show", "l").stdout)
        self.assertEqual((show["listener"], show["protocol"], show["cursor"], show["pending"], show["dead_letters"]),
                         ("l", "sse", "3", 0, 0))
        self.assertRegex(self.run_ok(d, "state", "list").stdout, r'^l +cursor="3" pending=0 dead_letters=0$')

    def test_reset_refuses_while_the_daemon_runs_then_works(self):
        d = self.daemon()
        d.start()
        wait_until(lambda: len(read_records(self.out)) == 3, 10)
        r = d.run_command("state", "reset", "l")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"refusing: .*locked by another ssewatchd \(pid %d\)" % d.proc.pid)
        r = d.run_command("dead-letter", "drop", "l")
        self.assertEqual(r.returncode, 1)
        self.assertIn("refusing", r.stderr)
        self.assertEqual(d.stop(), 0)

        self.run_ok(d, "state", "reset", "l", "--to", "1")
        self.assertEqual(json.loads(self.run_ok(d, "state", "show", "l").stdout)["cursor"], "1")
        d.start()
        wait_until(lambda: len(read_records(self.out)) == 5, 10)   # 2 and 3 again
        self.assertEqual(d.stop(), 0)
        self.assertEqual(self.srv.requests[-1]["last_event_id"], "1")

        self.run_ok(d, "state", "reset", "l")
        self.assertIsNone(json.loads(self.run_ok(d, "state", "show", "l").stdout)["cursor"])

    def test_dead_letters_list_retry_drop(self):
        d = self.daemon(env={"RECORD_FAIL_MATCH": "event 2"})
        d.start()
        d.wait_log(r"dead-lettered after 1 attempt")
        wait_until(lambda: len(read_records(self.out)) == 2, 10)
        self.assertEqual(d.stop(), 0)

        listing = self.run_ok(d, "dead-letter", "list", "l").stdout
        self.assertRegex(listing, r"^2 +2 +listeners\[0\]\.triggers\[0\] +exit status 3 \(")

        # The failure is fixed: queue it again, and it runs, once.
        d.write_config([{"name": "l", "protocol": "sse", "url": self.srv.url,
                         "triggers": [record_trigger(self.out)]}])
        self.run_ok(d, "dead-letter", "retry", "l", "2")
        self.assertEqual(self.run_ok(d, "dead-letter", "list", "l").stdout, "")
        self.assertEqual(json.loads(self.run_ok(d, "state", "show", "l").stdout)["pending"], 1)
        d.start()
        wait_until(lambda: len(read_records(self.out)) == 3, 10)
        self.assertEqual(d.stop(), 0)
        self.assertEqual([x for _, x in read_records(self.out)], ["event 1", "event 3", "event 2"])

        r = d.run_command("dead-letter", "retry", "l", "99")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no dead letter 99", r.stderr)

    def test_a_retried_dead_letter_that_cannot_be_removed_is_an_error(self):
        # Queued again but still there, it would be queued twice by the
        # next retry: the command says so, names the file, and exits 1.
        d = self.daemon(env={"RECORD_FAIL_MATCH": "event 2"})
        d.start()
        d.wait_log(r"dead-lettered after 1 attempt")
        wait_until(lambda: len(read_records(self.out)) == 2, 10)
        self.assertEqual(d.stop(), 0)
        dl = os.path.join(d.state_dir, "dead-letters", "l")
        os.chmod(dl, 0o500)
        self.addCleanup(os.chmod, dl, 0o700)
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
        r = subprocess.run(prefix + d.argv("dead-letter", "retry", "l", "2"), capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("l: dead letter 2 is queued again, but %s/2.json cannot be removed (Permission denied)" % dl,
                      r.stderr)
        self.assertEqual(json.loads(self.run_ok(d, "state", "show", "l").stdout)["pending"], 1)

    def four_dead_letters(self):
        """Dead letters 1 to 3 (a failing trigger) and 4 (too large: kept
        without its data). Returns the stopped daemon and their directory."""
        d = Daemon(self.ws, [{"name": "l", "protocol": "sse", "url": self.srv.url, "max_event_size": "1KiB",
                              "triggers": [record_trigger(self.out, env={"RECORD_FAIL_MATCH": "event"})]}])
        self.addCleanup(d.cleanup)
        d.start()
        wait_until(lambda: "dead_letters=3" in d.run_command("state", "list").stdout, 10)
        self.srv.push("x" * 2000)
        wait_until(lambda: "dead_letters=4" in d.run_command("state", "list").stdout, 10)
        self.assertEqual(d.stop(), 0)
        return d, os.path.join(d.state_dir, "dead-letters", "l")

    def test_retry_removes_only_the_dead_letters_it_queued(self):
        d, letters = self.four_dead_letters()
        with open(os.path.join(letters, "2.json"), "w") as f:
            f.write("{")                               # unreadable

        r = self.run_ok(d, "dead-letter", "retry", "l")
        self.assertIn("l: 2 dead letter(s) queued again", r.stderr)
        self.assertIn("dead letter 4 cannot be retried", r.stderr)
        self.assertIn("2.json", r.stderr)
        self.assertEqual(sorted(os.listdir(letters)), ["2.json", "4.json"])
        self.assertEqual(json.loads(self.run_ok(d, "state", "show", "l").stdout)["pending"], 2)

    def test_dead_letters_of_a_reset_state_are_never_overwritten(self):
        d = self.daemon(env={"RECORD_FAIL_MATCH": "event 2"})
        d.start()
        d.wait_log(r"dead-lettered after 1 attempt")
        self.assertEqual(d.stop(), 0)
        self.run_ok(d, "state", "reset", "l")
        first = self.run_ok(d, "dead-letter", "list", "l").stdout

        d.start()                                      # afresh: the same three events again
        wait_until(lambda: "dead_letters=2" in d.run_command("state", "list").stdout, 10)
        self.assertEqual(d.stop(), 0)
        listing = self.run_ok(d, "dead-letter", "list", "l").stdout.splitlines()
        self.assertEqual(listing[0], first.rstrip("\n"))           # the old one, untouched
        self.assertRegex(listing[1], r"^4 +2 ")                    # numbered past it

    def test_drop_dead_letters(self):
        d = self.daemon(env={"RECORD_FAIL_MATCH": "event"})
        d.start()
        wait_until(lambda: "dead_letters=3" in d.run_command("state", "list").stdout, 10)
        self.assertEqual(d.stop(), 0)
        self.run_ok(d, "dead-letter", "drop", "l", "1")
        self.assertEqual(len(self.run_ok(d, "dead-letter", "list", "l").stdout.splitlines()), 2)
        self.run_ok(d, "dead-letter", "drop", "l")
        self.assertEqual(self.run_ok(d, "dead-letter", "list", "l").stdout, "")

    def test_reset_keeps_unfinished_notifications_as_dead_letters(self):
        d = self.daemon(env={"RECORD_SLEEP": "30"})
        d.start()
        wait_until(lambda: json.loads(d.run_command("state", "show", "l").stdout)["pending"] == 3, 10)
        d.kill()
        r = self.run_ok(d, "state", "reset", "l", "--live")
        self.assertIn("3 unfinished notification(s) moved to dead letters", r.stderr)
        self.assertEqual(len(self.run_ok(d, "dead-letter", "list", "l").stdout.splitlines()), 3)

    def test_reset_leaves_a_state_it_cannot_read_alone(self):
        d = self.daemon(env={"RECORD_SLEEP": "30"})
        d.start()
        wait_until(lambda: json.loads(d.run_command("state", "show", "l").stdout)["pending"] == 3, 10)
        d.kill()
        path = os.path.join(d.state_dir, "l.json")
        os.chmod(path, 0)
        # root reads anything unless it gives up the capabilities that let it
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
        r = subprocess.run(prefix + d.argv("state", "reset", "l"), capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"l\.json: cannot open: Permission denied; nothing was changed")
        os.chmod(path, 0o600)
        self.assertEqual(json.loads(self.run_ok(d, "state", "show", "l").stdout)["pending"], 3)
        self.assertEqual(self.run_ok(d, "dead-letter", "list", "l").stdout, "")

    def test_reset_replaces_a_corrupt_state_and_says_why(self):
        d = self.daemon()
        os.makedirs(d.state_dir, exist_ok=True)
        with open(os.path.join(d.state_dir, "l.json"), "w") as f:
            f.write("{")
        r = self.run_ok(d, "state", "reset", "l", "--live")
        self.assertRegex(r.stderr, r"l: the state file is replaced, its content unusable: .*l\.json:1:")
        self.assertIsNone(json.loads(self.run_ok(d, "state", "show", "l").stdout)["cursor"])

    def test_a_state_of_more_values_than_the_daemon_writes_is_not_parsed(self):
        # 36 MB of tiny values: jansson would build 18 million of them.
        d = self.daemon()
        os.makedirs(d.state_dir, exist_ok=True)
        with open(os.path.join(d.state_dir, "l.json"), "w") as f:
            f.write("[" + "1," * 18000000 + "1]")
        r = d.run_command("state", "show", "l")
        self.assertEqual(r.returncode, 1, r.stderr)
        limit = (16 + 1) * 1024 * 1024 // 2 + 8 * 1024 * 1024
        self.assertRegex(r.stderr, r"l\.json: more than %d JSON values, more than this daemon writes" % limit)
        r = self.run_ok(d, "state", "reset", "l", "--live")
        self.assertRegex(r.stderr, r"l: the state file is replaced, its content unusable: .*more than %d" % limit)

    def test_usage_errors_exit_64(self):
        d = self.daemon()
        for args in (["state", "reset"], ["state", "show"], ["dead-letter", "list"], ["dead-letter", "bogus", "l"],
                     ["state", "reset", "nope"], ["replay", "l"], ["frobnicate"], ["check", "extra"],
                     ["dead-letter", "list", "l", "-1"], ["dead-letter", "drop", "l", "99999999999999999999999"],
                     ["dead-letter", "retry", "l", "+3"], ["dead-letter", "list", "l", "0"],
                     ["state", "reset", "l", "--to", "\udcff\udcfe"],          # not UTF-8: no cursor can hold it
                     ["replay", "l", "--from", "1"],                       # sse: --to is needed
                     ["replay", "l", "--from", "1", "--to", "a\nb"]):
            r = d.run_command(*args)
            self.assertEqual(r.returncode, 64, "%s: %s" % (args, r.stderr))
        self.assertFalse(os.path.exists(os.path.join(d.state_dir, "l.json")))

    def test_a_wrong_subcommand_is_a_usage_error_before_the_configuration(self):
        # 64 whatever the configuration holds: here, none at all.
        missing = self.ws.path("missing.yaml")
        for args, want in ((["state", "frob"], 64), (["dead-letter"], 64), (["dead-letter", "show", "l"], 64),
                           (["state"], 64), (["state", "list"], 78), (["dead-letter", "list", "l"], 78)):
            r = subprocess.run(Daemon(self.ws, []).argv()[:-2] + ["-c", missing] + args, capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, want, "%s: %s" % (args, r.stderr))

    def test_an_aviso_cursor_beyond_the_largest_sequence_is_refused(self):
        d = Daemon(self.ws, [{"name": "a", "base_url": "http://127.0.0.1:9", "event": "mars",
                              "identifiers": {"class": "od"}, "triggers": [record_trigger(self.out)]}])
        self.addCleanup(d.cleanup)
        r = d.run_command("state", "reset", "a", "--to", "99999999999999999999")
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn("sequence number", r.stderr)
        for args in (["--from", "99999999999999999999999"], ["--from", "5", "--to", "3"],
                     ["--from", "1", "--to", "-2"]):
            r = d.run_command("replay", "a", *args)
            self.assertEqual(r.returncode, 64, "%s: %s" % (args, r.stderr))
        self.run_ok(d, "state", "reset", "a", "--to", "9223372036854775807")
        self.assertEqual(json.loads(self.run_ok(d, "state", "show", "a").stdout)["cursor"], 9223372036854775807)

    def test_drop_takes_an_unreadable_dead_letter_and_retry_explains_an_oversize_one(self):
        d, letters = self.four_dead_letters()
        with open(os.path.join(letters, "2.json"), "w") as f:
            f.write("garbage")

        r = d.run_command("dead-letter", "retry", "l", "4")
        self.assertEqual(r.returncode, 1)
        self.assertIn("dead letter 4 cannot be retried", r.stderr)
        self.assertNotIn("no dead letter", r.stderr)
        r = self.run_ok(d, "dead-letter", "drop", "l", "2")
        self.assertIn("1 dead letter(s) dropped", r.stderr)
        self.assertEqual(sorted(os.listdir(letters)), ["1.json", "3.json", "4.json"])
        with open(os.path.join(letters, "3.json"), "w") as f:
            f.write("")
        self.run_ok(d, "dead-letter", "drop", "l")
        self.assertEqual(os.listdir(letters), [])


if __name__ == "__main__":
    unittest.main()
