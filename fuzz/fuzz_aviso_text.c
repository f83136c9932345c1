/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the aviso hot path's text (notif_aviso_format) is byte
 * for byte the text of the tree the module built before it
 * (tests/aviso_tree.h) for any CloudEvent jansson accepts. Input: a flags
 * byte (bit 0: the event name), eight bytes of sequence, then the frame's
 * JSON, parsed as the daemon parses it.
 */
// fuzz-sources: src/notif.c src/jsonw.c src/dbuf.c src/util.c src/strv.c
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aviso_tree.h"
#include "notif.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dbuf scratch;
static bool scratch_ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *event = data[0] & 1 ? "replay" : "live-notification", *id;
	uint64_t seq = 0;
	char *want;
	json_t *ce;
	int r;

	if (size < 9)
		return 0;
	for (size_t i = 1; i < 9; i++)
		seq = seq << 8 | data[i];
	seq &= INT64_MAX;
	ce = json_loadb((const char *)data + 9, size - 9, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(ce)) {
		json_decref(ce);
		return 0;
	}
	if (!scratch_ready) {
		dbuf_init(&scratch, SIZE_MAX - 1);
		scratch_ready = true;
	}
	id = json_string_value(json_object_get(ce, "id"));
	r = notif_aviso_format(ce, event, seq, &scratch);
	if (!id || !strrchr(id, '@')) {
		if (r != -EINVAL)
			abort();	/* no "<type>@<seq>" id: refused */
		json_decref(ce);
		return 0;
	}
	want = aviso_tree_text(ce, event, seq);
	if (r < 0 || !want || scratch.len != strlen(scratch.buf) || strcmp(want, scratch.buf) != 0) {
		fprintf(stderr, "aviso text differs from the tree's:\n want %s\n got  %s (%d)\n", want ? want : "(null)",
			r < 0 ? "(none)" : scratch.buf, r);
		abort();
	}
	free(want);
	dbuf_reset_trim(&scratch, NOTIF_SCRATCH_KEEP);
	json_decref(ce);
	return 0;
}
