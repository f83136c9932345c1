/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the sse hot path's text (notif_sse_text) is byte for byte
 * the tree's text (jsonw_dumps(notif_sse_new(...))) for any event name, data
 * and id. Input: a flags byte (bit 0: id set), two split bytes, then the
 * bytes cut into event, data and id at those two points.
 */
// fuzz-sources: src/notif.c src/jsonw.c src/dbuf.c src/util.c src/strv.c
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "notif.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dbuf scratch;
static bool scratch_ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *rest = (const char *)data + 3;
	size_t n, a, b, len = 0;
	json_t *tree;
	char *want, *got;

	if (size < 3)
		return 0;
	n = size - 3;
	a = n ? data[1] % (n + 1) : 0;
	b = a + (n - a ? data[2] % (n - a + 1) : 0);
	tree = notif_sse_new(rest, a, rest + a, b - a, data[0] & 1, rest + b, n - b);
	if (!tree)
		abort();
	want = jsonw_dumps(tree);
	/* With a scratch buffer kept from one input to the next (as the daemon
	 * does) and without one. */
	if (!scratch_ready) {
		dbuf_init(&scratch, SIZE_MAX - 1);
		scratch_ready = true;
	}
	got = notif_sse_text(rest, a, rest + a, b - a, data[0] & 1, rest + b, n - b, data[0] & 2 ? &scratch : NULL, &len);
	if (!want || !got || strcmp(want, got) != 0 || len != strlen(got)) {
		fprintf(stderr, "sse text differs from the tree's:\n want %s\n got  %s\n", want ? want : "(null)",
			got ? got : "(null)");
		abort();
	}
	free(want);
	free(got);
	json_decref(tree);
	return 0;
}
