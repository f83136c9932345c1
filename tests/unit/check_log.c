/* SPDX-License-Identifier: MIT */
/*
 * log: what reaches stderr, captured by pointing fd 2 at a memfd for the
 * duration of one call and reading it back.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "macro.h"
#include "suites.h"
#include "testlib.h"

static int saved_level;

static void setup(void)
{
	saved_level = log_get_max_level();
}

static void teardown(void)
{
	log_set_max_level(saved_level);
}

START_TEST(test_level_from_string)
{
	static const struct { const char *s; int level; } rows[] = {
		{ "debug", LOG_DEBUG }, { "info", LOG_INFO }, { "notice", LOG_NOTICE },
		{ "warning", LOG_WARNING }, { "error", LOG_ERR },
		{ "", -EINVAL }, { "Info", -EINVAL }, { "DEBUG", -EINVAL }, { "warn", -EINVAL },
		{ "err", -EINVAL }, { "crit", -EINVAL }, { "info ", -EINVAL }, { " info", -EINVAL },
		{ "6", -EINVAL }, { "infox", -EINVAL },
	};

	for (size_t i = 0; i < ELEMENTSOF(rows); i++)
		ck_assert_msg(log_level_from_string(rows[i].s) == rows[i].level, "'%s' gave %d", rows[i].s,
			      log_level_from_string(rows[i].s));
}
END_TEST

START_TEST(test_max_level_round_trip)
{
	log_set_max_level(LOG_DEBUG);
	ck_assert_int_eq(log_get_max_level(), LOG_DEBUG);
	log_set_max_level(LOG_ERR);
	ck_assert_int_eq(log_get_max_level(), LOG_ERR);
}
END_TEST

START_TEST(test_returns_negative_abs_error)
{
	struct fd_capture c;
	_cleanup_free_ char *out = NULL;

	log_set_max_level(LOG_DEBUG);
	capture_begin(&c, STDERR_FILENO);
	ck_assert_int_eq(log_error_errno(EIO, "a"), -EIO);
	ck_assert_int_eq(log_error_errno(-EIO, "b"), -EIO);
	ck_assert_int_eq(log_warning_errno(-ENOENT, "c"), -ENOENT);
	ck_assert_int_eq(log_info("d"), 0);
	ck_assert_int_eq(log_full_errno(LOG_DEBUG, 0, "e"), 0);
	/* Filtered out: nothing printed, but the value is the same. */
	log_set_max_level(LOG_ERR);
	ck_assert_int_eq(log_full_errno(LOG_INFO, -EPIPE, "f"), -EPIPE);
	ck_assert_int_eq(log_full_errno(LOG_DEBUG, EPIPE, "g"), -EPIPE);
	out = capture_end(&c, NULL);
	ck_assert_str_eq(out, "error: a\nerror: b\nwarning: c\nd\ne\n");
}
END_TEST

START_TEST(test_percent_m_is_the_given_error)
{
	struct fd_capture c;
	_cleanup_free_ char *out = NULL;

	log_set_max_level(LOG_INFO);
	capture_begin(&c, STDERR_FILENO);
	errno = EBADF;	/* what errno says must not matter */
	log_error_errno(ENOENT, "open %s: %m", "/x");
	errno = EBADF;
	log_warning_errno(-EACCES, "%m (%d)", 5);
	errno = EBADF;
	log_full_errno(LOG_INFO, -ETIMEDOUT, "then: %m");
	out = capture_end(&c, NULL);
	ck_assert_str_eq(out, "error: open /x: No such file or directory\n"
			      "warning: Permission denied (5)\n"
			      "then: Connection timed out\n");
}
END_TEST

START_TEST(test_level_filtering)
{
	struct fd_capture c;
	_cleanup_free_ char *out = NULL;

	capture_begin(&c, STDERR_FILENO);
	log_set_max_level(LOG_WARNING);
	log_debug("debug 1");
	log_info("info 1");
	log_notice("notice 1");
	log_warning("warning 1");
	log_error("error 1");
	log_set_max_level(LOG_DEBUG);
	log_debug("debug 2");
	log_notice("notice 2");
	log_set_max_level(LOG_NOTICE);
	log_info("info 3");
	log_notice("notice 3");
	log_set_max_level(LOG_ERR);
	log_warning("warning 4");
	log_full_errno(LOG_CRIT, 0, "crit 4");
	out = capture_end(&c, NULL);
	ck_assert_str_eq(out, "warning: warning 1\nerror: error 1\ndebug 2\nnotice 2\nnotice 3\nerror: crit 4\n");
}
END_TEST

START_TEST(test_fields)
{
	struct fd_capture c;
	_cleanup_free_ char *out = NULL;

	log_set_max_level(LOG_INFO);
	capture_begin(&c, STDERR_FILENO);
	log_f(LOG_INFO, 0, &(struct log_fields){ .listener = "l1", .event_id = "42", .request_id = "r",
						  .message_id = LOG_MID_CONNECTED },
	      "connected to %s", "h");
	log_f(LOG_ERR, EIO, &(struct log_fields){ .listener = "my.listener-2" }, "failed: %m");
	log_f(LOG_WARNING, 0, &(struct log_fields){ .event_id = "7" }, "no listener");
	log_f(LOG_NOTICE, 0, NULL, "no fields");
	log_f(LOG_DEBUG, 0, &(struct log_fields){ .listener = "l1" }, "filtered");
	out = capture_end(&c, NULL);
	ck_assert_str_eq(out, "l1: connected to h\n"
			      "error: my.listener-2: failed: Input/output error\n"
			      "warning: no listener\n"
			      "no fields\n");
}
END_TEST

START_TEST(test_long_message_one_line)
{
	struct fd_capture c;
	_cleanup_free_ char *out = NULL;
	_cleanup_free_ char *big = malloc(10001);
	size_t len;

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', 10000);
	big[10000] = '\0';
	log_set_max_level(LOG_INFO);
	capture_begin(&c, STDERR_FILENO);
	ck_assert_int_eq(log_info("%s", big), 0);
	out = capture_end(&c, NULL);
	/* Cut or not, it is one line of the message's own bytes. */
	len = strlen(out);
	ck_assert_uint_ge(len, 1001);
	ck_assert_uint_le(len, 10001);
	ck_assert_int_eq(out[len - 1], '\n');
	ck_assert_uint_eq(strspn(out, "x"), len - 1);
}
END_TEST

Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_level_from_string);
	tcase_add_test(tc, test_max_level_round_trip);
	tcase_add_test(tc, test_returns_negative_abs_error);
	tcase_add_test(tc, test_percent_m_is_the_given_error);
	tcase_add_test(tc, test_level_filtering);
	tcase_add_test(tc, test_fields);
	tcase_add_test(tc, test_long_message_one_line);
	suite_add_tcase(s, tc);
	return s;
}
