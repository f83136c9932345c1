/* SPDX-License-Identifier: MIT */
/*
 * log: the daemon's one way to say things. Library-like modules return
 * negative errno and never log; callers log once, at the top.
 *
 * Messages may carry fields (the listener, the event id, the server's request
 * id, and a MESSAGE_ID naming the kind of event). On a terminal they read
 * "listener: message". When stderr is the journal (systemd sets
 * $JOURNAL_STREAM to the "DEV:INODE" of the stream it connected to fd 2),
 * each message goes through the native journal protocol instead, with
 * PRIORITY, SYSLOG_IDENTIFIER=ssewatchd, MESSAGE_ID, ERRNO,
 * SSEWATCHD_LISTENER, SSEWATCHD_EVENT_ID and SSEWATCHD_REQUEST_ID fields
 * (each only when known). If the journal cannot be reached, the line goes
 * to stderr as usual. The decision is made again for every message, so a
 * redirected fd 2 is honoured at once.
 */
#ifndef SSEWATCHD_LOG_H
#define SSEWATCHD_LOG_H

#include <errno.h>
#include <stdarg.h>
#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

/* Stable ids for the kinds of event operators search for (journalctl MESSAGE_ID=). */
#define LOG_MID_CONNECTED      "32d92638b15e4b2e99c6ce9b8fd85eca"
#define LOG_MID_DISCONNECTED   "3f65af9369374c92a579385ea767cc5d"
#define LOG_MID_TRIGGER_FAILED "0507afa3b0f54612add6da752832df52"
#define LOG_MID_DEAD_LETTERED  "6f77d375fa1e4254ba93cd22593c4674"
#define LOG_MID_GAP            "6311b77fce3e46449c6e498a3deb949e"
#define LOG_MID_STATE_ERROR    "5209a67b7db24a7a9a631ab9a5886c0a"
#define LOG_MID_LISTENER_FAILED "23e506615f6d4ac987039a0859bda4a0"
#define LOG_MID_REDELIVERED    "cf46838aea4249b684950d5056d76cc7"
#define LOG_MID_OVERSIZE       "d79584a6c49a469cbb9d0fcaff922d31"

struct log_fields {
	const char *listener;
	const char *event_id;
	const char *request_id;
	const char *message_id;
};

enum log_target {
	LOG_TARGET_STDERR,	/* readable lines on fd 2 */
	LOG_TARGET_JOURNAL,	/* sd_journal_sendv() with fields */
};

/* Where the next message would go. */
enum log_target log_get_target(void);

/*
 * True if fd is the stream journal_stream names: "DEV:INODE" (decimal, as
 * systemd writes $JOURNAL_STREAM) equal to fstat(fd)'s st_dev and st_ino.
 * False for NULL, malformed values and other files.
 */
bool log_fd_is_journal_stream(int fd, const char *journal_stream);

void log_set_max_level(int level);
int log_get_max_level(void);

/* Parses "debug", "info", ...; -EINVAL otherwise. */
int log_level_from_string(const char *s);

/* The longest message before escaping; longer ones are cut (and end in "…"). */
#define LOG_MSG_MAX 2048

/*
 * in[len] as one printable line of UTF-8 into out[size] (NUL-terminated):
 * newline and carriage return as \n and \r, other controls and bytes that
 * are not UTF-8 as \xNN. cut: in was cut short, so a character split at
 * its end is dropped and "…" appended. Stops early rather than overflow.
 * Returns the length written.
 */
size_t log_escape(const char *in, size_t len, bool cut, char *out, size_t size);

/* Returns -abs(error) (or 0), so callers can `return log_error_errno(r, ...)`. */
int log_internal(int level, int error, const struct log_fields *fields, const char *fmt, ...)
	_printf_(4, 5);

int log_internalv(int level, int error, const struct log_fields *fields, const char *fmt, va_list ap)
	_printf_(4, 0);

#define log_full_errno(level, error, ...) log_internal((level), (error), NULL, __VA_ARGS__)

#define log_debug(...)   log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)    log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)  log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)   log_full_errno(LOG_ERR, 0, __VA_ARGS__)

/* "%m" in fmt prints strerror(error). */
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, (error), __VA_ARGS__)
#define log_error_errno(error, ...)   log_full_errno(LOG_ERR, (error), __VA_ARGS__)

/* With fields: log_f(LOG_INFO, 0, &(struct log_fields){ .listener = n }, "..."). */
/* Fields and format both travel in __VA_ARGS__: a compound literal holds commas. */
#define log_f(level, error, ...) log_internal((level), (error), __VA_ARGS__)

#endif
