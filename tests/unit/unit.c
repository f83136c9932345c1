/* SPDX-License-Identifier: MIT */
/*
 * The unit-test runner: one Check suite per module, all run by one SRunner
 * so the run ends with Check's overall summary. CK_RUN_SUITE=name runs one.
 */
#include <check.h>
#include <stdlib.h>

#include "suites.h"

/* -DUNIT_ONLY=name builds a runner for one suite, linked with its module only. */
#ifdef UNIT_ONLY
#undef UNIT_SUITES
#define UNIT_SUITES X(UNIT_ONLY)
#endif

int main(void)
{
	SRunner *sr = srunner_create(NULL);
	int failed;

#define ADD_SUITE(name) srunner_add_suite(sr, name##_suite());
#define X(name) ADD_SUITE(name)	/* expands UNIT_ONLY before pasting */
	UNIT_SUITES
#undef X
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
