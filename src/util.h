/* SPDX-License-Identifier: MIT */
#ifndef SSEWATCHD_UTIL_H
#define SSEWATCHD_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "macro.h"

/* A formatted, malloc()ed string; NULL on OOM. */
char *strdupf(const char *fmt, ...) _printf_(1, 2);
char *vstrdupf(const char *fmt, va_list ap) _printf_(1, 0);

uint64_t now_usec(clockid_t clock);

/* url with any "user:password@" shown as "(secret)@", and the values of
 * query parameters named like credentials (token, key, auth, sig, ...) as
 * "(secret)"; malloc()ed, NULL on OOM. What logs, status and state files may
 * carry of a configured URL. */
/* Whether a query parameter, header or variable of this name likely carries a credential. */
bool name_looks_secret(const char *name, size_t n);
char *url_hide_secrets(const char *url);

/* All of data to fd, through short writes and EINTR; 0 or negative errno. */
int write_all(int fd, const void *data, size_t len);

/*
 * Whether s is valid UTF-8 as jansson requires of a JSON string (NUL
 * allowed; no overlong forms, surrogates or code points above U+10FFFF),
 * with a fast path for ASCII.
 */
bool utf8_valid(const char *s, size_t len);

/* "2026-11-22T10:00:00.123456Z" for a CLOCK_REALTIME µs value; buf must hold 32 bytes. */
const char *format_rfc3339(uint64_t usec, char buf[static 32]);

#endif
