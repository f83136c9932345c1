/* SPDX-License-Identifier: MIT */
/*
 * Renders aviso_frame verdicts as text, one line per SSE event, so tests
 * compare whole streams: the unit suite's vectors and split tests and the
 * fuzz target share it. Formats:
 *
 *   ignored
 *   malformed <problem>
 *   notification id="mars@5" seq=5        (id=- if not a string, seq=bad;
 *                                          " too_deep" at the end if so)
 *   opened live | opened replay
 *   replay_completed
 *   replay_limit max=N
 *   closing reason="..." close=at_once|shutdown|error eos=0|1
 *   error kind="..." message="..." seq=N   (- for what is missing)
 *   oversize                               (from the SSE parser)
 */
#ifndef SSEWATCHD_TESTS_AVISO_FRAMES_H
#define SSEWATCHD_TESTS_AVISO_FRAMES_H

#include "aviso_frame.h"
#include "sse_transcript.h"

static inline int frames_opt(struct dbuf *o, const char *s)
{
	return s ? transcript_escape(o, s, strlen(s)) : dbuf_putc(o, '-');
}

static inline int frames_describe(struct dbuf *o, const struct aviso_frame *f)
{
	static const char *const close[] = { "at_once", "shutdown", "error" };
	int r = 0;

	switch (f->kind) {
	case AVISO_FRAME_IGNORED:
		r = transcript_printf(o, "ignored");
		break;
	case AVISO_FRAME_MALFORMED:
		r = dbuf_append(o, "malformed ", 10);
		if (r >= 0)
			r = dbuf_append(o, f->problem, strlen(f->problem));
		break;
	case AVISO_FRAME_NOTIFICATION:
		r = transcript_printf(o, "notification id=");
		if (r >= 0)
			r = frames_opt(o, f->id);
		if (r >= 0)
			r = f->id_ok ? transcript_printf(o, " seq=%" PRIu64, f->sequence) : transcript_printf(o, " seq=bad");
		if (r >= 0 && f->too_deep)
			r = transcript_printf(o, " too_deep");
		break;
	case AVISO_FRAME_OPENED:
		r = transcript_printf(o, "opened %s", f->live ? "live" : "replay");
		break;
	case AVISO_FRAME_REPLAY_COMPLETED:
		r = transcript_printf(o, "replay_completed");
		break;
	case AVISO_FRAME_REPLAY_LIMIT:
		r = transcript_printf(o, "replay_limit max=%" JSON_INTEGER_FORMAT, f->max_allowed);
		break;
	case AVISO_FRAME_CLOSING:
		r = transcript_printf(o, "closing reason=");
		if (r >= 0)
			r = frames_opt(o, f->reason);
		if (r >= 0)
			r = transcript_printf(o, " close=%s eos=%d", close[f->close], f->end_of_stream);
		break;
	case AVISO_FRAME_ERROR:
		r = transcript_printf(o, "error kind=");
		if (r >= 0)
			r = frames_opt(o, f->error_kind);
		if (r >= 0)
			r = transcript_printf(o, " message=");
		if (r >= 0)
			r = frames_opt(o, f->message);
		if (r >= 0)
			r = f->has_sequence ? transcript_printf(o, " seq=%" PRIu64, f->sequence) : transcript_printf(o, " seq=-");
		break;
	}
	return r < 0 ? r : dbuf_putc(o, '\n');
}

/* The sse_parser callback: userdata is the transcript dbuf. */
static inline int frames_record(void *userdata, const struct sse_note *n)
{
	struct dbuf *o = userdata;
	struct aviso_frame f;
	int r;

	if (n->kind == SSE_NOTE_OVERSIZE)
		return transcript_printf(o, "oversize\n");
	if (n->kind != SSE_NOTE_EVENT)
		return 0;
	aviso_frame_parse(n->type, n->type_len, n->data, n->data_len, &f);
	r = frames_describe(o, &f);
	aviso_frame_done(&f);
	return r;
}

/* The verdicts on stream in[len], fed in pieces cut at cuts[] (ascending);
 * emit is frames_record() or a callback that ends in it. */
static inline int frames_run(struct dbuf *o, const struct sse_parser_limits *limits, sse_parser_emit_fn emit,
			     const char *in, size_t len, const size_t *cuts, size_t n_cuts)
{
	struct sse_parser p;
	size_t at = 0;
	int r = 0;

	sse_parser_init(&p, limits, emit, o);
	for (size_t i = 0; i <= n_cuts && r >= 0; i++) {
		size_t end = i < n_cuts ? cuts[i] : len;

		r = sse_parser_feed(&p, in + at, end - at);
		at = end;
	}
	sse_parser_done(&p);
	return r;
}

#endif
