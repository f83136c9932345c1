/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "dbuf.h"
#include "suites.h"

START_TEST(test_empty_is_empty_string)
{
	struct dbuf b;

	dbuf_init(&b, 10);
	ck_assert_str_eq(dbuf_str(&b), "");
	ck_assert_uint_eq(b.len, 0);
	ck_assert_ptr_null(b.buf);
	ck_assert(dbuf_eq(&b, "", 0));
	dbuf_free(&b);
}
END_TEST

START_TEST(test_append_grows_and_terminates)
{
	struct dbuf b;
	char big[1000];

	memset(big, 'x', sizeof(big));
	dbuf_init(&b, 5000);
	ck_assert_int_eq(dbuf_append(&b, "ab", 2), 0);
	ck_assert_int_eq(dbuf_putc(&b, 'c'), 0);
	ck_assert_str_eq(dbuf_str(&b), "abc");
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(dbuf_append(&b, big, sizeof(big)), 0);
	ck_assert_uint_eq(b.len, 4003);
	ck_assert_uint_eq(b.buf[b.len], '\0');
	ck_assert_uint_le(b.cap, 5001);
	dbuf_free(&b);
}
END_TEST

START_TEST(test_cap_is_enforced_and_contents_kept)
{
	struct dbuf b;

	dbuf_init(&b, 4);
	ck_assert_int_eq(dbuf_append(&b, "abcd", 4), 0);
	ck_assert_int_eq(dbuf_putc(&b, 'e'), -E2BIG);
	ck_assert_str_eq(dbuf_str(&b), "abcd");
	ck_assert_int_eq(dbuf_set(&b, "12345", 5), -E2BIG);
	ck_assert_str_eq(dbuf_str(&b), "abcd");
	ck_assert_uint_le(b.cap, 5);
	dbuf_free(&b);
}
END_TEST

START_TEST(test_zero_max_holds_nothing)
{
	struct dbuf b;

	dbuf_init(&b, 0);
	ck_assert_int_eq(dbuf_append(&b, "", 0), 0);
	ck_assert_int_eq(dbuf_putc(&b, 'a'), -E2BIG);
	ck_assert_str_eq(dbuf_str(&b), "");
	dbuf_free(&b);
}
END_TEST

START_TEST(test_reset_trim_releases_large_buffers_only)
{
	struct dbuf b;
	char blob[200] = { 0 };

	dbuf_init(&b, 1000);
	ck_assert_int_eq(dbuf_append(&b, blob, 10), 0);
	dbuf_reset_trim(&b, 100);
	ck_assert_ptr_nonnull(b.buf);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(dbuf_append(&b, blob, sizeof(blob)), 0);
	dbuf_reset_trim(&b, 100);
	ck_assert_ptr_null(b.buf);
	ck_assert_uint_eq(b.cap, 0);
	dbuf_free(&b);
}
END_TEST

START_TEST(test_swap_and_eq_with_nul)
{
	struct dbuf a, b;

	dbuf_init(&a, 10);
	dbuf_init(&b, 10);
	ck_assert_int_eq(dbuf_set(&a, "x\0y", 3), 0);
	ck_assert_int_eq(dbuf_set(&b, "q", 1), 0);
	dbuf_swap(&a, &b);
	ck_assert(dbuf_eq(&a, "q", 1));
	ck_assert(dbuf_eq(&b, "x\0y", 3));
	ck_assert(!dbuf_eq(&b, "x\0z", 3));
	ck_assert(!dbuf_eq(&b, "x", 1));
	ck_assert_uint_eq(a.max, 10);
	dbuf_free(&a);
	dbuf_free(&b);
}
END_TEST

Suite *dbuf_suite(void)
{
	Suite *s = suite_create("dbuf");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_empty_is_empty_string);
	tcase_add_test(tc, test_append_grows_and_terminates);
	tcase_add_test(tc, test_cap_is_enforced_and_contents_kept);
	tcase_add_test(tc, test_zero_max_holds_nothing);
	tcase_add_test(tc, test_reset_trim_releases_large_buffers_only);
	tcase_add_test(tc, test_swap_and_eq_with_nul);
	suite_add_tcase(s, tc);
	return s;
}
