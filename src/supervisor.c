/* SPDX-License-Identifier: MIT */
#include "backoff.h"
#include "macro.h"
#include "supervisor.h"

void sv_params_default(struct sv_params *p)
{
	*p = (struct sv_params){
		.base_usec = 250 * USEC_PER_MSEC,
		.cap_usec = 30 * USEC_PER_SEC,
		.healthy_usec = 60 * USEC_PER_SEC,
		.short_session_usec = 1 * USEC_PER_SEC,
		.retry_after_cap_usec = 300 * USEC_PER_SEC,
		.shutdown_delay_usec = 5 * USEC_PER_SEC,
	};
}

void sv_init(struct sv_state *s)
{
	*s = (struct sv_state){ .phase = SV_IDLE };
}

bool sv_is_final(const struct sv_state *s)
{
	return s->phase == SV_STOPPED || s->phase == SV_FAILED;
}

/* The server's retry field raises the base delay (and the cap with it), as
 * far as a Retry-After may: a server cannot park a listener for weeks. */
static uint64_t base_of(const struct sv_params *p, const struct sv_state *s)
{
	uint64_t retry = MIN((uint64_t)s->retry_ms * USEC_PER_MSEC, p->retry_after_cap_usec);

	return MAX(p->base_usec, retry);
}

static uint64_t backoff_for(const struct sv_params *p, const struct sv_state *s, uint32_t attempt, uint64_t rnd)
{
	uint64_t base = base_of(p, s);
	uint64_t d = backoff_delay(base, MAX(p->cap_usec, base), attempt, rnd);

	/* A reconnection time the server set is a minimum (WHATWG: wait that
	 * long, optionally more): the spread goes above it, not below. One
	 * under our own base (spread from half of it) is simply a floor. */
	if (s->retry_ms > 0 && base > p->base_usec)
		d += base / 2;
	else if (s->retry_ms > 0)
		d = MAX(d, (uint64_t)s->retry_ms * USEC_PER_MSEC);
	return d;
}

/* Leave the current attempt: wait delay, or connect at once when it is 0. */
static void schedule(struct sv_state *n, struct sv_actions *a, uint64_t now, uint64_t delay)
{
	n->reconnects++;
	n->opened_at = 0;
	n->delivered = false;
	if (delay == 0) {
		n->phase = SV_CONNECTING;
		n->attempt_at = now;
		a->connect = true;
		return;
	}
	n->phase = SV_WAITING;
	n->reconnect_at = now + delay;
	a->arm_timer = true;
	a->timer_at = n->reconnect_at;
}

static void finish(struct sv_state *n, struct sv_actions *a, enum sv_phase phase, enum sv_reason reason)
{
	n->phase = phase;
	n->reason = reason;
	n->opened_at = 0;
	a->abort = true;
	a->disarm_timer = true;
}

static void on_response(const struct sv_params *p, struct sv_state *n, const struct sv_event *ev,
			uint64_t now, uint64_t rnd, struct sv_actions *a)
{
	uint64_t delay;

	n->http_status = ev->status;
	if (ev->status == 200) {
		if (!ev->content_type_ok)
			finish(n, a, SV_FAILED, SV_REASON_CONTENT_TYPE);
		return;		/* the protocol confirms with SV_EV_OPENED */
	}

	a->abort = true;
	switch (ev->status) {
	case 204:
		finish(n, a, SV_STOPPED, SV_REASON_NO_CONTENT);
		return;
	case 401:
		if (p->can_refresh_auth && !n->refreshed) {
			n->phase = SV_REFRESHING;
			n->reason = SV_REASON_AUTH;
			a->refresh_auth = true;
		} else {
			finish(n, a, SV_FAILED, SV_REASON_AUTH);
		}
		return;
	case 429:
	case 503:
		n->reason = SV_REASON_HTTP_STATUS;
		delay = backoff_for(p, n, n->failures++, rnd);
		if (ev->retry_after_usec > 0)
			delay = MAX(delay, MIN(ev->retry_after_usec, p->retry_after_cap_usec));
		schedule(n, a, now, delay);
		return;
	case 408:
	case 425:
		break;
	default:
		if (ev->status < 500 || ev->status > 599) {
			finish(n, a, SV_FAILED, SV_REASON_HTTP_STATUS);
			return;
		}
	}
	n->reason = SV_REASON_HTTP_STATUS;
	schedule(n, a, now, backoff_for(p, n, n->failures++, rnd));
}

static void on_closed(const struct sv_params *p, struct sv_state *n, const struct sv_event *ev,
		      uint64_t now, uint64_t rnd, struct sv_actions *a)
{
	bool was_open = n->phase == SV_OPEN;
	uint64_t lived = was_open ? now - n->opened_at : 0;
	bool is_short = !was_open || (!n->delivered && lived < p->short_session_usec);
	uint64_t delay;

	n->reason = ev->reason;
	if (was_open && lived >= p->healthy_usec)
		n->failures = 0;

	if (ev->close == SV_CLOSE_ERROR || !was_open) {
		schedule(n, a, now, backoff_for(p, n, n->failures++, rnd));
		return;
	}

	/* A clean close: the delay the server asked for... */
	switch (ev->close) {
	case SV_CLOSE_IMMEDIATE:
		delay = 0;
		break;
	case SV_CLOSE_SHUTDOWN:
		delay = p->shutdown_delay_usec;
		break;
	case SV_CLOSE_EOF:
	default:
		/* The reconnection time, with the usual spread. */
		delay = backoff_for(p, n, 0, rnd);
		break;
	}
	/* ...but a server that accepts and closes at once is throttled, never
	 * below what it asked for. */
	if (is_short) {
		uint64_t throttle = backoff_for(p, n, n->short_sessions++, rnd);

		delay = MAX(delay, throttle);
	} else {
		n->short_sessions = 0;
	}
	schedule(n, a, now, delay);
}

void sv_step(const struct sv_params *p, const struct sv_state *s, const struct sv_event *ev,
	     uint64_t now, uint64_t rnd, struct sv_state *ret_state, struct sv_actions *ret_actions)
{
	struct sv_state n = *s;
	struct sv_actions a = { 0 };
	bool in_stream = s->phase == SV_CONNECTING || s->phase == SV_OPEN;

	switch (ev->type) {
	case SV_EV_START:
		if (s->phase == SV_IDLE) {
			n.phase = SV_CONNECTING;
			n.attempt_at = now;
			a.connect = true;
		}
		break;

	case SV_EV_RESPONSE:
		if (s->phase == SV_CONNECTING)
			on_response(p, &n, ev, now, rnd, &a);
		break;

	case SV_EV_OPENED:
		if (s->phase == SV_CONNECTING) {
			n.phase = SV_OPEN;
			n.opened_at = now;
			n.delivered = false;
			n.refreshed = false;
			n.reason = SV_REASON_NONE;
		}
		break;

	case SV_EV_DELIVERED:
		if (s->phase == SV_OPEN) {
			n.delivered = true;
			n.failures = 0;
			n.short_sessions = 0;
		}
		break;

	case SV_EV_RETRY:
		n.retry_ms = ev->retry_ms;
		break;

	case SV_EV_CLOSED:
		if (in_stream)
			on_closed(p, &n, ev, now, rnd, &a);
		break;

	case SV_EV_TIMER:
		if (s->phase == SV_WAITING) {
			n.phase = SV_CONNECTING;
			n.attempt_at = now;
			a.connect = true;
		}
		break;

	case SV_EV_AUTH_REFRESHED:
		if (s->phase == SV_REFRESHING) {
			if (ev->ok) {
				n.refreshed = true;
				n.phase = SV_CONNECTING;
				n.attempt_at = now;
				n.reconnects++;
				a.connect = true;
			} else {
				finish(&n, &a, SV_FAILED, SV_REASON_AUTH);
			}
		}
		break;

	case SV_EV_FATAL:
		if (!sv_is_final(s))
			finish(&n, &a, SV_FAILED, ev->reason);
		break;

	case SV_EV_STOP:
		if (!sv_is_final(s))
			finish(&n, &a, SV_STOPPED, SV_REASON_OPERATOR);
		break;
	}

	*ret_state = n;
	*ret_actions = a;
}

const char *sv_phase_to_string(enum sv_phase p)
{
	static const char *const names[] = {
		[SV_IDLE] = "idle",
		[SV_CONNECTING] = "connecting",
		[SV_OPEN] = "open",
		[SV_WAITING] = "waiting",
		[SV_REFRESHING] = "refreshing-credentials",
		[SV_STOPPED] = "stopped",
		[SV_FAILED] = "failed",
	};

	return (unsigned)p < ELEMENTSOF(names) && names[p] ? names[p] : "unknown";
}

const char *sv_reason_to_string(enum sv_reason r)
{
	static const char *const names[] = {
		[SV_REASON_NONE] = "none",
		[SV_REASON_EOF] = "end of stream",
		[SV_REASON_TRANSPORT] = "transport error",
		[SV_REASON_IDLE] = "idle timeout",
		[SV_REASON_HTTP_STATUS] = "HTTP status",
		[SV_REASON_CONTENT_TYPE] = "wrong Content-Type",
		[SV_REASON_NO_CONTENT] = "server sent 204 No Content",
		[SV_REASON_PROTOCOL] = "protocol error",
		[SV_REASON_AUTH] = "authentication rejected",
		[SV_REASON_SERVER_CLOSE] = "server closed the stream",
		[SV_REASON_COMMIT] = "state commit failed",
		[SV_REASON_STATE] = "state file unusable",
		[SV_REASON_TRIGGER] = "trigger failed",
		[SV_REASON_GAP] = "gap in sequence",
		[SV_REASON_OPERATOR] = "stopped",
	};

	return (unsigned)r < ELEMENTSOF(names) && names[r] ? names[r] : "unknown";
}
