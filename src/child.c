/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "cleanup.h"
#include "macro.h"

/* Output left in the pipes by descendants after the process exited: waited for this long. */
#define CHILD_DRAIN_USEC USEC_PER_SEC
#define CHILD_TIMER_ACCURACY_USEC USEC_PER_MSEC
#define CHILD_READ_CHUNK 16384
#define CHILD_READS_PER_DISPATCH 8
/* execvp()'s search path when the environment has no PATH. */
#define CHILD_DEFAULT_PATH "/bin:/usr/bin"

enum child_state {
	CHILD_RUNNING,	/* spawned, not reaped yet: its pid (and so its group id) is still ours */
	CHILD_REAPED,	/* exited; waiting for EOF on stdout and stderr */
	CHILD_FINISHED,	/* done is scheduled (or was called) */
};

/* Keeps the last cap bytes written to it. */
struct ring {
	char *buf;
	size_t cap;
	size_t pos;	/* where the next byte goes */
	size_t len;	/* bytes held, at most cap */
	uint64_t total;
};

struct pipe_end {
	int fd;
	/* A write end of our own while the process runs: its exit then wakes
	 * the loop once (the exit), not twice (the pipes' hangup, a moment
	 * before the exit). Closed when it is reaped. */
	int held;
	sd_event_source *src;
};

struct child {
	sd_event *event;
	child_done_fn done;
	void *userdata;

	pid_t pid;
	enum child_state state;
	int spawn_error;
	bool terminating;
	bool timed_out;
	siginfo_t status;
	uint64_t spawned_usec, reaped_usec;
	uint64_t kill_grace_usec;

	struct pipe_end out, err;
	struct ring out_ring, err_ring;

	sd_event_source *child_src;
	sd_event_source *timer;		/* timeout, then kill grace, then drain deadline */
	sd_event_source *finish_src;	/* defer: calls done from the loop */
};

/* The soft RLIMIT_NOFILE programs start with; 0: the daemon's own. */
static rlim_t child_nofile_soft;

void child_set_nofile(rlim_t soft)
{
	child_nofile_soft = soft;
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;
}

static int ring_init(struct ring *r, size_t cap)
{
	*r = (struct ring){ .cap = cap };
	r->buf = malloc(cap);
	return r->buf ? 0 : -ENOMEM;
}

static void ring_append(struct ring *r, const char *p, size_t n)
{
	size_t first;

	r->total += n;
	if (n >= r->cap) {
		memcpy(r->buf, p + (n - r->cap), r->cap);
		r->pos = 0;
		r->len = r->cap;
		return;
	}
	first = MIN(n, r->cap - r->pos);
	memcpy(r->buf + r->pos, p, first);
	memcpy(r->buf, p + first, n - first);
	r->pos = (r->pos + n) % r->cap;
	r->len = MIN(r->len + n, r->cap);
}

static void reverse(char *p, size_t n)
{
	for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
		char t = p[i];

		p[i] = p[j - 1];
		p[j - 1] = t;
	}
}

/* Puts the held bytes in order at the start of buf (a rotation, no allocation). */
static void ring_linearize(struct ring *r)
{
	if (r->len < r->cap || r->pos == 0)
		return;	/* never wrapped: already in order from 0 */
	reverse(r->buf, r->pos);
	reverse(r->buf + r->pos, r->cap - r->pos);
	reverse(r->buf, r->cap);
	r->pos = 0;
}

static void pipe_end_close(struct pipe_end *p)
{
	p->src = sd_event_source_disable_unref(p->src);
	closep(&p->fd);
	closep(&p->held);
	p->fd = p->held = -1;
}

/* pipe2(O_CLOEXEC) with both ends above 2, so the dup2 actions into 0/1/2 cannot clobber them. */
static int pipe_cloexec(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		int fd;

		if (fds[i] > STDERR_FILENO)
			continue;
		fd = fcntl(fds[i], F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
		if (fd < 0) {
			int r = -errno;

			closep(&fds[0]);
			closep(&fds[1]);
			return r;
		}
		closep(&fds[i]);
		fds[i] = fd;
	}
	return 0;
}

static int fd_set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/*
 * Signals the process group. While the process is not reaped, its pid cannot
 * be reused, so the group id is still its own; a leader that moved to another
 * group is signalled directly as well.
 */
static void child_signal(struct child *c, int sig)
{
	if (c->pid <= 0)
		return;	/* kill(0 or -0) would hit our own group */
	(void)kill(-c->pid, sig);
	if (getpgid(c->pid) != c->pid)
		(void)kill(c->pid, sig);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata);

static int child_arm_timer(struct child *c, uint64_t usec)
{
	int r;

	if (!c->timer)
		return sd_event_add_time_relative(c->event, &c->timer, CLOCK_MONOTONIC, usec,
						  CHILD_TIMER_ACCURACY_USEC, on_timer, c);
	r = sd_event_source_set_time_relative(c->timer, usec);
	if (r < 0)
		return r;
	return sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

static int on_finish(sd_event_source *s _unused_, void *userdata)
{
	struct child *c = userdata;
	struct child_result res = { .pid = c->pid, .spawn_error = c->spawn_error };

	ring_linearize(&c->out_ring);
	ring_linearize(&c->err_ring);
	res.out_tail = c->out_ring.buf;
	res.out_len = c->out_ring.len;
	res.out_total = c->out_ring.total;
	res.err_tail = c->err_ring.buf;
	res.err_len = c->err_ring.len;
	res.err_total = c->err_ring.total;
	if (!c->spawn_error) {
		res.exited = c->status.si_code == CLD_EXITED;
		if (res.exited)
			res.exit_code = c->status.si_status;
		else
			res.signal = c->status.si_status;
		res.timed_out = c->timed_out;
		res.duration_usec = c->reaped_usec - c->spawned_usec;
	}
	/* Last: the callback may free c. */
	c->done(c, &res, c->userdata);
	return 0;
}

/* Releases what the process used and schedules done. Returns negative errno if it cannot. */
static int child_finish(struct child *c)
{
	c->state = CHILD_FINISHED;
	pipe_end_close(&c->out);
	pipe_end_close(&c->err);
	c->timer = sd_event_source_disable_unref(c->timer);
	return sd_event_source_set_enabled(c->finish_src, SD_EVENT_ONESHOT);
}

/* From a handler: done must come even if the defer source cannot be enabled. */
static void child_finish_from_loop(struct child *c)
{
	if (child_finish(c) < 0)
		(void)on_finish(c->finish_src, c);
}

/* Reads what is available (a bounded amount, to stay fair to other sources); closes on EOF. */
static void child_read(struct pipe_end *p, struct ring *ring)
{
	char buf[CHILD_READ_CHUNK];

	for (int i = 0; i < CHILD_READS_PER_DISPATCH && p->fd >= 0; i++) {
		ssize_t n = read(p->fd, buf, sizeof(buf));

		if (n > 0) {
			ring_append(ring, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		pipe_end_close(p);	/* EOF, or an error that will not go away */
	}
}

static void child_maybe_finish(struct child *c)
{
	if (c->state == CHILD_REAPED && c->out.fd < 0 && c->err.fd < 0)
		child_finish_from_loop(c);
}

static int on_output(sd_event_source *s, int fd _unused_, uint32_t revents _unused_, void *userdata)
{
	struct child *c = userdata;

	if (s == c->out.src)
		child_read(&c->out, &c->out_ring);
	else
		child_read(&c->err, &c->err_ring);
	child_maybe_finish(c);
	return 0;
}

/*
 * stdin is a memory file holding the whole input, written before the program
 * starts: it always reads the complete notification, even if the daemon dies
 * while it runs, and no write to a pipe can block us or raise SIGPIPE.
 */
static int stdin_memfd(const void *data, size_t len, int *ret_fd)
{
	_cleanup_close_ int fd = memfd_create("ssewatchd-stdin", MFD_CLOEXEC);
	const char *p = data;

	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* A descendant keeps the pipes open: take what is there and stop waiting. */
static void child_drain_deadline(struct child *c)
{
	child_read(&c->out, &c->out_ring);
	child_read(&c->err, &c->err_ring);
	pipe_end_close(&c->out);
	pipe_end_close(&c->err);
	child_maybe_finish(c);
}

static void child_start_termination(struct child *c)
{
	if (c->state != CHILD_RUNNING || c->terminating)
		return;
	c->terminating = true;
	if (c->timer)
		(void)sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
	child_signal(c, SIGTERM);
	child_signal(c, SIGCONT);	/* a stopped process must run to act on SIGTERM */
	if (c->kill_grace_usec == 0 || child_arm_timer(c, c->kill_grace_usec) < 0)
		child_signal(c, SIGKILL);
}

/* The one timer: the timeout, then the kill grace, then (once reaped) the drain deadline. */
static int on_timer(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata)
{
	struct child *c = userdata;

	if (c->state == CHILD_REAPED)
		child_drain_deadline(c);
	else if (c->state == CHILD_RUNNING && c->terminating)
		child_signal(c, SIGKILL);
	else if (c->state == CHILD_RUNNING) {
		c->timed_out = true;
		child_start_termination(c);
	}
	return 0;
}

static int on_child_exit(sd_event_source *s _unused_, const siginfo_t *si, void *userdata)
{
	struct child *c = userdata;

	/* sd-event reaps it after this returns: the group id is still safe to use here. */
	c->status = *si;
	c->reaped_usec = now_usec();
	if (c->terminating)
		child_signal(c, SIGKILL);	/* what is left of a group being terminated */
	c->state = CHILD_REAPED;
	if (c->timer)
		(void)sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
	/* Without our write ends, what is left reads to EOF now, unless a
	 * descendant still holds the pipes. */
	closep(&c->out.held);
	closep(&c->err.held);
	c->out.held = c->err.held = -1;
	child_read(&c->out, &c->out_ring);
	child_read(&c->err, &c->err_ring);
	if (c->out.fd < 0 && c->err.fd < 0)
		child_finish_from_loop(c);
	else if (child_arm_timer(c, CHILD_DRAIN_USEC) < 0)
		child_drain_deadline(c);
	return 0;
}

static const char *env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp && *envp; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* A directory we may chdir to, or a file the kernel could exec (execvp()'s checks, without exec'ing). */
static int check_searchable(const char *path, bool directory)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (directory && !S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (!directory && !S_ISREG(st.st_mode))
		return -EACCES;
	if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) < 0)
		return -errno;
	return 0;
}

static int check_executable(const char *path, const char *working_dir)
{
	_cleanup_free_ char *joined = NULL;

	/* A relative path is resolved after the chdir to working_dir. */
	if (path[0] != '/' && working_dir) {
		if (asprintf(&joined, "%s/%s", working_dir, path) < 0)
			return -ENOMEM;
		path = joined;
	}
	return check_searchable(path, false);
}

/*
 * execvpe()'s search, with the PATH of envp: the first executable "dir/name";
 * -EACCES if only non-executable ones were found, else -ENOENT. A file that is
 * not a valid executable fails later with ENOEXEC (there is no shell fallback).
 * The usual errors are found here, before any process is made; posix_spawn()
 * still reports the rest (and cannot everywhere: under valgrind it forks).
 */
static int child_find_program(const char *name, char *const *envp, const char *working_dir, char **ret)
{
	const char *path = env_get(envp, "PATH");
	int result = -ENOENT, r;

	if (!*name)
		return -ENOENT;
	if (working_dir) {
		r = check_searchable(working_dir, true);
		if (r < 0)
			return r;
	}
	if (strchr(name, '/')) {
		r = check_executable(name, working_dir);
		if (r < 0)
			return r;
		*ret = strdup(name);
		return *ret ? 0 : -ENOMEM;
	}
	if (!path)
		path = CHILD_DEFAULT_PATH;
	for (const char *p = path;; p++) {
		size_t dlen = strcspn(p, ":");
		_cleanup_free_ char *cand = NULL;

		/* An empty entry is the working directory. */
		if (asprintf(&cand, "%.*s%s%s", (int)dlen, p, dlen ? "/" : "./", name) < 0)
			return -ENOMEM;
		r = check_executable(cand, working_dir);
		if (r == 0) {
			*ret = TAKE_PTR(cand);
			return 0;
		}
		if (r == -ENOMEM)
			return r;
		if (r == -EACCES)
			result = r;
		p += dlen;
		if (!*p)
			return result;
	}
}

/* Returns a positive errno, as posix_spawn does. */
static int child_do_spawn(struct child *c, const struct child_spec *spec, int in_fd, int out_fd, int err_fd)
{
	static char *const empty_env[] = { NULL };
	_cleanup_free_ char *program = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int r;

	r = child_find_program(spec->argv[0], spec->envp, spec->working_dir, &program);
	if (r < 0)
		return -r;

	sigemptyset(&none);
	/*
	 * Every bit, not sigfillset(): that leaves out glibc's internal signals
	 * (32, 33), which its posix_spawn then sets to SIG_IGN in the child, and
	 * ignored signals stay ignored across exec.
	 */
	memset(&all, 0xff, sizeof(all));
	r = posix_spawnattr_init(&attr);
	if (r != 0)
		return r;
	r = posix_spawn_file_actions_init(&fa);
	if (r != 0) {
		posix_spawnattr_destroy(&attr);
		return r;
	}
	r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (!r)
		r = posix_spawnattr_setpgroup(&attr, 0);	/* its own group: a timeout kills the tree */
	if (!r)
		r = posix_spawnattr_setsigmask(&attr, &none);
	if (!r)
		r = posix_spawnattr_setsigdefault(&attr, &all);
	if (!r)
		r = in_fd >= 0 ? posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO)
			       : posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (!r)
		r = posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
	if (!r)
		r = posix_spawn_file_actions_adddup2(&fa, err_fd, STDERR_FILENO);
	/* Everything of ours is O_CLOEXEC; this also catches fds others opened without it. */
	if (!r)
		r = posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	if (!r && spec->working_dir)
		r = posix_spawn_file_actions_addchdir_np(&fa, spec->working_dir);

	c->spawned_usec = now_usec();
	if (!r) {
		struct rlimit own, low;
		bool lowered = false;

		/* The program inherits the soft limit in force when it is made,
		 * and posix_spawn() has no action to set one: ours is lowered
		 * around the call (making the process allocates no descriptor of
		 * ours). */
		if (child_nofile_soft > 0 && getrlimit(RLIMIT_NOFILE, &own) == 0 && own.rlim_cur > child_nofile_soft) {
			low = (struct rlimit){ .rlim_cur = child_nofile_soft, .rlim_max = own.rlim_max };
			lowered = setrlimit(RLIMIT_NOFILE, &low) == 0;
		}
		r = posix_spawn(&c->pid, program, &fa, &attr, spec->argv, spec->envp ? spec->envp : empty_env);
		if (lowered)
			(void)setrlimit(RLIMIT_NOFILE, &own);
	}
	if (r != 0)
		c->pid = 0;
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return r;
}

/* An output pipe: the child writes, we read. */
static int child_add_pipe(struct child *c, struct pipe_end *parent, int *child_fd)
{
	int fds[2], r;

	r = pipe_cloexec(fds);
	if (r < 0)
		return r;
	/* Only our end is non-blocking: O_NONBLOCK belongs to the open file, not the fd. */
	parent->fd = fds[0];
	*child_fd = fds[1];
	r = fd_set_nonblock(parent->fd);
	if (r < 0)
		return r;
	return sd_event_add_io(c->event, &parent->src, parent->fd, EPOLLIN, on_output, c);
}

static void child_close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		closep(&fds[i]);
		fds[i] = -1;
	}
}

int child_spawn(sd_event *e, const struct child_spec *spec, child_done_fn done, void *userdata,
		struct child **ret)
{
	size_t cap = spec && spec->capture_max ? spec->capture_max : CHILD_DEFAULT_CAPTURE_MAX;
	int child_fds[3] = { -1, -1, -1 };	/* the ends the child gets, held until it has them */
	struct child *c;
	int r;

	if (!e || !spec || !spec->argv || !spec->argv[0] || !done || !ret)
		return -EINVAL;

	c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = (struct child){
		.event = sd_event_ref(e),
		.done = done,
		.userdata = userdata,
		.kill_grace_usec = spec->kill_grace_usec,
		.out.fd = -1,
		.out.held = -1,
		.err.fd = -1,
		.err.held = -1,
	};

	r = ring_init(&c->out_ring, cap);
	if (r >= 0)
		r = ring_init(&c->err_ring, cap);
	if (r >= 0 && spec->stdin_data && spec->stdin_len > 0)
		r = stdin_memfd(spec->stdin_data, spec->stdin_len, &child_fds[0]);
	if (r >= 0)
		r = child_add_pipe(c, &c->out, &child_fds[1]);
	if (r >= 0)
		r = child_add_pipe(c, &c->err, &child_fds[2]);
	if (r >= 0)
		r = sd_event_add_defer(e, &c->finish_src, on_finish, c);
	if (r >= 0)
		r = sd_event_source_set_enabled(c->finish_src, SD_EVENT_OFF);
	if (r >= 0 && spec->timeout_usec > 0)
		r = child_arm_timer(c, spec->timeout_usec);
	if (r < 0)
		goto fail;

	c->spawn_error = child_do_spawn(c, spec, child_fds[0], child_fds[1], child_fds[2]);
	if (!c->spawn_error) {
		c->out.held = TAKE_FD(child_fds[1]);
		c->err.held = TAKE_FD(child_fds[2]);
	}
	child_close_fds(child_fds, ELEMENTSOF(child_fds));
	if (c->spawn_error) {
		r = child_finish(c);
		if (r < 0)
			goto fail;
		*ret = c;
		return 0;
	}

	/* SIGCHLD must be blocked (sd-event checks), so this can fail with the child running. */
	r = sd_event_add_child(e, &c->child_src, c->pid, WEXITED, on_child_exit, c);
	if (r < 0)
		goto fail;
	*ret = c;
	return 0;

fail:
	child_close_fds(child_fds, ELEMENTSOF(child_fds));
	child_free(c);	/* kills and reaps a started process */
	return r;
}

void child_terminate(struct child *c)
{
	if (c)
		child_start_termination(c);
}

struct child *child_free(struct child *c)
{
	if (!c)
		return NULL;
	if (c->pid > 0 && c->state == CHILD_RUNNING) {
		child_signal(c, SIGKILL);
		while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	c->child_src = sd_event_source_disable_unref(c->child_src);
	c->timer = sd_event_source_disable_unref(c->timer);
	c->finish_src = sd_event_source_disable_unref(c->finish_src);
	pipe_end_close(&c->out);
	pipe_end_close(&c->err);
	free(c->out_ring.buf);
	free(c->err_ring.buf);
	sd_event_unref(c->event);
	free(c);
	return NULL;
}

pid_t child_pid(const struct child *c)
{
	return c ? c->pid : 0;
}
