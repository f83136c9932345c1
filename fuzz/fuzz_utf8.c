/* SPDX-License-Identifier: MIT */
/* libFuzzer target: utf8_valid accepts exactly what jansson accepts. */
// fuzz-sources: src/util.c
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_stringn((const char *)data, size);

	if (utf8_valid((const char *)data, size) != (j != NULL))
		abort();
	json_decref(j);
	return 0;
}
