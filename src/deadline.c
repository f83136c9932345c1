/* SPDX-License-Identifier: MIT */
#include "deadline.h"

#include <assert.h>

void deadline_init(struct deadlines *d, unsigned n, const uint64_t *slack)
{
	assert(n <= DEADLINE_MAX);
	d->slack = slack;
	d->n = n;
	for (unsigned i = 0; i < DEADLINE_MAX; i++)
		d->at[i] = DEADLINE_OFF;
}

void deadline_set(struct deadlines *d, unsigned which, uint64_t at)
{
	assert(which < d->n);
	d->at[which] = at;
}

void deadline_clear(struct deadlines *d, unsigned which)
{
	deadline_set(d, which, DEADLINE_OFF);
}

bool deadline_is_set(const struct deadlines *d, unsigned which)
{
	assert(which < d->n);
	return d->at[which] != DEADLINE_OFF;
}

bool deadline_next(const struct deadlines *d, uint64_t *ret_at, uint64_t *ret_accuracy)
{
	uint64_t first = DEADLINE_OFF, latest = DEADLINE_OFF;

	for (unsigned i = 0; i < d->n; i++) {
		uint64_t by;

		if (d->at[i] == DEADLINE_OFF)
			continue;
		if (d->at[i] < first)
			first = d->at[i];
		/* Saturating: a deadline near the end of time has no limit. */
		by = d->at[i] > DEADLINE_OFF - d->slack[i] ? DEADLINE_OFF : d->at[i] + d->slack[i];
		if (by < latest)
			latest = by;
	}
	if (first == DEADLINE_OFF)
		return false;
	*ret_at = first;
	*ret_accuracy = latest - first;
	return true;
}

int deadline_take_due(struct deadlines *d, uint64_t now)
{
	int due = -1;

	for (unsigned i = 0; i < d->n; i++)
		if (d->at[i] != DEADLINE_OFF && d->at[i] <= now && (due < 0 || d->at[i] < d->at[due]))
			due = (int)i;
	if (due >= 0)
		d->at[due] = DEADLINE_OFF;
	return due;
}
