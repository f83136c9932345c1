"""Process and timing helpers shared by the integration tests (stdlib only).

    ws = Workspace()                       # temp dir, removed by ws.cleanup()
    p = start_process([...], ws.path("d"))  # stdout/stderr -> d.out / d.err
    p.wait_line(r"connected", timeout=5)   # regex in stdout+stderr file
    stop_process(p)                        # SIGTERM, then SIGKILL
    port = free_port()
    wait_until(lambda: cond(), timeout=5, interval=0.02)

Rule: synchronise only with wait_until / wait_for_line (a condition polled
against a deadline), never with a bare sleep.

With unittest, register clean-ups so nothing outlives a failing test::

    ws = Workspace(); self.addCleanup(ws.cleanup)
    p = start_process(argv, ws.path("daemon")); self.addCleanup(stop_process, p)
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

__all__ = ["WaitTimeout", "wait_until", "free_port", "Workspace",
           "Proc", "start_process", "stop_process", "wait_for_line",
           "wait_port", "MAY_SKIP"]

# A skip whose reason starts with this is one the machine's load or the
# chosen wrapper (valgrind) may cause: it stays a skip even in CI.
MAY_SKIP = "(may skip) "


def _no_skip():
    """With SSEWATCHD_NO_SKIP set (CI), a test that cannot run here fails:
    on the machine CI runs on, every test must run (the other skips say
    that something the test needs is missing or refused)."""
    import unittest

    def add_skip(self, test, reason):
        if reason.startswith(MAY_SKIP):
            return plain_skip(self, test, reason)
        err = AssertionError("cannot run here (%s), and SSEWATCHD_NO_SKIP forbids skipping it" % reason)
        return self.addFailure(test, (AssertionError, err, None))
    plain_skip = unittest.TextTestResult.addSkip
    unittest.TextTestResult.addSkip = add_skip


if os.environ.get("SSEWATCHD_NO_SKIP"):
    _no_skip()


class WaitTimeout(AssertionError):
    """Raised when a waited-for condition did not become true in time.
    An AssertionError subclass so unittest reports it as a failure."""


def wait_until(predicate, timeout=5.0, interval=0.02, message=None):
    """Call predicate() until it returns a truthy value; return that value.
    Raise WaitTimeout after `timeout` seconds.  The predicate is always
    evaluated once more at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        now = time.monotonic()
        if now >= deadline:
            v = predicate()
            if v:
                return v
            raise WaitTimeout(message or "condition not met within %.1fs: %r"
                              % (timeout, predicate))
        time.sleep(min(interval, max(0.0, deadline - now)))


def free_port(host="127.0.0.1"):
    """A TCP port that was free a moment ago (bind to 0, close).  Prefer
    letting the server bind port 0 itself; use this only when a port must be
    named before the server starts."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(port, host="127.0.0.1", timeout=5.0):
    """Wait until a TCP connect to host:port succeeds."""
    def ok():
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False
    return wait_until(ok, timeout, message="port %s:%d not accepting" % (host, port))


class Workspace:
    """A temporary directory; cleanup() removes it (idempotent)."""

    def __init__(self, prefix="ssewatchd-it-", keep=None):
        self.root = tempfile.mkdtemp(prefix=prefix)
        # KEEP_TEST_TMP=1 keeps the directory for post-mortem inspection.
        self.keep = keep if keep is not None else bool(os.environ.get("KEEP_TEST_TMP"))

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def mkdir(self, *parts):
        p = self.path(*parts)
        os.makedirs(p, exist_ok=True)
        return p

    def write(self, name, text, mode=None):
        p = self.path(name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w" if isinstance(text, str) else "wb") as f:
            f.write(text)
        if mode is not None:
            os.chmod(p, mode)
        return p

    def read(self, name):
        with open(self.path(name), errors="replace") as f:
            return f.read()

    def cleanup(self):
        if self.root and not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.cleanup()


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def wait_for_line(source, pattern, timeout=5.0, start=0, interval=0.02):
    """Wait for a line matching regex `pattern` (str or compiled).

    `source` is a file path (re-read on each poll) or a callable returning
    the current text.  Only text from offset `start` on is searched.
    Returns the re.Match of the first matching line.  Raises WaitTimeout
    with the text's tail on timeout."""
    rx = re.compile(pattern) if isinstance(pattern, str) else pattern
    get = source if callable(source) else (lambda: _read(source))
    found = []

    def check():
        for line in get()[start:].splitlines():
            m = rx.search(line)
            if m:
                found.append(m)
                return True
        return False
    try:
        wait_until(check, timeout, interval)
    except WaitTimeout:
        raise WaitTimeout("no line matching %r within %.1fs in %s; tail:\n%s"
                          % (rx.pattern, timeout,
                             source if not callable(source) else "stream",
                             get()[-3000:])) from None
    return found[0]


class Proc:
    """A started child: .popen, .pid, .out / .err file paths."""

    def __init__(self, popen, out, err, argv, own_group=False):
        self.own_group = own_group
        self.popen = popen
        self.pid = popen.pid
        self.out = out
        self.err = err
        self.argv = argv

    def stdout(self):
        return _read(self.out)

    def stderr(self):
        return _read(self.err)

    def output(self):
        """stdout + stderr (same file when merged)."""
        if self.out == self.err:
            return self.stdout()
        return self.stdout() + self.stderr()

    def poll(self):
        return self.popen.poll()

    @property
    def returncode(self):
        return self.popen.returncode

    def wait(self, timeout=10.0):
        return self.popen.wait(timeout)

    def wait_line(self, pattern, timeout=5.0, stream="both", start=0):
        """Wait for a line matching `pattern` in stdout/stderr ("out",
        "err", or "both"); returns the re.Match.  Fails at once (not at the
        deadline) if the process exits without having printed it."""
        src = {"out": self.stdout, "err": self.stderr, "both": self.output}[stream]
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern

        def find():
            for line in src()[start:].splitlines():
                m = rx.search(line)
                if m:
                    return m
            return None

        def check():
            exited = self.popen.poll() is not None
            m = find()     # read after poll(): output before exit is seen
            if m:
                return m
            if exited:
                raise WaitTimeout("process %d exited with %s before printing %r:\n%s"
                                  % (self.pid, self.popen.returncode, rx.pattern,
                                     src()[-3000:]))
            return None
        try:
            return wait_until(check, timeout)
        except WaitTimeout as e:
            if "exited with" in str(e):
                raise
            raise WaitTimeout("no line matching %r within %.1fs from pid %d; tail:\n%s"
                              % (rx.pattern, timeout, self.pid, src()[-3000:])) from None

    def send_signal(self, sig):
        if self.popen.poll() is None:
            os.kill(self.pid, sig)

    def stop(self, timeout=5.0, sig=signal.SIGTERM):
        return stop_process(self, timeout, sig)


def start_process(argv, log_prefix, env=None, cwd=None, merge=False,
                  new_session=True, stdin=subprocess.DEVNULL, extra_env=None):
    """Start argv with stdout to LOG_PREFIX.out and stderr to LOG_PREFIX.err
    (both to LOG_PREFIX.log when merge=True).  The child gets its own
    session (process group) so stop_process can clean up its children too.
    Returns a Proc."""
    d = os.path.dirname(log_prefix)
    if d:
        os.makedirs(d, exist_ok=True)
    if merge:
        out = err = log_prefix + ".log"
    else:
        out, err = log_prefix + ".out", log_prefix + ".err"
    e = dict(os.environ if env is None else env)
    if extra_env:
        e.update(extra_env)
    fo = open(out, "ab")
    fe = fo if merge else open(err, "ab")
    try:
        p = subprocess.Popen(argv, stdout=fo, stderr=fe, stdin=stdin, env=e,
                             cwd=cwd, start_new_session=new_session,
                             close_fds=True)
    finally:
        fo.close()
        if fe is not fo:
            fe.close()
    return Proc(p, out, err, argv, own_group=new_session)


def stop_process(proc, timeout=5.0, sig=signal.SIGTERM):
    """Stop a Proc (or Popen) we started, by PID: `sig` (SIGTERM), wait up to
    `timeout`, then SIGKILL.  If the child was started in its own session,
    whatever is left in its process group is SIGKILLed afterwards (never
    any other process).  Returns the exit status (negative = signal)."""
    popen = proc.popen if isinstance(proc, Proc) else proc
    pid = popen.pid
    if isinstance(proc, Proc):
        own_group = proc.own_group
    else:
        try:
            own_group = os.getpgid(pid) == pid
        except ProcessLookupError:
            own_group = False
    if popen.poll() is None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            popen.wait(10)
    if own_group:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return popen.returncode
