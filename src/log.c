/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define LOG_IDENTIFIER     "ssewatchd"
#define LOG_JOURNAL_SOCKET "/run/systemd/journal/socket"

static int max_level = LOG_INFO;

void log_set_max_level(int level)
{
	max_level = level;
}

int log_get_max_level(void)
{
	return max_level;
}

int log_level_from_string(const char *s)
{
	static const struct { const char *name; int level; } levels[] = {
		{ "debug", LOG_DEBUG }, { "info", LOG_INFO }, { "notice", LOG_NOTICE },
		{ "warning", LOG_WARNING }, { "error", LOG_ERR },
	};

	for (size_t i = 0; i < ELEMENTSOF(levels); i++)
		if (strcmp(s, levels[i].name) == 0)
			return levels[i].level;
	return -EINVAL;
}

/* One unsigned decimal number, at least one digit, no sign, no overflow. */
static const char *parse_u64(const char *s, uint64_t *ret)
{
	uint64_t n = 0;

	if (*s < '0' || *s > '9')
		return NULL;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (n > (UINT64_MAX - d) / 10)
			return NULL;
		n = n * 10 + d;
	}
	*ret = n;
	return s;
}

bool log_fd_is_journal_stream(int fd, const char *journal_stream)
{
	uint64_t dev, ino;
	const char *p;
	struct stat st;

	if (!journal_stream)
		return false;
	p = parse_u64(journal_stream, &dev);
	if (!p || *p != ':')
		return false;
	p = parse_u64(p + 1, &ino);
	if (!p || *p != '\0')
		return false;
	if (fstat(fd, &st) < 0)
		return false;
	return (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino;
}

enum log_target log_get_target(void)
{
	return log_fd_is_journal_stream(STDERR_FILENO, getenv("JOURNAL_STREAM")) ? LOG_TARGET_JOURNAL
										  : LOG_TARGET_STDERR;
}

/* "NAME=value" into buf[size] as one iovec; false if it did not fit. */
static bool field(struct iovec *iov, size_t *n, char *buf, size_t size, const char *name, const char *value)
{
	int k = snprintf(buf, size, "%s=%s", name, value);

	if (k < 0 || (size_t)k >= size)
		return false;
	iov[(*n)++] = (struct iovec){ .iov_base = buf, .iov_len = (size_t)k };
	return true;
}

/* 0 on success, negative errno if the journal could not take it. */
static int log_to_journal(int level, int error, const struct log_fields *f, const char *msg)
{
	char message[4 * LOG_MSG_MAX + 8 + 256 + 16], priority[16], errnum[32];
	char listener[256 + 32], event_id[4096 + 32], request_id[256 + 32], message_id[64];
	struct iovec iov[8];
	size_t n = 0;

	/* sd_journal_sendv() reports success when the socket is missing (a
	 * sandbox without /run/systemd): check, so the line is not lost. */
	if (access(LOG_JOURNAL_SOCKET, F_OK) < 0)
		return -errno;

	/* The listener stays in MESSAGE too, so `journalctl -u` reads like the terminal. */
	(void)snprintf(message, sizeof(message), "MESSAGE=%s%s%s", f && f->listener ? f->listener : "",
		       f && f->listener ? ": " : "", msg);
	iov[n++] = (struct iovec){ .iov_base = message, .iov_len = strlen(message) };
	(void)snprintf(priority, sizeof(priority), "PRIORITY=%d", LOG_PRI(level));
	iov[n++] = (struct iovec){ .iov_base = priority, .iov_len = strlen(priority) };
	iov[n++] = (struct iovec){ .iov_base = (char *)"SYSLOG_IDENTIFIER=" LOG_IDENTIFIER,
				   .iov_len = STRLEN("SYSLOG_IDENTIFIER=" LOG_IDENTIFIER) };
	if (error > 0) {
		(void)snprintf(errnum, sizeof(errnum), "ERRNO=%d", error);
		iov[n++] = (struct iovec){ .iov_base = errnum, .iov_len = strlen(errnum) };
	}
	/* A field too long for its buffer is left out rather than cut. */
	if (f && f->message_id)
		(void)field(iov, &n, message_id, sizeof(message_id), "MESSAGE_ID", f->message_id);
	if (f && f->listener)
		(void)field(iov, &n, listener, sizeof(listener), "SSEWATCHD_LISTENER", f->listener);
	if (f && f->event_id)
		(void)field(iov, &n, event_id, sizeof(event_id), "SSEWATCHD_EVENT_ID", f->event_id);
	if (f && f->request_id)
		(void)field(iov, &n, request_id, sizeof(request_id), "SSEWATCHD_REQUEST_ID", f->request_id);
	return sd_journal_sendv(iov, (int)n);
}

/* The length of the valid UTF-8 character at p (at most end - p bytes), or 0. */
static size_t utf8_char(const char *p, const char *end)
{
	unsigned char c = (unsigned char)*p;
	size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;

	return n && (size_t)(end - p) >= n && utf8_valid(p, n) ? n : 0;
}

size_t log_escape(const char *in, size_t len, bool cut, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	const char *p = in, *end = in + len;
	size_t o = 0;

	if (size == 0)
		return 0;
	/* A cut message may end inside a character: drop its first bytes. */
	if (cut) {
		const char *q = end;

		while (q > in && end - q < 4 && ((unsigned char)q[-1] & 0xc0) == 0x80)
			q--;
		if (q > in && (unsigned char)q[-1] >= 0xc0 && !utf8_char(q - 1, end))
			end = q - 1;
	}
	while (p < end) {
		unsigned char c = (unsigned char)*p;
		char esc[4];
		size_t n = 1;
		const char *src = p;

		if (c >= 0x80 && (n = utf8_char(p, end)) == 0)
			n = 1;
		if (c == '\n' || c == '\r') {
			esc[0] = '\\', esc[1] = c == '\n' ? 'n' : 'r', n = 2, src = esc;
		} else if ((c < 0x20 && c != '\t') || c == 0x7f || (c >= 0x80 && n == 1)) {
			/* Controls and bytes that are not UTF-8: no forged lines,
			 * no terminal escapes, no "blob data" in the journal. */
			esc[0] = '\\', esc[1] = 'x', esc[2] = hex[c >> 4], esc[3] = hex[c & 15], n = 4, src = esc;
		}
		if (o + n + 1 > size)
			break;
		memcpy(out + o, src, n);
		o += n;
		p += src == esc ? 1 : n;
	}
	if (cut && o + STRLEN("\u2026") + 1 <= size) {
		memcpy(out + o, "\u2026", STRLEN("\u2026"));
		o += STRLEN("\u2026");
	}
	out[o] = '\0';
	return o;
}

int log_internal(int level, int error, const struct log_fields *fields, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = log_internalv(level, error, fields, fmt, ap);
	va_end(ap);
	return r;
}

int log_internalv(int level, int error, const struct log_fields *fields, const char *fmt, va_list ap)
{
	char raw[LOG_MSG_MAX], msg[4 * LOG_MSG_MAX + 8];
	int k;

	if (error < 0)
		error = -error;
	if (level > max_level)
		return -error;

	/* %m in the format prints errno: make it the error we were given. */
	errno = error;
	k = vsnprintf(raw, sizeof(raw), fmt, ap);
	if (k < 0)
		k = 0, raw[0] = '\0';
	(void)log_escape(raw, MIN((size_t)k, sizeof(raw) - 1), (size_t)k >= sizeof(raw), msg, sizeof(msg));

	if (log_get_target() == LOG_TARGET_JOURNAL && log_to_journal(level, error, fields, msg) >= 0) {
		errno = error;
		return -error;
	}

	fprintf(stderr, "%s%s%s%s\n", level <= LOG_ERR ? "error: " : level == LOG_WARNING ? "warning: " : "",
		fields && fields->listener ? fields->listener : "", fields && fields->listener ? ": " : "", msg);
	return -error;
}
