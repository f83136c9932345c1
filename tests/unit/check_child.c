/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include "child.h"
#include "cleanup.h"
#include "macro.h"
#include "suites.h"

#define ARGV(...) ((char *const[]){ __VA_ARGS__, NULL })
#define SH(script) ARGV("/bin/sh", "-c", script)
#define MIB ((size_t)1 << 20)
#define WATCHDOG_USEC (15 * USEC_PER_SEC)

static char *test_env[] = { "PATH=/usr/bin:/bin", NULL };

/* What one run observed; the done callback copies the result here. */
struct run {
	sd_event *e;
	struct child *c;
	bool free_in_done;
	int calls;
	struct child_result r;	/* out_tail/err_tail point to out/err below */
	char *out, *err;	/* NUL-terminated copies */
	uint64_t start_usec, done_usec;
	pid_t grandchild;	/* from the first line of stdout, parsed in done */
	bool grandchild_alive_at_done;
	sigset_t saved_mask;	/* before SIGCHLD was blocked */
};

static uint64_t now_usec(void)
{
	struct timespec ts;

	ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;
}

static char *memdup_nul(const char *p, size_t n)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void on_done(struct child *c, const struct child_result *r, void *userdata)
{
	struct run *run = userdata;

	ck_assert_ptr_eq(c, run->c);
	run->calls++;
	run->done_usec = now_usec();
	run->r = *r;
	run->out = memdup_nul(r->out_tail, r->out_len);
	run->err = memdup_nul(r->err_tail, r->err_len);
	run->r.out_tail = run->out;
	run->r.err_tail = run->err;
	run->grandchild = (pid_t)atoi(run->out);
	run->grandchild_alive_at_done = run->grandchild > 0 && kill(run->grandchild, 0) == 0;
	if (run->free_in_done) {
		child_terminate(c);	/* finished: a no-op */
		run->c = child_free(c);
	}
	ck_assert_int_ge(sd_event_exit(run->e, 0), 0);
}

static int on_exit_timer(sd_event_source *s, uint64_t usec _unused_, void *userdata)
{
	return sd_event_exit(sd_event_source_get_event(s), (int)(intptr_t)userdata);
}

/* Creates the loop and spawns; done must not have been called yet. */
static void run_start(struct run *run, const struct child_spec *spec)
{
	sigset_t chld;

	/* sd-event requires it, as the daemon does. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	ck_assert_int_eq(sigprocmask(SIG_BLOCK, &chld, &run->saved_mask), 0);
	ck_assert_int_ge(sd_event_new(&run->e), 0);
	run->start_usec = now_usec();
	ck_assert_int_eq(child_spawn(run->e, spec, on_done, run, &run->c), 0);
	ck_assert_ptr_nonnull(run->c);
	ck_assert_int_eq(run->calls, 0);
}

/* Runs e for at most usec; it ends with exit_code unless something exits it first. */
static int loop_with_deadline(sd_event *e, uint64_t usec, int exit_code)
{
	sd_event_source *timer = NULL;
	int r;

	ck_assert_int_ge(sd_event_add_time_relative(e, &timer, CLOCK_MONOTONIC, usec, 0, on_exit_timer,
						    (void *)(intptr_t)exit_code),
			 0);
	r = sd_event_loop(e);
	sd_event_source_unref(timer);
	return r;
}

static int on_process_exit(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	*(siginfo_t *)userdata = *si;
	return sd_event_exit(sd_event_source_get_event(s), 0);
}

/* Waits (in a loop of its own) for a process that became our child: we are a subreaper. */
static siginfo_t wait_for_exit(pid_t pid)
{
	sd_event *e = NULL;
	sd_event_source *s = NULL;
	siginfo_t si = { 0 };

	ck_assert_int_ge(sd_event_new(&e), 0);
	ck_assert_int_ge(sd_event_add_child(e, &s, pid, WEXITED, on_process_exit, &si), 0);
	ck_assert_int_eq(loop_with_deadline(e, WATCHDOG_USEC, -ETIMEDOUT), 0);
	sd_event_source_unref(s);
	sd_event_unref(e);
	return si;
}

/* Runs the loop until done (the watchdog fails the test if it never comes). */
static void run_wait(struct run *run)
{
	ck_assert_int_eq(loop_with_deadline(run->e, WATCHDOG_USEC, -ETIMEDOUT), 0);
	ck_assert_int_eq(run->calls, 1);
	if (run->c)
		ck_assert_int_eq(child_pid(run->c), run->r.pid);
}

static void run_done(struct run *run)
{
	child_free(run->c);
	sd_event_unref(run->e);
	free(run->out);
	free(run->err);
	ck_assert_int_eq(sigprocmask(SIG_SETMASK, &run->saved_mask, NULL), 0);
	*run = (struct run){ 0 };
}

static void run_spec(struct run *run, const struct child_spec *spec)
{
	run_start(run, spec);
	run_wait(run);
}

static void assert_exited(const struct run *run, int code)
{
	ck_assert_int_eq(run->r.spawn_error, 0);
	ck_assert_int_gt(run->r.pid, 0);
	ck_assert(run->r.exited);
	ck_assert_int_eq(run->r.exit_code, code);
	ck_assert_int_eq(run->r.signal, 0);
	ck_assert(!run->r.timed_out);
}

static void assert_killed(const struct run *run, int sig, bool timed_out)
{
	ck_assert_int_eq(run->r.spawn_error, 0);
	ck_assert(!run->r.exited);
	ck_assert_int_eq(run->r.signal, sig);
	ck_assert_int_eq(run->r.timed_out, timed_out);
}

static void assert_spawn_error(const struct child_spec *spec, int error)
{
	struct run run = { 0 };

	run_spec(&run, spec);
	ck_assert_int_eq(run.r.spawn_error, error);
	ck_assert_int_eq(run.r.pid, 0);
	ck_assert_int_eq(child_pid(run.c), 0);
	ck_assert(!run.r.exited);
	ck_assert_uint_eq(run.r.out_len, 0);
	ck_assert_uint_eq(run.r.err_total, 0);
	run_done(&run);
}

/* Runs argv with spec's other fields; stdout must be exactly expected. */
static void assert_output(struct child_spec spec, char *const *argv, const char *expected)
{
	struct run run = { 0 };

	spec.argv = argv;
	if (!spec.envp)
		spec.envp = test_env;
	run_spec(&run, &spec);
	assert_exited(&run, 0);
	ck_assert_str_eq(run.out, expected);
	ck_assert_uint_eq(run.r.out_total, strlen(expected));
	run_done(&run);
}

static char *make_tmpdir(void)
{
	char *dir = strdup("/tmp/check_child.XXXXXX");

	ck_assert_ptr_nonnull(dir);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	return dir;
}

static char *write_file(const char *dir, const char *name, const char *content, mode_t mode)
{
	char *path;
	FILE *f;

	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	f = fopen(path, "we");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(content, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

static void remove_path(char *path)
{
	ck_assert_int_eq(remove(path), 0);
	free(path);
}

static char *random_bytes(size_t n)
{
	char *p = malloc(n);
	uint32_t x = 2463534242u;

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (char)(x >> 24);
	}
	return p;
}

/* What `seq 1 n` prints. */
static char *seq_output(unsigned n, size_t *len)
{
	char *s = malloc((size_t)n * 12 + 1);
	size_t k = 0;

	ck_assert_ptr_nonnull(s);
	for (unsigned i = 1; i <= n; i++)
		k += (size_t)sprintf(s + k, "%u\n", i);
	*len = k;
	return s;
}

static void set_subreaper(bool on)
{
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0), 0);
}

START_TEST(test_exit_code_and_output)
{
	struct child_spec spec = { .argv = SH("echo hi; echo oops >&2; exit 3"), .envp = test_env };
	struct run run = { 0 };

	run_spec(&run, &spec);
	assert_exited(&run, 3);
	ck_assert_str_eq(run.out, "hi\n");
	ck_assert_uint_eq(run.r.out_total, 3);
	ck_assert_str_eq(run.err, "oops\n");
	ck_assert_uint_eq(run.r.err_total, 5);
	ck_assert_int_eq(child_pid(run.c), run.r.pid);
	ck_assert_uint_le(run.r.duration_usec, run.done_usec - run.start_usec);
	ck_assert_uint_gt(run.r.duration_usec, 0);
	run_done(&run);
}
END_TEST

/* The exit of a program that printed nothing is one wake-up of the loop (and
 * then the done callback's), not one more per output pipe hanging up. */
START_TEST(test_exit_wakes_the_loop_once)
{
	struct child_spec spec = { .argv = SH("exit 0"), .envp = test_env };
	uint64_t before = 0, after = 0;
	struct run run = { 0 };

	run_start(&run, &spec);
	ck_assert_int_ge(sd_event_get_iteration(run.e, &before), 0);
	run_wait(&run);
	ck_assert_int_ge(sd_event_get_iteration(run.e, &after), 0);
	assert_exited(&run, 0);
	ck_assert_uint_eq(after - before, 2);
	run_done(&run);
}
END_TEST

START_TEST(test_killed_by_signal)
{
	struct child_spec spec = { .argv = SH("kill -USR1 $$"), .envp = test_env };
	struct run run = { 0 };

	run_spec(&run, &spec);
	assert_killed(&run, SIGUSR1, false);
	run_done(&run);
}
END_TEST

START_TEST(test_stdin_1mib_exact)
{
	_cleanup_free_ char *data = random_bytes(MIB);
	struct child_spec spec = { .argv = ARGV("/bin/cat"), .envp = test_env, .stdin_data = data,
				   .stdin_len = MIB, .capture_max = MIB };
	struct run run = { 0 };

	run_spec(&run, &spec);
	assert_exited(&run, 0);
	ck_assert_uint_eq(run.r.out_len, MIB);
	ck_assert_uint_eq(run.r.out_total, MIB);
	ck_assert(memcmp(run.out, data, MIB) == 0);
	run_done(&run);

	spec = (struct child_spec){ .stdin_data = data, .stdin_len = MIB };
	assert_output(spec, SH("wc -c"), "1048576\n");
}
END_TEST

START_TEST(test_stdin_is_dev_null_without_data)
{
	struct child_spec spec = { .stdin_data = "ignored", .stdin_len = 0 };

	assert_output(spec, ARGV("/usr/bin/readlink", "/proc/self/fd/0"), "/dev/null\n");
	assert_output((struct child_spec){ 0 }, ARGV("/bin/cat"), "");
}
END_TEST

START_TEST(test_stdin_not_read)
{
	_cleanup_free_ char *data = random_bytes(MIB);
	struct sigaction dfl = { .sa_handler = SIG_DFL }, old;
	struct child_spec spec = { .stdin_data = data, .stdin_len = MIB };
	struct run run = { 0 };

	/* Not the daemon's SIG_IGN: child must not let a write raise SIGPIPE here. */
	ck_assert_int_eq(sigaction(SIGPIPE, &dfl, &old), 0);
	assert_output(spec, ARGV("/bin/true"), "");

	/* Reads a little, then closes it. */
	spec.argv = ARGV("/usr/bin/head", "-c", "10");
	spec.envp = test_env;
	run_spec(&run, &spec);
	assert_exited(&run, 0);
	ck_assert_uint_eq(run.r.out_len, 10);
	ck_assert(memcmp(run.out, data, 10) == 0);
	run_done(&run);
	ck_assert_int_eq(sigaction(SIGPIPE, &old, NULL), 0);
}
END_TEST

START_TEST(test_capture_tail_and_totals)
{
	size_t out_len, err_len;
	_cleanup_free_ char *out = seq_output(20000, &out_len);
	_cleanup_free_ char *err = seq_output(30000, &err_len);
	struct child_spec spec = { .argv = SH("seq 1 20000; seq 1 30000 >&2"), .envp = test_env };
	struct run run = { 0 };

	ck_assert_uint_gt(out_len, 100000);
	run_spec(&run, &spec);
	assert_exited(&run, 0);
	ck_assert_uint_eq(run.r.out_total, out_len);
	ck_assert_uint_eq(run.r.err_total, err_len);
	ck_assert_uint_eq(run.r.out_len, CHILD_DEFAULT_CAPTURE_MAX);
	ck_assert_uint_eq(run.r.err_len, CHILD_DEFAULT_CAPTURE_MAX);
	ck_assert(memcmp(run.out, out + out_len - CHILD_DEFAULT_CAPTURE_MAX, CHILD_DEFAULT_CAPTURE_MAX) == 0);
	ck_assert(memcmp(run.err, err + err_len - CHILD_DEFAULT_CAPTURE_MAX, CHILD_DEFAULT_CAPTURE_MAX) == 0);
	run_done(&run);
}
END_TEST

START_TEST(test_capture_small_max)
{
	struct child_spec spec = { .argv = SH("printf 0123; sleep 0.05; printf 456789abc; sleep 0.05; printf def"),
				   .envp = test_env, .capture_max = 10 };
	struct run run = { 0 };

	run_spec(&run, &spec);
	assert_exited(&run, 0);
	ck_assert_str_eq(run.out, "6789abcdef");
	ck_assert_uint_eq(run.r.out_total, 16);
	run_done(&run);
}
END_TEST

START_TEST(test_spawn_enoent)
{
	assert_spawn_error(&(struct child_spec){ .argv = ARGV("/nonexistent/ssewatchd-prog"), .envp = test_env },
			   ENOENT);
	assert_spawn_error(&(struct child_spec){ .argv = ARGV("ssewatchd-no-such-prog"), .envp = test_env }, ENOENT);
	assert_spawn_error(&(struct child_spec){ .argv = ARGV(""), .envp = test_env }, ENOENT);
}
END_TEST

START_TEST(test_spawn_eacces)
{
	_cleanup_free_ char *dir = make_tmpdir();
	char *file = write_file(dir, "ssewatchd-noexec", "#!/bin/sh\nexit 0\n", 0644);
	char *path_env[] = { NULL, NULL };

	assert_spawn_error(&(struct child_spec){ .argv = ARGV(file), .envp = test_env }, EACCES);
	ck_assert_int_ge(asprintf(&path_env[0], "PATH=/nonexistent:%s", dir), 0);
	assert_spawn_error(&(struct child_spec){ .argv = ARGV("ssewatchd-noexec"), .envp = path_env }, EACCES);
	free(path_env[0]);
	remove_path(file);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_spawn_error_from_exec)
{
	_cleanup_free_ char *dir = make_tmpdir();
	/* Passes the checks made before spawning: only execve() finds it wrong. */
	char *file = write_file(dir, "ssewatchd-garbage", "garbage\n", 0755);

	/* Valgrind runs posix_spawn() as a fork, which cannot report exec errors. */
	if (!RUNNING_ON_VALGRIND)
		assert_spawn_error(&(struct child_spec){ .argv = ARGV(file), .envp = test_env }, ENOEXEC);
	remove_path(file);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_missing_working_dir)
{
	assert_spawn_error(&(struct child_spec){ .argv = ARGV("/bin/true"), .envp = test_env,
						 .working_dir = "/nonexistent/ssewatchd-dir" },
			   ENOENT);
	assert_spawn_error(&(struct child_spec){ .argv = ARGV("true"), .envp = test_env,
						 .working_dir = "/nonexistent/ssewatchd-dir" },
			   ENOENT);
}
END_TEST

START_TEST(test_working_dir)
{
	_cleanup_free_ char *dir = make_tmpdir();
	_cleanup_free_ char *expected = NULL;
	char real[PATH_MAX];

	ck_assert_ptr_nonnull(realpath(dir, real));
	ck_assert_int_ge(asprintf(&expected, "%s\n", real), 0);
	assert_output((struct child_spec){ .working_dir = dir }, ARGV("/bin/pwd"), expected);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_environment_is_envp)
{
	char *env[] = { "A=1", "B=two words", "EMPTY=", NULL };
	char *empty[] = { NULL };

	assert_output((struct child_spec){ .envp = env }, ARGV("/usr/bin/env"), "A=1\nB=two words\nEMPTY=\n");
	assert_output((struct child_spec){ .envp = empty }, ARGV("/usr/bin/env"), "");
}
END_TEST

/* A program starts with the soft descriptor limit set for programs, not the
 * one the daemon raised for itself, and the daemon keeps its own. The
 * limits are taken below the hard limit, whatever it is. */
START_TEST(test_programs_get_their_own_nofile_limit)
{
	static int filler[4096];
	struct rlimit saved, own;
	rlim_t raised, prog;
	char raised_s[32], prog_s[32], prog_in[40];
	size_t n = 0;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
	ck_assert_uint_ge(saved.rlim_max, 256);
	raised = MIN(saved.rlim_max, (rlim_t)2048);
	prog = raised / 2;
	snprintf(raised_s, sizeof(raised_s), "%llu\n", (unsigned long long)raised);
	snprintf(prog_s, sizeof(prog_s), "%llu\n", (unsigned long long)prog);
	snprintf(prog_in, sizeof(prog_in), "%llu\nin", (unsigned long long)prog);
	own = (struct rlimit){ .rlim_cur = raised, .rlim_max = saved.rlim_max };
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &own), 0);
	/* Under valgrind only the last check runs: valgrind answers setrlimit
	 * itself, and the program sees valgrind's real limit. */
	if (!RUNNING_ON_VALGRIND) {
		child_set_nofile(prog);
		assert_output((struct child_spec){ 0 }, SH("ulimit -n"), prog_s);
		child_set_nofile(0);
		assert_output((struct child_spec){ 0 }, SH("ulimit -n"), raised_s);
		/* Never raised for a program. */
		child_set_nofile(raised * 2);
		assert_output((struct child_spec){ 0 }, SH("ulimit -n"), raised_s);
		/* The caller's descriptors fill everything below the program's
		 * limit (a daemon with many sockets): the program still gets its
		 * stdin, stdout and stderr. */
		child_set_nofile(prog);
		while (n < ELEMENTSOF(filler) && (filler[n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0 &&
		       (rlim_t)filler[n++] < prog + 32)
			;
		ck_assert_uint_ge((rlim_t)filler[n - 1], prog);
		assert_output((struct child_spec){ 0 }, SH("ulimit -n; cat"), prog_s);
		assert_output((struct child_spec){ .stdin_data = "in", .stdin_len = 2 }, SH("ulimit -n; cat"), prog_in);
		while (n > 0)
			(void)close(filler[--n]);
	}
	child_set_nofile(0);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &own), 0);
	ck_assert_uint_eq(own.rlim_cur, raised);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
}
END_TEST

START_TEST(test_path_lookup_uses_envp)
{
	_cleanup_free_ char *dir1 = make_tmpdir(), *dir2 = make_tmpdir();
	char *decoy = write_file(dir1, "ssewatchd-prog", "#!/bin/sh\necho decoy\n", 0644);
	char *prog = write_file(dir2, "ssewatchd-prog", "#!/bin/sh\necho found \"$0\"\n", 0755);
	_cleanup_free_ char *expected = NULL;
	char *env[] = { NULL, NULL };
	char *no_path[] = { "A=1", NULL };
	char *bad_path[] = { "PATH=/nonexistent", NULL };

	/* A non-executable match is skipped, as execvp() does. */
	ck_assert_int_ge(asprintf(&env[0], "PATH=/nonexistent::%s:%s", dir1, dir2), 0);
	ck_assert_int_ge(asprintf(&expected, "found %s\n", prog), 0);
	assert_output((struct child_spec){ .envp = env }, ARGV("ssewatchd-prog"), expected);
	/* Not the daemon's PATH, which has true. */
	assert_spawn_error(&(struct child_spec){ .argv = ARGV("true"), .envp = bad_path }, ENOENT);
	/* No PATH at all: execvp()'s default. */
	assert_output((struct child_spec){ .envp = no_path }, ARGV("true"), "");

	free(env[0]);
	remove_path(decoy);
	remove_path(prog);
	ck_assert_int_eq(rmdir(dir1), 0);
	ck_assert_int_eq(rmdir(dir2), 0);
}
END_TEST

START_TEST(test_timeout_kills_group)
{
	/* exec: a leader that never reaps, so the killed grandchild is handed to us. */
	struct child_spec spec = { .argv = SH("sleep 1000 & echo $!; exec sleep 1000"), .envp = test_env,
				   .timeout_usec = 300 * USEC_PER_MSEC, .kill_grace_usec = 10 * USEC_PER_SEC };
	struct run run = { 0 };
	siginfo_t si;

	set_subreaper(true);	/* the orphaned grandchild becomes ours to check */
	run_spec(&run, &spec);
	assert_killed(&run, SIGTERM, true);
	ck_assert_uint_ge(run.r.duration_usec, 300 * USEC_PER_MSEC);
	ck_assert_int_gt(run.grandchild, 0);
	si = wait_for_exit(run.grandchild);
	ck_assert_int_eq(si.si_code, CLD_KILLED);
	ck_assert(si.si_status == SIGTERM || si.si_status == SIGKILL);
	ck_assert_int_eq(kill(run.grandchild, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
	set_subreaper(false);
	run_done(&run);
}
END_TEST

START_TEST(test_timeout_sigkill_after_grace)
{
	struct child_spec spec = { .argv = SH("trap '' TERM; sleep 1000"), .envp = test_env,
				   .timeout_usec = 100 * USEC_PER_MSEC, .kill_grace_usec = 300 * USEC_PER_MSEC };
	struct run run = { 0 };

	run_spec(&run, &spec);
	assert_killed(&run, SIGKILL, true);
	ck_assert_uint_ge(run.r.duration_usec, 350 * USEC_PER_MSEC);
	run_done(&run);

	/* No grace: SIGKILL right after SIGTERM. */
	spec.kill_grace_usec = 0;
	run_spec(&run, &spec);
	assert_killed(&run, SIGKILL, true);
	run_done(&run);
}
END_TEST

START_TEST(test_terminate)
{
	struct child_spec spec = { .argv = ARGV("/bin/sleep", "1000"), .envp = test_env,
				   .kill_grace_usec = 10 * USEC_PER_SEC };
	struct run run = { 0 };

	run_start(&run, &spec);
	child_terminate(run.c);
	child_terminate(run.c);
	ck_assert_int_eq(run.calls, 0);
	run_wait(&run);
	assert_killed(&run, SIGTERM, false);
	run_done(&run);
}
END_TEST

START_TEST(test_signal_state_reset)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe, old_usr2;
	struct child_spec spec = { 0 };
	sigset_t set, old_mask;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	ck_assert_int_eq(sigprocmask(SIG_BLOCK, &set, &old_mask), 0);
	ck_assert_int_eq(sigaction(SIGPIPE, &ign, &old_pipe), 0);
	ck_assert_int_eq(sigaction(SIGUSR2, &ign, &old_usr2), 0);

	assert_output(spec, ARGV("grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"),
		      "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");

	ck_assert_int_eq(sigaction(SIGUSR2, &old_usr2, NULL), 0);
	ck_assert_int_eq(sigaction(SIGPIPE, &old_pipe, NULL), 0);
	ck_assert_int_eq(sigprocmask(SIG_SETMASK, &old_mask, NULL), 0);
}
END_TEST

START_TEST(test_no_fd_leak)
{
	int fd = open("/dev/null", O_RDONLY);	/* deliberately without O_CLOEXEC */

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, 100), 100);
	/* 3 is the directory ls reads. */
	assert_output((struct child_spec){ 0 }, ARGV("/bin/ls", "/proc/self/fd"), "0\n1\n2\n3\n");
	ck_assert_int_eq(close(100), 0);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_descendant_keeping_stdout_does_not_hold_done)
{
	struct child_spec spec = { .argv = SH("sleep 30 & echo $!"), .envp = test_env };
	struct run run = { 0 };
	uint64_t waited;

	set_subreaper(true);
	run_spec(&run, &spec);
	assert_exited(&run, 0);
	ck_assert_int_gt(run.grandchild, 0);
	ck_assert(run.grandchild_alive_at_done);
	waited = run.done_usec - run.start_usec;
	ck_assert_uint_ge(waited, 500 * USEC_PER_MSEC);	/* it did wait for the pipe a while */
	ck_assert_uint_lt(waited, 10 * USEC_PER_SEC);	/* but not for the sleep */
	ck_assert_int_eq(kill(run.grandchild, SIGKILL), 0);
	ck_assert_int_eq(wait_for_exit(run.grandchild).si_status, SIGKILL);
	set_subreaper(false);
	run_done(&run);
}
END_TEST

/* Frees the child right after spawning it; done must never come. Returns its pid. */
static pid_t free_before_done(char *const *argv)
{
	struct child_spec spec = { .argv = argv, .envp = test_env };
	struct run run = { 0 };
	pid_t pid;

	run_start(&run, &spec);
	pid = child_pid(run.c);
	run.c = child_free(run.c);
	ck_assert_int_eq(loop_with_deadline(run.e, 200 * USEC_PER_MSEC, 0), 0);
	ck_assert_int_eq(run.calls, 0);
	run_done(&run);
	return pid;
}

START_TEST(test_free_calls_nothing)
{
	pid_t pid = free_before_done(ARGV("/bin/sleep", "1000"));

	/* Killed and reaped: no zombie left. */
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);

	ck_assert_int_eq(free_before_done(ARGV("/nonexistent/ssewatchd-prog")), 0);
}
END_TEST

START_TEST(test_free_inside_done)
{
	struct child_spec spec = { .argv = SH("echo bye; echo err >&2"), .envp = test_env };
	struct run run = { .free_in_done = true };

	run_spec(&run, &spec);
	ck_assert_ptr_null(run.c);
	assert_exited(&run, 0);
	ck_assert_str_eq(run.out, "bye\n");
	run_done(&run);

	spec.argv = ARGV("/nonexistent/ssewatchd-prog");
	run.free_in_done = true;
	run_spec(&run, &spec);
	ck_assert_ptr_null(run.c);
	ck_assert_int_eq(run.r.spawn_error, ENOENT);
	run_done(&run);
}
END_TEST

START_TEST(test_invalid_arguments)
{
	struct child *c = (struct child *)&c;
	sd_event *e = NULL;

	ck_assert_int_ge(sd_event_new(&e), 0);
	ck_assert_int_eq(child_spawn(e, &(struct child_spec){ 0 }, on_done, NULL, &c), -EINVAL);
	ck_assert_int_eq(child_spawn(e, &(struct child_spec){ .argv = ARGV(NULL) }, on_done, NULL, &c), -EINVAL);
	ck_assert_int_eq(child_spawn(e, NULL, on_done, NULL, &c), -EINVAL);
	ck_assert_int_eq(child_spawn(NULL, &(struct child_spec){ .argv = ARGV("/bin/true") }, on_done, NULL, &c),
			 -EINVAL);
	ck_assert_int_eq(child_spawn(e, &(struct child_spec){ .argv = ARGV("/bin/true") }, NULL, NULL, &c), -EINVAL);
	ck_assert_ptr_eq(c, (struct child *)&c);
	ck_assert_ptr_null(child_free(NULL));
	child_terminate(NULL);
	ck_assert_int_eq(child_pid(NULL), 0);
	sd_event_unref(e);
}
END_TEST

Suite *child_suite(void)
{
	Suite *s = suite_create("child");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_exit_code_and_output);
	tcase_add_test(tc, test_exit_wakes_the_loop_once);
	tcase_add_test(tc, test_killed_by_signal);
	tcase_add_test(tc, test_stdin_1mib_exact);
	tcase_add_test(tc, test_stdin_is_dev_null_without_data);
	tcase_add_test(tc, test_stdin_not_read);
	tcase_add_test(tc, test_capture_tail_and_totals);
	tcase_add_test(tc, test_capture_small_max);
	tcase_add_test(tc, test_spawn_enoent);
	tcase_add_test(tc, test_spawn_eacces);
	tcase_add_test(tc, test_spawn_error_from_exec);
	tcase_add_test(tc, test_missing_working_dir);
	tcase_add_test(tc, test_working_dir);
	tcase_add_test(tc, test_environment_is_envp);
	tcase_add_test(tc, test_programs_get_their_own_nofile_limit);
	tcase_add_test(tc, test_path_lookup_uses_envp);
	tcase_add_test(tc, test_timeout_kills_group);
	tcase_add_test(tc, test_timeout_sigkill_after_grace);
	tcase_add_test(tc, test_terminate);
	tcase_add_test(tc, test_signal_state_reset);
	tcase_add_test(tc, test_no_fd_leak);
	tcase_add_test(tc, test_descendant_keeping_stdout_does_not_hold_done);
	tcase_add_test(tc, test_free_calls_nothing);
	tcase_add_test(tc, test_free_inside_done);
	tcase_add_test(tc, test_invalid_arguments);
	suite_add_tcase(s, tc);
	return s;
}
