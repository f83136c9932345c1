/* SPDX-License-Identifier: MIT */
/* libFuzzer target: jsonw writes the same bytes as jansson for any JSON,
 * escaping with SSSE3's shuffle (where the CPU has it) and without. */
// fuzz-sources: src/jsonw.c src/dbuf.c
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_as(const json_t *j, const char *want, bool shuffle)
{
	char *got;

	(void)jsonw_shuffle_escaping(shuffle);
	got = jsonw_dumps(j);
	if (!want != !got || (want && strcmp(want, got) != 0)) {
		fprintf(stderr, "jsonw (shuffle %s) differs from jansson:\n want %s\n got  %s\n", shuffle ? "on" : "off",
			want ? want : "(null)", got ? got : "(null)");
		abort();
	}
	free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	char *want;

	if (!j)
		return 0;
	want = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	same_as(j, want, true);
	same_as(j, want, false);
	free(want);
	json_decref(j);
	return 0;
}
