/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for sse_parser. Beyond "does not crash", it checks the
 * parser's central promise: the same bytes give the same notes however they
 * are chunked. The first four input bytes choose the limits and a cut point.
 */
// fuzz-sources: src/sse_parser.c src/dbuf.c
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse_transcript.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t pick_limit(uint8_t b)
{
	/* Half the time a tiny limit, so the oversize paths are exercised. */
	return (b & 0x80) ? 0 : 1 + (size_t)(b & 0x3f);
}

static void run_bytewise(struct dbuf *o, const struct sse_parser_limits *limits, const char *in, size_t len)
{
	struct sse_parser p;

	dbuf_init(o, TRANSCRIPT_MAX);
	sse_parser_init(&p, limits, transcript_record, o);
	for (size_t i = 0; i < len; i++)
		if (sse_parser_feed(&p, in + i, 1) < 0)
			abort();
	if (transcript_finish(o, &p) < 0)
		abort();
	sse_parser_done(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sse_parser_limits limits;
	struct dbuf whole, split, bytewise;
	const char *in;
	size_t len, cuts[2];

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
	if (transcript_run(&whole, &limits, in, len, NULL, 0) < 0)
		abort();
	if (transcript_run(&split, &limits, in, len, cuts, 2) < 0)
		abort();
	transcript_same_or_die(&whole, &split, "3-way split");
	run_bytewise(&bytewise, &limits, in, len);
	transcript_same_or_die(&whole, &bytewise, "byte by byte");

	dbuf_free(&whole);
	dbuf_free(&split);
	dbuf_free(&bytewise);
	return 0;
}
