/* SPDX-License-Identifier: MIT */
/*
 * watch: one listener at work. The imperative shell around the pure parts:
 * it owns the HTTP transfer (through curl_glue), feeds the bytes to the SSE
 * parser and the protocol, turns what happened into supervisor events and
 * carries out the supervisor's actions, commits notifications durably before
 * any trigger runs, and pumps them through the triggers in order.
 *
 * Delivery rules (CONTRACT.md §6):
 * - a notification and the cursor after it are committed (state_save) before
 *   any of its triggers starts; with commit: per_event each notification is
 *   its own commit, with batch everything parsed from one read shares one;
 * - if a commit (or the write of a dead letter) fails, what it held stays in
 *   memory, where no trigger runs for it, reading stops, no request starts,
 *   and the write is tried again with a backoff (250 ms doubling to 10 s)
 *   until it succeeds, so a stream without ids loses nothing either; a
 *   listener retired by a reload meanwhile goes only once it is written, and
 *   only a stop (or a state the listener cannot record at all) leaves it
 *   unwritten;
 * - a listener runs one trigger at a time, in order; with per_event, before
 *   an external trigger (command, post) starts, the progress so far is
 *   committed, so a crash leaves at most that one trigger in doubt; batch
 *   commits progress within FLUSH_DELAY_USEC instead;
 * - when the pending queue is full (max_pending notifications, or 16 MiB)
 *   parsing stops; the rest of that read waits in a stash (at most one
 *   read) and the transfer is paused until the queue drains to half;
 *   complete events left in the stash when the stream ends are still
 *   delivered;
 * - batch: once half of max_pending has arrived since the last begun
 *   commit, reading also pauses until the pump begins theirs, so the disk
 *   writes one batch while the next is read and parsed.
 */
#ifndef SSEWATCHD_WATCH_H
#define SSEWATCHD_WATCH_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "dbuf.h"
#include "deadline.h"
#include "flow.h"
#include "sse_parser.h"
#include "state.h"
#include "supervisor.h"

struct auth;
struct daemon;
struct watch;
struct trigger_run;

/* What differs between protocols. */
struct proto_ops {
	/* Optional: allocate w->proto_data and the like; teardown frees them. */
	int (*setup)(struct watch *w);
	void (*teardown)(struct watch *w);
	/* The identity recorded in the state file: what stream the cursor belongs to. */
	json_t *(*identity)(const struct cfg_listener *l);
	/* URL, method, body and protocol headers of the next request. */
	int (*prepare)(struct watch *w, CURL *easy, struct curl_slist **headers);
	/* The response was 200 with text/event-stream. */
	void (*response_ok)(struct watch *w);
	/* One note from the SSE parser. A negative return aborts the stream (set w->abort_reason first). */
	int (*note)(struct watch *w, const struct sse_note *note);
	/* The transfer ended without error: how to reconnect. */
	enum sv_close (*ended)(struct watch *w, enum sv_reason *ret_reason);
	/* Optional: the protocol's deadline (watch_proto_timer_set_in()) came. */
	void (*on_timer)(struct watch *w);
};

extern const struct proto_ops proto_sse;
extern const struct proto_ops proto_aviso;

struct watch_stats {
	uint64_t received;	/* notifications committed */
	uint64_t triggered;	/* trigger runs that succeeded */
	uint64_t failed;	/* trigger runs that failed */
	uint64_t dead_letters;	/* notifications dead-lettered by this process */
	uint64_t oversize;	/* events skipped as too large */
	uint64_t bytes;		/* stream bytes received */
	uint64_t connected_since; /* CLOCK_REALTIME µs of the current stream, 0 if none */
	uint64_t last_event_usec; /* CLOCK_REALTIME µs of the last notification */
};

struct watch {
	struct daemon *daemon;
	const struct cfg_listener *cfg;	/* the daemon's current configuration owns it */
	const struct proto_ops *proto;
	char *name;

	struct listener_state *st;	/* NULL until started (or if the state was unusable) */
	bool state_existed;		/* st came from a file, not from nothing */
	uint64_t committed_next_seq;	/* st->next_seq at the last commit */
	json_t *committed_cursor;	/* st->cursor at the last commit */
	bool dirty;			/* progress not yet committed */
	bool uncommitted_notifications;	/* received since the last commit */
	bool commit_held;		/* a commit failed: reading stops until one succeeds */
	uint64_t commit_backoff_usec;	/* the wait before its next attempt */
	json_t *held_dead_letters;	/* records whose write failed, written before that commit */
	uint64_t commits;

	struct sv_params svp;
	struct sv_state sv;
	/* One loop timer for all the listener's deadlines (reconnect, idle,
	 * retry, flush, save, the protocol's): a timer source per deadline
	 * cost about 1.9 KB more per idle listener (at 10,000 of them). */
	sd_event_source *timer;
	struct deadlines deadlines;
	uint64_t idle_budget_usec;

	/* the current transfer */
	CURL *easy;
	struct curl_slist *req_headers;
	struct sse_parser parser;
	bool in_callback;		/* inside a curl callback: no transfer changes now */
	bool headers_done;
	bool stream_ok;			/* 200 + text/event-stream reported */
	long status;
	bool content_type_ok;
	bool has_location;
	uint64_t retry_after_usec;
	char request_id[80];
	struct dbuf error_body;		/* the start of a non-200 response */
	bool abort_now;			/* make the next curl callback fail the transfer */
	enum sv_reason abort_reason;	/* why we aborted it ourselves */
	bool abort_fatal;		/* ...and the listener cannot go on */
	char *abort_message;
	uint64_t last_byte_at;		/* CLOCK_MONOTONIC */
	uint64_t consumed_at;		/* CLOCK_REALTIME of the bytes being parsed, else 0 */
	bool consuming;			/* inside consume(): the parser is at work */
	bool paused;
	bool pump_scheduled;		/* the pump source is on (ONESHOT): it runs soon */
	const char *gather_path;	/* log_lines_path(), worked out once per configuration */
	bool draining;		/* the stream ended: the stash goes to the queue whole */
	struct dbuf log_lines;	/* log lines gathered in this pump run, for one write */
	size_t n_unflushed;		/* finished notifications at the head whose lines wait there */
	uint64_t unflushed_triggers;	/* their trigger runs, counted once written */
	char *log_error;		/* that write failed: the pump reports it as the trigger's failure */
	char *dead_letter_error;	/* the head's trigger failed for good but its dead letter could
					 * not be written: only the write is retried, not the trigger */
	struct dbuf stash;		/* the rest of a read that did not fit in the queue */
	struct dbuf cursor_later;	/* batch: the last string cursor of the read being parsed */
	bool cursor_later_set;		/* ...and it is newer than st->cursor */

	/* protocol scratch (e.g. aviso's opening check and last sequence) */
	void *proto_data;

	struct auth *auth;
	bool auth_fetching;		/* credentials are being fetched before the first request */

	/* `ssewatchd replay`: nothing is written to disk, the stream ends at the end */
	bool replay;
	const char *replay_from;	/* from_id (digits) or from_date */
	bool replay_from_is_id;
	uint64_t replay_to;		/* aviso; 0: to the end */
	const char *replay_to_id;	/* sse: the event id it ends with */
	bool replay_done;

	/* the trigger pump */
	sd_event_source *pump;
	/* batch: a commit begun (its temp file written, the disk busy with it)
	 * while the loop reads on; what it holds, and a source that finishes it
	 * when nothing else is left to do */
	struct state_save_op saving;
	uint64_t saving_next_seq;
	json_t *saving_cursor;
	sd_event_source *save_done;
	struct trigger_run *run;	/* the trigger running now */
	uint32_t attempts;		/* failed attempts of the current trigger */
	/* read-ahead (flow.h): how long notifications take in their triggers,
	 * when the head's first trigger started (CLOCK_MONOTONIC, 0: not yet),
	 * and how many may wait in the queue */
	struct flow flow;
	uint64_t service_since;
	size_t window;
	bool stopping;

	struct watch_stats stats;
};

int watch_new(struct daemon *d, const struct cfg_listener *cfg, struct watch **ret);

/*
 * A one-shot replay watch: no state is read or written. aviso: from a
 * sequence number or a date, to the sequence to (0: the end of the
 * history). sse: after the event id from (Last-Event-ID), to the event
 * whose id is to_id.
 */
int watch_new_replay(struct daemon *d, const struct cfg_listener *cfg, const char *from, uint64_t to,
		     const char *to_id, struct watch **ret);

/* Whether a replay watch reached its end and ran every trigger. */
bool watch_replay_finished(const struct watch *w);
struct watch *watch_free(struct watch *w);

/* Loads the state and starts connecting. A state problem fails this listener only (logged). */
int watch_start(struct watch *w);

/* Graceful stop: the transfer ends, no new trigger starts; a running one may finish. */
void watch_stop(struct watch *w);

/* Whether what it received waits in memory for a failed write to succeed. */
bool watch_holding(const struct watch *w);

/* Stop waiting for a running trigger: terminate it. */
void watch_cancel_trigger(struct watch *w);

/* Whether a trigger is still running (the daemon waits for these on shutdown). */
bool watch_busy(const struct watch *w);

/* Whether the listener failed or stopped for good (a reload starts it again). */
bool watch_ended(const struct watch *w);

/* Commits progress not yet on disk; if that fails, it is held and retried
 * (watch_holding()). */
int watch_flush(struct watch *w);

/* The same at the daemon's end: says what could not be written. */
void watch_flush_final(struct watch *w);

/* The listener's status for `ssewatchd status` (a new reference). */
json_t *watch_status(const struct watch *w);

/* Bumped whenever something shown by watch_status() changed. */
extern uint64_t watch_status_generation;

/* The configuration was reloaded and this listener's is the same: credentials
 * files are read again at the next request; the connection stays. */
void watch_reloaded(struct watch *w, const struct cfg_listener *cfg);

/* How long a stream may stay silent before it is deemed dead. */
uint64_t watch_idle_budget(const struct cfg_listener *l);

/* The configuration was reloaded and this listener's did not change. */
void watch_set_config(struct watch *w, const struct cfg_listener *cfg);

/* ------------------------------------------------- for protocol modules */

/*
 * Hands over one notification as its JSON text (copied: compact, sorted
 * keys, as jsonw writes it, so a trigger sees the same text before and
 * after a restart; state_pending_notification() parses it for a trigger
 * that needs the tree) and the cursor after it (stolen; NULL leaves the
 * cursor alone). It is committed now (per_event) or at the end of this read
 * (batch). Negative: it could not be committed; return that from the note
 * callback to abort the stream.
 */
int watch_deliver_text(struct watch *w, const char *text, size_t len, json_t *cursor);
/*
 * The same with the cursor as a string, copied
 * (listener_state_set_cursor_string()); NULL leaves the cursor as it is.
 */
int watch_deliver_copy(struct watch *w, const char *text, size_t len, const char *cursor, size_t cursor_len);

/*
 * A notification that cannot be kept (too large, nested too deep): recorded
 * at once as a dead letter of what is known of it (notification, borrowed),
 * with why, so the operator sees it; it cannot be retried. Logged with the
 * oversize MESSAGE_ID. The caller then moves the cursor past it.
 */
int watch_dead_letter_unkept(struct watch *w, const json_t *notification, const char *event_id, const char *why);

/* Moves the cursor without a notification (an sse id-only block). Stolen. */
int watch_set_cursor(struct watch *w, json_t *cursor);

/* The protocol confirmed the stream. */
void watch_opened(struct watch *w);

/* The protocol's one deadline in the current transfer, usec from now (10 ms
 * slack), on the listener's timer: proto->on_timer is called when it comes,
 * unless cleared, or the transfer ended first. */
void watch_proto_timer_set_in(struct watch *w, uint64_t usec);
void watch_proto_timer_clear(struct watch *w);

/* The server's reconnection time (sse retry:). */
void watch_retry(struct watch *w, uint32_t ms);

/* Makes the stream end with reason (fatal: the listener stops). Returns -EPROTO for the note callback. */
int watch_abort(struct watch *w, enum sv_reason reason, bool fatal, const char *fmt, ...) _printf_(4, 5);

/* The same from the loop (a timer), where no curl callback is running: ends it now, to reconnect. */
void watch_end_stream(struct watch *w, enum sv_reason reason, const char *fmt, ...) _printf_(3, 4);

#endif
