/* SPDX-License-Identifier: MIT */
/*
 * Scope-bound cleanup, after systemd's _cleanup_ helpers: a variable marked
 * _cleanup_free_ is freed when it leaves scope, unless TAKE_PTR() handed it on.
 */
#ifndef SSEWATCHD_CLEANUP_H
#define SSEWATCHD_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		(void)close(*fd);
		errno = saved;
	}
}

static inline void fclosep(FILE **f)
{
	if (*f)
		(void)fclose(*f);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Hand a pointer out of a _cleanup_ scope: returns it and clears the variable. */
#define TAKE_PTR(p)                                   \
	({                                            \
		__typeof__(p) *_pp = &(p);            \
		__typeof__(p) _taken = *_pp;          \
		*_pp = NULL;                          \
		_taken;                               \
	})

#define TAKE_FD(fd)                                   \
	({                                            \
		int *_pfd = &(fd);                    \
		int _taken = *_pfd;                   \
		*_pfd = -1;                           \
		_taken;                               \
	})

#endif
