/* SPDX-License-Identifier: MIT */
/*
 * child: runs one program inside the sd-event loop, the way a trigger needs
 * it: without a shell, in its own process group, with a clean signal mask and
 * default dispositions, no daemon file descriptor but 0/1/2, stdin fed from
 * memory, stdout and stderr captured (only the last capture_max bytes of each
 * are kept), a timeout that sends SIGTERM to the whole group and SIGKILL after
 * a grace period, and reaping through sd-event. It never blocks the loop.
 *
 * stdin is a memory file (memfd) filled with the whole input before the
 * program starts, so it always reads the complete input, even if the daemon
 * dies while it runs.
 *
 * The caller must have blocked SIGCHLD (sd_event_add_child requires it).
 */
#ifndef SSEWATCHD_CHILD_H
#define SSEWATCHD_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#define CHILD_DEFAULT_CAPTURE_MAX 4096

struct child;

struct child_spec {
	char *const *argv;		/* argv[0]: an absolute path, or a name looked up in PATH of envp */
	char *const *envp;		/* the complete environment */
	const char *working_dir;	/* NULL: the daemon's */
	const void *stdin_data;		/* copied; NULL/0: stdin is /dev/null */
	size_t stdin_len;
	uint64_t timeout_usec;		/* 0: none */
	uint64_t kill_grace_usec;	/* 0: SIGKILL right after SIGTERM */
	size_t capture_max;		/* 0: CHILD_DEFAULT_CAPTURE_MAX */
};

/*
 * argv[0] without a '/' is searched in envp's PATH as execvp() does (its
 * default "/bin:/usr/bin" when envp has no PATH), but with no /bin/sh fallback
 * on ENOEXEC; a relative path is resolved in working_dir. working_dir and the
 * program are checked before a process is made, so the usual errors (ENOENT,
 * ENOTDIR, EACCES) arrive as spawn_error cheaply. Nothing is written to a pipe
 * the child could close, so no SIGPIPE is raised in the caller.
 */

struct child_result {
	pid_t pid;
	int spawn_error;		/* positive errno if it could not start (e.g. ENOENT); nothing below is set then */
	bool exited;			/* exited normally with exit_code */
	int exit_code;
	int signal;			/* killed by this signal, if !exited */
	bool timed_out;			/* the timeout fired (the signal is then ours) */
	const char *out_tail;		/* the last bytes of stdout (not NUL-terminated) */
	size_t out_len;
	uint64_t out_total;		/* all bytes it wrote to stdout */
	const char *err_tail;
	size_t err_len;
	uint64_t err_total;
	uint64_t duration_usec;		/* CLOCK_MONOTONIC, spawn to reap */
};

/*
 * Called once, from the loop, after the process was reaped and its output
 * pipes were drained (a descendant keeping them open is given at most one
 * second more). The result's pointers are valid during the call only. The
 * callback may free the child.
 */
typedef void (*child_done_fn)(struct child *c, const struct child_result *r, void *userdata);

/*
 * The soft RLIMIT_NOFILE every program starts with from now on (0, the
 * default: the daemon's own). The daemon raises its own for its sockets;
 * programs get the limit it started with, 1024 under systemd, as select()
 * needs and systemd gives its own children.
 */
void child_set_nofile(rlim_t soft);

/*
 * Starts the program. Returns 0 and *ret on success; if it cannot start, done
 * is still called (later, from the loop) with spawn_error set, so callers have
 * one path. Returns negative errno only for failures before that (e.g. OOM).
 */
int child_spawn(sd_event *e, const struct child_spec *spec, child_done_fn done, void *userdata,
		struct child **ret);

/* SIGTERM to the process group, SIGKILL after the grace period. done is still called. */
void child_terminate(struct child *c);

/*
 * Frees the child. A process still running is sent SIGKILL (to its group) and
 * reaped at once with waitpid(); done is not called. NULL is fine.
 */
struct child *child_free(struct child *c);

/* 0 if it could not start. */
pid_t child_pid(const struct child *c);

#endif
