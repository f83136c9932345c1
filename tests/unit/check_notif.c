/* SPDX-License-Identifier: MIT */
/*
 * notif: base64 against RFC 4648's vectors, then each view of a notification
 * (the stored JSON, a command's stdin and environment, the log/echo record)
 * compared as exact strings.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aviso_tree.h"
#include "cleanup.h"
#include "jsonw.h"
#include "macro.h"
#include "notif.h"
#include "strv.h"
#include "suites.h"

#define LEN(s) (sizeof(s) - 1)

/* The compact, key-sorted serialisation: what the comparisons below use. */
static char *dump(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	ck_assert_ptr_nonnull(s);
	return s;
}

static void assert_json(const json_t *j, const char *expected)
{
	_cleanup_free_ char *s = dump(j);

	ck_assert_str_eq(s, expected);
}

static json_t *load(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);

	ck_assert_msg(j != NULL, "bad test JSON: %s", err.text);
	return j;
}

/* notif_stdin must give exactly these bytes. */
static void assert_stdin(const json_t *n, enum cfg_protocol p, const char *expected, size_t len)
{
	char *out = (char *)&out;
	size_t out_len = (size_t)-1;

	ck_assert_int_eq(notif_stdin(n, p, &out, &out_len), 0);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(out_len, len);
	ck_assert(memcmp(out, expected, len) == 0);
	ck_assert_int_eq(out[len], '\0');	/* terminated too, for callers that want a string */
	free(out);
}

/* The value of name in env, which must be there exactly once. */
static const char *env_get(char **env, const char *name)
{
	size_t len = strlen(name);
	const char *found = NULL;

	for (size_t i = 0; env && env[i]; i++)
		if (strncmp(env[i], name, len) == 0 && env[i][len] == '=') {
			ck_assert_msg(!found, "%s is in the environment twice", name);
			found = env[i] + len + 1;
		}
	ck_assert_msg(found != NULL, "%s is not in the environment", name);
	return found;
}

static bool env_has(char **env, const char *name)
{
	for (size_t i = 0; env && env[i]; i++)
		if (strncmp(env[i], name, strlen(name)) == 0 && env[i][strlen(name)] == '=')
			return true;
	return false;
}

/* ------------------------------------------------------------ base64 */

static const struct { const char *plain, *encoded; } rfc4648[] = {
	{ "", "" },		{ "f", "Zg==" },	 { "fo", "Zm8=" },	  { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
};

START_TEST(test_base64_rfc4648_vectors)
{
	for (size_t i = 0; i < ELEMENTSOF(rfc4648); i++) {
		_cleanup_free_ char *enc = base64_encode(rfc4648[i].plain, strlen(rfc4648[i].plain));
		_cleanup_free_ char *dec = NULL;
		size_t dec_len = (size_t)-1;

		ck_assert_ptr_nonnull(enc);
		ck_assert_str_eq(enc, rfc4648[i].encoded);
		ck_assert_int_eq(base64_decode(rfc4648[i].encoded, strlen(rfc4648[i].encoded), &dec, &dec_len), 0);
		ck_assert_ptr_nonnull(dec);
		ck_assert_uint_eq(dec_len, strlen(rfc4648[i].plain));
		ck_assert_str_eq(dec, rfc4648[i].plain);	/* NUL-terminated */
	}
}
END_TEST

START_TEST(test_base64_binary_and_alphabet)
{
	/* Computed with Python's base64.b64encode. */
	static const char bin[] = "\xff\xfe\x00\x80";
	static const char ones[] = "\xfb\xff\xbf";	/* every bit set but a few: '+' and '/' */
	_cleanup_free_ char *enc = base64_encode(bin, LEN(bin));
	_cleanup_free_ char *enc2 = base64_encode(ones, LEN(ones));

	ck_assert_str_eq(enc, "//4AgA==");
	ck_assert_str_eq(enc2, "+/+/");
}
END_TEST

START_TEST(test_base64_round_trip_all_lengths)
{
	unsigned char data[300];
	uint32_t x = 12345;

	for (size_t i = 0; i < sizeof(data); i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (unsigned char)(x >> 16);
	}
	for (size_t len = 0; len <= sizeof(data); len++) {
		_cleanup_free_ char *enc = base64_encode(data, len);
		_cleanup_free_ char *dec = NULL;
		size_t dec_len;

		ck_assert_ptr_nonnull(enc);
		ck_assert_uint_eq(strlen(enc), (len + 2) / 3 * 4);
		ck_assert_int_eq(base64_decode(enc, strlen(enc), &dec, &dec_len), 0);
		ck_assert_uint_eq(dec_len, len);
		ck_assert(memcmp(dec, data, len) == 0);
	}
}
END_TEST

START_TEST(test_base64_decode_rejects)
{
	static const struct { const char *s; size_t len; } bad[] = {
		/* length not a multiple of 4 */
		{ "Z", 1 }, { "Zg", 2 }, { "Zg=", 3 }, { "Zm9vY", 5 }, { "Zm9vYg=", 7 },
		/* characters outside the alphabet (incl. base64url's) */
		{ "Zm9*", 4 }, { "Zm-v", 4 }, { "Zm_v", 4 }, { " Zm9", 4 }, { "Zm9\n", 4 },
		{ "Zm9\xff", 4 }, { "Zm9v\x80\x80\x80\x80", 8 },
		/* an embedded NUL */
		{ "Zm\0v", 4 }, { "\0\0\0\0", 4 }, { "Zm9vYg=\0", 8 },
		/* padding anywhere but the last one or two places, or too much */
		{ "====", 4 }, { "Z===", 4 }, { "=Zm9", 4 }, { "Zm=v", 4 }, { "Z=g=", 4 },
		{ "Zg==Zm9v", 8 }, { "Zm8=Zm8=", 8 }, { "Zm9v====", 8 },
	};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		char *dec = NULL;
		size_t dec_len = 77;

		ck_assert_msg(base64_decode(bad[i].s, bad[i].len, &dec, &dec_len) == -EINVAL, "row %zu accepted", i);
		ck_assert_ptr_null(dec);
		ck_assert_uint_eq(dec_len, 77);
	}
}
END_TEST

START_TEST(test_base64_decode_length_bounds_input)
{
	_cleanup_free_ char *dec = NULL;
	size_t dec_len;

	/* Only len bytes are read: what follows (garbage here) is not looked at. */
	ck_assert_int_eq(base64_decode("Zm9v!!!!", 4, &dec, &dec_len), 0);
	ck_assert_uint_eq(dec_len, 3);
	ck_assert_str_eq(dec, "foo");
}
END_TEST

/* ------------------------------------------------------------ sse notifications */

/* Data of every kind: stored as a string when it is valid UTF-8, else as
 * base64; either way a command's stdin gets the very bytes back. */
#define DATA(s) s, LEN(s)
static const struct {
	const char *data;
	size_t len;
	const char *json;	/* compact, sorted */
} sse_data[] = {
	{ DATA("h\xc3\xa9llo\nworld \xf0\x9f\x98\x80"),
	  "{\"data\":\"h\xc3\xa9llo\\nworld \xf0\x9f\x98\x80\",\"event\":\"message\",\"id\":\"42\"}" },
	{ DATA(""), "{\"data\":\"\",\"event\":\"message\",\"id\":\"42\"}" },
	/* NUL is valid UTF-8: kept as a string, escaped in JSON. */
	{ DATA("a\0b\0"), "{\"data\":\"a\\u0000b\\u0000\",\"event\":\"message\",\"id\":\"42\"}" },
	/* The base64 by Python's base64.b64encode. */
	{ DATA("\xff\xfe\x00\x80"), "{\"data_base64\":\"//4AgA==\",\"event\":\"message\",\"id\":\"42\"}" },
	/* An overlong '/', and a UTF-16 surrogate: invalid too. */
	{ DATA("\xc0\xaf"), "{\"data_base64\":\"wK8=\",\"event\":\"message\",\"id\":\"42\"}" },
	{ DATA("\xed\xa0\x80"), "{\"data_base64\":\"7aCA\",\"event\":\"message\",\"id\":\"42\"}" },
};

static struct dbuf scratch = { .max = SIZE_MAX - 1 };

/* The text the sse hot path writes must be the tree's text, byte for byte
 * (state files and log lines must not depend on which path made them). */
static void same_text(const char *ev, size_t ev_len, const char *data, size_t data_len, bool id_set,
		      const char *id, size_t id_len)
{
	_cleanup_(json_decrefp) json_t *n = notif_sse_new(ev, ev_len, data, data_len, id_set, id, id_len);
	_cleanup_free_ char *want = NULL, *got = NULL;
	size_t len = 0;

	ck_assert_ptr_nonnull(n);
	want = jsonw_dumps(n);
	got = notif_sse_text(ev, ev_len, data, data_len, id_set, id, id_len, NULL, &len);
	ck_assert_ptr_nonnull(want);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(len, strlen(got));
	ck_assert_str_eq(got, want);
	/* The daemon's way: a scratch buffer kept from one event to the next. */
	free(got);
	got = notif_sse_text(ev, ev_len, data, data_len, id_set, id, id_len, &scratch, &len);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(len, strlen(got));
	ck_assert_str_eq(got, want);
	ck_assert_uint_le(scratch.cap, NOTIF_SCRATCH_KEEP);
}

START_TEST(test_sse_text_is_the_tree_text)
{
	static const struct {
		const char *s;
		size_t len;
	} pieces[] = {
		{ DATA("") }, { DATA("message") }, { DATA("h\xc3\xa9llo\nworld") }, { DATA("a\0b") },
		{ DATA("\xff\xfe") }, { DATA("\xc0\xaf") }, { DATA("\"quoted\" \\ \t\x01\x1f\x7f") },
		{ DATA("\xe2\x80\xa8 line sep") }, { DATA("{\"i\": 1, \"pad\": \"xxxxxxxxxxxxxxxxxxxxxxxx\"}") },
	};

	for (size_t e = 0; e < ELEMENTSOF(pieces); e++)
		for (size_t d = 0; d < ELEMENTSOF(pieces); d++)
			for (size_t i = 0; i < ELEMENTSOF(pieces); i++) {
				same_text(pieces[e].s, pieces[e].len, pieces[d].s, pieces[d].len, true, pieces[i].s,
					  pieces[i].len);
				same_text(pieces[e].s, pieces[e].len, pieces[d].s, pieces[d].len, false, NULL, 0);
			}
	for (size_t k = 0; k < ELEMENTSOF(sse_data); k++)
		same_text("message", 7, sse_data[k].data, sse_data[k].len, true, "42", 2);
	dbuf_free(&scratch);
}
END_TEST

/* A large event does not leave its room behind in the shared scratch buffer. */
START_TEST(test_sse_text_scratch_stays_bounded)
{
	size_t len = 3 * NOTIF_SCRATCH_KEEP, out = 0;
	char *data = malloc(len), *text;

	ck_assert_ptr_nonnull(data);
	memset(data, '"', len);
	same_text("message", 7, data, len, true, "7", 1);
	ck_assert_uint_le(scratch.cap, NOTIF_SCRATCH_KEEP);
	text = notif_sse_text("message", 7, "small", 5, false, NULL, 0, &scratch, &out);
	ck_assert_str_eq(text, "{\"data\":\"small\",\"event\":\"message\",\"id\":null}");
	ck_assert_uint_eq(out, strlen(text));
	ck_assert_uint_gt(scratch.cap, 0);
	free(text);
	free(data);
	dbuf_free(&scratch);
}
END_TEST

START_TEST(test_sse_data)
{
	_cleanup_(json_decrefp) json_t *n =
		notif_sse_new("message", 7, sse_data[_i].data, sse_data[_i].len, true, "42", 2);

	ck_assert_ptr_nonnull(n);
	assert_json(n, sse_data[_i].json);
	ck_assert_str_eq(notif_event_name(n), "message");
	ck_assert_str_eq(notif_event_id(n), "42");
	assert_stdin(n, CFG_PROTOCOL_SSE, sse_data[_i].data, sse_data[_i].len);
}
END_TEST

START_TEST(test_sse_lengths_not_terminators)
{
	/* Each argument is read for its length only. */
	_cleanup_(json_decrefp) json_t *n = notif_sse_new("updateXX", 6, "payloadXX", 7, true, "7XX", 1);
	_cleanup_(json_decrefp) json_t *empty = notif_sse_new("", 0, "", 0, false, NULL, 0);

	assert_json(n, "{\"data\":\"payload\",\"event\":\"update\",\"id\":\"7\"}");
	assert_json(empty, "{\"data\":\"\",\"event\":\"\",\"id\":null}");
	ck_assert_str_eq(notif_event_name(empty), "");
}
END_TEST

START_TEST(test_sse_id_null_empty_invalid)
{
	_cleanup_(json_decrefp) json_t *never = notif_sse_new("message", 7, "x", 1, false, "ignored", 7);
	_cleanup_(json_decrefp) json_t *empty = notif_sse_new("message", 7, "x", 1, true, "", 0);
	_cleanup_(json_decrefp) json_t *bad = notif_sse_new("message", 7, "x", 1, true, "id\xff", 3);

	ck_assert(json_is_null(json_object_get(never, "id")));
	ck_assert_ptr_null(json_object_get(never, "id_base64"));
	ck_assert_str_eq(notif_event_id(never), "");
	assert_json(never, "{\"data\":\"x\",\"event\":\"message\",\"id\":null}");

	ck_assert(json_is_string(json_object_get(empty, "id")));
	ck_assert_str_eq(notif_event_id(empty), "");
	assert_json(empty, "{\"data\":\"x\",\"event\":\"message\",\"id\":\"\"}");

	/* base64.b64encode(b'id\xff') == b'aWT/' */
	assert_json(bad, "{\"data\":\"x\",\"event\":\"message\",\"id\":null,\"id_base64\":\"aWT/\"}");
	ck_assert_str_eq(notif_event_id(bad), "");
}
END_TEST

START_TEST(test_sse_invalid_utf8_event_name)
{
	_cleanup_(json_decrefp) json_t *n = notif_sse_new("ev\xc3", 3, "x", 1, true, "1", 1);

	ck_assert_ptr_nonnull(n);
	ck_assert_str_eq(notif_event_name(n), "(invalid UTF-8)");
}
END_TEST

START_TEST(test_accessors_on_incomplete_objects)
{
	_cleanup_(json_decrefp) json_t *empty = json_object();
	_cleanup_(json_decrefp) json_t *odd = load("{\"event\":5,\"id\":7}");
	char *out = NULL;
	size_t len = 0;

	ck_assert_str_eq(notif_event_name(empty), "");
	ck_assert_str_eq(notif_event_id(empty), "");
	ck_assert_str_eq(notif_event_name(odd), "");
	ck_assert_str_eq(notif_event_id(odd), "");
	/* An sse notification without data of either kind. */
	ck_assert_int_eq(notif_stdin(empty, CFG_PROTOCOL_SSE, &out, &len), -EINVAL);
	ck_assert_ptr_null(out);
}
END_TEST

/* ------------------------------------------------------------ aviso notifications */

/* As proto aviso stores one (see notif.h), with keys in no sorted order. */
#define AVISO_NOTIF                                                                                      \
	"{\"event\":\"live-notification\",\"sequence\":42,\"event_type\":\"mars\",\"id\":\"mars@42\","    \
	"\"identifier\":{\"class\":\"od\",\"step-range\":\"0-6\",\"step\":12,\"levels\":[1000, 850],"       \
	"\"flag\":true,\"none\":null,\"Param2\":\"t\",\"d\xc3\xa9\":\"e\",\"obj\":{\"b\":1,\"a\":2}},"       \
	"\"payload\":{\"location\":\"s3://bucket/x\",\"size\":3},\"time\":\"2026-11-22T06:49:40Z\","      \
	"\"cloudevent\":{\"specversion\":\"1.0\",\"data\":{}},\"extra\":\"not for triggers\"}"

/* notif_stdin's view: the six keys, compact, sorted at every level. */
#define AVISO_STDIN                                                                                      \
	"{\"event_type\":\"mars\",\"id\":\"mars@42\",\"identifier\":{\"Param2\":\"t\",\"class\":\"od\","  \
	"\"d\xc3\xa9\":\"e\",\"flag\":true,\"levels\":[1000,850],\"none\":null,\"obj\":{\"a\":2,\"b\":1},"  \
	"\"step\":12,\"step-range\":\"0-6\"},\"payload\":{\"location\":\"s3://bucket/x\",\"size\":3},"    \
	"\"sequence\":42,\"time\":\"2026-11-22T06:49:40Z\"}"

START_TEST(test_aviso_stdin_six_keys_sorted)
{
	_cleanup_(json_decrefp) json_t *n = load(AVISO_NOTIF);
	_cleanup_(json_decrefp) json_t *partial = load("{\"event\":\"x\",\"sequence\":1,\"cloudevent\":{}}");

	assert_stdin(n, CFG_PROTOCOL_AVISO, AVISO_STDIN, LEN(AVISO_STDIN));
	/* Missing keys are left out, not null. */
	assert_stdin(partial, CFG_PROTOCOL_AVISO, "{\"sequence\":1}", LEN("{\"sequence\":1}"));
	/* n is not changed by being viewed. */
	ck_assert_ptr_nonnull(json_object_get(n, "cloudevent"));
	ck_assert_uint_eq(json_object_size(n), 9);
}
END_TEST

START_TEST(test_aviso_text_is_the_tree_text)
{
	static const struct {
		const char *ce;
		uint64_t seq;
	} cases[] = {
		{ "{\"id\":\"mars@1\"}", 1 },
		{ "{\"id\":\"mars@42\",\"data\":{\"identifier\":{\"class\":\"od\",\"step\":12},\"payload\":null},"
		  "\"time\":\"2026-11-22T06:49:40Z\",\"specversion\":\"1.0\",\"type\":\"int.ecmwf.aviso.mars\"}",
		  42 },
		/* keys out of order, nested, escapes and non-ASCII everywhere */
		{ "{\"type\":\"t\",\"id\":\"d\xc3\xa9\\\"s\\\\@7\",\"data\":{\"payload\":{\"z\":[1,{\"y\":\"\\u0001\\n\"}],"
		  "\"a\":\"\xe2\x80\xa8\"},\"identifier\":{\"b\":true,\"a\":null,\"\xc3\xa9\":1.5e300}},"
		  "\"time\":null,\"extra\":{\"\":\"\"}}",
		  7 },
		/* data that is not an object; identifier and payload absent */
		{ "{\"id\":\"a@b@9223372036854775807\",\"data\":\"text\",\"time\":12}", 9223372036854775807u },
		{ "{\"id\":\"@0\",\"data\":[1,2]}", 0 },
		{ "{\"id\":\"x@3\",\"data\":{\"identifier\":[],\"payload\":\"\"}}", 3 },
	};
	static const char *const events[] = { "live-notification", "replay" };
	struct dbuf b = { .max = SIZE_MAX - 1 };

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		for (size_t e = 0; e < ELEMENTSOF(events); e++) {
			_cleanup_(json_decrefp) json_t *ce = load(cases[i].ce);
			_cleanup_free_ char *want = aviso_tree_text(ce, events[e], cases[i].seq);

			ck_assert_ptr_nonnull(want);
			ck_assert_int_eq(notif_aviso_format(ce, events[e], cases[i].seq, &b), 0);
			ck_assert_uint_eq(b.len, strlen(b.buf));
			ck_assert_str_eq(b.buf, want);
		}
	dbuf_free(&b);
}
END_TEST

START_TEST(test_aviso_text_refuses)
{
	_cleanup_(json_decrefp) json_t *no_at = load("{\"id\":\"mars\"}"), *no_id = load("{\"data\":{}}");
	_cleanup_(json_decrefp) json_t *id_int = load("{\"id\":42}"), *ok = load("{\"id\":\"m@1\",\"data\":{}}");
	struct dbuf b = { .max = SIZE_MAX - 1 }, tiny = { .max = 16 };

	ck_assert_int_eq(notif_aviso_format(no_at, "replay", 1, &b), -EINVAL);
	ck_assert_int_eq(notif_aviso_format(no_id, "replay", 1, &b), -EINVAL);
	ck_assert_int_eq(notif_aviso_format(id_int, "replay", 1, &b), -EINVAL);
	ck_assert_int_eq(notif_aviso_format(ok, "replay", (uint64_t)INT64_MAX + 1, &b), -EINVAL);
	ck_assert_int_eq(notif_aviso_format(ok, "\xff", 1, &b), -EINVAL);
	/* The buffer's cap holds. */
	ck_assert_int_eq(notif_aviso_format(ok, "replay", 1, &tiny), -E2BIG);
	/* A buffer is reused: its contents are replaced. */
	ck_assert_int_eq(notif_aviso_format(ok, "replay", 1, &b), 0);
	ck_assert_int_eq(notif_aviso_format(ok, "replay", 1, &b), 0);
	ck_assert_str_eq(b.buf, "{\"cloudevent\":{\"data\":{},\"id\":\"m@1\"},\"event\":\"replay\",\"event_type\":\"m\","
				"\"id\":\"m@1\",\"identifier\":{},\"payload\":null,\"sequence\":1,\"time\":null}");
	dbuf_free(&b);
	dbuf_free(&tiny);
}
END_TEST

START_TEST(test_env_sse)
{
	_cleanup_(json_decrefp) json_t *n = notif_sse_new("update", 6, "x", 1, true, "ev-9", 4);
	_cleanup_(json_decrefp) json_t *no_id = notif_sse_new("message", 7, "x", 1, false, NULL, 0);
	char **env = NULL;

	ck_assert_int_eq(strv_push(&env, "PATH=/usr/bin:/bin"), 0);
	ck_assert_int_eq(strv_push(&env, "SSEWATCHD_LISTENER=stale"), 0);
	ck_assert_int_eq(strv_push(&env, "SSEWATCHD_EVENT_IDX=kept"), 0);
	ck_assert_int_eq(strv_push(&env, "SSEWATCHD_EVENT=stale"), 0);

	ck_assert_int_eq(notif_env(n, CFG_PROTOCOL_SSE, "l1", &env), 0);
	ck_assert_uint_eq(strv_length(env), 5);
	/* Replaced in place, the new one appended. */
	ck_assert_str_eq(env[0], "PATH=/usr/bin:/bin");
	ck_assert_str_eq(env[1], "SSEWATCHD_LISTENER=l1");
	ck_assert_str_eq(env[2], "SSEWATCHD_EVENT_IDX=kept");
	ck_assert_str_eq(env[3], "SSEWATCHD_EVENT=update");
	ck_assert_str_eq(env[4], "SSEWATCHD_EVENT_ID=ev-9");
	ck_assert_ptr_null(env[5]);

	/* The next notification over the same array: still no duplicates. */
	ck_assert_int_eq(notif_env(no_id, CFG_PROTOCOL_SSE, "l2", &env), 0);
	ck_assert_uint_eq(strv_length(env), 5);
	ck_assert_str_eq(env_get(env, "SSEWATCHD_LISTENER"), "l2");
	ck_assert_str_eq(env_get(env, "SSEWATCHD_EVENT_ID"), "");
	ck_assert_str_eq(env_get(env, "SSEWATCHD_EVENT"), "message");
	for (size_t i = 0; env[i]; i++)
		ck_assert_msg(strncmp(env[i], "AVISO_", 6) != 0, "sse got %s", env[i]);
	strv_free(env);

	/* From nothing at all. */
	env = NULL;
	ck_assert_int_eq(notif_env(n, CFG_PROTOCOL_SSE, "l1", &env), 0);
	ck_assert_uint_eq(strv_length(env), 3);
	strv_free(env);
}
END_TEST

START_TEST(test_env_aviso)
{
	_cleanup_(json_decrefp) json_t *n = load(AVISO_NOTIF);
	char **env = NULL;

	ck_assert_int_eq(strv_push(&env, "HOME=/root"), 0);
	ck_assert_int_eq(strv_push(&env, "AVISO_SEQUENCE=1"), 0);
	ck_assert_int_eq(strv_push(&env, "AVISO_IDENTIFIER_CLASS=old"), 0);
	ck_assert_int_eq(notif_env(n, CFG_PROTOCOL_AVISO, "avl", &env), 0);

	ck_assert_str_eq(env_get(env, "HOME"), "/root");
	ck_assert_str_eq(env_get(env, "SSEWATCHD_LISTENER"), "avl");
	ck_assert_str_eq(env_get(env, "SSEWATCHD_EVENT_ID"), "mars@42");
	ck_assert_str_eq(env_get(env, "SSEWATCHD_EVENT"), "live-notification");
	ck_assert_str_eq(env_get(env, "AVISO_EVENT_TYPE"), "mars");
	ck_assert_str_eq(env_get(env, "AVISO_SEQUENCE"), "42");
	ck_assert_str_eq(env_get(env, "AVISO_IDENTIFIER_CLASS"), "od");
	ck_assert_str_eq(env_get(env, "AVISO_IDENTIFIER_STEP_RANGE"), "0-6");
	ck_assert_str_eq(env_get(env, "AVISO_IDENTIFIER_STEP"), "12");
	ck_assert_str_eq(env_get(env, "AVISO_IDENTIFIER_LEVELS"), "[1000,850]");
	ck_assert_str_eq(env_get(env, "AVISO_IDENTIFIER_FLAG"), "true");
	ck_assert_str_eq(env_get(env, "AVISO_IDENTIFIER_NONE"), "null");
	ck_assert_str_eq(env_get(env, "AVISO_IDENTIFIER_PARAM2"), "t");
	ck_assert_str_eq(env_get(env, "AVISO_IDENTIFIER_D__"), "e");	/* é is two bytes */
	ck_assert_str_eq(env_get(env, "AVISO_IDENTIFIER_OBJ"), "{\"b\":1,\"a\":2}");
	/* Compact, in the payload's own order. */
	ck_assert_str_eq(env_get(env, "AVISO_PAYLOAD_JSON"), "{\"location\":\"s3://bucket/x\",\"size\":3}");
	ck_assert_str_eq(env_get(env, "AVISO_NOTIFICATION_JSON"), AVISO_STDIN);
	/* HOME, 3 SSEWATCHD_, 4 AVISO_, 9 identifiers: nothing else, nothing twice. */
	ck_assert_uint_eq(strv_length(env), 17);
	strv_free(env);
}
END_TEST

START_TEST(test_env_aviso_scalar_payload)
{
	_cleanup_(json_decrefp) json_t *n =
		load("{\"event\":\"live-notification\",\"event_type\":\"flight\",\"sequence\":9007199254740993,"
		     "\"id\":\"flight@9007199254740993\",\"identifier\":{},\"payload\":\"just text\"}");
	char **env = NULL;

	ck_assert_int_eq(notif_env(n, CFG_PROTOCOL_AVISO, "a", &env), 0);
	ck_assert_str_eq(env_get(env, "AVISO_SEQUENCE"), "9007199254740993");
	ck_assert_str_eq(env_get(env, "AVISO_PAYLOAD_JSON"), "\"just text\"");
	ck_assert_str_eq(env_get(env, "AVISO_EVENT_TYPE"), "flight");
	for (size_t i = 0; env[i]; i++)
		ck_assert_msg(strncmp(env[i], "AVISO_IDENTIFIER_", 17) != 0, "unexpected %s", env[i]);
	strv_free(env);
}
END_TEST

/* A variable the kernel would refuse (over 128 KiB) is left out, so the
 * program still starts; stdin has the notification whole. */
START_TEST(test_env_aviso_oversize_left_out)
{
	static const size_t sizes[] = { 1000, 131000, 140000 };

	for (size_t k = 0; k < ELEMENTSOF(sizes); k++) {
		_cleanup_free_ char *big = malloc(sizes[k] + 1);
		_cleanup_(json_decrefp) json_t *n = NULL;
		char **env = NULL;
		bool fits;

		ck_assert_ptr_nonnull(big);
		memset(big, 'y', sizes[k]);
		big[sizes[k]] = '\0';
		n = json_pack("{s:s, s:s, s:i, s:s, s:{s:s, s:s}, s:{s:s}}", "event", "live-notification",
			      "event_type", "mars", "sequence", 2, "id", "mars@2", "identifier", "class", "od",
			      "big", big, "payload", "big", big);
		ck_assert_ptr_nonnull(n);
		ck_assert_int_eq(notif_env(n, CFG_PROTOCOL_AVISO, "a", &env), 0);
		ck_assert_str_eq(env_get(env, "AVISO_SEQUENCE"), "2");
		ck_assert_str_eq(env_get(env, "AVISO_IDENTIFIER_CLASS"), "od");
		for (size_t i = 0; env[i]; i++)
			ck_assert_uint_le(strlen(env[i]) + 1, 32 * 4096);
		/* 131000 bytes fit alone, not twice in the whole notification */
		fits = sizes[k] <= 131000;
		ck_assert(env_has(env, "AVISO_PAYLOAD_JSON") == fits);
		ck_assert(env_has(env, "AVISO_IDENTIFIER_BIG") == fits);
		ck_assert(env_has(env, "AVISO_NOTIFICATION_JSON") == (sizes[k] == 1000));
		strv_free(env);
	}
}
END_TEST

/* ------------------------------------------------------------ records */

START_TEST(test_record_sse)
{
	_cleanup_(json_decrefp) json_t *n = notif_sse_new("message", 7, "hi", 2, true, "7", 1);
	_cleanup_(json_decrefp) json_t *rec = notif_record(n, CFG_PROTOCOL_SSE, "l1");
	_cleanup_free_ char *line = NULL;

	ck_assert_ptr_nonnull(rec);
	/* In insertion order: listener first, then the notification. */
	line = json_dumps(rec, JSON_COMPACT);
	ck_assert_str_eq(line, "{\"listener\":\"l1\",\"data\":\"hi\",\"event\":\"message\",\"id\":\"7\"}");
	ck_assert_ptr_null(json_object_get(n, "listener"));	/* n itself untouched */
}
END_TEST

START_TEST(test_record_aviso_drops_cloudevent)
{
	_cleanup_(json_decrefp) json_t *n = load(AVISO_NOTIF);
	_cleanup_(json_decrefp) json_t *rec = notif_record(n, CFG_PROTOCOL_AVISO, "avl");
	_cleanup_(json_decrefp) json_t *expected = load(AVISO_NOTIF);

	ck_assert_ptr_nonnull(rec);
	ck_assert_ptr_null(json_object_get(rec, "cloudevent"));
	ck_assert_str_eq(json_string_value(json_object_get(rec, "listener")), "avl");
	/* Everything else, as it was. */
	ck_assert_int_eq(json_object_del(expected, "cloudevent"), 0);
	ck_assert_int_eq(json_object_set_new(expected, "listener", json_string("avl")), 0);
	ck_assert(json_equal(rec, expected));
	ck_assert_ptr_nonnull(json_object_get(n, "cloudevent"));
}
END_TEST

Suite *notif_suite(void)
{
	Suite *s = suite_create("notif");
	TCase *b64 = tcase_create("base64");
	TCase *sse = tcase_create("sse");
	TCase *aviso = tcase_create("aviso");

	tcase_add_test(b64, test_base64_rfc4648_vectors);
	tcase_add_test(b64, test_base64_binary_and_alphabet);
	tcase_add_test(b64, test_base64_round_trip_all_lengths);
	tcase_add_test(b64, test_base64_decode_rejects);
	tcase_add_test(b64, test_base64_decode_length_bounds_input);
	suite_add_tcase(s, b64);

	tcase_add_loop_test(sse, test_sse_data, 0, ELEMENTSOF(sse_data));
	tcase_add_test(sse, test_sse_lengths_not_terminators);
	tcase_add_test(sse, test_sse_text_is_the_tree_text);
	tcase_add_test(sse, test_sse_text_scratch_stays_bounded);
	tcase_add_test(sse, test_sse_id_null_empty_invalid);
	tcase_add_test(sse, test_sse_invalid_utf8_event_name);
	tcase_add_test(sse, test_accessors_on_incomplete_objects);
	tcase_add_test(sse, test_env_sse);
	tcase_add_test(sse, test_record_sse);
	suite_add_tcase(s, sse);

	tcase_add_test(aviso, test_aviso_text_is_the_tree_text);
	tcase_add_test(aviso, test_aviso_text_refuses);
	tcase_add_test(aviso, test_aviso_stdin_six_keys_sorted);
	tcase_add_test(aviso, test_env_aviso);
	tcase_add_test(aviso, test_env_aviso_scalar_payload);
	tcase_add_test(aviso, test_env_aviso_oversize_left_out);
	tcase_add_test(aviso, test_record_aviso_drops_cloudevent);
	suite_add_tcase(s, aviso);
	return s;
}
