/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "backoff.h"
#include "cleanup.h"
#include "curl_glue.h"
#include "daemon.h"
#include "http_header.h"
#include "log.h"
#include "notif.h"
#include "trigger.h"
#include "util.h"
#include "watch.h"

#define ERROR_BODY_MAX   1024
#define READ_SIZE        (64 * 1024)	/* curl's buffer: fewer, larger reads */
#define READ_SIZE_BATCH  (1024 * 1024)	/* batch: one read is one commit's worth */
/* Parsing also stops at this many bytes of pending JSON, whatever max_pending
 * says: what a listener holds in memory stays bounded. */
#define PENDING_BYTES_MAX STATE_PENDING_BYTES_MAX
#define LOG_LINES_FLUSH  (256 * 1024)	/* gathered log lines written at this size */
#define LOG_LINES_MAX    (64 * 1024 * 1024)
#define FLUSH_DELAY_USEC (100 * USEC_PER_MSEC)
#define ERROR_BODY_USEC  (2 * USEC_PER_SEC)	/* how long to read an error response */
#define PUMP_BATCH       512		/* in-process triggers run per loop iteration */
#define TRIGGER_RETRY_CAP (5 * 60 * USEC_PER_SEC)
#define COMMIT_RETRY_USEC (1 * USEC_PER_SEC)
/* A failed commit is tried again after this, doubling up to the cap. */
#define COMMIT_HELD_FIRST_USEC (250 * USEC_PER_MSEC)
#define COMMIT_HELD_CAP_USEC   (10 * USEC_PER_SEC)
#define SAVE_FINISH_USEC  (5 * USEC_PER_MSEC)	/* a begun commit waits at most this for a busy loop */
#define CURSOR_LATER_KEEP 4096		/* a longer id's buffer is freed after its read */

static void watch_log(struct watch *w, int level, int error, const char *mid, const char *event_id,
		      const char *fmt, ...) _printf_(6, 7);

static void watch_log(struct watch *w, int level, int error, const char *mid, const char *event_id,
		      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)log_internalv(level, error,
			    &(struct log_fields){ .listener = w->name, .event_id = event_id, .message_id = mid,
						  .request_id = w->request_id[0] ? w->request_id : NULL },
			    fmt, ap);
	va_end(ap);
}

uint64_t watch_status_generation;

/* ------------------------------------------------------------ the timer */

enum {
	TIMER_RECONNECT,	/* the supervisor's wait before the next request */
	TIMER_IDLE,		/* the stream's silence budget; an error body's time */
	TIMER_RETRY,		/* between attempts of a trigger, or of a commit */
	TIMER_FLUSH,		/* commits progress soon after the queue drained */
	TIMER_SAVE,		/* finishes a begun commit when the loop stays busy */
	TIMER_PROTO,		/* the protocol's, in a transfer (aviso: the opening frame) */
	TIMER_COMMIT,		/* the next attempt of a commit that failed */
	_TIMER_MAX
};

/* How late each may fire: the loop wakes once for deadlines that close. */
static const uint64_t timer_slack[_TIMER_MAX] = {
	[TIMER_RECONNECT] = USEC_PER_MSEC,
	[TIMER_IDLE] = 100 * USEC_PER_MSEC,
	[TIMER_RETRY] = USEC_PER_MSEC,
	[TIMER_FLUSH] = 10 * USEC_PER_MSEC,
	[TIMER_SAVE] = USEC_PER_MSEC,
	[TIMER_PROTO] = 10 * USEC_PER_MSEC,
	[TIMER_COMMIT] = 10 * USEC_PER_MSEC,
};

/* The loop timer follows the earliest deadline. */
static void timer_rearm(struct watch *w)
{
	uint64_t at, accuracy;

	if (!w->timer)
		return;	/* watch_new() failed before it was made */
	if (!deadline_next(&w->deadlines, &at, &accuracy)) {
		(void)sd_event_source_set_enabled(w->timer, SD_EVENT_OFF);
		return;
	}
	/* 0 would mean sd-event's default accuracy, 250 ms. */
	(void)sd_event_source_set_time_accuracy(w->timer, accuracy > 0 ? accuracy : 1);
	(void)sd_event_source_set_time(w->timer, at);
	(void)sd_event_source_set_enabled(w->timer, SD_EVENT_ONESHOT);
}

/* at: CLOCK_MONOTONIC; 0 is as soon as the loop can. */
static void timer_set(struct watch *w, unsigned which, uint64_t at)
{
	deadline_set(&w->deadlines, which, at == DEADLINE_OFF ? at - 1 : at);
	timer_rearm(w);
}

/* usec from the loop's time now, as sd_event_source_set_time_relative(). */
static void timer_set_in(struct watch *w, unsigned which, uint64_t usec)
{
	uint64_t now;

	if (sd_event_now(w->daemon->event, CLOCK_MONOTONIC, &now) < 0)
		now = now_usec(CLOCK_MONOTONIC);
	timer_set(w, which, now > DEADLINE_OFF - 1 - usec ? DEADLINE_OFF - 1 : now + usec);
}

static void timer_clear(struct watch *w, unsigned which)
{
	if (!deadline_is_set(&w->deadlines, which))
		return;
	deadline_clear(&w->deadlines, which);
	timer_rearm(w);
}

static bool timer_is_set(const struct watch *w, unsigned which)
{
	return deadline_is_set(&w->deadlines, which);
}

void watch_proto_timer_set_in(struct watch *w, uint64_t usec)
{
	timer_set_in(w, TIMER_PROTO, usec);
}

void watch_proto_timer_clear(struct watch *w)
{
	timer_clear(w, TIMER_PROTO);
}

static void apply(struct watch *w, const struct sv_actions *a);

static void sv_event(struct watch *w, struct sv_event ev)
{
	watch_status_generation++;
	struct sv_state n;
	struct sv_actions a;
	enum sv_phase before = w->sv.phase;

	sv_step(&w->svp, &w->sv, &ev, now_usec(CLOCK_MONOTONIC), daemon_random(w->daemon), &n, &a);
	w->sv = n;
	if (n.phase != before && n.phase == SV_FAILED)
		watch_log(w, LOG_ERR, 0, LOG_MID_LISTENER_FAILED, NULL,
			  "listener failed: %s%s; it stays stopped until the configuration is reloaded",
			  sv_reason_to_string(n.reason),
			  n.reason == SV_REASON_HTTP_STATUS || n.reason == SV_REASON_AUTH ? " (see above)" : "");
	else if (n.phase != before && n.phase == SV_STOPPED && n.reason == SV_REASON_NO_CONTENT)
		watch_log(w, LOG_NOTICE, 0, NULL, NULL, "the server answered 204 No Content: listener stopped");
	apply(w, &a);
	if (sv_is_final(&n) && n.phase != before)
		daemon_watch_idle(w->daemon);
}

/* ------------------------------------------------------------ commits */

/* What was in memory when next_seq and cursor were current is on disk now. */
static void remember_commit_at(struct watch *w, uint64_t next_seq, json_t *cursor)
{
	/* Only a durable notification counts as delivered (and resets the
	 * backoff): a stream whose commits fail must not reconnect at full speed. */
	if (w->uncommitted_notifications && next_seq != w->committed_next_seq) {
		w->uncommitted_notifications = w->st->next_seq != next_seq;
		w->stats.received += next_seq - w->committed_next_seq;
		w->stats.last_event_usec = now_usec(CLOCK_REALTIME);
		if (w->sv.phase == SV_OPEN && !w->sv.delivered)
			sv_event(w, (struct sv_event){ .type = SV_EV_DELIVERED });
	}
	json_incref(cursor);
	json_decref(w->committed_cursor);
	w->committed_cursor = cursor;
	w->committed_next_seq = next_seq;
	if (!w->replay)
		w->commits++;	/* a replay writes no state */
	watch_status_generation++;
}

static void remember_commit(struct watch *w)
{
	remember_commit_at(w, w->st->next_seq, w->st->cursor);
	w->dirty = false;
}

/* The source that finishes a begun commit; a listener without batch has none. */
static void save_done_enable(struct watch *w, int mode)
{
	if (w->save_done)
		(void)sd_event_source_set_enabled(w->save_done, mode);
}

/*
 * Drops a begun commit (a full one is written instead, or none is wanted).
 * One already renamed into place is finished instead: its file has replaced
 * the previous one, and what it holds must not be dropped from memory while
 * it is on disk (the next commit would write an older state over it).
 */
static void saving_drop(struct watch *w)
{
	_cleanup_free_ char *err = NULL;

	if (w->saving.phase == STATE_SAVE_PLACED) {
		if (state_save_finish(w->daemon->statedir, &w->saving, &err) >= 0)
			remember_commit_at(w, w->saving_next_seq, w->saving_cursor);
		else {
			watch_log(w, LOG_ERR, 0, LOG_MID_STATE_ERROR, NULL, "cannot commit state: %s", err ? err : "?");
			w->dirty = true;	/* the completions it held may not be on disk */
		}
	}
	if (state_save_active(&w->saving)) {
		state_save_abandon(w->daemon->statedir, &w->saving);
		w->dirty = true;	/* the completions it held are not on disk */
	}
	json_decref(w->saving_cursor);
	w->saving_cursor = NULL;
	save_done_enable(w, SD_EVENT_OFF);
	timer_clear(w, TIMER_SAVE);
}

static void log_lines_flush(struct watch *w);
static void pump_schedule(struct watch *w);

static int commit(struct watch *w)
{
	_cleanup_free_ char *err = NULL;
	int r;

	/* Finished notifications go to disk as finished only once their log
	 * lines are written. */
	log_lines_flush(w);
	if (w->replay) {
		/* A replay leaves the listener's state alone. */
		remember_commit(w);
		return 0;
	}
	/* This one covers all that a begun commit would, and more. */
	saving_drop(w);
	r = state_save_using(w->daemon->statedir, w->st, &w->saving, &err);
	if (r < 0) {
		watch_log(w, LOG_ERR, r, LOG_MID_STATE_ERROR, NULL, "cannot commit state: %s",
			  err ? err : strerror(-r));
		return r;
	}
	remember_commit(w);
	if (w->commit_held) {
		w->commit_held = false;
		timer_clear(w, TIMER_COMMIT);
		watch_log(w, LOG_NOTICE, 0, NULL, NULL, "the state is written again%s",
			  w->stopping ? "" : ": reading resumes");
		watch_status_generation++;
		/* What was held may run now. */
		if (!w->stopping)
			pump_schedule(w);
	}
	return 0;
}

/* Whether notifications or a cursor are in memory but not on disk. */
static bool has_uncommitted(const struct watch *w)
{
	return w->st->next_seq != w->committed_next_seq || w->st->cursor != w->committed_cursor;
}

static bool commit_pipelined(const struct watch *w);

/*
 * A commit failed (commit() logged why). What it would have made durable
 * stays in memory, where no trigger runs for it, and reading stops, so
 * that nothing more piles up behind it; the commit is tried again with a
 * backoff. Nothing is dropped: an sse stream without ids, or a server whose
 * history moved on, would not send it again.
 */
static void commit_hold(struct watch *w)
{
	if (!w->commit_held) {
		uint64_t n = w->st->next_seq - w->committed_next_seq;

		w->commit_held = true;
		w->commit_backoff_usec = COMMIT_HELD_FIRST_USEC;
		if (n > 0)
			watch_log(w, LOG_WARNING, 0, NULL, NULL,
				  "%" PRIu64 " notification(s) not yet on disk are kept in memory; reading stops and "
				  "the write is tried again until it succeeds", n);
		else
			watch_log(w, LOG_WARNING, 0, NULL, NULL,
				  "the progress so far is not on disk; reading stops and the write is tried again "
				  "until it succeeds");
		watch_status_generation++;
		timer_set_in(w, TIMER_COMMIT, w->commit_backoff_usec);
	}
	/* Held already: its timer is set, and tries everything again. */
}

/*
 * batch: whether the notifications received since the last begun (or
 * finished) commit make a commit's worth. Reading then waits until the pump
 * has begun their commit: each such batch gets a commit of its own that the
 * disk writes while the next batch is read and parsed, and a burst of reads
 * never piles up into one large commit the loop would then wait for.
 */
static bool batch_waits(const struct watch *w)
{
	uint64_t since = state_save_active(&w->saving) ? w->saving_next_seq : w->committed_next_seq;

	/* Half the queue: the other half is room for the batch read meanwhile. */
	return w->st->next_seq - since >= MAX(w->window / 2, 1u);
}

/* The state cannot take what was received (the listener fails): forget it.
 * The server sends it again to a listener that resumes from the committed
 * cursor. */
static void rollback(struct watch *w)
{
	const char *id = NULL;

	saving_drop(w);
	w->cursor_later_set = false;
	listener_state_rollback(w->st, w->committed_next_seq, w->committed_cursor);
	w->uncommitted_notifications = false;
	if (w->proto == &proto_sse) {
		id = json_string_value(w->st->cursor);
		(void)sse_parser_set_last_id(&w->parser, id, id ? strlen(id) : 0, id != NULL);
	}
}

/* ------------------------------------------------------------ actions */

static void transfer_stop(struct watch *w);
static int transfer_start(struct watch *w);
static void commit_received(struct watch *w);

/*
 * Starts the request, which resumes from the cursor on disk: what came
 * before it is committed first. While a commit is held, the request waits
 * for it (the supervisor sees a wait that ends just after its next try).
 */
static int connect_now(struct watch *w)
{
	commit_received(w);
	if (w->commit_held) {
		uint64_t retry_at = w->deadlines.at[TIMER_COMMIT];

		if (retry_at == DEADLINE_OFF)	/* inside that timer's own call */
			retry_at = now_usec(CLOCK_MONOTONIC) + COMMIT_HELD_FIRST_USEC;
		timer_set(w, TIMER_RECONNECT, retry_at + USEC_PER_MSEC);
		/* As the supervisor's own wait would show it, for status. */
		w->sv.phase = SV_WAITING;
		w->sv.reason = SV_REASON_COMMIT;
		w->sv.reconnect_at = retry_at + USEC_PER_MSEC;
		watch_status_generation++;
		return 0;
	}
	return transfer_start(w);
}

/* From the loop: the listener cannot go on. */
static void watch_fail(struct watch *w, enum sv_reason reason, const char *fmt, ...) _printf_(3, 4);
static void watch_fail(struct watch *w, enum sv_reason reason, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = vstrdupf(fmt, ap);
	va_end(ap);
	watch_log(w, LOG_ERR, 0, LOG_MID_LISTENER_FAILED, NULL, "%s", msg ? msg : fmt);
	transfer_stop(w);
	sv_event(w, (struct sv_event){ .type = SV_EV_FATAL, .reason = reason });
}

void watch_end_stream(struct watch *w, enum sv_reason reason, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	if (!w->easy)
		return;
	va_start(ap, fmt);
	msg = vstrdupf(fmt, ap);
	va_end(ap);
	watch_log(w, LOG_WARNING, 0, LOG_MID_DISCONNECTED, NULL, "%s", msg ? msg : fmt);
	transfer_stop(w);
	sv_event(w, (struct sv_event){ .type = SV_EV_CLOSED, .close = SV_CLOSE_ERROR, .reason = reason });
}

static void on_credentials(struct auth *a, int error, const char *message, void *userdata)
{
	struct watch *w = userdata;

	(void)a;
	if (error < 0)
		watch_log(w, LOG_ERR, error, NULL, NULL, "cannot refresh credentials: %s",
			  message ? message : strerror(-error));
	else
		watch_log(w, LOG_NOTICE, 0, NULL, NULL, "credentials refreshed");
	if (w->auth_fetching) {
		/* The first request was waiting for them, unless the listener
		 * was stopped (or retired) meanwhile. */
		w->auth_fetching = false;
		if (w->stopping || sv_is_final(&w->sv))
			return;
		/* No token yet: like a failed connection, tried again after a
		 * backoff (an identity provider down at boot must not leave the
		 * listener stopped until a reload). */
		if (error < 0)
			sv_event(w, (struct sv_event){ .type = SV_EV_CLOSED, .close = SV_CLOSE_ERROR,
						       .reason = SV_REASON_AUTH });
		else if (connect_now(w) < 0)
			sv_event(w, (struct sv_event){ .type = SV_EV_CLOSED, .close = SV_CLOSE_ERROR,
						       .reason = SV_REASON_TRANSPORT });
		return;
	}
	sv_event(w, (struct sv_event){ .type = SV_EV_AUTH_REFRESHED, .ok = error >= 0 });
}

/* A 401: re-read the credential files, or run refresh_command. */
static void refresh_credentials(struct watch *w)
{
	int r = auth_refresh(w->auth, w->daemon->event, w->daemon->tenv.base_env, on_credentials, w);

	if (r < 0) {
		watch_log(w, LOG_ERR, r, NULL, NULL, "cannot refresh credentials: %m");
		sv_event(w, (struct sv_event){ .type = SV_EV_AUTH_REFRESHED, .ok = false });
	}
}

static void apply(struct watch *w, const struct sv_actions *a)
{
	int r;

	if (a->abort) {
		if (w->in_callback)
			w->abort_now = true;
		else
			transfer_stop(w);
	}
	if (a->disarm_timer)
		timer_clear(w, TIMER_RECONNECT);
	if (a->arm_timer) {
		timer_set(w, TIMER_RECONNECT, a->timer_at);
		watch_log(w, LOG_INFO, 0, NULL, NULL, "reconnecting in %.1fs",
			  (double)(a->timer_at - now_usec(CLOCK_MONOTONIC)) / 1e6);
	}
	if (a->refresh_auth)
		refresh_credentials(w);
	if (a->connect) {
		if (w->in_callback || w->easy) {
			/* Not from inside curl: let the timer start it. */
			timer_set(w, TIMER_RECONNECT, 0);
			w->sv.phase = SV_WAITING;
			return;
		}
		r = connect_now(w);
		if (r < 0) {
			watch_log(w, LOG_ERR, r, NULL, NULL, "cannot start a request: %m");
			sv_event(w, (struct sv_event){ .type = SV_EV_CLOSED, .close = SV_CLOSE_ERROR,
						       .reason = SV_REASON_TRANSPORT });
		}
	}
}

static void on_reconnect_timer(struct watch *w)
{
	if (w->sv.phase == SV_WAITING)
		sv_event(w, (struct sv_event){ .type = SV_EV_TIMER });
}

/* ------------------------------------------------------------ the transfer */

static void response_reset(struct watch *w)
{
	w->status = 0;
	w->content_type_ok = false;
	w->has_location = false;
	w->retry_after_usec = 0;
	w->request_id[0] = '\0';
}

static void response_complete(struct watch *w)
{
	w->headers_done = true;
	if (w->status != 200 || !w->content_type_ok) {
		/* Reported with the start of its body when the transfer ends,
		 * or after ERROR_BODY_USEC if the body goes on. */
		uint64_t deadline = now_usec(CLOCK_MONOTONIC) + ERROR_BODY_USEC;

		if (deadline < w->last_byte_at + w->idle_budget_usec)
			timer_set(w, TIMER_IDLE, deadline);
		return;
	}
	w->stream_ok = true;
	sv_event(w, (struct sv_event){ .type = SV_EV_RESPONSE, .status = 200, .content_type_ok = true });
	w->proto->response_ok(w);
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct watch *w = userdata;
	size_t len = size * nitems;
	const char *v;
	size_t vlen;

	w->last_byte_at = now_usec(CLOCK_MONOTONIC);
	w->in_callback = true;
	if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		/* A new response: a redirect or an interim one came before. */
		response_reset(w);
		w->status = http_status_line(buf, len);
	} else if (len <= 2 && (buf[0] == '\r' || buf[0] == '\n')) {
		bool interim = w->status >= 100 && w->status < 200;
		bool redirect = w->status >= 300 && w->status < 400 && w->has_location;

		if (!interim && !redirect)
			response_complete(w);
	} else if (http_header_value(buf, len, "Content-Type", &v, &vlen)) {
		w->content_type_ok = http_media_type_is_event_stream(v, vlen);
	} else if (http_header_value(buf, len, "Retry-After", &v, &vlen)) {
		w->retry_after_usec = http_retry_after_usec(v, vlen, now_usec(CLOCK_REALTIME));
	} else if (http_header_value(buf, len, "Location", &v, &vlen)) {
		w->has_location = vlen > 0;
	} else if (http_header_value(buf, len, "X-Request-ID", &v, &vlen)) {
		/* Logged, so kept short and printable. */
		http_request_id(v, vlen, w->request_id, sizeof(w->request_id));
	}
	w->in_callback = false;
	return w->abort_now ? 0 : len;
}

/* batch: the cursor of the last notification of a read is all a commit can
 * see (commits come between reads), so it is kept as bytes while the read is
 * parsed and set once at its end: a cursor string each (a malloc and a free
 * in jansson) would be a tenth of the work per notification. */
static int cursor_later(struct watch *w, const char *v, size_t n)
{
	int r = dbuf_set(&w->cursor_later, v, n);

	if (r < 0)
		return r;
	w->cursor_later_set = true;
	return 0;
}

static int cursor_later_flush(struct watch *w)
{
	int r;

	if (!w->cursor_later_set)
		return 0;
	w->cursor_later_set = false;
	r = listener_state_set_cursor_string(w->st, w->cursor_later.buf, w->cursor_later.len);
	dbuf_reset_trim(&w->cursor_later, CURSOR_LATER_KEEP);
	if (r < 0)
		return watch_abort(w, SV_REASON_STATE, true, "cannot move the cursor: %s", strerror(-r));
	return 0;
}

/*
 * Between the pieces of a long read: a begun commit whose file's sync has
 * ended is renamed into place and its directory's sync started now, not
 * when the loop next looks, after the read (a megabyte, parsed in about a
 * millisecond): both syncs then go on while the read is parsed. A peek at
 * the ring, no system call.
 */
static void saving_advance(struct watch *w)
{
	if (w->saving.phase != STATE_SAVE_SYNCING || !w->daemon->uring)
		return;
	(void)uring_reap(w->daemon->uring);
	state_save_advance(w->daemon->statedir, &w->saving);
}

/*
 * Parses stream bytes and commits what they brought. Parsing stops once the
 * queue is full; the rest goes to the stash (the caller makes sure it was
 * empty, or passes the stash itself). Negative: the stream must end.
 */
static int consume(struct watch *w, const char *buf, size_t len)
{
	size_t used = 0;
	int r;

	/* The notifications of one read were received together: one clock
	 * read for all of them, not one each. */
	w->consumed_at = now_usec(CLOCK_REALTIME);
	w->consuming = true;
	r = sse_parser_feed_some(&w->parser, buf, len, &used);
	w->consuming = false;
	w->consumed_at = 0;
	if (cursor_later_flush(w) < 0 && r >= 0)
		r = -EPROTO;
	/* batch: the pump commits before the first trigger runs, so what
	 * arrives meanwhile (curl hands a socket read over in 16 KiB pieces)
	 * shares one commit, up to half a queue (batch_waits()). per_event
	 * committed each notification already. */
	if (r >= 0 && has_uncommitted(w) && w->cfg->commit == CFG_COMMIT_PER_EVENT && !w->commit_held &&
	    commit(w) < 0)
		commit_hold(w);
	/* A replay that reached --to ends here, and nothing sends its last
	 * notifications again: they are kept (its commit writes nothing). */
	if ((r < 0 || w->abort_now) && w->replay && w->replay_done && has_uncommitted(w))
		(void)commit(w);
	/* The frame that ended the stream was not queued; what came before it
	 * was received whole and is kept (a server that cut its history would
	 * not send it again), unless the state cannot take it. */
	if (r < 0 || w->abort_now) {
		if (has_uncommitted(w) && w->abort_now && w->abort_reason == SV_REASON_STATE && !w->commit_held)
			rollback(w);	/* held, what came before stays: the server may not resend it */
		else if (has_uncommitted(w) && !w->commit_held && commit(w) < 0)
			commit_hold(w);
		return r < 0 ? r : -EPROTO;
	}
	if (used < len) {
		if (buf == w->stash.buf) {
			memmove(w->stash.buf, buf + used, len - used);
			w->stash.len = len - used;
		} else if (dbuf_append(&w->stash, buf + used, len - used) < 0) {
			return watch_abort(w, SV_REASON_TRANSPORT, false, "out of memory");
		}
	} else if (buf == w->stash.buf) {
		dbuf_reset(&w->stash);
	}
	if (w->st->n_pending > 0 || has_uncommitted(w))
		pump_schedule(w);
	saving_advance(w);
	return 0;
}

/* From the loop: make what was received durable, or hold it (commit_hold()).
 * While a hold lasts, only its own timer tries again. */
static void commit_received(struct watch *w)
{
	if (w->st && has_uncommitted(w) && !w->commit_held && commit(w) < 0)
		commit_hold(w);
}

/*
 * batch: the commit of what was received is begun (written, its writeback
 * started) and the loop goes on reading and parsing while the disk works;
 * the pump finishes it before anything it holds may run. per_event and
 * replays commit whole, as before.
 */
static bool commit_pipelined(const struct watch *w)
{
	return w->cfg->commit == CFG_COMMIT_BATCH && !w->replay;
}

static int saving_begin(struct watch *w)
{
	_cleanup_free_ char *err = NULL;
	int r;

	/* Finished notifications leave the snapshot only once their lines are written. */
	log_lines_flush(w);
	r = state_save_begin(w->daemon->statedir, w->st, &w->saving, &err);
	if (r < 0) {
		watch_log(w, LOG_ERR, r, LOG_MID_STATE_ERROR, NULL, "cannot commit state: %s", err ? err : strerror(-r));
		commit_hold(w);
		return r;
	}
	w->saving_next_seq = w->st->next_seq;
	w->saving_cursor = json_incref(w->st->cursor);
	/* The completions so far are in it; later ones make the listener dirty again. */
	w->dirty = false;
	/* Finished by the pump after the next read, else as soon as the loop
	 * is idle, and within SAVE_FINISH_USEC however busy it is. */
	save_done_enable(w, SD_EVENT_ONESHOT);
	timer_set_in(w, TIMER_SAVE, SAVE_FINISH_USEC);
	return 0;
}

/* Moves a begun commit on, without waiting for a sync in flight (the
 * sync's end schedules the pump again). Negative if it failed: what it held
 * stays in memory (commit_hold()). */
static int saving_finish(struct watch *w)
{
	_cleanup_free_ char *err = NULL;
	json_t *cursor;
	int r;

	if (!state_save_active(&w->saving))
		return 0;
	save_done_enable(w, SD_EVENT_OFF);
	timer_clear(w, TIMER_SAVE);
	r = state_save_poll(w->daemon->statedir, &w->saving, &err);
	if (r == 0)
		return 0;
	cursor = TAKE_PTR(w->saving_cursor);
	if (r < 0) {
		json_decref(cursor);
		watch_log(w, LOG_ERR, r, LOG_MID_STATE_ERROR, NULL, "cannot commit state: %s", err ? err : strerror(-r));
		w->dirty = true;	/* the completions it held are not on disk either */
		commit_hold(w);
		return r;
	}
	remember_commit_at(w, w->saving_next_seq, cursor);
	json_decref(cursor);
	return 0;
}

static void on_save_synced(struct uring_req *req, void *userdata)
{
	struct watch *w = userdata;

	(void)req;
	pump_schedule(w);
}

static int on_save_done(sd_event_source *s, void *userdata)
{
	struct watch *w = userdata;

	(void)s;
	pump_schedule(w);
	return 0;
}

static void on_save_timer(struct watch *w)
{
	pump_schedule(w);
}

static size_t read_size(const struct cfg_listener *l)
{
	return l->commit == CFG_COMMIT_BATCH ? READ_SIZE_BATCH : READ_SIZE;
}

static bool queue_full(const struct watch *w)
{
	return w->st->n_pending >= w->window || w->st->pending_bytes >= PENDING_BYTES_MAX;
}

static size_t on_write(char *buf, size_t size, size_t nmemb, void *userdata)
{
	struct watch *w = userdata;
	size_t len = size * nmemb;
	int r;

	w->last_byte_at = now_usec(CLOCK_MONOTONIC);
	if (w->abort_now)
		return 0;
	if (!w->stream_ok) {
		/* An error response: keep its start for the log, then stop. */
		(void)dbuf_append(&w->error_body, buf, MIN(len, ERROR_BODY_MAX - w->error_body.len));
		return w->error_body.len >= ERROR_BODY_MAX ? 0 : len;
	}
	if (w->stash.len > 0 || w->commit_held || queue_full(w) || (commit_pipelined(w) && batch_waits(w))) {
		/* Backpressure: curl keeps these bytes and offers them again
		 * after the pump drained the queue (or began the commit of the
		 * last read) and unpaused us. */
		w->paused = true;
		return CURL_WRITEFUNC_PAUSE;
	}

	w->stats.bytes += len;
	w->in_callback = true;
	r = consume(w, buf, len);
	w->in_callback = false;
	if (w->stash.len > 0)
		w->paused = true;	/* the pump drains the stash before more is read */
	return r < 0 ? 0 : len;
}

static void transfer_cleanup(struct watch *w)
{
	if (w->easy) {
		curl_glue_remove(w->daemon->glue, w->easy);
		curl_easy_cleanup(w->easy);
		w->easy = NULL;
	}
	curl_slist_free_all(w->req_headers);
	w->req_headers = NULL;
	timer_clear(w, TIMER_IDLE);
	timer_clear(w, TIMER_PROTO);	/* a deadline of that transfer's */
	w->paused = false;
	dbuf_reset_trim(&w->stash, 0);
	w->stats.connected_since = 0;
}

static void log_error_response(struct watch *w)
{
	char body[ERROR_BODY_MAX + 1];
	size_t n = 0;

	/* Printable ASCII only: the body is whatever the server sent. */
	for (size_t i = 0; i < w->error_body.len && n < ERROR_BODY_MAX; i++) {
		unsigned char c = (unsigned char)w->error_body.buf[i];

		body[n++] = c >= 0x20 && c < 0x7f ? (char)c : ' ';
	}
	while (n > 0 && body[n - 1] == ' ')
		n--;
	body[n] = '\0';
	if (w->status == 200)
		watch_log(w, LOG_ERR, 0, LOG_MID_DISCONNECTED, NULL,
			  "the server answered 200 but not with Content-Type text/event-stream%s%s",
			  n ? ": " : "", body);
	else
		watch_log(w, w->status >= 500 || w->status == 429 ? LOG_WARNING : LOG_ERR, 0,
			  LOG_MID_DISCONNECTED, NULL, "the server answered HTTP %ld%s%s", w->status,
			  n ? ": " : "", body);
}

/* The transfer of an error response ended: tell the supervisor the status. */
static void report_error_response(struct watch *w)
{
	log_error_response(w);
	sv_event(w, (struct sv_event){ .type = SV_EV_RESPONSE, .status = (int)w->status,
				       .content_type_ok = w->content_type_ok,
				       .retry_after_usec = w->retry_after_usec });
	/* A status the supervisor did not act on still ends the attempt. */
	if (w->sv.phase == SV_CONNECTING)
		sv_event(w, (struct sv_event){ .type = SV_EV_CLOSED, .close = SV_CLOSE_ERROR,
					       .reason = SV_REASON_HTTP_STATUS });
}

static void on_transfer_done(CURL *easy, CURLcode result, void *userdata)
{
	struct watch *w = userdata;
	enum sv_reason reason = SV_REASON_TRANSPORT;
	enum sv_close close = SV_CLOSE_ERROR;
	bool was_open = w->sv.phase == SV_OPEN;
	char errbuf[CURL_ERROR_SIZE];
	long redirects = 0;

	(void)curl_easy_getinfo(easy, CURLINFO_REDIRECT_COUNT, &redirects);
	snprintf(errbuf, sizeof(errbuf), "%s", curl_easy_strerror(result));
	if (w->stash.len > 0 && w->stream_ok && w->abort_reason == SV_REASON_NONE) {
		/* Complete events the server sent before the end are delivered,
		 * not dropped (a server without ids would not send them again);
		 * the stash is bounded, so the queue may take it whole. */
		w->draining = true;
		(void)consume(w, w->stash.buf, w->stash.len);
		w->draining = false;
	}
	transfer_cleanup(w);
	/* The glue removed the handle already; transfer_cleanup freed it. */

	if (w->replay && w->replay_done) {
		/* The replay reached its end: no reconnect; the pump finishes. */
		sv_event(w, (struct sv_event){ .type = SV_EV_STOP });
		pump_schedule(w);
		return;
	}

	if (w->headers_done && !w->stream_ok) {
		report_error_response(w);
		return;
	}

	if (w->abort_reason != SV_REASON_NONE) {
		reason = w->abort_reason;
		if (w->abort_fatal) {
			watch_log(w, LOG_ERR, 0, LOG_MID_DISCONNECTED, NULL, "%s", w->abort_message ?: "stream aborted");
			sv_event(w, (struct sv_event){ .type = SV_EV_FATAL, .reason = reason });
			return;
		}
	} else if (result == CURLE_OK) {
		close = w->proto->ended(w, &reason);
	} else if (result == CURLE_TOO_MANY_REDIRECTS || (result == CURLE_UNSUPPORTED_PROTOCOL && redirects > 0)) {
		/* Configuration, not weather: a redirect loop, or one to a scheme
		 * other than http(s). The same code for a reply that is not HTTP
		 * at all (a middlebox's garbage) is weather, retried below. */
		watch_log(w, LOG_ERR, 0, LOG_MID_DISCONNECTED, NULL, "request failed: %s", errbuf);
		sv_event(w, (struct sv_event){ .type = SV_EV_FATAL, .reason = SV_REASON_HTTP_STATUS });
		return;
	}

	watch_log(w, was_open ? LOG_NOTICE : LOG_WARNING, 0, LOG_MID_DISCONNECTED, NULL, "%s: %s",
		  was_open ? "disconnected" : "connection failed",
		  w->abort_message ? w->abort_message : reason == SV_REASON_TRANSPORT ? errbuf : sv_reason_to_string(reason));
	sv_event(w, (struct sv_event){ .type = SV_EV_CLOSED, .close = close, .reason = reason });
}

static void on_idle_timer(struct watch *w)
{
	uint64_t deadline = w->last_byte_at + w->idle_budget_usec;

	if (w->headers_done && !w->stream_ok) {
		/* An error response whose body goes on: enough of it. */
		transfer_stop(w);
		report_error_response(w);
		return;
	}
	/* Time spent paused for backpressure is ours, not the server's. */
	if (w->paused)
		w->last_byte_at = now_usec(CLOCK_MONOTONIC);
	if (w->paused || now_usec(CLOCK_MONOTONIC) < deadline) {
		timer_set(w, TIMER_IDLE, w->last_byte_at + w->idle_budget_usec);
		return;
	}
	watch_log(w, LOG_WARNING, 0, LOG_MID_DISCONNECTED, NULL, "nothing received for %.0fs: reconnecting",
		  (double)w->idle_budget_usec / 1e6);
	transfer_stop(w);
	sv_event(w, (struct sv_event){ .type = SV_EV_CLOSED, .close = SV_CLOSE_ERROR, .reason = SV_REASON_IDLE });
}

/* Ends the transfer from the loop; the caller tells the supervisor. */
static void transfer_stop(struct watch *w)
{
	if (!w->easy)
		return;
	transfer_cleanup(w);
}

static int add_header(struct curl_slist **list, const char *fmt, ...) _printf_(2, 3);
static int add_header(struct curl_slist **list, const char *fmt, ...)
{
	_cleanup_free_ char *h = NULL;
	struct curl_slist *n;
	va_list ap;

	va_start(ap, fmt);
	h = vstrdupf(fmt, ap);
	va_end(ap);
	if (!h)
		return -ENOMEM;
	n = curl_slist_append(*list, h);
	if (!n)
		return -ENOMEM;
	*list = n;
	return 0;
}

#define CA_BUNDLE_MAX (4u << 20)	/* all of a listener's extra CA files together */

/*
 * The listener's extra CA files, read now (so a renewed file is used at the
 * next connection) into one PEM blob. curl keeps its default CA path
 * (/etc/ssl/certs) next to a CAINFO blob, so the system roots stay trusted.
 */
static int tls_apply(struct watch *w, CURL *e)
{
	const struct cfg_tls *tls = &w->cfg->tls;
	_cleanup_(dbuf_free) struct dbuf pem = {};
	char *capath = NULL, *system_bundle = NULL;
	struct curl_blob blob;

	if (tls->insecure &&
	    (curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK ||
	     curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK))
		return -EINVAL;
	if (tls->n_ca_bundle == 0)
		return 0;
	dbuf_init(&pem, CA_BUNDLE_MAX);
	/* A libcurl built without a default CA path would trust the blob
	 * alone: the system's bundle file goes first then. */
	if (curl_easy_getinfo(e, CURLINFO_CAPATH, &capath) != CURLE_OK || !capath)
		(void)curl_easy_getinfo(e, CURLINFO_CAINFO, &system_bundle);
	for (size_t i = 0; i < tls->n_ca_bundle + (system_bundle != NULL); i++) {
		const char *file = system_bundle ? (i == 0 ? system_bundle : tls->ca_bundle[i - 1]) : tls->ca_bundle[i];
		_cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		char buf[16384];
		ssize_t n;
		int r = 0;

		if (fd < 0)
			r = -errno;
		while (r == 0 && (n = read(fd, buf, sizeof(buf))) != 0)
			r = n < 0 ? (errno == EINTR ? 0 : -errno) : dbuf_append(&pem, buf, (size_t)n);
		if (r == 0)
			r = dbuf_putc(&pem, '\n');	/* a file without a final newline */
		if (r < 0) {
			watch_log(w, LOG_ERR, r, NULL, NULL, "cannot read the CA file %s: %s", file,
				  r == -E2BIG ? "the CA files exceed 4 MiB together" : strerror(-r));
			return r;
		}
	}
	blob = (struct curl_blob){ .data = pem.buf, .len = pem.len, .flags = CURL_BLOB_COPY };
	return curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob) == CURLE_OK ? 0 : -EINVAL;
}

static int transfer_start(struct watch *w)
{
	const struct cfg_listener *l = w->cfg;
	CURL *e;
	int r;

	e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	w->easy = e;
	w->headers_done = w->stream_ok = w->abort_now = w->abort_fatal = false;
	w->abort_reason = SV_REASON_NONE;
	free(w->abort_message);
	w->abort_message = NULL;
	response_reset(w);
	dbuf_reset(&w->error_body);
	sse_parser_reset(&w->parser);

	r = add_header(&w->req_headers, "Accept: text/event-stream");
	if (r >= 0)
		r = add_header(&w->req_headers, "Cache-Control: no-cache");
	for (size_t i = 0; r >= 0 && i < l->n_headers; i++)
		/* An empty value as "Name;": curl drops a "Name:" line. */
		r = l->headers[i].value[0] ? add_header(&w->req_headers, "%s: %s", l->headers[i].key, l->headers[i].value)
					   : add_header(&w->req_headers, "%s;", l->headers[i].key);
	if (r >= 0)
		r = w->proto->prepare(w, e, &w->req_headers);
	if (r < 0)
		goto fail;
	if (auth_configured(w->auth)) {
		_cleanup_free_ char *err = NULL;
		const char *url = l->protocol == CFG_PROTOCOL_SSE ? l->url : l->base_url, *value = NULL;

		if (!auth_url_safe(url)) {
			_cleanup_free_ char *shown = url_hide_secrets(url);

			curl_easy_cleanup(e);
			w->easy = NULL;
			curl_slist_free_all(w->req_headers);
			w->req_headers = NULL;
			watch_fail(w, SV_REASON_AUTH,
				   "refusing to send credentials over plain http to %s: use https, or a loopback address",
				   shown ?: "the configured URL");
			return 0;
		}
		r = auth_header(w->auth, &value, &err);
		if (r == -ENOKEY) {
			/* refresh_command only: fetch a token first, then connect. */
			curl_easy_cleanup(e);
			w->easy = NULL;
			curl_slist_free_all(w->req_headers);
			w->req_headers = NULL;
			w->auth_fetching = true;
			r = auth_refresh(w->auth, w->daemon->event, w->daemon->tenv.base_env, on_credentials, w);
			if (r < 0)
				w->auth_fetching = false;
			return r;
		}
		if (r < 0) {
			watch_log(w, LOG_ERR, r, NULL, NULL, "%s", err ? err : "cannot read credentials");
			goto fail;
		}
		r = add_header(&w->req_headers, "Authorization: %s", value);
		if (r < 0)
			goto fail;
	}

	/* Stream handles: no total timeout (streams are meant to last), no
	 * signals, no compression (it holds small events back), HTTP/1.1 (no
	 * shared-connection buffering), only http(s), also on redirects. */
	if (curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "identity") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, curl_glue_ms(l->connect_timeout_usec)) != CURLE_OK ||
	    /* A stream's connection is never reused: skip curl's search for a
	     * reusable one, which walks every connection to the same host
	     * (O(n²) when thousands of listeners start or reconnect at once). */
	    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 60L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 20L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, "ssewatchd/" SSEWATCHD_VERSION) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)read_size(l)) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->req_headers) != CURLE_OK ||
	    /* A proxy's answer to CONNECT is not the stream's response. */
	    curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERDATA, w) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, w) != CURLE_OK) {
		r = -EINVAL;
		goto fail;
	}
	if (l->proxy && curl_easy_setopt(e, CURLOPT_PROXY, l->proxy) != CURLE_OK) {
		r = -EINVAL;
		goto fail;
	}
	r = tls_apply(w, e);
	if (r < 0)
		goto fail;

	r = curl_glue_add(w->daemon->glue, e, on_transfer_done, w);
	if (r < 0)
		goto fail;

	w->last_byte_at = now_usec(CLOCK_MONOTONIC);
	timer_set(w, TIMER_IDLE, w->last_byte_at + w->idle_budget_usec);
	return 0;
fail:
	curl_easy_cleanup(e);
	w->easy = NULL;
	curl_slist_free_all(w->req_headers);
	w->req_headers = NULL;
	return r;
}

/* ------------------------------------------------------------ for protocols */

/*
 * The notification is a text to copy. The cursor that comes with it is a
 * value (stolen), or else a string to copy, or none.
 */
static int deliver(struct watch *w, const char *text, size_t text_len, json_t *cursor, const char *cursor_str,
		   size_t cursor_len)
{
	uint64_t seq, at = w->consumed_at ? w->consumed_at : now_usec(CLOCK_REALTIME);
	int r;

	r = listener_state_push_copy(w->st, text, text_len, at, &seq);
	if (r >= 0 && cursor) {
		r = listener_state_set_cursor(w->st, cursor);
		cursor = NULL;
	} else if (r >= 0 && cursor_str) {
		if (w->consuming && w->cfg->commit != CFG_COMMIT_PER_EVENT)
			r = cursor_later(w, cursor_str, cursor_len);
		else
			r = listener_state_set_cursor_string(w->st, cursor_str, cursor_len);
	}
	json_decref(cursor);
	if (r < 0)
		return watch_abort(w, SV_REASON_STATE, true, "cannot record a notification: %s", strerror(-r));
	w->uncommitted_notifications = true;

	/* Draining: one commit at the end of the stash (consume()). */
	if (w->cfg->commit == CFG_COMMIT_PER_EVENT && !w->draining && !w->commit_held && commit(w) < 0)
		commit_hold(w);	/* and on_note() stops the parser */
	return 0;
}

int watch_deliver_text(struct watch *w, const char *text, size_t len, json_t *cursor)
{
	return deliver(w, text, len, cursor, NULL, 0);
}

int watch_deliver_copy(struct watch *w, const char *text, size_t len, const char *cursor, size_t cursor_len)
{
	return deliver(w, text, len, NULL, cursor, cursor_len);
}

int watch_dead_letter_unkept(struct watch *w, const json_t *notification, const char *event_id, const char *why)
{
	_cleanup_(json_decrefp) json_t *rec = NULL;
	uint64_t seq = w->st->next_seq;
	int r;

	w->stats.oversize++;
	if (w->replay) {
		/* A replay writes nothing, dead letters included: report and go on. */
		log_f(LOG_WARNING, 0,
		      &(struct log_fields){ .listener = w->name, .event_id = event_id, .message_id = LOG_MID_OVERSIZE },
		      "%s: skipped", why);
		return 0;
	}
	/* "kept": false: dead-letter retry has nothing to run it with. */
	rec = json_pack("{s:s, s:I, s:O, s:s, s:s, s:i, s:I, s:b}", "listener", w->name, "seq", (json_int_t)seq,
			"notification", notification, "trigger", "(none)", "error", why, "attempts", 0, "failed_usec",
			(json_int_t)now_usec(CLOCK_REALTIME), "kept", 0);
	if (!rec)
		return -ENOMEM;
	r = deadletter_write(w->daemon->statedir, w->name, seq, rec);
	if (r < 0) {
		/* Held like a failed commit: written before it, once the disk allows. */
		if (!w->held_dead_letters)
			w->held_dead_letters = json_array();
		if (!w->held_dead_letters || json_array_append(w->held_dead_letters, rec) < 0)
			return -ENOMEM;
		watch_log(w, LOG_ERR, r, LOG_MID_STATE_ERROR, event_id,
			  "cannot write the dead letter %s/" DEADLETTER_DIR "/%s/%" PRIu64 ".json (%s): %s",
			  statedir_path(w->daemon->statedir), w->name, seq, why, strerror(-r));
	}
	w->st->next_seq++;
	if (r >= 0)
		w->stats.dead_letters++;
	log_f(LOG_WARNING, 0,
	      &(struct log_fields){ .listener = w->name, .event_id = event_id, .message_id = LOG_MID_OVERSIZE },
	      "%s: skipped, %s dead letter %" PRIu64 " (its content was not kept)", why,
	      r < 0 ? "to be recorded as" : "recorded as", seq);
	if (r < 0)
		commit_hold(w);
	return 0;
}

int watch_set_cursor(struct watch *w, json_t *cursor)
{
	int r;

	w->cursor_later_set = false;	/* this one is newer */
	r = listener_state_set_cursor(w->st, cursor);

	if (r < 0)
		return watch_abort(w, SV_REASON_STATE, true, "cannot move the cursor: %s", strerror(-r));
	/* Committed with the next notification, or at the end of this read. */
	return 0;
}

void watch_opened(struct watch *w)
{
	const char *cursor = json_string_value(w->st->cursor);

	w->stats.connected_since = now_usec(CLOCK_REALTIME);
	sv_event(w, (struct sv_event){ .type = SV_EV_OPENED });
	watch_log(w, LOG_INFO, 0, LOG_MID_CONNECTED, NULL, "connected%s%s%s", cursor ? " (resuming after " : "",
		  cursor ? cursor : "", cursor ? ")" : "");
}

void watch_retry(struct watch *w, uint32_t ms)
{
	sv_event(w, (struct sv_event){ .type = SV_EV_RETRY, .retry_ms = ms });
	w->st->retry_ms = ms;
}

int watch_abort(struct watch *w, enum sv_reason reason, bool fatal, const char *fmt, ...)
{
	va_list ap;

	if (w->abort_reason == SV_REASON_NONE) {
		w->abort_reason = reason;
		w->abort_fatal = fatal;
		va_start(ap, fmt);
		w->abort_message = vstrdupf(fmt, ap);
		va_end(ap);
	}
	w->abort_now = true;
	return -EPROTO;
}

/* ------------------------------------------------------------ the trigger pump */

static void pump_schedule(struct watch *w)
{
	/* Called for every notification a pump run finishes: the flag spares
	 * sd-event's checks (a getpid() cache with a locked compare) each time. */
	if (!w->pump_scheduled && sd_event_source_set_enabled(w->pump, SD_EVENT_ONESHOT) >= 0)
		w->pump_scheduled = true;
}

static void pump_unschedule(struct watch *w)
{
	(void)sd_event_source_set_enabled(w->pump, SD_EVENT_OFF);
	w->pump_scheduled = false;
}

/* The next notification to work on: only one that is on disk. */
static struct state_pending *current(struct watch *w)
{
	struct state_pending *p;

	if (!w->st || w->st->n_pending <= w->n_unflushed)
		return NULL;
	p = &w->st->pending[w->n_unflushed];
	return p->seq < w->committed_next_seq ? p : NULL;
}

static void maybe_unpause(struct watch *w)
{
	/* Refill at half: batch then reads and parses the next half while the
	 * disk writes the commit of the last (commit_pipelined()). */
	size_t low = w->window / 2;

	if (!w->paused || !w->easy || w->commit_held || w->st->n_pending > low ||
	    w->st->pending_bytes >= PENDING_BYTES_MAX / 2 || (commit_pipelined(w) && batch_waits(w)))
		return;
	if (w->stash.len > 0 && consume(w, w->stash.buf, w->stash.len) < 0) {
		/* From the loop, so end the stream here rather than in curl. */
		dbuf_reset(&w->stash);
		if (w->abort_fatal)
			watch_fail(w, w->abort_reason, "%s", w->abort_message ?: "stream aborted");
		else
			watch_end_stream(w, w->abort_reason, "%s", w->abort_message ?: "stream aborted");
		return;
	}
	if (w->stash.len == 0) {
		w->paused = false;
		w->last_byte_at = now_usec(CLOCK_MONOTONIC);
		(void)curl_glue_unpause(w->daemon->glue, w->easy);
	}
}

/*
 * How many notifications may wait (flow.h). Gathered log lines keep up with
 * any stream, so those listeners read ahead the whole queue: a batch read
 * parsed while the last one's commit is written needs it.
 */
static void window_update(struct watch *w)
{
	w->window = w->gather_path ? w->cfg->max_pending : flow_window(&w->flow, w->cfg->max_pending);
}

/* The current notification went through every trigger (or was
 * dead-lettered). It is the head of the queue, as no trigger finishes while
 * gathered lines wait (n_unflushed is 0). */
static void notification_done(struct watch *w)
{
	if (w->service_since) {
		flow_sample(&w->flow, now_usec(CLOCK_MONOTONIC) - w->service_since);
		w->service_since = 0;
		window_update(w);
	}
	listener_state_pop(w->st);
	w->dirty = true;
	w->attempts = 0;
	maybe_unpause(w);
}

/*
 * The log file every trigger of this listener appends to without fsync, or
 * NULL. Such a listener's lines are gathered over a pump run and written at
 * once: one write for many notifications instead of one each.
 */
static const char *log_lines_path_of(const struct cfg_listener *l)
{
	if (l->n_triggers == 0)
		return NULL;
	for (size_t i = 0; i < l->n_triggers; i++)
		if (l->triggers[i].type != CFG_TRIGGER_LOG || l->triggers[i].fsync ||
		    strcmp(l->triggers[i].path, l->triggers[0].path) != 0)
			return NULL;
	return l->triggers[0].path;
}

static const char *log_lines_path(const struct watch *w)
{
	return w->gather_path;
}

/* The configuration is w's from now on (its memory too). */
static void use_config(struct watch *w, const struct cfg_listener *cfg)
{
	w->cfg = cfg;
	w->gather_path = log_lines_path_of(cfg);
	window_update(w);
}

/*
 * Writes the gathered lines. Their notifications leave the queue only now; if
 * the write fails they are put back unfinished and the pump reports the
 * failure as that of their first trigger (retry, dead letter or stop, as
 * configured). A partly written block may repeat lines on the retry.
 */
static void log_lines_flush(struct watch *w)
{
	_cleanup_free_ char *error = NULL;
	int r = 0;

	if (w->log_lines.len > 0)
		r = trigger_log_write(&w->daemon->tenv, log_lines_path(w) ?: w->cfg->triggers[0].path,
				      w->log_lines.buf, w->log_lines.len, &error);
	dbuf_reset_trim(&w->log_lines, 2 * LOG_LINES_FLUSH);
	if (r >= 0)
		w->stats.triggered += w->unflushed_triggers;
	w->unflushed_triggers = 0;
	if (r < 0) {
		for (size_t i = 0; i < w->n_unflushed; i++)
			w->st->pending[i].triggers_done = 0;
		w->n_unflushed = 0;
		if (!w->log_error)
			w->log_error = TAKE_PTR(error);
		if (!w->log_error)
			w->log_error = strdup("cannot write the log file");
		pump_schedule(w);
		return;
	}
	if (w->n_unflushed == 0)
		return;
	for (; w->n_unflushed > 0; w->n_unflushed--)
		listener_state_pop(w->st);
	w->dirty = true;
	w->attempts = 0;
	maybe_unpause(w);
}

static int dead_letter(struct watch *w, struct state_pending *p, const struct cfg_trigger *t, const char *error)
{
	_cleanup_(json_decrefp) json_t *rec = NULL;
	int r;

	rec = json_pack("{s:s, s:I, s:O, s:s, s:s, s:I, s:I}", "listener", w->name, "seq", (json_int_t)p->seq,
			"notification", state_pending_notification(p), "trigger", t->where, "error", error ? error : "failed",
			"attempts", (json_int_t)w->attempts, "failed_usec", (json_int_t)now_usec(CLOCK_REALTIME));
	if (!rec)
		return -ENOMEM;
	r = deadletter_write(w->daemon->statedir, w->name, p->seq, rec);
	if (r < 0)
		return r;
	w->stats.dead_letters++;
	watch_log(w, LOG_ERR, 0, LOG_MID_DEAD_LETTERED, notif_event_id(state_pending_notification(p)),
		  "notification %s dead-lettered after %u attempt%s of %s: %s (see 'ssewatchd dead-letter list %s')",
		  notif_event_id(state_pending_notification(p))[0] ? notif_event_id(state_pending_notification(p)) : "(no id)", w->attempts,
		  w->attempts == 1 ? "" : "s", t->where, error ? error : "failed", w->name);
	return 0;
}

static void trigger_finished(struct watch *w, const char *error, bool permanent);
static void retry_arm(struct watch *w, uint64_t delay);

/* p (the head) failed for good at t: record it as a dead letter. If that
 * write fails, p stays pending and the pump retries the write alone: the
 * trigger has had its attempts, and it may not be idempotent. */
static void dead_letter_or_retry(struct watch *w, struct state_pending *p, const struct cfg_trigger *t,
				 const char *error)
{
	int r = dead_letter(w, p, t, error);

	if (r < 0) {
		watch_log(w, LOG_ERR, r, LOG_MID_STATE_ERROR, notif_event_id(state_pending_notification(p)),
			  "cannot write the dead letter %s/" DEADLETTER_DIR "/%s/%" PRIu64 ".json: %m; retrying the write",
			  statedir_path(w->daemon->statedir), w->name, p->seq);
		/* Kept once (error may be this very copy); without memory the
		 * trigger runs again, as after a crash. */
		if (!w->dead_letter_error)
			w->dead_letter_error = strdup(error ? error : "failed");
		retry_arm(w, COMMIT_RETRY_USEC);
		return;
	}
	free(w->dead_letter_error);
	w->dead_letter_error = NULL;
	notification_done(w);
	pump_schedule(w);
}

static void on_trigger_done(struct trigger_run *run, const char *error, bool permanent, void *userdata)
{
	struct watch *w = userdata;

	(void)run;
	w->run = trigger_run_free(w->run);
	trigger_finished(w, error, permanent);
	if (w->stopping)
		daemon_watch_idle(w->daemon);
}

static void on_flush_timer(struct watch *w)
{
	/* A begun commit's end runs the pump, which sees to the rest; a held
	 * commit's retry takes the completions along. */
	if (state_save_active(&w->saving) || w->commit_held)
		return;
	if (w->dirty && commit(w) < 0) {
		commit_hold(w);
		return;
	}
	/* It took along what came since the last commit: that may run now,
	 * and a read that waited for its commit may come. */
	maybe_unpause(w);
	pump_schedule(w);
}

/* Writes the dead letters a hold kept, oldest first; negative at the first that fails. */
static int write_held_dead_letters(struct watch *w)
{
	while (json_array_size(w->held_dead_letters) > 0) {
		json_t *rec = json_array_get(w->held_dead_letters, 0);
		uint64_t seq = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
		int r = deadletter_write(w->daemon->statedir, w->name, seq, rec);

		if (r < 0) {
			watch_log(w, LOG_ERR, r, LOG_MID_STATE_ERROR, NULL,
				  "cannot write the dead letter %s/" DEADLETTER_DIR "/%s/%" PRIu64 ".json: %s",
				  statedir_path(w->daemon->statedir), w->name, seq, strerror(-r));
			return r;
		}
		(void)json_array_remove(w->held_dead_letters, 0);
		w->stats.dead_letters++;
	}
	return 0;
}

static void on_commit_timer(struct watch *w)
{
	if (!w->commit_held)
		return;
	if (write_held_dead_letters(w) < 0 || commit(w) < 0) {
		w->commit_backoff_usec = MIN(2 * w->commit_backoff_usec, COMMIT_HELD_CAP_USEC);
		timer_set_in(w, TIMER_COMMIT, w->commit_backoff_usec);
		return;
	}
	if (w->stopping)
		daemon_watch_idle(w->daemon);	/* a reload may retire it now */
	else
		maybe_unpause(w);	/* the rest of the read, then the transfer */
}

static void on_retry_timer(struct watch *w)
{
	pump_schedule(w);
}

static void retry_arm(struct watch *w, uint64_t delay)
{
	timer_set_in(w, TIMER_RETRY, delay);
}

static void retry_disarm(struct watch *w)
{
	timer_clear(w, TIMER_RETRY);
}

/* The current trigger is behind us: on to the next, or the next notification. */
static void next_trigger(struct watch *w, struct state_pending *p)
{
	p->triggers_done++;
	w->attempts = 0;
	w->dirty = true;
	if (p->triggers_done >= w->cfg->n_triggers)
		notification_done(w);
	pump_schedule(w);
}

/* A trigger run ended: move on, retry later, or give up on the notification. */
static void trigger_finished(struct watch *w, const char *error, bool permanent)
{
	struct state_pending *p = current(w);
	const struct cfg_trigger *t;
	enum cfg_on_failure policy;

	if (!p)
		return;
	t = &w->cfg->triggers[p->triggers_done];
	if (!error) {
		w->stats.triggered++;
		next_trigger(w, p);
		return;
	}

	w->stats.failed++;
	w->attempts++;
	if (w->attempts <= t->retries && !w->stopping && !permanent) {
		uint64_t delay = backoff_delay(t->retry_delay_usec, TRIGGER_RETRY_CAP, w->attempts - 1,
					       daemon_random(w->daemon));

		watch_log(w, LOG_WARNING, 0, LOG_MID_TRIGGER_FAILED, notif_event_id(state_pending_notification(p)),
			  "%s failed (attempt %u of %u): %s; retrying in %.1fs", t->where, w->attempts,
			  t->retries + 1, error, (double)delay / 1e6);
		retry_arm(w, delay);
		return;
	}
	if (w->stopping) {
		/* Interrupted by the shutdown: it runs again at the next start. */
		w->attempts = 0;
		return;
	}

	watch_log(w, LOG_ERR, 0, LOG_MID_TRIGGER_FAILED, notif_event_id(state_pending_notification(p)),
		  "%s failed%s: %s", t->where, t->retries && w->attempts > t->retries ? " after all retries" : "",
		  error);
	if (!t->required) {
		next_trigger(w, p);
		return;
	}
	policy = t->on_failure_set ? t->on_failure : w->cfg->on_failure;
	if (policy == CFG_ON_FAILURE_STOP) {
		watch_log(w, LOG_ERR, 0, NULL, NULL,
			  "on_failure is stop: listener stopped; the notification stays pending for the next start");
		w->attempts = 0;
		sv_event(w, (struct sv_event){ .type = SV_EV_FATAL, .reason = SV_REASON_TRIGGER });
		return;
	}
	if (w->replay) {
		/* A replay writes nothing, dead letters included: report and go on. */
		notification_done(w);
		pump_schedule(w);
		return;
	}
	dead_letter_or_retry(w, p, t, error);
}

/* Gathers the log lines of p's remaining triggers (log_lines_path()). 1 if
 * done, 0 if they must run one by one (too large), negative on failure. */
static int gather_log_lines(struct watch *w, struct state_pending *p)
{
	const struct cfg_trigger *t = &w->cfg->triggers[p->triggers_done];
	struct trigger_input in = { .seq = p->seq, .received_usec = p->received_usec };
	size_t before = w->log_lines.len;
	int r = 0;

	in.notification_text = state_pending_text_len(p, &in.notification_text_len);
	if (trigger_needs_tree(w->cfg, t, in.notification_text) && !(in.notification = state_pending_notification(p)))
		return -ENOMEM;
	for (size_t k = p->triggers_done; r >= 0 && k < w->cfg->n_triggers; k++)
		r = trigger_log_line(w->cfg, &in, &w->log_lines);
	if (r < 0) {
		w->log_lines.len = before;	/* none of p's lines, or a retry repeats some */
		return r == -E2BIG && before == 0 ? 0 : r;
	}
	w->unflushed_triggers += w->cfg->n_triggers - p->triggers_done;
	p->triggers_done = (uint32_t)w->cfg->n_triggers;
	w->n_unflushed++;
	return 1;
}

static void pump_run(struct watch *w)
{
	for (unsigned i = 0; i < PUMP_BATCH; i++) {
		struct state_pending *p;
		const struct cfg_trigger *t;
		_cleanup_free_ char *error = NULL;
		bool retrying;
		json_t *tree;
		const char *text;
		int r;

		if (w->log_error) {
			/* The write of gathered lines failed (log_lines_flush()):
			 * their notifications are back at the head, unfinished. */
			error = TAKE_PTR(w->log_error);
			if (current(w))
				trigger_finished(w, error, false);
			continue;
		}
		/* Nothing runs for a notification that is not on disk yet
		 * (current() sees to that): a begun commit is moved on (and
		 * finished once its syncs have ended), else the received
		 * notifications are committed now. */
		(void)saving_finish(w);
		if (!commit_pipelined(w))
			commit_received(w);
		/* A failed write of gathered lines (here inside the commit) is
		 * reported first, while the notifications it put back are at
		 * the head and nothing new is gathered. */
		if (w->log_error)
			continue;
		p = current(w);
		if (!p && w->n_unflushed > 0) {
			log_lines_flush(w);	/* before deciding the queue is done */
			if (w->log_error)
				continue;
			p = current(w);
		}
		/* Nothing on disk to work on now: begin the commit of what came
		 * since (one at a time), which a later pump run finishes. */
		/* Asked once: nothing below arms the retry timer before its use. */
		retrying = timer_is_set(w, TIMER_RETRY);
		if (commit_pipelined(w) && (!p || w->run || retrying) && has_uncommitted(w) &&
		    !state_save_active(&w->saving) && !w->commit_held && saving_begin(w) >= 0)
			maybe_unpause(w);	/* the next read may come */
		/* A listener stopped by on_failure: stop keeps its notification pending. */
		if (w->run || w->stopping || (w->sv.phase == SV_FAILED && w->sv.reason == SV_REASON_TRIGGER))
			return;
		if (retrying)
			return;	/* waiting to retry */
		if (!p && w->replay) {
			daemon_watch_idle(w->daemon);	/* maybe the end of the replay */
			return;
		}
		if (!p) {
			/* Idle: make the completions durable soon; a commit for new
			 * notifications before then takes them along. */
			if (w->dirty && !timer_is_set(w, TIMER_FLUSH))
				timer_set_in(w, TIMER_FLUSH, FLUSH_DELAY_USEC);
			return;
		}
		if (p->triggers_done >= w->cfg->n_triggers) {
			/* Written by a configuration with more triggers: those
			 * it still had to run are gone from the list. Gathered
			 * lines go first, so this one is the head when popped. */
			if (w->n_unflushed > 0) {
				log_lines_flush(w);
				continue;
			}
			watch_log(w, LOG_WARNING, 0, NULL, NULL,
				  "notification %" PRIu64 " had run %" PRIu32 " trigger(s) before the stop; the "
				  "configuration now has %zu, so it is finished",
				  p->seq, p->triggers_done, w->cfg->n_triggers);
			notification_done(w);
			continue;
		}
		t = &w->cfg->triggers[p->triggers_done];
		if (w->dead_letter_error) {
			dead_letter_or_retry(w, p, t, w->dead_letter_error);
			if (w->dead_letter_error)
				return;
			continue;
		}
		if (log_lines_path(w)) {
			r = gather_log_lines(w, p);
			if (r > 0) {
				if (w->log_lines.len >= LOG_LINES_FLUSH)
					log_lines_flush(w);
				continue;
			}
			if (r < 0) {
				/* trigger_finished() works on the head of the queue. */
				log_lines_flush(w);
				if (w->log_error)
					continue;
				watch_log(w, LOG_ERR, r, NULL, NULL, "cannot run %s: %s", t->where, strerror(-r));
				trigger_finished(w, "internal error", false);
				continue;
			}
			log_lines_flush(w);	/* too large to gather: on its own */
		}
		/* per_event: an external trigger starts with everything before it
		 * on disk, so a crash re-runs at most that one. batch trades
		 * that for speed: completions go to disk with the next commit,
		 * at the latest FLUSH_DELAY_USEC from now, and a crash re-runs
		 * what completed since. */
		if (trigger_is_external(t) && w->dirty && w->commit_held)
			return;	/* the progress must reach the disk first: the hold's end runs the pump */
		if (trigger_is_external(t) && w->dirty && w->cfg->commit == CFG_COMMIT_BATCH) {
			if (!timer_is_set(w, TIMER_FLUSH))
				timer_set_in(w, TIMER_FLUSH, FLUSH_DELAY_USEC);
		} else if (trigger_is_external(t) && w->dirty && commit(w) < 0) {
			commit_hold(w);
			return;
		}

		if (!w->service_since)
			w->service_since = now_usec(CLOCK_MONOTONIC);
		text = state_pending_text(p);
		tree = trigger_needs_tree(w->cfg, t, text) ? state_pending_notification(p) : NULL;
		if (trigger_needs_tree(w->cfg, t, text) && !tree)
			r = -ENOMEM;
		else
			r = trigger_start(&w->daemon->tenv, w->cfg, t,
					  &(struct trigger_input){ .notification = tree, .seq = p->seq,
								   .received_usec = p->received_usec,
								   .notification_text = text },
					  on_trigger_done, w, &w->run, &error);
		if (r == TRIGGER_STARTED)
			return;
		if (r < 0) {
			watch_log(w, LOG_ERR, r, NULL, NULL, "cannot run %s: %m", t->where);
			trigger_finished(w, "internal error", false);
			continue;
		}
		trigger_finished(w, r == TRIGGER_SUCCEEDED ? NULL : error ? error : "failed",
				 r == TRIGGER_FAILED_PERMANENT);
	}
	pump_schedule(w);
}

static int on_pump(sd_event_source *s, void *userdata)
{
	struct watch *w = userdata;

	(void)s;
	w->pump_scheduled = false;	/* a ONESHOT source is off once dispatched */
	pump_run(w);
	/* Gathered lines never outlive the run that gathered them. */
	log_lines_flush(w);
	return 0;
}

/* ------------------------------------------------------------ life cycle */

uint64_t watch_idle_budget(const struct cfg_listener *l)
{
	uint64_t hb = l->heartbeat_interval_usec;

	/* As aviso's clients: max(3 x interval, interval + 30 s), unless set. */
	return l->idle_timeout_usec ? l->idle_timeout_usec : MAX(3 * hb, hb + 30 * USEC_PER_SEC);
}

static int on_note(void *userdata, const struct sse_note *note)
{
	struct watch *w = userdata;
	int r = w->proto->note(w, note);

	/* The queue is full: parse no further; the rest of the read waits. */
	if (r >= 0 && note->kind == SSE_NOTE_EVENT && (queue_full(w) || w->commit_held) && !w->draining)
		return SSE_PARSER_STOP;
	return r;
}

static void on_reconnect_timer(struct watch *w);
static void on_idle_timer(struct watch *w);
static void on_retry_timer(struct watch *w);
static void on_flush_timer(struct watch *w);
static void on_save_timer(struct watch *w);
static void on_commit_timer(struct watch *w);

/* One deadline per wake-up, as separate timers would be dispatched; the
 * timer is set for the rest before the handler runs, which may set it
 * again (or end the transfer, or the listener). */
static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct watch *w = userdata;
	uint64_t now;
	int which;

	(void)usec;
	if (sd_event_now(sd_event_source_get_event(s), CLOCK_MONOTONIC, &now) < 0)
		now = now_usec(CLOCK_MONOTONIC);
	which = deadline_take_due(&w->deadlines, now);
	timer_rearm(w);
	switch (which) {
	case TIMER_RECONNECT:
		on_reconnect_timer(w);
		break;
	case TIMER_IDLE:
		on_idle_timer(w);
		break;
	case TIMER_RETRY:
		on_retry_timer(w);
		break;
	case TIMER_FLUSH:
		on_flush_timer(w);
		break;
	case TIMER_SAVE:
		on_save_timer(w);
		break;
	case TIMER_COMMIT:
		on_commit_timer(w);
		break;
	case TIMER_PROTO:
		if (w->proto->on_timer)
			w->proto->on_timer(w);
		break;
	default:
		break;	/* woken early: nothing due yet */
	}
	return 0;
}

int watch_new(struct daemon *d, const struct cfg_listener *cfg, struct watch **ret)
{
	struct watch *w;
	int r;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->saving = STATE_SAVE_OP_IDLE;
	w->saving.sync.done = on_save_synced;
	w->saving.sync.userdata = w;
	w->daemon = d;
	deadline_init(&w->deadlines, _TIMER_MAX, timer_slack);
	use_config(w, cfg);
	w->proto = cfg->protocol == CFG_PROTOCOL_SSE ? &proto_sse : &proto_aviso;
	w->name = strdup(cfg->name);
	if (!w->name) {
		free(w);
		return -ENOMEM;
	}
	r = auth_new(&cfg->auth, &w->auth);
	if (r < 0) {
		watch_free(w);
		return r;
	}
	sv_params_default(&w->svp);
	w->svp.can_refresh_auth = auth_can_refresh(w->auth);
	sv_init(&w->sv);
	dbuf_init(&w->error_body, ERROR_BODY_MAX);
	/* At most what one read can hold beyond a full queue. */
	dbuf_init(&w->stash, 4 * read_size(cfg));
	dbuf_init(&w->log_lines, LOG_LINES_MAX);
	dbuf_init(&w->cursor_later, cfg->max_event_size);
	sse_parser_init(&w->parser, &(struct sse_parser_limits){ .max_line = cfg->max_event_size,
								 .max_event = cfg->max_event_size },
			on_note, w);
	w->idle_budget_usec = watch_idle_budget(cfg);

	r = sd_event_add_time(d->event, &w->timer, CLOCK_MONOTONIC, 0, USEC_PER_MSEC, on_timer, w);
	if (r >= 0)
		r = sd_event_add_defer(d->event, &w->pump, on_pump, w);
	/* Below the sockets: a read waiting is parsed while the disk writes.
	 * Only batch begins a commit and finishes it later (and a reload
	 * keeps a watch only with the same configuration). */
	if (r >= 0 && cfg->commit == CFG_COMMIT_BATCH)
		r = sd_event_add_defer(d->event, &w->save_done, on_save_done, w);
	if (r >= 0 && w->save_done)
		r = sd_event_source_set_priority(w->save_done, SD_EVENT_PRIORITY_IDLE);
	if (r >= 0 && w->proto->setup)
		r = w->proto->setup(w);
	if (r < 0) {
		watch_free(w);
		return r;
	}
	(void)sd_event_source_set_enabled(w->timer, SD_EVENT_OFF);
	pump_unschedule(w);
	save_done_enable(w, SD_EVENT_OFF);
	*ret = w;
	return 0;
}

struct watch *watch_free(struct watch *w)
{
	if (!w)
		return NULL;
	transfer_cleanup(w);
	w->run = trigger_run_free(w->run);
	/* First: reaping a save in flight may call back into the watch,
	 * which schedules its pump. */
	state_save_op_done(w->daemon->statedir, &w->saving);
	w->timer = sd_event_source_disable_unref(w->timer);
	w->pump = sd_event_source_disable_unref(w->pump);
	json_decref(w->saving_cursor);
	json_decref(w->held_dead_letters);
	w->save_done = sd_event_source_disable_unref(w->save_done);
	dbuf_free(&w->stash);
	dbuf_free(&w->cursor_later);
	dbuf_free(&w->log_lines);
	free(w->log_error);
	free(w->dead_letter_error);
	sse_parser_done(&w->parser);
	dbuf_free(&w->error_body);
	listener_state_free(w->st);
	json_decref(w->committed_cursor);
	free(w->abort_message);
	if (w->proto && w->proto->teardown)
		w->proto->teardown(w);
	auth_free(w->auth);
	free(w->name);
	free(w);
	return NULL;
}

/* The state is another stream's: stop, saying how to go on. */
static void identity_mismatch(struct watch *w, const json_t *stored, const json_t *identity)
{
	_cleanup_free_ char *was = json_dumps(stored, JSON_COMPACT | JSON_SORT_KEYS);
	_cleanup_free_ char *now = json_dumps(identity, JSON_COMPACT | JSON_SORT_KEYS);

	/* The remedy first: long URLs may make the line too long to keep whole. */
	watch_log(w, LOG_ERR, 0, LOG_MID_STATE_ERROR, NULL,
		  "the state file is another stream's, so its cursor does not apply. The listener stays stopped: "
		  "restore the previous configuration, or run 'ssewatchd state reset %s' to start afresh. "
		  "The state file was written for %s, but the configuration now says %s",
		  w->name, was ? was : "?", now ? now : "?");
	w->st = listener_state_free(w->st);
	sv_event(w, (struct sv_event){ .type = SV_EV_FATAL, .reason = SV_REASON_STATE });
}

int watch_start(struct watch *w)
{
	_cleanup_(json_decrefp) json_t *identity = NULL;
	_cleanup_free_ char *err = NULL;
	uint64_t first_seq = 1;
	const char *id;
	int r;

	identity = w->proto->identity(w->cfg);
	if (!identity)
		return -ENOMEM;
	/* A replay starts from nothing and keeps what it learns in memory. */
	r = w->replay ? -ENOENT : state_load(w->daemon->statedir, w->name, &w->st, &err);
	if (r == -ENOENT) {
		w->st = listener_state_new(w->name, identity);
		if (!w->st)
			return -ENOMEM;
		/* An sse replay resumes after the event it starts from, as after a reconnect. */
		if (w->replay && w->proto == &proto_sse &&
		    listener_state_set_cursor_string(w->st, w->replay_from, strlen(w->replay_from)) < 0)
			return -ENOMEM;
	} else if (r < 0) {
		watch_log(w, LOG_ERR, r, LOG_MID_STATE_ERROR, NULL,
			  "%s; the listener stays stopped (other listeners go on). Repair or move the file away, "
			  "or run 'ssewatchd state reset %s' to start this listener afresh",
			  err ? err : strerror(-r), w->name);
		sv_event(w, (struct sv_event){ .type = SV_EV_FATAL, .reason = SV_REASON_STATE });
		return 0;
	} else if (r >= 0) {
		w->state_existed = true;
	}
	if (w->st && w->state_existed) {
		_cleanup_(json_decrefp) json_t *stored = state_identity_without_secrets(w->st->identity);

		if (!stored)
			return -ENOMEM;
		if (json_equal(stored, identity)) {
			/* The same stream: from now on written as identities are made
			 * now (a file from an earlier build held credentials). */
			json_decref(w->st->identity);
			w->st->identity = json_incref(identity);
		} else {
			identity_mismatch(w, stored, identity);
			return 0;
		}
	}
	/* Numbers go on past the dead letters an earlier state (one reset,
	 * say) left, so a new dead letter never takes an old one's name. */
	r = w->replay ? 0 : deadletter_next_seq(w->daemon->statedir, w->name, &first_seq);
	if (r < 0) {
		watch_log(w, LOG_ERR, r, LOG_MID_STATE_ERROR, NULL,
			  "cannot read the numbers of the dead letters in %s/" DEADLETTER_DIR "/%s: %s; the listener "
			  "stays stopped", statedir_path(w->daemon->statedir), w->name, strerror(-r));
		w->st = listener_state_free(w->st);
		sv_event(w, (struct sv_event){ .type = SV_EV_FATAL, .reason = SV_REASON_STATE });
		return 0;
	}
	w->st->next_seq = MAX(w->st->next_seq, first_seq);
	remember_commit(w);

	id = json_string_value(w->st->cursor);
	if (w->proto == &proto_sse)
		(void)sse_parser_set_last_id(&w->parser, id, id ? strlen(id) : 0, id != NULL);
	if (w->st->retry_ms)
		w->sv.retry_ms = w->st->retry_ms;
	if (w->st->n_pending > 0) {
		watch_log(w, LOG_NOTICE, 0, LOG_MID_REDELIVERED, NULL,
			  "%zu notification(s) received before the last stop are not finished; running their "
			  "remaining triggers first", w->st->n_pending);
		pump_schedule(w);
	}
	sv_event(w, (struct sv_event){ .type = SV_EV_START });
	return 0;
}

int watch_new_replay(struct daemon *d, const struct cfg_listener *cfg, const char *from, uint64_t to,
		     const char *to_id, struct watch **ret)
{
	int r = watch_new(d, cfg, ret);

	if (r < 0)
		return r;
	(*ret)->replay = true;
	(*ret)->replay_from = from;
	(*ret)->replay_from_is_id = from[0] && strspn(from, "0123456789") == strlen(from);
	(*ret)->replay_to = to;
	(*ret)->replay_to_id = to_id;
	return 0;
}

bool watch_replay_finished(const struct watch *w)
{
	return w->replay && w->replay_done && !w->easy && !w->run && (!w->st || w->st->n_pending == 0);
}

void watch_stop(struct watch *w)
{
	w->stopping = true;
	if (w->easy && w->stash.len > 0 && w->stream_ok && w->abort_reason == SV_REASON_NONE && w->st) {
		/* Complete events read but not yet parsed are kept, as at the end
		 * of a stream: a server without ids would not send them again. */
		w->draining = true;
		(void)consume(w, w->stash.buf, w->stash.len);
		w->draining = false;
	}
	if (w->easy) {
		transfer_stop(w);
	}
	sv_event(w, (struct sv_event){ .type = SV_EV_STOP });
	retry_disarm(w);
	pump_unschedule(w);
}

void watch_cancel_trigger(struct watch *w)
{
	trigger_run_cancel(w->run);
}

bool watch_ended(const struct watch *w)
{
	return sv_is_final(&w->sv);
}

bool watch_busy(const struct watch *w)
{
	return w->run != NULL;
}

bool watch_holding(const struct watch *w)
{
	return w->commit_held;
}

static int flush(struct watch *w)
{
	int r;

	if (!w->st || !(w->dirty || has_uncommitted(w)))
		return 0;
	r = write_held_dead_letters(w);
	return r < 0 ? r : commit(w);
}

int watch_flush(struct watch *w)
{
	int r = flush(w);

	if (r < 0)
		commit_hold(w);	/* a retired listener waits for it */
	return r;
}

void watch_flush_final(struct watch *w)
{
	size_t dead = 0;

	if (flush(w) >= 0)
		return;
	dead = json_array_size(w->held_dead_letters);
	if (dead > 0)
		watch_log(w, LOG_ERR, 0, LOG_MID_STATE_ERROR, NULL, "%zu dead letter(s) of skipped notifications "
			  "are not on disk, and are lost", dead);
	if (w->st->next_seq - w->committed_next_seq > dead)
		watch_log(w, LOG_ERR, 0, LOG_MID_STATE_ERROR, NULL,
			  "%" PRIu64 " notification(s) received since the last commit are not on disk: only a server "
			  "that resends from the cursor on disk delivers them again",
			  w->st->next_seq - w->committed_next_seq - dead);
}

void watch_set_config(struct watch *w, const struct cfg_listener *cfg)
{
	use_config(w, cfg);
}

void watch_reloaded(struct watch *w, const struct cfg_listener *cfg)
{
	struct state_pending *p = current(w);

	/* The listener is the same, but the old configuration's memory is about
	 * to be freed: everything that points into it moves over. */
	use_config(w, cfg);
	auth_rebind(w->auth, &cfg->auth);
	auth_invalidate(w->auth);
	if (w->run && p)
		trigger_run_rebind(w->run, cfg, &cfg->triggers[p->triggers_done]);
}

json_t *watch_status(const struct watch *w)
{
	char since[32], last[32];
	json_t *j;

	j = json_pack("{s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:O?, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:I}",
		      "name", w->name, "protocol", cfg_protocol_to_string(w->cfg->protocol), "state",
		      sv_phase_to_string(w->sv.phase), "reason", sv_reason_to_string(w->sv.reason), "http_status",
		      w->sv.http_status, "connected_since",
		      w->stats.connected_since ? json_string(format_rfc3339(w->stats.connected_since, since)) : json_null(),
		      "last_event_time",
		      w->stats.last_event_usec ? json_string(format_rfc3339(w->stats.last_event_usec, last)) : json_null(),
		      "cursor", w->st ? w->st->cursor : NULL, "pending", (json_int_t)(w->st ? w->st->n_pending : 0),
		      "received", (json_int_t)w->stats.received, "triggered", (json_int_t)w->stats.triggered, "failed",
		      (json_int_t)w->stats.failed, "dead_letters", (json_int_t)w->stats.dead_letters, "reconnects",
		      (json_int_t)w->sv.reconnects, "oversize", (json_int_t)w->stats.oversize, "commits",
		      (json_int_t)w->commits, "trigger_running",
		      w->run != NULL, "read_ahead", (json_int_t)w->window);
	if (j && w->commit_held)
		(void)json_object_set_new(j, "commit_held",
					  json_integer((json_int_t)(w->st->next_seq - w->committed_next_seq)));
	if (j && w->sv.phase == SV_WAITING) {
		uint64_t now = now_usec(CLOCK_MONOTONIC);

		(void)json_object_set_new(j, "reconnect_in_sec",
					  json_real(w->sv.reconnect_at > now ? (double)(w->sv.reconnect_at - now) / 1e6 : 0));
	}
	return j;
}
