/* SPDX-License-Identifier: MIT */
/*
 * supervisor and backoff: pure functions, so every transition is a row in a
 * table: the phase before, one event at a time, and what must come out.
 */
#include <check.h>
#include <stdio.h>

#include "backoff.h"
#include "macro.h"
#include "suites.h"
#include "supervisor.h"

#define S(x) ((uint64_t)(x) * USEC_PER_SEC)
#define MS(x) ((uint64_t)(x) * USEC_PER_MSEC)

/* ------------------------------------------------------------ backoff */

START_TEST(test_backoff_ceiling_doubles_to_cap)
{
	static const struct { uint32_t attempt; uint64_t ceiling; } rows[] = {
		{ 0, MS(250) }, { 1, MS(500) }, { 2, MS(1000) }, { 3, MS(2000) }, { 4, MS(4000) },
		{ 5, MS(8000) }, { 6, MS(16000) }, { 7, MS(30000) }, { 8, MS(30000) }, { 64, MS(30000) },
		{ UINT32_MAX, MS(30000) },
	};

	for (size_t i = 0; i < ELEMENTSOF(rows); i++)
		ck_assert_uint_eq(backoff_ceiling(MS(250), S(30), rows[i].attempt), rows[i].ceiling);
	/* A cap below the base is raised to the base. */
	ck_assert_uint_eq(backoff_ceiling(S(5), S(1), 3), S(5));
	/* No overflow near the top of the range. */
	ck_assert_uint_eq(backoff_ceiling(UINT64_MAX / 2 + 1, UINT64_MAX, 5), UINT64_MAX);
}
END_TEST

START_TEST(test_backoff_delay_within_half_to_ceiling)
{
	uint64_t rng = 1;

	for (uint32_t attempt = 0; attempt < 12; attempt++) {
		uint64_t c = backoff_ceiling(MS(250), S(30), attempt);

		ck_assert_uint_eq(backoff_delay(MS(250), S(30), attempt, 0), c / 2);
		ck_assert_uint_eq(backoff_delay(MS(250), S(30), attempt, c - c / 2), c);
		for (int i = 0; i < 1000; i++) {
			uint64_t d = backoff_delay(MS(250), S(30), attempt, backoff_random(&rng));

			ck_assert_uint_ge(d, c / 2);
			ck_assert_uint_le(d, c);
		}
	}
}
END_TEST

START_TEST(test_backoff_random_spreads)
{
	uint64_t rng = 42, seen[8] = { 0 };

	for (int i = 0; i < 8000; i++)
		seen[backoff_random(&rng) % 8]++;
	for (int i = 0; i < 8; i++) {
		ck_assert_uint_gt(seen[i], 800);
		ck_assert_uint_lt(seen[i], 1200);
	}
}
END_TEST

/* ------------------------------------------------------------ helpers */

struct run {
	struct sv_params p;
	struct sv_state s;
	struct sv_actions a;
	uint64_t now;
};

static void run_init(struct run *r)
{
	sv_params_default(&r->p);
	sv_init(&r->s);
	r->now = S(1000);
}

/* rnd 0 gives the smallest delay, ceiling/2, which the tables predict. */
static void step(struct run *r, struct sv_event ev)
{
	struct sv_state n;

	sv_step(&r->p, &r->s, &ev, r->now, 0, &n, &r->a);
	r->s = n;
}

static void ev_start(struct run *r) { step(r, (struct sv_event){ .type = SV_EV_START }); }
static void ev_opened(struct run *r) { step(r, (struct sv_event){ .type = SV_EV_OPENED }); }
static void ev_delivered(struct run *r) { step(r, (struct sv_event){ .type = SV_EV_DELIVERED }); }
static void ev_timer(struct run *r) { step(r, (struct sv_event){ .type = SV_EV_TIMER }); }

static void ev_response(struct run *r, int status, bool ct_ok, uint64_t retry_after)
{
	step(r, (struct sv_event){ .type = SV_EV_RESPONSE, .status = status, .content_type_ok = ct_ok,
				   .retry_after_usec = retry_after });
}

static void ev_closed(struct run *r, enum sv_close close, enum sv_reason reason)
{
	step(r, (struct sv_event){ .type = SV_EV_CLOSED, .close = close, .reason = reason });
}

static void open_stream(struct run *r)
{
	ev_response(r, 200, true, 0);
	ck_assert(!r->a.abort);
	ev_opened(r);
	ck_assert_int_eq(r->s.phase, SV_OPEN);
}

/* Expects the last step to have scheduled a reconnect after delay. */
static void expect_wait(struct run *r, uint64_t delay)
{
	ck_assert_msg(r->s.phase == SV_WAITING, "phase %s, expected waiting", sv_phase_to_string(r->s.phase));
	ck_assert(r->a.arm_timer);
	ck_assert(!r->a.connect);
	ck_assert_uint_eq(r->a.timer_at, r->now + delay);
	ck_assert_uint_eq(r->s.reconnect_at, r->now + delay);
}

/* Lets the reconnect timer fire and checks a new attempt starts. */
static void fire_timer(struct run *r)
{
	r->now = r->s.reconnect_at;
	ev_timer(r);
	ck_assert_int_eq(r->s.phase, SV_CONNECTING);
	ck_assert(r->a.connect);
}

/* ------------------------------------------------------------ start, open */

START_TEST(test_start_connects_once)
{
	struct run r;

	run_init(&r);
	ev_start(&r);
	ck_assert_int_eq(r.s.phase, SV_CONNECTING);
	ck_assert(r.a.connect);
	ck_assert_uint_eq(r.s.attempt_at, r.now);
	ev_start(&r);
	ck_assert(!r.a.connect);	/* already started: nothing */
	open_stream(&r);
	ck_assert_uint_eq(r.s.opened_at, r.now);
	ck_assert_uint_eq(r.s.http_status, 200);
}
END_TEST

START_TEST(test_events_out_of_phase_change_nothing)
{
	struct run r;
	struct sv_state before;

	run_init(&r);
	before = r.s;
	ev_opened(&r);
	ev_delivered(&r);
	ev_timer(&r);
	ev_closed(&r, SV_CLOSE_ERROR, SV_REASON_TRANSPORT);
	ev_response(&r, 500, false, 0);
	step(&r, (struct sv_event){ .type = SV_EV_AUTH_REFRESHED, .ok = true });
	ck_assert_int_eq(r.s.phase, before.phase);
	ck_assert(!r.a.connect && !r.a.abort && !r.a.arm_timer);
	ck_assert_uint_eq(r.s.failures, 0);
}
END_TEST

/* ------------------------------------------------------------ statuses */

START_TEST(test_status_table)
{
	static const struct {
		int status;
		bool ct_ok;
		enum sv_phase phase;
		enum sv_reason reason;
		bool backoff;
	} rows[] = {
		{ 200, false, SV_FAILED, SV_REASON_CONTENT_TYPE, false },
		{ 204, true, SV_STOPPED, SV_REASON_NO_CONTENT, false },
		{ 400, false, SV_FAILED, SV_REASON_HTTP_STATUS, false },
		{ 401, false, SV_FAILED, SV_REASON_AUTH, false },
		{ 403, false, SV_FAILED, SV_REASON_HTTP_STATUS, false },
		{ 404, false, SV_FAILED, SV_REASON_HTTP_STATUS, false },
		{ 410, false, SV_FAILED, SV_REASON_HTTP_STATUS, false },
		{ 301, false, SV_FAILED, SV_REASON_HTTP_STATUS, false },
		{ 206, true, SV_FAILED, SV_REASON_HTTP_STATUS, false },
		{ 408, false, SV_WAITING, SV_REASON_HTTP_STATUS, true },
		{ 425, false, SV_WAITING, SV_REASON_HTTP_STATUS, true },
		{ 429, false, SV_WAITING, SV_REASON_HTTP_STATUS, true },
		{ 500, false, SV_WAITING, SV_REASON_HTTP_STATUS, true },
		{ 502, false, SV_WAITING, SV_REASON_HTTP_STATUS, true },
		{ 503, false, SV_WAITING, SV_REASON_HTTP_STATUS, true },
		{ 599, false, SV_WAITING, SV_REASON_HTTP_STATUS, true },
	};

	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		struct run r;

		run_init(&r);
		ev_start(&r);
		ev_response(&r, rows[i].status, rows[i].ct_ok, 0);
		ck_assert_msg(r.s.phase == rows[i].phase, "status %d: phase %s", rows[i].status,
			      sv_phase_to_string(r.s.phase));
		ck_assert_msg(r.s.reason == rows[i].reason, "status %d: reason %s", rows[i].status,
			      sv_reason_to_string(r.s.reason));
		ck_assert_int_eq(r.s.http_status, rows[i].status);
		ck_assert(r.a.abort);
		if (rows[i].backoff) {
			expect_wait(&r, MS(125));
			ck_assert_uint_eq(r.s.failures, 1);
		} else {
			ck_assert(sv_is_final(&r.s));
			ck_assert(r.a.disarm_timer && !r.a.connect && !r.a.arm_timer);
		}
	}
}
END_TEST

START_TEST(test_final_phases_ignore_everything_but_nothing_reconnects)
{
	struct run r;

	run_init(&r);
	ev_start(&r);
	ev_response(&r, 404, false, 0);
	ck_assert_int_eq(r.s.phase, SV_FAILED);
	ev_timer(&r);
	ev_start(&r);
	ev_closed(&r, SV_CLOSE_ERROR, SV_REASON_TRANSPORT);
	step(&r, (struct sv_event){ .type = SV_EV_STOP });
	ck_assert_int_eq(r.s.phase, SV_FAILED);
	ck_assert_int_eq(r.s.reason, SV_REASON_HTTP_STATUS);
	ck_assert(!r.a.connect);
}
END_TEST

START_TEST(test_retry_after_honoured_and_capped)
{
	struct run r;

	run_init(&r);
	ev_start(&r);
	ev_response(&r, 429, false, S(20));
	expect_wait(&r, S(20));
	fire_timer(&r);
	ev_response(&r, 503, false, S(3600));
	expect_wait(&r, S(300));
	fire_timer(&r);
	/* A Retry-After shorter than the backoff does not shorten it. */
	r.s.failures = 10;
	ev_response(&r, 503, false, MS(1));
	expect_wait(&r, S(15));
}
END_TEST

START_TEST(test_401_refreshes_once)
{
	struct run r;

	run_init(&r);
	r.p.can_refresh_auth = true;
	ev_start(&r);
	ev_response(&r, 401, false, 0);
	ck_assert_int_eq(r.s.phase, SV_REFRESHING);
	ck_assert(r.a.refresh_auth && r.a.abort && !r.a.connect);
	step(&r, (struct sv_event){ .type = SV_EV_AUTH_REFRESHED, .ok = true });
	ck_assert_int_eq(r.s.phase, SV_CONNECTING);
	ck_assert(r.a.connect);
	/* A second 401 right after the refresh fails the listener. */
	ev_response(&r, 401, false, 0);
	ck_assert_int_eq(r.s.phase, SV_FAILED);
	ck_assert_int_eq(r.s.reason, SV_REASON_AUTH);
}
END_TEST

START_TEST(test_401_refresh_again_after_a_good_stream)
{
	struct run r;

	run_init(&r);
	r.p.can_refresh_auth = true;
	ev_start(&r);
	ev_response(&r, 401, false, 0);
	step(&r, (struct sv_event){ .type = SV_EV_AUTH_REFRESHED, .ok = true });
	open_stream(&r);
	ev_closed(&r, SV_CLOSE_ERROR, SV_REASON_TRANSPORT);
	fire_timer(&r);
	/* The token expired again later: one more refresh is allowed. */
	ev_response(&r, 401, false, 0);
	ck_assert_int_eq(r.s.phase, SV_REFRESHING);
	step(&r, (struct sv_event){ .type = SV_EV_AUTH_REFRESHED, .ok = false });
	ck_assert_int_eq(r.s.phase, SV_FAILED);
	ck_assert_int_eq(r.s.reason, SV_REASON_AUTH);
}
END_TEST

/* ------------------------------------------------------------ closes */

START_TEST(test_errors_back_off_exponentially_and_forever)
{
	static const uint64_t ceilings_ms[] = { 250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000 };
	struct run r;

	run_init(&r);
	ev_start(&r);
	for (size_t i = 0; i < ELEMENTSOF(ceilings_ms); i++) {
		ev_closed(&r, SV_CLOSE_ERROR, SV_REASON_TRANSPORT);
		expect_wait(&r, MS(ceilings_ms[i]) / 2);
		ck_assert_uint_eq(r.s.failures, i + 1);
		fire_timer(&r);
	}
	ck_assert_uint_eq(r.s.reconnects, ELEMENTSOF(ceilings_ms));
}
END_TEST

START_TEST(test_opening_alone_does_not_reset_backoff)
{
	struct run r;

	run_init(&r);
	ev_start(&r);
	for (int i = 0; i < 4; i++) {
		ev_closed(&r, SV_CLOSE_ERROR, SV_REASON_TRANSPORT);
		fire_timer(&r);
	}
	open_stream(&r);
	r.now += S(5);
	ev_closed(&r, SV_CLOSE_ERROR, SV_REASON_IDLE);
	ck_assert_uint_eq(r.s.failures, 5);
	expect_wait(&r, MS(2000));
	ck_assert_int_eq(r.s.reason, SV_REASON_IDLE);
}
END_TEST

START_TEST(test_delivery_resets_backoff)
{
	struct run r;

	run_init(&r);
	ev_start(&r);
	for (int i = 0; i < 4; i++) {
		ev_closed(&r, SV_CLOSE_ERROR, SV_REASON_TRANSPORT);
		fire_timer(&r);
	}
	open_stream(&r);
	ev_delivered(&r);
	ck_assert_uint_eq(r.s.failures, 0);
	ev_closed(&r, SV_CLOSE_ERROR, SV_REASON_TRANSPORT);
	expect_wait(&r, MS(125));
}
END_TEST

START_TEST(test_healthy_period_resets_backoff)
{
	struct run r;

	run_init(&r);
	ev_start(&r);
	for (int i = 0; i < 6; i++) {
		ev_closed(&r, SV_CLOSE_ERROR, SV_REASON_TRANSPORT);
		fire_timer(&r);
	}
	open_stream(&r);
	r.now += S(59);
	ev_closed(&r, SV_CLOSE_ERROR, SV_REASON_IDLE);
	expect_wait(&r, MS(8000));	/* 59 s is not healthy enough */
	fire_timer(&r);
	open_stream(&r);
	r.now += S(60);
	ev_closed(&r, SV_CLOSE_ERROR, SV_REASON_IDLE);
	expect_wait(&r, MS(125));
}
END_TEST

START_TEST(test_clean_eof_waits_reconnection_time)
{
	struct run r;

	run_init(&r);
	ev_start(&r);
	open_stream(&r);
	ev_delivered(&r);
	ev_closed(&r, SV_CLOSE_EOF, SV_REASON_EOF);
	expect_wait(&r, MS(125));
	ck_assert_uint_eq(r.s.failures, 0);
	fire_timer(&r);
	/* retry: 3000 makes the reconnection time 3 s, a minimum (spread to
	 * 3..4.5 s; rnd 0 here gives the least). */
	step(&r, (struct sv_event){ .type = SV_EV_RETRY, .retry_ms = 3000 });
	open_stream(&r);
	ev_delivered(&r);
	ev_closed(&r, SV_CLOSE_EOF, SV_REASON_EOF);
	expect_wait(&r, MS(3000));
}
END_TEST

/* A retry: below our own base is still a minimum: the wait, spread from
 * half the base, never goes under it. */
START_TEST(test_small_retry_field_is_a_floor)
{
	struct run r;

	run_init(&r);
	step(&r, (struct sv_event){ .type = SV_EV_RETRY, .retry_ms = 200 });
	ev_start(&r);
	open_stream(&r);
	ev_delivered(&r);
	ev_closed(&r, SV_CLOSE_EOF, SV_REASON_EOF);
	expect_wait(&r, MS(200));	/* rnd 0: 125 ms spread, raised to 200 */
}
END_TEST

START_TEST(test_retry_field_raises_base_and_cap)
{
	struct run r;

	run_init(&r);
	step(&r, (struct sv_event){ .type = SV_EV_RETRY, .retry_ms = 60000 });
	ck_assert_uint_eq(r.s.retry_ms, 60000);
	ev_start(&r);
	ev_closed(&r, SV_CLOSE_ERROR, SV_REASON_TRANSPORT);
	expect_wait(&r, S(60));	/* never below what the server asked */
	fire_timer(&r);
	ev_closed(&r, SV_CLOSE_ERROR, SV_REASON_TRANSPORT);
	expect_wait(&r, S(60));	/* the cap is the base: no growth beyond 60..90 s */
}
END_TEST

START_TEST(test_retry_field_capped_like_retry_after)
{
	struct run r;

	run_init(&r);
	step(&r, (struct sv_event){ .type = SV_EV_RETRY, .retry_ms = UINT32_MAX });	/* ~49.7 days */
	ev_start(&r);
	ev_closed(&r, SV_CLOSE_ERROR, SV_REASON_TRANSPORT);
	expect_wait(&r, S(300));	/* 300 s, spread to 300..450 s */
	fire_timer(&r);
	ev_closed(&r, SV_CLOSE_ERROR, SV_REASON_TRANSPORT);
	expect_wait(&r, S(300));
}
END_TEST

START_TEST(test_immediate_close_reconnects_at_once)
{
	struct run r;

	run_init(&r);
	ev_start(&r);
	open_stream(&r);
	r.now += S(3600);
	ev_closed(&r, SV_CLOSE_IMMEDIATE, SV_REASON_SERVER_CLOSE);
	ck_assert_int_eq(r.s.phase, SV_CONNECTING);
	ck_assert(r.a.connect && !r.a.arm_timer);
	ck_assert_int_eq(r.s.reason, SV_REASON_SERVER_CLOSE);
}
END_TEST

START_TEST(test_shutdown_close_waits_short_fixed_delay)
{
	struct run r;

	run_init(&r);
	ev_start(&r);
	open_stream(&r);
	r.now += S(10);
	ev_closed(&r, SV_CLOSE_SHUTDOWN, SV_REASON_SERVER_CLOSE);
	expect_wait(&r, S(5));
}
END_TEST

START_TEST(test_short_sessions_are_throttled)
{
	struct run r;

	run_init(&r);
	ev_start(&r);
	/* A server that accepts and closes at once, asking for an immediate
	 * reconnect each time, still gets growing delays. */
	for (uint32_t i = 0; i < 5; i++) {
		open_stream(&r);
		r.now += MS(10);
		ev_closed(&r, SV_CLOSE_IMMEDIATE, SV_REASON_SERVER_CLOSE);
		expect_wait(&r, backoff_ceiling(MS(250), S(30), i) / 2);
		fire_timer(&r);
	}
	ck_assert_uint_eq(r.s.short_sessions, 5);
	/* One session of normal length ends the throttle. */
	open_stream(&r);
	r.now += S(2);
	ev_closed(&r, SV_CLOSE_IMMEDIATE, SV_REASON_SERVER_CLOSE);
	ck_assert(r.a.connect);
	ck_assert_uint_eq(r.s.short_sessions, 0);
}
END_TEST

START_TEST(test_short_session_never_waits_less_than_asked)
{
	struct run r;

	run_init(&r);
	ev_start(&r);
	open_stream(&r);
	r.now += MS(10);
	/* Short, and the server is shutting down: the 5 s stand. */
	ev_closed(&r, SV_CLOSE_SHUTDOWN, SV_REASON_SERVER_CLOSE);
	expect_wait(&r, S(5));
	ck_assert_uint_eq(r.s.short_sessions, 1);
	fire_timer(&r);
	/* Short after many: the throttle is longer than 5 s. */
	r.s.short_sessions = 8;
	open_stream(&r);
	r.now += MS(10);
	ev_closed(&r, SV_CLOSE_SHUTDOWN, SV_REASON_SERVER_CLOSE);
	expect_wait(&r, S(15));
}
END_TEST

START_TEST(test_short_session_with_delivery_is_not_short)
{
	struct run r;

	run_init(&r);
	ev_start(&r);
	open_stream(&r);
	ev_delivered(&r);
	r.now += MS(10);
	ev_closed(&r, SV_CLOSE_IMMEDIATE, SV_REASON_SERVER_CLOSE);
	ck_assert(r.a.connect);
}
END_TEST

START_TEST(test_close_before_open_is_a_failure)
{
	struct run r;

	run_init(&r);
	ev_start(&r);
	ev_response(&r, 200, true, 0);
	ev_closed(&r, SV_CLOSE_EOF, SV_REASON_PROTOCOL);
	expect_wait(&r, MS(125));
	ck_assert_uint_eq(r.s.failures, 1);
	ck_assert_int_eq(r.s.reason, SV_REASON_PROTOCOL);
}
END_TEST

/* ------------------------------------------------------------ stop, fatal */

START_TEST(test_stop_and_fatal_from_every_live_phase)
{
	static const enum sv_event_type kinds[] = { SV_EV_STOP, SV_EV_FATAL };

	for (size_t k = 0; k < ELEMENTSOF(kinds); k++)
		for (int phase = 0; phase < 4; phase++) {
			struct run r;

			run_init(&r);
			r.p.can_refresh_auth = true;
			if (phase >= 1)
				ev_start(&r);			/* connecting */
			if (phase == 2)
				open_stream(&r);		/* open */
			if (phase == 3)
				ev_closed(&r, SV_CLOSE_ERROR, SV_REASON_TRANSPORT);	/* waiting */
			step(&r, (struct sv_event){ .type = kinds[k], .reason = SV_REASON_STATE });
			ck_assert(r.a.abort && r.a.disarm_timer && !r.a.connect);
			if (kinds[k] == SV_EV_STOP) {
				ck_assert_int_eq(r.s.phase, SV_STOPPED);
				ck_assert_int_eq(r.s.reason, SV_REASON_OPERATOR);
			} else {
				ck_assert_int_eq(r.s.phase, SV_FAILED);
				ck_assert_int_eq(r.s.reason, SV_REASON_STATE);
			}
		}
}
END_TEST

START_TEST(test_names)
{
	for (int p = SV_IDLE; p <= SV_FAILED; p++)
		ck_assert_str_ne(sv_phase_to_string(p), "unknown");
	for (int r = 0; r < _SV_REASON_MAX; r++)
		ck_assert_str_ne(sv_reason_to_string(r), "unknown");
	ck_assert_str_eq(sv_phase_to_string(99), "unknown");
}
END_TEST

Suite *supervisor_suite(void)
{
	Suite *s = suite_create("supervisor");
	TCase *tc;

	tc = tcase_create("backoff");
	tcase_add_test(tc, test_backoff_ceiling_doubles_to_cap);
	tcase_add_test(tc, test_backoff_delay_within_half_to_ceiling);
	tcase_add_test(tc, test_backoff_random_spreads);
	suite_add_tcase(s, tc);

	tc = tcase_create("transitions");
	tcase_add_test(tc, test_start_connects_once);
	tcase_add_test(tc, test_events_out_of_phase_change_nothing);
	tcase_add_test(tc, test_status_table);
	tcase_add_test(tc, test_final_phases_ignore_everything_but_nothing_reconnects);
	tcase_add_test(tc, test_retry_after_honoured_and_capped);
	tcase_add_test(tc, test_401_refreshes_once);
	tcase_add_test(tc, test_401_refresh_again_after_a_good_stream);
	tcase_add_test(tc, test_errors_back_off_exponentially_and_forever);
	tcase_add_test(tc, test_opening_alone_does_not_reset_backoff);
	tcase_add_test(tc, test_delivery_resets_backoff);
	tcase_add_test(tc, test_healthy_period_resets_backoff);
	tcase_add_test(tc, test_clean_eof_waits_reconnection_time);
	tcase_add_test(tc, test_small_retry_field_is_a_floor);
	tcase_add_test(tc, test_retry_field_raises_base_and_cap);
	tcase_add_test(tc, test_retry_field_capped_like_retry_after);
	tcase_add_test(tc, test_immediate_close_reconnects_at_once);
	tcase_add_test(tc, test_shutdown_close_waits_short_fixed_delay);
	tcase_add_test(tc, test_short_sessions_are_throttled);
	tcase_add_test(tc, test_short_session_never_waits_less_than_asked);
	tcase_add_test(tc, test_short_session_with_delivery_is_not_short);
	tcase_add_test(tc, test_close_before_open_is_a_failure);
	tcase_add_test(tc, test_stop_and_fatal_from_every_live_phase);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return s;
}
