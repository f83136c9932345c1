/* SPDX-License-Identifier: MIT */
#include "flow.h"

void flow_sample(struct flow *f, uint64_t usec)
{
	/* 0 marks "no sample": a notification faster than the clock's
	 * resolution counts as 1 µs. */
	if (usec == 0)
		usec = 1;
	if (f->service_usec == 0)
		f->service_usec = usec;
	else if (usec >= f->service_usec)
		f->service_usec += (usec - f->service_usec) / FLOW_WEIGHT;
	else
		f->service_usec -= (f->service_usec - usec) / FLOW_WEIGHT;
	if (f->service_usec == 0)
		f->service_usec = 1;
}

size_t flow_window(const struct flow *f, size_t max_pending)
{
	uint64_t n;

	if (max_pending <= FLOW_WINDOW_MIN)
		return max_pending;
	if (f->service_usec == 0)
		return FLOW_WINDOW_MIN;
	n = FLOW_HORIZON_USEC / f->service_usec;
	if (n < FLOW_WINDOW_MIN)
		return FLOW_WINDOW_MIN;
	return n < max_pending ? (size_t)n : max_pending;
}
