/* SPDX-License-Identifier: MIT */
/*
 * aviso_frame: what one event of an aviso watch stream says, decided from
 * its event name and data alone. Pure: no stream state, no I/O; the aviso
 * protocol module acts on the verdict, and this one knows nothing of
 * connections, cursors or triggers.
 *
 * Dispatch is on the event name, then, for live-notification and replay, on
 * data.specversion (a CloudEvent) or data.type (a control frame). Unknown
 * event names, unknown control types and heartbeats are ignored: newer
 * servers may send them.
 */
#ifndef SSEWATCHD_AVISO_FRAME_H
#define SSEWATCHD_AVISO_FRAME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The deepest CloudEvent kept. The state file wraps a notification in a
 * few levels of its own, and jansson reads no deeper than 2048: what is
 * committed must be readable again. */
#define AVISO_FRAME_MAX_DEPTH 1024

enum aviso_frame_kind {
	AVISO_FRAME_IGNORED,
	AVISO_FRAME_MALFORMED,		/* a known event whose data is not a JSON object: problem */
	AVISO_FRAME_NOTIFICATION,	/* data is the CloudEvent; id, and sequence if id_ok */
	AVISO_FRAME_OPENED,		/* connection_established (live) or replay_started */
	AVISO_FRAME_REPLAY_COMPLETED,
	AVISO_FRAME_REPLAY_LIMIT,	/* the server cut the history short: max_allowed */
	AVISO_FRAME_CLOSING,		/* connection-closing: reason (NULL if none), close */
	AVISO_FRAME_ERROR,		/* error_kind, message (NULL if none); sequence if has_sequence */
};

enum aviso_close {
	AVISO_CLOSE_AT_ONCE,		/* max_duration_reached, end_of_stream: reconnect now */
	AVISO_CLOSE_SHUTDOWN,		/* server_shutdown: reconnect after a short delay */
	AVISO_CLOSE_ERROR,		/* any other reason: reconnect with backoff */
};

struct aviso_frame {
	enum aviso_frame_kind kind;
	json_t *data;			/* owned; NULL unless the data is a JSON object */

	const char *id;			/* NOTIFICATION: the CloudEvent id, NULL if not a string */
	bool id_ok;			/* "<event_type>@<sequence>" */
	bool too_deep;			/* NOTIFICATION: nested deeper than AVISO_FRAME_MAX_DEPTH */
	uint64_t sequence;		/* NOTIFICATION if id_ok, ERROR if has_sequence */
	bool has_sequence;		/* ERROR: about one notification (a positive "sequence") */
	bool live;			/* OPENED: connection_established, not replay_started */
	json_int_t max_allowed;		/* REPLAY_LIMIT; 0 if not given */
	const char *reason;		/* CLOSING */
	enum aviso_close close;		/* CLOSING */
	bool end_of_stream;		/* CLOSING: the reason is end_of_stream */
	const char *error_kind;		/* ERROR: data.error, NULL if none */
	const char *message;		/* ERROR: data.message, NULL if none */
	char problem[240];		/* MALFORMED */
};

/* event[event_len] is the SSE event name, data[len] the event's data. Strings in *ret point into ret->data. */
void aviso_frame_parse(const char *event, size_t event_len, const char *data, size_t len, struct aviso_frame *ret);

void aviso_frame_done(struct aviso_frame *f);

/* "<event_type>@<sequence>": the sequence is the decimal number after the last '@'. -EINVAL if not. */
int aviso_parse_id(const char *id, uint64_t *ret_seq);

#endif
