/* SPDX-License-Identifier: MIT */
/*
 * uring: file writes and fsyncs done by the kernel's io_uring workers
 * rather than on the event loop's thread.
 *
 * A batch commit writes megabytes and syncs them twice. Done on the loop's
 * thread, the page-cache copy and the writeback it starts take a third of
 * the daemon's CPU time while the machine's other cores sit idle. io_uring
 * hands them to kernel workers (IOSQE_ASYNC), which run on any core, and
 * counts each end on an eventfd the loop watches. The daemon's own code
 * stays single-threaded: the workers are the kernel's.
 *
 * A request lives in its owner: its address tags the completion, so it
 * must stay where it is, and so must the buffer and the file descriptor
 * it names, until it is reaped (uring_wait() it before dropping it). Where
 * the kernel or a system call filter refuses io_uring, uring_new() fails
 * and the caller writes and syncs itself; where one submission is refused
 * (a full ring), uring_write_sync()/uring_sync() fail and the caller does
 * that one itself.
 */
#ifndef SSEWATCHD_URING_H
#define SSEWATCHD_URING_H

#include <stdbool.h>
#include <stddef.h>

struct uring;

struct uring_req {
	bool busy;	/* submitted and not yet reaped */
	int res;	/* once reaped: bytes written, 0 for a sync, or a negative errno */
	/* Called when uring_dispatch() or uring_reap() reaps it (not when
	 * uring_wait() waits for it); may be NULL. */
	void (*done)(struct uring_req *req, void *userdata);
	void *userdata;
};

/* A ring for at most entries requests in flight. Negative errno where
 * io_uring is not to be had (-ENOSYS, -EPERM from a filter or a sysctl). */
int uring_new(unsigned entries, struct uring **ret);
/* Waits for every request still in flight, then frees q. */
struct uring *uring_free(struct uring *q);

/* Readable when completions wait: call uring_dispatch(). */
int uring_fd(const struct uring *q);

/* Writes len bytes of buf at offset 0 of fd, then fsyncs fd once the write
 * succeeded in full (else sync->res is -ECANCELED). 0 if submitted (both
 * busy), else negative and nothing was started. */
int uring_write_sync(struct uring *q, int fd, const void *buf, size_t len, struct uring_req *write,
		     struct uring_req *sync);
/* fsync(fd). 0 if submitted, else negative and nothing was started. */
int uring_sync(struct uring *q, int fd, struct uring_req *req);

/* Reaps the completions that wait, without a system call. Returns how many. */
int uring_reap(struct uring *q);
/* The same for the loop, when the eventfd is readable. */
int uring_dispatch(struct uring *q);

/* Waits until req is reaped (others reaped meanwhile get their done
 * called; req's is not). Returns req->res; 0 at once for an idle req. */
int uring_wait(struct uring *q, struct uring_req *req);

/* How many requests are in flight. */
unsigned uring_busy(const struct uring *q);

#endif
