/* SPDX-License-Identifier: MIT */
/* libFuzzer target: jsonw writes the same bytes as jansson for any JSON. */
// fuzz-sources: src/jsonw.c src/dbuf.c
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	char *want, *got;

	if (!j)
		return 0;
	want = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	got = jsonw_dumps(j);
	if (!want != !got || (want && strcmp(want, got) != 0)) {
		fprintf(stderr, "jsonw differs from jansson:\n want %s\n got  %s\n", want ? want : "(null)",
			got ? got : "(null)");
		abort();
	}
	free(want);
	free(got);
	json_decref(j);
	return 0;
}
