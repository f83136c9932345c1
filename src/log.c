/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

static int max_level = LOG_INFO;

void log_set_max_level(int level)
{
	max_level = level;
}

int log_get_max_level(void)
{
	return max_level;
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	(void)file;
	(void)line;
	if (error < 0)
		error = -error;
	if (level > max_level)
		return -error;

	/* %m in the format prints errno: make it the error we were given. */
	errno = error;
	va_start(ap, fmt);
	fprintf(stderr, "<%d>", level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return -error;
}
