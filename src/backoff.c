/* SPDX-License-Identifier: MIT */
#include "backoff.h"

uint64_t backoff_ceiling(uint64_t base_usec, uint64_t cap_usec, uint32_t attempt)
{
	uint64_t d = base_usec;

	if (cap_usec < base_usec)
		cap_usec = base_usec;
	while (attempt-- > 0 && d < cap_usec)
		d = d > cap_usec / 2 ? cap_usec : d * 2;
	return d < cap_usec ? d : cap_usec;
}

uint64_t backoff_delay(uint64_t base_usec, uint64_t cap_usec, uint32_t attempt, uint64_t rnd)
{
	uint64_t ceiling = backoff_ceiling(base_usec, cap_usec, attempt);
	uint64_t half = ceiling / 2;

	return half + rnd % (ceiling - half + 1);
}

uint64_t backoff_random(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}
