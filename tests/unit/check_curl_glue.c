/* SPDX-License-Identifier: MIT */
/*
 * curl_glue: real transfers against a small HTTP/1.1 server on 127.0.0.1
 * that lives in the test process and is driven by the same sd-event loop as
 * the transfers. It answers
 *
 *   /bytes/N  N bytes of a pattern that has no short period
 *   /stall    the headers and 10 of 1000 body bytes, then nothing
 *   other     "hello <path>\n"
 *
 * with Connection: close, and can hold every answer until a number of
 * requests have arrived (which only concurrent transfers can satisfy).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "curl_glue.h"
#include "macro.h"
#include "suites.h"
#include "testlib.h"

#define DEADLINE_USEC (5 * USEC_PER_SEC)
#define MAX_CONNS 64
#define STALL_SENT 10

/* ------------------------------------------------------------ the server */

struct server;

struct conn {
	struct server *srv;
	int fd;
	sd_event_source *io;
	char req[2048];
	size_t req_len;
	char *out;
	size_t out_len, out_off;
	bool have_request, responding, stall, eof;
};

struct server {
	sd_event *e;
	int fd;
	sd_event_source *io;
	uint16_t port;
	unsigned barrier;	/* hold answers until this many requests came */
	unsigned n_requests;
	unsigned n_eof;		/* connections the client closed */
	bool exit_on_eof;	/* sd_event_exit() when a connection is closed by the client */
	struct conn *conns[MAX_CONNS];
	size_t n_conns;
};

static unsigned char pattern_byte(size_t i)
{
	return (unsigned char)((i * 131) ^ (i >> 10));
}

static void conn_respond(struct conn *c)
{
	const char *path;
	char *body = NULL;
	size_t body_len, n;
	char head[256];
	int hl;

	/* "GET /path HTTP/1.1" */
	ck_assert_msg(strncmp(c->req, "GET /", 5) == 0, "request: %s", c->req);
	path = c->req + 4;
	n = strcspn(path, " ");
	if (strncmp(path, "/bytes/", 7) == 0) {
		body_len = strtoul(path + 7, NULL, 10);
		body = malloc(body_len + 1);
		ck_assert_ptr_nonnull(body);
		for (size_t i = 0; i < body_len; i++)
			body[i] = (char)pattern_byte(i);
	} else if (strncmp(path, "/stall ", 7) == 0) {
		c->stall = true;
		body = strdup("0123456789");
		body_len = STALL_SENT;
	} else {
		ck_assert_int_ge(asprintf(&body, "hello %.*s\n", (int)n, path), 0);
		body_len = strlen(body);
	}
	hl = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		      c->stall ? (size_t)1000 : body_len);
	c->out_len = (size_t)hl + body_len;
	c->out = malloc(c->out_len);
	ck_assert_ptr_nonnull(c->out);
	memcpy(c->out, head, (size_t)hl);
	memcpy(c->out + hl, body, body_len);
	free(body);
	c->responding = true;
	ck_assert_int_ge(sd_event_source_set_io_events(c->io, EPOLLIN | EPOLLOUT), 0);
}

static void conn_close(struct conn *c)
{
	c->io = sd_event_source_disable_unref(c->io);
	if (c->fd >= 0)
		ck_assert_int_eq(close(c->fd), 0);
	c->fd = -1;
}

static void server_release_held(struct server *s)
{
	for (size_t i = 0; i < s->n_conns; i++)
		if (s->conns[i]->have_request && !s->conns[i]->responding && s->conns[i]->fd >= 0)
			conn_respond(s->conns[i]);
}

static int on_conn(sd_event_source *io, int fd, uint32_t revents, void *userdata)
{
	struct conn *c = userdata;
	struct server *s = c->srv;

	(void)io;
	if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		char buf[1024];
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == ECONNRESET)
			n = 0;
		if (n < 0)
			ck_assert_msg(errno == EAGAIN, "server read: %s", strerror(errno));
		else if (n == 0) {
			c->eof = true;
			s->n_eof++;
			conn_close(c);
			if (s->exit_on_eof)
				ck_assert_int_ge(sd_event_exit(s->e, 0), 0);
			return 0;
		} else if (!c->have_request) {
			ck_assert_uint_lt(c->req_len + (size_t)n, sizeof(c->req));
			memcpy(c->req + c->req_len, buf, (size_t)n);
			c->req_len += (size_t)n;
			c->req[c->req_len] = '\0';
			if (strstr(c->req, "\r\n\r\n")) {
				c->have_request = true;
				s->n_requests++;
				if (s->n_requests >= s->barrier)
					server_release_held(s);
			}
		}
	}
	if ((revents & EPOLLOUT) && c->responding && c->out_off < c->out_len) {
		ssize_t n = write(fd, c->out + c->out_off, c->out_len - c->out_off);

		if (n < 0)
			ck_assert_msg(errno == EAGAIN, "server write: %s", strerror(errno));
		else
			c->out_off += (size_t)n;
		if (c->out_off == c->out_len) {
			if (c->stall)	/* keep it open, and listen for the client closing it */
				ck_assert_int_ge(sd_event_source_set_io_events(c->io, EPOLLIN), 0);
			else
				conn_close(c);
		}
	}
	return 0;
}

static int on_accept(sd_event_source *io, int fd, uint32_t revents, void *userdata)
{
	struct server *s = userdata;

	(void)io;
	(void)revents;
	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (cfd < 0) {
			ck_assert_msg(errno == EAGAIN, "accept: %s", strerror(errno));
			return 0;
		}
		ck_assert_uint_lt(s->n_conns, MAX_CONNS);
		c = calloc(1, sizeof(*c));
		ck_assert_ptr_nonnull(c);
		c->srv = s;
		c->fd = cfd;
		ck_assert_int_ge(sd_event_add_io(s->e, &c->io, cfd, EPOLLIN, on_conn, c), 0);
		s->conns[s->n_conns++] = c;
	}
}

static void server_start(struct server *s, sd_event *e)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);

	s->e = e;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s->fd, 0);
	ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(s->fd, MAX_CONNS), 0);
	ck_assert_int_eq(getsockname(s->fd, (struct sockaddr *)&sa, &len), 0);
	s->port = ntohs(sa.sin_port);
	ck_assert_int_ge(sd_event_add_io(e, &s->io, s->fd, EPOLLIN, on_accept, s), 0);
}

static void server_stop(struct server *s)
{
	for (size_t i = 0; i < s->n_conns; i++) {
		conn_close(s->conns[i]);
		free(s->conns[i]->out);
		free(s->conns[i]);
	}
	sd_event_source_disable_unref(s->io);
	ck_assert_int_eq(close(s->fd), 0);
	*s = (struct server){ 0 };
}

/* ------------------------------------------------------------ transfers */

/* A loop, a glue and a server on it. */
struct fixture {
	sd_event *e;
	struct curl_glue *g;
	struct server srv;
	unsigned finished;	/* transfers done */
	unsigned expected;	/* sd_event_exit() when finished reaches it */
};

struct xfer {
	struct fixture *f;
	CURL *easy;
	char *body;
	size_t body_len;
	int done_calls;
	CURLcode result;
	long http_code;
	bool cleanup_in_done;	/* curl_easy_cleanup() inside done */
	bool exit_on_data;	/* sd_event_exit() at the first body bytes */
	sd_event_source *remove_soon;	/* removes the transfer from the loop */

	/* pausing */
	unsigned pause_every;	/* return CURL_WRITEFUNC_PAUSE on every Nth call */
	unsigned writes, pauses;
	bool paused, in_unpause;
	int early_writes;	/* write calls while paused and not unpausing: must stay 0 */
	sd_event_source *unpause;
};

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nmemb;

	if (x->paused && !x->in_unpause)
		x->early_writes++;
	x->writes++;
	if (x->pause_every && x->writes % x->pause_every == 0) {
		/* Not consumed: curl hands the same bytes again after unpause. */
		x->paused = true;
		x->pauses++;
		ck_assert_int_ge(sd_event_source_set_time_relative(x->unpause, USEC_PER_MSEC), 0);
		ck_assert_int_ge(sd_event_source_set_enabled(x->unpause, SD_EVENT_ONESHOT), 0);
		return CURL_WRITEFUNC_PAUSE;
	}
	x->body = realloc(x->body, x->body_len + n + 1);
	ck_assert_ptr_nonnull(x->body);
	memcpy(x->body + x->body_len, ptr, n);
	x->body_len += n;
	x->body[x->body_len] = '\0';
	if (x->exit_on_data)
		ck_assert_int_ge(sd_event_exit(x->f->e, 0), 0);
	if (x->remove_soon)
		ck_assert_int_ge(sd_event_source_set_enabled(x->remove_soon, SD_EVENT_ONESHOT), 0);
	return n;
}

static void on_done(CURL *easy, CURLcode result, void *userdata)
{
	struct xfer *x = userdata;

	ck_assert_ptr_eq(easy, x->easy);
	x->done_calls++;
	x->result = result;
	ck_assert_int_eq(curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &x->http_code), CURLE_OK);
	if (x->cleanup_in_done) {
		/* Already out of the multi: the owner may free it right here. */
		curl_easy_cleanup(easy);
		x->easy = NULL;
	}
	if (++x->f->finished == x->f->expected)
		ck_assert_int_ge(sd_event_exit(x->f->e, 0), 0);
}

static int on_unpause(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct xfer *x = userdata;

	(void)s;
	(void)usec;
	ck_assert(x->paused);
	x->paused = false;
	x->in_unpause = true;	/* curl may deliver from inside the call */
	ck_assert_int_eq(curl_glue_unpause(x->f->g, x->easy), 0);
	x->in_unpause = false;
	return 0;
}

static int on_remove_soon(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct xfer *x = userdata;

	(void)s;
	(void)usec;
	curl_glue_remove(x->f->g, x->easy);
	return 0;
}

/* A GET of path from port (the fixture's server unless told otherwise). */
static void xfer_init(struct xfer *x, struct fixture *f, uint16_t port, const char *path)
{
	char url[128];

	*x = (struct xfer){ .f = f, .result = CURL_LAST };
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)port, path);
	x->easy = curl_easy_init();
	ck_assert_ptr_nonnull(x->easy);
	ck_assert_int_eq(curl_easy_setopt(x->easy, CURLOPT_URL, url), CURLE_OK);
	ck_assert_int_eq(curl_easy_setopt(x->easy, CURLOPT_PROXY, ""), CURLE_OK);	/* not $http_proxy */
	ck_assert_int_eq(curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L), CURLE_OK);
	ck_assert_int_eq(curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_write), CURLE_OK);
	ck_assert_int_eq(curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x), CURLE_OK);
}

static void xfer_add(struct xfer *x)
{
	ck_assert_int_eq(curl_glue_add(x->f->g, x->easy, on_done, x), 0);
	ck_assert_int_eq(x->done_calls, 0);	/* never from inside add */
}

static void xfer_free(struct xfer *x)
{
	if (x->easy)
		curl_easy_cleanup(x->easy);
	sd_event_source_disable_unref(x->unpause);
	sd_event_source_disable_unref(x->remove_soon);
	free(x->body);
}

static void fixture_init(struct fixture *f)
{
	ck_assert_int_ge(sd_event_new(&f->e), 0);
	ck_assert_int_eq(curl_glue_new(f->e, &f->g), 0);
	ck_assert_uint_eq(curl_glue_count(f->g), 0);
	server_start(&f->srv, f->e);
	f->finished = 0;
	f->expected = 1;
}

/* Every transfer must be over (or removed) by now. */
static void fixture_free(struct fixture *f)
{
	ck_assert_uint_eq(curl_glue_count(f->g), 0);
	f->g = curl_glue_free(f->g);
	ck_assert_ptr_null(f->g);
	server_stop(&f->srv);
	f->e = sd_event_unref(f->e);
}

static void global_init(void)
{
	ck_assert_int_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
}

static void global_cleanup(void)
{
	curl_global_cleanup();
}

/* ------------------------------------------------------------ tests */

START_TEST(test_ms_rounds_up)
{
	ck_assert_int_eq(curl_glue_ms(0), 0);
	ck_assert_int_eq(curl_glue_ms(1), 1);		/* not 0, which would mean no limit */
	ck_assert_int_eq(curl_glue_ms(999), 1);
	ck_assert_int_eq(curl_glue_ms(1000), 1);
	ck_assert_int_eq(curl_glue_ms(1001), 2);
	ck_assert_int_eq(curl_glue_ms(30 * 1000000ULL), 30000);
	ck_assert_int_eq(curl_glue_ms(UINT64_MAX), (long)(UINT64_MAX / 1000 + 1));	/* LP64 */
}
END_TEST

START_TEST(test_new_and_free_empty)
{
	sd_event *e = NULL;
	struct curl_glue *g = NULL;

	ck_assert_int_ge(sd_event_new(&e), 0);
	ck_assert_int_eq(curl_glue_new(e, &g), 0);
	ck_assert_ptr_nonnull(g);
	ck_assert_uint_eq(curl_glue_count(g), 0);
	ck_assert_ptr_null(curl_glue_free(g));
	ck_assert_ptr_null(curl_glue_free(NULL));
	sd_event_unref(e);
}
END_TEST

START_TEST(test_one_get)
{
	struct fixture f = { 0 };
	struct xfer x;

	fixture_init(&f);
	xfer_init(&x, &f, f.srv.port, "/hello");
	xfer_add(&x);
	ck_assert_uint_eq(curl_glue_count(f.g), 1);
	ck_assert_int_eq(loop_run_bounded(f.e, DEADLINE_USEC), 0);
	ck_assert_int_eq(x.done_calls, 1);
	ck_assert_int_eq(x.result, CURLE_OK);
	ck_assert_int_eq(x.http_code, 200);
	ck_assert_str_eq(x.body, "hello /hello\n");
	ck_assert_uint_eq(curl_glue_count(f.g), 0);
	/* Done means out of the glue: removing it now is a no-op. */
	curl_glue_remove(f.g, x.easy);
	curl_glue_remove(f.g, NULL);
	ck_assert_uint_eq(curl_glue_count(f.g), 0);
	xfer_free(&x);
	fixture_free(&f);
}
END_TEST

START_TEST(test_twenty_concurrent)
{
	enum { N = 20 };
	struct fixture f = { 0 };
	struct xfer x[N];

	fixture_init(&f);
	/* No answer until all twenty asked: one at a time would never finish. */
	f.srv.barrier = N;
	f.expected = N;
	for (int i = 0; i < N; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/item/%d", i);
		xfer_init(&x[i], &f, f.srv.port, path);
		x[i].cleanup_in_done = i % 2 == 0;
		xfer_add(&x[i]);
		ck_assert_uint_eq(curl_glue_count(f.g), (unsigned)i + 1);
	}
	ck_assert_int_eq(loop_run_bounded(f.e, DEADLINE_USEC), 0);
	ck_assert_uint_eq(f.finished, N);
	ck_assert_uint_eq(f.srv.n_requests, N);
	ck_assert_uint_eq(f.srv.n_conns, N);
	for (int i = 0; i < N; i++) {
		char expect[32];

		snprintf(expect, sizeof(expect), "hello /item/%d\n", i);
		ck_assert_int_eq(x[i].done_calls, 1);
		ck_assert_int_eq(x[i].result, CURLE_OK);
		ck_assert_str_eq(x[i].body, expect);
		ck_assert(x[i].cleanup_in_done == (x[i].easy == NULL));
		xfer_free(&x[i]);
	}
	ck_assert_uint_eq(curl_glue_count(f.g), 0);
	fixture_free(&f);
}
END_TEST

START_TEST(test_connection_refused)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	struct fixture f = { 0 };
	struct xfer x;
	/* Bound but not listening, kept for the test: nobody else can take the port. */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);

	fixture_init(&f);
	xfer_init(&x, &f, ntohs(sa.sin_port), "/");
	xfer_add(&x);
	ck_assert_int_eq(loop_run_bounded(f.e, DEADLINE_USEC), 0);
	ck_assert_int_eq(x.done_calls, 1);
	ck_assert_int_eq(x.result, CURLE_COULDNT_CONNECT);
	ck_assert_ptr_null(x.body);
	ck_assert_uint_eq(curl_glue_count(f.g), 0);
	xfer_free(&x);
	fixture_free(&f);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_remove_running_from_loop)
{
	struct fixture f = { 0 };
	struct xfer x;

	fixture_init(&f);
	xfer_init(&x, &f, f.srv.port, "/stall");
	/* At the first body bytes, a timer (not the write callback) removes it;
	 * the loop ends when the server sees curl close the connection. */
	ck_assert_int_ge(sd_event_add_time_relative(f.e, &x.remove_soon, CLOCK_MONOTONIC, 0, 1, on_remove_soon, &x),
			 0);
	ck_assert_int_ge(sd_event_source_set_enabled(x.remove_soon, SD_EVENT_OFF), 0);
	f.srv.exit_on_eof = true;
	xfer_add(&x);
	ck_assert_uint_eq(curl_glue_count(f.g), 1);
	ck_assert_int_eq(loop_run_bounded(f.e, DEADLINE_USEC), 0);
	ck_assert_str_eq(x.body, "0123456789");
	ck_assert_uint_eq(f.srv.n_eof, 1);
	ck_assert_int_eq(x.done_calls, 0);
	ck_assert_uint_eq(curl_glue_count(f.g), 0);
	curl_glue_remove(f.g, x.easy);	/* again: a no-op */
	ck_assert_uint_eq(curl_glue_count(f.g), 0);
	xfer_free(&x);
	fixture_free(&f);
}
END_TEST

START_TEST(test_remove_running_after_loop_ended)
{
	struct fixture f = { 0 };
	struct xfer x;
	struct pollfd pfd;
	char c;

	/* As at shutdown: the loop has finished, then the owners remove their
	 * transfers and free the glue. Leaks show under valgrind and ASan. */
	fixture_init(&f);
	xfer_init(&x, &f, f.srv.port, "/stall");
	x.exit_on_data = true;
	xfer_add(&x);
	ck_assert_int_eq(loop_run_bounded(f.e, DEADLINE_USEC), 0);
	ck_assert_str_eq(x.body, "0123456789");
	ck_assert_uint_eq(f.srv.n_conns, 1);
	curl_glue_remove(f.g, x.easy);
	ck_assert_uint_eq(curl_glue_count(f.g), 0);
	ck_assert_int_eq(x.done_calls, 0);
	curl_easy_cleanup(x.easy);
	x.easy = NULL;
	/* The client's end is closed: the server's end reads EOF (the loop is over: ask directly). */
	pfd = (struct pollfd){ .fd = f.srv.conns[0]->fd, .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_eq(read(pfd.fd, &c, 1), 0);
	xfer_free(&x);
	fixture_free(&f);
}
END_TEST

START_TEST(test_pause_and_unpause)
{
	enum { SIZE = 256 * 1024 };
	struct fixture f = { 0 };
	struct xfer x;

	fixture_init(&f);
	xfer_init(&x, &f, f.srv.port, "/bytes/262144");
	x.pause_every = 3;
	ck_assert_int_ge(sd_event_add_time_relative(f.e, &x.unpause, CLOCK_MONOTONIC, 0, 1, on_unpause, &x), 0);
	ck_assert_int_ge(sd_event_source_set_enabled(x.unpause, SD_EVENT_OFF), 0);
	xfer_add(&x);
	ck_assert_int_eq(loop_run_bounded(f.e, DEADLINE_USEC), 0);
	ck_assert_int_eq(x.done_calls, 1);
	ck_assert_int_eq(x.result, CURLE_OK);
	ck_assert_uint_ge(x.pauses, 3);
	ck_assert_int_eq(x.early_writes, 0);
	ck_assert(!x.paused);
	/* Every byte once, in order. */
	ck_assert_uint_eq(x.body_len, SIZE);
	for (size_t i = 0; i < SIZE; i++)
		if ((unsigned char)x.body[i] != pattern_byte(i))
			ck_abort_msg("byte %zu is %u, expected %u", i, (unsigned char)x.body[i], pattern_byte(i));
	xfer_free(&x);
	fixture_free(&f);
}
END_TEST

START_TEST(test_reuse_handle_after_done)
{
	struct fixture f = { 0 };
	struct xfer x;
	char url[64];

	/* An easy handle that finished can be added again, here to a second glue. */
	fixture_init(&f);
	xfer_init(&x, &f, f.srv.port, "/first");
	xfer_add(&x);
	ck_assert_int_eq(loop_run_bounded(f.e, DEADLINE_USEC), 0);
	ck_assert_str_eq(x.body, "hello /first\n");
	fixture_free(&f);

	fixture_init(&f);	/* x.f is &f still: a new loop, glue and server */
	x.done_calls = 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/second", (unsigned)f.srv.port);
	ck_assert_int_eq(curl_easy_setopt(x.easy, CURLOPT_URL, url), CURLE_OK);
	xfer_add(&x);
	ck_assert_int_eq(loop_run_bounded(f.e, DEADLINE_USEC), 0);
	ck_assert_int_eq(x.done_calls, 1);
	ck_assert_int_eq(x.result, CURLE_OK);
	ck_assert_str_eq(x.body, "hello /first\nhello /second\n");
	xfer_free(&x);
	fixture_free(&f);
}
END_TEST

Suite *curl_glue_suite(void)
{
	Suite *s = suite_create("curl_glue");
	TCase *tc = tcase_create("core");

	/* Once per process: in the runner before it forks, or once with CK_FORK=no. */
	tcase_add_unchecked_fixture(tc, global_init, global_cleanup);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_new_and_free_empty);
	tcase_add_test(tc, test_one_get);
	tcase_add_test(tc, test_twenty_concurrent);
	tcase_add_test(tc, test_connection_refused);
	tcase_add_test(tc, test_remove_running_from_loop);
	tcase_add_test(tc, test_remove_running_after_loop_ended);
	tcase_add_test(tc, test_pause_and_unpause);
	tcase_add_test(tc, test_reuse_handle_after_done);
	tcase_add_test(tc, test_ms_rounds_up);
	suite_add_tcase(s, tc);
	return s;
}
