/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "strv.h"
#include "suites.h"

/* v must be exactly expected (n entries), NULL-terminated. */
static void assert_strv(char **v, const char *const *expected, size_t n)
{
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(strv_length(v), n);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(v[i], expected[i]);
	ck_assert_ptr_null(v[n]);
}

START_TEST(test_length)
{
	char *three[] = { "a", "", "c", NULL };
	char *none[] = { NULL };

	ck_assert_uint_eq(strv_length(NULL), 0);
	ck_assert_uint_eq(strv_length(none), 0);
	ck_assert_uint_eq(strv_length(three), 3);
}
END_TEST

START_TEST(test_push_copies_and_terminates)
{
	char **v = NULL;
	char buf[] = "hello";

	ck_assert_int_eq(strv_push(&v, buf), 0);
	assert_strv(v, (const char *[]){ "hello" }, 1);
	ck_assert_ptr_ne(v[0], buf);	/* a copy */
	buf[0] = 'j';
	ck_assert_str_eq(v[0], "hello");
	ck_assert_int_eq(strv_push(&v, ""), 0);
	ck_assert_int_eq(strv_push(&v, "third"), 0);
	assert_strv(v, (const char *[]){ "hello", "", "third" }, 3);
	strv_free(v);
}
END_TEST

START_TEST(test_consume_takes_ownership)
{
	char **v = NULL;
	char *s = strdup("owned");

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(strv_consume(&v, s), 0);
	ck_assert_ptr_eq(v[0], s);	/* the very string, not a copy */
	ck_assert_ptr_null(v[1]);
	/* NULL is what a failed strdup() hands on: OOM, and v is untouched. */
	ck_assert_int_eq(strv_consume(&v, NULL), -ENOMEM);
	assert_strv(v, (const char *[]){ "owned" }, 1);
	strv_free(v);	/* frees s: valgrind/ASan see a double free or leak otherwise */
}
END_TEST

START_TEST(test_pushf)
{
	char **v = NULL;

	ck_assert_int_eq(strv_pushf(&v, "%s=%d", "N", 42), 0);
	ck_assert_int_eq(strv_pushf(&v, "%%%s%%", ""), 0);
	ck_assert_int_eq(strv_pushf(&v, "%.3s|%5s", "abcdef", "x"), 0);
	assert_strv(v, (const char *[]){ "N=42", "%%", "abc|    x" }, 3);
	strv_free(v);
}
END_TEST

START_TEST(test_many_pushes)
{
	char **v = NULL;
	char expect[16];

	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(strv_pushf(&v, "%d", i), 0);
	ck_assert_uint_eq(strv_length(v), 1000);
	for (int i = 0; i < 1000; i++) {
		snprintf(expect, sizeof(expect), "%d", i);
		ck_assert_str_eq(v[i], expect);
	}
	ck_assert_ptr_null(v[1000]);
	strv_free(v);
}
END_TEST

START_TEST(test_env_set_appends_and_replaces_exact_name)
{
	char **v = NULL;

	ck_assert_int_eq(strv_env_set(&v, "NAME", "1"), 0);
	assert_strv(v, (const char *[]){ "NAME=1" }, 1);
	ck_assert_int_eq(strv_push(&v, "NAME2=x"), 0);
	ck_assert_int_eq(strv_push(&v, "NAM=y"), 0);
	ck_assert_int_eq(strv_push(&v, "NAME"), 0);	/* no '=': not a NAME= entry */
	ck_assert_int_eq(strv_push(&v, "OTHER=NAME=3"), 0);

	/* Replaced in place; NAME2=, NAM=, the bare NAME and OTHER= stay. */
	ck_assert_int_eq(strv_env_set(&v, "NAME", "two words"), 0);
	assert_strv(v, (const char *[]){ "NAME=two words", "NAME2=x", "NAM=y", "NAME", "OTHER=NAME=3" }, 5);

	ck_assert_int_eq(strv_env_set(&v, "NAME2", ""), 0);
	ck_assert_int_eq(strv_env_set(&v, "NA", "new"), 0);
	ck_assert_int_eq(strv_env_set(&v, "OTHER", "a=b"), 0);
	assert_strv(v,
		    (const char *[]){ "NAME=two words", "NAME2=", "NAM=y", "NAME", "OTHER=a=b", "NA=new" }, 6);
	strv_free(v);
}
END_TEST

START_TEST(test_env_set_again_never_duplicates)
{
	char **v = NULL;

	/* Setting twice never duplicates. */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(strv_env_set(&v, "A", i == 2 ? "last" : "x"), 0);
	assert_strv(v, (const char *[]){ "A=last" }, 1);
	strv_free(v);
}
END_TEST

START_TEST(test_free_null)
{
	char **empty = calloc(1, sizeof(char *));

	strv_free(NULL);
	ck_assert_ptr_nonnull(empty);
	strv_free(empty);
}
END_TEST

Suite *strv_suite(void)
{
	Suite *s = suite_create("strv");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_length);
	tcase_add_test(tc, test_push_copies_and_terminates);
	tcase_add_test(tc, test_consume_takes_ownership);
	tcase_add_test(tc, test_pushf);
	tcase_add_test(tc, test_many_pushes);
	tcase_add_test(tc, test_env_set_appends_and_replaces_exact_name);
	tcase_add_test(tc, test_env_set_again_never_duplicates);
	tcase_add_test(tc, test_free_null);
	suite_add_tcase(s, tc);
	return s;
}
