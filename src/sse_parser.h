/* SPDX-License-Identifier: MIT */
/*
 * sse_parser: an incremental, byte-level parser for text/event-stream, exactly
 * per the WHATWG HTML "Server-sent events" interpretation rules.
 *
 * It knows nothing of sockets or HTTP: feed it bytes in chunks of any size and
 * it reports, through one callback, each event dispatched, each change of the
 * last event id made by a block without data, each valid retry field, and each
 * event skipped because it exceeded the size limits.
 *
 * Memory is bounded by the limits: the data buffer never holds more than
 * max_event bytes, the event-type and id buffers never more than max_line.
 * A line longer than max_line, or data beyond max_event, makes the event it
 * belongs to "oversize": it is reported with SSE_NOTE_OVERSIZE instead of
 * being dispatched, and parsing goes on with the next event. An id field that
 * completes within the limits still updates the last event id even when its
 * event is oversize, so a reconnect resumes after the skipped event instead of
 * fetching it again.
 */
#ifndef SSEWATCHD_SSE_PARSER_H
#define SSEWATCHD_SSE_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dbuf.h"

#define SSE_PARSER_DEFAULT_MAX_LINE  (1024 * 1024)
#define SSE_PARSER_DEFAULT_MAX_EVENT (1024 * 1024)

/* The retry field is clamped to this many milliseconds. */
#define SSE_PARSER_RETRY_MAX UINT32_MAX

struct sse_parser_limits {
	size_t max_line;	/* longest line (id, event type, one data line) */
	size_t max_event;	/* most data bytes in one event, line feeds included */
};

enum sse_note_kind {
	SSE_NOTE_EVENT,		/* an event was dispatched */
	SSE_NOTE_ID,		/* a block without data changed the last event id */
	SSE_NOTE_RETRY,		/* a valid retry field: new reconnection time */
	SSE_NOTE_OVERSIZE,	/* an event exceeded a limit and was skipped */
};

/*
 * What the callback receives. Pointers are valid only during the callback.
 * type and id are NUL-terminated; type and data may contain NUL bytes (id
 * never does). data is not terminated: it may point into the bytes fed.
 * Use the lengths.
 */
struct sse_note {
	enum sse_note_kind kind;
	const char *type;	/* EVENT, OVERSIZE: event type, "message" by default */
	size_t type_len;
	const char *data;	/* EVENT: data, one trailing line feed removed */
	size_t data_len;
	const char *id;		/* EVENT, ID, OVERSIZE: the last event id after this block */
	size_t id_len;
	bool id_set;		/* false while no id field was ever seen on this stream */
	uint32_t retry_ms;	/* RETRY */
	size_t size;		/* OVERSIZE: data bytes the event carried */
};

/*
 * Called for every note. A negative return stops sse_parser_feed(), which
 * returns that value; the parser must then be reset before further use.
 * SSE_PARSER_STOP, returned for an event, makes sse_parser_feed_some() stop
 * right after it (the parser stays consistent: feed the rest later).
 * The callback must not call back into the parser.
 */
typedef int (*sse_parser_emit_fn)(void *userdata, const struct sse_note *note);

#define SSE_PARSER_STOP 1

enum sse_parser_state {
	SSE_STATE_BOM,		/* stream start: maybe a byte-order mark */
	SSE_STATE_LINE_START,
	SSE_STATE_NAME,
	SSE_STATE_VALUE_START,	/* just after the colon: one space to drop */
	SSE_STATE_VALUE,
	SSE_STATE_SKIP,		/* comment, unknown field or overlong name */
};

enum sse_field {
	SSE_FIELD_IGNORE,
	SSE_FIELD_DATA,
	SSE_FIELD_EVENT,
	SSE_FIELD_ID,
	SSE_FIELD_RETRY,
};

/* Embeddable; treat the members as private. */
struct sse_parser {
	struct sse_parser_limits limits;
	sse_parser_emit_fn emit;
	void *userdata;

	enum sse_parser_state state;
	bool after_cr;		/* a LF now would end the same line as the CR before */
	uint8_t bom_matched;
	char name[5];
	uint8_t name_len;
	enum sse_field field;
	size_t line_len;
	bool line_overflow;

	bool stop;		/* the callback asked to stop after the event just dispatched */
	uint64_t retry_value;
	bool retry_valid;
	bool retry_any;

	struct dbuf scratch;	/* value of the event or id line being read */
	struct dbuf data;
	/* An event's only data line, whole in the bytes being parsed, is
	 * pointed at there instead of copied to data (until a second line
	 * comes, or those bytes go back to the caller). */
	const char *data_ref;
	size_t data_ref_len;
	bool data_borrowed;
	struct dbuf type;
	bool data_seen;
	bool oversize;
	size_t data_size;

	/*
	 * The spec's "last event ID buffer" is last_id unless an id field was
	 * seen since the last dispatch (id_pending), then it is id_buf. Keeping
	 * them apart lets dispatch and reset swap instead of copy.
	 */
	struct dbuf id_buf;
	bool id_pending;
	struct dbuf last_id;	/* the last event id string, as of the last dispatch */
	bool last_id_set;
};

/* A NULL limits pointer, or a zero member, selects the default. */
void sse_parser_init(struct sse_parser *p, const struct sse_parser_limits *limits,
		     sse_parser_emit_fn emit, void *userdata);
void sse_parser_done(struct sse_parser *p);

/* Returns 0, -ENOMEM, or the callback's negative return. */
int sse_parser_feed(struct sse_parser *p, const void *buf, size_t len);

/*
 * Like sse_parser_feed(), but the callback may return SSE_PARSER_STOP for an
 * event: parsing stops right after it and *ret_consumed says how many bytes
 * of buf were used (all of them otherwise). The rest is fed later, as is.
 */
int sse_parser_feed_some(struct sse_parser *p, const void *buf, size_t len, size_t *ret_consumed);

/*
 * Start a new connection: the partial event (and any id field in it) is
 * discarded, a byte-order mark is expected again, and the last event id is
 * kept.
 */
void sse_parser_reset(struct sse_parser *p);

/*
 * Restore the last event id, e.g. from durable state, before the first feed.
 * set=false means "never set". Returns -E2BIG if id exceeds max_line and
 * -EINVAL if it contains NUL.
 */
int sse_parser_set_last_id(struct sse_parser *p, const char *id, size_t len, bool set);

/* The last event id; false (and "" with length 0) if it was never set. */
bool sse_parser_last_id(const struct sse_parser *p, const char **ret_id, size_t *ret_len);

#endif
