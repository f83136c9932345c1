"""Run the real ssewatchd binary from integration tests.

    d = Daemon(ws, listeners=[...])     # writes ssewatchd.yaml in the workspace
    d.start(); d.wait_log(r"connected")
    d.stop()                            # SIGTERM, waits, returns the exit status

The binary is $SSEWATCHD_BIN (default build/ssewatchd); $SSEWATCHD_WRAPPER
(e.g. "valgrind --error-exitcode=99 ...") is put in front of it, so the same
tests run the sanitizer build or run under valgrind.
"""

import json
import os
import shlex
import signal
import subprocess
import time

from procs import start_process, stop_process, wait_until, WaitTimeout

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECORD = os.path.join(ROOT, "tests", "lib", "record-trigger")


def binary():
    return os.environ.get("SSEWATCHD_BIN", os.path.join(ROOT, "build", "ssewatchd"))


def wrapper():
    return shlex.split(os.environ.get("SSEWATCHD_WRAPPER", ""))


def under_valgrind():
    return any("valgrind" in w for w in wrapper())


def yaml_dump(obj, indent=0):
    """Enough YAML for our configs: dicts, lists, scalars (strings JSON-quoted,
    which is valid YAML)."""
    pad = "  " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append("%s%s:" % (pad, k))
                out.append(yaml_dump(v, indent + 1))
            else:
                out.append("%s%s: %s" % (pad, k, scalar(v)))
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, dict) and v:
                first = True
                for line in yaml_dump(v, indent + 1).split("\n"):
                    if first:
                        out.append("%s- %s" % (pad, line.strip()))
                        first = False
                    else:
                        out.append(line)
            else:
                out.append("%s- %s" % (pad, scalar(v)))
    return "\n".join(out)


def scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return json.dumps(str(v))


def record_trigger(path, **extra):
    """A command trigger that appends "<event id>\\t<stdin>" to path."""
    t = {"type": "command", "argv": [RECORD, path]}
    t.update(extra)
    return t


def read_records(path):
    """The lines record-trigger wrote, as (event_id, data) tuples."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        return []
    out = []
    for line in lines[:-1]:  # the last element is after the final newline
        eid, _, data = line.partition("\t")
        out.append((eid, data))
    return out


def stopped(pid):
    """Whether pid is stopped by a signal (or gone: nothing more to wait for)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("T", "t", "Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def trigger_groups(pid):
    """The process groups of pid's children other than the caller's own
    (a trigger runs in a group of its own)."""
    groups = set()
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except FileNotFoundError:
        return groups
    for tid in tasks:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                children = [int(c) for c in f.read().split()]
        except FileNotFoundError:
            continue
        for c in children:
            try:
                groups.add(os.getpgid(c))
            except ProcessLookupError:
                pass
    groups.discard(os.getpgid(0))
    return groups


class Daemon:
    def __init__(self, ws, listeners, name="daemon", **top):
        self.ws = ws
        self.name = name
        self.config = ws.path(name + ".yaml")
        self.state_dir = top.pop("state_dir", ws.path(name + "-state"))
        # Its own status file: tests running side by side share no /run/ssewatchd.
        top.setdefault("runtime_dir", ws.path(name + "-run"))
        self.top = top
        self.proc = None
        self.runs = 0
        self.write_config(listeners)

    def write_config(self, listeners, **top):
        doc = {"state_dir": self.state_dir}
        doc.update(self.top)
        doc.update(top)
        doc["listeners"] = listeners
        with open(self.config, "w") as f:
            f.write(yaml_dump(doc) + "\n")

    def argv(self, *args):
        return wrapper() + [binary(), "-c", self.config] + list(args)

    def start(self, env=None):
        self.runs += 1
        e = dict(os.environ)
        e.pop("SSEWATCHD_CONFIG", None)
        e.pop("JOURNAL_STREAM", None)
        if env:
            e.update(env)
        self.proc = start_process(self.argv("run"), self.ws.path("%s.%d" % (self.name, self.runs)), env=e)
        return self.proc

    def log(self):
        return self.proc.output() if self.proc else ""

    def all_logs(self):
        out = []
        for i in range(1, self.runs + 1):
            for ext in ("out", "err"):
                p = self.ws.path("%s.%d.%s" % (self.name, i, ext))
                if os.path.exists(p):
                    with open(p, errors="replace") as f:
                        out.append(f.read())
        return "\n".join(out)

    def wait_log(self, regex, timeout=10.0):
        return self.proc.wait_line(regex, timeout=timeout)

    def stop(self, timeout=30.0):
        """SIGTERM and wait; returns the exit status."""
        if not self.proc:
            return None
        p, self.proc = self.proc, None
        p.popen.send_signal(signal.SIGTERM)
        try:
            return p.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_process(p)
            raise AssertionError("ssewatchd did not stop within %ss after SIGTERM" % timeout)

    def kill(self):
        """SIGKILL, as a crash; then, as systemd would (KillMode=mixed),
        SIGKILL the triggers it left running, each in its own process
        group, so that none outlives the test."""
        if self.proc:
            p, self.proc = self.proc, None
            try:
                p.popen.send_signal(signal.SIGSTOP)     # no new trigger from now on...
                wait_until(lambda: stopped(p.popen.pid), 10)   # ...once it has taken effect
                groups = trigger_groups(p.popen.pid)
            except ProcessLookupError:
                groups = set()
            p.popen.send_signal(signal.SIGKILL)
            p.popen.wait()
            for g in groups:
                try:
                    os.killpg(g, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def alive(self):
        return self.proc is not None and self.proc.popen.poll() is None

    def run_command(self, *args, timeout=60):
        return subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout)

    def listener_status(self, name):
        """Listener NAME's part of the running daemon's report (`status
        --json`; rewritten at most once a second), or None while there is
        none."""
        r = self.run_command("status", "--json")
        if r.returncode != 0:
            return None
        return {l["name"]: l for l in json.loads(r.stdout)["listeners"]}.get(name)

    def wait_listener_final(self, name, state="failed", timeout=15.0):
        """Waits until the daemon reports listener NAME in STATE (failed
        or stopped), a state only a reload or a restart leaves, and with no
        reconnection scheduled; returns that report. A test of a listener
        that stays stopped asserts this, not a request count taken right
        after the log line."""
        seen = {}

        def final():
            st = self.listener_status(name)
            if st:
                seen.clear()
                seen.update(st)
            return seen.get("state") == state
        wait_until(final, timeout, interval=0.1, message="listener %s never reported %s: %r" % (name, state, seen))
        if "reconnect_in_sec" in seen:
            raise AssertionError("listener %s is %s but a reconnection is scheduled: %r" % (name, state, seen))
        return dict(seen)

    def cleanup(self):
        if self.proc:
            stop_process(self.proc)
            self.proc = None
