/* SPDX-License-Identifier: MIT */
/*
 * flow: the read-ahead window as a function of the time notifications spend
 * in their triggers. Pure, so every case is exact.
 */
#include <check.h>

#include "flow.h"
#include "macro.h"
#include "suites.h"

#define MS(x) ((uint64_t)(x) * USEC_PER_MSEC)

START_TEST(test_window_before_any_sample_is_the_minimum)
{
	struct flow f = { 0 };

	ck_assert_uint_eq(flow_window(&f, 8192), FLOW_WINDOW_MIN);
	ck_assert_uint_eq(flow_window(&f, FLOW_WINDOW_MIN + 1), FLOW_WINDOW_MIN);
	/* A queue no longer than the minimum is never shortened. */
	ck_assert_uint_eq(flow_window(&f, FLOW_WINDOW_MIN), FLOW_WINDOW_MIN);
	ck_assert_uint_eq(flow_window(&f, 16), 16);
	ck_assert_uint_eq(flow_window(&f, 1), 1);
}
END_TEST

START_TEST(test_window_is_a_horizon_of_service_clamped)
{
	static const struct { uint64_t service_usec; size_t max_pending, window; } rows[] = {
		/* slow triggers: the minimum */
		{ FLOW_HORIZON_USEC / 10, 8192, FLOW_WINDOW_MIN },
		{ FLOW_HORIZON_USEC / (FLOW_WINDOW_MIN - 1), 8192, FLOW_WINDOW_MIN },
		{ MS(1000), 8192, FLOW_WINDOW_MIN },
		{ MS(300000), 8192, FLOW_WINDOW_MIN },
		{ UINT64_MAX, 8192, FLOW_WINDOW_MIN },
		/* the horizon's worth */
		{ FLOW_HORIZON_USEC / 65, 8192, 65 },
		{ FLOW_HORIZON_USEC / 100, 8192, 100 },
		{ FLOW_HORIZON_USEC / 1000, 8192, 1000 },
		{ FLOW_HORIZON_USEC / 5000, 8192, 5000 },
		{ FLOW_HORIZON_USEC / 1000 + 1, 8192, FLOW_HORIZON_USEC / (FLOW_HORIZON_USEC / 1000 + 1) },
		/* fast ones: the whole queue */
		{ FLOW_HORIZON_USEC / 8192, 8192, 8192 },
		{ 1, 8192, 8192 },
		{ 1, 100000, 100000 },
		{ FLOW_HORIZON_USEC / 1000, 500, 500 },
		/* a short queue stays as configured */
		{ MS(500), 16, 16 },
		{ 1, 16, 16 },
	};

	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		struct flow f = { .service_usec = rows[i].service_usec };

		ck_assert_msg(flow_window(&f, rows[i].max_pending) == rows[i].window,
			      "row %zu: %zu, expected %zu", i, flow_window(&f, rows[i].max_pending), rows[i].window);
	}
}
END_TEST

START_TEST(test_first_sample_is_taken_whole)
{
	struct flow f = { 0 };

	flow_sample(&f, MS(20));
	ck_assert_uint_eq(f.service_usec, MS(20));
	ck_assert_uint_eq(flow_window(&f, 8192), FLOW_WINDOW_MIN);

	f = (struct flow){ 0 };
	flow_sample(&f, FLOW_HORIZON_USEC / 500);
	ck_assert_uint_eq(flow_window(&f, 8192), 500);
}
END_TEST

START_TEST(test_zero_sample_counts_as_one_microsecond)
{
	struct flow f = { 0 };

	flow_sample(&f, 0);
	ck_assert_uint_eq(f.service_usec, 1);	/* not "no sample" */
	ck_assert_uint_eq(flow_window(&f, 8192), 8192);
	for (int i = 0; i < 100; i++)
		flow_sample(&f, 0);
	ck_assert_uint_eq(f.service_usec, 1);
}
END_TEST

START_TEST(test_average_moves_an_eighth_of_the_way)
{
	struct flow f = { .service_usec = 800 };

	flow_sample(&f, 1600);
	ck_assert_uint_eq(f.service_usec, 900);
	flow_sample(&f, 100);
	ck_assert_uint_eq(f.service_usec, 800);
	flow_sample(&f, 800);
	ck_assert_uint_eq(f.service_usec, 800);
	/* No overflow at the top. */
	f.service_usec = UINT64_MAX - 7;
	flow_sample(&f, UINT64_MAX);
	ck_assert_uint_ge(f.service_usec, UINT64_MAX - 7);
	flow_sample(&f, 1);
	ck_assert_uint_lt(f.service_usec, UINT64_MAX - UINT64_MAX / 9);
}
END_TEST

START_TEST(test_window_follows_a_change_of_pace)
{
	const uint64_t fast = FLOW_HORIZON_USEC / 1000;
	struct flow f = { 0 };
	size_t w;
	int n;

	/* Fast triggers open the window to 1,000. */
	for (int i = 0; i < 50; i++)
		flow_sample(&f, fast);
	ck_assert_uint_eq(flow_window(&f, 8192), 1000);

	/* Then they slow to 20 ms: a single slow one already halves the
	 * window or more, and it reaches the minimum within a few dozen. */
	flow_sample(&f, MS(20));
	w = flow_window(&f, 8192);
	ck_assert_uint_le(w, 500);
	for (n = 1; flow_window(&f, 8192) > FLOW_WINDOW_MIN; n++) {
		ck_assert_int_lt(n, 40);
		flow_sample(&f, MS(20));
	}

	/* And speed up again: the window opens back up to within 5 % of
	 * 1,000 (the average only nears 250 µs: it stops moving within 8 µs
	 * of it), never overshooting. */
	for (n = 0; flow_window(&f, 8192) < 950; n++) {
		ck_assert_int_lt(n, 80);
		w = flow_window(&f, 8192);
		flow_sample(&f, fast);
		ck_assert_uint_ge(flow_window(&f, 8192), w);
	}
	ck_assert_uint_le(flow_window(&f, 8192), 1000);
}
END_TEST

Suite *flow_suite(void)
{
	Suite *s = suite_create("flow");
	TCase *tc = tcase_create("window");

	tcase_add_test(tc, test_window_before_any_sample_is_the_minimum);
	tcase_add_test(tc, test_window_is_a_horizon_of_service_clamped);
	tcase_add_test(tc, test_first_sample_is_taken_whole);
	tcase_add_test(tc, test_zero_sample_counts_as_one_microsecond);
	tcase_add_test(tc, test_average_moves_an_eighth_of_the_way);
	tcase_add_test(tc, test_window_follows_a_change_of_pace);
	suite_add_tcase(s, tc);
	return s;
}
