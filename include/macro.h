/* SPDX-License-Identifier: MIT */
/* Small macros used throughout ssewatchd. */
#ifndef SSEWATCHD_MACRO_H
#define SSEWATCHD_MACRO_H

#include <stddef.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define _unused_ __attribute__((unused))
#define _noreturn_ __attribute__((noreturn))
#define _printf_(fmt, args) __attribute__((format(printf, fmt, args)))
#define _warn_unused_result_ __attribute__((warn_unused_result))

#define STRLEN(s) (sizeof(s) - 1)

#define USEC_PER_SEC  UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)
#define NSEC_PER_USEC UINT64_C(1000)

#endif
