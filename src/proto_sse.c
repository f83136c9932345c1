/* SPDX-License-Identifier: MIT */
/*
 * The sse protocol: GET the URL, resume with Last-Event-ID, and every
 * dispatched event is a notification whose id is the cursor.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "cleanup.h"
#include "daemon.h"
#include "log.h"
#include "notif.h"
#include "util.h"
#include "watch.h"

static json_t *sse_identity(const struct cfg_listener *l)
{
	_cleanup_free_ char *url = url_hide_secrets(l->url);

	return url ? json_pack("{s:s, s:s}", "protocol", "sse", "url", url) : NULL;
}

static int sse_prepare(struct watch *w, CURL *easy, struct curl_slist **headers)
{
	const char *cursor = json_string_value(w->st->cursor);
	struct curl_slist *n;

	if (curl_easy_setopt(easy, CURLOPT_URL, w->cfg->url) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L) != CURLE_OK)
		return -EINVAL;
	/* Only a non-empty id is sent: an empty one means "start afresh". Ids
	 * hold no CR, LF or NUL (the parser guarantees it), so the header is safe. */
	if (cursor && cursor[0]) {
		_cleanup_free_ char *h = strdupf("Last-Event-ID: %s", cursor);

		if (!h || !(n = curl_slist_append(*headers, h)))
			return -ENOMEM;
		*headers = n;
	}
	return 0;
}

static void sse_response_ok(struct watch *w)
{
	watch_opened(w);
}

/*
 * Moves the cursor to n's id. An id that is not UTF-8 cannot be kept (the
 * state is JSON): the cursor stays where it was, as it does for an event
 * with such an id, so a reconnect fetches again rather than from nowhere.
 */
static int cursor_follow(struct watch *w, const struct sse_note *n)
{
	if (!n->id_set || !utf8_valid(n->id, n->id_len))
		return 0;
	return watch_set_cursor(w, json_stringn(n->id, n->id_len));
}

/* An event too large to keep: a dead letter without its data, and the
 * cursor moves past it so that it is not fetched again. */
static int sse_oversize(struct watch *w, const struct sse_note *n)
{
	_cleanup_(json_decrefp) json_t *ev = NULL;
	_cleanup_free_ char *why = NULL;
	int r;

	ev = notif_sse_new(n->type, n->type_len, "", 0, n->id_set, n->id, n->id_len);
	why = strdupf("an event of %zu bytes exceeds max_event_size (%zu)", n->size, w->cfg->max_event_size);
	if (!ev || !why || json_object_set_new(ev, "data_bytes", json_integer((json_int_t)n->size)) < 0)
		return -ENOMEM;
	r = watch_dead_letter_unkept(w, ev, json_string_value(json_object_get(ev, "id")), why);
	return r < 0 ? r : cursor_follow(w, n);
}

static int sse_note(struct watch *w, const struct sse_note *n)
{
	struct dbuf *text = &w->daemon->text_scratch;
	int r;

	switch (n->kind) {
	case SSE_NOTE_EVENT:
		/* Straight to text: most triggers (log, echo) never need the tree. */
		r = notif_sse_format(n->type, n->type_len, n->data, n->data_len, n->id_set, n->id, n->id_len, text);
		/* An id that is not UTF-8 cannot be kept (the state is JSON), as in cursor_follow(). */
		if (r >= 0)
			r = watch_deliver_copy(w, text->buf, text->len,
					       n->id_set && utf8_valid(n->id, n->id_len) ? n->id : NULL, n->id_len);
		dbuf_reset_trim(text, NOTIF_SCRATCH_KEEP);
		if (r >= 0 && w->replay && w->replay_to_id && n->id_set && n->id_len == strlen(w->replay_to_id) &&
		    memcmp(n->id, w->replay_to_id, n->id_len) == 0) {
			w->replay_done = true;
			r = watch_abort(w, SV_REASON_SERVER_CLOSE, false, "replay reached --to %s", w->replay_to_id);
		}
		return r;
	case SSE_NOTE_ID:
		return cursor_follow(w, n);
	case SSE_NOTE_RETRY:
		watch_retry(w, n->retry_ms);
		return 0;
	case SSE_NOTE_OVERSIZE:
		return sse_oversize(w, n);
	}
	return 0;
}

static enum sv_close sse_ended(struct watch *w, enum sv_reason *ret_reason)
{
	(void)w;
	*ret_reason = SV_REASON_EOF;
	return SV_CLOSE_EOF;
}

const struct proto_ops proto_sse = {
	.identity = sse_identity,
	.prepare = sse_prepare,
	.response_ok = sse_response_ok,
	.note = sse_note,
	.ended = sse_ended,
};
