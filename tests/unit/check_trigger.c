/* SPDX-License-Identifier: MIT */
/*
 * trigger: echo and log with their output read back, and command through a
 * real sd-event loop, its stdout and stderr read from the log lines the
 * trigger writes about them (stderr pointed at a memfd).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "jsonw.h"
#include "log.h"
#include "macro.h"
#include "notif.h"
#include "strv.h"
#include "suites.h"
#include "testlib.h"
#include "trigger.h"
#include "util.h"

#define ARGV(...) ((char *[]){ __VA_ARGS__, NULL })
#define WATCHDOG_USEC (15 * USEC_PER_SEC)
#define WHERE "listeners[0].triggers[0]"

static struct cfg_listener listener(enum cfg_protocol protocol)
{
	return (struct cfg_listener){ .name = "l1", .where = "listeners[0]", .protocol = protocol };
}

static struct cfg_trigger trigger(enum cfg_trigger_type type)
{
	return (struct cfg_trigger){ .type = type, .where = WHERE, .required = true, .fail_fast = -1,
				     .kill_grace_usec = 5 * USEC_PER_SEC };
}

static json_t *sse_notif(const char *data, const char *id)
{
	json_t *n = notif_sse_new("update", 6, data, strlen(data), id != NULL, id, id ? strlen(id) : 0);

	ck_assert_ptr_nonnull(n);
	return n;
}

/* ------------------------------------------------------------ base env, kinds */

START_TEST(test_base_env_drops_private_variables)
{
	char *environ_[] = {
		"PATH=/usr/bin:/bin", "NOTIFY_SOCKET=/run/systemd/notify", "HOME=/root", "NOTIFY_SOCKETX=1",
		"WATCHDOG_PID=1", "WATCHDOG_USEC=30000000", "LISTEN_PID=1", "LISTEN_FDS=2",
		"LISTEN_FDNAMES=a:b", "CREDENTIALS_DIRECTORY=/run/credentials/x", "JOURNAL_STREAM=8:1234",
		"MAINPID=12", "MANAGERPID=1", "SSEWATCHD_LISTENER=x", "SSEWATCHD_CONFIG=/etc/s.yaml", "SSEWATCHD_=",
		"AVISO_SEQUENCE=3", "AVISO_IDENTIFIER_CLASS=od", "MAINPIDX=1", "XMAINPID=1", "NOTIFY=1",
		"SSEWATCHDX=1", "AVISO=1", "X_SSEWATCHD_A=1", "LANG=C.UTF-8", "EMPTY=",
		"LISTEN_PIDFDID=7", "WATCHDOG_FUTURE=1", "LISTENER=1", NULL,
	};
	static const char *const kept[] = {
		"PATH=/usr/bin:/bin", "HOME=/root", "NOTIFY_SOCKETX=1", "MAINPIDX=1", "XMAINPID=1", "NOTIFY=1",
		"SSEWATCHDX=1", "AVISO=1", "X_SSEWATCHD_A=1", "LANG=C.UTF-8", "EMPTY=", "LISTENER=1",
	};
	char **v = trigger_base_env(environ_);

	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(strv_length(v), ELEMENTSOF(kept));
	for (size_t i = 0; i < ELEMENTSOF(kept); i++) {
		ck_assert_str_eq(v[i], kept[i]);	/* in order, as copies */
		ck_assert_ptr_ne(v[i], kept[i]);
	}
	strv_free(v);

	/* Nothing in, nothing out: but an array, ready for strv_*. */
	v = trigger_base_env(NULL);
	ck_assert_ptr_nonnull(v);
	ck_assert_ptr_null(v[0]);
	strv_free(v);
}
END_TEST

START_TEST(test_is_external)
{
	struct cfg_trigger t;

	t = trigger(CFG_TRIGGER_ECHO);
	ck_assert(!trigger_is_external(&t));
	t = trigger(CFG_TRIGGER_LOG);
	ck_assert(!trigger_is_external(&t));
	t = trigger(CFG_TRIGGER_COMMAND);
	ck_assert(trigger_is_external(&t));
	t = trigger(CFG_TRIGGER_POST);
	ck_assert(trigger_is_external(&t));
}
END_TEST

/* Starts a trigger that must finish at once; returns the TRIGGER_* result. */
static int start_sync(const struct cfg_listener *l, const struct cfg_trigger *t, const json_t *n, char **error)
{
	struct trigger_env env = { 0 };
	struct trigger_run *run = (struct trigger_run *)&run;
	int r;

	r = trigger_start(&env, l, t, &(struct trigger_input){ .notification = n, .seq = 1 }, NULL, NULL, &run, error);
	ck_assert_ptr_null(run);
	if (r == TRIGGER_SUCCEEDED)
		ck_assert_ptr_null(*error);
	if (r == TRIGGER_FAILED || r == TRIGGER_FAILED_PERMANENT)
		ck_assert_ptr_nonnull(*error);
	return r;
}

/* ------------------------------------------------------------ echo */

START_TEST(test_echo_one_json_line)
{
	struct cfg_listener l = listener(CFG_PROTOCOL_SSE);
	struct cfg_trigger t = trigger(CFG_TRIGGER_ECHO);
	_cleanup_(json_decrefp) json_t *n = sse_notif("hi\nthere", "7");
	_cleanup_free_ char *out = NULL, *error = NULL;
	struct fd_capture c;
	size_t len;

	capture_begin(&c, STDOUT_FILENO);
	ck_assert_int_eq(start_sync(&l, &t, n, &error), TRIGGER_SUCCEEDED);
	out = capture_end(&c, &len);
	ck_assert_str_eq(out, "{\"listener\":\"l1\",\"data\":\"hi\\nthere\",\"event\":\"update\",\"id\":\"7\"}\n");
	ck_assert_uint_eq(len, strlen(out));
}
END_TEST

START_TEST(test_echo_aviso_without_cloudevent)
{
	struct cfg_listener l = listener(CFG_PROTOCOL_AVISO);
	struct cfg_trigger t = trigger(CFG_TRIGGER_ECHO);
	_cleanup_(json_decrefp) json_t *n =
		json_loads("{\"event\":\"live-notification\",\"event_type\":\"mars\",\"sequence\":4,"
			   "\"cloudevent\":{\"id\":\"x\"},\"payload\":null}", 0, NULL);
	_cleanup_free_ char *out = NULL, *error = NULL;
	struct fd_capture c;

	ck_assert_ptr_nonnull(n);
	capture_begin(&c, STDOUT_FILENO);
	ck_assert_int_eq(start_sync(&l, &t, n, &error), TRIGGER_SUCCEEDED);
	out = capture_end(&c, NULL);
	ck_assert_str_eq(out, "{\"listener\":\"l1\",\"event\":\"live-notification\",\"event_type\":\"mars\","
			      "\"sequence\":4,\"payload\":null}\n");
}
END_TEST

/* Lines made from the cached text must hold what the tree's record holds,
 * whatever the CloudEvent's strings contain (the text path skips it by
 * scanning, so braces, quotes and escapes in it must not confuse that). */
START_TEST(test_log_line_from_text_equals_the_record)
{
	static const char *const notifications[] = {
		"{\"event\":\"replay\",\"event_type\":\"mars\",\"sequence\":4,\"id\":\"mars@4\","
		"\"identifier\":{\"class\":\"od\"},\"payload\":{\"p\":[1,{\"q\":\"}\"}]},\"time\":null,"
		"\"cloudevent\":{\"data\":{\"s\":\"a\\\"},{[\\\\\",\"t\":[\"]\",{}]},\"id\":\"mars@4\"}}",
		"{\"cloudevent\":null,\"event_type\":\"x\"}",
		"{\"cloudevent\":\",}\\\"\",\"z\":1}",
		"{\"cloudevent\":{\"a\":\"\\\\\",\"b\":[[],[{}]],\"c\":-1.5e3,"
		"\"d\":\"\\u00e9}]\\\\\\\"\"},\"id\":\"x\"}",
		/* the CloudEvent and nothing else: the line is made from the text's tree */
		"{\"cloudevent\":{\"id\":\"y\"}}",
		"{\"event_type\":\"no cloudevent\"}",
	};
	struct cfg_listener l = listener(CFG_PROTOCOL_AVISO);
	struct cfg_trigger t = trigger(CFG_TRIGGER_LOG);

	for (size_t i = 0; i < ELEMENTSOF(notifications); i++) {
		_cleanup_(json_decrefp) json_t *n = json_loads(notifications[i], 0, NULL), *a = NULL, *b = NULL;
		_cleanup_free_ char *text = NULL;
		struct dbuf with_text, from_tree;
		size_t len_given;

		ck_assert_msg(n != NULL, "%s", notifications[i]);
		text = jsonw_dumps(n);
		ck_assert_ptr_nonnull(text);
		dbuf_init(&with_text, 1 << 20);
		dbuf_init(&from_tree, 1 << 20);
		ck_assert_int_eq(trigger_log_line(&l, &(struct trigger_input){ .notification = n,
									    .notification_text = text },
						  &with_text), 0);
		ck_assert_int_eq(trigger_log_line(&l, &(struct trigger_input){ .notification = n }, &from_tree), 0);
		ck_assert_int_eq(with_text.buf[with_text.len - 1], '\n');
		/* Its length given (as the pump gives it), the same line. */
		len_given = with_text.len;
		ck_assert_int_eq(trigger_log_line(&l, &(struct trigger_input){ .notification = n,
									    .notification_text = text,
									    .notification_text_len = strlen(text) },
						  &with_text), 0);
		ck_assert_uint_eq(with_text.len, 2 * len_given);
		ck_assert_int_eq(memcmp(with_text.buf, with_text.buf + len_given, len_given), 0);
		with_text.len = len_given;
		/* Text that starts with the CloudEvent needs no tree: without one
		 * (as the pump calls it), the same line, not a fallback. */
		ck_assert(trigger_needs_tree(&l, &t, text) == (strncmp(text, "{\"cloudevent\":", 14) != 0));
		ck_assert(trigger_needs_tree(&l, &t, NULL));
		if (!trigger_needs_tree(&l, &t, text)) {
			ck_assert_int_eq(trigger_log_line(&l, &(struct trigger_input){ .notification_text = text },
							  &with_text), 0);
			ck_assert_uint_eq(with_text.len, 2 * len_given);
			ck_assert_int_eq(memcmp(with_text.buf, with_text.buf + len_given, len_given), 0);
			with_text.len = len_given;
		}
		a = json_loadb(with_text.buf, with_text.len, 0, NULL);
		b = json_loadb(from_tree.buf, from_tree.len, 0, NULL);
		ck_assert_msg(a && b && json_equal(a, b), "%s:\n text %s tree %s", notifications[i], with_text.buf,
			      from_tree.buf);
		ck_assert_ptr_null(json_object_get(a, "cloudevent"));
		dbuf_free(&with_text);
		dbuf_free(&from_tree);
	}
}
END_TEST

START_TEST(test_echo_write_error)
{
	struct cfg_listener l = listener(CFG_PROTOCOL_SSE);
	struct cfg_trigger t = trigger(CFG_TRIGGER_ECHO);
	_cleanup_(json_decrefp) json_t *n = sse_notif("x", NULL);
	_cleanup_free_ char *error = NULL;
	int full = open("/dev/full", O_WRONLY | O_CLOEXEC), saved;

	ck_assert_int_ge(full, 0);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(full, STDOUT_FILENO), STDOUT_FILENO);
	ck_assert_int_eq(start_sync(&l, &t, n, &error), TRIGGER_FAILED);
	ck_assert_int_eq(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
	ck_assert_int_eq(close(saved), 0);
	ck_assert_int_eq(close(full), 0);
	ck_assert_str_eq(error, "writing to standard output: No space left on device");
}
END_TEST

/* ------------------------------------------------------------ log */

START_TEST(test_log_creates_0640_and_appends)
{
	_cleanup_free_ char *dir = tmpdir_new();
	_cleanup_free_ char *path = strdupf("%s/notifications.log", dir);
	_cleanup_free_ char *content = NULL;
	struct cfg_listener l = listener(CFG_PROTOCOL_SSE);
	struct cfg_trigger t = trigger(CFG_TRIGGER_LOG);
	_cleanup_(json_decrefp) json_t *n1 = sse_notif("one", "1");
	_cleanup_(json_decrefp) json_t *n2 = sse_notif("two", NULL);
	struct stat st;
	mode_t old_umask;

	t.path = path;
	old_umask = umask(0);	/* the mode asked for, unmasked */
	for (int i = 0; i < 2; i++) {
		char *error = NULL;

		ck_assert_int_eq(start_sync(&l, &t, i == 0 ? n1 : n2, &error), TRIGGER_SUCCEEDED);
	}
	umask(old_umask);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	content = file_read(path, NULL);
	ck_assert_str_eq(content, "{\"listener\":\"l1\",\"data\":\"one\",\"event\":\"update\",\"id\":\"1\"}\n"
				  "{\"listener\":\"l1\",\"data\":\"two\",\"event\":\"update\",\"id\":null}\n");
	rm_rf(dir);
}
END_TEST

START_TEST(test_log_appends_to_existing_with_fsync)
{
	_cleanup_free_ char *dir = tmpdir_new();
	_cleanup_free_ char *path = strdupf("%s/existing.log", dir);
	_cleanup_free_ char *content = NULL, *error = NULL;
	struct cfg_listener l = listener(CFG_PROTOCOL_SSE);
	struct cfg_trigger t = trigger(CFG_TRIGGER_LOG);
	_cleanup_(json_decrefp) json_t *n = sse_notif("three", "3");
	FILE *f = fopen(path, "we");
	struct stat st;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs("earlier line\n", f), 0);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, 0600), 0);
	t.path = path;
	t.fsync = true;
	ck_assert_int_eq(start_sync(&l, &t, n, &error), TRIGGER_SUCCEEDED);
	/* Written at the end, not over the start; the mode left as it was. */
	content = file_read(path, NULL);
	ck_assert_str_eq(content,
			 "earlier line\n{\"listener\":\"l1\",\"data\":\"three\",\"event\":\"update\",\"id\":\"3\"}\n");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	rm_rf(dir);

	/* fsync() is really asked for: /dev/null takes the write but not the fsync. */
	t.path = "/dev/null";
	t.fsync = false;
	ck_assert_int_eq(start_sync(&l, &t, n, &error), TRIGGER_SUCCEEDED);
	t.fsync = true;
	ck_assert_int_eq(start_sync(&l, &t, n, &error), TRIGGER_FAILED);
	ck_assert_str_eq(error, "cannot write /dev/null: Invalid argument");
}
END_TEST

START_TEST(test_log_unwritable_path)
{
	_cleanup_free_ char *dir = tmpdir_new();
	_cleanup_free_ char *missing = strdupf("%s/no/such/dir.log", dir);
	_cleanup_free_ char *expect_missing = strdupf("cannot open %s: No such file or directory", missing);
	_cleanup_free_ char *expect_dir = strdupf("cannot open %s: Is a directory", dir);
	struct cfg_listener l = listener(CFG_PROTOCOL_SSE);
	struct cfg_trigger t = trigger(CFG_TRIGGER_LOG);
	_cleanup_(json_decrefp) json_t *n = sse_notif("x", "1");
	char *error = NULL;

	t.path = missing;
	ck_assert_int_eq(start_sync(&l, &t, n, &error), TRIGGER_FAILED);
	ck_assert_str_eq(error, expect_missing);
	free(error);

	t.path = dir;	/* a directory cannot be opened for writing, even by root */
	ck_assert_int_eq(start_sync(&l, &t, n, &error), TRIGGER_FAILED);
	ck_assert_str_eq(error, expect_dir);
	free(error);

	/* It opens but the write fails. */
	t.path = "/dev/full";
	ck_assert_int_eq(start_sync(&l, &t, n, &error), TRIGGER_FAILED);
	ck_assert_str_eq(error, "cannot write /dev/full: No space left on device");
	free(error);
	rm_rf(dir);
}
END_TEST

/* ------------------------------------------------------------ command */

struct crun {
	sd_event *e;
	struct trigger_run *run;
	bool free_in_done;
	int calls;
	bool had_error;
	char *error;
	char *log;		/* stderr while the loop ran: the trigger's log lines */
	uint64_t start_usec, done_usec;
	sigset_t saved_mask;
	bool permanent;
};

static void on_done(struct trigger_run *run, const char *error, bool permanent, void *userdata)
{
	struct crun *c = userdata;

	c->permanent = permanent;
	ck_assert_ptr_eq(run, c->run);
	c->calls++;
	c->done_usec = now_usec(CLOCK_MONOTONIC);
	c->had_error = error != NULL;
	c->error = error ? strdup(error) : NULL;
	if (c->free_in_done)
		c->run = trigger_run_free(run);
	ck_assert_int_ge(sd_event_exit(c->e, 0), 0);
}

static void crun_start(struct crun *c, struct trigger_env *env, const struct cfg_listener *l,
		       const struct cfg_trigger *t, const json_t *n)
{
	sigset_t chld;
	char *error = (char *)&error;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	ck_assert_int_eq(sigprocmask(SIG_BLOCK, &chld, &c->saved_mask), 0);
	ck_assert_int_ge(sd_event_new(&c->e), 0);
	env->event = c->e;
	c->start_usec = now_usec(CLOCK_MONOTONIC);
	ck_assert_int_eq(trigger_start(env, l, t, &(struct trigger_input){ .notification = n, .seq = 1 }, on_done, c,
				       &c->run, &error),
			 TRIGGER_STARTED);
	ck_assert_ptr_nonnull(c->run);
	ck_assert_ptr_null(error);
	ck_assert_int_eq(c->calls, 0);	/* from the loop, later */
}

/* The log escapes a newline in the output as \n: back to lines, for reading. */
static void unescape_newlines(char *s)
{
	char *o = s;

	for (; *s; s++)
		if (s[0] == '\\' && s[1] == 'n')
			*o++ = '\n', s++;
		else
			*o++ = *s;
	*o = '\0';
}

/* Runs the loop until done, with the trigger's log lines captured (their
 * escaped newlines unescaped). */
static void crun_wait(struct crun *c)
{
	struct fd_capture cap;
	int saved_level = log_get_max_level();

	log_set_max_level(LOG_INFO);
	capture_begin(&cap, STDERR_FILENO);
	ck_assert_int_eq(loop_run_bounded(c->e, WATCHDOG_USEC), 0);
	c->log = capture_end(&cap, NULL);
	unescape_newlines(c->log);
	log_set_max_level(saved_level);
	ck_assert_int_eq(c->calls, 1);
}

static void crun_done(struct crun *c)
{
	trigger_run_free(c->run);
	sd_event_unref(c->e);
	free(c->error);
	free(c->log);
	ck_assert_int_eq(sigprocmask(SIG_SETMASK, &c->saved_mask, NULL), 0);
	*c = (struct crun){ 0 };
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits text into lines (each must end in '\n'), sorted. */
static char **sorted_lines(const char *text)
{
	char **v = NULL;

	while (*text) {
		const char *nl = strchr(text, '\n');

		ck_assert_msg(nl != NULL, "unterminated line: %s", text);
		ck_assert_int_eq(strv_consume(&v, strndup(text, (size_t)(nl - text))), 0);
		text = nl + 1;
	}
	if (v)
		qsort(v, strv_length(v), sizeof(char *), cmp_str);
	return v;
}

START_TEST(test_command_stdin_and_env)
{
	static const char data[] = "line one\nline two \xc3\xbc";
	static const char prefix[] = "l1: " WHERE " stdout: ";
	char *daemon_environ[] = {
		"PATH=/usr/bin:/bin", "NOTIFY_SOCKET=/run/x", "HOME=/nonexistent", "KEEP=base",
		"SSEWATCHD_EVENT=leaked", "OVERRIDE=base", "AVISO_SEQUENCE=leaked", NULL,
	};
	static const char *const expected[] = {
		/* sorted */
		"EXTRA=two words", "HOME=/nonexistent", "KEEP=base", "OVERRIDE=user", "PATH=/usr/bin:/bin",
		"SSEWATCHD_EVENT=update", "SSEWATCHD_EVENT_ID=7", "SSEWATCHD_LISTENER=l1",
	};
	struct cfg_kv kv[] = { { "OVERRIDE", "user" }, { "EXTRA", "two words" } };
	struct cfg_listener l = listener(CFG_PROTOCOL_SSE);
	struct cfg_trigger t = trigger(CFG_TRIGGER_COMMAND);
	_cleanup_(json_decrefp) json_t *n = sse_notif(data, "7");
	struct trigger_env env = { .base_env = trigger_base_env(daemon_environ) };
	struct crun c = { 0 };
	const char *rest;
	char **lines;

	/* The shell's initial environment, as execve() gave it: `env` would show
	 * the shell's own view instead (duplicates merged, PWD added). */
	t.argv = ARGV("/bin/sh", "-c", "cat; echo; tr '\\0' '\\n' </proc/$$/environ");
	t.argc = 3;
	t.env = kv;
	t.n_env = ELEMENTSOF(kv);
	crun_start(&c, &env, &l, &t, n);
	crun_wait(&c);
	ck_assert_ptr_null(c.error);
	ck_assert(!c.had_error);

	/* "l1: WHERE stdout: " DATA "\n" ENV..., one log message for the whole stdout. */
	ck_assert_msg(strncmp(c.log, prefix, STRLEN(prefix)) == 0, "log: %s", c.log);
	rest = c.log + STRLEN(prefix);
	ck_assert_msg(strncmp(rest, data, STRLEN(data)) == 0, "stdin was not the data: %s", rest);
	rest += STRLEN(data);
	ck_assert_int_eq(rest[0], '\n');
	lines = sorted_lines(rest + 1);
	ck_assert_uint_eq(strv_length(lines), ELEMENTSOF(expected));
	for (size_t i = 0; i < ELEMENTSOF(expected); i++)
		ck_assert_str_eq(lines[i], expected[i]);
	strv_free(lines);
	crun_done(&c);
	strv_free(env.base_env);
}
END_TEST

START_TEST(test_command_aviso)
{
	struct cfg_listener l = listener(CFG_PROTOCOL_AVISO);
	struct cfg_trigger t = trigger(CFG_TRIGGER_COMMAND);
	_cleanup_(json_decrefp) json_t *n =
		json_loads("{\"event\":\"live-notification\",\"event_type\":\"mars\",\"sequence\":42,"
			   "\"id\":\"mars@42\",\"identifier\":{\"class\":\"od\"},\"payload\":{\"k\":1},"
			   "\"time\":\"2026-01-01T00:00:00Z\",\"cloudevent\":{}}", 0, NULL);
	char *base[] = { "PATH=/usr/bin:/bin", NULL };
	struct trigger_env env = { .base_env = base };
	struct crun c = { .free_in_done = true };

	ck_assert_ptr_nonnull(n);
	t.argv = ARGV("/bin/sh", "-c", "cat; echo; echo \"$AVISO_IDENTIFIER_CLASS $SSEWATCHD_EVENT_ID $AVISO_SEQUENCE\"");
	crun_start(&c, &env, &l, &t, n);
	crun_wait(&c);
	ck_assert_ptr_null(c.run);	/* freed inside done */
	ck_assert_ptr_null(c.error);
	ck_assert_str_eq(c.log, "l1: " WHERE " stdout: {\"event_type\":\"mars\",\"id\":\"mars@42\","
				"\"identifier\":{\"class\":\"od\"},\"payload\":{\"k\":1},\"sequence\":42,"
				"\"time\":\"2026-01-01T00:00:00Z\"}\nod mars@42 42\n");
	crun_done(&c);
}
END_TEST

/* Runs argv (with t's other fields) for an sse notification; it must fail so. */
static void run_failing(struct cfg_trigger *t, char **argv, bool cancel, const char *expect_error,
			const char *expect_log)
{
	struct cfg_listener l = listener(CFG_PROTOCOL_SSE);
	_cleanup_(json_decrefp) json_t *n = sse_notif("x", "1");
	char *base[] = { "PATH=/usr/bin:/bin", NULL };
	struct trigger_env env = { .base_env = base };
	struct crun c = { 0 };

	t->argv = argv;
	crun_start(&c, &env, &l, t, n);
	if (cancel) {
		trigger_run_cancel(c.run);
		trigger_run_cancel(c.run);	/* twice: still one done */
	}
	crun_wait(&c);
	ck_assert(c.had_error);
	ck_assert_str_eq(c.error, expect_error);
	ck_assert_str_eq(c.log, expect_log);
	if (t->timeout_usec)
		ck_assert_uint_ge(c.done_usec - c.start_usec, t->timeout_usec);
	crun_done(&c);
}

START_TEST(test_command_exit_status)
{
	struct cfg_trigger t = trigger(CFG_TRIGGER_COMMAND);

	run_failing(&t, ARGV("/bin/sh", "-c", "echo out; echo oops >&2; exit 3"), false, "exit status 3",
		    "l1: " WHERE " stdout: out\nl1: " WHERE " stderr: oops\n");
}
END_TEST

START_TEST(test_command_missing_program)
{
	struct cfg_trigger t = trigger(CFG_TRIGGER_COMMAND);

	run_failing(&t, ARGV("/nonexistent/ssewatchd-prog", "arg"), false,
		    "cannot start /nonexistent/ssewatchd-prog: No such file or directory", "");
	run_failing(&t, ARGV("ssewatchd-no-such-prog"), false,
		    "cannot start ssewatchd-no-such-prog: No such file or directory", "");
}
END_TEST

START_TEST(test_command_timeout)
{
	struct cfg_trigger t = trigger(CFG_TRIGGER_COMMAND);

	t.timeout_usec = 200 * USEC_PER_MSEC;
	run_failing(&t, ARGV("/bin/sleep", "30"), false, "timed out after 0.2s", "");
}
END_TEST

START_TEST(test_command_cancel)
{
	struct cfg_trigger t = trigger(CFG_TRIGGER_COMMAND);

	t.kill_grace_usec = 10 * USEC_PER_SEC;	/* SIGTERM is enough: sleep dies of it */
	run_failing(&t, ARGV("/bin/sleep", "30"), true, "killed by signal 15 (Terminated)", "");
	trigger_run_cancel(NULL);
	ck_assert_ptr_null(trigger_run_free(NULL));
}
END_TEST

Suite *trigger_suite(void)
{
	Suite *s = suite_create("trigger");
	TCase *tc = tcase_create("core");
	TCase *cmd = tcase_create("command");

	tcase_add_test(tc, test_base_env_drops_private_variables);
	tcase_add_test(tc, test_is_external);
	tcase_add_test(tc, test_echo_one_json_line);
	tcase_add_test(tc, test_echo_aviso_without_cloudevent);
	tcase_add_test(tc, test_log_line_from_text_equals_the_record);
	tcase_add_test(tc, test_echo_write_error);
	tcase_add_test(tc, test_log_creates_0640_and_appends);
	tcase_add_test(tc, test_log_appends_to_existing_with_fsync);
	tcase_add_test(tc, test_log_unwritable_path);
	suite_add_tcase(s, tc);

	tcase_set_timeout(cmd, 30);
	tcase_add_test(cmd, test_command_stdin_and_env);
	tcase_add_test(cmd, test_command_aviso);
	tcase_add_test(cmd, test_command_exit_status);
	tcase_add_test(cmd, test_command_missing_program);
	tcase_add_test(cmd, test_command_timeout);
	tcase_add_test(cmd, test_command_cancel);
	suite_add_tcase(s, cmd);
	return s;
}
