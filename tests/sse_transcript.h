/* SPDX-License-Identifier: MIT */
/*
 * Renders what sse_parser reports as a text transcript, one note per line,
 * so tests compare whole conversations (see tests/sse_vectors.h for the
 * format). Shared by the unit suite and the fuzz target.
 */
#ifndef SSEWATCHD_SSE_TRANSCRIPT_H
#define SSEWATCHD_SSE_TRANSCRIPT_H

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "sse_parser.h"

#define TRANSCRIPT_MAX (64u * 1024 * 1024)

static inline int transcript_escape(struct dbuf *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	int r = dbuf_putc(o, '"');
	size_t i = 0;

	while (i < n && r >= 0) {
		size_t run = i;
		unsigned char c;
		char e[4] = { '\\', 0, 0, 0 };
		size_t elen = 2;

		/* Copy plain printable text in one piece. */
		while (run < n && (unsigned char)s[run] >= 0x20 && (unsigned char)s[run] < 0x7f &&
		       s[run] != '"' && s[run] != '\\')
			run++;
		if (run > i) {
			r = dbuf_append(o, s + i, run - i);
			i = run;
			continue;
		}
		c = (unsigned char)s[i++];
		switch (c) {
		case '"': e[1] = '"'; break;
		case '\\': e[1] = '\\'; break;
		case '\n': e[1] = 'n'; break;
		case '\r': e[1] = 'r'; break;
		case '\t': e[1] = 't'; break;
		default:
			e[1] = 'x';
			e[2] = hex[c >> 4];
			e[3] = hex[c & 15];
			elen = 4;
		}
		r = dbuf_append(o, e, elen);
	}
	return r < 0 ? r : dbuf_putc(o, '"');
}

static inline int transcript_id(struct dbuf *o, bool set, const char *id, size_t len)
{
	if (!set)
		return dbuf_putc(o, '-');
	return transcript_escape(o, id, len);
}

static inline int transcript_printf(struct dbuf *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline int transcript_printf(struct dbuf *o, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -EINVAL;
	return dbuf_append(o, tmp, (size_t)n);
}

/* The sse_parser callback: userdata is the transcript dbuf. */
static inline int transcript_record(void *userdata, const struct sse_note *n)
{
	struct dbuf *o = userdata;
	int r = 0;

	switch (n->kind) {
	case SSE_NOTE_EVENT:
		r = dbuf_append(o, "event type=", 11);
		if (r >= 0) r = transcript_escape(o, n->type, n->type_len);
		if (r >= 0) r = dbuf_append(o, " data=", 6);
		if (r >= 0) r = transcript_escape(o, n->data, n->data_len);
		if (r >= 0) r = dbuf_append(o, " id=", 4);
		if (r >= 0) r = transcript_id(o, n->id_set, n->id, n->id_len);
		break;
	case SSE_NOTE_ID:
		r = transcript_printf(o, "id ");
		if (r >= 0) r = transcript_id(o, n->id_set, n->id, n->id_len);
		break;
	case SSE_NOTE_RETRY:
		r = transcript_printf(o, "retry %" PRIu32, n->retry_ms);
		break;
	case SSE_NOTE_OVERSIZE:
		r = transcript_printf(o, "oversize type=");
		if (r >= 0) r = transcript_escape(o, n->type, n->type_len);
		if (r >= 0) r = transcript_printf(o, " id=");
		if (r >= 0) r = transcript_id(o, n->id_set, n->id, n->id_len);
		if (r >= 0) r = transcript_printf(o, " size=%zu", n->size);
		break;
	}
	return r < 0 ? r : dbuf_putc(o, '\n');
}

/* Appends the closing "last id=..." line every transcript ends with. */
static inline int transcript_finish(struct dbuf *o, const struct sse_parser *p)
{
	const char *id;
	size_t len;
	bool set = sse_parser_last_id(p, &id, &len);
	int r = dbuf_append(o, "last id=", 8);

	if (r >= 0) r = transcript_id(o, set, id, len);
	return r < 0 ? r : dbuf_putc(o, '\n');
}

/*
 * Parses input cut at the given offsets (ascending, each within the input)
 * with a fresh parser; the transcript replaces the contents of *o, which
 * must have been initialised with dbuf_init(o, TRANSCRIPT_MAX). Each piece
 * is fed from a copy of its own that is overwritten and freed right after,
 * as a stream's read buffer is reused: a parser keeping a pointer into
 * bytes it was fed shows up in the transcript (or to ASan).
 */
static inline int transcript_run(struct dbuf *o, const struct sse_parser_limits *limits,
				 const char *input, size_t len, const size_t *cuts, size_t ncuts)
{
	struct sse_parser p;
	size_t at = 0;
	int r = 0;

	dbuf_reset(o);
	sse_parser_init(&p, limits, transcript_record, o);
	for (size_t i = 0; i <= ncuts && r >= 0; i++) {
		size_t next = i < ncuts ? cuts[i] : len;
		char *piece = malloc(next - at + 1);

		if (!piece) {
			r = -ENOMEM;
			break;
		}
		memcpy(piece, input + at, next - at);
		r = sse_parser_feed(&p, piece, next - at);
		memset(piece, '#', next - at);
		free(piece);
		at = next;
	}
	if (r >= 0)
		r = transcript_finish(o, &p);
	sse_parser_done(&p);
	return r;
}

/* For the fuzz targets: two transcripts of the same input must be equal. */
static inline void transcript_same_or_die(const struct dbuf *a, const struct dbuf *b, const char *what)
{
	if (a->len == b->len && memcmp(dbuf_str(a), dbuf_str(b), a->len) == 0)
		return;
	fprintf(stderr, "transcripts differ (%s)\n--- whole\n%s--- other\n%s", what, dbuf_str(a), dbuf_str(b));
	abort();
}

#endif
