/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "macro.h"
#include "sse_parser.h"

static const unsigned char bom[3] = { 0xEF, 0xBB, 0xBF };

/* Data buffers larger than this are released after dispatch, so one huge
 * event does not pin its memory for the life of the stream. */
#define SSE_DATA_KEEP (64 * 1024)

static void block_clear(struct sse_parser *p)
{
	p->data_borrowed = false;
	dbuf_reset_trim(&p->data, SSE_DATA_KEEP);
	dbuf_reset_trim(&p->type, SSE_DATA_KEEP);
	p->data_seen = false;
	p->oversize = false;
	p->data_size = 0;
}

static void line_clear(struct sse_parser *p)
{
	p->name_len = 0;
	p->field = SSE_FIELD_IGNORE;
	p->line_len = 0;
	p->line_overflow = false;
	p->retry_value = 0;
	p->retry_valid = true;
	p->retry_any = false;
	dbuf_reset_trim(&p->scratch, SSE_DATA_KEEP);
}

void sse_parser_init(struct sse_parser *p, const struct sse_parser_limits *limits,
		     sse_parser_emit_fn emit, void *userdata)
{
	*p = (struct sse_parser){ .emit = emit, .userdata = userdata };
	p->limits.max_line = limits && limits->max_line ? limits->max_line : SSE_PARSER_DEFAULT_MAX_LINE;
	p->limits.max_event = limits && limits->max_event ? limits->max_event : SSE_PARSER_DEFAULT_MAX_EVENT;
	dbuf_init(&p->scratch, p->limits.max_line);
	dbuf_init(&p->type, p->limits.max_line);
	dbuf_init(&p->id_buf, p->limits.max_line);
	dbuf_init(&p->last_id, p->limits.max_line);
	dbuf_init(&p->data, p->limits.max_event);
	p->state = SSE_STATE_BOM;
	line_clear(p);
}

void sse_parser_done(struct sse_parser *p)
{
	dbuf_free(&p->scratch);
	dbuf_free(&p->type);
	dbuf_free(&p->id_buf);
	dbuf_free(&p->last_id);
	dbuf_free(&p->data);
}

void sse_parser_reset(struct sse_parser *p)
{
	p->state = SSE_STATE_BOM;
	p->bom_matched = 0;
	p->after_cr = false;
	line_clear(p);
	block_clear(p);
	/* An id field of the discarded block must not leak into the next
	 * connection: the last dispatched id stays. */
	p->id_pending = false;
	dbuf_reset_trim(&p->id_buf, SSE_DATA_KEEP);
}

int sse_parser_set_last_id(struct sse_parser *p, const char *id, size_t len, bool set)
{
	int r;

	p->id_pending = false;
	if (!set) {
		dbuf_reset(&p->last_id);
		p->last_id_set = false;
		return 0;
	}
	if (memchr(id, '\0', len))
		return -EINVAL;
	r = dbuf_set(&p->last_id, id, len);
	if (r < 0)
		return r;
	p->last_id_set = true;
	return 0;
}

bool sse_parser_last_id(const struct sse_parser *p, const char **ret_id, size_t *ret_len)
{
	if (ret_id)
		*ret_id = dbuf_str(&p->last_id);
	if (ret_len)
		*ret_len = p->last_id.len;
	return p->last_id_set;
}

static enum sse_field field_from_name(const char *name, size_t len)
{
	switch (len) {
	case 2:
		return memcmp(name, "id", 2) == 0 ? SSE_FIELD_ID : SSE_FIELD_IGNORE;
	case 4:
		return memcmp(name, "data", 4) == 0 ? SSE_FIELD_DATA : SSE_FIELD_IGNORE;
	case 5:
		if (memcmp(name, "event", 5) == 0)
			return SSE_FIELD_EVENT;
		return memcmp(name, "retry", 5) == 0 ? SSE_FIELD_RETRY : SSE_FIELD_IGNORE;
	default:
		return SSE_FIELD_IGNORE;
	}
}

/* The length of "data:", "id:" or "event:" when [s, end) starts with one, else 0. */
static size_t known_field(const char *s, const char *end, enum sse_field *ret_field)
{
	size_t n = (size_t)(end - s);

	if (n >= 5 && memcmp(s, "data:", 5) == 0) {
		*ret_field = SSE_FIELD_DATA;
		return 5;
	}
	if (n >= 3 && memcmp(s, "id:", 3) == 0) {
		*ret_field = SSE_FIELD_ID;
		return 3;
	}
	if (n >= 6 && memcmp(s, "event:", 6) == 0) {
		*ret_field = SSE_FIELD_EVENT;
		return 6;
	}
	return 0;
}

static void mark_oversize(struct sse_parser *p)
{
	p->oversize = true;
	p->data_borrowed = false;
	dbuf_reset_trim(&p->data, 0);
}

/* Whether the first data line of an event, n bytes whole in the buffer,
 * may be pointed at: it must fit where a copy would. */
static bool can_borrow(const struct sse_parser *p, size_t n)
{
	return p->field == SSE_FIELD_DATA && p->line_len == 0 && !p->line_overflow && !p->oversize &&
	       !p->data_borrowed && p->data.len == 0 && n <= p->limits.max_line && n < p->data.max;
}

/* Accounts the line (and its line feed) as data_append() and field_end() would. */
static void data_borrow(struct sse_parser *p, const char *s, size_t n)
{
	p->data_ref = s;
	p->data_ref_len = n;
	p->data_borrowed = true;
	p->data_size += n + 1;
	p->data_seen = true;
}

/* The borrowed line copied to data after all, with its line feed. */
static int data_unborrow(struct sse_parser *p)
{
	int r;

	if (!p->data_borrowed)
		return 0;
	p->data_borrowed = false;
	r = dbuf_append(&p->data, p->data_ref, p->data_ref_len);
	if (r >= 0)
		r = dbuf_append(&p->data, "\n", 1);
	if (r == -E2BIG) {
		mark_oversize(p);	/* cannot happen: can_borrow() checked the room */
		return 0;
	}
	return r;
}

/* Account for n more bytes of the current line; false once it is too long. */
static bool line_grow(struct sse_parser *p, size_t n)
{
	if (p->line_overflow)
		return false;
	if (n > p->limits.max_line - p->line_len) {
		p->line_overflow = true;
		mark_oversize(p);
		return false;
	}
	p->line_len += n;
	return true;
}

static int data_append(struct sse_parser *p, const void *s, size_t n)
{
	int r;

	p->data_size += n;
	if (p->oversize)
		return 0;
	r = data_unborrow(p);
	if (r < 0)
		return r;
	r = dbuf_append(&p->data, s, n);
	if (r == -E2BIG) {
		mark_oversize(p);
		return 0;
	}
	return r;
}

/* A run of value bytes of the current line, containing no CR or LF. */
static int value_bytes(struct sse_parser *p, const char *s, size_t n)
{
	size_t i;
	int r;

	switch (p->field) {
	case SSE_FIELD_DATA:
		if (!line_grow(p, n)) {
			p->data_size += n;
			return 0;
		}
		return data_append(p, s, n);
	case SSE_FIELD_EVENT:
	case SSE_FIELD_ID:
		if (!line_grow(p, n))
			return 0;
		r = dbuf_append(&p->scratch, s, n);
		return r == -E2BIG ? 0 : r;
	case SSE_FIELD_RETRY:
		for (i = 0; i < n && p->retry_valid; i++) {
			unsigned d = (unsigned char)s[i] - '0';

			if (d > 9) {
				p->retry_valid = false;
				break;
			}
			p->retry_any = true;
			p->retry_value = p->retry_value * 10 + d;
			if (p->retry_value > SSE_PARSER_RETRY_MAX)
				p->retry_value = SSE_PARSER_RETRY_MAX;
		}
		return 0;
	case SSE_FIELD_IGNORE:
		return 0;
	}
	return 0;
}

/* The field line ended: apply it. */
static int field_end(struct sse_parser *p)
{
	struct sse_note note;
	int r = 0;

	switch (p->field) {
	case SSE_FIELD_DATA:
		p->data_seen = true;
		r = data_append(p, "\n", 1);
		break;
	case SSE_FIELD_EVENT:
		if (!p->line_overflow)
			dbuf_swap(&p->type, &p->scratch);
		break;
	case SSE_FIELD_ID:
		if (!p->line_overflow && !memchr(dbuf_str(&p->scratch), '\0', p->scratch.len)) {
			dbuf_swap(&p->id_buf, &p->scratch);
			p->id_pending = true;
		}
		break;
	case SSE_FIELD_RETRY:
		if (p->retry_valid && p->retry_any) {
			note = (struct sse_note){ .kind = SSE_NOTE_RETRY, .retry_ms = (uint32_t)p->retry_value };
			r = p->emit(p->userdata, &note);
		}
		break;
	case SSE_FIELD_IGNORE:
		break;
	}
	line_clear(p);
	return r;
}

/* A blank line: dispatch the event. */
static int dispatch(struct sse_parser *p)
{
	struct sse_note note = { 0 };
	bool id_changed = false;
	int r = 0;

	if (p->id_pending) {
		p->id_pending = false;
		if (!p->last_id_set || !dbuf_eq(&p->last_id, dbuf_str(&p->id_buf), p->id_buf.len)) {
			dbuf_swap(&p->last_id, &p->id_buf);
			p->last_id_set = true;
			id_changed = true;
		}
	}

	note.id = dbuf_str(&p->last_id);
	note.id_len = p->last_id.len;
	note.id_set = p->last_id_set;
	if (p->type.len > 0) {
		note.type = dbuf_str(&p->type);
		note.type_len = p->type.len;
	} else {
		note.type = "message";
		note.type_len = STRLEN("message");
	}

	if (p->oversize && p->data_seen) {
		note.kind = SSE_NOTE_OVERSIZE;
		note.size = p->data_size;
		r = p->emit(p->userdata, &note);
	} else if (p->data.len == 0 && !p->data_borrowed) {
		if (id_changed) {
			note.kind = SSE_NOTE_ID;
			note.type = NULL;
			note.type_len = 0;
			r = p->emit(p->userdata, &note);
		}
	} else {
		if (p->data_borrowed) {
			note.data = p->data_ref;
			note.data_len = p->data_ref_len;
		} else {
			p->data.len--;		/* the line feed of the last data line */
			note.data = p->data.buf;
			note.data_len = p->data.len;
		}
		note.kind = SSE_NOTE_EVENT;
		r = p->emit(p->userdata, &note);
		if (r == SSE_PARSER_STOP) {
			p->stop = true;
			r = 0;
		}
	}
	block_clear(p);
	return r;
}

/* Where the current line ends: the first CR or LF in [s, end), or end.
 * One pass looking for both: two memchr() calls read every line twice. */
static const char *find_eol(const char *s, const char *end)
{
#ifdef __SSE2__
	const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');

	for (; end - s >= 16; s += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));

		if (m)
			return s + __builtin_ctz(m);
	}
#endif
	for (; s < end; s++)
		if (*s == '\r' || *s == '\n')
			break;
	return s;
}

/* Parse bytes once any byte-order mark has been dealt with. Sets *ret_end to
 * where parsing stopped: end, or just after an event the callback stopped at. */
static int parse_bytes(struct sse_parser *p, const char *s, const char *end, const char **ret_end)
{
	int r;

	*ret_end = end;
	while (s < end) {
		if (p->stop) {
			p->stop = false;
			*ret_end = s;
			return 0;
		}
		char c = *s;

		if (p->after_cr) {
			p->after_cr = false;
			if (c == '\n') {
				s++;
				continue;
			}
		}

		switch (p->state) {
		case SSE_STATE_BOM:	/* handled by the caller */
		case SSE_STATE_LINE_START: {
			/* The usual names, whole in this buffer, skip the walk
			 * byte by byte: the same state as that walk reaches. */
			size_t k = known_field(s, end, &p->field);

			if (k > 0) {
				s += k;
				p->state = SSE_STATE_VALUE_START;
				break;
			}
			s++;
			if (c == '\r' || c == '\n') {
				p->after_cr = c == '\r';
				r = dispatch(p);
				if (r < 0)
					return r;
			} else if (c == ':') {
				p->state = SSE_STATE_SKIP;
			} else {
				p->name[0] = c;
				p->name_len = 1;
				p->state = SSE_STATE_NAME;
			}
			break;
		}

		case SSE_STATE_NAME:
			s++;
			if (c == '\r' || c == '\n') {
				/* A line without a colon names a field with an empty value. */
				p->after_cr = c == '\r';
				p->field = field_from_name(p->name, p->name_len);
				p->state = SSE_STATE_LINE_START;
				r = field_end(p);
				if (r < 0)
					return r;
			} else if (c == ':') {
				p->field = field_from_name(p->name, p->name_len);
				p->state = p->field == SSE_FIELD_IGNORE ? SSE_STATE_SKIP : SSE_STATE_VALUE_START;
			} else if (p->name_len < sizeof(p->name)) {
				p->name[p->name_len++] = c;
			} else {
				/* No field name is longer than five bytes. */
				p->state = SSE_STATE_SKIP;
			}
			break;

		case SSE_STATE_VALUE_START:
			p->state = SSE_STATE_VALUE;
			if (c == ' ')
				s++;
			break;

		case SSE_STATE_VALUE: {
			const char *eol = find_eol(s, end);

			if (eol < end && can_borrow(p, (size_t)(eol - s))) {
				data_borrow(p, s, (size_t)(eol - s));
				p->after_cr = *eol == '\r';
				s = eol + 1;
				p->state = SSE_STATE_LINE_START;
				line_clear(p);
				break;
			}
			if (eol > s) {
				r = value_bytes(p, s, (size_t)(eol - s));
				if (r < 0)
					return r;
				s = eol;
			}
			if (s < end) {
				p->after_cr = *s == '\r';
				s++;
				p->state = SSE_STATE_LINE_START;
				r = field_end(p);
				if (r < 0)
					return r;
			}
			break;
		}

		case SSE_STATE_SKIP: {
			const char *eol = find_eol(s, end);

			s = eol;
			if (s < end) {
				p->after_cr = *s == '\r';
				s++;
				p->state = SSE_STATE_LINE_START;
				line_clear(p);
			}
			break;
		}
		}
	}
	p->stop = false;	/* stopped on the last byte: nothing is left anyway */
	return 0;
}

/* As parse_bytes(); a data line still pointed at is copied before the bytes go back. */
static int parse(struct sse_parser *p, const char *s, const char *end, const char **ret_end)
{
	int r = parse_bytes(p, s, end, ret_end);
	int u = data_unborrow(p);

	return r < 0 ? r : u;
}

int sse_parser_feed_some(struct sse_parser *p, const void *buf, size_t len, size_t *ret_consumed)
{
	const char *s = buf, *end = s + len, *stopped;
	int r;

	while (p->state == SSE_STATE_BOM && s < end) {
		if ((unsigned char)*s == bom[p->bom_matched]) {
			s++;
			if (++p->bom_matched == sizeof(bom)) {
				p->state = SSE_STATE_LINE_START;
				p->bom_matched = 0;
			}
			continue;
		}
		/* Not a byte-order mark after all: the bytes matched so far are
		 * the start of the first line. */
		p->state = SSE_STATE_LINE_START;
		if (p->bom_matched > 0) {
			uint8_t n = p->bom_matched;

			p->bom_matched = 0;
			/* No line ends in these bytes, so no event can stop here. */
			r = parse(p, (const char *)bom, (const char *)bom + n, &stopped);
			if (r < 0)
				return r;
		}
	}
	r = parse(p, s, end, &stopped);
	*ret_consumed = (size_t)(stopped - (const char *)buf);
	return r;
}

int sse_parser_feed(struct sse_parser *p, const void *buf, size_t len)
{
	const char *s = buf;
	size_t consumed;
	int r;

	/* Everything is parsed, whatever the callback asks. */
	do {
		r = sse_parser_feed_some(p, s, len, &consumed);
		s += consumed;
		len -= consumed;
	} while (r >= 0 && len > 0);
	return r;
}
