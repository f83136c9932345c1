"""systemd/ssewatchd.service under a real systemd, and the manual pages.

The static checks run `systemd-analyze security --offline=yes` and
`systemd-analyze verify` on the shipped unit. The others boot systemd as PID 1
in a private PID + mount namespace (tests/lib/systemd_ns.py: nothing there
writes to the shared file system), install the built binary and the unit as
`make install PREFIX=/usr/local` would, and drive it with systemctl and
journalctl. The daemon reaches a fault-injecting SSE server on the host's
127.0.0.1 (the namespace shares the network).

The unit runs as shipped, DynamicUser=yes included (nss-systemd resolves the
transient user inside the namespace). Where namespaces or booting are not
possible, these tests skip and say why; they never pass instead.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from daemon import binary, under_valgrind, yaml_dump  # noqa: E402
from procs import MAY_SKIP, Workspace, wait_until  # noqa: E402
from sse_fault_server import FaultServer  # noqa: E402
from systemd_ns import SystemdNamespace, Unavailable  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = os.path.join(ROOT, "systemd", "ssewatchd.service")
DROPIN = os.path.join(ROOT, "systemd", "ssewatchd-relaxed-triggers.conf")
MAN = os.path.join(ROOT, "man")
LOG_H = os.path.join(ROOT, "src", "log.h")
MAX_EXPOSURE = 1.5
# systemd's own MESSAGE_IDs (sd-messages.h); the namespace's systemd logs at
# debug level, so the process-exit entry of a successful stop is there too.
SD_MESSAGE_UNIT_PROCESS_EXIT = "98e322203f7a4ed290d09fe03c09fe15"
SD_MESSAGE_UNIT_SUCCESS = "7ad2d189f7e94e70a38c781354912448"
SD_MESSAGE_UNIT_FAILURE_RESULT = "d9b373ed55a64feb8242e02dbe79a49c"
INSTALLED_BIN = "/usr/local/bin/ssewatchd"


def message_ids():
    """LOG_MID_* from src/log.h: {"CONNECTED": "32d9...", ...}."""
    with open(LOG_H) as f:
        return dict(re.findall(r'#define LOG_MID_(\w+)\s+"([0-9a-f]{32})"', f.read()))


def installed_unit(bindir):
    """The unit as `make install` writes it (the same substitution as its
    sed): ExecStart= in bindir."""
    with open(UNIT) as f:
        text = f.read()
    out, n = re.subn(r"^ExecStart=/usr/bin/ssewatchd ", "ExecStart=%s/ssewatchd " % bindir, text, flags=re.M)
    assert n == 1, "no 'ExecStart=/usr/bin/ssewatchd ' line in %s" % UNIT
    return out


def exposure(output):
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", output)
    return float(m.group(1)) if m else None


class UnitFileTest(unittest.TestCase):
    """Static checks: no systemd needs to run."""

    def setUp(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed")
        self.ws = Workspace()
        self.addCleanup(self.ws.cleanup)

    def analyze(self, *args):
        return subprocess.run(["systemd-analyze"] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=60)

    def test_security_exposure(self):
        r = self.analyze("security", "--offline=yes", "--no-pager", UNIT)
        level = exposure(r.stdout)
        self.assertIsNotNone(level, "no exposure figure in:\n%s%s" % (r.stdout, r.stderr))
        print("\n    systemd-analyze security: exposure %.1f for %s" % (level, os.path.relpath(UNIT, ROOT)),
              file=sys.stderr)
        self.assertLessEqual(level, MAX_EXPOSURE, r.stdout)

    def verify(self, with_dropin):
        """verify a copy whose ExecStart= is the built binary, with our man
        pages on MANPATH so the Documentation= references are checked too."""
        bin_path = os.path.abspath(binary())
        if not os.access(bin_path, os.X_OK):
            self.skipTest("%s is not built" % bin_path)
        d = self.ws.mkdir("units")
        with open(os.path.join(d, "ssewatchd.service"), "w") as f:
            f.write(installed_unit(os.path.dirname(bin_path)))
        if with_dropin:
            os.makedirs(os.path.join(d, "ssewatchd.service.d"))
            shutil.copy(DROPIN, os.path.join(d, "ssewatchd.service.d", "relaxed-triggers.conf"))
        env = dict(os.environ)
        if shutil.which("man"):
            mp = self.ws.path("man")
            for sec, page in (("8", "ssewatchd.8"), ("5", "ssewatchd.yaml.5")):
                src = os.path.join(MAN, page)
                self.assertTrue(os.path.exists(src), "%s is missing" % src)
                os.makedirs(os.path.join(mp, "man" + sec), exist_ok=True)
                shutil.copy(src, os.path.join(mp, "man" + sec, page))
            env["MANPATH"] = mp
            man = "--man=yes"
        else:
            man = "--man=no"
        r = subprocess.run(["systemd-analyze", "verify", man, os.path.join(d, "ssewatchd.service")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60, env=env)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def test_verify_clean(self):
        self.verify(with_dropin=False)

    def test_verify_clean_with_relaxed_dropin(self):
        self.verify(with_dropin=True)

    def test_relaxed_dropin_exposure(self):
        """The drop-in loosens the sandbox, as documented, and no further."""
        d = self.ws.mkdir("units")
        shutil.copy(UNIT, d)
        os.makedirs(os.path.join(d, "ssewatchd.service.d"))
        shutil.copy(DROPIN, os.path.join(d, "ssewatchd.service.d", "relaxed-triggers.conf"))
        r = self.analyze("security", "--offline=yes", "--no-pager", os.path.join(d, "ssewatchd.service"))
        level = exposure(r.stdout)
        self.assertIsNotNone(level, r.stdout + r.stderr)
        self.assertGreater(level, MAX_EXPOSURE - 0.5)
        self.assertLessEqual(level, 3.0, r.stdout)
        with open(DROPIN) as f:
            self.assertIn("2.4 instead of 1.1", f.read(), "the drop-in's comment quotes the scores")
        self.assertAlmostEqual(level, 2.4, delta=0.05)


class ManPagesTest(unittest.TestCase):
    """The manual pages against the code, so they do not drift apart."""

    def page(self, name):
        with open(os.path.join(MAN, name)) as f:
            return f.read()

    def test_mandoc_lint_clean(self):
        if not shutil.which("mandoc"):
            self.skipTest("mandoc is not installed (scripts/install-deps installs it)")
        r = subprocess.run(["mandoc", "-Tlint", os.path.join(MAN, "ssewatchd.8"),
                            os.path.join(MAN, "ssewatchd.yaml.5")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        # As `make man-lint`: the pages' references to each other resolve
        # only once installed; mandoc's database remarks are the machine's.
        left = [l for l in r.stdout.splitlines()
                if "referenced manual not found: Xr ssewatchd" not in l and "outdated mandoc.db" not in l]
        self.assertEqual(left, [])

    def test_every_config_key_is_documented(self):
        with open(os.path.join(ROOT, "src", "config.c")) as f:
            code = f.read()
        keys = set()
        for table in re.findall(r"static const struct keydef \w+\[\] = \{(.*?)\};", code, re.S):
            keys.update(re.findall(r'\{\s*"([a-z_]+)"', table))
        self.assertIn("heartbeat_interval", keys)
        page = self.page("ssewatchd.yaml.5")
        missing = sorted(k for k in keys if not re.search(r"^\.(?:It )?(?:Ic|Cm) %s\b|\bIc %s\b" % (k, k),
                                                             page, re.M))
        self.assertEqual(missing, [], "keys of src/config.c not in man/ssewatchd.yaml.5")

    def test_every_message_id_is_documented(self):
        page = self.page("ssewatchd.8")
        missing = sorted(n for n, mid in message_ids().items() if mid not in page)
        self.assertEqual(missing, [], "MESSAGE_IDs of src/log.h not in man/ssewatchd.8")

    def test_examples_are_valid(self):
        bin_path = binary()
        if not os.access(bin_path, os.X_OK):
            self.skipTest("%s is not built" % bin_path)
        ws = Workspace()
        self.addCleanup(ws.cleanup)
        blocks = [b.replace("\\e", "\\") for b in
                  re.findall(r"^\.Bd -literal -offset indent\n(.*?)\n\.Ed", self.page("ssewatchd.yaml.5"),
                             re.S | re.M)]
        configs = [b for b in blocks if re.match(r"(base_url|listeners|triggers):", b)]
        self.assertEqual(len(configs), 3, blocks)
        token = ws.write("token", "secret\n")
        top = "state_dir: %s\n" % ws.path("state")
        files = {
            "full.yaml": top + configs[0].replace("/run/credentials/ssewatchd.service/token", token),
            "shell.yaml": top + "listeners:\n  - name: s\n    protocol: sse\n    url: http://127.0.0.1/\n"
            + "".join("    %s\n" % l for l in configs[1].splitlines()),
            "main/ssewatchd.yaml": top + "base_url: https://aviso.example.int\nlisteners:\n",
            "main/conf.d/extra.yaml": configs[2] + "\n",
        }
        for name, text in files.items():
            ws.write(name, text)
        for name in ("full.yaml", "shell.yaml", "main/ssewatchd.yaml"):
            r = subprocess.run([bin_path, "-c", ws.path(name), "check"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, "%s:\n%s\n%s" % (name, files[name], r.stderr))


class ServiceTest(unittest.TestCase):
    """The unit under a real systemd (PID 1 of a private namespace)."""

    @classmethod
    def setUpClass(cls):
        cls.ns = None
        cls.ws = Workspace()
        try:
            cls._boot()
        except BaseException:
            cls._teardown()
            raise

    @classmethod
    def _boot(cls):
        if under_valgrind():
            raise unittest.SkipTest(MAY_SKIP + "the unit's MemoryDenyWriteExecute=yes forbids valgrind's JIT; "
                                    "the other integration tests run the daemon under valgrind")
        bin_path = binary()
        if not os.access(bin_path, os.X_OK):
            raise unittest.SkipTest("%s is not built" % bin_path)
        cls.srv = FaultServer(initial_events=3)
        cls.url = cls.srv.start()
        ns = SystemdNamespace(cls.ws.path("ns"))
        ns.add_unit("ssewatchd.service", installed_unit(os.path.dirname(INSTALLED_BIN)))
        with open(bin_path, "rb") as f:
            sanitized = b"__asan_init" in f.read()
        if sanitized:
            # LeakSanitizer stops the process with ptrace at exit, which the
            # sandbox forbids (and rightly so); the other integration tests
            # check for leaks. Everything else of the unit stays as shipped.
            ns.add_unit("ssewatchd.service.d/sanitizer.conf",
                        "[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n")
        ns.add_file(INSTALLED_BIN, binary_path=bin_path, mode=0o755)
        ns.add_file("/etc/ssewatchd/ssewatchd.yaml", cls.config("boot"))
        try:
            ns.boot()
        except Unavailable as e:
            raise unittest.SkipTest("cannot boot systemd in a namespace: %s" % e)
        cls.ns = ns

    @classmethod
    def _teardown(cls):
        if cls.ns is not None:
            cls.ns.poweroff()
            cls.ns = None
        if getattr(cls, "srv", None):
            cls.srv.stop()
            cls.srv = None
        cls.ws.cleanup()

    @classmethod
    def tearDownClass(cls):
        cls._teardown()

    @classmethod
    def config(cls, name, listener_extra=None, **extra):
        """One sse listener at the fault server; a command trigger (runs
        under the sandbox) and a log trigger, both into LogsDirectory=."""
        listener = {
            **(listener_extra or {}),
            "name": name, "protocol": "sse", "url": cls.url,
            "triggers": [
                {"type": "command",
                 "argv": ["/bin/sh", "-c", 'printf "%%s %%s\\n" "$SSEWATCHD_EVENT_ID" "$(id -un)" '
                          '>> /var/log/ssewatchd/%s.cmd' % name]},
                {"type": "log", "path": "/var/log/ssewatchd/%s.ndjson" % name},
            ],
        }
        top = {"log_level": "info"}
        top.update(extra)
        return yaml_dump(top) + "\n" + yaml_dump({"listeners": [listener]}) + "\n"

    def setUp(self):
        self.name = "t-" + uuid.uuid4().hex[:8]
        self.addCleanup(self.reset)

    def reset(self):
        """Leave the unit stopped, not failed, with the shipped settings."""
        if not self.ns or not self.ns.alive():
            return
        self.ns.run(["rm", "-f", "/etc/systemd/system/ssewatchd.service.d/relaxed-triggers.conf",
                     "/etc/systemd/system/ssewatchd.service.d/watchdog-test.conf"])
        self.ns.systemctl("daemon-reload")
        self.ns.systemctl("stop", "ssewatchd.service")
        self.ns.systemctl("reset-failed", "ssewatchd.service")

    def start(self, config=None):
        self.ns.write_file("/etc/ssewatchd/ssewatchd.yaml", config or self.config(self.name))
        return self.ns.systemctl("start", "ssewatchd.service", timeout=60)

    def read(self, path):
        r = self.ns.run(["cat", path])
        return r.stdout if r.returncode == 0 else None

    def wait_triggers(self, n, timeout=15):
        """The command trigger ran for events 1..n; returns its lines."""
        path = "/var/log/ssewatchd/%s.cmd" % self.name

        def done():
            text = self.read(path) or ""
            lines = text.splitlines()
            return lines if len(lines) >= n else None
        return wait_until(done, timeout=timeout, message="%s: fewer than %d trigger runs" % (path, n))

    # ------------------------------------------------------------ tests

    def test_start_is_ready_and_active(self):
        r = self.start()
        # Type=notify: `systemctl start` returns once the daemon sent READY=1.
        self.assertEqual(r.returncode, 0, r.stderr + self.ns.unit_log("ssewatchd.service")[-3000:])
        props = self.ns.show("ssewatchd.service", "ActiveState", "SubState", "Type", "MainPID",
                             "NotifyAccess", "StatusText", "User", "DynamicUser", "WatchdogUSec")
        self.assertEqual(props["ActiveState"], "active", props)
        self.assertEqual(props["SubState"], "running", props)
        self.assertEqual(props["Type"], "notify")
        self.assertEqual(props["DynamicUser"], "yes")
        self.assertEqual(props["WatchdogUSec"], "1min")
        self.assertNotEqual(props["MainPID"], "0")
        # STATUS= follows the listeners (at most once a second).
        status = wait_until(lambda: (lambda t: t if "3 notification(s)" in t else None)(
            self.ns.show("ssewatchd.service", "StatusText")["StatusText"]), timeout=15)
        self.assertRegex(status, r"^1 listener\(s\): 1 open, 0 connecting or waiting, 0 failed; "
                                 r"3 notification\(s\), 0 dead letter\(s\)$")

        # The sandbox lets command triggers run: every event, in order, as
        # the transient user.
        lines = self.wait_triggers(3)
        self.assertEqual(lines[:3], ["1 ssewatchd", "2 ssewatchd", "3 ssewatchd"])
        # Durable state in StateDirectory= (really /var/lib/private/ssewatchd).
        state = self.read("/var/lib/private/ssewatchd/%s.json" % self.name)
        self.assertIsNotNone(state, self.ns.run(["ls", "-laR", "/var/lib/private"]).stdout)

    def test_batch_commits_go_to_io_uring_in_the_sandbox(self):
        """The unit's system call filter lets a batch listener hand its
        commits to the kernel's io_uring workers: the daemon holds a ring,
        and every event is committed before its trigger, in order."""
        r = self.start(self.config(self.name, listener_extra={"commit": "batch"}))
        self.assertEqual(r.returncode, 0, r.stderr + self.ns.unit_log("ssewatchd.service")[-3000:])
        lines = self.wait_triggers(3)
        self.assertEqual(lines[:3], ["1 ssewatchd", "2 ssewatchd", "3 ssewatchd"])
        state = self.read("/var/lib/private/ssewatchd/%s.json" % self.name)
        self.assertIsNotNone(state)
        self.assertEqual(json.loads(state)["cursor"], "3")
        try:
            with open("/proc/sys/kernel/io_uring_disabled") as f:
                disabled = f.read().strip() != "0"
        except OSError:
            disabled = False
        if disabled:
            self.skipTest("io_uring is disabled on this host (kernel.io_uring_disabled)")
        pid = self.ns.show("ssewatchd.service", "MainPID")["MainPID"]
        fds = self.ns.run(["ls", "-l", "/proc/%s/fd" % pid])
        self.assertEqual(fds.returncode, 0, fds.stderr)
        self.assertIn("anon_inode:[io_uring]", fds.stdout)

    def test_journal_has_structured_fields(self):
        mids = message_ids()
        r = self.start()
        self.assertEqual(r.returncode, 0, r.stderr)

        def connected():
            for e in self.ns.journal("ssewatchd.service", "SSEWATCHD_LISTENER=" + self.name):
                if e.get("MESSAGE_ID") == mids["CONNECTED"]:
                    return e
            return None
        e = wait_until(connected, timeout=15,
                       message="no 'connected' entry with fields; journal:\n%s"
                       % self.ns.unit_log("ssewatchd.service")[-3000:])
        self.assertEqual(e["SSEWATCHD_LISTENER"], self.name)
        self.assertRegex(e["MESSAGE"], r"^%s: connected" % re.escape(self.name))
        self.assertEqual(e["PRIORITY"], "6")
        self.assertEqual(e["SYSLOG_IDENTIFIER"], "ssewatchd")
        # Sent through the native protocol, not parsed from stderr lines.
        self.assertEqual(e["_TRANSPORT"], "journal")
        self.assertEqual(e["_SYSTEMD_UNIT"], "ssewatchd.service")
        # The operator's query from the manual page works.
        r = self.ns.journalctl("-o", "json", "MESSAGE_ID=" + mids["CONNECTED"],
                               "SSEWATCHD_LISTENER=" + self.name)
        self.assertEqual(len([l for l in r.stdout.splitlines() if l.strip()]), 1, r.stdout)

    def test_an_idle_stream_is_logged_as_disconnected(self):
        """A stream cut for its silence carries the 'disconnected'
        MESSAGE_ID, as every other disconnection does."""
        mids = message_ids()
        r = self.start(self.config(self.name, listener_extra={"idle_timeout": "1s"}))
        self.assertEqual(r.returncode, 0, r.stderr)

        def idle_cut():
            for e in self.ns.journal("ssewatchd.service", "SSEWATCHD_LISTENER=" + self.name):
                if "nothing received for" in e.get("MESSAGE", ""):
                    return e
            return None
        e = wait_until(idle_cut, timeout=15, message="no idle-timeout entry; journal:\n%s"
                       % self.ns.unit_log("ssewatchd.service")[-3000:])
        self.assertEqual(e.get("MESSAGE_ID"), mids["DISCONNECTED"])
        self.assertEqual(e["PRIORITY"], "4")

    def test_stop_is_clean(self):
        r = self.start()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_triggers(3)
        invocation = self.ns.show("ssewatchd.service", "InvocationID")["InvocationID"]
        self.assertTrue(invocation)
        r = self.ns.systemctl("stop", "ssewatchd.service", timeout=90)
        self.assertEqual(r.returncode, 0, r.stderr)
        # An inactive unit is unloaded at once, and with it its ExecMain*
        # properties; systemd's own journal entries about this invocation
        # stay. The main process exited by itself with status 0: not killed
        # (KillMode=mixed would SIGKILL it after TimeoutStopSec=), not a
        # death by SIGTERM (which systemd would also call a success).
        exits = self.ns.journal(None, "MESSAGE_ID=" + SD_MESSAGE_UNIT_PROCESS_EXIT, "INVOCATION_ID=" + invocation)
        self.assertEqual([(e.get("EXIT_CODE"), e.get("EXIT_STATUS")) for e in exits], [("exited", "0")],
                         self.ns.unit_log("ssewatchd.service")[-3000:])
        self.assertEqual(len(self.ns.journal(None, "MESSAGE_ID=" + SD_MESSAGE_UNIT_SUCCESS,
                                             "INVOCATION_ID=" + invocation)), 1)
        self.assertEqual(self.ns.journal(None, "MESSAGE_ID=" + SD_MESSAGE_UNIT_FAILURE_RESULT,
                                         "INVOCATION_ID=" + invocation), [])
        self.assertEqual(self.ns.show("ssewatchd.service", "ActiveState")["ActiveState"], "inactive")
        # No trigger ran twice: a clean stop repeats nothing.
        lines = self.read("/var/log/ssewatchd/%s.cmd" % self.name).splitlines()
        self.assertEqual(len(lines), len(set(lines)), lines)

    def test_reload_adds_a_listener_while_others_keep_their_stream(self):
        r = self.start()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_triggers(3)
        pid = self.ns.show("ssewatchd.service", "MainPID")["MainPID"]
        before = len(self.srv.requests)
        extra = FaultServer(initial_events=2)
        extra.start()
        self.addCleanup(extra.stop)
        added = self.name + "-added"
        conf = self.config(self.name).rstrip("\n") + "\n" + "\n".join(
            "  " + l for l in yaml_dump([{"name": added, "protocol": "sse", "url": extra.url,
                                          "triggers": [{"type": "log",
                                                        "path": "/var/log/ssewatchd/%s.ndjson" % added}]}]
                                        ).splitlines()) + "\n"
        self.ns.write_file("/etc/ssewatchd/ssewatchd.yaml", conf)
        r = self.ns.systemctl("reload", "ssewatchd.service", timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_until(lambda: (self.read("/var/log/ssewatchd/%s.ndjson" % added) or "").count("\n") == 2, 15,
                   message="the added listener did not run its trigger")
        log = self.ns.unit_log("ssewatchd.service")
        self.assertRegex(log, r"configuration reloaded: 1 listener\(s\) unchanged, 0 changed, 1 added, 0 removed")
        # Same process; the first listener's stream was never reopened.
        self.assertEqual(self.ns.show("ssewatchd.service", "MainPID")["MainPID"], pid)
        self.assertEqual(len(self.srv.requests), before)
        self.assertEqual(self.ns.show("ssewatchd.service", "ActiveState")["ActiveState"], "active")

    def test_status_command_reads_the_runtime_directory(self):
        r = self.start()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_triggers(3)
        out = wait_until(lambda: (lambda r: r.stdout if r.returncode == 0 and " 3 " in r.stdout else None)(
            self.ns.run([INSTALLED_BIN, "status"])), timeout=15)
        self.assertRegex(out, r"\n%s +open " % re.escape(self.name))

    def test_watchdog_restarts_a_stalled_event_loop(self):
        self.ns.write_file("/etc/systemd/system/ssewatchd.service.d/watchdog-test.conf",
                           "[Service]\nWatchdogSec=2s\nEnvironment=SSEWATCHD_TEST_FAULTS=stall-on-usr1\n")
        self.ns.systemctl("daemon-reload")
        r = self.start()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_triggers(3)
        pid = self.ns.show("ssewatchd.service", "MainPID")["MainPID"]
        # WATCHDOG=1 from the healthy loop keeps it alive well past 2 s.
        t0 = self.ns.show("ssewatchd.service", "ActiveEnterTimestampMonotonic")["ActiveEnterTimestampMonotonic"]

        def alive_for(seconds):
            p = self.ns.show("ssewatchd.service", "ActiveState", "MainPID")
            with open("/proc/uptime") as f:
                now = float(f.read().split()[0]) * 1e6
            self.assertEqual((p["ActiveState"], p["MainPID"]), ("active", pid))
            return now - int(t0) >= seconds * 1e6
        wait_until(lambda: alive_for(5), timeout=20, interval=0.5)
        # A stalled loop stops the pings: systemd kills and restarts it.
        self.ns.systemctl("kill", "-s", "USR1", "ssewatchd.service")
        props = self.ns.wait_unit("ssewatchd.service", lambda p: p["NRestarts"] not in ("", "0"), timeout=30,
                                  props=("ActiveState", "SubState", "Result", "NRestarts", "MainPID"))
        self.assertNotEqual(props["MainPID"], pid)
        self.assertRegex(self.ns.unit_log("ssewatchd.service"), r"[Ww]atchdog timeout")

    def test_invalid_config_exits_78_and_is_not_restarted(self):
        bad = self.config(self.name, no_such_key=1)
        r = self.start(bad)
        self.assertNotEqual(r.returncode, 0)
        props = self.ns.wait_unit("ssewatchd.service", lambda p: p["ActiveState"] in ("failed", "inactive"),
                                  timeout=20)
        # Restart=on-failure would have put it in "activating (auto-restart)"
        # with RestartSec=5s; RestartPreventExitStatus=78 makes it final.
        self.assertEqual(props["ActiveState"], "failed", props)
        self.assertEqual(props["Result"], "exit-code", props)
        self.assertEqual(props["ExecMainStatus"], "78", props)
        self.assertEqual(props["NRestarts"], "0", props)
        self.assertNotEqual(props["SubState"], "auto-restart", props)
        # What is wrong, with FILE:LINE:COLUMN, is in the journal.
        log = self.ns.unit_log("ssewatchd.service")
        self.assertRegex(log, r"/etc/ssewatchd/ssewatchd\.yaml:\d+:\d+: .*no_such_key")
        # ...as an error, so that `journalctl -p err` shows it.
        errs = [e for e in self.ns.journal("ssewatchd.service") if "no_such_key" in e.get("MESSAGE", "")]
        self.assertEqual([(e["PRIORITY"], e["_TRANSPORT"]) for e in errs], [("3", "journal")], errs)

    def test_runtime_failure_is_restarted(self):
        """The counterpart: a runtime failure (exit 1: here the state
        directory is not a directory) is restarted after RestartSec=."""
        r = self.start(self.config(self.name, state_dir="/etc/ssewatchd/ssewatchd.yaml"))
        self.assertNotEqual(r.returncode, 0)
        props = self.ns.wait_unit("ssewatchd.service",
                                  lambda p: p["NRestarts"] not in ("", "0") or p["SubState"] == "auto-restart",
                                  timeout=20)
        self.assertIn(props["SubState"], ("auto-restart", "start"), props)
        self.assertEqual(props["ExecMainStatus"], "1", props)

    def test_relaxed_dropin_with_a_system_user(self):
        """The drop-in as shipped, with the account it asks for: the service
        runs and command triggers run as that user."""
        r = self.ns.run(["useradd", "--system", "--home-dir", "/var/lib/ssewatchd",
                         "--shell", "/usr/sbin/nologin", "ssewatchd"])
        self.assertIn(r.returncode, (0, 9), r.stderr)   # 9: exists from an earlier run
        with open(DROPIN) as f:
            self.ns.write_file("/etc/systemd/system/ssewatchd.service.d/relaxed-triggers.conf", f.read())
        self.ns.systemctl("daemon-reload")
        r = self.start()
        self.assertEqual(r.returncode, 0, r.stderr + self.ns.unit_log("ssewatchd.service")[-3000:])
        props = self.ns.show("ssewatchd.service", "ActiveState", "DynamicUser", "User", "NoNewPrivileges")
        self.assertEqual((props["ActiveState"], props["DynamicUser"], props["User"], props["NoNewPrivileges"]),
                         ("active", "no", "ssewatchd", "no"), props)
        lines = self.wait_triggers(3)
        self.assertEqual(lines[:3], ["1 ssewatchd", "2 ssewatchd", "3 ssewatchd"])


if __name__ == "__main__":
    unittest.main()
