/* SPDX-License-Identifier: MIT */
/*
 * uring: writes and fsyncs done by the kernel's workers, their ends reaped
 * from the ring, announced on the eventfd, and waited for. Each test waits
 * on the eventfd with poll(2) or on the request itself, never on a clock.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "suites.h"
#include "testlib.h"
#include "uring.h"

/* A ring, or the test is skipped where the kernel refuses io_uring (the
 * daemon then commits on its own thread, which check_state covers). */
static struct uring *ring_or_skip(unsigned entries)
{
	struct uring *q = NULL;
	int r = uring_new(entries, &q);

	if (r == -ENOSYS || r == -EPERM) {
		unit_skip("uring", "a ring test", "io_uring refused: %s", strerror(-r));
		return NULL;
	}
	ck_assert_msg(r == 0, "uring_new: %s", strerror(-r));
	return q;
}

struct counted {
	int calls;
	struct uring_req *last;
};

static void count_done(struct uring_req *req, void *userdata)
{
	struct counted *c = userdata;

	c->calls++;
	c->last = req;
}

/* Until req is reaped by the loop's way: the eventfd, then dispatch. */
static void dispatch_until_reaped(struct uring *q, struct uring_req *req)
{
	for (int i = 0; req->busy && i < 1000; i++) {
		struct pollfd p = { .fd = uring_fd(q), .events = POLLIN };

		ck_assert_int_eq(poll(&p, 1, 10 * 1000), 1);
		ck_assert_int_ge(uring_dispatch(q), 0);
	}
	ck_assert(!req->busy);
}

static int open_in(const char *dir, const char *name, int flags)
{
	_cleanup_free_ char *p = NULL;
	int fd;

	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
	fd = open(p, flags | O_CLOEXEC, 0600);
	ck_assert_msg(fd >= 0, "%s: %s", p, strerror(errno));
	return fd;
}

START_TEST(test_write_then_sync)
{
	_cleanup_free_ char *dir = tmpdir_new(), *p = NULL, *got = NULL;
	struct uring *q = ring_or_skip(8);
	struct counted c = { 0 };
	struct uring_req w = { 0 }, s = { .done = count_done, .userdata = &c };
	static const char text[] = "{\"format\":\"ssewatchd-state\"}\n";
	size_t len;
	int fd;

	if (!q) {
		rm_rf(dir);
		return;
	}
	fd = open_in(dir, "f", O_WRONLY | O_CREAT);
	/* Offset 0, whatever the file's offset: a recycled file is written over. */
	ck_assert_int_eq(write(fd, "0123456789012345678901234567890123456789", 40), 40);
	ck_assert_int_eq(ftruncate(fd, (off_t)strlen(text)), 0);
	ck_assert_int_eq(uring_write_sync(q, fd, text, strlen(text), &w, &s), 0);
	ck_assert(w.busy && s.busy);
	ck_assert_uint_eq(uring_busy(q), 2);
	/* One at a time per request. */
	ck_assert_int_eq(uring_write_sync(q, fd, text, strlen(text), &w, &s), -EINVAL);
	ck_assert_int_eq(uring_sync(q, fd, &s), -EINVAL);

	dispatch_until_reaped(q, &s);
	ck_assert(!w.busy);
	ck_assert_int_eq(w.res, (int)strlen(text));
	ck_assert_int_eq(s.res, 0);
	ck_assert_int_eq(c.calls, 1);
	ck_assert_ptr_eq(c.last, &s);
	ck_assert_uint_eq(uring_busy(q), 0);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_ge(asprintf(&p, "%s/f", dir), 0);
	got = file_read(p, &len);
	ck_assert_uint_eq(len, strlen(text));
	ck_assert_str_eq(got, text);

	uring_free(q);
	rm_rf(dir);
}
END_TEST

/* A write that fails cancels its fsync: the owner learns both. */
START_TEST(test_failed_write_cancels_the_sync)
{
	_cleanup_free_ char *dir = tmpdir_new();
	struct uring *q = ring_or_skip(8);
	struct uring_req w = { 0 }, s = { 0 };
	int fd;

	if (!q) {
		rm_rf(dir);
		return;
	}
	fd = open_in(dir, "f", O_RDONLY | O_CREAT);
	ck_assert_int_eq(uring_write_sync(q, fd, "x", 1, &w, &s), 0);
	/* Waited for, not dispatched: the waited one's done is not called,
	 * and the other one it reaped on the way is not lost. */
	ck_assert_int_eq(uring_wait(q, &s), -ECANCELED);
	ck_assert(!w.busy);
	ck_assert_int_eq(w.res, -EBADF);
	ck_assert_int_eq(uring_wait(q, &w), -EBADF);	/* idle: at once */
	ck_assert_int_eq(close(fd), 0);
	uring_free(q);
	rm_rf(dir);
}
END_TEST

/* A directory is synced like a file; bad descriptors are refused up front. */
START_TEST(test_sync_a_directory_and_refusals)
{
	_cleanup_free_ char *dir = tmpdir_new();
	struct uring *q = ring_or_skip(8);
	struct uring_req s = { 0 }, w = { 0 };
	int fd;

	if (!q) {
		rm_rf(dir);
		return;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(uring_sync(q, fd, &s), 0);
	ck_assert_int_eq(uring_wait(q, &s), 0);
	ck_assert_int_eq(uring_sync(q, -1, &s), -EINVAL);
	ck_assert_int_eq(uring_write_sync(q, -1, "x", 1, &w, &s), -EINVAL);
	ck_assert_int_eq(uring_write_sync(q, fd, NULL, 1, &w, &s), -EINVAL);
	ck_assert_uint_eq(uring_busy(q), 0);
	ck_assert_int_eq(close(fd), 0);
	uring_free(q);
	ck_assert_int_eq(uring_new(0, &q), -EINVAL);
	rm_rf(dir);
}
END_TEST

/* No more in flight than the ring was made for: the caller then does the
 * work itself; room comes back as requests end. */
START_TEST(test_full_ring_refuses)
{
	_cleanup_free_ char *dir = tmpdir_new();
	struct uring *q = ring_or_skip(2);
	struct uring_req w = { 0 }, s = { 0 }, t = { 0 };
	int fd;

	if (!q) {
		rm_rf(dir);
		return;
	}
	fd = open_in(dir, "f", O_WRONLY | O_CREAT);
	ck_assert_int_eq(uring_write_sync(q, fd, "abc", 3, &w, &s), 0);
	ck_assert_int_eq(uring_sync(q, fd, &t), -EAGAIN);
	ck_assert(!t.busy);
	ck_assert_int_eq(uring_wait(q, &s), 0);
	ck_assert_int_eq(uring_sync(q, fd, &t), 0);
	ck_assert_int_eq(uring_wait(q, &t), 0);
	ck_assert_int_eq(close(fd), 0);
	uring_free(q);
	rm_rf(dir);
}
END_TEST

/* Freed with requests in flight: it waits for them (their buffers are
 * still the caller's; nothing writes after the free returns). */
START_TEST(test_free_waits_for_what_is_in_flight)
{
	_cleanup_free_ char *dir = tmpdir_new(), *p = NULL, *got = NULL;
	struct uring *q = ring_or_skip(8);
	struct uring_req w = { 0 }, s = { 0 };
	char *buf;
	size_t len, n = 1 << 20;
	int fd;

	if (!q) {
		rm_rf(dir);
		return;
	}
	buf = malloc(n);
	ck_assert_ptr_nonnull(buf);
	memset(buf, 'q', n);
	fd = open_in(dir, "f", O_WRONLY | O_CREAT);
	ck_assert_int_eq(uring_write_sync(q, fd, buf, n, &w, &s), 0);
	uring_free(q);
	ck_assert(!w.busy && !s.busy);
	ck_assert_int_eq(w.res, (int)n);
	free(buf);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_ge(asprintf(&p, "%s/f", dir), 0);
	got = file_read(p, &len);
	ck_assert_uint_eq(len, n);
	ck_assert_int_eq(got[0], 'q');
	ck_assert_int_eq(got[n - 1], 'q');
	rm_rf(dir);
}
END_TEST

/* uring_reap() takes what has ended without blocking, and calls done. */
START_TEST(test_reap_without_blocking)
{
	_cleanup_free_ char *dir = tmpdir_new();
	struct uring *q = ring_or_skip(8);
	struct counted c = { 0 };
	struct uring_req s = { .done = count_done, .userdata = &c };
	int fd;

	if (!q) {
		rm_rf(dir);
		return;
	}
	ck_assert_int_eq(uring_reap(q), 0);	/* nothing in flight */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(uring_sync(q, fd, &s), 0);
	/* The eventfd says when; reap then finds it. */
	{
		struct pollfd p = { .fd = uring_fd(q), .events = POLLIN };

		ck_assert_int_eq(poll(&p, 1, 10 * 1000), 1);
	}
	ck_assert_int_eq(uring_reap(q), 1);
	ck_assert(!s.busy);
	ck_assert_int_eq(c.calls, 1);
	ck_assert_int_eq(uring_reap(q), 0);
	ck_assert_int_eq(close(fd), 0);
	uring_free(q);
	rm_rf(dir);
}
END_TEST

Suite *uring_suite(void)
{
	Suite *s = suite_create("uring");
	TCase *tc = tcase_create("ring");

	tcase_add_test(tc, test_write_then_sync);
	tcase_add_test(tc, test_failed_write_cancels_the_sync);
	tcase_add_test(tc, test_sync_a_directory_and_refusals);
	tcase_add_test(tc, test_full_ring_refuses);
	tcase_add_test(tc, test_free_waits_for_what_is_in_flight);
	tcase_add_test(tc, test_reap_without_blocking);
	suite_add_tcase(s, tc);
	return s;
}
