"""Boot a real systemd as PID 1 in a private PID + mount namespace (stdlib).

    ns = SystemdNamespace(ws.path("ns"))          # ws: a procs.Workspace
    ns.add_unit("ssewatchd.service", text)        # into /etc/systemd/system
    ns.add_file("/etc/ssewatchd/ssewatchd.yaml", yaml_text)
    ns.add_file("/usr/local/bin/ssewatchd", binary_path=..., mode=0o755)
    ns.boot()                                     # raises Unavailable(reason)
    ns.systemctl("start", "ssewatchd")            # nsenter -t PID -m -p systemctl ...
    ns.show("ssewatchd.service")["ActiveState"]
    ns.journal("ssewatchd.service")               # journalctl -o json, parsed
    ns.poweroff()                                 # systemctl poweroff, wait, kill by PID

The namespace never writes to the shared file system. The boot script, run by
`unshare --pid --fork --mount --mount-proc --uts --ipc`:

1. `mount --make-rprivate /` before anything else, so no mount below leaks out;
2. a tmpfs on /run, holding the upper layers of overlays on /etc and /var:
   whatever systemd, journald or the unit writes there (StateDirectory=,
   ConfigurationDirectory=, LogsDirectory=, /var/lib/systemd, ...) lands in
   memory;
3. a tmpfs on /etc/systemd/system with our units, every unit of the system
   except journald masked (-> /dev/null) and every generator masked (no
   fstab mounts, no gettys, no SysV scripts), a private /dev (tmpfs with bind
   mounts of the few device nodes, new devpts), tmpfs on /tmp, /var/tmp and
   /usr/local/bin, /proc/sys and /sys (not the cgroup mounts) read-only;
4. `container=ssewatchd-test exec /lib/systemd/systemd --system
   --unit=ssewatchd-test.target`: as a "container", systemd skips the clock,
   kernel modules, hostname, swap and loop/DM teardown at shutdown; the
   target has DefaultDependencies=no and pulls in only journald.

systemd gets its own cgroup (a child of ours in the name=systemd and unified
hierarchies, removed afterwards). Everything is reached with
`nsenter -t PID -m -p` on the namespace's PID 1, by PID, and powered off the
same way; nothing is ever stopped by name.
"""

import glob
import json
import os
import select
import shutil
import signal
import subprocess
import time

from procs import wait_until, WaitTimeout

__all__ = ["Unavailable", "SystemdNamespace", "SYSTEMD"]

SYSTEMD = "/lib/systemd/systemd"
TARGET = "ssewatchd-test.target"
UNIT_DIRS = ("/lib/systemd/system", "/usr/lib/systemd/system")
GENERATOR_DIRS = ("/lib/systemd/system-generators", "/usr/lib/systemd/system-generators")
# Units the namespace keeps: journald and its sockets, and what powers off.
KEEP = {"systemd-journald.service", "systemd-journald.socket",
        "systemd-journald-dev-log.socket", "systemd-poweroff.service",
        "systemd-halt.service", "systemd-exit.service"}
# Named for the record (and masked even if some UNIT_DIRS lacks them): the
# units that would touch the shared system if they ran.
ALWAYS_MASK = [
    "systemd-tmpfiles-setup.service", "systemd-tmpfiles-setup-dev.service",
    "systemd-tmpfiles-clean.service", "systemd-tmpfiles-clean.timer",
    "systemd-sysusers.service", "systemd-sysctl.service", "systemd-journal-flush.service",
    "systemd-update-utmp.service", "systemd-update-utmp-runlevel.service",
    "systemd-random-seed.service", "getty@.service", "serial-getty@.service",
    "console-getty.service", "container-getty@.service", "getty-static.service",
    "systemd-logind.service", "dbus.service", "dbus.socket", "systemd-networkd.service",
    "systemd-networkd.socket", "systemd-resolved.service", "systemd-remount-fs.service",
    "systemd-udevd.service", "systemd-udevd-control.socket", "systemd-udevd-kernel.socket",
    "systemd-udev-trigger.service", "systemd-udev-settle.service", "ldconfig.service",
    "apt-daily.timer", "apt-daily.service", "apt-daily-upgrade.timer",
    "apt-daily-upgrade.service", "dpkg-db-backup.timer", "man-db.timer", "e2scrub_all.timer",
    "fstrim.timer", "systemd-timesyncd.service", "systemd-modules-load.service",
    "systemd-binfmt.service", "proc-sys-fs-binfmt_misc.automount", "kmod-static-nodes.service",
    "systemd-journald-audit.socket", "systemd-pstore.service", "systemd-firstboot.service",
    "systemd-machine-id-commit.service", "systemd-hwdb-update.service", "systemd-repart.service",
    "systemd-journal-catalog-update.service", "systemd-boot-system-token.service",
    "systemd-hostnamed.service", "systemd-userdbd.service", "systemd-userdbd.socket",
    "nginx.service", "postgresql.service", "cron.service",
]
MASKABLE_SUFFIXES = (".service", ".socket", ".timer", ".path", ".mount", ".automount", ".swap")
# Paths the namespace has made private; files may only be put there.
PRIVATE_PREFIXES = ("/etc/", "/var/", "/run/", "/tmp/", "/usr/local/bin/")

BOOT_SCRIPT = r"""
set -eu
stage=$1 cg_v1=$2 cg_v2=$3 console=$4 target=$5
fail() { echo "systemd_ns: $*" >&2; exit 97; }

# 0. Nothing below may propagate to the shared namespace.
mount --make-rprivate / || fail "mount --make-rprivate / failed"

# Our own cgroup (created by the caller), so systemd's tree is ours.
[ -z "$cg_v1" ] || echo 0 > "$cg_v1/cgroup.procs" || fail "cannot enter $cg_v1"
[ -z "$cg_v2" ] || echo 0 > "$cg_v2/cgroup.procs" || fail "cannot enter $cg_v2"

# 1. /run in memory, holding the writable layers of /etc and /var.
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run || fail "tmpfs on /run failed"
mkdir -p /run/.ns/etc/upper /run/.ns/etc/work /run/.ns/var/upper /run/.ns/var/work
cp -a "$stage" /run/.ns/stage; stage=/run/.ns/stage    # /tmp is hidden below
mount -t overlay overlay -o lowerdir=/etc,upperdir=/run/.ns/etc/upper,workdir=/run/.ns/etc/work /etc \
    || fail "overlay on /etc failed"
mount -t overlay overlay -o lowerdir=/var,upperdir=/run/.ns/var/upper,workdir=/run/.ns/var/work /var \
    || fail "overlay on /var failed"

# 2. Our units; everything else masked; no generators.
mount -t tmpfs -o mode=0755 tmpfs /etc/systemd/system || fail "tmpfs on /etc/systemd/system failed"
cp -a "$stage/units/." /etc/systemd/system/
while read -r u; do ln -sf /dev/null "/etc/systemd/system/$u"; done < "$stage/mask"
rm -rf /etc/systemd/system-generators
mkdir -p /etc/systemd/system-generators
while read -r g; do ln -sf /dev/null "/etc/systemd/system-generators/$g"; done < "$stage/generators"

# 3. A private /dev: a tmpfs with the host's harmless nodes bound in.
mkdir -p /run/.ns/hostdev
mount --rbind /dev /run/.ns/hostdev
mount -t tmpfs -o mode=0755,nosuid tmpfs /dev || fail "tmpfs on /dev failed"
for n in null zero full random urandom tty; do
    touch "/dev/$n"; mount --bind "/run/.ns/hostdev/$n" "/dev/$n"
done
touch /dev/console; mount --bind "$console" /dev/console   # systemd's console: a file
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts || fail "devpts failed"
ln -sf pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
ln -sf /proc/self/fd /dev/fd; ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout; ln -sf /proc/self/fd/2 /dev/stderr
umount -l /run/.ns/hostdev

# 4. Scratch space in memory; kernel settings read-only.
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp || fail "tmpfs on /tmp failed"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp || fail "tmpfs on /var/tmp failed"
mount -t tmpfs -o mode=0755 tmpfs /usr/local/bin || fail "tmpfs on /usr/local/bin failed"
mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys || fail "read-only /proc/sys failed"
mount -o remount,bind,ro /sys || fail "read-only /sys failed"

# 5. The files the test asked for, one by one (only under the private paths
# above; `cp -a` of a tree onto / would also copy the attributes of /, /usr...).
while read -r n mode dest; do
    install -D -m "$mode" "$stage/files/$n" "$dest" || fail "cannot install $dest"
done < "$stage/manifest"
mkdir -p /run/systemd; echo ssewatchd-test > /run/systemd/container

# systemd (as in a container) does not make / shared itself, but needs it: it
# sets up credentials in a child mount namespace and relies on propagation to
# see them. This cannot reach the host: after step 0 every mount here is
# private to this namespace, so these are new peer groups of our own.
mount --make-rshared / || fail "mount --make-rshared / failed"

export container=ssewatchd-test
exec /lib/systemd/systemd --system --unit="$target" --log-target=journal --log-level=debug
"""

TARGET_UNIT = """[Unit]
Description=ssewatchd test boot target
DefaultDependencies=no
Wants=systemd-journald.socket systemd-journald-dev-log.socket systemd-journald.service
After=systemd-journald.socket systemd-journald.service
AllowIsolate=yes
"""


class Unavailable(Exception):
    """Namespaces or booting systemd are not possible here (the reason is
    the message): tests skip, they never pass."""


def _cgroup_paths():
    """Our cgroup in the name=systemd (v1) and unified (v2) hierarchies."""
    v1 = v2 = None
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrl, path = line.rstrip("\n").split(":", 2)
            if ctrl == "name=systemd":
                v1 = path
            elif ctrl == "":
                v2 = path
    return v1, v2


def _v2_mount():
    for p in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if os.path.exists(os.path.join(p, "cgroup.subtree_control")):
            return p
    return None


def _rmdir_tree(path):
    """Remove a cgroup directory tree bottom-up (cgroups are removed with rmdir)."""
    if not path or not os.path.isdir(path):
        return
    for root, dirs, _ in os.walk(path, topdown=False):
        for d in dirs:
            try:
                os.rmdir(os.path.join(root, d))
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass


class SystemdNamespace:
    def __init__(self, workdir):
        self.workdir = workdir
        self.stage = os.path.join(workdir, "stage")
        self.console = os.path.join(workdir, "systemd.console")
        os.makedirs(os.path.join(self.stage, "units"), exist_ok=True)
        os.makedirs(os.path.join(self.stage, "files"), exist_ok=True)
        self.files = []          # (mode, path inside)
        open(os.path.join(self.stage, "manifest"), "w").close()
        self.popen = None
        self.pid = None          # the namespace's PID 1, as the host sees it
        self.pidfd = None        # ... held open, so the number cannot be reused under us
        self.ns_ids = None       # its mount and PID namespaces (device, inode)
        self.cgroups = []
        self.add_unit(TARGET, TARGET_UNIT)

    # ------------------------------------------------------------ staging

    def add_unit(self, name, text):
        """A unit, or a drop-in ("NAME.service.d/x.conf"), in /etc/systemd/system."""
        path = os.path.join(self.stage, "units", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    @staticmethod
    def _check_private(path):
        if not path.startswith(PRIVATE_PREFIXES) or ".." in path.split("/"):
            raise ValueError("%s is not in the namespace's private paths %s" % (path, PRIVATE_PREFIXES))

    def add_file(self, path, text=None, binary_path=None, mode=0o644):
        """Put a file at path inside the namespace (installed at boot)."""
        self._check_private(path)
        if any(c.isspace() for c in path):
            raise ValueError("no white space in %r, please" % path)
        src = os.path.join(self.stage, "files", str(len(self.files)))
        if binary_path is not None:
            shutil.copyfile(binary_path, src)
        else:
            with open(src, "w" if isinstance(text, str) else "wb") as f:
                f.write(text)
        self.files.append((mode, path))
        with open(os.path.join(self.stage, "manifest"), "w") as f:
            f.write("".join("%d %o %s\n" % (i, m, p) for i, (m, p) in enumerate(self.files)))

    def _write_masks(self):
        ours = set(os.listdir(os.path.join(self.stage, "units")))
        names = set(ALWAYS_MASK)
        for d in UNIT_DIRS:
            for p in glob.glob(os.path.join(d, "*")):
                n = os.path.basename(p)
                if n.endswith(MASKABLE_SUFFIXES) and n != "-.mount":
                    names.add(n)
        names -= KEEP | ours
        with open(os.path.join(self.stage, "mask"), "w") as f:
            f.write("".join(n + "\n" for n in sorted(names)))
        gens = set()
        for d in GENERATOR_DIRS:
            if os.path.isdir(d):
                gens.update(os.listdir(d))
        with open(os.path.join(self.stage, "generators"), "w") as f:
            f.write("".join(g + "\n" for g in sorted(gens)))
        self.masked = sorted(names)

    # --------------------------------------------------------------- boot

    def _make_cgroups(self):
        """A child cgroup of ours for systemd, in each hierarchy it uses."""
        tag = "ssewatchd-ns-%d-%d" % (os.getpid(), int(time.monotonic() * 1000))
        v1, v2 = _cgroup_paths()
        out = []
        if v1 is not None and os.path.isdir("/sys/fs/cgroup/systemd"):
            out.append(os.path.join("/sys/fs/cgroup/systemd", v1.lstrip("/"), tag))
        else:
            out.append("")
        m = _v2_mount()
        if v2 is not None and m:
            out.append(os.path.join(m, v2.lstrip("/"), tag))
        else:
            out.append("")
        for p in out:
            if p:
                try:
                    os.mkdir(p)
                except OSError as e:
                    raise Unavailable("cannot create the cgroup %s: %s" % (p, e))
                self.cgroups.append(p)
        return out

    def boot(self, timeout=30.0):
        for tool in ("unshare", "nsenter", "mount"):
            if not shutil.which(tool):
                raise Unavailable("%s is not installed" % tool)
        if not os.access(SYSTEMD, os.X_OK):
            raise Unavailable("%s not found" % SYSTEMD)
        if os.geteuid() != 0:
            raise Unavailable("booting systemd in a namespace needs root")
        probe = subprocess.run(["unshare", "--pid", "--fork", "--mount", "--mount-proc",
                                "--uts", "--ipc", "true"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=20)
        if probe.returncode != 0:
            raise Unavailable("cannot create PID/mount namespaces: %s"
                              % probe.stderr.decode(errors="replace").strip())
        self._write_masks()
        try:
            self._start(timeout)
        except BaseException:
            self.poweroff()     # kills what was started, removes the cgroups
            raise

    def _children(self, pid):
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                return [int(k) for k in f.read().split()]
        except OSError:
            pass
        kids = []           # no CONFIG_PROC_CHILDREN: look for the parent
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open("/proc/%s/stat" % d) as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                            kids.append(int(d))
                except (OSError, IndexError, ValueError):
                    pass
        return kids

    def _start(self, timeout):
        cg_v1, cg_v2 = self._make_cgroups()
        log = open(self.console, "ab")
        try:
            self.popen = subprocess.Popen(
                ["unshare", "--pid", "--fork", "--mount", "--mount-proc", "--uts", "--ipc",
                 "/bin/sh", "-c", BOOT_SCRIPT, "systemd-ns", self.stage, cg_v1, cg_v2,
                 self.console, TARGET],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                close_fds=True)
        finally:
            log.close()

        def child():
            kids = self._children(self.popen.pid)
            if kids:
                return kids[0]
            if self.popen.poll() is not None:
                raise Unavailable("the namespace exited at once (status %s):\n%s"
                                  % (self.popen.returncode, self.console_text()[-3000:]))
            return None
        self.pid = wait_until(child, timeout=10, message="unshare did not fork")
        # From here on the PID is only used while this descriptor says the
        # process is alive and it is still in the namespaces it was born in.
        self.pidfd = os.pidfd_open(self.pid)
        self.ns_ids = self._ns_ids(self.pid)
        if self.ns_ids is None or self.ns_ids == self._ns_ids(os.getpid()):
            raise Unavailable("the namespace's PID 1 is not in namespaces of its own")

        def booted():
            if not self.alive():
                raise Unavailable("systemd exited while booting (status %s):\n%s"
                                  % (self.popen.returncode, self.console_text()[-3000:]))
            r = self.systemctl("is-active", TARGET, timeout=10)
            return r.stdout.strip() == "active"
        try:
            wait_until(booted, timeout=timeout, interval=0.1)
        except WaitTimeout:
            raise Unavailable("systemd did not boot within %.0fs:\n%s"
                              % (timeout, self.console_text()[-3000:])) from None

        def journal_up():
            return self.systemctl("is-active", "systemd-journald.service").stdout.strip() == "active"
        wait_until(journal_up, timeout=timeout, interval=0.1, message="journald did not start")

    def console_text(self):
        try:
            with open(self.console, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    # ---------------------------------------------------------------- use

    @staticmethod
    def _ns_ids(pid):
        try:
            return tuple((st.st_dev, st.st_ino) for st in
                         (os.stat("/proc/%d/ns/%s" % (pid, n)) for n in ("mnt", "pid")))
        except OSError:
            return None

    def alive(self):
        """The namespace's PID 1 runs, and is the process we started."""
        if self.popen is None or self.pidfd is None or self.popen.poll() is not None:
            return False
        if select.select([self.pidfd], [], [], 0)[0]:
            return False     # readable pidfd: it exited
        return self._ns_ids(self.pid) == self.ns_ids

    def run(self, argv, timeout=30, input=None):
        """Run argv inside the namespace (its mounts and PIDs): CompletedProcess, text."""
        if not self.alive():
            raise AssertionError("the systemd namespace is not running")
        return subprocess.run(["nsenter", "-t", str(self.pid), "-m", "-p", "--"] + list(argv),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, input=input,
                              timeout=timeout, text=True)

    def systemctl(self, *args, timeout=30):
        return self.run(["systemctl", "--no-pager"] + list(args), timeout=timeout)

    def journalctl(self, *args, timeout=30):
        return self.run(["journalctl", "--no-pager"] + list(args), timeout=timeout)

    def write_file(self, path, text, mode=0o644):
        """Write a file inside the running namespace (private paths only)."""
        self._check_private(path)
        r = self.run(["sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"',
                      "sh", path, "%o" % mode], input=text)
        if r.returncode != 0:
            raise AssertionError("cannot write %s: %s" % (path, r.stderr))

    def show(self, unit, *props):
        """systemctl show as a dict."""
        args = ["show", unit]
        for p in props:
            args += ["-p", p]
        r = self.systemctl(*args)
        out = {}
        for line in r.stdout.splitlines():
            k, _, v = line.partition("=")
            out[k] = v
        return out

    def wait_unit(self, unit, pred, timeout=20.0, props=("ActiveState", "SubState", "Result",
                                                          "ExecMainStatus", "ExecMainCode",
                                                          "NRestarts", "StatusText", "MainPID")):
        """Wait until pred(show(unit)) is true; returns the properties."""
        last = {}

        def check():
            last.clear()
            last.update(self.show(unit, *props))
            return pred(last)
        try:
            wait_until(check, timeout=timeout, interval=0.1)
        except WaitTimeout:
            raise WaitTimeout("%s: condition not met within %.0fs; last: %r\n%s"
                              % (unit, timeout, last, self.unit_log(unit)[-3000:])) from None
        return dict(last)

    def journal(self, unit=None, *match, timeout=30):
        """The journal (of unit) as a list of dicts (journalctl -o json)."""
        args = ["-o", "json", "--all"]
        if unit:
            args += ["-u", unit]
        args += list(match)
        r = self.journalctl(*args, timeout=timeout)
        out = []
        for line in r.stdout.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def unit_log(self, unit):
        r = self.journalctl("-u", unit, "-o", "short-monotonic")
        return r.stdout + r.stderr

    # ----------------------------------------------------------- shutdown

    def kill(self):
        """SIGKILL the namespace's PID 1 (which ends every process in it)."""
        if self.pidfd is not None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.close(self.pidfd)
            self.pidfd = None
        if self.popen:
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)

    def poweroff(self, timeout=30.0):
        """`systemctl poweroff` inside; wait; SIGKILL by PID if it lingers."""
        try:
            if self.alive():
                self.systemctl("poweroff", "--no-block", timeout=10)
                try:
                    self.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            self.kill()
            for p in reversed(self.cgroups):
                # Emptied by the kernel as the namespace's processes go.
                if os.path.isdir(p):
                    wait_until(lambda: self._cg_empty(p), timeout=5, interval=0.05,
                               message="cgroup %s not empty" % p)
                _rmdir_tree(p)
            self.cgroups = []
        return self.popen.returncode if self.popen else None

    @staticmethod
    def _cg_empty(path):
        for root, _, files in os.walk(path):
            if "cgroup.procs" in files:
                try:
                    with open(os.path.join(root, "cgroup.procs")) as f:
                        if f.read().strip():
                            return False
                except OSError:
                    pass
        return True
