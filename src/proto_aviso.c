/* SPDX-License-Identifier: MIT */
/*
 * The aviso protocol (ECMWF aviso-server's watch API):
 *
 * - POST {base_url}/api/v1/watch (or /replay) with {event_type, identifier}
 *   and from_id = the last committed sequence + 1 (a decimal string), or at
 *   bootstrap (while the listener has no state file yet, or one marked
 *   "bootstrap") the configured from_id / from_date;
 * - the first frame must be connection_established or replay_started, within
 *   AVISO_OPENING_USEC of the response;
 * - each frame's meaning is aviso_frame's verdict (unknown names and types
 *   are ignored); what it means for this stream is decided here;
 * - the sequence is the number after the last '@' of the CloudEvent id; a
 *   malformed id stops the listener; sequences at or below the cursor are
 *   duplicates (aviso 0.7.1 repeats items at the replay->live boundary) and
 *   are dropped; for unfiltered listeners a jump is a gap (logged, on_gap);
 * - connection-closing: max_duration_reached and end_of_stream reconnect at
 *   once, server_shutdown after a short delay; an end without a close frame,
 *   or an error frame, reconnects from the cursor with backoff.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "aviso_frame.h"
#include "cleanup.h"
#include "daemon.h"
#include "log.h"
#include "notif.h"
#include "util.h"
#include "watch.h"

#define AVISO_OPENING_USEC (10 * USEC_PER_SEC)
#define AVISO_UNREADABLE_TRIES 5

struct aviso {
	bool opened;
	bool close_frame;
	enum sv_close close;
	bool bootstrap;			/* this stream started from the configured position */
	bool replay_asked;		/* the request has a from_id or from_date */
	uint64_t expected;		/* next sequence expected on this stream, 0 = unknown */
	bool delivered;			/* this stream brought a new notification */
	unsigned bad_frames;		/* unreadable frames in a row at the same cursor... */
	uint64_t bad_at;		/* ...this one (0: none yet) */
	bool limited;			/* the server stopped replaying at its limit */
	json_int_t limit_max;
	char *request_body;
};

static struct aviso *A(struct watch *w)
{
	return w->proto_data;
}

static void aviso_log(struct watch *w, int level, const char *mid, const char *event_id, const char *fmt, ...)
	_printf_(5, 6);
static void aviso_log(struct watch *w, int level, const char *mid, const char *event_id, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = vstrdupf(fmt, ap);
	va_end(ap);
	log_f(level, 0,
	      &(struct log_fields){ .listener = w->name, .event_id = event_id, .message_id = mid,
				    .request_id = w->request_id[0] ? w->request_id : NULL },
	      "%s", msg ? msg : fmt);
}

/* Without a trailing slash, so "/api/v1/..." can be appended. */
static size_t base_len(const char *base)
{
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	return n;
}

static json_t *aviso_identity(const struct cfg_listener *l)
{
	_cleanup_free_ char *base = url_hide_secrets(l->base_url);

	return base ? json_pack("{s:s, s:s%, s:s, s:O}", "protocol", "aviso", "base_url", base, base_len(base),
				"event", l->event, "identifiers", l->identifiers ? l->identifiers : json_object())
		    : NULL;
}

static bool unfiltered(const struct cfg_listener *l)
{
	return !l->identifiers || json_object_size(l->identifiers) == 0;
}

/* The opening frame's deadline, on the listener's timer. */
static void aviso_on_timer(struct watch *w)
{
	if (A(w)->opened)
		return;
	if (w->paused) {
		/* Not the server's silence: we stopped reading (the queue is
		 * full). The deadline starts again. */
		watch_proto_timer_set_in(w, AVISO_OPENING_USEC);
		return;
	}
	watch_end_stream(w, SV_REASON_PROTOCOL, "no connection_established or replay_started frame within %.0fs",
			 (double)AVISO_OPENING_USEC / 1e6);
}

static int aviso_setup(struct watch *w)
{
	struct aviso *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	w->proto_data = a;
	return 0;
}

static void aviso_teardown(struct watch *w)
{
	struct aviso *a = A(w);

	if (!a)
		return;
	free(a->request_body);
	free(a);
	w->proto_data = NULL;
}

/* The last committed sequence, or false if there is none yet. */
static bool cursor_seq(const struct watch *w, uint64_t *ret)
{
	json_int_t v;

	if (!json_is_integer(w->st->cursor))
		return false;
	v = json_integer_value(w->st->cursor);
	if (v < 0)
		return false;
	*ret = (uint64_t)v;
	return true;
}

static int aviso_prepare(struct watch *w, CURL *easy, struct curl_slist **headers)
{
	struct aviso *a = A(w);
	const struct cfg_listener *l = w->cfg;
	_cleanup_(json_decrefp) json_t *body = NULL;
	_cleanup_free_ char *url = NULL;
	struct curl_slist *n;
	uint64_t seq;

	body = json_pack("{s:s, s:O}", "event_type", l->event, "identifier",
			 l->identifiers ? l->identifiers : json_object());
	if (!body)
		return -ENOMEM;

	/* from_id is inclusive: resume after the last committed notification.
	 * The configured start applies only until something was committed. */
	a->bootstrap = false;
	a->expected = 0;
	a->replay_asked = true;		/* unless the live case below */
	if (cursor_seq(w, &seq)) {
		_cleanup_free_ char *from = strdupf("%" PRIu64, seq + 1);

		if (!from || json_object_set_new(body, "from_id", json_string(from)) < 0)
			return -ENOMEM;
		a->expected = seq + 1;
	} else if (w->replay_from) {
		if (json_object_set_new(body, w->replay_from_is_id ? "from_id" : "from_date",
					json_string(w->replay_from)) < 0)
			return -ENOMEM;
		a->expected = w->replay_from_is_id ? strtoull(w->replay_from, NULL, 10) : 0;
	} else if (w->state_existed && !w->st->bootstrap) {
		/* Reset to live (`state reset --live`): no bootstrap position. */
		a->replay_asked = false;
	} else if (l->from_id_set) {
		_cleanup_free_ char *from = strdupf("%" PRIu64, l->from_id);

		if (!from || json_object_set_new(body, "from_id", json_string(from)) < 0)
			return -ENOMEM;
		a->bootstrap = true;
		a->expected = l->from_id;
	} else if (l->from_date) {
		if (json_object_set_new(body, "from_date", json_string(l->from_date)) < 0)
			return -ENOMEM;
		a->bootstrap = true;
	} else {
		a->replay_asked = false;
	}

	free(a->request_body);
	a->request_body = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	url = strdupf("%.*s/api/v1/%s", (int)base_len(l->base_url), l->base_url, w->replay ? "replay" : "watch");
	if (!a->request_body || !url)
		return -ENOMEM;
	if (curl_easy_setopt(easy, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, a->request_body) != CURLE_OK)
		return -EINVAL;
	n = curl_slist_append(*headers, "Content-Type: application/json");
	if (!n)
		return -ENOMEM;
	*headers = n;

	a->opened = false;
	a->close_frame = false;
	a->delivered = false;
	a->limited = false;
	if (log_get_max_level() >= LOG_DEBUG) {
		_cleanup_free_ char *shown = url_hide_secrets(url);

		log_f(LOG_DEBUG, 0, &(struct log_fields){ .listener = w->name }, "POST %s %s", shown ?: "?",
		      a->request_body);
	}
	return 0;
}

static void aviso_response_ok(struct watch *w)
{
	watch_proto_timer_set_in(w, AVISO_OPENING_USEC);
}

static void opened(struct watch *w)
{
	struct aviso *a = A(w);

	if (a->opened)
		return;
	a->opened = true;
	watch_proto_timer_clear(w);
	watch_opened(w);
}

static int gap(struct watch *w, const char *event_id, const char *fmt, ...) _printf_(3, 4);
static int gap(struct watch *w, const char *event_id, const char *fmt, ...)
{
	_cleanup_free_ char *what = NULL;
	va_list ap;

	va_start(ap, fmt);
	what = vstrdupf(fmt, ap);
	va_end(ap);
	if (w->cfg->on_gap == CFG_ON_GAP_STOP) {
		aviso_log(w, LOG_ERR, LOG_MID_GAP, event_id, "%s; on_gap is stop: listener stopped", what ? what : "gap");
		return watch_abort(w, SV_REASON_GAP, true, "gap in the notification sequence");
	}
	aviso_log(w, LOG_WARNING, LOG_MID_GAP, event_id, "%s", what ? what : "gap");
	return 0;
}

/* A CloudEvent that could be committed but not read back: a dead letter of its id alone. */
static int too_deep(struct watch *w, const struct aviso_frame *f, uint64_t seq)
{
	_cleanup_(json_decrefp) json_t *n = NULL;
	char why[80];
	int r;

	n = json_pack("{s:s%, s:s, s:I}", "event_type", f->id, (size_t)(strrchr(f->id, '@') - f->id), "id", f->id,
		      "sequence", (json_int_t)seq);
	if (!n)
		return -ENOMEM;
	(void)snprintf(why, sizeof(why), "the CloudEvent is nested deeper than %d levels", AVISO_FRAME_MAX_DEPTH);
	r = watch_dead_letter_unkept(w, n, f->id, why);
	return r < 0 ? r : watch_set_cursor(w, json_integer((json_int_t)seq));
}

/* After a notification, delivered or recorded: a replay may have reached its end. */
static int replay_check_to(struct watch *w, uint64_t seq, int r)
{
	if (w->replay && w->replay_to && seq == w->replay_to) {
		w->replay_done = true;
		if (r >= 0)
			r = watch_abort(w, SV_REASON_SERVER_CLOSE, false, "replay reached --to %" PRIu64, seq);
	}
	return r;
}

static int notification(struct watch *w, const char *event, const struct aviso_frame *f)
{
	struct aviso *a = A(w);
	const char *id = f->id;
	struct dbuf *text = &w->daemon->text_scratch;
	uint64_t seq = f->sequence, last = 0;
	bool have_last = cursor_seq(w, &last);
	int r;

	if (!a->opened)
		return watch_abort(w, SV_REASON_PROTOCOL, false, "a notification came before the opening frame");
	if (!f->id_ok)
		return watch_abort(w, SV_REASON_PROTOCOL, true,
				   "malformed CloudEvent id %s%s%s (expected <event_type>@<sequence>): listener stopped",
				   id ? "'" : "", id ? id : "(missing)", id ? "'" : "");
	if (w->replay && w->replay_to && seq > w->replay_to) {
		w->replay_done = true;
		return watch_abort(w, SV_REASON_SERVER_CLOSE, false, "replay reached --to %" PRIu64, w->replay_to);
	}
	if (have_last && seq <= last) {
		/* aviso 0.7.1 repeats items published during catch-up. */
		log_f(LOG_DEBUG, 0, &(struct log_fields){ .listener = w->name, .event_id = id },
		      "dropping %s: at or below the cursor %" PRIu64, id, last);
		return 0;
	}
	if (unfiltered(w->cfg) && a->expected && seq > a->expected) {
		r = gap(w, id, "gap: expected sequence %" PRIu64 ", got %" PRIu64 " (%" PRIu64 " missing)", a->expected,
			seq, seq - a->expected);
		if (r < 0)
			return r;
	}
	a->expected = seq + 1;

	if (seq > INT64_MAX)
		return watch_abort(w, SV_REASON_PROTOCOL, true, "sequence %" PRIu64 " is too large", seq);
	a->delivered = true;
	a->bad_frames = 0;
	if (f->too_deep)
		return replay_check_to(w, seq, too_deep(w, f, seq));
	/* Straight to the text the state file keeps: no tree is built. */
	r = notif_aviso_format(f->data, event, seq, text);
	if (r < 0)
		r = watch_abort(w, SV_REASON_STATE, true, "cannot record a notification: %s", strerror(-r));
	else
		r = watch_deliver_text(w, text->buf, text->len, json_integer((json_int_t)seq));
	dbuf_reset_trim(text, NOTIF_SCRATCH_KEEP);
	return replay_check_to(w, seq, r);
}

static int control(struct watch *w, const struct aviso_frame *f)
{
	struct aviso *a = A(w);

	if (f->kind == AVISO_FRAME_OPENED) {
		bool live_only = !a->opened && a->replay_asked && f->live;

		opened(w);
		/* Asked to replay, the server went live: whatever came between
		 * the cursor and now will not be sent. */
		if (live_only)
			return gap(w, NULL, "asked to replay (from_id or from_date), the server went live at once "
				   "(connection_established): notifications since then may be missing");
		return 0;
	}
	if (!a->opened)
		return 0;	/* wait for the opening frame */
	if (f->kind == AVISO_FRAME_REPLAY_LIMIT) {
		/* What comes next decides: the end of the stream (newer servers),
		 * and the next request resumes after the last one received; or
		 * live notifications (0.7.1), and those in between are skipped. */
		a->limited = true;
		a->limit_max = f->max_allowed;
		aviso_log(w, LOG_INFO, NULL, NULL,
			  "the server stopped replaying at its limit (%" JSON_INTEGER_FORMAT " notifications a request)",
			  f->max_allowed);
		/* 0.7.1 would go live now, and never send what lies between:
		 * asked again from the last one received, it sends the next. */
		if (!w->replay && a->delivered)
			return watch_abort(w, SV_REASON_SERVER_CLOSE, false,
					   "asking again from the last notification received");
		return 0;
	}
	if (a->limited && !w->replay) {
		a->expected = 0;	/* the hole is this one: not reported again at the next notification */
		return gap(w, NULL, "the server stopped replaying at its limit (%" JSON_INTEGER_FORMAT
			   " notifications a request) and went live: the notifications between the last one "
			   "replayed and the first live one were not sent", a->limit_max);
	}
	log_f(LOG_DEBUG, 0, &(struct log_fields){ .listener = w->name }, "replay completed; live now");
	return 0;
}

static int closing(struct watch *w, const struct aviso_frame *f)
{
	struct aviso *a = A(w);
	static const enum sv_close close[] = {
		[AVISO_CLOSE_AT_ONCE] = SV_CLOSE_IMMEDIATE,
		[AVISO_CLOSE_SHUTDOWN] = SV_CLOSE_SHUTDOWN,
		[AVISO_CLOSE_ERROR] = SV_CLOSE_ERROR,
	};

	a->close_frame = true;
	a->close = close[f->close];
	/* At the server's replay limit, the next request goes on from the
	 * last one received, as long as each brings something. */
	if (f->end_of_stream && a->limited && !a->delivered)
		(void)gap(w, NULL, "the server stopped replaying at its limit (%" JSON_INTEGER_FORMAT
			  " notifications a request) before sending any: notifications after the cursor were not sent",
			  a->limit_max);
	if (w->replay && f->end_of_stream && !(a->limited && a->delivered))
		w->replay_done = true;
	aviso_log(w, LOG_INFO, NULL, NULL, "the server closes the stream: %s", f->reason ? f->reason : "(no reason)");
	return 0;
}

static int server_error(struct watch *w, const struct aviso_frame *f)
{
	const char *kind = f->error_kind ? f->error_kind : "error", *msg = f->message;

	/* One notification the server cannot render, and never will: it comes
	 * back at every replay, so ending the stream for it would loop there.
	 * It is a gap; the stream goes on. */
	if (f->has_sequence) {
		struct aviso *a = A(w);
		char id[128];

		/* Reported here, once: not again as a hole before the next. */
		if (a->expected == f->sequence)
			a->expected++;
		(void)snprintf(id, sizeof(id), "%s@%" PRIu64, w->cfg->event ? w->cfg->event : "", f->sequence);
		return gap(w, id, "the server could not send notification %s (%s%s%s); skipped", id, kind,
			   msg ? ": " : "", msg ? msg : "");
	}
	return watch_abort(w, SV_REASON_PROTOCOL, false, "the server reported an error: %s%s%s", kind,
			   msg ? ": " : "", msg ? msg : "");
}

/*
 * A frame that cannot be read: the stream is cut and asked for again from
 * the cursor. A server that sends the same unreadable notification each
 * time (valid JSON that jansson refuses, say) would be asked for ever, and
 * nothing after it delivered: after a few tries at the same place, the
 * listener stops, saying how to go past it.
 */
static int unreadable(struct watch *w, const struct aviso_frame *f)
{
	struct aviso *a = A(w);
	uint64_t at = 0;

	(void)cursor_seq(w, &at);
	if (a->bad_frames > 0 && a->bad_at == at)
		a->bad_frames++;
	else {
		a->bad_at = at;
		a->bad_frames = 1;
	}
	if (a->bad_frames < AVISO_UNREADABLE_TRIES)
		return watch_abort(w, SV_REASON_PROTOCOL, false, "%s", f->problem);
	return watch_abort(w, SV_REASON_PROTOCOL, true,
			   "%s, %u times in a row after sequence %" PRIu64 ": listener stopped. If it is a "
			   "notification, 'ssewatchd state reset %s --to N', where N is its sequence number, goes "
			   "past it", f->problem, a->bad_frames, at, w->name);
}

static int aviso_note(struct watch *w, const struct sse_note *note)
{
	_cleanup_(aviso_frame_done) struct aviso_frame f = {};

	switch (note->kind) {
	case SSE_NOTE_EVENT:
		break;
	case SSE_NOTE_OVERSIZE:
		return watch_abort(w, SV_REASON_PROTOCOL, true,
				   "a frame of %zu bytes exceeds max_event_size (%zu): listener stopped", note->size,
				   w->cfg->max_event_size);
	case SSE_NOTE_ID:
	case SSE_NOTE_RETRY:
		return 0;	/* aviso uses neither */
	}

	aviso_frame_parse(note->type, note->type_len, note->data, note->data_len, &f);
	switch (f.kind) {
	case AVISO_FRAME_IGNORED:
		return 0;
	case AVISO_FRAME_MALFORMED:
		return unreadable(w, &f);
	case AVISO_FRAME_NOTIFICATION:
		return notification(w, note->type, &f);
	case AVISO_FRAME_OPENED:
	case AVISO_FRAME_REPLAY_COMPLETED:
	case AVISO_FRAME_REPLAY_LIMIT:
		return control(w, &f);
	case AVISO_FRAME_CLOSING:
		return closing(w, &f);
	case AVISO_FRAME_ERROR:
		return server_error(w, &f);
	}
	return 0;
}

static enum sv_close aviso_ended(struct watch *w, enum sv_reason *ret_reason)
{
	struct aviso *a = A(w);

	watch_proto_timer_clear(w);
	if (!a->close_frame) {
		/* No close frame: a proxy or the network cut it. */
		*ret_reason = SV_REASON_EOF;
		return SV_CLOSE_ERROR;
	}
	*ret_reason = SV_REASON_SERVER_CLOSE;
	return a->close;
}

const struct proto_ops proto_aviso = {
	.setup = aviso_setup,
	.teardown = aviso_teardown,
	.identity = aviso_identity,
	.prepare = aviso_prepare,
	.response_ok = aviso_response_ok,
	.note = aviso_note,
	.ended = aviso_ended,
	.on_timer = aviso_on_timer,
};
