/* SPDX-License-Identifier: MIT */
/* jsonw must write the very bytes json_dumps(COMPACT | SORT_KEYS) writes. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "macro.h"
#include "suites.h"

static void same_as_jansson(const json_t *j, const char *what)
{
	char *want = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	char *got = jsonw_dumps(j);

	ck_assert_ptr_nonnull(want);
	ck_assert_ptr_nonnull(got);
	if (strcmp(want, got) != 0)
		ck_abort_msg("%s:\n want %s\n got  %s", what, want, got);
	free(want);
	free(got);
}

START_TEST(test_vectors)
{
	static const char *const texts[] = {
		"{}", "[]", "\"\"", "0", "-1", "9223372036854775807", "-9223372036854775808", "true", "false", "null",
		"0.5", "1e300", "-0.0", "3.141592653589793", "[1.0,2.25e-7]",
		"{\"b\":1,\"a\":2,\"A\":3,\"aa\":4,\"\":5}",
		/* in order already (written as they come), and out of order last */
		"{\"\":0,\"A\":1,\"a\":{\"x\":[],\"y\":{}},\"aa\":2,\"ab\":3}",
		"{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9,\"z\":10,\"y\":11}",
		"\"quote \\\" backslash \\\\ slash / tab \\t nl \\n cr \\r bs \\b ff \\f\"",
		"\"\\u0000\\u0001\\u001f\\u007f \\u00e9 \\u2028 \\ud83d\\ude00\"",
		"{\"nested\":{\"z\":[{\"y\":[]},{}],\"a\":null},\"k\\u00e9y\":\"v\",\"k\\ty\":1}",
		"{\"data\":\"{\\\"i\\\": 1, \\\"pad\\\": \\\"xxx\\\"}\",\"event\":\"message\",\"id\":null}",
	};

	for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
		json_error_t err;
		json_t *j = json_loads(texts[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);

		ck_assert_msg(j != NULL, "%s: %s", texts[i], err.text);
		same_as_jansson(j, texts[i]);
		json_decref(j);
	}
}
END_TEST

/* A small deterministic generator of JSON values with awkward strings. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return rng_state >> 33;
}

static json_t *random_string(void)
{
	static const char *const pieces[] = {
		"a", "Z", "0", " ", "\"", "\\", "/", "\n", "\r", "\t", "\b", "\f", "\x01", "\x1f", "\x7f",
		"\xc3\xa9", "\xe2\x80\xa8", "\xf0\x9f\x98\x80", "{", "}", ":", ",", "\\u0041", "%s",
	};
	char buf[256];
	size_t len = 0, n = rnd() % 12;

	for (size_t i = 0; i < n; i++) {
		const char *p = pieces[rnd() % ELEMENTSOF(pieces)];
		size_t l = strlen(p);

		memcpy(buf + len, p, l);
		len += l;
	}
	if (rnd() % 10 == 0)
		buf[len++] = '\0';	/* NUL inside a string */
	return json_stringn(buf, len);
}

static json_t *random_value(int depth)
{
	switch (rnd() % (depth < 4 ? 8 : 5)) {
	case 0: return json_integer((json_int_t)(rnd() << 31) - (json_int_t)(rnd() << 20));
	case 1: return json_real((double)(int64_t)rnd() / (double)(1 + rnd() % 1000));
	case 2: return random_string();
	case 3: return rnd() % 2 ? json_true() : json_false();
	case 4: return json_null();
	case 5: case 6: {
		json_t *o = json_object();
		size_t n = rnd() % 6;

		for (size_t i = 0; i < n; i++) {
			json_t *k = random_string();

			/* Keys with NUL are not set by jansson's plain setter. */
			if (!memchr(json_string_value(k), '\0', json_string_length(k)))
				json_object_set_new(o, json_string_value(k), random_value(depth + 1));
			json_decref(k);
		}
		return o;
	}
	default: {
		json_t *a = json_array();
		size_t n = rnd() % 5;

		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, random_value(depth + 1));
		return a;
	}
	}
}

START_TEST(test_random_values)
{
	rng_state = 42;
	for (int i = 0; i < 20000; i++) {
		json_t *j = random_value(0);

		ck_assert_ptr_nonnull(j);
		same_as_jansson(j, "random value");
		json_decref(j);
	}
}
END_TEST

/* Strings are scanned 16 bytes at a time (SSE2), then 8, then one by one:
 * every byte value at every offset across three blocks, in strings of every
 * length up to that; then two special bytes at every pair of offsets. */
START_TEST(test_every_byte_at_every_offset)
{
	static const char pair[] = { '"', '\\', '\n', 0x01 };
	char buf[40];

	for (unsigned c = 1; c < 256; c++) {
		if (c >= 0x80)
			continue;	/* alone, not UTF-8: jansson would refuse it */
		for (size_t len = 1; len <= sizeof(buf); len++)
			for (size_t at = 0; at < len; at++) {
				json_t *j;

				memset(buf, 'a', len);
				buf[at] = (char)c;
				j = json_stringn(buf, len);
				ck_assert_ptr_nonnull(j);
				same_as_jansson(j, "one special byte");
				json_decref(j);
			}
	}
	/* Every length: the last, partial block is read overlapping the one
	 * before, and short strings are checked whole. */
	for (size_t len = 2; len <= sizeof(buf); len++)
		for (size_t a = 0; a < len; a++)
			for (size_t b = a + 1; b < len; b++)
				for (size_t k = 0; k < ELEMENTSOF(pair) * ELEMENTSOF(pair); k++) {
					json_t *j;

					memset(buf, 'z', len);
					buf[a] = pair[k % ELEMENTSOF(pair)];
					buf[b] = pair[k / ELEMENTSOF(pair)];
					j = json_stringn(buf, len);
					ck_assert_ptr_nonnull(j);
					same_as_jansson(j, "two special bytes");
					json_decref(j);
				}
	/* A NUL (allowed in jansson strings) and multi-byte UTF-8 across a word boundary. */
	for (size_t at = 0; at < 16; at++) {
		char s[] = "0123456789abcdefghij\xe2\x80\xa8";
		json_t *j;

		s[at] = '\0';
		j = json_stringn(s, sizeof(s) - 1);
		ck_assert_ptr_nonnull(j);
		same_as_jansson(j, "NUL and U+2028");
		json_decref(j);
	}
}
END_TEST

/* JSON inside a string (quotes every few bytes, some control bytes), in a
 * buffer whose limit leaves exactly the room the escaped text needs: the
 * block stores must never pass it. Also a string over the one-pass size. */
START_TEST(test_escaping_with_exact_room)
{
	static const size_t sizes[] = { 17, 100, 1000, 70 * 1024 };

	for (size_t k = 0; k < ELEMENTSOF(sizes); k++) {
		size_t len = sizes[k];
		char *s = malloc(len), *want;
		json_t *j;
		struct dbuf b;

		ck_assert_ptr_nonnull(s);
		for (size_t i = 0; i < len; i++)
			s[i] = i % 7 == 0 ? '"' : i % 61 == 0 ? '\x02' : i % 13 == 0 ? '\\' : (char)('a' + i % 26);
		j = json_stringn(s, len);
		ck_assert_ptr_nonnull(j);
		want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
		ck_assert_ptr_nonnull(want);
		dbuf_init(&b, strlen(want));
		ck_assert_int_eq(jsonw_append_string(&b, s, len), 0);
		ck_assert_uint_eq(b.len, strlen(want));
		ck_assert_int_eq(memcmp(b.buf, want, b.len), 0);
		ck_assert_uint_le(b.cap, strlen(want) + 1);
		dbuf_free(&b);
		dbuf_init(&b, strlen(want) - 1);
		ck_assert_int_eq(jsonw_append_string(&b, s, len), -E2BIG);
		dbuf_free(&b);
		free(want);
		json_decref(j);
		free(s);
	}
}
END_TEST

/* Every pattern of quotes and backslashes in a 16-byte block (each half is
 * escaped by the pattern's own shuffle), followed by a plain one. */
START_TEST(test_every_quote_pattern)
{
	char buf[32];

	for (unsigned m = 0; m < 0x10000; m++) {
		json_t *j;

		for (unsigned i = 0; i < 16; i++)
			buf[i] = m & (1u << i) ? (i % 3 ? '"' : '\\') : (char)('A' + i);
		memset(buf + 16, 'x', 16);
		j = json_stringn(buf, sizeof(buf));
		ck_assert_ptr_nonnull(j);
		same_as_jansson(j, "quote pattern");
		json_decref(j);
	}
}
END_TEST

/* Where the CPU has SSSE3, escaping uses it unless told not to. */
START_TEST(test_shuffle_escaping_where_available)
{
#if defined(__GNUC__) && defined(__x86_64__)
	__builtin_cpu_init();
	ck_assert(jsonw_shuffle_escaping(true) == (bool)__builtin_cpu_supports("ssse3"));
#else
	ck_assert(!jsonw_shuffle_escaping(true));
#endif
	ck_assert(jsonw_shuffle_escaping(false));
	(void)jsonw_shuffle_escaping(true);
}
END_TEST

static void without_shuffle(void)
{
	ck_assert(jsonw_shuffle_escaping(false));
}

static void with_shuffle_again(void)
{
	(void)jsonw_shuffle_escaping(true);
}

START_TEST(test_append_respects_the_cap)
{
	struct dbuf b;
	json_t *j = json_pack("{s:s}", "key", "a long enough value");

	dbuf_init(&b, 10);
	ck_assert_int_eq(jsonw_append(&b, j), -E2BIG);
	dbuf_free(&b);
	ck_assert_int_eq(jsonw_append(&b, NULL), -EINVAL);
	json_decref(j);
}
END_TEST

Suite *jsonw_suite(void)
{
	Suite *s = suite_create("jsonw");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_random_values);
	tcase_add_test(tc, test_every_byte_at_every_offset);
	tcase_add_test(tc, test_escaping_with_exact_room);
	tcase_add_test(tc, test_every_quote_pattern);
	tcase_add_test(tc, test_shuffle_escaping_where_available);
	tcase_add_test(tc, test_append_respects_the_cap);
	suite_add_tcase(s, tc);

	/* The escaping without SSSE3, which this machine would not use otherwise. */
	tc = tcase_create("without-shuffle");
	tcase_add_checked_fixture(tc, without_shuffle, with_shuffle_again);
	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_random_values);
	tcase_add_test(tc, test_every_byte_at_every_offset);
	tcase_add_test(tc, test_escaping_with_exact_room);
	tcase_add_test(tc, test_every_quote_pattern);
	suite_add_tcase(s, tc);
	return s;
}
