/* SPDX-License-Identifier: MIT */
/*
 * backoff: jittered exponential delays, as a pure function of its inputs.
 * The random value is passed in, so tests are exact and the caller decides
 * where randomness comes from.
 */
#ifndef SSEWATCHD_BACKOFF_H
#define SSEWATCHD_BACKOFF_H

#include <stdint.h>

/*
 * The ceiling for the attempt-th consecutive failure (0-based):
 * min(cap, base * 2^attempt), never below base.
 */
uint64_t backoff_ceiling(uint64_t base_usec, uint64_t cap_usec, uint32_t attempt);

/*
 * A delay in [ceiling/2, ceiling]: spread out, so a fleet restarting together
 * does not reconnect in step, yet never less than half the ceiling, so a
 * failing server is not hammered. rnd is any 64-bit random value.
 */
uint64_t backoff_delay(uint64_t base_usec, uint64_t cap_usec, uint32_t attempt, uint64_t rnd);

/* A small fast PRNG (splitmix64) for jitter; not for secrets. */
uint64_t backoff_random(uint64_t *state);

#endif
