/* SPDX-License-Identifier: MIT */
/*
 * sse_parser: the conformance table (tests/sse_vectors.h) run whole, byte by
 * byte, and cut at every 2-way and 3-way point, then behaviour the table
 * cannot express: limits, reset, restored ids, callback errors.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "suites.h"
#include "sse_parser.h"
#include "sse_transcript.h"
#include "sse_vectors.h"

/* One transcript buffer for all runs of a test: millions of splits are run. */
static struct dbuf got;

static void got_setup(void)
{
	dbuf_init(&got, TRANSCRIPT_MAX);
}

static void got_teardown(void)
{
	dbuf_free(&got);
}

static void expect_transcript(const struct sse_vector *v, const size_t *cuts, size_t ncuts,
			      const char *how)
{
	int r = transcript_run(&got, NULL, v->input, v->input_len, cuts, ncuts);

	/* Plain ifs: ck_assert records a mark point per call, and this runs
	 * millions of times. */
	if (r != 0)
		ck_abort_msg("%s (%s): parser returned %d", v->name, how, r);
	if (strcmp(dbuf_str(&got), v->expect) != 0)
		ck_abort_msg("%s (%s, cuts %zu %zu):\n--- expected\n%s--- got\n%s", v->name, how,
			     ncuts > 0 ? cuts[0] : 0, ncuts > 1 ? cuts[1] : 0, v->expect, dbuf_str(&got));
}

START_TEST(test_vector_whole)
{
	expect_transcript(&sse_vectors[_i], NULL, 0, "whole");
}
END_TEST

START_TEST(test_vector_declared_chunks)
{
	const struct sse_vector *v = &sse_vectors[_i];
	size_t cuts[8], n = 0, at = 0;

	for (size_t i = 0; i < ELEMENTSOF(v->chunks) && v->chunks[i] && at + v->chunks[i] < v->input_len; i++)
		cuts[n++] = at += v->chunks[i];
	expect_transcript(v, cuts, n, "declared chunks");
}
END_TEST

START_TEST(test_vector_byte_by_byte)
{
	const struct sse_vector *v = &sse_vectors[_i];
	size_t *cuts = calloc(v->input_len + 1, sizeof(*cuts));

	ck_assert_ptr_nonnull(cuts);
	for (size_t i = 1; i < v->input_len; i++)
		cuts[i - 1] = i;
	expect_transcript(v, cuts, v->input_len ? v->input_len - 1 : 0, "byte by byte");
	free(cuts);
}
END_TEST

START_TEST(test_vector_every_2way_split)
{
	const struct sse_vector *v = &sse_vectors[_i];

	for (size_t i = 0; i <= v->input_len; i++)
		expect_transcript(v, &i, 1, "2-way");
}
END_TEST

START_TEST(test_vector_every_3way_split)
{
	const struct sse_vector *v = &sse_vectors[_i];

	for (size_t i = 0; i <= v->input_len; i++)
		for (size_t j = i; j <= v->input_len; j++) {
			size_t cuts[2] = { i, j };

			expect_transcript(v, cuts, 2, "3-way");
		}
}
END_TEST

START_TEST(test_vector_names_unique_and_inputs_short)
{
	for (size_t i = 0; i < SSE_VECTORS_COUNT; i++) {
		ck_assert_msg(sse_vectors[i].input_len < 1000, "%s: too long for 3-way splits",
			      sse_vectors[i].name);
		for (size_t j = i + 1; j < SSE_VECTORS_COUNT; j++)
			ck_assert_msg(strcmp(sse_vectors[i].name, sse_vectors[j].name) != 0,
				      "duplicate vector name %s", sse_vectors[i].name);
	}
}
END_TEST

/* Stops after every k-th event and feeds the rest afterwards: the same
 * transcript as one feed, and never a byte left out. */
struct stopper {
	struct dbuf *out;
	unsigned every, seen, stops;
};

static int stop_every(void *userdata, const struct sse_note *n)
{
	struct stopper *st = userdata;
	int r = transcript_record(st->out, n);

	if (r < 0 || n->kind != SSE_NOTE_EVENT)
		return r;
	if (++st->seen % st->every == 0) {
		st->stops++;
		return SSE_PARSER_STOP;
	}
	return 0;
}

START_TEST(test_vector_stop_after_events)
{
	const struct sse_vector *v = &sse_vectors[_i];

	for (unsigned every = 1; every <= 3; every++) {
		struct stopper st = { .out = &got, .every = every };
		struct sse_parser p;
		size_t at = 0, consumed, calls = 0;

		dbuf_reset(&got);
		sse_parser_init(&p, NULL, stop_every, &st);
		/* Fed whole: each stop hands back the rest, which is fed next. */
		do {
			ck_assert_int_eq(sse_parser_feed_some(&p, v->input + at, v->input_len - at, &consumed), 0);
			ck_assert_uint_le(consumed, v->input_len - at);
			at += consumed;
			calls++;
		} while (at < v->input_len);
		ck_assert_int_eq(transcript_finish(&got, &p), 0);
		sse_parser_done(&p);
		if (strcmp(dbuf_str(&got), v->expect) != 0)
			ck_abort_msg("%s (stop every %u):\n--- expected\n%s--- got\n%s", v->name, every, v->expect,
				     dbuf_str(&got));
		/* Each stop returned early, so there was one more call. */
		ck_assert_uint_ge(calls, st.stops);
	}
}
END_TEST

START_TEST(test_stop_reports_the_bytes_used)
{
	static const char in[] = "data: a\n\ndata: b\r\n\r\ndata: c\r\rdata: d\n\n";
	struct stopper st = { .out = &got, .every = 1 };
	struct sse_parser p;
	size_t consumed;

	dbuf_reset(&got);
	sse_parser_init(&p, NULL, stop_every, &st);
	ck_assert_int_eq(sse_parser_feed_some(&p, in, STRLEN(in), &consumed), 0);
	ck_assert_uint_eq(consumed, 9);			/* after "data: a\n\n" */
	/* "data: b\r\n" and the CR of the blank line; its LF waits for the next feed. */
	ck_assert_int_eq(sse_parser_feed_some(&p, in + 9, STRLEN(in) - 9, &consumed), 0);
	ck_assert_uint_eq(consumed, 10);
	/* "\ndata: c\r\r": the LF is swallowed as the end of that CRLF. */
	ck_assert_int_eq(sse_parser_feed_some(&p, in + 19, STRLEN(in) - 19, &consumed), 0);
	ck_assert_uint_eq(consumed, 10);
	ck_assert_int_eq(sse_parser_feed_some(&p, in + 29, STRLEN(in) - 29, &consumed), 0);
	ck_assert_uint_eq(consumed, STRLEN(in) - 29);
	ck_assert_str_eq(dbuf_str(&got), "event type=\"message\" data=\"a\" id=-\n"
					 "event type=\"message\" data=\"b\" id=-\n"
					 "event type=\"message\" data=\"c\" id=-\n"
					 "event type=\"message\" data=\"d\" id=-\n");
	sse_parser_done(&p);
}
END_TEST

START_TEST(test_plain_feed_never_stops)
{
	struct stopper st = { .out = &got, .every = 1 };
	struct sse_parser p;

	dbuf_reset(&got);
	sse_parser_init(&p, NULL, stop_every, &st);
	ck_assert_int_eq(sse_parser_feed(&p, "data: a\n\ndata: b\n\n", 18), 0);
	sse_parser_done(&p);
	ck_assert_uint_eq(st.seen, 2);
}
END_TEST

/* ------------------------------------------------------------ helpers */

struct harness {
	struct sse_parser p;
	struct dbuf out;
};

static void harness_init(struct harness *h, size_t max_line, size_t max_event)
{
	struct sse_parser_limits limits = { .max_line = max_line, .max_event = max_event };

	dbuf_init(&h->out, TRANSCRIPT_MAX);
	sse_parser_init(&h->p, &limits, transcript_record, &h->out);
}

static void harness_feed(struct harness *h, const char *s)
{
	ck_assert_int_eq(sse_parser_feed(&h->p, s, strlen(s)), 0);
}

static void harness_feed_n(struct harness *h, const void *s, size_t n)
{
	ck_assert_int_eq(sse_parser_feed(&h->p, s, n), 0);
}

/* Compares and clears the transcript so far (without the "last" line). */
static void harness_expect(struct harness *h, const char *expect)
{
	ck_assert_str_eq(dbuf_str(&h->out), expect);
	dbuf_reset(&h->out);
}

static void harness_done(struct harness *h)
{
	sse_parser_done(&h->p);
	dbuf_free(&h->out);
}

/* ------------------------------------------------------------ reset */

START_TEST(test_reset_discards_partial_event_and_its_id)
{
	struct harness h;

	harness_init(&h, 0, 0);
	harness_feed(&h, "id: abc\ndata: one\n\nid: def\ndata: partial");
	harness_expect(&h, "event type=\"message\" data=\"one\" id=\"abc\"\n");
	sse_parser_reset(&h.p);
	harness_feed(&h, "data: two\n\n");
	harness_expect(&h, "event type=\"message\" data=\"two\" id=\"abc\"\n");
	harness_done(&h);
}
END_TEST

START_TEST(test_reset_discards_half_line_and_pending_cr)
{
	struct harness h;

	harness_init(&h, 0, 0);
	/* The stream ends after a CR; the next connection's LF must start a
	 * blank line of its own, not finish the old CR. */
	harness_feed(&h, "data: x\r");
	sse_parser_reset(&h.p);
	harness_feed(&h, "\ndata: y\n\n");
	harness_expect(&h, "event type=\"message\" data=\"y\" id=-\n");
	harness_feed(&h, "event: half");
	sse_parser_reset(&h.p);
	harness_feed(&h, "data: z\n\n");
	harness_expect(&h, "event type=\"message\" data=\"z\" id=-\n");
	harness_done(&h);
}
END_TEST

START_TEST(test_reset_expects_bom_again)
{
	struct harness h;

	harness_init(&h, 0, 0);
	harness_feed(&h, "\xEF\xBB\xBF" "data: a\n\n");
	sse_parser_reset(&h.p);
	harness_feed(&h, "\xEF\xBB");
	harness_feed(&h, "\xBF" "data: b\n\n");
	harness_expect(&h, "event type=\"message\" data=\"a\" id=-\n"
			   "event type=\"message\" data=\"b\" id=-\n");
	/* Only at the start: a mid-stream BOM begins an unknown field name. */
	harness_feed(&h, "\xEF\xBB\xBF" "data: c\n\n");
	harness_expect(&h, "");
	harness_done(&h);
}
END_TEST

START_TEST(test_reset_with_partial_bom_discards_it)
{
	struct harness h;

	harness_init(&h, 0, 0);
	harness_feed(&h, "\xEF\xBB");
	sse_parser_reset(&h.p);
	harness_feed(&h, "data: a\n\n");
	harness_expect(&h, "event type=\"message\" data=\"a\" id=-\n");
	harness_done(&h);
}
END_TEST

/* ------------------------------------------------------------ last id */

START_TEST(test_restored_id_is_used_and_overridden)
{
	struct harness h;
	const char *id;
	size_t len;

	harness_init(&h, 0, 0);
	ck_assert(!sse_parser_last_id(&h.p, &id, &len));
	ck_assert_str_eq(id, "");
	ck_assert_int_eq(sse_parser_set_last_id(&h.p, "41", 2, true), 0);
	ck_assert(sse_parser_last_id(&h.p, &id, &len));
	ck_assert_str_eq(id, "41");
	harness_feed(&h, "data: a\n\nid: 42\n\n");
	harness_expect(&h, "event type=\"message\" data=\"a\" id=\"41\"\n"
			   "id \"42\"\n");
	/* Setting the same id again is no change, so no note. */
	harness_feed(&h, "id: 42\n\n");
	harness_expect(&h, "");
	harness_done(&h);
}
END_TEST

START_TEST(test_empty_id_is_set_not_absent)
{
	struct harness h;
	const char *id;
	size_t len = 99;

	harness_init(&h, 0, 0);
	ck_assert_int_eq(sse_parser_set_last_id(&h.p, "", 0, true), 0);
	ck_assert(sse_parser_last_id(&h.p, &id, &len));
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(sse_parser_set_last_id(&h.p, NULL, 0, false), 0);
	ck_assert(!sse_parser_last_id(&h.p, NULL, NULL));
	harness_feed(&h, "id\n\n");
	harness_expect(&h, "id \"\"\n");
	ck_assert(sse_parser_last_id(&h.p, &id, &len));
	ck_assert_uint_eq(len, 0);
	harness_done(&h);
}
END_TEST

START_TEST(test_set_last_id_rejects_nul_and_oversize)
{
	struct harness h;
	const char *id;

	harness_init(&h, 8, 0);
	ck_assert_int_eq(sse_parser_set_last_id(&h.p, "a\0b", 3, true), -EINVAL);
	ck_assert_int_eq(sse_parser_set_last_id(&h.p, "123456789", 9, true), -E2BIG);
	ck_assert(!sse_parser_last_id(&h.p, &id, NULL));
	ck_assert_int_eq(sse_parser_set_last_id(&h.p, "12345678", 8, true), 0);
	ck_assert(sse_parser_last_id(&h.p, &id, NULL));
	ck_assert_str_eq(id, "12345678");
	harness_done(&h);
}
END_TEST

/* ------------------------------------------------------------ limits */

START_TEST(test_oversize_event_is_reported_and_stream_goes_on)
{
	struct harness h;

	harness_init(&h, 0, 16);
	harness_feed(&h, "event: big\nid: 7\ndata: 0123456789\ndata: 0123456789\n\n");
	/* data bytes: 10 + LF + 10 + LF = 22; the id of the skipped event counts. */
	harness_expect(&h, "oversize type=\"big\" id=\"7\" size=22\n");
	ck_assert_ptr_null(h.p.data.buf);
	harness_feed(&h, "data: small\n\n");
	harness_expect(&h, "event type=\"message\" data=\"small\" id=\"7\"\n");
	harness_done(&h);
}
END_TEST

START_TEST(test_event_exactly_at_limit_is_dispatched)
{
	struct harness h;

	harness_init(&h, 0, 11);
	/* "0123456789" plus its line feed is exactly 11 bytes. */
	harness_feed(&h, "data: 0123456789\n\n");
	harness_expect(&h, "event type=\"message\" data=\"0123456789\" id=-\n");
	harness_done(&h);
}
END_TEST

START_TEST(test_overlong_line_makes_event_oversize)
{
	struct harness h;

	harness_init(&h, 8, 1000);
	/* The data line is 9 bytes of value: longer than max_line. */
	harness_feed(&h, "data: 123456789\n\ndata: ok\n\n");
	harness_expect(&h, "oversize type=\"message\" id=- size=10\n"
			   "event type=\"message\" data=\"ok\" id=-\n");
	harness_done(&h);
}
END_TEST

START_TEST(test_overlong_id_is_ignored_and_event_oversize)
{
	struct harness h;

	harness_init(&h, 4, 1000);
	harness_feed(&h, "id: 1\n\nid: 123456\ndata: x\n\ndata: y\n\n");
	harness_expect(&h, "id \"1\"\n"
			   "oversize type=\"message\" id=\"1\" size=2\n"
			   "event type=\"message\" data=\"y\" id=\"1\"\n");
	harness_done(&h);
}
END_TEST

START_TEST(test_overlong_event_type_without_data_fires_nothing)
{
	struct harness h;

	harness_init(&h, 4, 1000);
	harness_feed(&h, "event: toolong\n\ndata: y\n\n");
	harness_expect(&h, "event type=\"message\" data=\"y\" id=-\n");
	harness_done(&h);
}
END_TEST

START_TEST(test_long_comments_and_unknown_fields_cost_nothing)
{
	struct harness h;
	size_t n = 3 * 1024 * 1024;
	char *blob = malloc(n);

	ck_assert_ptr_nonnull(blob);
	memset(blob, 'z', n);
	harness_init(&h, 16, 16);
	harness_feed(&h, ":");
	harness_feed_n(&h, blob, n);
	harness_feed(&h, "\nunknown:");
	harness_feed_n(&h, blob, n);
	harness_feed(&h, "\n");
	harness_feed_n(&h, blob, n);	/* an overlong field name */
	harness_feed(&h, "\ndata: ok\n\n");
	harness_expect(&h, "event type=\"message\" data=\"ok\" id=-\n");
	ck_assert_uint_le(h.p.scratch.cap, 17);
	harness_done(&h);
	free(blob);
}
END_TEST

START_TEST(test_large_event_in_many_shapes)
{
	/* 300 KiB of data in one event: fed whole, byte by byte and cut at
	 * points around every line boundary. */
	size_t n = 300 * 1024, len;
	char *in = malloc(n + 64);
	struct dbuf whole;
	size_t lf[2];

	ck_assert_ptr_nonnull(in);
	len = (size_t)sprintf(in, "data: ");
	for (size_t i = 0; i < n; i++)
		in[len++] = (char)('a' + i % 26);
	len += (size_t)sprintf(in + len, "\ndata: tail\n\n");
	lf[0] = 6 + n;
	lf[1] = lf[0] + 11;

	dbuf_init(&whole, TRANSCRIPT_MAX);
	ck_assert_int_eq(transcript_run(&whole, NULL, in, len, NULL, 0), 0);
	ck_assert_uint_eq(whole.len, n + 50);
	ck_assert(strstr(dbuf_str(&whole), "\\ntail\" id=-\n"));

	for (size_t k = 0; k < 2; k++)
		for (size_t c = lf[k] - 3; c <= lf[k] + 3 && c <= len; c++) {
			ck_assert_int_eq(transcript_run(&got, NULL, in, len, &c, 1), 0);
			ck_assert_str_eq(dbuf_str(&got), dbuf_str(&whole));
		}

	{
		struct sse_parser p;

		dbuf_reset(&got);
		sse_parser_init(&p, NULL, transcript_record, &got);
		for (size_t i = 0; i < len; i++)
			ck_assert_int_eq(sse_parser_feed(&p, in + i, 1), 0);
		ck_assert_int_eq(transcript_finish(&got, &p), 0);
		ck_assert_str_eq(dbuf_str(&got), dbuf_str(&whole));
		/* The large data buffer is released after dispatch. */
		ck_assert_ptr_null(p.data.buf);
		sse_parser_done(&p);
	}
	dbuf_free(&whole);
	free(in);
}
END_TEST

/* ------------------------------------------------------------ callback */

static int fail_on_second(void *userdata, const struct sse_note *n)
{
	int *count = userdata;

	(void)n;
	return ++*count == 2 ? -EIO : 0;
}

START_TEST(test_callback_error_stops_feed)
{
	struct sse_parser p;
	int count = 0;
	const char *in = "data: 1\n\ndata: 2\n\ndata: 3\n\n";

	sse_parser_init(&p, NULL, fail_on_second, &count);
	ck_assert_int_eq(sse_parser_feed(&p, in, strlen(in)), -EIO);
	ck_assert_int_eq(count, 2);
	sse_parser_reset(&p);
	ck_assert_int_eq(sse_parser_feed(&p, "data: 4\n\n", 9), 0);
	ck_assert_int_eq(count, 3);
	sse_parser_done(&p);
}
END_TEST

START_TEST(test_retry_reported_immediately_not_at_dispatch)
{
	struct harness h;

	harness_init(&h, 0, 0);
	harness_feed(&h, "data: a\nretry: 2500\n");
	harness_expect(&h, "retry 2500\n");
	harness_feed(&h, "retry: 99999999999999999999\n\n");
	harness_expect(&h, "retry 4294967295\n"
			   "event type=\"message\" data=\"a\" id=-\n");
	harness_done(&h);
}
END_TEST

Suite *sse_parser_suite(void)
{
	Suite *s = suite_create("sse_parser");
	TCase *tc;
	int n = (int)SSE_VECTORS_COUNT;

	tc = tcase_create("vectors");
	tcase_set_timeout(tc, 600);
	tcase_add_checked_fixture(tc, got_setup, got_teardown);
	tcase_add_test(tc, test_vector_names_unique_and_inputs_short);
	tcase_add_loop_test(tc, test_vector_whole, 0, n);
	tcase_add_loop_test(tc, test_vector_declared_chunks, 0, n);
	tcase_add_loop_test(tc, test_vector_byte_by_byte, 0, n);
	tcase_add_loop_test(tc, test_vector_every_2way_split, 0, n);
	tcase_add_loop_test(tc, test_vector_every_3way_split, 0, n);
	tcase_add_loop_test(tc, test_vector_stop_after_events, 0, n);
	tcase_add_test(tc, test_stop_reports_the_bytes_used);
	tcase_add_test(tc, test_plain_feed_never_stops);
	suite_add_tcase(s, tc);

	tc = tcase_create("reset");
	tcase_add_test(tc, test_reset_discards_partial_event_and_its_id);
	tcase_add_test(tc, test_reset_discards_half_line_and_pending_cr);
	tcase_add_test(tc, test_reset_expects_bom_again);
	tcase_add_test(tc, test_reset_with_partial_bom_discards_it);
	suite_add_tcase(s, tc);

	tc = tcase_create("last_id");
	tcase_add_test(tc, test_restored_id_is_used_and_overridden);
	tcase_add_test(tc, test_empty_id_is_set_not_absent);
	tcase_add_test(tc, test_set_last_id_rejects_nul_and_oversize);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, got_setup, got_teardown);
	tcase_add_test(tc, test_oversize_event_is_reported_and_stream_goes_on);
	tcase_add_test(tc, test_event_exactly_at_limit_is_dispatched);
	tcase_add_test(tc, test_overlong_line_makes_event_oversize);
	tcase_add_test(tc, test_overlong_id_is_ignored_and_event_oversize);
	tcase_add_test(tc, test_overlong_event_type_without_data_fires_nothing);
	tcase_add_test(tc, test_long_comments_and_unknown_fields_cost_nothing);
	tcase_add_test(tc, test_large_event_in_many_shapes);
	suite_add_tcase(s, tc);

	tc = tcase_create("callback");
	tcase_add_test(tc, test_callback_error_stops_feed);
	tcase_add_test(tc, test_retry_reported_immediately_not_at_dispatch);
	suite_add_tcase(s, tc);
	return s;
}
