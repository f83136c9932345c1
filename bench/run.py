#!/usr/bin/env python3
"""ssewatchd benchmark harness (issue 7): `make bench`, Python 3 stdlib only.

Measures, in ONE run on this machine, ssewatchd against the machine's limits
(curl, fdatasync, the commit recipe) and a peer (node's `eventsource` npm
package), prints a table, and regenerates bench/RESULTS.md.

    make bench                      full run (~4 minutes here), writes bench/RESULTS.md
    BENCH_QUICK=1 make bench        smoke run (~1 minute, smaller N); writes
                                    build/bench/RESULTS-quick.md instead
    BENCH_ONLY=sse,aviso make bench only some parts: sync sse aviso latency
                                    scale spawn (the table shows the rest as
                                    "not run"); never writes bench/RESULTS.md
    BENCH_PERF=1 make bench         also `perf record` the daemon in each
                                    ssewatchd measurement; flat profiles go to
                                    build/bench/perf-*.txt (figures are then
                                    perturbed: never writes bench/RESULTS.md).
                                    BENCH_PERF=g records call graphs too;
                                    BENCH_PERF=dwarf, call graphs through
                                    libraries built without frame pointers
                                    (jansson, libc)
    BENCH_KEEP=1                    keep the run's temp dir (build/bench/run-*)
    python3 bench/run.py --help

Parts (see bench/RESULTS.md for the method of each):
  sync     the state disk: pwrite(1 byte)+fdatasync loop, and the mandated
           commit recipe (temp file, write, fsync, rename, fsync dir) loop
  sse      throughput: nginx serving a pre-generated text/event-stream file;
           curl, ssewatchd (log trigger; commit batch and per_event), node
           eventsource (no-op handler)
  aviso    throughput: pre-generated aviso frames served to POST
           /api/v1/watch; curl -X POST, ssewatchd (batch), node eventsource
           (no-op, and JSON.parse)
  latency  publish -> trigger start at 100 events/s through nchan; the log
           trigger writes into a FIFO read (and timestamped) by a helper;
           taking turns with ssewatchd, the floor with the commit
           (bench/lat_floor.c) does the same
  scale    1,000 and 10,000 idle sse listeners on nchan: RSS, idle CPU,
           reconnection after an nginx restart; node eventsource RSS; a
           bare libcurl client's RSS (bench/curl_floor.c)
  spawn    command trigger argv [/bin/true] over a fast stream, commit batch

Every process started here is stopped by PID (its own process group), and the
temp dir build/bench/run-* is removed at the end.  The generated streams
(build/bench/*.stream) and node_modules are kept and reused.
"""

import collections
import datetime
import hashlib
import http.client
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "tests", "lib")
sys.path.insert(0, LIB)

BENCH = os.path.join(ROOT, "build", "bench")
RESULTS = os.path.join(ROOT, "bench", "RESULTS.md")
ES_VERSION = "4.1.1"     # npm eventsource, pinned (4.x is the last for node 20)
ESP_VERSION = "3.1.1"    # its one dependency, eventsource-parser, pinned too
STREAM_FORMAT = 1        # bump when the generated streams change

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
PERF = os.environ.get("BENCH_PERF", "") not in ("", "0")
KEEP = os.environ.get("BENCH_KEEP", "") not in ("", "0")
ALL_PARTS = ["sync", "sse", "aviso", "latency", "scale", "spawn"]
ONLY = [p for p in os.environ.get("BENCH_ONLY", "").replace(" ", ",").split(",") if p]

if QUICK:
    P = dict(n_sse=50_000, n_aviso=50_000, sync_secs=1.0, per_event_cap=4.0,
             run_cap=60.0, lat_events=300, lat_rate=100, scale=[100, 1000],
             idle_secs=3.0, settle_secs=1.0, n_spawn=1000, repeats=1)
else:
    P = dict(n_sse=500_000, n_aviso=500_000, sync_secs=2.0, per_event_cap=20.0,
             run_cap=240.0, lat_events=2000, lat_rate=100, scale=[1000, 10000],
             idle_secs=10.0, settle_secs=3.0, n_spawn=5000, repeats=5)
EVENT_BYTES = 280        # size of one generated sse event on the wire
POLL = 0.005             # poll interval for "all N handled" (the log's last record; cheap)


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# processes: everything we start is registered and stopped by PID
# ---------------------------------------------------------------------------

_procs = []


def spawn(argv, out=None, err=None, env=None, stdin=subprocess.DEVNULL):
    """Start argv in its own session (process group == its PID)."""
    fo = open(out, "ab") if out else subprocess.DEVNULL
    fe = open(err, "ab") if err else subprocess.DEVNULL
    try:
        p = subprocess.Popen(argv, stdin=stdin, stdout=fo, stderr=fe, env=env,
                             start_new_session=True, close_fds=True)
    finally:
        for f in (fo, fe):
            if f is not subprocess.DEVNULL:
                f.close()
    _procs.append(p)
    return p


def wait_exit(p, timeout):
    """Waits for p to exit and returns as it does: Popen.wait(timeout)
    polls with sleeps that grow to 50 ms, which would quantise runs of a
    tenth of a second by up to half their length.  A pidfd becomes readable
    at the exit itself."""
    fd = os.pidfd_open(p.pid)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    if not ready:
        raise subprocess.TimeoutExpired(p.args, timeout)
    p.wait()


def stop(p, sig=signal.SIGTERM, timeout=10.0):
    """Stop a process we started, by PID; then SIGKILL what is left of its
    own process group.  Returns the exit status."""
    if p is None:
        return None
    if p.poll() is None:
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(10)
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if p in _procs:
        _procs.remove(p)
    return p.returncode


def stop_all():
    for p in list(_procs):
        if p.poll() is None:
            stop(p, timeout=3.0)
        else:
            _procs.remove(p)


def run_out(argv, timeout=30):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return (r.stdout + r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return "(%s)" % e


def proc_status(pid, key="VmRSS"):
    """A field of /proc/PID/status in KiB (VmRSS, VmHWM, ...)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def proc_cpu_ticks(pid):
    """utime + stime of a process, in clock ticks."""
    with open("/proc/%d/stat" % pid, "rb") as f:
        st = f.read()
    fields = st[st.rfind(b")") + 2:].split()
    return int(fields[11]) + int(fields[12])


TICK = os.sysconf("SC_CLK_TCK")
# A state file's delivered count; it comes right after the cursor, a JSON
# string (in which a quote is escaped, so this cannot match inside it).
DELIVERED_RE = re.compile(rb'"delivered":(\d+)')


SPAWN_LOOP = """
import os, sys, time
secs = float(sys.argv[1])
k, t = 0, time.monotonic()
while time.monotonic() - t < secs:
    os.waitpid(os.posix_spawn("/bin/true", ["/bin/true"], {}), 0)
    k += 1
print(k / (time.monotonic() - t))
"""


def spawn_loops(count, secs):
    """The machine's spawn rate: count processes at once, each running
    posix_spawn + waitpid of /bin/true one at a time; their rates summed."""
    ps = []
    try:
        for _ in range(count):
            ps.append(subprocess.Popen([sys.executable, "-c", SPAWN_LOOP, str(secs)],
                                       stdout=subprocess.PIPE, text=True, start_new_session=True))
            _procs.append(ps[-1])
        return sum(float(p.communicate(timeout=secs + 60)[0]) for p in ps)
    finally:
        for p in ps:
            stop(p)


def wait_until(pred, timeout, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise RuntimeError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def pctl(sorted_vals, q):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(round(q / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


# ---------------------------------------------------------------------------
# servers
# ---------------------------------------------------------------------------

from nchan import Nchan, NGINX  # noqa: E402
import daemon as daemonlib  # noqa: E402

_STATIC_CONF = """\
daemon off;
master_process on;
worker_processes 1;
user root;
pid {dir}/nginx.pid;
error_log {dir}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log {dir}/logs/access.log;
  client_body_temp_path {dir}/tmp/body;
  proxy_temp_path {dir}/tmp/proxy;
  fastcgi_temp_path {dir}/tmp/fastcgi;
  uwsgi_temp_path {dir}/tmp/uwsgi;
  scgi_temp_path {dir}/tmp/scgi;
  sendfile on;
  types {{ }}
  default_type text/event-stream;
  server {{
    listen 127.0.0.1:{port};
    location = /status {{ default_type text/plain; return 200 "ok\\n"; }}
{locations}
  }}
}}
"""


class StaticNginx(Nchan):
    """A plain nginx (no nchan) serving files as text/event-stream, with the
    life cycle of tests/lib/nchan.py (own process group, port picked by the
    OS with retries, readiness on GET /status, stop by PID).

    locations: {uri: file}.  A uri under /api/v1/ also answers POST: nginx's
    static module refuses POST with 405, and `error_page 405 =200 $uri`
    turns that into an internal GET redirect to the same file, status 200
    (checked byte for byte by check_post_intact())."""

    def __init__(self, tmpdir, locations):
        super().__init__(tmpdir)
        self.locations = locations

    def _write_conf(self):
        for d in ("logs", "tmp"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        locs = []
        for uri, path in self.locations.items():
            extra = " error_page 405 =200 $uri;" if uri.startswith("/api/") else ""
            locs.append("    location = %s { alias %s;%s }" % (uri, path, extra))
        conf = _STATIC_CONF.format(dir=self.dir, port=self.port, locations="\n".join(locs))
        path = os.path.join(self.dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        return path


class Workdir:
    """What tests/lib/daemon.py needs of a workspace: path()."""

    def __init__(self, root):
        self.root = root

    def path(self, *parts):
        return os.path.join(self.root, *parts)


def ssewatchd_bin():
    return os.environ.get("SSEWATCHD_BIN", os.path.join(ROOT, "build", "ssewatchd"))


class Daemon(daemonlib.Daemon):
    """tests/lib/daemon.py's Daemon, with its runtime dir in the workspace."""

    def __init__(self, ws, name, listeners, **top):
        top.setdefault("runtime_dir", ws.path(name + "-run"))
        os.makedirs(top["runtime_dir"], exist_ok=True)
        super().__init__(ws, listeners, name=name, **top)
        self.perf = None

    def start(self, env=None):
        p = super().start(env=env)
        _procs.append(p.popen)
        return p

    def stop(self, timeout=30.0):
        p = self.proc.popen if self.proc else None
        rc = super().stop(timeout)
        if p in _procs:
            _procs.remove(p)
        return rc

    @property
    def pid(self):
        return self.proc.pid

    def _json_command(self, timeout, *args):
        """A command's JSON output, or None if it failed or printed no JSON."""
        r = self.run_command(*args, timeout=timeout)
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def state_show(self, name):
        return self._json_command(30, "state", "show", name)

    def status(self):
        return self._json_command(60, "status", "--json")

    def problems(self):
        """Log lines at warning level or worse (protocol errors and so on)."""
        out = []
        for line in self.all_logs().splitlines():
            low = line.lower()
            if any(w in low for w in ("error", "warning", "protocol", "failed", "gap")):
                out.append(line.strip())
        return out


def perf_start(name, pid):
    if not PERF or not shutil.which("perf"):
        return None
    data = os.path.join(BENCH, "perf-%s.data" % name)
    graph = {"g": ["-g"], "dwarf": ["--call-graph", "dwarf"]}.get(os.environ.get("BENCH_PERF"), [])
    p = spawn(["perf", "record", "-q", "-F", "1999"] + graph + ["-p", str(pid), "-o", data],
              out=os.path.join(BENCH, "perf-%s.log" % name),
              err=os.path.join(BENCH, "perf-%s.log" % name))
    time.sleep(0.2)
    return (p, name, data)


def perf_stop(h):
    if not h:
        return
    p, name, data = h
    stop(p, sig=signal.SIGINT, timeout=30)
    txt = os.path.join(BENCH, "perf-%s.txt" % name)
    rep = run_out(["perf", "report", "-i", data, "--stdio", "--no-children",
                   "--sort", "dso,symbol", "--percent-limit", "0.7"], timeout=120)
    with open(txt, "w") as f:
        f.write(rep + "\n")
    log("perf profile: %s" % os.path.relpath(txt, ROOT))


# ---------------------------------------------------------------------------
# generated streams
# ---------------------------------------------------------------------------

def gen_sse(n):
    """n events of EVENT_BYTES bytes each: "id: K", one data line (a JSON
    object, like Wikimedia's EventStreams), blank line.  Ids 1..n."""
    path = os.path.join(BENCH, "sse-v%d-%d.stream" % (STREAM_FORMAT, n))
    if os.path.exists(path) and os.path.getsize(path) == n * EVENT_BYTES:
        return path
    log("generating %s" % os.path.relpath(path, ROOT))
    tmp = path + ".tmp"
    with open(tmp, "w", buffering=1 << 20) as f:
        for k in range(1, n + 1):
            head = ('id: %d\ndata: {"seq":%d,"type":"edit","wiki":"benchwiki","title":"Page_%d",'
                    '"user":"bench-user-%d","minor":false,"comment":"' % (k, k, k, k % 997))
            tail = '"}\n\n'
            pad = EVENT_BYTES - len(head) - len(tail)
            f.write(head + ("abcdefghij" * 30)[:pad] + tail)
    os.replace(tmp, path)
    return path


def gen_aviso(n):
    """The body of an aviso-server watch response with from_id=1: one
    replay-control replay_started frame, then n `replay` frames with the
    CloudEvents of sequences 1..n, exactly as tests/lib/aviso_emulator.py
    writes them (the CloudEvent of its first notification is the template;
    only id, step and time change)."""
    path = os.path.join(BENCH, "aviso-v%d-%d.stream" % (STREAM_FORMAT, n))
    ok_mark = path + ".ok"
    if os.path.exists(path) and os.path.exists(ok_mark):
        return path
    import aviso_emulator as ae
    log("generating %s" % os.path.relpath(path, ROOT))
    emu = ae.Emulator(source="http://aviso-bench.invalid", time_precision=9)
    emu.notify("mars", {"class": "od", "stream": "enfo", "step": 1}, fill=True)
    tmpl = emu.cloudevent("mars", 1)
    topic = "mars.od.enfo.0001.g.20260101.0000.*"
    t0 = 1_790_000_000 * 10 ** 9
    tmp = path + ".tmp"
    with open(tmp, "wb", buffering=1 << 20) as f:
        f.write(ae.frame_bytes("replay-control", {
            "batch_size": 100, "from_date": None, "from_sequence": 1,
            "request_id": "00000000-0000-4000-8000-000000000001",
            "timestamp": "2026-09-21T12:26:40Z", "topic": topic, "type": "replay_started"}))
        for k in range(1, n + 1):
            tmpl["id"] = "mars@%d" % k
            tmpl["data"]["identifier"]["step"] = str(k % 100000)
            tmpl["time"] = ae.ts_ce(t0 + k * 1000, 9)
            f.write(ae.frame_bytes("replay", tmpl))
    os.replace(tmp, path)
    open(ok_mark, "w").close()
    return path


def count_frames(path):
    """Events with data in a generated stream (blank-line separated)."""
    with open(path, "rb") as f:
        return f.read().count(b"\n\n")


AVISO_BODY = json.dumps({"event_type": "mars", "identifier": {"class": "od", "stream": "enfo"},
                         "from_id": "1"})


def check_post_intact(port, uri, path):
    """POST uri and compare the body received with the file, byte for byte."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    want = h.hexdigest()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", uri, body=AVISO_BODY, headers={"Content-Type": "application/json",
                                                      "Accept": "text/event-stream"})
    r = c.getresponse()
    ctype = r.getheader("Content-Type")
    h = hashlib.sha256()
    n = 0
    while True:
        b = r.read(1 << 20)
        if not b:
            break
        n += len(b)
        h.update(b)
    c.close()
    if r.status != 200 or not (ctype or "").startswith("text/event-stream") or h.hexdigest() != want:
        raise RuntimeError("POST %s: status %s, Content-Type %s, %d bytes, body %s the file"
                           % (uri, r.status, ctype, n, "equals" if h.hexdigest() == want else "differs from"))
    return n


# ---------------------------------------------------------------------------
# node eventsource
# ---------------------------------------------------------------------------

NODE_COUNT = r"""
// node es-count.cjs URL N MODE [POST_BODY]: count events, exit at N.
// MODE: sse-noop (onmessage), aviso-noop / aviso-json ('replay' events;
// aviso-json also JSON.parses each event's data, as a real consumer would).
const { EventSource } = require('eventsource');
const [url, nStr, mode, body] = process.argv.slice(2);
const N = Number(nStr);
let n = 0, sink = 0;
const t0 = process.hrtime.bigint();
const init = {};
if (body) {
  // eventsource >= 3 goes through fetch: a custom fetch makes it a POST.
  init.fetch = (u, o) => fetch(u, { ...o, method: 'POST', body,
    headers: { ...o.headers, 'content-type': 'application/json' } });
}
const es = new EventSource(url, init);
function done() {
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write(JSON.stringify({ n, ms, sink }) + '\n');
  process.exit(0);
}
if (mode === 'sse-noop') {
  es.onmessage = () => { if (++n >= N) done(); };
} else if (mode === 'aviso-noop') {
  es.addEventListener('replay', () => { if (++n >= N) done(); });
} else if (mode === 'aviso-json') {
  es.addEventListener('replay', (e) => { sink += JSON.parse(e.data).id.length; if (++n >= N) done(); });
} else { throw new Error('mode ' + mode); }
es.onerror = () => {};   // end of the static stream: it reconnects
"""

NODE_SCALE = r"""
// node es-scale.cjs BASE COUNT: COUNT EventSource objects on BASE/sub/c0..,
// idle until killed.
const { EventSource } = require('eventsource');
const [base, cStr] = process.argv.slice(2);
const list = [];
for (let i = 0; i < Number(cStr); i++) {
  const es = new EventSource(base + '/sub/c' + i);
  es.onmessage = () => {};
  es.onerror = () => {};
  list.push(es);
}
process.stdout.write('started ' + list.length + '\n');
setInterval(() => {}, 1 << 30);
"""


def node_setup():
    """npm install eventsource@ES_VERSION into build/bench (once)."""
    if not shutil.which("node") or not shutil.which("npm"):
        raise RuntimeError("node/npm not installed")
    pkg = os.path.join(BENCH, "node_modules", "eventsource", "package.json")
    want = {"name": "ssewatchd-bench", "private": True,
            "dependencies": {"eventsource": ES_VERSION, "eventsource-parser": ESP_VERSION}}
    with open(os.path.join(BENCH, "package.json"), "w") as f:
        json.dump(want, f)
        f.write("\n")
    if (npm_version("eventsource"), npm_version("eventsource-parser")) != (ES_VERSION, ESP_VERSION):
        log("npm install eventsource@%s into build/bench" % ES_VERSION)
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                           cwd=BENCH, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError("npm install failed: %s" % (r.stdout + r.stderr)[-2000:])
    for name, src in (("es-count.cjs", NODE_COUNT), ("es-scale.cjs", NODE_SCALE)):
        with open(os.path.join(BENCH, name), "w") as f:
            f.write(src.lstrip())


def npm_version(name):
    try:
        with open(os.path.join(BENCH, "node_modules", name, "package.json")) as f:
            return json.load(f).get("version")
    except OSError:
        return None


# ---------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------

class LastRecord:
    """Watches a log trigger's file for the record of the stream's last
    notification (its "id" is last_id), reading only the end of the file
    each poll: the harness must not take the CPU from the daemon it times
    (counting every line as it comes cost about 0.13 s of CPU per 500,000
    lines, a fifth of a run).  Calling it gives n once that record is
    there, else 0; count() then counts the lines up to the size seen by
    the last poll, after the timing."""

    TAIL = 1 << 16

    def __init__(self, path, last_id, n):
        self.path = path
        self.last_id = last_id
        self.n = n
        self.size = 0
        self.done = False

    def __call__(self):
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return 0
        if size != self.size and not self.done:
            self.size = size
            with open(self.path, "rb") as f:
                f.seek(max(0, size - self.TAIL))
                tail = f.read(size - max(0, size - self.TAIL))
            end = tail.rfind(b"\n")
            if end >= 0:
                try:
                    rec = json.loads(tail[tail.rfind(b"\n", 0, end) + 1:end])
                    self.done = isinstance(rec, dict) and rec.get("id") == self.last_id
                except ValueError:
                    pass        # the window began inside a long line
        return self.n if self.done else 0

    def count(self):
        lines, left = 0, self.size
        with open(self.path, "rb") as f:
            while left > 0:
                b = f.read(min(left, 1 << 22))
                if not b:
                    break
                lines += b.count(b"\n")
                left -= len(b)
        return lines


class Bench:
    def __init__(self):
        os.makedirs(BENCH, exist_ok=True)
        self.tmp = tempfile.mkdtemp(prefix="run-", dir=BENCH)
        self.ws = Workdir(self.tmp)
        self.r = {}            # measurement key -> value
        self.notes = collections.defaultdict(list)   # part -> notes
        self.errors = {}       # part -> message
        self.ran = []
        self.static = None
        self.node_ok = None

    # -- helpers ---------------------------------------------------------
    def note(self, part, msg):
        self.notes[part].append(msg)
        log("%s: %s" % (part, msg))

    def static_server(self):
        if self.static is None:
            locs = {"/sse": gen_sse(P["n_sse"]),
                    "/api/v1/watch": gen_aviso(P["n_aviso"]),
                    "/spawn": gen_sse(P["n_spawn"])}
            self.static = StaticNginx(self.ws.path("static-nginx"), locs)
            self.static.start()
            log("static nginx on %s (pid %d)" % (self.static.base_url, self.static.pid))
        return self.static

    def node(self):
        if self.node_ok is None:
            try:
                node_setup()
                self.node_ok = True
            except Exception as e:
                self.node_ok = False
                self.node_err = str(e)
                log("node eventsource unavailable: %s" % e)
        if not self.node_ok:
            raise RuntimeError(self.node_err)

    def timed(self, argv, timeout, out=None):
        """Run argv to completion; wall seconds from spawn to exit."""
        out = out or self.ws.path("timed-%d.out" % len(os.listdir(self.tmp)))
        t0 = time.monotonic()
        p = spawn(argv, out=out, err=out + ".err")
        try:
            wait_exit(p, timeout)
        except subprocess.TimeoutExpired:
            stop(p)
            raise RuntimeError("%s did not finish within %ss" % (argv[0], timeout))
        dt = time.monotonic() - t0
        stop(p)
        with open(out, errors="replace") as f:
            text = f.read()
        if p.returncode != 0:
            with open(out + ".err", errors="replace") as f:
                raise RuntimeError("%s exited %s: %s" % (argv[0], p.returncode, f.read()[-1500:]))
        return dt, text

    def daemon_until(self, name, listener, n, cap, counter, perf_name=None):
        """Start a daemon with one listener; poll counter() until it reaches
        n (or cap seconds); stop the daemon at once.  Returns (count,
        seconds, daemon)."""
        d = Daemon(self.ws, name, [listener], state_dir=self.ws.path(name + "-state"))
        t0 = time.monotonic()
        d.start()
        ph = perf_start(perf_name, d.pid) if perf_name else None
        count = 0
        self.last_cpu = None
        try:
            while True:
                count = counter()
                now = time.monotonic()
                if count >= n or now - t0 >= cap:
                    try:
                        self.last_cpu = proc_cpu_ticks(d.pid) / TICK / (now - t0) * 100.0
                    except OSError:
                        pass
                    break
                if d.proc.popen.poll() is not None:
                    raise RuntimeError("ssewatchd exited %s: %s"
                                       % (d.proc.popen.returncode, d.log()[-2000:]))
                time.sleep(POLL)
            dt = now - t0
        finally:
            perf_stop(ph)
            if d.alive():
                d.stop()
        return count, dt, d

    # -- 2. the state disk -------------------------------------------------
    def fdatasync_probe(self, secs):
        """pwrite 1 byte + fdatasync in a loop in the runs' file system."""
        fd = os.open(os.path.join(self.tmp, "probe"), os.O_WRONLY | os.O_CREAT, 0o600)
        k, t = 0, time.monotonic()
        while time.monotonic() - t < secs:
            os.pwrite(fd, b"x", k % 4096)
            os.fdatasync(fd)
            k += 1
        os.close(fd)
        return k / (time.monotonic() - t)

    def _time_loop(self, key, secs, op):
        """Run op() back to back for secs; record its rate and latencies."""
        lat = []
        end = time.monotonic() + secs
        while True:
            t = time.perf_counter()
            op()
            lat.append(time.perf_counter() - t)
            if time.monotonic() >= end:
                break
        lat.sort()
        self.r[key + "_rate"] = len(lat) / sum(lat)
        self.r[key + "_p50_ms"] = pctl(lat, 50) * 1e3
        self.r[key + "_p99_ms"] = pctl(lat, 99) * 1e3
        self.r[key + "_max_ms"] = lat[-1] * 1e3

    def part_sync(self):
        sd = self.ws.path("sync-state")
        os.makedirs(sd)
        secs = P["sync_secs"]
        # pwrite 1 byte + fdatasync
        fd = os.open(os.path.join(sd, "probe"), os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"\0" * 4096)
        os.fsync(fd)
        i = [0]

        def datasync():
            os.pwrite(fd, bytes([i[0] & 0xFF]), i[0] % 4096)
            os.fdatasync(fd)
            i[0] += 1
        self._time_loop("fdatasync", secs, datasync)
        os.close(fd)
        # the commit recipe: temp + write 300 bytes + fsync + rename + fsync(dir)
        # (a file this small is made anew each time by ssewatchd too)
        dfd = os.open(sd, os.O_RDONLY | os.O_DIRECTORY)
        payload = (b'{"format":"ssewatchd-state","cursor":"%d",' + b"x" * 300)[:299] + b"\n"
        target = os.path.join(sd, "listener.state")
        tmp = os.path.join(sd, ".listener.state.tmp")

        def recipe():
            tfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            os.write(tfd, payload)
            os.fsync(tfd)
            os.close(tfd)
            os.rename(tmp, target)
            os.fsync(dfd)
        self._time_loop("recipe", secs, recipe)
        os.close(dfd)
        self.note("sync", "fdatasync %.0f/s (p50 %.3f ms, p99 %.3f ms); commit recipe %.0f/s "
                  "(p50 %.3f ms, p99 %.3f ms)"
                  % (self.r["fdatasync_rate"], self.r["fdatasync_p50_ms"], self.r["fdatasync_p99_ms"],
                     self.r["recipe_rate"], self.r["recipe_p50_ms"], self.r["recipe_p99_ms"]))

    # -- 1. throughput -----------------------------------------------------
    def _run_of(self, key):
        """The figures of the run just made under key."""
        return {k: v for k, v in self.r.items() if k == key or k.startswith(key + "_")}

    def _keep_median(self, part, key, runs, how=""):
        """Keeps the run with the median rate; notes all of them."""
        runs.sort(key=lambda d: d.get(key, 0.0))
        self.r.update(runs[len(runs) // 2])
        if len(runs) > 1:
            self.note(part, "%s: median of %d runs after a warm-up%s (%s ev/s)"
                      % (key, len(runs), how, ", ".join("{:,.0f}".format(d.get(key, 0.0)) for d in runs)))

    def median(self, part, key, fn, times=None):
        """Runs a throughput measurement several times and keeps the run
        with the median rate: one run of about a second is at the mercy of
        whatever else the two cores do at that moment.  A full run first
        does one unmeasured warm-up: the first run after another part (the
        page cache, the disk just synced) is the slowest for every reader."""
        times = times or P["repeats"]
        runs = []
        ret = None
        if times > 1:
            fn()
        for _ in range(times):
            ret = fn()
            runs.append(self._run_of(key))
        self._keep_median(part, key, runs)
        return ret

    def interleaved(self, part, entries):
        """Like median(), for contenders that are compared with each other:
        one warm-up each, then rounds in which each runs once in turn, so a
        VM that speeds up or slows down during the part moves them all
        alike.  entries: (key, fn); one that fails is reported in errors
        and leaves the rotation."""
        times = P["repeats"]
        runs = {key: [] for key, _ in entries}
        live = list(entries)
        for rnd in range(times + (1 if times > 1 else 0)):
            for key, fn in list(live):
                try:
                    fn()
                except Exception as e:
                    self.errors[key] = str(e)
                    live.remove((key, fn))
                    continue
                if times > 1 and rnd == 0:
                    continue        # the warm-up
                runs[key].append(self._run_of(key))
        for key, got in runs.items():
            if got and key not in self.errors:
                self._keep_median(part, key, got,
                                  ", interleaved with " + ", ".join(k for k, _ in entries if k != key))

    def curl_rate(self, key, url, n, post=False):
        argv = ["curl", "-sN"]
        if post:
            argv += ["-X", "POST", "-H", "Content-Type: application/json", "--data-raw", AVISO_BODY]
        argv += [url, "-o", "/dev/null", "-w", "%{http_code} %{size_download}\n"]
        dt, out = self.timed(argv, P["run_cap"])
        code, size = out.split()
        if code != "200":
            raise RuntimeError("curl got HTTP %s" % code)
        self.r[key] = n / dt
        self.r[key + "_secs"] = dt
        return int(size)

    def node_rate(self, key, url, n, mode, post=False):
        self.node()
        argv = ["node", os.path.join(BENCH, "es-count.cjs"), url, str(n), mode]
        if post:
            argv.append(AVISO_BODY)
        dt, out = self.timed(argv, P["run_cap"] * 2)
        res = json.loads(out.strip().splitlines()[-1])
        if res["n"] < n:
            raise RuntimeError("node counted %d of %d" % (res["n"], n))
        self.r[key] = n / dt
        self.r[key + "_secs"] = dt

    def ssewatchd_rate(self, key, name, listener, n, cap, part, last_id):
        logf = self.ws.path(name + ".ndjson")
        listener = dict(listener)
        listener["triggers"] = [{"type": "log", "path": logf}]
        last = LastRecord(logf, last_id, n)
        _, dt, d = self.daemon_until(name, listener, n, cap, last, perf_name=name)
        count = last.count() if os.path.exists(logf) else 0
        if last.done and count != n:
            raise RuntimeError("%d log lines for %d notifications" % (count, n))
        if count < n and dt < cap:
            raise RuntimeError("only %d of %d notifications" % (count, n))
        self.r[key] = count / dt
        self.r[key + "_secs"] = dt
        self.r[key + "_n"] = count
        if self.last_cpu is not None:
            self.r[key + "_cpu"] = self.last_cpu
        probs = d.problems()
        if probs:
            self.note(part, "%s: %d warning/error log lines, first: %s" % (name, len(probs), probs[0][:300]))
        else:
            self.note(part, "%s: no warning or error in the daemon's log" % name)
        try:
            os.unlink(logf)          # up to ~300 MB each
        except OSError:
            pass
        shutil.rmtree(self.ws.path(name + "-state"), ignore_errors=True)
        return count, dt, d

    def part_sse(self):
        st = self.static_server()
        n = P["n_sse"]
        url = st.base_url + "/sse"
        size = self.curl_rate("sse_curl", url, n)
        if size != n * EVENT_BYTES:
            raise RuntimeError("curl read %d bytes, expected %d" % (size, n * EVENT_BYTES))
        self.note("sse", "stream: %d events x %d bytes = %.0f MB" % (n, EVENT_BYTES, n * EVENT_BYTES / 1e6))
        base = {"name": "sse", "protocol": "sse", "url": url}
        self.interleaved("sse", [
            ("sse_curl", lambda: self.curl_rate("sse_curl", url, n)),
            ("sse_batch", lambda: self.ssewatchd_rate("sse_batch", "sse-batch",
                                                      dict(base, name="sse-batch", commit="batch"),
                                                      n, P["run_cap"], "sse", str(n))),
            ("sse_node", lambda: self.node_rate("sse_node", url, n, "sse-noop"))])
        if "sse_batch" in self.errors:
            raise RuntimeError(self.errors.pop("sse_batch"))
        os.sync()
        before = self.fdatasync_probe(1.0)
        count, dt, _ = self.ssewatchd_rate("sse_per_event", "sse-per-event",
                                           dict(base, name="sse-per-event", commit="per_event"),
                                           n, P["per_event_cap"], "sse", str(n))
        after = self.fdatasync_probe(1.0)
        self.r["fdatasync_around"] = (before, after)
        if count < n:
            self.note("sse", "per_event run capped at %.0f s: %d of %d events" % (P["per_event_cap"], count, n))
        try:
            self.io_floor(url, n)
        except Exception as e:
            self.errors["sse_floor"] = str(e)

    def io_floor(self, url, n):
        """The I/O that "durable before trigger" demands, and nothing else:
        curl reads the stream; every BATCH complete events go to a state
        file by the commit recipe, then to a log file (bench/io_floor.c).
        The best of a few batch sizes (median of runs each) is the floor."""
        exe = os.path.join(BENCH, "io_floor")
        src = os.path.join(ROOT, "bench", "io_floor.c")
        subprocess.run(["cc", "-O2", "-D_GNU_SOURCE", "-o", exe, src] + run_out(["pkg-config", "--cflags", "--libs",
                                                                                 "libcurl"]).split(), check=True)
        best = None
        for batch in (2048, 4096, 8192, 16384):
            def one():
                d = tempfile.mkdtemp(prefix="floor-", dir=self.tmp)
                try:
                    dt, out = self.timed([exe, url, d, str(batch)], P["run_cap"])
                finally:
                    shutil.rmtree(d, ignore_errors=True)
                events, size, commits, _, _ = out.split()
                if int(events) != n or int(size) != n * EVENT_BYTES:
                    raise RuntimeError("io_floor read %s events, %s bytes" % (events, size))
                self.r["sse_floor"] = n / dt
                self.r["sse_floor_secs"] = dt
                self.r["sse_floor_batch"] = batch
                self.r["sse_floor_commits"] = int(commits)
            self.median("sse", "sse_floor", one)
            if best is None or self.r["sse_floor"] > best["sse_floor"]:
                best = {k: v for k, v in self.r.items() if k.startswith("sse_floor")}
        self.r.update(best)

    def part_aviso(self):
        st = self.static_server()
        n = P["n_aviso"]
        path = st.locations["/api/v1/watch"]
        got = count_frames(path) - 1
        if got != n:
            raise RuntimeError("aviso stream has %d notification frames, expected %d" % (got, n))
        size = check_post_intact(st.port, "/api/v1/watch", path)
        self.note("aviso", "stream: replay_started + %d replay frames, %.0f MB (%.0f bytes/frame); "
                  "POST body checked byte for byte" % (n, size / 1e6, size / (n + 1)))
        url = st.base_url + "/api/v1/watch"
        lis = {"name": "aviso-batch", "event": "mars", "base_url": st.base_url,
               "identifiers": {"class": "od", "stream": "enfo"}, "from_id": "1", "commit": "batch"}
        self.interleaved("aviso", [
            ("aviso_curl", lambda: self.curl_rate("aviso_curl", url, n, post=True)),
            ("aviso_batch", lambda: self.ssewatchd_rate("aviso_batch", "aviso-batch", lis, n, P["run_cap"],
                                                        "aviso", "mars@%d" % n)),
            ("aviso_node_json", lambda: self.node_rate("aviso_node_json", url, n, "aviso-json", post=True)),
            ("aviso_node", lambda: self.node_rate("aviso_node", url, n, "aviso-noop", post=True))])
        if "aviso_batch" in self.errors:
            raise RuntimeError(self.errors.pop("aviso_batch"))
        try:
            self.jansson_rate(path)
        except Exception as e:
            self.errors["aviso_jansson"] = str(e)

    def jansson_rate(self, stream):
        """jansson's own parse rate of the same frames: the ceiling for any
        client built on it (the project is), measured in this run."""
        exe = os.path.join(BENCH, "jansson_rate")
        src = os.path.join(ROOT, "bench", "jansson_rate.c")
        subprocess.run(["cc", "-O2", "-o", exe, src] + run_out(["pkg-config", "--cflags", "--libs",
                                                               "jansson"]).split(), check=True)
        frames, secs, rate = run_out([exe, stream], timeout=P["run_cap"]).split()
        self.r["aviso_jansson"] = float(rate)
        self.note("aviso", "jansson json_loadb alone: %s frames parsed in %.2f s of parsing"
                  % (frames, float(secs)))

    # -- 5. spawns -----------------------------------------------------------
    def part_spawn(self):
        # One listener runs its triggers one at a time (the contract's order),
        # so its rate is bound by one spawn after another; listeners run
        # theirs at the same time, so two show what the daemon itself can
        # start when the machine's cores are free to run the children.
        for count in (1, 2):
            self._spawn_run(count)
        self.r["spawn_limit"] = spawn_loops(1, P["sync_secs"])
        self.r["spawn_limit2"] = spawn_loops(2, P["sync_secs"])

    def _spawn_run(self, count):
        st = self.static_server()
        n = P["n_spawn"]
        key = "spawn" if count == 1 else "spawn%d" % count
        names = ["spawn%d" % i for i in range(count)]
        lis = [{"name": name, "protocol": "sse", "url": st.base_url + "/spawn", "commit": "batch",
                "triggers": [{"type": "command", "argv": ["/bin/true"]}]} for name in names]
        state_dir = self.ws.path(key + "-state")
        d = Daemon(self.ws, key, lis, state_dir=state_dir)

        def delivered():
            """Each listener's delivered count, from the head of its state
            file.  `ssewatchd state show` would say the same, but a run of
            it costs about 6 ms of CPU, taken from the cores the triggers'
            children run on; the head of the file costs a read."""
            counts = []
            for name in names:
                try:
                    with open(os.path.join(state_dir, name + ".json"), "rb") as f:
                        m = DELIVERED_RE.search(f.read(4096))
                except FileNotFoundError:
                    m = None
                counts.append(int(m.group(1)) if m else 0)
            return counts
        # Timed from the first delivery seen to the last: start-up and the
        # connection are not spawns.  A batch commit records deliveries
        # within 100 ms, at both ends alike.
        t_start = time.monotonic()
        d.start()
        ph = perf_start(key, d.pid)
        first = None
        try:
            while True:
                counts = delivered()
                now = time.monotonic()
                if first is None and sum(counts) > 0:
                    first = (now, sum(counts), proc_cpu_ticks(d.pid))
                if min(counts) >= n or now - t_start > P["run_cap"]:
                    break
                if d.proc.popen.poll() is not None:
                    raise RuntimeError("ssewatchd exited: %s" % d.log()[-2000:])
                time.sleep(0.01)
            ticks = proc_cpu_ticks(d.pid)
        finally:
            perf_stop(ph)
            d.stop()
        if first is None:
            raise RuntimeError("no trigger ran in %.0f s" % P["run_cap"])
        dt = now - first[0]
        c = sum(counts) - first[1]
        self.r[key + "_rate"] = c / dt
        self.r[key + "_secs"] = dt
        self.r[key + "_n"] = c
        self.r[key + "_cpu"] = (ticks - first[2]) / TICK / dt * 100.0
        if min(counts) < n:
            self.note("spawn", "%d listener(s) capped at %.0f s: %d of %d each at least"
                      % (count, P["run_cap"], min(counts), n))
        probs = d.problems()
        if probs:
            self.note("spawn", "%d warning/error log lines, first: %s" % (len(probs), probs[0][:300]))

    # -- 3. latency ----------------------------------------------------------
    def part_latency(self):
        n, rate = P["lat_events"], P["lat_rate"]
        nc = Nchan(self.ws.path("nchan-lat"))
        nc.start()
        _procs.append(nc.proc)
        try:
            self._latency(nc, n, rate)
        finally:
            if nc.proc in _procs:
                _procs.remove(nc.proc)
            nc.stop()

    def _latency(self, nc, n, rate):
        """Four passes, ABBA: ssewatchd, the floor with the commit, the floor
        again, ssewatchd again, each over half the events, so that a disk
        or VM that changes during the part moves both alike. A raw-socket
        subscriber of the same channel runs beside each."""
        half = (n + 1) // 2
        mine, floor, durable, floor2 = {}, {}, {}, {}
        late = 0
        probs = []
        for k, who in enumerate(("daemon", "floor", "floor", "daemon")):
            wait_until(lambda: self._subscribers(nc) == 0, 20, 0.05, "the last pass's subscribers to go")
            got, raw, lt, pr = self._lat_pass(nc, "lat%d" % k, who, half, rate)
            (mine if who == "daemon" else durable).update(got)
            (floor if who == "daemon" else floor2).update(raw)
            late += lt
            probs += pr

        def by_event(a, b):
            both = sorted(a[t] - b[t] for t in a if t in b)
            return (pctl(both, 50), pctl(both, 99), both[-1]) if both else None

        lat = sorted(mine.values())
        if len(lat) < 2 * half:
            raise RuntimeError("only %d of %d trigger lines arrived" % (len(lat), 2 * half))
        self.r["lat_p50"] = pctl(lat, 50)
        self.r["lat_p99"] = pctl(lat, 99)
        self.r["lat_max"] = lat[-1]
        self.r["lat_n"] = len(lat)
        extra = by_event(mine, floor)
        if extra:
            self.r["lat_extra"] = extra
        rl = sorted(floor.values())
        if len(rl) >= 2 * half:
            self.r["lat_raw_p50"] = pctl(rl, 50)
            self.r["lat_raw_p99"] = pctl(rl, 99)
            self.r["lat_raw_max"] = rl[-1]
        else:
            self.note("latency", "the raw subscriber saw only %d of %d events" % (len(rl), 2 * half))
        dl = sorted(durable.values())
        if len(dl) >= 2 * half:
            self.r["lat_durable"] = (pctl(dl, 50), pctl(dl, 99), dl[-1])
            extra = by_event(durable, floor2)
            if extra:
                self.r["lat_durable_extra"] = extra
        else:
            self.note("latency", "the floor's lines: only %d of %d" % (len(dl), 2 * half))
        if late > (4 * half) // 100:     # 1 % of what the four passes published
            self.note("latency", "the publisher fell behind its schedule %d times" % late)
        if probs:
            self.note("latency", "%d warning/error log lines, first: %s" % (len(probs), probs[0][:300]))

    def _lat_pass(self, nc, chan, who, n, rate):
        """One pass: n events published on chan, read by ssewatchd (a log
        trigger writing to a FIFO) or by bench/lat_floor.c (the commit, then
        the line to a FIFO), and by a raw-socket subscriber. Returns the
        latencies (publish time -> ms) of the FIFO's lines and of the raw
        reads, the times the publisher was late, the daemon's problems."""
        me = [sys.executable, os.path.abspath(__file__)]
        fifo = self.ws.path("%s.fifo" % chan)
        os.mkfifo(fifo)
        out = self.ws.path("%s-arrivals.txt" % chan)
        raw_out = self.ws.path("%s-raw.txt" % chan)
        state = self.ws.path("%s-state" % chan)
        procs = [spawn(me + ["--fifo-reader", fifo, out, str(n)], err=out + ".err"),
                 spawn(me + ["--sub-reader", nc.sub_url(chan), raw_out, str(n)], err=raw_out + ".err")]
        d = None
        probs = []
        try:
            marks = [out + ".ready", raw_out + ".ready"]
            wait_until(lambda: all(os.path.exists(m) for m in marks) or any(p.poll() is not None for p in procs),
                       10, what="the readers")
            wait_until(lambda: self._subscribers(nc) >= 1, 20, 0.05, "the raw subscriber")
            if who == "daemon":
                lis = {"name": "lat", "protocol": "sse", "url": nc.sub_url(chan),
                       "triggers": [{"type": "log", "path": fifo}]}
                d = Daemon(self.ws, chan, [lis], state_dir=state)
                d.start()
            else:
                os.makedirs(state)
                procs.append(spawn([self._lat_floor(), "127.0.0.1", str(nc.port), "/sub/" + chan, state, fifo,
                                    str(n)], err=out + ".floor.err"))
            wait_until(lambda: self._subscribers(nc) >= 2, 20, 0.05, "the %s's subscription" % who)
            late = self._publish(nc, chan, n, rate)
            if who == "floor" and procs[2].wait(30) != 0:
                with open(out + ".floor.err") as f:
                    raise RuntimeError("bench/lat_floor.c failed: %s" % f.read().strip()[-300:])
            procs[0].wait(30)
            procs[1].wait(10)
        finally:
            if d:
                d.stop()
                probs = d.problems()
            for p in procs:
                stop(p)
        return self._lats(out), self._lats(raw_out), late, probs

    @staticmethod
    def _lats(path):
        v = {}
        try:
            with open(path) as f:
                for line in f:
                    arrival, _, text = line.partition("\t")
                    m = re.search(r"T=(\d+);", text)
                    if m:
                        v.setdefault(int(m.group(1)), (int(arrival) - int(m.group(1))) / 1e6)
        except FileNotFoundError:
            pass
        return v

    @staticmethod
    def _lat_floor():
        exe = os.path.join(BENCH, "lat_floor")
        src = os.path.join(ROOT, "bench", "lat_floor.c")
        if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
            subprocess.run(["cc", "-O2", "-D_GNU_SOURCE", "-o", exe, src], check=True)
        return exe

    @staticmethod
    def _publish(nc, chan, n, rate):
        """POSTs n events at rate/s, each carrying its publish time; returns
        how often the schedule was already past."""
        c = http.client.HTTPConnection("127.0.0.1", nc.port, timeout=10)
        pad = "p" * 160
        start = time.monotonic() + 0.2
        late = 0
        for k in range(n):
            when = start + k / rate
            delay = when - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                late += 1
            body = '{"seq":%d,"T=%d;":1,"pad":"%s"}' % (k, time.time_ns(), pad)
            c.request("POST", "/pub/%s" % chan, body=body,
                      headers={"Content-Type": "application/octet-stream"})
            r = c.getresponse()
            r.read()
            if r.status not in (201, 202):
                raise RuntimeError("publish: HTTP %d" % r.status)
        c.close()
        return late

    # -- 4. scale --------------------------------------------------------------
    def part_scale(self):
        counts = P["scale"]
        top = max(counts)
        steps = [("daemon", self._scale_daemon, counts), ("node", self._scale_node, counts),
                 ("curl", self._scale_curl, counts),
                 # The smallest-buffer floor only matters at the goal's count.
                 ("curlmin", self._scale_curl_min, [top])]
        extra = ""
        try:
            extra = self._h2_server()
            # At the smallest count: its streams share one connection.
            steps += [("curlh2", lambda nc, c: self._scale_curl_h2(nc, c, "curlh2", 65536), [min(counts)]),
                      ("curlh2min", lambda nc, c: self._scale_curl_h2(nc, c, "curlh2min", 1024), [min(counts)])]
        except Exception as e:
            for who in ("curlh2", "curlh2min"):
                self.errors["scale_%s_%d" % (who, min(counts))] = "%s: %s" % (type(e).__name__, e)
        nc = Nchan(self.ws.path("nchan-scale"), shm_size="256M", extra_http=extra,
                   worker_connections=top + 2048, worker_rlimit_nofile=2 * top + 4096)
        nc.start()
        _procs.append(nc.proc)
        try:
            for who, fn, cs in steps:
                for c in [1] + cs:
                    try:
                        if who == "node":
                            self.node()
                        fn(nc, c)
                    except Exception as e:
                        self.errors["scale_%s_%d" % (who, c)] = "%s: %s" % (type(e).__name__, e)
                        log("scale: %s with %d FAILED: %s" % (who, c, e))
                        traceback.print_exc(file=sys.stderr)
                    # the next step starts from an nginx without subscribers
                    try:
                        wait_until(lambda: self._subscribers(nc) == 0, 60, 0.1, "subscribers to go")
                    except RuntimeError:
                        if nc.proc in _procs:
                            _procs.remove(nc.proc)
                        nc.restart(new_second=False)
                        _procs.append(nc.proc)
        finally:
            if nc.proc in _procs:
                _procs.remove(nc.proc)
            nc.stop()

    @staticmethod
    def _subscribers(nc):
        try:
            return int(nc.status().get("subscribers", "0"))
        except (OSError, ValueError, http.client.HTTPException):
            return -1

    def _scale_daemon(self, nc, count):
        name = "scale%d" % count
        ws = Workdir(self.ws.path(name))
        os.makedirs(ws.root)
        logf = ws.path("triggers.ndjson")
        lis = [{"name": "w%d" % i, "protocol": "sse", "url": nc.sub_url("c%d" % i),
                "triggers": [{"type": "log", "path": logf}]} for i in range(count)]
        # No pings on these channels: without idle_timeout an idle listener
        # would reconnect after the default 90 s silence budget.
        d = Daemon(ws, "ssewatchd", lis[:1], state_dir=ws.path("state"), idle_timeout="1h")
        # A configuration file may hold at most 1 MiB: the rest of the
        # listeners go to conf.d/*.yaml beside it, 1,000 a file.
        confd = ws.path("conf.d")
        os.makedirs(confd)
        for k in range(1, count, 1000):
            with open(os.path.join(confd, "%05d.yaml" % k), "w") as f:
                f.write(daemonlib.yaml_dump({"listeners": lis[k:k + 1000]}) + "\n")
        log("scale: ssewatchd with %d listeners" % count)
        t0 = time.monotonic()
        d.start()
        try:
            def connected():
                if not d.alive():
                    raise RuntimeError("ssewatchd exited: %s" % d.log()[-1500:])
                return self._subscribers(nc) >= count
            wait_until(connected, 60 + count / 50, 0.05, "%d subscribers" % count)
            self.r["scale_connect_%d" % count] = time.monotonic() - t0
            time.sleep(P["settle_secs"])
            self.r["scale_rss_%d" % count] = proc_status(d.pid, "VmRSS")
            if count > 1:
                ph = perf_start("scale-idle-%d" % count, d.pid)
                c0, w0 = proc_cpu_ticks(d.pid), time.monotonic()
                time.sleep(P["idle_secs"])
                c1, w1 = proc_cpu_ticks(d.pid), time.monotonic()
                perf_stop(ph)
                self.r["scale_cpu_%d" % count] = (c1 - c0) / TICK / (w1 - w0) * 100.0
                ph = perf_start("scale-restart-%d" % count, d.pid)
                try:
                    self._scale_restart(nc, d, count)
                finally:
                    perf_stop(ph)
        finally:
            if d.alive():
                d.stop(timeout=60)
            probs = [p for p in d.problems() if "reconnect" not in p.lower()]
            if probs:
                self.note("scale", "%d listeners: %d warning/error log lines, first: %s"
                          % (count, len(probs), probs[0][:300]))
            if not KEEP:
                shutil.rmtree(ws.root, ignore_errors=True)

    def _scale_restart(self, nc, d, count):
        """Restart nginx (SIGTERM, start again on the same port) and time the
        reconnection of every listener, as nchan counts its subscribers."""
        t_stop = time.monotonic()
        wall_stop = time.time()
        if nc.proc in _procs:
            _procs.remove(nc.proc)
        nc.restart(new_second=False)
        _procs.append(nc.proc)
        t_ready = time.monotonic()
        wall_ready = time.time()
        series = []
        deadline = t_ready + 120 + count / 50
        while True:
            s = self._subscribers(nc)
            now = time.monotonic()
            series.append((now - t_ready, s))
            if s >= count or now > deadline:
                break
            time.sleep(0.05)
        if series[-1][1] < count:
            raise RuntimeError("after the restart only %d of %d reconnected within %.0fs"
                               % (series[-1][1], count, deadline - t_ready))
        self.r["scale_reconnect_%d" % count] = series[-1][0]
        self.r["scale_down_%d" % count] = t_ready - t_stop
        # Per-listener reconnect times from the daemon's status file
        # (connected_since, CLOCK_REALTIME, refreshed about once a second).
        # nchan's view: subscriber count increments, polled every 50 ms
        seen = []
        prev = 0
        for t, n in series:
            seen += [t] * max(0, n - prev)
            prev = max(prev, n)
        # the daemon's view: each listener's connected_since (CLOCK_REALTIME,
        # set when the response head is handled; the status file is
        # refreshed about once a second)
        mine = []

        def all_since():
            st = d.status()
            if not st:
                return None
            ls = st.get("listeners", st) if isinstance(st, dict) else st
            vals = []
            for item in ls:
                cs = item.get("connected_since") if isinstance(item, dict) else None
                if not cs:
                    return None
                dt = datetime.datetime.strptime(cs, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                    tzinfo=datetime.timezone.utc).timestamp()
                if dt < wall_stop:
                    return None
                vals.append(dt - wall_ready)
            return vals if len(vals) == count else None
        try:
            mine = wait_until(all_since, 30, 0.3, "connected_since of every listener")
        except Exception as e:
            log("scale: no per-listener times from the status file (%s); using nchan's counts" % e)
        times = sorted(mine or seen)
        source = "the daemon's connected_since" if mine else "nchan's subscriber count"
        hist = collections.Counter(int(max(t, 0) / 0.1) for t in times)
        peak = max(hist.values())
        self.r["scale_times_%d" % count] = {"daemon": sorted(mine), "nchan": seen}
        self.r["scale_spread_%d" % count] = dict(
            source=source, first=times[0], p10=pctl(times, 10), p50=pctl(times, 50),
            p90=pctl(times, 90), last=times[-1], peak_share=peak / len(times),
            peak=peak, bins=len(hist))

    def _scale_client(self, nc, count, who, argv, cpu=False):
        """Runs argv, which holds count idle streams of nc; once nchan counts
        them, its RSS (and idle CPU) go to who_rss_<count> (who_cpu_<count>)."""
        out = self.ws.path("%s-scale-%d.out" % (who, count))
        p = spawn(argv, out=out, err=out)
        try:
            wait_until(lambda: self._subscribers(nc) >= count or p.poll() is not None,
                       60 + count / 50, 0.05, "%d %s subscribers" % (count, who))
            if p.poll() is not None:
                with open(out, errors="replace") as f:
                    raise RuntimeError("%s exited: %s" % (argv[0], f.read()[-1500:]))
            time.sleep(P["settle_secs"])
            self.r["%s_rss_%d" % (who, count)] = proc_status(p.pid, "VmRSS")
            if cpu and count > 1:
                c0, w0 = proc_cpu_ticks(p.pid), time.monotonic()
                time.sleep(min(P["idle_secs"], 3.0))
                c1, w1 = proc_cpu_ticks(p.pid), time.monotonic()
                self.r["%s_cpu_%d" % (who, count)] = (c1 - c0) / TICK / (w1 - w0) * 100.0
        finally:
            stop(p)

    def _scale_node(self, nc, count):
        log("scale: node eventsource with %d EventSource objects" % count)
        self._scale_client(nc, count, "node", ["node", os.path.join(BENCH, "es-scale.cjs"), nc.base_url,
                                               str(count)], cpu=True)

    def _scale_curl(self, nc, count):
        """The memory floor of a libcurl client with ssewatchd's buffer: the
        same idle streams held by bench/curl_floor.c, which keeps nothing of
        its own per transfer."""
        log("scale: bare libcurl client with %d transfers" % count)
        self._scale_client(nc, count, "curl", [self._curl_floor(), nc.base_url, str(count)])

    def _scale_curl_min(self, nc, count):
        """The same with the smallest receive buffer libcurl accepts (1 KiB):
        the floor of any client on this libcurl with one HTTP/1.1 connection
        per stream, whatever its buffer."""
        log("scale: bare libcurl client with %d transfers, 1 KiB buffers" % count)
        self._scale_client(nc, count, "curlmin", [self._curl_floor(), nc.base_url, str(count), "1024"])

    def _h2_server(self):
        """A second nchan server block, HTTPS with HTTP/2 and a self-signed
        certificate, so that the floor can be taken with the streams
        multiplexed, as many as 1,000 on one connection."""
        d = self.ws.path("h2")
        os.makedirs(d, exist_ok=True)
        self.h2_cert = os.path.join(d, "cert.pem")
        key = os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", self.h2_cert],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.h2_port = s.getsockname()[1]
        return ("  server {\n"
                "    listen 127.0.0.1:%d ssl http2;\n"
                "    ssl_certificate %s;\n    ssl_certificate_key %s;\n"
                "    http2_max_concurrent_streams 1000;\n"
                "    location ~ ^/sub/(.+)$ { nchan_subscriber eventsource; nchan_channel_id $1; }\n"
                "  }\n" % (self.h2_port, self.h2_cert, key))

    def _scale_curl_h2(self, nc, count, who, buffer):
        """The floor again with HTTP/2: does sharing a connection make a
        stream cheaper? (h2 over TLS: libcurl 7.88 cannot reuse a connection
        made with prior knowledge, curl issue 10634.)"""
        log("scale: bare libcurl client with %d transfers over HTTP/2, multiplexed, %d-byte buffers"
            % (count, buffer))
        self._scale_client(nc, count, who, [self._curl_floor(), "https://127.0.0.1:%d" % self.h2_port,
                                            str(count), str(buffer), "h2", self.h2_cert])

    @staticmethod
    def _curl_floor():
        exe = os.path.join(BENCH, "curl_floor")
        if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(
                os.path.join(ROOT, "bench", "curl_floor.c")):
            subprocess.run(["cc", "-O2", "-o", exe, os.path.join(ROOT, "bench", "curl_floor.c")]
                           + run_out(["pkg-config", "--cflags", "--libs", "libcurl"]).split(), check=True)
        return exe

    # -- driver ----------------------------------------------------------------
    def prepare(self, parts):
        """Generate the streams and install node's eventsource before any
        measurement, then flush the page cache's dirty pages so that no
        writeback of ours competes with a measurement."""
        if set(parts) & {"sse", "aviso", "spawn"}:
            self.static_server()
        if set(parts) & {"sse", "aviso", "scale"}:
            try:
                self.node()
            except RuntimeError:
                pass
        os.sync()

    def run(self, parts):
        self.prepare(parts)
        for part in parts:
            log("== %s" % part)
            t = time.monotonic()
            os.sync()
            try:
                getattr(self, "part_" + part)()
                self.ran.append(part)
            except Exception as e:
                self.errors[part] = "%s: %s" % (type(e).__name__, e)
                log("%s FAILED: %s" % (part, e))
                traceback.print_exc(file=sys.stderr)
                self.ran.append(part)
            log("%s took %.0f s" % (part, time.monotonic() - t))

    def cleanup(self):
        if self.static:
            if self.static.proc in _procs:
                _procs.remove(self.static.proc)
            self.static.stop()
        stop_all()
        if KEEP:
            log("kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------

def fmt_rate(v):
    return "%s ev/s" % "{:,.0f}".format(v)


def bin_id():
    """The measured binary: sha256 prefix and build time."""
    try:
        with open(ssewatchd_bin(), "rb") as f:
            h = hashlib.sha256(f.read()).hexdigest()[:12]
        t = datetime.datetime.fromtimestamp(os.path.getmtime(ssewatchd_bin()), datetime.timezone.utc)
        return "sha256 %s…, built %s UTC" % (h, t.strftime("%Y-%m-%d %H:%M"))
    except OSError as e:
        return "(%s)" % e


def machine_facts():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = "%.1f GiB" % (int(f.readline().split()[1]) / 1048576)
    except OSError:
        pass
    fs = run_out(["findmnt", "-n", "-T", BENCH, "-o", "SOURCE,FSTYPE,OPTIONS"])
    dev = fs.split()[0] if fs and not fs.startswith("(") else ""
    rot = "?"
    base = os.path.basename(dev)
    for cand in (base, re.sub(r"p?\d+$", "", base)):
        pth = "/sys/block/%s/queue/rotational" % cand
        if cand and os.path.exists(pth):
            with open(pth) as f:
                rot = "rotational" if f.read().strip() == "1" else "non-rotational"
            break
    git = run_out(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = run_out(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "include", "Makefile"])
    return collections.OrderedDict([
        ("CPU", "%s, %d cores (os.cpu_count)" % (cpu, os.cpu_count())),
        ("Memory", mem),
        ("Kernel", platform.release()),
        ("OS", run_out(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"])),
        ("State dir disk", "%s (%s; /sys/block reports %s)" % (os.path.relpath(BENCH, ROOT) + "/run-*", fs, rot)),
        ("ssewatchd", "%s, git %s%s; binary %s" % (run_out([ssewatchd_bin(), "--version"]), git,
                                                   " + uncommitted changes" if dirty else "", bin_id())),
        ("curl", run_out(["curl", "--version"]).splitlines()[0] if shutil.which("curl") else "missing"),
        ("nginx", run_out([NGINX, "-v"]).replace("nginx version: ", "")),
        ("nchan", run_out(["dpkg-query", "-W", "-f", "${Version}", "libnginx-mod-nchan"])),
        ("node", run_out(["node", "--version"]) if shutil.which("node") else "missing"),
        ("eventsource (npm)", "%s (eventsource-parser %s)" % (npm_version("eventsource"),
                                                               npm_version("eventsource-parser"))),
        ("Python", platform.python_version()),
    ])


def build_table(b):
    r, e = b.r, b.errors
    rows = []   # (measurement, figure, goal, verdict)

    def get(*keys):
        return all(k in r for k in keys)

    def why(part, key=None):
        if key and key in e:
            return "not measured: " + e[key]
        if part in e:
            return "not measured: " + e[part]
        if part not in b.ran:
            return "not run"
        return "not measured"

    def ratio_row(label, num, den, goal, part, den_err=None):
        if get(num, den):
            v = r[num] / r[den]
            rows.append((label, "%.2f" % v, "≥ %g" % goal, "PASS" if v >= goal else "MISS"))
        else:
            rows.append((label, why(part, den_err if den_err and den_err in e else None), "≥ %g" % goal, "—"))

    def info(label, key, fmt, part, key_err=None):
        if key in r:
            rows.append((label, fmt(r[key]), "", ""))
        else:
            rows.append((label, why(part, key_err), "", ""))

    def secs(k):
        def f(v):
            cpu = (", daemon CPU %.0f %% of a core" % r[k + "_cpu"]) if k + "_cpu" in r else ""
            return "%s (%.2f s%s)" % (fmt_rate(v), r.get(k + "_secs", float("nan")), cpu)
        return f

    # 1. throughput, sse
    rows.append(("**1. Throughput, sse** (%s events × %d B)" % ("{:,}".format(P["n_sse"]), EVENT_BYTES), "", "", ""))
    info("curl -sN (the limit)", "sse_curl", secs("sse_curl"), "sse")
    info("ssewatchd, log trigger, commit batch", "sse_batch", secs("sse_batch"), "sse")
    info("ssewatchd, log trigger, commit per_event", "sse_per_event",
         lambda v: "%s (%s events in %.2f s, daemon CPU %.0f %% of a core)"
         % (fmt_rate(v), "{:,}".format(r["sse_per_event_n"]), r["sse_per_event_secs"],
            r.get("sse_per_event_cpu", float("nan"))), "sse")
    info("node eventsource %s, no-op handler" % ES_VERSION, "sse_node", secs("sse_node"), "sse", "sse_node")
    ratio_row("ssewatchd batch ÷ node no-op", "sse_batch", "sse_node", 2, "sse", "sse_node")
    ratio_row("ssewatchd batch ÷ curl", "sse_batch", "sse_curl", 0.2, "sse")
    info("the floor: curl reading + the durable writes alone (bench/io_floor.c: every %s events to a "
         "state file by the commit recipe, then to a log file; no parsing, no JSON; best batch of 2,048 / "
         "4,096 / 8,192 / 16,384)" % "{:,}".format(r.get("sse_floor_batch", 0)), "sse_floor",
         lambda v: "%s (%.2f s, %d commits)" % (fmt_rate(v), r["sse_floor_secs"], r["sse_floor_commits"]),
         "sse", "sse_floor")
    if get("sse_floor", "sse_node"):
        rows.append(("floor ÷ node no-op", "%.2f" % (r["sse_floor"] / r["sse_node"]), "",
                     "bound" if r["sse_floor"] / r["sse_node"] < 2 else ""))
    if get("sse_floor", "sse_curl"):
        rows.append(("floor ÷ curl", "%.2f" % (r["sse_floor"] / r["sse_curl"]), "", ""))
    if get("sse_batch", "sse_floor"):
        rows.append(("ssewatchd batch ÷ floor", "%.2f" % (r["sse_batch"] / r["sse_floor"]), "", ""))
    # aviso
    rows.append(("**1. Throughput, aviso** (%s notifications)" % "{:,}".format(P["n_aviso"]), "", "", ""))
    info("curl -sN -X POST (the limit)", "aviso_curl", secs("aviso_curl"), "aviso")
    info("ssewatchd, log trigger, commit batch", "aviso_batch", secs("aviso_batch"), "aviso")
    info("node eventsource, JSON.parse handler", "aviso_node_json", secs("aviso_node_json"), "aviso",
         "aviso_node_json")
    info("node eventsource, no-op handler", "aviso_node", secs("aviso_node"), "aviso", "aviso_node")
    ratio_row("ssewatchd batch ÷ node JSON.parse", "aviso_batch", "aviso_node_json", 2, "aviso", "aviso_node_json")
    info("jansson json_loadb alone on the same frames (the ceiling of a jansson client)", "aviso_jansson",
         lambda v: "%s/s" % "{:,.0f}".format(v), "aviso", "aviso_jansson")
    if get("aviso_jansson", "aviso_node_json"):
        rows.append(("jansson ceiling ÷ node JSON.parse", "%.2f" % (r["aviso_jansson"] / r["aviso_node_json"]),
                     "", "bound"))
    if get("aviso_batch", "aviso_jansson"):
        rows.append(("ssewatchd batch ÷ jansson ceiling", "%.2f" % (r["aviso_batch"] / r["aviso_jansson"]), "", ""))
    if get("aviso_batch", "aviso_curl"):
        rows.append(("ssewatchd batch ÷ curl", "%.2f" % (r["aviso_batch"] / r["aviso_curl"]), "", ""))
    # 2. disk
    rows.append(("**2. State disk**", "", "", ""))
    info("fdatasync (pwrite 1 B + fdatasync)", "fdatasync_rate",
         lambda v: "%s/s (p50 %.3f ms, p99 %.3f ms, max %.1f ms)"
         % ("{:,.0f}".format(v), r["fdatasync_p50_ms"], r["fdatasync_p99_ms"], r["fdatasync_max_ms"]), "sync")
    info("commit recipe (temp, write 300 B, fsync, rename, fsync dir)", "recipe_rate",
         lambda v: "%s/s (p50 %.3f ms, p99 %.3f ms, max %.1f ms)"
         % ("{:,.0f}".format(v), r["recipe_p50_ms"], r["recipe_p99_ms"], r["recipe_max_ms"]), "sync")
    ratio_row("ssewatchd per_event ÷ fdatasync rate", "sse_per_event", "fdatasync_rate", 0.8,
              "sse" if "sse" in e or "sse" not in b.ran else "sync")
    if "fdatasync_around" in r:
        rows.append(("fdatasync rate in the 1 s right before / after the per_event run",
                     "%s/s / %s/s" % tuple("{:,.0f}".format(x) for x in r["fdatasync_around"]), "", ""))
    if get("sse_per_event", "recipe_rate"):
        rows.append(("ssewatchd per_event ÷ commit-recipe rate", "%.2f" % (r["sse_per_event"] / r["recipe_rate"]),
                     "", ""))
    # 3. latency
    rows.append(("**3. Latency publish → trigger start** (%d events at %d/s, nchan, commit per_event)"
                 % (P["lat_events"], P["lat_rate"]), "", "", ""))
    if get("lat_p50"):
        rows.append(("ssewatchd: p50 / p99 / max", "%.2f / %.2f / %.2f ms" % (r["lat_p50"], r["lat_p99"], r["lat_max"]),
                     "", ""))
        if "lat_raw_p50" in r:
            rows.append(("the floor: a raw-socket subscriber of the same channel, p50 / p99 / max",
                         "%.2f / %.2f / %.2f ms" % (r["lat_raw_p50"], r["lat_raw_p99"], r["lat_raw_max"]), "", ""))
        if "lat_extra" in r:
            rows.append(("ssewatchd − floor, event by event: p50 / p99 / max",
                         "%.2f / %.2f / %.2f ms" % r["lat_extra"], "", ""))
        if "lat_durable" in r:
            rows.append(("the floor with the commit (bench/lat_floor.c): a raw-socket subscriber that commits "
                         "each event as per_event does (the state text over a spare file, fsync, exchange, "
                         "fsync of the directory) and then writes its line to a FIFO; the same schedule, "
                         "taking turns with the daemon: p50 / p99 / max",
                         "%.2f / %.2f / %.2f ms" % r["lat_durable"], "", ""))
        if "lat_durable_extra" in r:
            rows.append(("  that floor − a raw-socket subscriber beside it, event by event: p50 / p99 / max",
                         "%.2f / %.2f / %.2f ms" % r["lat_durable_extra"], "", ""))
        if get("fdatasync_p50_ms"):
            lim = 2.0 + r["fdatasync_p50_ms"]
            rows.append(("p99 ≤ 2 ms + one fsync (fdatasync p50 %.3f ms)" % r["fdatasync_p50_ms"],
                         "%.2f ms" % r["lat_p99"], "≤ %.2f ms" % lim, "PASS" if r["lat_p99"] <= lim else "MISS"))
            if "lat_durable" in r:
                dp99 = r["lat_durable"][1]
                rows.append(("the floor with the commit, p99", "%.2f ms" % dp99, "≤ %.2f ms" % lim,
                             "bound" if dp99 > lim else ""))
                rows.append(("ssewatchd p99 ÷ that floor's p99", "%.2f" % (r["lat_p99"] / dp99), "", ""))
        else:
            rows.append(("p99 ≤ 2 ms + one fsync", why("sync"), "", "—"))
    else:
        rows.append(("p50 / p99 / max", why("latency"), "≤ 2 ms + one fsync", "—"))
    # 4. scale
    rows.append(("**4. Scale** (idle sse listeners on nchan, one channel each)", "", "", ""))
    base = r.get("scale_rss_1")
    nbase = r.get("node_rss_1")
    cbase = r.get("curl_rss_1")

    def scale_why(who, c):
        for k in ("scale_%s_%d" % (who, c), "scale_%s_1" % who):
            if k in e:
                return "not measured: " + ("(baseline with 1) " if k.endswith("_1") else "") + e[k]
        return why("scale")

    for c in P["scale"]:
        cc = "{:,}".format(c)
        goal = c == max(P["scale"])
        k = "scale_rss_%d" % c
        if k in r and base is not None:
            per = (r[k] - base) * 1024 / (c - 1) / 1000.0
            rows.append(("ssewatchd RSS per watch at %s ((RSS − RSS with 1) ÷ (N−1))" % cc,
                         "%.1f KB (RSS %s KiB; %s KiB with 1)" % (per, "{:,}".format(r[k]), "{:,}".format(base)),
                         "≤ 12 KB" if goal else "", ("PASS" if per <= 12 else "MISS") if goal else ""))
            lo = [x for x in P["scale"] if x < c and "scale_rss_%d" % x in r]
            if lo:
                m = (r[k] - r["scale_rss_%d" % lo[-1]]) * 1024 / (c - lo[-1]) / 1000.0
                rows.append(("  marginal: (RSS at %s − RSS at %s) ÷ %s" % (cc, "{:,}".format(lo[-1]),
                                                                         "{:,}".format(c - lo[-1])),
                             "%.1f KB" % m, "", ""))
        else:
            rows.append(("ssewatchd RSS per watch at %s" % cc, scale_why("daemon", c),
                         "≤ 12 KB" if goal else "", "—" if goal else ""))
        k = "node_rss_%d" % c
        if k in r and nbase is not None:
            per = (r[k] - nbase) * 1024 / (c - 1) / 1000.0
            rows.append(("node eventsource RSS per EventSource at %s (same method)" % cc,
                         "%.1f KB (RSS %s KiB; %s KiB with 1)" % (per, "{:,}".format(r[k]), "{:,}".format(nbase)),
                         "", ""))
        else:
            rows.append(("node eventsource RSS per EventSource at %s" % cc, scale_why("node", c), "", ""))
        k = "curl_rss_%d" % c
        if k in r and cbase is not None:
            per_curl = (r[k] - cbase) * 1024 / (c - 1) / 1000.0
            rows.append(("the floor: a bare libcurl client, RSS per idle transfer at %s (bench/curl_floor.c; "
                         "same method)" % cc,
                         "%.1f KB (RSS %s KiB; %s KiB with 1)" % (per_curl, "{:,}".format(r[k]), "{:,}".format(cbase)),
                         "", "bound" if goal and per_curl > 12 else ""))
            if "scale_rss_%d" % c in r and base is not None:
                per = (r["scale_rss_%d" % c] - base) * 1024 / (c - 1) / 1000.0
                rows.append(("  ssewatchd per watch − that floor: its own memory", "%.1f KB" % (per - per_curl),
                             "", ""))
        else:
            rows.append(("the floor: a bare libcurl client, RSS per idle transfer at %s" % cc,
                         scale_why("curl", c), "", ""))
        if c == min(P["scale"]):
            for who, buf in (("curlh2", "64 KiB"), ("curlh2min", "1 KiB")):
                k = "%s_rss_%d" % (who, c)
                hbase = r.get("%s_rss_1" % who)
                what = ("the same over HTTP/2 (TLS; the streams multiplexed on one connection), %s buffers, "
                        "RSS per idle transfer at %s" % (buf, cc))
                if k in r and hbase is not None:
                    rows.append((what, "%.1f KB (RSS %s KiB; %s KiB with 1)"
                                 % ((r[k] - hbase) * 1024 / (c - 1) / 1000.0, "{:,}".format(r[k]),
                                    "{:,}".format(hbase)), "", ""))
                else:
                    rows.append((what, scale_why(who, c), "", ""))
        if goal:
            k = "curlmin_rss_%d" % c
            mbase = r.get("curlmin_rss_1")
            if k in r and mbase is not None:
                per_min = (r[k] - mbase) * 1024 / (c - 1) / 1000.0
                rows.append(("the floor of any HTTP/1.1 libcurl client: the same with the smallest receive "
                             "buffer libcurl accepts (1 KiB), RSS per idle transfer at %s" % cc,
                             "%.1f KB (RSS %s KiB; %s KiB with 1)" % (per_min, "{:,}".format(r[k]),
                                                                       "{:,}".format(mbase)),
                             "", "bound" if per_min > 12 else ""))
            else:
                rows.append(("the floor of any HTTP/1.1 libcurl client (1 KiB receive buffer), "
                             "RSS per idle transfer at %s" % cc, scale_why("curlmin", c), "", ""))
        if "scale_cpu_%d" % c in r:
            rows.append(("ssewatchd idle CPU at %s (utime+stime over %.0f s)" % (cc, P["idle_secs"]),
                         "%.2f %% of a core" % r["scale_cpu_%d" % c], "", ""))
        if "node_cpu_%d" % c in r:
            rows.append(("node eventsource idle CPU at %s" % cc, "%.2f %% of a core" % r["node_cpu_%d" % c], "", ""))
        if "scale_connect_%d" % c in r:
            rows.append(("ssewatchd start → all %s connected" % cc, "%.2f s" % r["scale_connect_%d" % c], "", ""))
        if "scale_reconnect_%d" % c in r:
            sp = r["scale_spread_%d" % c]
            dv = r["scale_times_%d" % c]["daemon"]
            rows.append(("nginx restart → all %s reconnected" % cc,
                         "%.2f s after nginx answered again, by nchan's count%s (nginx was down %.2f s)"
                         % (r["scale_reconnect_%d" % c],
                            "; %.2f s by the daemon's connected_since" % dv[-1] if dv else "",
                            r["scale_down_%d" % c]), "", ""))
            rows.append(("reconnect times after nginx answered again",
                         "p10 %.2f s, p50 %.2f s, p90 %.2f s, last %.2f s; busiest 100 ms: %.0f %% (%s)"
                         % (sp["p10"], sp["p50"], sp["p90"], sp["last"], 100 * sp["peak_share"],
                            "{:,}".format(sp["peak"])),
                         "spread, not a burst (no figure set; histogram below)", "info"))
        elif "scale_rss_%d" % c in r and "scale_daemon_%d" % c in e:
            rows.append(("nginx restart → all %s reconnected" % cc, scale_why("daemon", c), "", ""))
    # 5. spawn
    rows.append(("**5. Command trigger** (argv [/bin/true], commit batch)", "", "", ""))
    for key, what, lim, loops in (("spawn", "one listener", "spawn_limit",
                                   "posix_spawn + waitpid of /bin/true in a loop, one at a time"),
                                  ("spawn2", "two listeners at once", "spawn_limit2",
                                   "two such loops at once")):
        if key + "_rate" not in r:
            rows.append(("spawns per second, %s" % what, why("spawn"), "≥ 2,000/s", "—"))
            continue
        v = r[key + "_rate"]
        rows.append(("spawns per second, %s (%s events in %.2f s)"
                     % (what, "{:,}".format(r[key + "_n"]), r[key + "_secs"]),
                     "%s/s (daemon CPU %.0f %% of a core)" % ("{:,.0f}".format(v), r.get(key + "_cpu", float("nan"))),
                     "≥ 2,000/s", "PASS" if v >= 2000 else "MISS"))
        if lim in r:
            rows.append(("the machine: %s" % loops,
                         "{:,.0f}/s".format(r[lim]), "", ""))
            rows.append(("ssewatchd spawns ÷ that", "%.2f" % (v / r[lim]), "", ""))
    return rows


def drop_not_run(rows):
    """Leave out the rows of parts that did not run (BENCH_ONLY), and the
    section headers left empty."""
    rows = [x for x in rows if x[1] != "not run"]
    out = []
    for i, x in enumerate(rows):
        is_head = x[1:] == ("", "", "")
        nxt = rows[i + 1] if i + 1 < len(rows) else None
        if is_head and (nxt is None or nxt[1:] == ("", "", "")):
            continue
        out.append(x)
    return out


def render_table(rows):
    out = ["| measurement | figure | goal | |", "| --- | --- | --- | --- |"]
    for m, f, g, v in rows:
        out.append("| %s | %s | %s | %s |" % (m, f.replace("|", "/"), g, v))
    return "\n".join(out)


def render_text(rows):
    w0 = max(len(m) for m, _, _, _ in rows)
    w1 = max(len(f) for _, f, _, _ in rows)
    w2 = max(len(g) for _, _, g, _ in rows)
    lines = []
    for m, f, g, v in rows:
        if f == "" and g == "" and v == "":
            lines.append("")
            lines.append(m.replace("**", ""))
            continue
        lines.append("  %-*s  %-*s  %-*s  %s" % (w0, m, w1, f, w2, g, v))
    return "\n".join(lines)


METHOD = """\
## Method

All servers listen on 127.0.0.1 with ports the OS picked; every process the
harness starts is stopped by PID, and its temp dir (`build/bench/run-*`, which
also holds the state directories) is removed at the end.  Times are wall
clock from process start until the moment described; the figures are
events per second and the ratios between them, all taken in this one run.

1. **Throughput.** nginx-light (no nchan) serves a generated file as
   `text/event-stream` with sendfile: {n_sse} events of {eb} bytes (`id: K`,
   one JSON `data:` line, blank line).  For aviso it serves, to
   `POST /api/v1/watch` (`error_page 405 =200 $uri` turns the static module's
   405 into the file; checked byte for byte against it), one
   `replay-control`/`replay_started` frame and {n_aviso} `replay` frames
   holding CloudEvents of sequences 1..N exactly as
   `tests/lib/aviso_emulator.py` writes them.  Readers:
   `curl -sN URL -o /dev/null` (`-X POST` with the watch body for aviso),
   timed from start to exit; ssewatchd with one `log` trigger writing to a
   file in the state dir's file system, timed from daemon start until the
   log file's last line is the record of notification N (polled every
   {poll} ms, reading only the file's end, so that the harness takes no CPU
   from the daemon; the lines are counted after the run and must be N),
   then stopped at once (at the end of the static stream it would reconnect
   and get the file again);
   `commit: batch`, then `commit: per_event` (which stops after
   {cap_pe:.0f} s: its rate is what it did by then); node with `eventsource`
   (npm, pinned) and a counting handler that exits at N (aviso: a handler on
   `replay` events that also `JSON.parse`s the data; the POST goes through
   the package's `fetch` option), timed from `node` start to exit.  Other
   settings are the defaults (`max_pending` 8192 with batch, 16 with per_event).  "Daemon CPU" is its
   utime+stime over the same interval: well under 100 % means it waited
   (for the disk, mostly) rather than computed.  curl, ssewatchd batch,
   node and the floor each run once unmeasured (a warm-up: the first run
   after another part is the slowest for every reader), then five times, and
   the table shows the median run (the notes list all five): a run lasts
   about a second, and two cores shared with nginx make single runs vary by
   a third.  curl, ssewatchd batch and node take turns (five rounds of one
   run each), so a VM that slows down or speeds up during the part moves
   them alike; the floor's runs come after.
   **The floor** is what the delivery guarantees cost before any parsing:
   `bench/io_floor.c` reads the same stream with libcurl (1 MiB buffer) and,
   every BATCH complete events (found by the blank line alone), writes their
   raw bytes to a state file by the commit recipe below, recycled as
   ssewatchd does with files this large (written over the file the commit
   before last replaced, exchanged into place), then appends them
   to a log file, as ssewatchd must do with its JSON (durable before the
   trigger runs).  It reads on while the disk writes a commit
   (`sync_file_range` starts the writeback, the fsync comes with the next
   batch), all on its one thread, as ssewatchd did before its batch commits
   went to io_uring (where the kernel allows it, ssewatchd's kernel workers
   write and sync a commit on another core).  It runs with BATCH 2,048,
   4,096, 8,192 and 16,384; the best median is shown.  A one-thread client that
   keeps the guarantees this way does at least this much on this disk;
   ssewatchd adds the parsing, the JSON and its bookkeeping.
2. **State disk**, in the state directory's file system: a loop of
   `pwrite` 1 byte + `fdatasync` for {sync:.0f} s, and a loop of the mandated
   commit recipe (create a temp file, write 300 bytes, `fsync`, `rename`
   over the target, `fsync` the directory) for {sync:.0f} s.  ssewatchd
   writes a file this small the same way (it recycles only files of 16 KiB
   and more).  The disk's rate
   moves with whatever else writes to it, so 1 s fdatasync probes right
   before and after the per_event run are shown too.
3. **Latency.** nginx + nchan (`tests/lib/nchan.py`); a publisher POSTs
   {lat_n} events at {lat_rate}/s, each carrying `time.time_ns()`
   (CLOCK_REALTIME) taken just before its POST.  The daemon's listener
   (`commit: per_event`, the default) has one `log` trigger whose path is a
   FIFO; a separate reader process keeps it open and timestamps each line
   when `read()` returns it.  Latency = arrival − publish time.  The floor:
   another process subscribes to the same channel over a raw socket and
   timestamps each read the same way.  The floor with the commit:
   `bench/lat_floor.c` subscribes over a raw socket and, for each event,
   does what `per_event` demands before a trigger starts and nothing else:
   a state text of the same members (the event as its one pending
   notification) written over the spare file a busy listener keeps,
   `fsync`, exchanged into place, `fsync` of the directory; then the
   event's line to a FIFO, read and timestamped as the daemon's are.  The
   daemon and that floor take turns, ABBA (daemon, floor, floor, daemon,
   {lat_half} events each, a fresh channel each, a raw-socket subscriber
   beside each), so a disk that changes during the part moves both alike.
   The goal's "one fsync" is the fdatasync p50 of part 2.
4. **Scale.** nginx + nchan with `worker_connections` and
   `worker_rlimit_nofile` raised; one daemon with N sse listeners, each on
   its own channel, each with a `log` trigger, `idle_timeout: 1h` (nchan
   sends no pings here, and the default silence budget of 90 s would make
   idle listeners reconnect).  "Connected" = nchan's stub status counts N
   subscribers; after {settle:.0f} s more, VmRSS from `/proc/PID/status`.
   **Per watch = (RSS at N − RSS with 1 listener) ÷ (N − 1)**, i.e. the cost
   of one more watch, without the fixed cost of the process (the daemon needs
   at least one listener, so 1 is the baseline).  Idle CPU = utime+stime over
   {idle:.0f} s.  Then nginx is restarted (SIGTERM, started again on the same
   port) and the time until nchan counts N subscribers again is measured from
   the moment it answers again; the per-listener reconnect times come from the
   daemon's status file (`connected_since`, stamped when the daemon handles
   the response head) and from nchan's count (polled every 50 ms); the
   issue sets no figure for "spread", so the table shows the percentiles and
   the busiest 100 ms, and the charts below the table show both views.
   node: one process with N `EventSource` objects, same channels, same RSS
   method.  The floor: `bench/curl_floor.c` holds the same N streams in one
   libcurl multi handle, with ssewatchd's 64 KiB receive buffer and the
   options that shape a transfer, and keeps nothing of its own; same RSS
   method.  At {top} it runs once more with `CURLOPT_BUFFERSIZE` 1024, the
   least libcurl accepts: what any client built on this libcurl pays per
   stream over its own HTTP/1.1 connection, whatever its buffer (an idle stream touches only the start of
   its buffer, so any buffer from 4 KiB to 1 MiB costs about a page).  At
   {low} it runs over HTTP/2 as well: a second server block of the same
   nginx speaks HTTPS with h2 (a self-signed certificate made with
   openssl for the run, `http2_max_concurrent_streams 1000`), and the
   client multiplexes its streams on one connection (`CURLOPT_PIPEWAIT`),
   with 64 KiB and with 1 KiB buffers.  Not at {top}: libcurl 7.88, given
   thousands of transfers at once, fills the first connection and then
   opens a connection for each of the rest.  Prior knowledge over plain
   HTTP cannot be measured at all: libcurl 7.88 fails every stream after
   the first on a reused connection ("Error in the HTTP2 framing layer",
   curl issue 10634).
5. **Command trigger.** A static stream of {n_spawn} events, one listener,
   `commit: batch`, one `command` trigger `argv: [/bin/true]`; timed from
   the first delivery to the moment `delivered` reaches N, both read from
   the head of the listener's state file every 10 ms (a batch commit
   records deliveries within 100 ms, at both ends alike; start-up and the
   connection are left out).  A listener runs its triggers one at a time, so
   for reference the machine's own rate for the same thing done one at a
   time: `posix_spawn` + `waitpid` of /bin/true in a loop from Python.
   Listeners run theirs at the same time: the run is repeated with two
   listeners on the same stream (timed until both have N), against two
   such loops run at once.
"""


def reconnect_chart(count, tv):
    """Reconnections after the nginx restart per time bin, as the daemon
    (connected_since) and nchan (subscriber count) saw them."""
    allt = tv["daemon"] + tv["nchan"]
    span = max(allt) - min(0.0, min(allt))
    width = next((w for w in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0) if span / w <= 40), 20.0)
    hd = collections.Counter(int(max(t, 0) / width) for t in tv["daemon"])
    hn = collections.Counter(int(max(t, 0) / width) for t in tv["nchan"])
    keys = list(hd) + list(hn)
    top = max(list(hd.values()) + list(hn.values()))
    out = ["Reconnections of the %s listeners after the nginx restart, per %g s after nginx answered "
           "again (daemon: connected_since from the status file; nchan: its subscriber count, polled "
           "every 50 ms):" % ("{:,}".format(count), width), "", "```",
           "%8s %7s %7s" % ("from", "daemon", "nchan")]
    for k in range(min(keys), max(keys) + 1):
        v = hd.get(k, 0)
        out.append("%7.1fs %7d %7d %s" % (k * width, v, hn.get(k, 0), "#" * int(round(40.0 * v / top))))
    out.append("```")
    return "\n".join(out) + "\n"


def write_results(path, b, rows, facts, started, wall):
    with open(path + ".tmp", "w") as f:
        f.write("# ssewatchd benchmark results\n\n")
        f.write("Generated by `make bench` (bench/run.py) on %s UTC, one run of %.0f s%s. "
                "Every figure below comes from this one run on this machine; compare ratios, "
                "not absolute times across runs.\n\n"
                % (started, wall, " (BENCH_QUICK=1: smaller N)" if QUICK else ""))
        f.write(render_table(rows) + "\n\n")
        notes = [(p, m) for p in ALL_PARTS for m in b.notes.get(p, [])]
        errs = list(b.errors.items())
        if notes or errs:
            f.write("Notes from this run:\n\n")
            for p, m in notes:
                f.write("- %s: %s\n" % (p, m))
            for k, m in errs:
                f.write("- **%s not measured**: %s\n" % (k, m))
            f.write("\n")
        for c in P["scale"]:
            tv = b.r.get("scale_times_%d" % c)
            if tv:
                f.write(reconnect_chart(c, tv) + "\n")
        f.write("## Machine\n\n")
        for k, v in facts.items():
            f.write("- %s: %s\n" % (k, v))
        f.write("\n")
        f.write(METHOD.format(n_sse="{:,}".format(P["n_sse"]), eb=EVENT_BYTES,
                              n_aviso="{:,}".format(P["n_aviso"]), poll=int(POLL * 1000),
                              cap_pe=P["per_event_cap"], sync=P["sync_secs"], lat_n=P["lat_events"],
                              lat_half=(P["lat_events"] + 1) // 2, lat_rate=P["lat_rate"],
                              settle=P["settle_secs"], idle=P["idle_secs"],
                              top="{:,}".format(max(P["scale"])), low="{:,}".format(min(P["scale"])),
                              n_spawn="{:,}".format(P["n_spawn"])))
        f.write("\n## Reproduce\n\n```sh\nmake bench                 # this table; a few minutes (%.0f s here); "
                "rewrites bench/RESULTS.md\nBENCH_QUICK=1 make bench   # smoke run, about a minute, "
                "smaller N; writes build/bench/RESULTS-quick.md\nBENCH_ONLY=sse,spawn make bench   "
                "# some parts: sync sse aviso latency scale spawn\nBENCH_PERF=1 make bench    "
                "# also perf-record the daemon: build/bench/perf-*.txt\n```\n\n"
                "`make bench` runs `scripts/install-deps` (apt: nginx, nchan, curl...), builds "
                "`build/ssewatchd`, then `python3 bench/run.py`, which installs `eventsource@%s` "
                "from npm into `build/bench/node_modules` (node ≥ 20 must be installed) and "
                "generates the streams into `build/bench/` once.  It needs root only for "
                "install-deps, and about 2 × %d MB of disk in build/bench.\n"
                % (wall, ES_VERSION, (P["n_sse"] * EVENT_BYTES + P["n_aviso"] * 400) // 1_000_000))
    os.replace(path + ".tmp", path)


# ---------------------------------------------------------------------------
# FIFO reader (a separate process, so the publisher never delays a read)
# ---------------------------------------------------------------------------

def fifo_reader(fifo, out, n):
    fd = os.open(fifo, os.O_RDWR)      # also a writer: read() never sees EOF
    open(out + ".ready", "w").close()
    got = []
    buf = b""
    lines = 0
    deadline = None
    while lines < n:
        r, _, _ = select.select([fd], [], [], 60.0)
        if not r:
            break
        b = os.read(fd, 1 << 16)
        now = time.time_ns()
        buf += b
        *full, buf = buf.split(b"\n")
        for line in full:
            got.append("%d\t%s\n" % (now, line.decode("utf-8", "replace")))
        lines += len(full)
    with open(out + ".tmp", "w") as f:
        f.writelines(got)
    os.replace(out + ".tmp", out)
    return 0


def sub_reader(url, out, n):
    """The floor of the latency measurement: a raw-socket nchan subscriber
    that timestamps each chunk it reads."""
    import urllib.parse
    u = urllib.parse.urlsplit(url)
    sock = socket.create_connection((u.hostname, u.port), timeout=10)
    sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n"
                  % (u.path, u.netloc)).encode())
    open(out + ".ready", "w").close()
    got = []
    buf = b""
    rx = re.compile(rb"T=(\d+);")
    while len(got) < n:
        r, _, _ = select.select([sock], [], [], 60.0)
        if not r:
            break
        b = sock.recv(1 << 16)
        now = time.time_ns()
        if not b:
            break
        buf += b
        cut = buf.rfind(b"\n")
        if cut < 0:
            continue
        for m in rx.finditer(buf[:cut]):
            got.append("%d\tT=%s;\n" % (now, m.group(1).decode()))
        buf = buf[cut + 1:]
    with open(out + ".tmp", "w") as f:
        f.writelines(got)
    os.replace(out + ".tmp", out)
    return 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "--fifo-reader":
        return fifo_reader(argv[2], argv[3], int(argv[4]))
    if len(argv) >= 2 and argv[1] == "--sub-reader":
        return sub_reader(argv[2], argv[3], int(argv[4]))
    if len(argv) >= 2 and argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    parts = ONLY or ALL_PARTS
    bad = [p for p in parts if p not in ALL_PARTS]
    if bad:
        print("unknown BENCH_ONLY part(s): %s (known: %s)" % (" ".join(bad), " ".join(ALL_PARTS)),
              file=sys.stderr)
        return 64
    if not os.access(ssewatchd_bin(), os.X_OK):
        print("no %s: run make first" % ssewatchd_bin(), file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    sys.setswitchinterval(0.0005)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    t0 = time.monotonic()
    load0 = os.getloadavg()
    if load0[0] > 0.7:
        log("WARNING: load average %.2f before the run: other work on this machine "
            "perturbs the figures" % load0[0])
    b = Bench()
    try:
        log("temp dir %s; %s run" % (os.path.relpath(b.tmp, ROOT), "quick" if QUICK else "full"))
        b.run(parts)
    finally:
        b.cleanup()
    wall = time.monotonic() - t0
    rows = drop_not_run(build_table(b))
    facts = machine_facts()
    facts["Load average (1 min) at start / end"] = "%.2f / %.2f (the run itself adds to the second)" \
        % (load0[0], os.getloadavg()[0])
    print()
    print("ssewatchd benchmark (%s run, %.0f s, %s UTC)" % ("quick" if QUICK else "full", wall, started))
    print(render_text(rows))
    for p in ALL_PARTS:
        for m in b.notes.get(p, []):
            print("note: %s: %s" % (p, m))
    for k, m in b.errors.items():
        print("NOT MEASURED: %s: %s" % (k, m))
    if QUICK or ONLY or PERF:
        path = os.path.join(BENCH, "RESULTS-quick.md")
    else:
        path = RESULTS
    write_results(path, b, rows, facts, started, wall)
    print("\nwrote %s" % os.path.relpath(path, ROOT))
    return 1 if b.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
