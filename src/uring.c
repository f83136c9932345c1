/* SPDX-License-Identifier: MIT */
#include "uring.h"

#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct uring {
	struct io_uring ring;
	int efd;
	unsigned max;
	unsigned busy;
};

int uring_new(unsigned entries, struct uring **ret)
{
	struct uring *q;
	int r;

	if (entries == 0)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->max = entries;
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0) {
		r = -errno;
		free(q);
		return r;
	}
	r = io_uring_queue_init(entries, &q->ring, 0);
	if (r >= 0) {
		r = io_uring_register_eventfd(&q->ring, q->efd);
		if (r < 0)
			io_uring_queue_exit(&q->ring);
	}
	if (r < 0) {
		close(q->efd);
		free(q);
		return r;
	}
	*ret = q;
	return 0;
}

/* Marks one completion's request done; calls its done unless it is skip. */
static void reaped(struct uring *q, struct io_uring_cqe *cqe, struct uring_req *skip)
{
	struct uring_req *req = io_uring_cqe_get_data(cqe);

	req->res = cqe->res;
	io_uring_cqe_seen(&q->ring, cqe);
	req->busy = false;
	q->busy--;
	if (req != skip && req->done)
		req->done(req, req->userdata);
}

struct uring *uring_free(struct uring *q)
{
	if (!q)
		return NULL;
	while (q->busy > 0) {
		struct io_uring_cqe *cqe;
		int r = io_uring_submit_and_wait(&q->ring, 1);

		if (r < 0 && r != -EINTR)
			break;	/* io_uring_queue_exit() still waits for them */
		while (io_uring_peek_cqe(&q->ring, &cqe) == 0)
			reaped(q, cqe, NULL);
	}
	io_uring_queue_exit(&q->ring);
	close(q->efd);
	free(q);
	return NULL;
}

int uring_fd(const struct uring *q)
{
	return q->efd;
}

unsigned uring_busy(const struct uring *q)
{
	return q->busy;
}

/* Room for n more requests, or -EAGAIN. */
static int room(struct uring *q, unsigned n)
{
	return q->busy + n <= q->max && io_uring_sq_space_left(&q->ring) >= n ? 0 : -EAGAIN;
}

/*
 * Hands what was prepared to the kernel. Once prepared, a request counts as
 * in flight: prepared entries cannot be taken back, and one the kernel did
 * not take now (it refuses only when short of memory) goes with the next
 * submission, which every reap and wait makes first.
 */
static void submit(struct uring *q)
{
	if (io_uring_sq_ready(&q->ring) > 0)
		(void)io_uring_submit(&q->ring);
}

int uring_write_sync(struct uring *q, int fd, const void *buf, size_t len, struct uring_req *write,
		     struct uring_req *sync)
{
	struct io_uring_sqe *w, *s;
	int r;

	if (fd < 0 || write->busy || sync->busy || (!buf && len > 0))
		return -EINVAL;
	if (len > INT_MAX)	/* the result is an int */
		return -EFBIG;
	r = room(q, 2);
	if (r < 0)
		return r;
	w = io_uring_get_sqe(&q->ring);
	s = io_uring_get_sqe(&q->ring);
	io_uring_prep_write(w, fd, buf, (unsigned)len, 0);
	/* To a worker at once: tried inline first, a buffered write would
	 * copy on our thread, which is what this is here to avoid. */
	w->flags |= IOSQE_ASYNC | IOSQE_IO_LINK;
	io_uring_sqe_set_data(w, write);
	io_uring_prep_fsync(s, fd, 0);
	io_uring_sqe_set_data(s, sync);
	write->busy = sync->busy = true;
	write->res = sync->res = 0;
	q->busy += 2;
	submit(q);
	return 0;
}

int uring_sync(struct uring *q, int fd, struct uring_req *req)
{
	struct io_uring_sqe *s;
	int r;

	if (fd < 0 || req->busy)
		return -EINVAL;
	r = room(q, 1);
	if (r < 0)
		return r;
	s = io_uring_get_sqe(&q->ring);
	io_uring_prep_fsync(s, fd, 0);
	s->flags |= IOSQE_ASYNC;	/* an fsync always blocks */
	io_uring_sqe_set_data(s, req);
	req->busy = true;
	req->res = 0;
	q->busy++;
	submit(q);
	return 0;
}

int uring_reap(struct uring *q)
{
	struct io_uring_cqe *cqe;
	int n = 0;

	submit(q);
	while (q->busy > 0 && io_uring_peek_cqe(&q->ring, &cqe) == 0) {
		reaped(q, cqe, NULL);
		n++;
	}
	return n;
}

int uring_dispatch(struct uring *q)
{
	uint64_t count;

	/* Emptied first: a completion counted after this read is reaped
	 * below, or wakes the loop again. */
	(void)!read(q->efd, &count, sizeof(count));
	return uring_reap(q);
}

int uring_wait(struct uring *q, struct uring_req *req)
{
	while (req->busy) {
		struct io_uring_cqe *cqe;
		/* Submits what the kernel did not take before, and waits. */
		int r = io_uring_submit_and_wait(&q->ring, 1);

		if (r < 0 && r != -EINTR) {
			/* Short of memory: req and its buffer must not be
			 * given up while the kernel may still use them. */
			(void)nanosleep(&(struct timespec){ 0, 1000 * 1000 }, NULL);
			continue;
		}
		while (io_uring_peek_cqe(&q->ring, &cqe) == 0)
			reaped(q, cqe, req);
	}
	return req->res;
}
