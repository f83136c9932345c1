/* SPDX-License-Identifier: MIT */
/*
 * supervisor: the connection life of one listener as a pure reducer.
 *
 *   sv_step(params, state, event, now, rnd) -> new state + actions
 *
 * It does no I/O and reads no clock: the shell (watch.c) feeds it what
 * happened (a response arrived, the stream closed, a timer fired) and carries
 * out what it asks (connect, abort, arm the reconnect timer, refresh
 * credentials). Every transition is covered by table tests.
 *
 * Policy, in short:
 * - reconnect delays are jittered exponential backoff (base 250 ms, cap 30 s,
 *   each delay in [ceiling/2, ceiling]); an sse "retry:" raises the base;
 * - the failure count resets only when a connection delivered a notification
 *   or stayed open for healthy_usec, never merely because it opened;
 * - sessions that end within short_session_usec without delivering anything
 *   are "short": repeated short sessions back off even when the server asked
 *   for an immediate reconnect;
 * - 429 and 503 wait at least Retry-After (capped); 408, 425 and other 5xx
 *   back off; 204 stops; 401 refreshes credentials once; other statuses and a
 *   wrong Content-Type fail the listener until the configuration changes.
 */
#ifndef SSEWATCHD_SUPERVISOR_H
#define SSEWATCHD_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>

enum sv_phase {
	SV_IDLE,		/* not started */
	SV_CONNECTING,		/* request sent, stream not confirmed yet */
	SV_OPEN,		/* streaming */
	SV_WAITING,		/* waiting to reconnect */
	SV_REFRESHING,		/* fetching fresh credentials after a 401 */
	SV_STOPPED,		/* the server said stop (204) or the operator did */
	SV_FAILED,		/* a permanent error: stays until reload */
};

enum sv_reason {
	SV_REASON_NONE,
	SV_REASON_EOF,		/* the server ended the stream */
	SV_REASON_TRANSPORT,	/* connect, TLS or read error */
	SV_REASON_IDLE,		/* nothing received within the idle budget */
	SV_REASON_HTTP_STATUS,	/* an unexpected HTTP status */
	SV_REASON_CONTENT_TYPE,	/* 200 but not text/event-stream */
	SV_REASON_NO_CONTENT,	/* 204: the server says stop */
	SV_REASON_PROTOCOL,	/* the stream broke the protocol */
	SV_REASON_AUTH,		/* credentials rejected (after one refresh) */
	SV_REASON_SERVER_CLOSE,	/* the server closed with a close frame */
	SV_REASON_COMMIT,	/* state could not be committed: reconnect later */
	SV_REASON_STATE,	/* state file unusable */
	SV_REASON_TRIGGER,	/* a trigger failed with on_failure: stop */
	SV_REASON_GAP,		/* a gap with on_gap: stop */
	SV_REASON_OPERATOR,	/* stopped by the operator (shutdown, reload) */
	_SV_REASON_MAX,
};

enum sv_event_type {
	SV_EV_START,
	SV_EV_RESPONSE,		/* response headers: status, content_type_ok, retry_after_usec */
	SV_EV_OPENED,		/* the protocol confirmed the stream */
	SV_EV_DELIVERED,	/* a notification arrived on this connection */
	SV_EV_RETRY,		/* the server's reconnection time: retry_ms */
	SV_EV_CLOSED,		/* the transfer ended: close, reason */
	SV_EV_TIMER,		/* the reconnect timer fired */
	SV_EV_AUTH_REFRESHED,	/* ok */
	SV_EV_FATAL,		/* reason: the listener cannot go on */
	SV_EV_STOP,		/* the operator stops the listener */
};

enum sv_close {
	SV_CLOSE_EOF,		/* clean end of stream: wait the reconnection time */
	SV_CLOSE_IMMEDIATE,	/* the server asked for an immediate reconnect */
	SV_CLOSE_SHUTDOWN,	/* the server is shutting down: a short fixed delay */
	SV_CLOSE_ERROR,		/* anything else: back off */
};

struct sv_params {
	uint64_t base_usec;		/* first backoff ceiling; default 250 ms */
	uint64_t cap_usec;		/* largest backoff ceiling; default 30 s */
	uint64_t healthy_usec;		/* open this long resets the failure count; default 60 s */
	uint64_t short_session_usec;	/* shorter sessions without deliveries are short; default 1 s */
	uint64_t retry_after_cap_usec;	/* default 300 s */
	uint64_t shutdown_delay_usec;	/* default 5 s */
	bool can_refresh_auth;
};

struct sv_state {
	enum sv_phase phase;
	uint32_t failures;		/* consecutive failed attempts */
	uint32_t short_sessions;	/* consecutive short sessions */
	uint64_t attempt_at;		/* when the current attempt started */
	uint64_t opened_at;		/* when the current stream was confirmed */
	bool delivered;			/* the current stream delivered something */
	bool refreshed;			/* credentials refreshed for this attempt */
	uint32_t retry_ms;		/* the server's retry field, 0 = none */
	uint64_t reconnect_at;		/* SV_WAITING: when */
	enum sv_reason reason;		/* why the last stream ended, or why stopped/failed */
	int http_status;		/* the last HTTP status seen, 0 = none */
	uint64_t reconnects;		/* attempts after the first (statistics) */
};

struct sv_event {
	enum sv_event_type type;
	int status;			/* RESPONSE */
	bool content_type_ok;		/* RESPONSE */
	uint64_t retry_after_usec;	/* RESPONSE: 0 = none */
	uint32_t retry_ms;		/* RETRY */
	enum sv_close close;		/* CLOSED */
	enum sv_reason reason;		/* CLOSED, FATAL */
	bool ok;			/* AUTH_REFRESHED */
};

struct sv_actions {
	bool connect;			/* start a new transfer now */
	bool abort;			/* abort the current transfer */
	bool arm_timer;			/* arm the reconnect timer for timer_at */
	uint64_t timer_at;
	bool disarm_timer;
	bool refresh_auth;		/* fetch credentials, then send SV_EV_AUTH_REFRESHED */
};

void sv_params_default(struct sv_params *p);
void sv_init(struct sv_state *s);

/*
 * Applies ev at time now (CLOCK_MONOTONIC µs). rnd is a random value used for
 * jitter. Events that make no sense in the current phase change nothing.
 */
void sv_step(const struct sv_params *p, const struct sv_state *s, const struct sv_event *ev,
	     uint64_t now, uint64_t rnd, struct sv_state *ret_state, struct sv_actions *ret_actions);

/* Whether the listener will never connect again without a reload. */
bool sv_is_final(const struct sv_state *s);

const char *sv_phase_to_string(enum sv_phase p);
const char *sv_reason_to_string(enum sv_reason r);

#endif
