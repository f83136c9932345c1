#!/usr/bin/env python3
"""Run a real nginx + nchan as a test SSE server (Python 3 stdlib only).

    from nchan import Nchan
    with Nchan(tmpdir) as nc:                 # start() -> base_url
        nc.publish("ch", "hello", event="x")  # -> "1795327784:0"
        url = nc.sub_url("ch")                # base_url + "/sub/ch"
        nc.restart()                          # same port, shared memory lost
    CLI:  python3 tests/lib/nchan.py [--dir D] [--port 0] [--ping 1]
          [--ping-comment TEXT] [--buffer-length N] [--message-timeout 1h]
          [--worker-connections N] [--worker-rlimit-nofile N]
          prints the base URL on stdout line 1, runs until SIGTERM/SIGINT.

nginx runs in the foreground (daemon off) as our child, in its own process
group, with config, pid file, logs (DIR/logs/error.log, access.log) and temp
dirs all inside DIR.  It listens on 127.0.0.1:<port> only (port 0 = pick a
free one; restart() reuses it).  Locations:

    POST /pub/<channel>     publish the request body (nchan_publisher);
                            header X-EventSource-Event: NAME sets "event: NAME".
                            Reply 202 (no subscriber) or 201 (subscribers);
                            with "Accept: application/json" the body is
                            JSON with "last_message_id" (publish() uses it)
    GET  /sub/<channel>     EventSource subscriber (nchan_subscriber eventsource)
    GET  /status            nchan_stub_status (used for readiness)

Options: buffer_length (nchan_message_buffer_length, default 50000),
message_timeout (default "1h"), shm_size, ping_interval (seconds,
nchan_eventsource_ping_interval; None = no pings) with ping_event /
ping_comment / ping_data (the nchan_eventsource_ping_* directives; None =
nchan default), sub_extra / extra_http (raw config lines),
worker_connections (default 1024) and worker_rlimit_nofile (None = not
set): raise both for thousands of subscribers (each is one connection of
the single worker; worker_rlimit_nofile should exceed worker_connections).
Other API: pid, port, dir, sub_url(ch), pub_url(ch), error_log, stop(sig),
kill() (SIGKILL the process group), delete(ch), status() (stub status dict).

FACTS about nchan 1.3.6 (Debian 12 libnginx-mod-nchan 1:1.3.6+dfsg-2,
nginx 1.22.1), found by experiments against this exact setup.  Items marked
[T] are re-checked by tests/integration/test_servers.py.

 1. Subscribe request MUST carry "Accept: text/event-stream": without it
    GET /sub/<ch> answers 403 Forbidden, Content-Length 0 [T].
 2. Subscribe response head [T]:
        HTTP/1.1 200 OK
        Server: nginx/1.22.1
        Date: ...
        Content-Type: text/event-stream; charset=utf-8
        Connection: keep-alive
    NO Transfer-Encoding and NO Content-Length: the body is delimited by
    connection close.  No Cache-Control.  The body always starts with the
    comment ": hi\n\n" [T], also on a channel nobody has published to
    (which then just waits).  nchan never sends "retry:" [T].
 3. A message is sent as (LF line endings only) [T]:
        event: NAME\n            only if published with X-EventSource-Event
        id: <sec>:<n>\n
        data: <line>\n           one per LF-separated line of the body
        \n
    id = "<publish time, unix seconds>:<index within that second>", e.g.
    "1795327784:0", "1795327784:1", later "1795327814:0"; nchan orders them
    by (sec, n).  publish() returns the same id (publisher JSON reply).
    Multi-line: body "a\nb" -> "data: a\ndata: b\n" [T]; a trailing LF gives
    a last "data: \n", so the client's data keeps the trailing LF.  Empty
    body -> "data: \n\n": one event with empty data [T].  A body starting
    with ":" is safe ("data: : x").  CR is NOT escaped: "x\r\ny" is sent as
    "data: x\r\ndata: y" and "a\rb" as "data: a\rb", which a conformant
    client reads as "data: a" + unknown field "b" (data corrupted).  Do not
    publish CR unless that is what a test is about.  200 kB bodies work.
 4. Pings: none by default.  With ping_interval=N the idle subscriber gets
    every N s, by nchan default, "event: ping\n\n": an event block WITHOUT
    data, so a conformant client dispatches nothing (pure traffic) [T].
    ping_event="" + ping_comment="TEXT" -> ":TEXT\n\n" (real comment);
    ping_event="" alone -> ":\n\n" (3 bytes; anchors 2.2.7: defeats
    CURLOPT_LOW_SPEED_LIMIT).  ping_comment without ping_event="" gives
    ":TEXT\nevent: ping\n\n".  ping_data="x" turns pings into REAL events
    ("event: ping\ndata: x\n\n") that a client would dispatch.
 5. First connect without Last-Event-ID: nchan_subscriber_first_message
    defaults to "oldest" -> the subscriber gets EVERY buffered message, then
    live ones [T].  So messages published while no subscriber is connected
    ARE delivered later, to a fresh subscriber and via Last-Event-ID, while
    they are buffered (buffer_length, message_timeout) [T].
 6. Last-Event-ID resume is EXCLUSIVE: the stream starts with the first
    message AFTER the given id [T].  The newest id -> only ": hi", then live
    messages [T].  (?last_event_id= in the query works as well.)
 7. Odd Last-Event-ID values, all answered 200 with no error or gap signal:
      - empty, unparsable ("garbage"), "0:0", or OLDER than the oldest
        buffered message (evicted, or from before a restart) -> replay from
        the oldest buffered message [T].  With buffer_length=3 and 6
        messages, resuming from message 1 yields messages 4,5,6: a SILENT
        gap (2 and 3 lost) [T].
      - "ahead" of the channel, i.e. greater than its newest message
        (future second, or newest second with a larger index) -> nothing
        buffered is sent, and later messages are delivered only once their
        id is greater than the given id: with cursor "S:5" and new messages
        "S:1".."S:8", only S:6..S:8 arrive; with a future second, nothing
        arrives [T].  Exception: if the channel does not exist (no message
        yet) when the subscriber connects, it gets every new message,
        whatever its Last-Event-ID.
 8. Restart (stop + start, same port): shared memory is gone, so every
    message and channel is gone.  New ids start at the new publish time.
    A subscriber reconnecting with an id from before the restart gets
    ": hi" and then every message published after the restart, from the
    first one on (its id counts as "older than oldest") [T].  Nothing from
    before the restart is ever replayed.  No error status.
    HAZARD: if the restart and the first new publishes fall in the SAME
    wall-clock second S as the old messages, ids "S:0", "S:1"... are issued
    AGAIN.  A client resuming with old cursor "S:2" after the channel already
    has new messages skips the new S:0..S:2 (silent loss, measured).
    restart() therefore waits for the next second by default
    (new_second=True); pass new_second=False to reproduce the hazard.
 9. Stop with subscribers connected [T]:
      - SIGTERM (fast shutdown, what stop() sends) and SIGQUIT (graceful):
        each subscriber gets the comment ":410: 410 Gone\n\n" and then a
        clean FIN (EOF) within milliseconds; no RST.
      - SIGKILL (kill()): the kernel closes the socket: FIN (EOF), no
        comment.
      - DELETE /pub/<ch> (delete()): same ":410: 410 Gone\n\n" + EOF, and
        the channel's messages are dropped.
    Since the body is close-delimited, a client sees a normal end of body:
    curl -N exits 0 (CURLE_OK) in all three cases [T], so the daemon must
    treat a clean end of an SSE response as "reconnect", never as "done".
    The old nginx's subscriber connection also ends this way on restart().
10. Publisher: POST returns 202 Accepted when the channel has no
    subscriber, 201 Created when it has one; body text/plain, or JSON with
    "Accept: application/json" ({"messages": n, "requested": ..,
    "subscribers": n, "last_message_id": "sec:n"}).  GET /pub/<ch> gives
    channel info (200).
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

NCHAN_MODULE = "/usr/lib/nginx/modules/ngx_nchan_module.so"
NGINX = "/usr/sbin/nginx"

_CONF = """\
load_module {module};
daemon off;
master_process on;
worker_processes 1;
user root;
{rlimit}pid {dir}/nginx.pid;
error_log {dir}/logs/error.log info;
events {{ worker_connections {worker_connections}; }}
http {{
  access_log {dir}/logs/access.log;
  client_body_temp_path {dir}/tmp/body;
  proxy_temp_path {dir}/tmp/proxy;
  fastcgi_temp_path {dir}/tmp/fastcgi;
  uwsgi_temp_path {dir}/tmp/uwsgi;
  scgi_temp_path {dir}/tmp/scgi;
  client_max_body_size 16m;
  nchan_shared_memory_size {shm};
  nchan_message_buffer_length {buflen};
  nchan_message_timeout {msgtimeout};
{extra_http}
  server {{
    listen 127.0.0.1:{port};
    location = /status {{ nchan_stub_status; }}
    location ~ ^/pub/(.+)$ {{
      nchan_publisher;
      nchan_channel_id $1;
    }}
    location ~ ^/sub/(.+)$ {{
      nchan_subscriber eventsource;
      nchan_channel_id $1;
{sub_extra}
    }}
  }}
}}
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NchanError(RuntimeError):
    pass


class Nchan:
    def __init__(self, tmpdir=None, port=0, ping_interval=None,
                 ping_event=None, ping_comment=None, ping_data=None,
                 buffer_length=50000, message_timeout="1h", shm_size="64M",
                 extra_http="", sub_extra="", start_timeout=10.0,
                 worker_connections=1024, worker_rlimit_nofile=None):
        self._own_dir = tmpdir is None
        self.dir = os.path.abspath(tmpdir or tempfile.mkdtemp(prefix="nchan-"))
        self.port = port
        self.ping_interval = ping_interval
        self.ping_event = ping_event
        self.ping_comment = ping_comment
        self.ping_data = ping_data
        self.buffer_length = buffer_length
        self.message_timeout = message_timeout
        self.shm_size = shm_size
        self.extra_http = extra_http
        self.sub_extra = sub_extra
        self.start_timeout = start_timeout
        self.worker_connections = worker_connections
        self.worker_rlimit_nofile = worker_rlimit_nofile
        self.proc = None
        self._errf = None

    # -- properties ----------------------------------------------------
    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def sub_url(self, channel):
        return "%s/sub/%s" % (self.base_url, channel)

    def pub_url(self, channel):
        return "%s/pub/%s" % (self.base_url, channel)

    @property
    def error_log(self):
        return os.path.join(self.dir, "logs", "error.log")

    # -- life cycle ----------------------------------------------------
    def _write_conf(self):
        for d in ("logs", "tmp"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        sub_extra = self.sub_extra
        if self.ping_interval:
            sub_extra += "      nchan_eventsource_ping_interval %d;\n" % int(self.ping_interval)
        for name, val in (("event", self.ping_event),
                          ("comment", self.ping_comment),
                          ("data", self.ping_data)):
            if val is not None:
                sub_extra += '      nchan_eventsource_ping_%s "%s";\n' % (name, val)
        conf = _CONF.format(module=NCHAN_MODULE, dir=self.dir, port=self.port,
                            shm=self.shm_size, buflen=self.buffer_length,
                            msgtimeout=self.message_timeout,
                            extra_http=self.extra_http, sub_extra=sub_extra,
                            worker_connections=int(self.worker_connections),
                            rlimit=("worker_rlimit_nofile %d;\n" % int(self.worker_rlimit_nofile)
                                    if self.worker_rlimit_nofile else ""))
        path = os.path.join(self.dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        return path

    def start(self):
        """Start nginx; returns base_url once /status answers 200."""
        if self.proc is not None:
            raise NchanError("already running")
        attempts = 5 if self.port == 0 else 1
        fixed = self.port != 0
        last = None
        for _ in range(attempts):
            if not fixed:
                self.port = _free_port()
            try:
                self._spawn()
                return self.base_url
            except NchanError as e:
                last = e
                if fixed or "Address already in use" not in str(e):
                    break
                self.port = 0
        if not fixed:
            self.port = 0
        raise last

    def _spawn(self):
        conf = self._write_conf()
        self._errf = open(os.path.join(self.dir, "logs", "stderr.log"), "ab")
        self.proc = subprocess.Popen(
            [NGINX, "-p", self.dir + "/", "-e", self.error_log, "-c", conf],
            stdin=subprocess.DEVNULL, stdout=self._errf, stderr=self._errf,
            start_new_session=True, close_fds=True)
        deadline = time.monotonic() + self.start_timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                msg = self._tail()
                self._reap()
                raise NchanError("nginx exited with %s during start: %s" % (rc, msg))
            if self._ready():
                return
            if time.monotonic() > deadline:
                msg = self._tail()
                self.stop()
                raise NchanError("nginx not ready after %ss: %s" % (self.start_timeout, msg))
            time.sleep(0.02)  # poll interval of the readiness loop

    def _ready(self):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
            c.request("GET", "/status")
            r = c.getresponse()
            r.read()
            c.close()
            return r.status == 200
        except OSError:
            return False

    def _tail(self):
        out = []
        for name in ("stderr.log", "error.log"):
            try:
                with open(os.path.join(self.dir, "logs", name), "rb") as f:
                    out.append(f.read()[-1500:].decode("utf-8", "replace"))
            except OSError:
                pass
        return " | ".join(out)

    def _reap(self):
        if self._errf:
            self._errf.close()
            self._errf = None
        self.proc = None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stop the nginx we started: `sig` (SIGTERM = fast shutdown,
        SIGQUIT = graceful) to the master PID, then SIGKILL to its process
        group if it has not exited after `timeout` seconds."""
        p = self.proc
        if p is None:
            return
        pgid = p.pid  # start_new_session: pgid == master pid
        try:
            if sig == signal.SIGKILL:
                os.killpg(pgid, signal.SIGKILL)
            else:
                p.send_signal(sig)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            pass
        # The master has exited (or is stuck): make sure no worker of OUR
        # process group outlives it.
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self._wait_group_gone(pgid)
        self._reap()

    def kill(self):
        """SIGKILL master and workers at once (crash simulation)."""
        self.stop(sig=signal.SIGKILL)

    @staticmethod
    def _group_alive(pgid):
        """True if a non-zombie process of process group pgid exists
        (orphaned zombies may wait for pid 1 to reap them; they hold no
        sockets, so they do not count)."""
        for ent in os.listdir("/proc"):
            if not ent.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % ent, "rb") as f:
                    st = f.read()
            except OSError:
                continue
            fields = st[st.rfind(b")") + 2:].split()
            if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
                return True
        return False

    def _wait_group_gone(self, pgid, timeout=5.0):
        deadline = time.monotonic() + timeout
        while self._group_alive(pgid):
            if time.monotonic() > deadline:
                raise NchanError("nginx process group %d still alive" % pgid)
            time.sleep(0.01)

    def restart(self, sig=signal.SIGTERM, new_second=True):
        """Stop (with `sig`) and start again on the same port; returns
        base_url.  All messages are lost (they live in shared memory).

        new_second=True (default) waits, after the stop, until the wall
        clock is in a later second than at the stop, so every id the new
        instance assigns is greater than every id of the old one (see fact 8
        in the module doc: without this, ids "S:0", "S:1"... are REUSED after
        a restart within second S and a resuming client can skip messages).
        Pass False to reproduce that hazard."""
        port = self.port
        self.stop(sig=sig)
        if new_second:
            stop_sec = int(time.time())
            while int(time.time()) <= stop_sec:
                time.sleep(0.01)
        self.port = port
        self._spawn()
        return self.base_url

    def cleanup(self):
        self.stop()
        if self._own_dir:
            import shutil
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *a):
        self.cleanup()

    # -- publishing ----------------------------------------------------
    def publish(self, channel, data, event=None, timeout=5.0):
        """Publish `data` (str or bytes) to `channel`; returns the message id
        string ("sec:n") nchan assigned."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        headers = {"Accept": "application/json",
                   "Content-Type": "application/octet-stream"}
        if event is not None:
            headers["X-EventSource-Event"] = event
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request("POST", "/pub/%s" % channel, body=data, headers=headers)
            r = c.getresponse()
            body = r.read()
        finally:
            c.close()
        if r.status not in (200, 201, 202):
            raise NchanError("publish to %s: HTTP %d %r" % (channel, r.status, body))
        try:
            return json.loads(body).get("last_message_id")
        except ValueError:
            return None

    def delete(self, channel, timeout=5.0):
        """DELETE the channel: its messages are dropped and every connected
        subscriber gets ":410: 410 Gone" and a close.  Returns the status."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request("DELETE", "/pub/%s" % channel)
            r = c.getresponse()
            r.read()
        finally:
            c.close()
        return r.status

    def status(self):
        """nchan_stub_status as a dict of str -> str."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            c.request("GET", "/status")
            text = c.getresponse().read().decode()
        finally:
            c.close()
        out = {}
        for line in text.splitlines():
            k, _, v = line.partition(":")
            out[k.strip()] = v.strip()
        return out


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description="run nginx+nchan for tests")
    ap.add_argument("--dir", help="work directory (default: a new temp dir)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ping", type=int, default=None,
                    help="nchan_eventsource_ping_interval in seconds")
    ap.add_argument("--ping-comment", default=None,
                    help="make pings the comment ':TEXT' (sets ping_event '')")
    ap.add_argument("--buffer-length", type=int, default=50000)
    ap.add_argument("--message-timeout", default="1h")
    ap.add_argument("--worker-connections", type=int, default=1024)
    ap.add_argument("--worker-rlimit-nofile", type=int, default=None)
    a = ap.parse_args(argv)
    pe = "" if a.ping_comment is not None else None
    nc = Nchan(a.dir, port=a.port, ping_interval=a.ping, ping_event=pe,
               ping_comment=a.ping_comment,
               buffer_length=a.buffer_length, message_timeout=a.message_timeout,
               worker_connections=a.worker_connections,
               worker_rlimit_nofile=a.worker_rlimit_nofile)
    sigs = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        print(nc.start(), flush=True)
        print("dir=%s pid=%d" % (nc.dir, nc.pid), file=sys.stderr, flush=True)
        while nc.proc.poll() is None:
            if signal.sigtimedwait(sigs, 0.5) is not None:
                break
    finally:
        nc.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
