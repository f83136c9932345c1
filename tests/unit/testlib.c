/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "testlib.h"

void capture_begin(struct fd_capture *c, int target_fd)
{
	/* Nothing stdio still holds may land in the capture. */
	fflush(stdout);
	fflush(stderr);
	c->target = target_fd;
	c->fd = memfd_create("unit-capture", MFD_CLOEXEC);
	ck_assert_int_ge(c->fd, 0);
	c->saved = fcntl(target_fd, F_DUPFD_CLOEXEC, 3);
	ck_assert_int_ge(c->saved, 0);
	ck_assert_int_eq(dup2(c->fd, target_fd), target_fd);
}

char *capture_end(struct fd_capture *c, size_t *ret_len)
{
	off_t size;
	char *buf;

	fflush(stdout);
	fflush(stderr);
	ck_assert_int_eq(dup2(c->saved, c->target), c->target);
	ck_assert_int_eq(close(c->saved), 0);
	size = lseek(c->fd, 0, SEEK_END);
	ck_assert_int_ge(size, 0);
	buf = malloc((size_t)size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(c->fd, buf, (size_t)size, 0), size);
	buf[size] = '\0';
	ck_assert_int_eq(close(c->fd), 0);
	if (ret_len)
		*ret_len = (size_t)size;
	return buf;
}

char *tmpdir_new(void)
{
	char *dir = strdup("/tmp/ssewatchd-unit-XXXXXX");

	ck_assert_ptr_nonnull(dir);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	return dir;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

void rm_rf(const char *path)
{
	ck_assert_int_eq(nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

char *file_read(const char *path, size_t *ret_len)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	buf[st.st_size] = '\0';
	ck_assert_int_eq(close(fd), 0);
	if (ret_len)
		*ret_len = (size_t)st.st_size;
	return buf;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void)usec;
	(void)userdata;
	return sd_event_exit(sd_event_source_get_event(s), -ETIMEDOUT);
}

int loop_run_bounded(sd_event *e, uint64_t usec)
{
	sd_event_source *timer = NULL;
	int r;

	ck_assert_int_ge(sd_event_add_time_relative(e, &timer, CLOCK_MONOTONIC, usec, 0, on_deadline, NULL), 0);
	r = sd_event_loop(e);
	sd_event_source_unref(timer);
	return r;
}

void unit_skip(const char *suite, const char *test, const char *fmt, ...)
{
	const char *no_skip = getenv("SSEWATCHD_NO_SKIP");
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (no_skip && *no_skip)
		ck_abort_msg("%s: %s cannot run here (%s), and SSEWATCHD_NO_SKIP forbids skipping it", suite, test, why);
	fprintf(stderr, "%s: SKIPPED %s: %s\n", suite, test, why);
}
