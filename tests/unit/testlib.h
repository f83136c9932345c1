/* SPDX-License-Identifier: MIT */
/* Helpers shared by the unit suites; each fails the running test itself. */
#ifndef SSEWATCHD_TESTLIB_H
#define SSEWATCHD_TESTLIB_H

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

/* Points target_fd (1 or 2) at a memfd until capture_end(). */
struct fd_capture {
	int target;
	int fd;		/* the memfd */
	int saved;	/* the real target */
};

void capture_begin(struct fd_capture *c, int target_fd);

/* Restores the fd; returns what was written meanwhile, NUL-terminated (len may be NULL). */
char *capture_end(struct fd_capture *c, size_t *ret_len);

/* A new, empty directory under /tmp; rm_rf() removes it. */
char *tmpdir_new(void);
void rm_rf(const char *path);

/* The whole file, NUL-terminated (len may be NULL). */
char *file_read(const char *path, size_t *ret_len);

/* Runs e until something calls sd_event_exit(); after usec the loop exits
 * with -ETIMEDOUT instead, so a missing event fails the test, never hangs it. */
int loop_run_bounded(sd_event *e, uint64_t usec);

/*
 * A test that cannot run here (the kernel or the sandbox refuses what it
 * needs) says why on stderr and returns; Check has no "skipped", so it
 * counts as passed. With SSEWATCHD_NO_SKIP set (CI), it fails instead: on
 * the machine CI runs on every test must run.
 */
void unit_skip(const char *suite, const char *test, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
