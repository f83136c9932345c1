/* SPDX-License-Identifier: MIT */
/*
 * log: the daemon's one way to say things. Library-like modules return
 * negative errno and never log; callers log once, at the top.
 */
#ifndef SSEWATCHD_LOG_H
#define SSEWATCHD_LOG_H

#include <errno.h>
#include <syslog.h>

#include "macro.h"

void log_set_max_level(int level);
int log_get_max_level(void);

/* Returns -abs(error) (or 0), so callers can `return log_error_errno(r, ...)`. */
int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
	_printf_(5, 6);

#define log_full_errno(level, error, ...) \
	log_internal((level), (error), __FILE__, __LINE__, __VA_ARGS__)

#define log_debug(...)   log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)    log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)  log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)   log_full_errno(LOG_ERR, 0, __VA_ARGS__)

/* "%m" in fmt prints strerror(error). */
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, (error), __VA_ARGS__)
#define log_error_errno(error, ...)   log_full_errno(LOG_ERR, (error), __VA_ARGS__)

#endif
