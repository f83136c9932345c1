/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for aviso_frame, fed as the daemon feeds it: stream bytes
 * through sse_parser, each event to aviso_frame_parse(). Beyond "does not
 * crash" (or leak), it checks that the verdicts do not depend on how the
 * bytes are chunked, and that each verdict is consistent with the frame.
 * The first four input bytes choose the limits and a cut point.
 */
// fuzz-sources: src/aviso_frame.c src/sse_parser.c src/dbuf.c
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aviso_frames.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t pick_limit(uint8_t b)
{
	/* Now and then a tiny limit, so the oversize paths are exercised. */
	return (b & 0xc0) == 0xc0 ? 1 + (size_t)(b & 0x3f) : SSE_PARSER_DEFAULT_MAX_LINE;
}

/* What a verdict promises about the frame it was given. */
static int check_verdict(void *userdata, const struct sse_note *n)
{
	struct aviso_frame f;
	uint64_t seq;

	if (n->kind == SSE_NOTE_EVENT) {
		aviso_frame_parse(n->type, n->type_len, n->data, n->data_len, &f);
		if (f.kind == AVISO_FRAME_MALFORMED ? f.data != NULL : f.kind != AVISO_FRAME_IGNORED && !f.data)
			abort();
		if (f.kind == AVISO_FRAME_NOTIFICATION &&
		    (!json_object_get(f.data, "specversion") ||
		     f.id != json_string_value(json_object_get(f.data, "id")) ||
		     f.id_ok != (aviso_parse_id(f.id, &seq) == 0) || (f.id_ok && seq != f.sequence)))
			abort();
		if (f.kind == AVISO_FRAME_ERROR && f.has_sequence && f.sequence == 0)
			abort();
		if (f.kind == AVISO_FRAME_MALFORMED && !f.problem[0])
			abort();
		aviso_frame_done(&f);
	}
	return frames_record(userdata, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sse_parser_limits limits;
	struct dbuf whole, split, bytewise;
	size_t len, cuts[2], every[4096];
	const char *in;

	if (size < 4)
		return 0;
	limits.max_line = pick_limit(data[0]);
	limits.max_event = pick_limit(data[1]);
	in = (const char *)data + 4;
	len = size - 4;
	cuts[0] = len ? ((size_t)data[2] * 256 + data[3]) % (len + 1) : 0;
	cuts[1] = cuts[0] + (len - cuts[0]) / 2;

	dbuf_init(&whole, TRANSCRIPT_MAX);
	dbuf_init(&split, TRANSCRIPT_MAX);
	if (frames_run(&whole, &limits, check_verdict, in, len, NULL, 0) < 0 ||
	    frames_run(&split, &limits, check_verdict, in, len, cuts, 2) < 0)
		abort();
	transcript_same_or_die(&whole, &split, "3-way split");
	if (len <= ELEMENTSOF(every)) {
		for (size_t i = 0; i < len; i++)
			every[i] = i + 1;
		dbuf_init(&bytewise, TRANSCRIPT_MAX);
		if (frames_run(&bytewise, &limits, check_verdict, in, len, every, len) < 0)
			abort();
		transcript_same_or_die(&whole, &bytewise, "byte by byte");
		dbuf_free(&bytewise);
	}
	dbuf_free(&whole);
	dbuf_free(&split);
	return 0;
}
