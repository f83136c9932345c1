/* SPDX-License-Identifier: MIT */
/* Every unit suite, one per module; add a line here with each new suite. */
#ifndef SSEWATCHD_TEST_SUITES_H
#define SSEWATCHD_TEST_SUITES_H

#include <check.h>

#define UNIT_SUITES \
	X(auth) \
	X(aviso_frame) \
	X(child) \
	X(config) \
	X(curl_glue) \
	X(dbuf)     \
	X(flow) \
	X(http_header) \
	X(deadline) \
	X(jsonw)    \
	X(log) \
	X(notif) \
	X(strv) \
	X(util) \
	X(supervisor) \
	X(trigger) \
	X(sse_parser) \
	X(tmpl) \
	X(uring) \
	X(state)

#define X(name) Suite *name##_suite(void);
UNIT_SUITES
#undef X

#endif
