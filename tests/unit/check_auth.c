/* SPDX-License-Identifier: MIT */
/*
 * auth: where credentials may go (a table of URLs), how a token file is
 * read (a table of contents), and which token a refresh brings when both a
 * file and a refresh_command are configured.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "cleanup.h"
#include "macro.h"
#include "suites.h"
#include "testlib.h"

static const struct {
	const char *url;
	bool safe;
} urls[] = {
	{ "https://aviso.example.int/", true },
	{ "HTTPS://X", true },
	{ "http://localhost/", true },
	{ "http://LOCALHOST:8080/x", true },
	{ "http://127.0.0.1:8080/", true },
	{ "http://127.1/", true },
	{ "http://[::1]:9/", true },
	{ "http://[::1]/", true },
	{ "http://user:pw@127.0.0.1/", true },
	{ "http://evil.example@127.0.0.1/", true },		/* userinfo, then the host */
	{ "http://127.0.0.1#@evil.example/", true },		/* a fragment: the host is 127.0.0.1 */
	{ "http://127.0.0.1@evil.example/", false },		/* userinfo: the host is evil.example */
	{ "http://127.0.0.1:80@evil.example/", false },
	{ "http://localhost.evil.example/", false },
	{ "http://localhostx/", false },
	{ "http://127.0.0.1.evil.example/", false },
	{ "http://0x7f000001/", false },			/* loopback to some parsers: not trusted */
	{ "http://[::2]/", false },
	{ "http://[::1.2]/", false },
	{ "http://[::1/", false },
	{ "http://128.0.0.1/", false },
	{ "http://aviso.example.int/", false },
	{ "http://", false },
	{ "ftp://localhost/", false },
	{ "localhost", false },
	{ "", false },
};

START_TEST(test_url_safe)
{
	for (size_t i = 0; i < ELEMENTSOF(urls); i++)
		ck_assert_msg(auth_url_safe(urls[i].url) == urls[i].safe, "%s", urls[i].url);
}
END_TEST

static char *write_tmp(const char *dir, const char *name, const char *data, size_t len)
{
	char *path = NULL;
	FILE *f;

	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

static const struct {
	const char *what, *content;
	size_t len;		/* 0: strlen */
	const char *header;	/* NULL: refused */
} token_files[] = {
	{ "plain", "tok", 0, "Bearer tok" },
	{ "newline", "tok\n", 0, "Bearer tok" },
	{ "crlf and spaces", "tok \t\r\n\n", 0, "Bearer tok" },
	{ "leading space kept", " tok", 0, "Bearer  tok" },
	{ "inner space kept", "a b", 0, "Bearer a b" },
	{ "empty", "", 0, NULL },
	{ "only white space", " \n\t\n", 0, NULL },
	{ "two lines", "a\nb\n", 0, NULL },
	{ "carriage return inside", "a\rb", 0, NULL },
	{ "nul inside", "a\0b", 3, NULL },
};

START_TEST(test_token_file)
{
	_cleanup_free_ char *dir = tmpdir_new();

	for (size_t i = 0; i < ELEMENTSOF(token_files); i++) {
		size_t len = token_files[i].len ? token_files[i].len : strlen(token_files[i].content);
		_cleanup_free_ char *path = write_tmp(dir, "token", token_files[i].content, len), *err = NULL;
		struct cfg_auth cfg = { .bearer_token_file = path };
		struct auth *a = NULL;
		const char *h = NULL;
		int r;

		ck_assert_int_eq(auth_new(&cfg, &a), 0);
		r = auth_header(a, &h, &err);
		if (token_files[i].header) {
			ck_assert_msg(r == 0, "%s: %d %s", token_files[i].what, r, err ? err : "");
			ck_assert_str_eq(h, token_files[i].header);
		} else {
			ck_assert_msg(r < 0, "%s: accepted", token_files[i].what);
			/* The message names the file, never what is in it. */
			ck_assert_ptr_nonnull(err);
			ck_assert_msg(strstr(err, path) != NULL, "%s: %s", token_files[i].what, err);
		}
		auth_free(a);
	}
	rm_rf(dir);
}
END_TEST

START_TEST(test_token_file_limits)
{
	_cleanup_free_ char *dir = tmpdir_new(), *big = malloc(AUTH_MAX_SECRET + 1), *err = NULL, *err2 = NULL;
	_cleanup_free_ char *path = NULL;
	struct cfg_auth cfg = { 0 };
	struct auth *a = NULL;
	const char *h = NULL;

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', AUTH_MAX_SECRET + 1);
	path = write_tmp(dir, "big", big, AUTH_MAX_SECRET + 1);
	cfg.bearer_token_file = path;
	ck_assert_int_eq(auth_new(&cfg, &a), 0);
	ck_assert_int_lt(auth_header(a, &h, &err), 0);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file of at most 65536 bytes"));
	ck_assert_ptr_null(strstr(err, "xxxx"));
	auth_free(a);

	cfg.bearer_token_file = dir;		/* a directory */
	ck_assert_int_eq(auth_new(&cfg, &a), 0);
	ck_assert_int_lt(auth_header(a, &h, &err2), 0);
	ck_assert_ptr_nonnull(strstr(err2, dir));
	auth_free(a);
	rm_rf(dir);
}
END_TEST

/* ---------------------------------------------- a file and a refresh_command */

struct refresh {
	sd_event *e;
	int error;
	int calls;
};

static void on_refreshed(struct auth *a, int error, const char *message, void *userdata)
{
	struct refresh *f = userdata;

	(void)a;
	(void)message;
	f->error = error;
	f->calls++;
}

/* A refresh (the server answered 401 to what auth_header() gave), then the new header. */
static const char *refresh(struct auth *a, sd_event *e)
{
	struct refresh f = { .e = e };
	const char *h = NULL;
	char *err = NULL;

	ck_assert_int_eq(auth_refresh(a, e, NULL, on_refreshed, &f), 0);
	/* The loop goes on after it (auth keeps its sources on it), so it is
	 * run step by step, each step bounded. */
	for (int i = 0; f.calls == 0; i++) {
		ck_assert_int_lt(i, 100);
		ck_assert_int_ge(sd_event_run(e, 100 * USEC_PER_MSEC), 0);
	}
	ck_assert_int_eq(f.calls, 1);
	ck_assert_int_eq(f.error, 0);
	ck_assert_int_eq(auth_header(a, &h, &err), 0);
	free(err);
	return h;
}

START_TEST(test_file_wins_once_rotated)
{
	_cleanup_free_ char *dir = tmpdir_new(), *file = NULL, *src = NULL, *err = NULL;
	char *argv[] = { (char *)"/bin/cat", NULL, NULL };
	struct cfg_auth cfg = { 0 };
	struct auth *a = NULL;
	sd_event *e = NULL;
	sigset_t chld, saved;
	const char *h = NULL;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	ck_assert_int_eq(sigprocmask(SIG_BLOCK, &chld, &saved), 0);
	ck_assert_int_ge(sd_event_new(&e), 0);
	file = write_tmp(dir, "token", "file-1\n", 7);
	src = write_tmp(dir, "fetched", "cmd-1\n", 6);
	argv[1] = src;
	cfg.bearer_token_file = file;
	cfg.refresh_command = argv;
	cfg.refresh_timeout_usec = 10 * USEC_PER_SEC;
	ck_assert_int_eq(auth_new(&cfg, &a), 0);

	ck_assert_int_eq(auth_header(a, &h, &err), 0);
	ck_assert_str_eq(h, "Bearer file-1");
	/* file-1 rejected, the file unchanged: the command's token. */
	ck_assert_str_eq(refresh(a, e), "Bearer cmd-1");
	/* A reload with the file still unchanged keeps it. */
	auth_invalidate(a);
	ck_assert_int_eq(auth_header(a, &h, &err), 0);
	ck_assert_str_eq(h, "Bearer cmd-1");
	/* cmd-1 rejected, the file rotated meanwhile: the file, no command. */
	free(write_tmp(dir, "token", "file-2\n", 7));
	free(write_tmp(dir, "fetched", "cmd-2\n", 6));
	ck_assert_str_eq(refresh(a, e), "Bearer file-2");
	/* file-2 rejected: the command again. */
	ck_assert_str_eq(refresh(a, e), "Bearer cmd-2");
	/* A reload after the file rotated again: the file. */
	free(write_tmp(dir, "token", "file-3\n", 7));
	auth_invalidate(a);
	ck_assert_int_eq(auth_header(a, &h, &err), 0);
	ck_assert_str_eq(h, "Bearer file-3");
	/* The file gone: the command stands in for it. */
	ck_assert_int_eq(unlink(file), 0);
	auth_invalidate(a);
	ck_assert_int_eq(auth_header(a, &h, &err), -ENOKEY);
	ck_assert_ptr_null(err);
	ck_assert_str_eq(refresh(a, e), "Bearer cmd-2");

	auth_free(a);
	sd_event_unref(e);
	ck_assert_int_eq(sigprocmask(SIG_SETMASK, &saved, NULL), 0);
	rm_rf(dir);
}
END_TEST

Suite *auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("auth");

	tcase_add_test(tc, test_url_safe);
	tcase_add_test(tc, test_token_file);
	tcase_add_test(tc, test_token_file_limits);
	tcase_add_test(tc, test_file_wins_once_rotated);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
