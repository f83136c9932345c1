/* SPDX-License-Identifier: MIT */
/*
 * http_header: the response header lines the daemon acts on. Tables of edge
 * cases for each reader, and every vector cut short at every point (libcurl
 * hands over whole lines, but a reader must never look past the length).
 */
#include <check.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "http_header.h"
#include "macro.h"
#include "suites.h"

static const struct {
	const char *line;
	int status;
} status_lines[] = {
	{ "HTTP/1.1 200 OK\r\n", 200 },
	{ "HTTP/1.1 204\r\n", 204 },
	{ "HTTP/2 301\r\n", 301 },
	{ "HTTP/1.0 503 Service Unavailable\r\n", 503 },
	{ "HTTP/1.1 200", 200 },
	{ "HTTP/1.1 2000 OK\r\n", 0 },
	{ "HTTP/1.1 20 OK\r\n", 0 },
	{ "HTTP/1.1 2x0 OK\r\n", 0 },
	{ "HTTP/1.1 020 OK\r\n", 0 },
	{ "HTTP/1.1 999 ?\r\n", 999 },
	{ "HTTP/1.1 -20 OK\r\n", 0 },
	{ "HTTP/1.1  200 OK\r\n", 0 },
	{ "HTTP/1.1\r\n", 0 },
	{ "HTTP/", 0 },
	{ "http/1.1 200 OK\r\n", 0 },
	{ "Content-Type: 200\r\n", 0 },
	{ "", 0 },
};

START_TEST(test_status_line)
{
	for (size_t i = 0; i < ELEMENTSOF(status_lines); i++)
		ck_assert_msg(http_status_line(status_lines[i].line, strlen(status_lines[i].line)) == status_lines[i].status,
			      "'%s'", status_lines[i].line);
}
END_TEST

static const struct {
	const char *line, *name, *value;	/* value NULL: not that header */
} header_lines[] = {
	{ "Content-Type: text/event-stream\r\n", "Content-Type", "text/event-stream" },
	{ "content-type:text/event-stream\r\n", "Content-Type", "text/event-stream" },
	{ "CONTENT-TYPE: \t a b \t\r\n", "Content-Type", "a b" },
	{ "Content-Type:\r\n", "Content-Type", "" },
	{ "Content-Type:", "Content-Type", "" },
	{ "Content-Type : x\r\n", "Content-Type", NULL },
	{ "Content-Typo: x\r\n", "Content-Type", NULL },
	{ "Content-Type-X: x\r\n", "Content-Type", NULL },
	{ "Content-Type", "Content-Type", NULL },
	{ "X-Content-Type: x\r\n", "Content-Type", NULL },
	{ "Retry-After: 5\n", "Retry-After", "5" },
	{ "", "Location", NULL },
};

START_TEST(test_header_value)
{
	for (size_t i = 0; i < ELEMENTSOF(header_lines); i++) {
		const char *v = NULL;
		size_t n = 0;
		bool is = http_header_value(header_lines[i].line, strlen(header_lines[i].line), header_lines[i].name, &v,
					    &n);

		ck_assert_msg(is == (header_lines[i].value != NULL), "'%s'", header_lines[i].line);
		if (is)
			ck_assert_msg(n == strlen(header_lines[i].value) && memcmp(v, header_lines[i].value, n) == 0,
				      "'%s': '%.*s'", header_lines[i].line, (int)n, v);
	}
}
END_TEST

static const struct {
	const char *value;
	bool ok;
} media_types[] = {
	{ "text/event-stream", true },
	{ "TEXT/Event-Stream", true },
	{ "text/event-stream; charset=utf-8", true },
	{ "text/event-stream;charset=utf-8", true },
	{ "text/event-stream ;x", true },
	{ "text/event-streams", false },
	{ "text/event-strea", false },
	{ "text/plain", false },
	{ "application/json", false },
	{ " text/event-stream", false },
	{ "", false },
};

START_TEST(test_media_type)
{
	for (size_t i = 0; i < ELEMENTSOF(media_types); i++)
		ck_assert_msg(http_media_type_is_event_stream(media_types[i].value, strlen(media_types[i].value)) ==
				      media_types[i].ok,
			      "'%s'", media_types[i].value);
}
END_TEST

/* 2015-10-21 07:28:00 UTC, and a clock a minute before it. */
#define DATE_USEC (UINT64_C(1445412480) * USEC_PER_SEC)
#define NOW (DATE_USEC - 60 * USEC_PER_SEC)

static const struct {
	const char *value;
	uint64_t usec;
} retry_afters[] = {
	{ "0", 0 },
	{ "5", 5 * USEC_PER_SEC },
	{ "120", 120 * USEC_PER_SEC },
	{ "007", 7 * USEC_PER_SEC },
	{ "99999999999999999999", UINT64_C(9999999999) * USEC_PER_SEC },	/* stops growing past 2^32 */
	{ "Wed, 21 Oct 2015 07:28:00 GMT", 60 * USEC_PER_SEC },
	{ "Wed, 21 Oct 2015 07:27:00 GMT", 0 },		/* now */
	{ "Wed, 21 Oct 2015 07:00:00 GMT", 0 },		/* past */
	{ "-5", 0 },
	{ "5s", 0 },
	{ "1.5", 0 },
	{ "soon", 0 },
	{ "", 0 },
	{ "0123456789012345678901234567890123456789012345678901234567890123", 0 },	/* too long */
};

START_TEST(test_retry_after)
{
	for (size_t i = 0; i < ELEMENTSOF(retry_afters); i++) {
		uint64_t got = http_retry_after_usec(retry_afters[i].value, strlen(retry_afters[i].value), NOW);

		ck_assert_msg(got == retry_afters[i].usec, "'%s': %" PRIu64, retry_afters[i].value, got);
	}
}
END_TEST

START_TEST(test_request_id)
{
	char out[8];

	http_request_id("ab c\td\x01" "e", 8, out, sizeof(out));
	ck_assert_str_eq(out, "abcde");
	http_request_id("0123456789", 10, out, sizeof(out));
	ck_assert_str_eq(out, "0123456");
	http_request_id("x", 1, out, 1);
	ck_assert_str_eq(out, "");
	http_request_id("", 0, out, sizeof(out));
	ck_assert_str_eq(out, "");
}
END_TEST

/* Every vector cut short, in a buffer of exactly that length (ASan sees a read past it). */
START_TEST(test_every_prefix_stays_in_bounds)
{
	const char *all[ELEMENTSOF(status_lines) + ELEMENTSOF(header_lines) + ELEMENTSOF(retry_afters)];
	size_t n = 0;

	for (size_t i = 0; i < ELEMENTSOF(status_lines); i++)
		all[n++] = status_lines[i].line;
	for (size_t i = 0; i < ELEMENTSOF(header_lines); i++)
		all[n++] = header_lines[i].line;
	for (size_t i = 0; i < ELEMENTSOF(retry_afters); i++)
		all[n++] = retry_afters[i].value;
	for (size_t i = 0; i < n; i++)
		for (size_t cut = 0; cut <= strlen(all[i]); cut++) {
			_cleanup_free_ char *b = malloc(cut ? cut : 1);
			const char *v;
			size_t vlen;
			char id[16];

			ck_assert_ptr_nonnull(b);
			memcpy(b, all[i], cut);
			(void)http_status_line(b, cut);
			if (http_header_value(b, cut, "Retry-After", &v, &vlen)) {
				ck_assert(v >= b && v + vlen <= b + cut);
				(void)http_retry_after_usec(v, vlen, NOW);
			}
			(void)http_media_type_is_event_stream(b, cut);
			(void)http_retry_after_usec(b, cut, NOW);
			http_request_id(b, cut, id, sizeof(id));
		}
}
END_TEST

Suite *http_header_suite(void)
{
	Suite *s = suite_create("http_header");
	TCase *tc = tcase_create("lines");

	tcase_add_test(tc, test_status_line);
	tcase_add_test(tc, test_header_value);
	tcase_add_test(tc, test_media_type);
	tcase_add_test(tc, test_retry_after);
	tcase_add_test(tc, test_request_id);
	tcase_add_test(tc, test_every_prefix_stays_in_bounds);
	suite_add_tcase(s, tc);
	return s;
}
