/* SPDX-License-Identifier: MIT */
/*
 * deadline: several deadlines on one timer. Tables for what comes next and
 * in which order they are taken, and a simulated loop that arms the timer as
 * late as the accuracy allows, checking that every deadline fires once,
 * never early and never later than its slack.
 */
#include <check.h>

#include "backoff.h"
#include "deadline.h"
#include "macro.h"
#include "suites.h"

#define MS(x) ((uint64_t)(x) * USEC_PER_MSEC)

enum { A, B, C, D, N };
static const uint64_t slack[N] = { [A] = MS(1), [B] = MS(100), [C] = MS(10), [D] = MS(1) };

START_TEST(test_none_set)
{
	struct deadlines d;
	uint64_t at = 7, acc = 7;

	deadline_init(&d, N, slack);
	for (unsigned i = 0; i < N; i++)
		ck_assert(!deadline_is_set(&d, i));
	ck_assert(!deadline_next(&d, &at, &acc));
	ck_assert_uint_eq(at, 7);	/* untouched */
	ck_assert_uint_eq(acc, 7);
	ck_assert_int_eq(deadline_take_due(&d, UINT64_MAX - 1), -1);
}
END_TEST

START_TEST(test_next_table)
{
	/* at[] of A..D (OFF: not set) -> the time to arm at and the accuracy */
	static const struct {
		uint64_t at[N];
		uint64_t want_at, want_acc;
	} rows[] = {
		{ { MS(5), DEADLINE_OFF, DEADLINE_OFF, DEADLINE_OFF }, MS(5), MS(1) },
		{ { DEADLINE_OFF, MS(5), DEADLINE_OFF, DEADLINE_OFF }, MS(5), MS(100) },
		/* a lax one first, a strict one soon after: the strict one's limit */
		{ { DEADLINE_OFF, MS(1000), DEADLINE_OFF, MS(1050) }, MS(1000), MS(51) },
		/* ...and long after: the lax one's own slack */
		{ { DEADLINE_OFF, MS(1000), DEADLINE_OFF, MS(5000) }, MS(1000), MS(100) },
		/* the lax one's limit comes before the strict ones' */
		{ { MS(1000), MS(900), MS(1200), DEADLINE_OFF }, MS(900), MS(100) },
		/* a strict one first */
		{ { MS(950), MS(1000), MS(955), DEADLINE_OFF }, MS(950), MS(1) },
		{ { MS(0), MS(0), MS(0), MS(0) }, 0, MS(1) },
		/* the end of time does not overflow */
		{ { DEADLINE_OFF, DEADLINE_OFF - 1, DEADLINE_OFF, DEADLINE_OFF }, DEADLINE_OFF - 1, 1 },
		{ { DEADLINE_OFF - MS(1), DEADLINE_OFF - 2, DEADLINE_OFF, DEADLINE_OFF }, DEADLINE_OFF - MS(1), MS(1) },
	};

	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		struct deadlines d;
		uint64_t at = 0, acc = 0;

		deadline_init(&d, N, slack);
		for (unsigned k = 0; k < N; k++)
			deadline_set(&d, k, rows[i].at[k]);
		ck_assert_msg(deadline_next(&d, &at, &acc), "row %zu", i);
		ck_assert_msg(at == rows[i].want_at, "row %zu: at %llu", i, (unsigned long long)at);
		ck_assert_msg(acc == rows[i].want_acc, "row %zu: accuracy %llu", i, (unsigned long long)acc);
	}
}
END_TEST

START_TEST(test_take_due_earliest_first_ties_by_index)
{
	struct deadlines d;
	uint64_t at, acc;

	deadline_init(&d, N, slack);
	deadline_set(&d, C, MS(30));
	deadline_set(&d, A, MS(20));
	deadline_set(&d, D, MS(20));
	deadline_set(&d, B, MS(40));
	ck_assert_int_eq(deadline_take_due(&d, MS(19)), -1);
	ck_assert_int_eq(deadline_take_due(&d, MS(35)), A);
	ck_assert(!deadline_is_set(&d, A));
	ck_assert_int_eq(deadline_take_due(&d, MS(35)), D);
	ck_assert_int_eq(deadline_take_due(&d, MS(35)), C);
	ck_assert_int_eq(deadline_take_due(&d, MS(35)), -1);
	ck_assert(deadline_is_set(&d, B));
	ck_assert(deadline_next(&d, &at, &acc));
	ck_assert_uint_eq(at, MS(40));
	ck_assert_int_eq(deadline_take_due(&d, MS(40)), B);
	ck_assert(!deadline_next(&d, &at, &acc));
}
END_TEST

START_TEST(test_set_moves_and_off_clears)
{
	struct deadlines d;
	uint64_t at, acc;

	deadline_init(&d, N, slack);
	deadline_set(&d, B, MS(50));
	deadline_set(&d, B, MS(80));	/* moved later: the old time is gone */
	ck_assert_int_eq(deadline_take_due(&d, MS(60)), -1);
	deadline_set(&d, B, MS(10));	/* moved earlier */
	ck_assert(deadline_next(&d, &at, &acc));
	ck_assert_uint_eq(at, MS(10));
	deadline_set(&d, B, DEADLINE_OFF);
	ck_assert(!deadline_is_set(&d, B));
	deadline_set(&d, A, MS(1));
	deadline_clear(&d, A);
	ck_assert(!deadline_next(&d, &at, &acc));
	ck_assert_int_eq(deadline_take_due(&d, UINT64_MAX - 1), -1);
}
END_TEST

/*
 * A loop that fires the timer as late as it may (armed time + accuracy),
 * takes one deadline per wake-up, and sets new deadlines at random times in
 * between: each deadline set is taken exactly once, not before its time and
 * not after its time + slack.
 */
START_TEST(test_simulated_loop_keeps_every_slack)
{
	struct deadlines d;
	uint64_t rng = 42, now = 0, want[N];
	unsigned taken = 0, set = 0;

	deadline_init(&d, N, slack);
	for (unsigned k = 0; k < N; k++)
		want[k] = DEADLINE_OFF;
	for (int step = 0; step < 200000; step++) {
		uint64_t at, acc, r = backoff_random(&rng);

		if (r % 3 == 0) {
			unsigned k = (unsigned)((r >> 8) % N);
			uint64_t when = now + (r >> 16) % MS(300);

			if (r & 0x80) {
				deadline_clear(&d, k);
				want[k] = DEADLINE_OFF;
			} else {
				deadline_set(&d, k, when);
				want[k] = when;
				set++;
			}
			continue;
		}
		if (!deadline_next(&d, &at, &acc)) {
			now += MS(1);
			continue;
		}
		ck_assert_uint_ge(acc, 1);
		/* the loop wakes at some time in [at, at + acc]: here the
		 * latest or the earliest, at random */
		if (at + ((r & 0x100) ? acc : 0) > now)
			now = at + ((r & 0x100) ? acc : 0);
		int k = deadline_take_due(&d, now);

		ck_assert_int_ge(k, 0);
		ck_assert(!deadline_is_set(&d, (unsigned)k));
		ck_assert_uint_ne(want[k], DEADLINE_OFF);	/* set, and not taken before */
		ck_assert_msg(want[k] <= now && now <= want[k] + slack[k], "deadline %d due %llu fired %llu", k,
			      (unsigned long long)want[k], (unsigned long long)now);
		want[k] = DEADLINE_OFF;
		taken++;
	}
	ck_assert_uint_gt(taken, 1000);
	ck_assert_uint_ge(set, taken);
}
END_TEST

Suite *deadline_suite(void)
{
	Suite *s = suite_create("deadline");
	TCase *tc = tcase_create("deadline");

	tcase_add_test(tc, test_none_set);
	tcase_add_test(tc, test_next_table);
	tcase_add_test(tc, test_take_due_earliest_first_ties_by_index);
	tcase_add_test(tc, test_set_moves_and_off_clears);
	tcase_add_test(tc, test_simulated_loop_keeps_every_slack);
	suite_add_tcase(s, tc);
	return s;
}
