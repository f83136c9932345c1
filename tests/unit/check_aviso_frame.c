/* SPDX-License-Identifier: MIT */
/*
 * aviso_frame: the verdict on each event of an aviso stream. A table of
 * edge cases (event name, data) -> verdict, then whole streams cut at every
 * point, which must give the same verdicts as the stream read at once.
 */
#include <check.h>

#include "aviso_frames.h"
#include "cleanup.h"
#include "macro.h"
#include "suites.h"

static const struct sse_parser_limits LIMITS = { SSE_PARSER_DEFAULT_MAX_LINE, SSE_PARSER_DEFAULT_MAX_EVENT };

#define CE(id) "{\"specversion\":\"1.0\",\"id\":" id ",\"type\":\"aviso\",\"data\":{}}"

static const struct {
	const char *name, *event, *data, *want;
} vectors[] = {
	/* notifications */
	{ "live", "live-notification", CE("\"mars@5\""), "notification id=\"mars@5\" seq=5" },
	{ "replay", "replay", CE("\"mars@1\""), "notification id=\"mars@1\" seq=1" },
	{ "last_at_counts", "replay", CE("\"a@b@42\""), "notification id=\"a@b@42\" seq=42" },
	{ "leading_zeros", "replay", CE("\"x@007\""), "notification id=\"x@007\" seq=7" },
	{ "seq_zero", "replay", CE("\"x@0\""), "notification id=\"x@0\" seq=0" },
	{ "uint64_max", "replay", CE("\"x@18446744073709551615\""), "notification id=\"x@18446744073709551615\" seq=18446744073709551615" },
	{ "uint64_overflow", "replay", CE("\"x@18446744073709551616\""), "notification id=\"x@18446744073709551616\" seq=bad" },
	{ "no_type", "replay", CE("\"@5\""), "notification id=\"@5\" seq=bad" },
	{ "no_seq", "replay", CE("\"x@\""), "notification id=\"x@\" seq=bad" },
	{ "no_at", "replay", CE("\"x5\""), "notification id=\"x5\" seq=bad" },
	{ "sign", "replay", CE("\"x@-5\""), "notification id=\"x@-5\" seq=bad" },
	{ "plus", "replay", CE("\"x@+5\""), "notification id=\"x@+5\" seq=bad" },
	{ "space", "replay", CE("\"x@5 \""), "notification id=\"x@5 \" seq=bad" },
	{ "hex", "replay", CE("\"x@0x5\""), "notification id=\"x@0x5\" seq=bad" },
	{ "id_number", "replay", CE("5"), "notification id=- seq=bad" },
	{ "id_null", "replay", CE("null"), "notification id=- seq=bad" },
	{ "id_missing", "replay", "{\"specversion\":\"1.0\"}", "notification id=- seq=bad" },
	{ "specversion_any_value", "live-notification", "{\"specversion\":null,\"id\":\"m@3\"}",
	  "notification id=\"m@3\" seq=3" },
	{ "notification_on_control_event", "replay-control", CE("\"m@3\""), "ignored" },
	/* control frames */
	{ "established", "live-notification", "{\"type\":\"connection_established\"}", "opened live" },
	{ "replay_started", "replay-control", "{\"type\":\"replay_started\"}", "opened replay" },
	{ "started_on_replay_event", "replay", "{\"type\":\"replay_started\"}", "opened replay" },
	{ "completed", "replay-control", "{\"type\":\"replay_completed\"}", "replay_completed" },
	{ "limit", "replay-control", "{\"type\":\"notification_replay_limit_reached\",\"max_allowed\":100}",
	  "replay_limit max=100" },
	{ "limit_no_max", "replay-control", "{\"type\":\"notification_replay_limit_reached\"}", "replay_limit max=0" },
	{ "limit_max_string", "replay-control", "{\"type\":\"notification_replay_limit_reached\",\"max_allowed\":\"9\"}",
	  "replay_limit max=0" },
	{ "unknown_type", "replay-control", "{\"type\":\"something_new\"}", "ignored" },
	{ "type_not_string", "replay-control", "{\"type\":7}", "ignored" },
	{ "no_type_member", "live-notification", "{}", "ignored" },
	{ "type_case", "replay-control", "{\"type\":\"Replay_Started\"}", "ignored" },
	/* closing */
	{ "max_duration", "connection-closing", "{\"reason\":\"max_duration_reached\"}",
	  "closing reason=\"max_duration_reached\" close=at_once eos=0" },
	{ "end_of_stream", "connection-closing", "{\"reason\":\"end_of_stream\"}",
	  "closing reason=\"end_of_stream\" close=at_once eos=1" },
	{ "shutdown", "connection-closing", "{\"reason\":\"server_shutdown\"}",
	  "closing reason=\"server_shutdown\" close=shutdown eos=0" },
	{ "other_reason", "connection-closing", "{\"reason\":\"tired\"}", "closing reason=\"tired\" close=error eos=0" },
	{ "no_reason", "connection-closing", "{}", "closing reason=- close=error eos=0" },
	{ "reason_not_string", "connection-closing", "{\"reason\":1}", "closing reason=- close=error eos=0" },
	/* errors */
	{ "error", "error", "{\"error\":\"internal\",\"message\":\"boom\"}",
	  "error kind=\"internal\" message=\"boom\" seq=-" },
	{ "error_bare", "error", "{}", "error kind=- message=- seq=-" },
	{ "error_seq", "error", "{\"error\":\"render\",\"sequence\":12}", "error kind=\"render\" message=- seq=12" },
	{ "error_seq_zero", "error", "{\"sequence\":0}", "error kind=- message=- seq=-" },
	{ "error_seq_negative", "error", "{\"sequence\":-3}", "error kind=- message=- seq=-" },
	{ "error_seq_string", "error", "{\"sequence\":\"12\"}", "error kind=- message=- seq=-" },
	{ "error_seq_real", "error", "{\"sequence\":12.0}", "error kind=- message=- seq=-" },
	/* data that is not a JSON object */
	{ "not_json", "replay", "nope", "malformed a replay frame whose data cannot be read: '[' or '{' expected near 'nope'" },
	{ "array", "live-notification", "[1]", "malformed a live-notification frame whose data is not a JSON object" },
	{ "empty", "connection-closing", "", "malformed a connection-closing frame whose data cannot be read: '[' or '{' expected near end of file" },
	{ "trailing", "error", "{} x", "malformed a error frame whose data cannot be read: end of file expected near 'x'" },
	{ "duplicate_key", "replay", "{\"id\":\"a@1\",\"id\":\"a@2\",\"specversion\":\"1.0\"}",
	  "malformed a replay frame whose data cannot be read: duplicate object key near '\"id\"'" },
	{ "truncated", "replay-control", "{\"type\":", "malformed a replay-control frame whose data cannot be read: unexpected token near end of file" },
	/* names */
	{ "heartbeat", "heartbeat", "not even json", "ignored" },
	{ "unknown_name", "something-new", "{\"specversion\":\"1.0\",\"id\":\"m@1\"}", "ignored" },
	{ "default_name", "message", CE("\"m@1\""), "ignored" },
	{ "name_case", "Replay", CE("\"m@1\""), "ignored" },
	{ "name_prefix", "replay-", CE("\"m@1\""), "ignored" },
};

static char *describe(const char *event, size_t event_len, const char *data, size_t len)
{
	struct aviso_frame f;
	struct dbuf o;

	dbuf_init(&o, TRANSCRIPT_MAX);
	aviso_frame_parse(event, event_len, data, len, &f);
	ck_assert_int_ge(frames_describe(&o, &f), 0);
	aviso_frame_done(&f);
	ck_assert_uint_gt(o.len, 0);
	o.buf[o.len - 1] = '\0';	/* the newline */
	return o.buf;
}

START_TEST(test_vectors)
{
	for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
		_cleanup_free_ char *got = describe(vectors[i].event, strlen(vectors[i].event), vectors[i].data,
						    strlen(vectors[i].data));

		ck_assert_msg(strcmp(got, vectors[i].want) == 0, "%s: got '%s', want '%s'", vectors[i].name, got,
			      vectors[i].want);
	}
}
END_TEST

/* The name is compared whole: a NUL inside does not end it early. */
START_TEST(test_event_name_with_nul)
{
	static const char name[] = "replay\0junk";
	_cleanup_free_ char *got = describe(name, sizeof(name) - 1, CE("\"m@1\""), strlen(CE("\"m@1\"")));

	ck_assert_str_eq(got, "ignored");
}
END_TEST

/* "\u0000" is valid JSON: a payload holding it is a notification like any
 * other; an id holding it is not the id its C string shows. */
START_TEST(test_nul_in_data)
{
	static const char payload[] = "{\"specversion\":\"1.0\",\"id\":\"m@1\",\"data\":{\"payload\":\"a\\u0000b\"}}";
	static const char id[] = "{\"specversion\":\"1.0\",\"id\":\"m@1\\u0000x\"}";
	_cleanup_free_ char *got = describe("replay", 6, payload, strlen(payload));
	_cleanup_free_ char *got_id = describe("replay", 6, id, strlen(id));

	ck_assert_str_eq(got, "notification id=\"m@1\" seq=1");
	ck_assert_str_eq(got_id, "notification id=\"m@1\" seq=bad");
}
END_TEST

/* A CloudEvent nested deeper than the state file could hold is flagged; the limit itself is kept. */
START_TEST(test_depth_limit)
{
	for (int extra = -1; extra <= 1; extra++) {
		/* {"specversion":..,"id":..,"data": [[...0...]]}: the object, the
		 * arrays, and the innermost scalar are one level each. */
		size_t arrays = (size_t)(AVISO_FRAME_MAX_DEPTH - 2 + extra), at = 0;
		_cleanup_free_ char *data = malloc(64 + 2 * arrays), *got = NULL, *want = NULL;

		ck_assert_ptr_nonnull(data);
		at += (size_t)sprintf(data, "{\"specversion\":\"1.0\",\"id\":\"m@9\",\"data\":");
		memset(data + at, '[', arrays);
		at += arrays;
		data[at++] = '0';
		memset(data + at, ']', arrays);
		at += arrays;
		data[at++] = '}';
		got = describe("replay", 6, data, at);
		ck_assert_int_ge(asprintf(&want, "notification id=\"m@9\" seq=9%s", extra > 0 ? " too_deep" : ""), 0);
		ck_assert_msg(strcmp(got, want) == 0, "%zu arrays: %s", arrays, got);
	}
}
END_TEST

START_TEST(test_parse_id)
{
	uint64_t seq = 99;

	ck_assert_int_eq(aviso_parse_id("mars@12", &seq), 0);
	ck_assert_uint_eq(seq, 12);
	seq = 99;
	ck_assert_int_eq(aviso_parse_id(NULL, &seq), -EINVAL);
	ck_assert_int_eq(aviso_parse_id("", &seq), -EINVAL);
	ck_assert_int_eq(aviso_parse_id("@", &seq), -EINVAL);
	ck_assert_int_eq(aviso_parse_id("mars@1@", &seq), -EINVAL);
	ck_assert_uint_eq(seq, 99);	/* untouched on failure */
}
END_TEST

/* A whole conversation as aviso-server writes it, CRLF and LF mixed. */
static const char stream[] =
	"event: replay-control\r\ndata: {\"type\":\"replay_started\"}\r\n\r\n"
	": a comment\n"
	"event: replay\ndata: {\"specversion\":\"1.0\",\"id\":\"mars@1\",\"data\":{\"identifier\":{\"step\":\"1\"}}}\n\n"
	"event: replay\r\ndata: {\"specversion\":\"1.0\",\r\ndata: \"id\":\"mars@2\"}\r\n\r\n"
	"event: heartbeat\ndata: \n\n"
	"event: replay-control\ndata: {\"type\":\"notification_replay_limit_reached\",\"max_allowed\":2}\n\n"
	"event: replay-control\ndata: {\"type\":\"replay_completed\"}\n\n"
	"event: live-notification\ndata: {\"specversion\":\"1.0\",\"id\":\"mars@x\"}\n\n"
	"event: error\ndata: {\"error\":\"render\",\"message\":\"no\",\"sequence\":4}\n\n"
	"event: live-notification\ndata: [\"not an object\"]\n\n"
	"event: connection-closing\rdata: {\"reason\":\"end_of_stream\"}\r\r";

static const char stream_verdicts[] =
	"opened replay\n"
	"notification id=\"mars@1\" seq=1\n"
	"notification id=\"mars@2\" seq=2\n"
	"ignored\n"
	"replay_limit max=2\n"
	"replay_completed\n"
	"notification id=\"mars@x\" seq=bad\n"
	"error kind=\"render\" message=\"no\" seq=4\n"
	"malformed a live-notification frame whose data is not a JSON object\n"
	"closing reason=\"end_of_stream\" close=at_once eos=1\n";

START_TEST(test_stream_read_at_once)
{
	struct dbuf o;

	dbuf_init(&o, TRANSCRIPT_MAX);
	ck_assert_int_ge(frames_run(&o, &LIMITS, frames_record, stream, sizeof(stream) - 1, NULL, 0), 0);
	ck_assert_str_eq(dbuf_str(&o), stream_verdicts);
	dbuf_free(&o);
}
END_TEST

START_TEST(test_stream_split_at_every_point)
{
	size_t len = sizeof(stream) - 1;

	for (size_t cut = 0; cut <= len; cut++) {
		struct dbuf o;

		dbuf_init(&o, TRANSCRIPT_MAX);
		ck_assert_int_ge(frames_run(&o, &LIMITS, frames_record, stream, len, &cut, 1), 0);
		ck_assert_msg(strcmp(dbuf_str(&o), stream_verdicts) == 0, "cut at %zu:\n%s", cut, dbuf_str(&o));
		dbuf_free(&o);
	}
}
END_TEST

/* Every pair of cuts, at a stride that keeps the run short while every
 * byte position is still a first cut. */
START_TEST(test_stream_split_in_three)
{
	size_t len = sizeof(stream) - 1, cuts[2];

	for (cuts[0] = 0; cuts[0] <= len; cuts[0]++)
		for (cuts[1] = cuts[0]; cuts[1] <= len; cuts[1] += 7) {
			struct dbuf o;

			dbuf_init(&o, TRANSCRIPT_MAX);
			ck_assert_int_ge(frames_run(&o, &LIMITS, frames_record, stream, len, cuts, 2), 0);
			ck_assert_msg(strcmp(dbuf_str(&o), stream_verdicts) == 0, "cuts at %zu, %zu", cuts[0], cuts[1]);
			dbuf_free(&o);
		}
}
END_TEST

Suite *aviso_frame_suite(void)
{
	Suite *s = suite_create("aviso_frame");
	TCase *tc = tcase_create("frames");

	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_event_name_with_nul);
	tcase_add_test(tc, test_nul_in_data);
	tcase_add_test(tc, test_parse_id);
	tcase_add_test(tc, test_depth_limit);
	tcase_add_test(tc, test_stream_read_at_once);
	tcase_add_test(tc, test_stream_split_at_every_point);
	tcase_add_test(tc, test_stream_split_in_three);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}
