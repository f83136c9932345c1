/* SPDX-License-Identifier: MIT */
/*
 * deadline: several deadlines of one owner, kept so that a single loop timer
 * serves them all. A pure data structure: the caller tells it the time.
 *
 * Every deadline has a slack, how late it may fire (the loop coalesces
 * wake-ups within it). deadline_next() gives the time to arm the timer at
 * and the accuracy that still keeps every deadline set within its slack.
 */
#ifndef SSEWATCHD_DEADLINE_H
#define SSEWATCHD_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>

#define DEADLINE_MAX 8
#define DEADLINE_OFF UINT64_MAX

struct deadlines {
	const uint64_t *slack;		/* [n], static: how late each may fire */
	uint64_t at[DEADLINE_MAX];	/* DEADLINE_OFF when not set */
	unsigned n;
};

/* n deadlines (at most DEADLINE_MAX), none set; slack must outlive d. */
void deadline_init(struct deadlines *d, unsigned n, const uint64_t *slack);

/* Sets (or moves) deadline which to at: DEADLINE_OFF clears it. */
void deadline_set(struct deadlines *d, unsigned which, uint64_t at);
void deadline_clear(struct deadlines *d, unsigned which);
bool deadline_is_set(const struct deadlines *d, unsigned which);

/*
 * The earliest deadline set, and the accuracy to arm a timer with so that
 * none fires later than its own slack allows. False if none is set.
 */
bool deadline_next(const struct deadlines *d, uint64_t *ret_at, uint64_t *ret_accuracy);

/*
 * Takes the deadline due at now that was set for the earliest time (the
 * lowest index among equal times), clearing it. -1 if none is due. Called
 * once per wake-up, so that deadlines due together are handled one per
 * loop iteration, as separate timers would be.
 */
int deadline_take_due(struct deadlines *d, uint64_t now);

#endif
