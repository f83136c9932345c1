/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "curl_glue.h"
#include "macro.h"

/* Ready sockets handled per dispatch of the glue's epoll source. */
#define READY_BATCH 256

/*
 * curl's sockets live in an epoll instance of our own, which sd-event sees as
 * one io source. sd-event dispatches one source per iteration and re-polls
 * its epoll set each time: with a source per socket, thousands of sockets
 * ready at once (a mass connect or reconnect) cost O(n) per iteration, O(n²)
 * in all. Here one dispatch hands up to READY_BATCH ready sockets to curl.
 */
struct curl_glue {
	sd_event *event;
	CURLM *multi;
	sd_event_source *timer;
	sd_event_source *io;
	int epoll_fd;
	unsigned count;
};

/* What CURLOPT_PRIVATE points at. */
struct transfer {
	curl_glue_done_fn done;
	void *userdata;
};

/* curl calls its timer callback from curl_multi_remove_handle() and
 * curl_multi_cleanup() too, when the loop may already be finished; arming
 * the timer is pointless then. */
static bool loop_dead(struct curl_glue *g)
{
	return sd_event_get_state(g->event) == SD_EVENT_FINISHED;
}

static void check_finished(struct curl_glue *g)
{
	CURLMsg *msg;
	int left;

	/* Called from our own io/timer handlers after socket_action returned,
	 * so done callbacks run outside any curl callback and may remove,
	 * free or add handles. */
	while ((msg = curl_multi_info_read(g->multi, &left))) {
		struct transfer *t = NULL;
		CURL *easy = msg->easy_handle;
		CURLcode result = msg->data.result;

		if (msg->msg != CURLMSG_DONE)
			continue;
		(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
		(void)curl_multi_remove_handle(g->multi, easy);
		(void)curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		g->count--;
		if (t) {
			curl_glue_done_fn done = t->done;
			void *userdata = t->userdata;

			free(t);
			done(easy, result, userdata);
		}
	}
}

static int action_of(uint32_t revents)
{
	int action = 0;

	if (revents & EPOLLIN)
		action |= CURL_CSELECT_IN;
	if (revents & EPOLLOUT)
		action |= CURL_CSELECT_OUT;
	/* Errors and hang-ups go to curl, or a transfer can spin or hang. With
	 * IN also set curl still reads what is left before failing. */
	if (revents & (EPOLLERR | EPOLLHUP))
		action |= CURL_CSELECT_ERR;
	return action;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct curl_glue *g = userdata;
	struct epoll_event ready[READY_BATCH];
	int n, running;

	(void)s;
	(void)fd;
	(void)revents;
	n = epoll_wait(g->epoll_fd, ready, READY_BATCH, 0);
	/* A socket closed (and maybe reused) since it became ready is
	 * unknown to curl, or harmlessly found not ready: no check needed. */
	for (int i = 0; i < n; i++)
		(void)curl_multi_socket_action(g->multi, ready[i].data.fd, action_of(ready[i].events), &running);
	check_finished(g);
	return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct curl_glue *g = userdata;
	int running;

	(void)s;
	(void)usec;
	(void)curl_multi_socket_action(g->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_finished(g);
	return 0;
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct curl_glue *g = userp;
	struct epoll_event ev = { .data.fd = fd };

	(void)easy;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		/* The fd may already be closed (epoll dropped it then) or even
		 * reused; a failing EPOLL_CTL_DEL is what we want. */
		(void)epoll_ctl(g->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev.events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev.events |= EPOLLOUT;
	/* curl_multi_assign marks the sockets we registered; EEXIST and ENOENT
	 * still happen when curl closes and reopens a socket under the same
	 * number, so each falls back to the other operation. */
	if (epoll_ctl(g->epoll_fd, socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0) {
		if (errno != ENOENT && errno != EEXIST)
			/* Returning -1 would abort every transfer on the multi
			 * handle; this one will time out on its own instead. */
			return 0;
		if (epoll_ctl(g->epoll_fd, errno == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) < 0)
			return 0;
	}
	if (!socketp)
		(void)curl_multi_assign(g->multi, fd, g);
	return 0;
}

static int on_timer_change(CURLM *multi, long timeout_ms, void *userp)
{
	struct curl_glue *g = userp;

	(void)multi;
	if (loop_dead(g))
		return 0;
	if (timeout_ms < 0)
		return sd_event_source_set_enabled(g->timer, SD_EVENT_OFF) < 0 ? -1 : 0;

	/* Never call socket_action from here (curl forbids the recursion):
	 * a zero timeout becomes a timer that fires on the next iteration. */
	if (sd_event_source_set_time_relative(g->timer, (uint64_t)timeout_ms * USEC_PER_MSEC) < 0)
		return -1;
	return sd_event_source_set_enabled(g->timer, SD_EVENT_ONESHOT) < 0 ? -1 : 0;
}

int curl_glue_new(sd_event *e, struct curl_glue **ret)
{
	struct curl_glue *g;
	int r;

	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->epoll_fd = -1;
	g->event = sd_event_ref(e);
	g->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (g->epoll_fd < 0) {
		r = -errno;
		curl_glue_free(g);
		return r;
	}
	r = sd_event_add_io(e, &g->io, g->epoll_fd, EPOLLIN, on_io, g);
	if (r < 0) {
		curl_glue_free(g);
		return r;
	}
	(void)sd_event_source_set_description(g->io, "curl-sockets");
	g->multi = curl_multi_init();
	if (!g->multi) {
		curl_glue_free(g);
		return -ENOMEM;
	}
	/* 1 ms accuracy: curl's timeouts are in milliseconds, and sd-event's
	 * default slack of 250 ms would delay them. */
	r = sd_event_add_time(e, &g->timer, CLOCK_MONOTONIC, 0, USEC_PER_MSEC, on_timer, g);
	if (r < 0) {
		curl_glue_free(g);
		return r;
	}
	(void)sd_event_source_set_enabled(g->timer, SD_EVENT_OFF);
	(void)sd_event_source_set_description(g->timer, "curl-timer");

	if (curl_multi_setopt(g->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
	    curl_multi_setopt(g->multi, CURLMOPT_SOCKETDATA, g) != CURLM_OK ||
	    curl_multi_setopt(g->multi, CURLMOPT_TIMERFUNCTION, on_timer_change) != CURLM_OK ||
	    curl_multi_setopt(g->multi, CURLMOPT_TIMERDATA, g) != CURLM_OK) {
		curl_glue_free(g);
		return -EINVAL;
	}
	*ret = g;
	return 0;
}

struct curl_glue *curl_glue_free(struct curl_glue *g)
{
	if (!g)
		return NULL;
	if (g->multi)
		(void)curl_multi_cleanup(g->multi);
	sd_event_source_disable_unref(g->timer);
	sd_event_source_disable_unref(g->io);
	if (g->epoll_fd >= 0)
		(void)close(g->epoll_fd);
	sd_event_unref(g->event);
	free(g);
	return NULL;
}

int curl_glue_add(struct curl_glue *g, CURL *easy, curl_glue_done_fn done, void *userdata)
{
	struct transfer *t;

	t = malloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	*t = (struct transfer){ .done = done, .userdata = userdata };
	if (curl_easy_setopt(easy, CURLOPT_PRIVATE, t) != CURLE_OK ||
	    curl_multi_add_handle(g->multi, easy) != CURLM_OK) {
		(void)curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		free(t);
		return -EINVAL;
	}
	g->count++;
	return 0;
}

void curl_glue_remove(struct curl_glue *g, CURL *easy)
{
	struct transfer *t = NULL;

	if (!easy)
		return;
	(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
	if (!t)
		return;		/* not ours, or already finished */
	(void)curl_multi_remove_handle(g->multi, easy);
	(void)curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
	free(t);
	g->count--;
}

int curl_glue_unpause(struct curl_glue *g, CURL *easy)
{
	(void)g;
	return curl_easy_pause(easy, CURLPAUSE_CONT) == CURLE_OK ? 0 : -EIO;
}

sd_event *curl_glue_event(const struct curl_glue *g)
{
	return g->event;
}

unsigned curl_glue_count(const struct curl_glue *g)
{
	return g->count;
}

long curl_glue_ms(uint64_t usec)
{
	uint64_t ms = usec / USEC_PER_MSEC + (usec % USEC_PER_MSEC != 0);

	return ms > (uint64_t)LONG_MAX ? LONG_MAX : (long)ms;
}
