/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "macro.h"
#include "suites.h"
#include "util.h"

START_TEST(test_strdupf)
{
	char *s = strdupf("%s-%d-%c", "a", -7, 'z');
	char big[5000];

	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "a--7-z");
	free(s);

	s = strdupf("%s", "");
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "");
	free(s);

	/* Longer than any stack buffer a sloppy version might use. */
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	s = strdupf("<%s>", big);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(strlen(s), sizeof(big) + 1);
	ck_assert_int_eq(s[0], '<');
	ck_assert_int_eq(s[sizeof(big)], '>');
	ck_assert(memcmp(s + 1, big, sizeof(big) - 1) == 0);
	free(s);
}
END_TEST

START_TEST(test_url_hide_secrets)
{
	static const struct {
		const char *url, *want;
	} vectors[] = {
		{ "https://host/p", "https://host/p" },
		{ "https://user:pw@host:8443/p", "https://(secret)@host:8443/p" },
		{ "https://token@host", "https://(secret)@host" },
		{ "http://u:p@ss@host/x", "http://(secret)@host/x" },		/* the last '@' ends it */
		{ "https://host/path@not-userinfo", "https://host/path@not-userinfo" },
		{ "https://host?q=a@b", "https://host?q=a@b" },
		{ "https://host#a@b", "https://host#a@b" },
		{ "https://@host", "https://(secret)@host" },
		{ "no scheme u:p@host", "no scheme u:p@host" },
		{ "", "" },
		/* query values named like credentials */
		{ "https://h/.well-known/mercure?topic=x&authorization=eyJ.a.b",
		  "https://h/.well-known/mercure?topic=x&authorization=(secret)" },
		{ "https://h/p?access_token=abc", "https://h/p?access_token=(secret)" },
		{ "https://h/p?API_KEY=1&b=2&X-Amz-Signature=ff#frag?token=t",
		  "https://h/p?API_KEY=(secret)&b=2&X-Amz-Signature=(secret)#frag?token=t" },
		{ "https://u:p@h?token=", "https://(secret)@h?token=(secret)" },
		{ "https://h?token", "https://h?token" },			/* no value to hide */
		{ "https://h?topic=a&&page=2&", "https://h?topic=a&&page=2&" },
		{ "https://h?sig=1&sig=2", "https://h?sig=(secret)&sig=(secret)" },
		{ "https://h?=x", "https://h?=x" },
		{ "https://h#a?token=x", "https://h#a?token=x" },
		{ "https://h?a=b@c/d", "https://h?a=b@c/d" },
	};

	for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
		char *got = url_hide_secrets(vectors[i].url);

		ck_assert_ptr_nonnull(got);
		ck_assert_msg(strcmp(got, vectors[i].want) == 0, "%s: got %s", vectors[i].url, got);
		free(got);
	}
}
END_TEST

START_TEST(test_now_usec_monotonic)
{
	uint64_t prev = now_usec(CLOCK_MONOTONIC);
	struct timespec ts;
	uint64_t first = prev, mine;

	ck_assert_uint_gt(prev, 0);
	for (int i = 0; i < 100000; i++) {
		uint64_t t = now_usec(CLOCK_MONOTONIC);

		ck_assert_uint_ge(t, prev);
		prev = t;
	}
	/* The same clock, in microseconds: our own reading lies between. */
	ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	mine = (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
	ck_assert_uint_ge(mine, first);
	ck_assert_uint_le(now_usec(CLOCK_MONOTONIC) - mine, 10 * USEC_PER_SEC);
}
END_TEST

START_TEST(test_now_usec_realtime)
{
	time_t before = time(NULL);
	uint64_t t = now_usec(CLOCK_REALTIME);
	time_t after = time(NULL);

	/* time() may lag the clock by under a tick: allow one second either side. */
	ck_assert_uint_ge(t / USEC_PER_SEC + 1, (uint64_t)before);
	ck_assert_uint_le(t / USEC_PER_SEC, (uint64_t)after + 1);
}
END_TEST

START_TEST(test_format_rfc3339_known_instants)
{
	/*
	 * Expected strings computed independently with Python:
	 *   s, us = divmod(usec, 10**6)
	 *   (datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=s))
	 *       .strftime('%Y-%m-%dT%H:%M:%S') + '.%06dZ' % us
	 * and the 2026 one also with `date -u -d @1795330180`.
	 */
	static const struct { uint64_t usec; const char *expect; } rows[] = {
		{ 0, "1970-01-01T00:00:00.000000Z" },
		{ 1000000, "1970-01-01T00:00:01.000000Z" },
		{ 1795330180123456, "2026-11-22T06:49:40.123456Z" },
		{ 951782400000001, "2000-02-29T00:00:00.000001Z" },	/* a leap day */
		{ 4102444799999999, "2099-12-31T23:59:59.999999Z" },
	};

	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		char buf[32];

		memset(buf, 'X', sizeof(buf));
		ck_assert_ptr_eq(format_rfc3339(rows[i].usec, buf), buf);
		ck_assert_str_eq(buf, rows[i].expect);
		ck_assert_uint_eq(strlen(buf), 27);
	}
}
END_TEST

START_TEST(test_format_rfc3339_now_round_trips)
{
	uint64_t now = now_usec(CLOCK_REALTIME);
	char buf[32];
	struct tm tm = { 0 };
	const char *rest;

	format_rfc3339(now, buf);
	rest = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
	ck_assert_ptr_nonnull(rest);
	ck_assert_int_eq((long long)timegm(&tm), (long long)(now / USEC_PER_SEC));
	ck_assert_int_eq(rest[0], '.');
	ck_assert_uint_eq(strtoul(rest + 1, NULL, 10), now % USEC_PER_SEC);
	ck_assert_str_eq(rest + 7, "Z");
}
END_TEST

/* utf8_valid accepts exactly what jansson accepts as a string. */
START_TEST(test_utf8_valid_agrees_with_jansson)
{
	static const char *const fixed[] = {
		"", "plain ascii", "\xc3\xa9", "\xe2\x80\xa8", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
		"\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xf0\x80\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"\xf5\x80\x80\x80", "\x80", "\xbf", "\xc3", "\xe2\x80", "abcdefgh\xc3", "abcdefghijklmnop\xff",
	};
	uint64_t x = 7;

	for (size_t i = 0; i < ELEMENTSOF(fixed); i++) {
		json_t *j = json_stringn(fixed[i], strlen(fixed[i]));

		ck_assert_msg(utf8_valid(fixed[i], strlen(fixed[i])) == (j != NULL), "fixed[%zu]", i);
		json_decref(j);
	}
	/* Random bytes, biased towards the interesting ranges. */
	for (int round = 0; round < 200000; round++) {
		static const unsigned char pool[] = { 'a', 0x00, 0x7f, 0x80, 0x8f, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1,
						      0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff };
		unsigned char buf[24];
		size_t len;
		json_t *j;

		x = x * 6364136223846793005ULL + 1;
		len = (x >> 40) % sizeof(buf);
		for (size_t i = 0; i < len; i++) {
			x = x * 6364136223846793005ULL + 1;
			buf[i] = (x >> 50) % 3 ? pool[(x >> 33) % sizeof(pool)] : (unsigned char)(x >> 24);
		}
		j = json_stringn((const char *)buf, len);
		if (utf8_valid((const char *)buf, len) != (j != NULL))
			ck_abort_msg("round %d disagrees with jansson (len %zu)", round, len);
		json_decref(j);
	}
}
END_TEST

/*
 * The fast paths read 32 and 8 bytes at a time, and the last 8 of a short
 * tail: one sequence, good or bad, at every offset of ASCII strings of
 * every length up to 100 must get jansson's answer.
 */
START_TEST(test_utf8_valid_every_offset_and_length)
{
	static const char *const seqs[] = { "\xc3\xa9", "\xf0\x9f\x98\x80", "\xff", "\x80", "\xc3", "\xed\xa0\x80" };
	char buf[160];

	for (size_t q = 0; q < ELEMENTSOF(seqs); q++) {
		size_t sl = strlen(seqs[q]);

		for (size_t len = sl; len <= 150; len++)
			for (size_t at = 0; at + sl <= len; at++) {
				json_t *j;

				memset(buf, 'a', len);
				memcpy(buf + at, seqs[q], sl);
				j = json_stringn(buf, len);
				if (utf8_valid(buf, len) != (j != NULL))
					ck_abort_msg("sequence %zu at %zu of %zu disagrees with jansson", q, at, len);
				json_decref(j);
			}
	}
	for (size_t len = 0; len <= 150; len++) {
		memset(buf, 'a', len);
		ck_assert_msg(utf8_valid(buf, len), "ASCII of length %zu", len);
	}
}
END_TEST

Suite *util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_strdupf);
	tcase_add_test(tc, test_url_hide_secrets);
	tcase_add_test(tc, test_now_usec_monotonic);
	tcase_add_test(tc, test_now_usec_realtime);
	tcase_add_test(tc, test_format_rfc3339_known_instants);
	tcase_add_test(tc, test_format_rfc3339_now_round_trips);
	tcase_add_test(tc, test_utf8_valid_agrees_with_jansson);
	tcase_add_test(tc, test_utf8_valid_every_offset_and_length);
	suite_add_tcase(s, tc);
	return s;
}
