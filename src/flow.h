/* SPDX-License-Identifier: MIT */
/*
 * flow: how far a listener reads ahead of its triggers, as pure functions.
 *
 * Every commit writes all the notifications that wait for their triggers.
 * A stream faster than its triggers would fill the queue to max_pending,
 * and each commit, many a second, would rewrite thousands of notifications
 * to record a few completions. So a listener whose triggers take time reads
 * ahead only what they get through in a quarter of a second: the window,
 * worked out from the time its notifications spend in their triggers.
 * Reading resumes at half the window, so the next read is parsed and
 * committed while the triggers still have 125 ms of work, which covers a
 * commit even on a slow disk; a longer horizon only made the commits
 * larger (a second: 3x the bytes written, no faster). Triggers as fast as
 * the stream keep the whole queue (a window of max_pending).
 */
#ifndef SSEWATCHD_FLOW_H
#define SSEWATCHD_FLOW_H

#include <stddef.h>
#include <stdint.h>

#define FLOW_WINDOW_MIN   64u			/* read ahead at least this many */
#define FLOW_HORIZON_USEC (250u * 1000u)	/* ...and what the triggers do in this long */
#define FLOW_WEIGHT       8u			/* a sample counts 1/8 in the running average */

struct flow {
	uint64_t service_usec;	/* running average; 0: no sample yet */
};

/* One notification took usec from its first trigger's start to the end of its last. */
void flow_sample(struct flow *f, uint64_t usec);

/*
 * How many notifications may wait: FLOW_HORIZON_USEC's worth at the average
 * time per notification, at most max_pending, and at least FLOW_WINDOW_MIN
 * unless max_pending is smaller (then max_pending, whatever the samples).
 * Before the first sample, FLOW_WINDOW_MIN: slow triggers then never see a
 * full queue, and fast ones widen the window after the first notification.
 */
size_t flow_window(const struct flow *f, size_t max_pending);

#endif
