/* SPDX-License-Identifier: MIT */
/*
 * log: what reaches stderr, captured by pointing fd 2 at a memfd for the
 * duration of one call and reading it back; when stderr counts as the
 * journal ($JOURNAL_STREAM names fd 2); and what a real systemd-journald,
 * started in a private mount namespace, records from us.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "macro.h"
#include "suites.h"
#include "testlib.h"

static int saved_level;
static char *saved_journal_stream;

static void setup(void)
{
	const char *e = getenv("JOURNAL_STREAM");

	saved_level = log_get_max_level();
	/* Run under systemd or not, these tests start with stderr not the journal. */
	saved_journal_stream = e ? strdup(e) : NULL;
	ck_assert_int_eq(unsetenv("JOURNAL_STREAM"), 0);
}

static void teardown(void)
{
	log_set_max_level(saved_level);
	if (saved_journal_stream)
		(void)setenv("JOURNAL_STREAM", saved_journal_stream, 1);
	else
		(void)unsetenv("JOURNAL_STREAM");
	free(saved_journal_stream);
	saved_journal_stream = NULL;
}

/* "DEV:INODE" of fd, as systemd writes $JOURNAL_STREAM. */
static void stream_id(int fd, char *buf, size_t size, int64_t dev_delta, int64_t ino_delta)
{
	struct stat st;

	ck_assert_int_eq(fstat(fd, &st), 0);
	snprintf(buf, size, "%" PRIu64 ":%" PRIu64, (uint64_t)st.st_dev + (uint64_t)dev_delta,
		 (uint64_t)st.st_ino + (uint64_t)ino_delta);
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
	/* Cut: one line of the message's own first bytes, marked as cut. */
	len = strlen(out);
	ck_assert_uint_eq(len, LOG_MSG_MAX - 1 + STRLEN("\u2026\n"));
	ck_assert_uint_eq(strspn(out, "x"), LOG_MSG_MAX - 1);
	ck_assert_str_eq(out + LOG_MSG_MAX - 1, "\u2026\n");
}
END_TEST

START_TEST(test_escape_vectors)
{
	static const struct {
		const char *in;
		size_t len;
		bool cut;
		const char *out;
	} rows[] = {
		{ "plain", 5, false, "plain" },
		{ "", 0, false, "" },
		{ "a\nerror: forged", 15, false, "a\\nerror: forged" },
		{ "crlf\r\n", 6, false, "crlf\\r\\n" },
		{ "tab\tstays", 9, false, "tab\tstays" },
		{ "\x1b[31mred", 8, false, "\\x1b[31mred" },
		{ "del\x7f", 4, false, "del\\x7f" },
		{ "nul\0after", 9, false, "nul\\x00after" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, false, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ "bad \xff\xfe", 6, false, "bad \\xff\\xfe" },
		{ "lone \x80", 6, false, "lone \\x80" },
		{ "overlong \xc0\xaf", 11, false, "overlong \\xc0\\xaf" },
		{ "surrogate \xed\xa0\x80", 13, false, "surrogate \\xed\\xa0\\x80" },
		{ "short \xe2\x82", 8, false, "short \\xe2\\x82" },
		/* cut: a character split at the end goes, and the mark comes */
		{ "cut \xe2\x82", 6, true, "cut \u2026" },
		{ "cut \xf0\x9f\x98", 7, true, "cut \u2026" },
		{ "cut \xc3", 5, true, "cut \u2026" },
		{ "cut whole \xc3\xa9", 12, true, "cut whole \xc3\xa9\u2026" },
		{ "cut bad \x80", 9, true, "cut bad \\x80\u2026" },
	};

	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		char out[128];
		size_t n = log_escape(rows[i].in, rows[i].len, rows[i].cut, out, sizeof(out));

		ck_assert_msg(strcmp(out, rows[i].out) == 0, "row %zu: got '%s'", i, out);
		ck_assert_uint_eq(n, strlen(out));
	}
}
END_TEST

/* Never past size, and never half an escape or character. */
START_TEST(test_escape_small_buffers)
{
	static const char in[] = "ab\ncd\xc3\xa9";
	static const char *const want[] = { "", "", "a", "ab", "ab", "ab\\n", "ab\\nc", "ab\\ncd", "ab\\ncd",
					    "ab\\ncd\xc3\xa9" };

	for (size_t size = 1; size < ELEMENTSOF(want); size++) {
		char out[16];

		memset(out, 'Z', sizeof(out));
		ck_assert_uint_eq(log_escape(in, STRLEN(in), false, out, size), strlen(want[size]));
		ck_assert_msg(strcmp(out, want[size]) == 0, "size %zu: got '%s'", size, out);
		ck_assert_int_eq(out[size], 'Z');
	}
}
END_TEST

/* What reaches stderr is one line, whatever the arguments hold. */
START_TEST(test_message_escaped_on_stderr)
{
	struct fd_capture c;
	_cleanup_free_ char *out = NULL;

	log_set_max_level(LOG_INFO);
	capture_begin(&c, STDERR_FILENO);
	log_f(LOG_WARNING, 0, &(struct log_fields){ .listener = "l" }, "server said: %s",
	      "oops\nerror: other: FORGED \x1b[31m\xff");
	out = capture_end(&c, NULL);
	ck_assert_str_eq(out, "warning: l: server said: oops\\nerror: other: FORGED \\x1b[31m\\xff\n");
}
END_TEST

START_TEST(test_journal_stream_matching)
{
	int fd = memfd_create("journal-stream", MFD_CLOEXEC), other = memfd_create("other", MFD_CLOEXEC);
	char id[64], wrong[128];
	struct stat st;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(other, 0);
	stream_id(fd, id, sizeof(id), 0, 0);
	ck_assert(log_fd_is_journal_stream(fd, id));
	/* Another file on the same device, another inode, another device. */
	ck_assert(!log_fd_is_journal_stream(other, id));
	stream_id(fd, wrong, sizeof(wrong), 0, 1);
	ck_assert(!log_fd_is_journal_stream(fd, wrong));
	stream_id(fd, wrong, sizeof(wrong), 1, 0);
	ck_assert(!log_fd_is_journal_stream(fd, wrong));

	/* Malformed values never match, whatever fd is. */
	ck_assert(!log_fd_is_journal_stream(fd, NULL));
	ck_assert_int_eq(fstat(fd, &st), 0);
	{
		const char *const forms[] = { "", ":", "%s", "%s:", ":%s", " %s:%s", "%s:%s ", "%s :%s", "+%s:%s",
					      "%s:+%s", "-%s:%s", "%s:%s:0", "%s;%s", "%s:%sx", "%s:%s\n", "0x%s:%s" };

		for (size_t i = 0; i < ELEMENTSOF(forms); i++) {
			char d[32], n[32];
			char v[160];
			const char *f = forms[i];
			size_t conv = 0;

			snprintf(d, sizeof(d), "%" PRIu64, (uint64_t)st.st_dev);
			snprintf(n, sizeof(n), "%" PRIu64, (uint64_t)st.st_ino);
			for (const char *p = f; (p = strstr(p, "%s")); p += 2)
				conv++;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
			if (conv == 0)
				snprintf(v, sizeof(v), "%s", f);
			else if (conv == 1)
				snprintf(v, sizeof(v), f, strchr(f, ':') && strstr(f, ":%s") ? n : d);
			else
				snprintf(v, sizeof(v), f, d, n);
#pragma GCC diagnostic pop
			ck_assert_msg(!log_fd_is_journal_stream(fd, v), "'%s' matched", v);
		}
	}
	/* Overflowing numbers are malformed, not wrapped around. */
	ck_assert(!log_fd_is_journal_stream(fd, "18446744073709551616:1"));
	ck_assert(!log_fd_is_journal_stream(fd, "1:99999999999999999999999"));
	/* A closed descriptor is nobody's stream. */
	ck_assert_int_eq(close(other), 0);
	stream_id(fd, id, sizeof(id), 0, 0);
	ck_assert(!log_fd_is_journal_stream(-1, id));
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_target_follows_journal_stream)
{
	struct fd_capture c;
	_cleanup_free_ char *out = NULL;
	int other = memfd_create("other", MFD_CLOEXEC);
	char mine[64], theirs[64];

	ck_assert_int_ge(other, 0);
	stream_id(other, theirs, sizeof(theirs), 0, 0);
	log_set_max_level(LOG_INFO);
	capture_begin(&c, STDERR_FILENO);
	stream_id(STDERR_FILENO, mine, sizeof(mine), 0, 0);

	/* Unset: stderr. */
	ck_assert_int_eq(log_get_target(), LOG_TARGET_STDERR);
	log_f(LOG_INFO, 0, &(struct log_fields){ .listener = "a", .message_id = LOG_MID_CONNECTED }, "one");
	/* Set, but naming another stream (a child of a service whose stderr was
	 * redirected, say): still stderr, the readable line. */
	ck_assert_int_eq(setenv("JOURNAL_STREAM", theirs, 1), 0);
	ck_assert_int_eq(log_get_target(), LOG_TARGET_STDERR);
	log_f(LOG_WARNING, 0, &(struct log_fields){ .listener = "b", .event_id = "9" }, "two");
	ck_assert_int_eq(setenv("JOURNAL_STREAM", "garbage", 1), 0);
	ck_assert_int_eq(log_get_target(), LOG_TARGET_STDERR);
	log_error("three");
	/* Naming fd 2: the journal. */
	ck_assert_int_eq(setenv("JOURNAL_STREAM", mine, 1), 0);
	ck_assert_int_eq(log_get_target(), LOG_TARGET_JOURNAL);
	/* fd 2 moved elsewhere: the decision follows at once. */
	ck_assert_int_eq(setenv("JOURNAL_STREAM", theirs, 1), 0);
	ck_assert_int_eq(log_get_target(), LOG_TARGET_STDERR);
	out = capture_end(&c, NULL);
	ck_assert_str_eq(out, "a: one\nwarning: b: two\nerror: three\n");
	ck_assert_int_eq(close(other), 0);
}
END_TEST

/*
 * The journal path against a real systemd-journald, started for this test in
 * a private mount namespace with its own /run (so it serves only us and no
 * journal on the machine is touched) and /dev/kmsg pointed at /dev/null.
 * Runs in the test process (valgrind runs the suites with CK_FORK=no) and
 * puts the mount namespace, fd 2 and the environment back afterwards.
 */
#define JOURNALD "/lib/systemd/systemd-journald"

struct jtest {
	char why[512];		/* the failure or the reason for skipping */
	bool skipped;
	int saved_ns;		/* our original mount namespace */
	int saved_err;		/* the real stderr */
	int mfd;		/* fd 2 during the test */
	pid_t journald;
};

/* Records the first problem; returns -1 so callers can `return jfail(...)`. */
_printf_(3, 4) static int jfail(struct jtest *t, bool skip, const char *fmt, ...)
{
	va_list ap;

	if (t->why[0])
		return -1;
	t->skipped = skip;
	va_start(ap, fmt);
	(void)vsnprintf(t->why, sizeof(t->why), fmt, ap);
	va_end(ap);
	return -1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static bool file_exists(const char *p)
{
	return access(p, F_OK) == 0;
}

/* Field name of the current entry into buf; false if absent. */
static bool entry_field(sd_journal *j, const char *name, char *buf, size_t size)
{
	const void *data;
	size_t len, nl = strlen(name);

	if (sd_journal_get_data(j, name, &data, &len) < 0 || len < nl + 1)
		return false;
	len -= nl + 1;
	if (len >= size)
		len = size - 1;
	memcpy(buf, (const char *)data + nl + 1, len);
	buf[len] = '\0';
	return true;
}

/* The entry whose MESSAGE is message, waiting up to wait_ms for it; NULL if none. */
static sd_journal *find_entry(const char *message, int wait_ms)
{
	char match[512];

	snprintf(match, sizeof(match), "MESSAGE=%s", message);
	for (int waited = 0;; waited += 50) {
		sd_journal *j = NULL;

		if (sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_RUNTIME_ONLY) >= 0) {
			if (sd_journal_add_match(j, match, 0) >= 0 && sd_journal_next(j) > 0)
				return j;
			sd_journal_close(j);
		}
		if (waited >= wait_ms)
			return NULL;
		sleep_ms(50);
	}
}

/* want NULL: the field must be absent. */
static int expect_field(struct jtest *t, sd_journal *j, const char *name, const char *want)
{
	char got[4096];
	bool has = entry_field(j, name, got, sizeof(got));

	if (!want && has)
		return jfail(t, false, "%s: expected no such field, got '%s'", name, got);
	if (want && (!has || strcmp(got, want) != 0))
		return jfail(t, false, "%s: expected '%s', got '%s'", name, want, has ? got : "(none)");
	return 0;
}

static int start_journald(struct jtest *t)
{
	t->journald = fork();
	if (t->journald < 0)
		return jfail(t, false, "fork: %s", strerror(errno));
	if (t->journald == 0) {
		int nfd = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (nfd >= 0) {
			(void)dup2(nfd, STDIN_FILENO);
			(void)dup2(nfd, STDOUT_FILENO);
		}
		(void)dup2(t->saved_err, STDERR_FILENO);
		(void)unsetenv("JOURNAL_STREAM");
		(void)unsetenv("NOTIFY_SOCKET");
		(void)setenv("SYSTEMD_LOG_TARGET", "console", 1);
		(void)setenv("SYSTEMD_LOG_LEVEL", "warning", 1);
		execl(JOURNALD, "systemd-journald", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; !file_exists("/run/systemd/journal/socket"); i++) {
		if (i > 200 || waitpid(t->journald, NULL, WNOHANG) == t->journald)
			return jfail(t, false, "systemd-journald did not start");
		sleep_ms(25);
	}
	return 0;
}

static int enter_private_run(struct jtest *t)
{
	if (geteuid() != 0)
		return jfail(t, true, "needs root (a private mount namespace)");
	if (access(JOURNALD, X_OK) < 0)
		return jfail(t, true, "%s not installed", JOURNALD);
	t->saved_ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (t->saved_ns < 0)
		return jfail(t, true, "/proc/self/ns/mnt: %s", strerror(errno));
	if (unshare(CLONE_NEWNS) < 0)
		return jfail(t, true, "unshare(CLONE_NEWNS): %s", strerror(errno));
	/* Nothing mounted below may propagate out; then our own /run. (The
	 * type "none" is ignored by the kernel; valgrind wants a string.) */
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
		return jfail(t, true, "making / private: %s", strerror(errno));
	if (mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
		return jfail(t, true, "tmpfs on /run: %s", strerror(errno));
	if (file_exists("/var/log/journal") &&
	    mount("tmpfs", "/var/log/journal", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
		return jfail(t, true, "tmpfs on /var/log/journal: %s", strerror(errno));
	if (mount("/dev/null", "/dev/kmsg", "none", MS_BIND, NULL) < 0)
		return jfail(t, true, "/dev/null over /dev/kmsg: %s", strerror(errno));
	return 0;
}

static int journal_round_trip(struct jtest *t)
{
	char id[64], token[64], msg[256], buf[256] = "";
	sd_journal *j;
	ssize_t n;
	off_t before;

	if (enter_private_run(t) < 0)
		return -1;

	/* fd 2 is a memfd that $JOURNAL_STREAM names. */
	t->mfd = memfd_create("stderr", MFD_CLOEXEC);
	if (t->mfd < 0 || dup2(t->mfd, STDERR_FILENO) < 0)
		return jfail(t, false, "memfd: %s", strerror(errno));
	stream_id(STDERR_FILENO, id, sizeof(id), 0, 0);
	if (setenv("JOURNAL_STREAM", id, 1) < 0 || log_get_target() != LOG_TARGET_JOURNAL)
		return jfail(t, false, "stderr not taken for the journal with JOURNAL_STREAM=%s", id);
	log_set_max_level(LOG_DEBUG);

	/* No journald (no socket) yet: the message is not lost, it goes to stderr. */
	log_f(LOG_ERR, EIO, &(struct log_fields){ .listener = "early" }, "before journald: %m");
	n = pread(t->mfd, buf, sizeof(buf) - 1, 0);
	if (n < 0 || strcmp(buf, "error: early: before journald: Input/output error\n") != 0)
		return jfail(t, false, "without a journald, stderr got '%s'", n < 0 ? "(error)" : buf);

	if (start_journald(t) < 0)
		return -1;
	snprintf(token, sizeof(token), "%ld-%ld", (long)getpid(), (long)time(NULL));
	before = lseek(t->mfd, 0, SEEK_END);

	/* Every field. */
	log_f(LOG_WARNING, ETIMEDOUT,
	      &(struct log_fields){ .listener = "wiki", .event_id = "[{\"topic\":\"x\",\"offset\":7}]",
				    .request_id = "req-42", .message_id = LOG_MID_TRIGGER_FAILED },
	      "trigger failed %s: %m", token);
	/* No fields at all, at debug level. */
	log_debug("plain %s", token);
	/* Filtered out: never sent. */
	log_set_max_level(LOG_INFO);
	log_debug("filtered %s", token);

	snprintf(msg, sizeof(msg), "wiki: trigger failed %s: Connection timed out", token);
	j = find_entry(msg, 5000);
	if (!j)
		return jfail(t, false, "no journal entry with MESSAGE=%s", msg);
	snprintf(id, sizeof(id), "%ld", (long)getpid());
	if (expect_field(t, j, "PRIORITY", "4") < 0 || expect_field(t, j, "SYSLOG_IDENTIFIER", "ssewatchd") < 0 ||
	    expect_field(t, j, "MESSAGE_ID", LOG_MID_TRIGGER_FAILED) < 0 || expect_field(t, j, "ERRNO", "110") < 0 ||
	    expect_field(t, j, "SSEWATCHD_LISTENER", "wiki") < 0 ||
	    expect_field(t, j, "SSEWATCHD_EVENT_ID", "[{\"topic\":\"x\",\"offset\":7}]") < 0 ||
	    expect_field(t, j, "SSEWATCHD_REQUEST_ID", "req-42") < 0 ||
	    /* journald's own view of the sender: */
	    expect_field(t, j, "_PID", id) < 0 || expect_field(t, j, "_TRANSPORT", "journal") < 0) {
		sd_journal_close(j);
		return -1;
	}
	sd_journal_close(j);

	snprintf(msg, sizeof(msg), "plain %s", token);
	j = find_entry(msg, 5000);
	if (!j)
		return jfail(t, false, "no journal entry with MESSAGE=%s", msg);
	if (expect_field(t, j, "PRIORITY", "7") < 0 || expect_field(t, j, "SYSLOG_IDENTIFIER", "ssewatchd") < 0 ||
	    expect_field(t, j, "MESSAGE_ID", NULL) < 0 || expect_field(t, j, "ERRNO", NULL) < 0 ||
	    expect_field(t, j, "SSEWATCHD_LISTENER", NULL) < 0 || expect_field(t, j, "SSEWATCHD_EVENT_ID", NULL) < 0 ||
	    expect_field(t, j, "SSEWATCHD_REQUEST_ID", NULL) < 0) {
		sd_journal_close(j);
		return -1;
	}
	sd_journal_close(j);

	/* The later "plain" entry is there, so the filtered one would be too. */
	snprintf(msg, sizeof(msg), "filtered %s", token);
	j = find_entry(msg, 0);
	if (j) {
		sd_journal_close(j);
		return jfail(t, false, "a filtered message reached the journal");
	}
	if (lseek(t->mfd, 0, SEEK_END) != before)
		return jfail(t, false, "stderr got output although journald took the messages");
	return 0;
}

START_TEST(test_journal_round_trip)
{
	struct jtest t = { .saved_ns = -1, .mfd = -1, .journald = -1 };
	int r;

	fflush(stderr);
	t.saved_err = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	ck_assert_int_ge(t.saved_err, 0);
	r = journal_round_trip(&t);

	/* Put everything back before judging. */
	if (t.journald > 0) {
		(void)kill(t.journald, SIGTERM);
		(void)waitpid(t.journald, NULL, 0);
	}
	ck_assert_int_eq(dup2(t.saved_err, STDERR_FILENO), STDERR_FILENO);
	(void)close(t.saved_err);
	if (t.mfd >= 0)
		(void)close(t.mfd);
	if (t.saved_ns >= 0) {
		ck_assert_msg(setns(t.saved_ns, CLONE_NEWNS) == 0, "cannot return to our mount namespace: %s",
			      strerror(errno));
		(void)close(t.saved_ns);
	}
	if (r < 0 && t.skipped) {
		unit_skip("log", "test_journal_round_trip", "%s", t.why);
		return;
	}
	ck_assert_msg(r == 0, "journal round trip: %s", t.why);
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
	tcase_add_test(tc, test_escape_vectors);
	tcase_add_test(tc, test_escape_small_buffers);
	tcase_add_test(tc, test_message_escaped_on_stderr);
	tcase_add_test(tc, test_journal_stream_matching);
	tcase_add_test(tc, test_target_follows_journal_stream);
	suite_add_tcase(s, tc);

	tc = tcase_create("journald");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_journal_round_trip);
	suite_add_tcase(s, tc);
	return s;
}
