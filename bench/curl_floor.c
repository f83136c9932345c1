/* SPDX-License-Identifier: MIT */
/*
 * The memory floor of a libcurl client that holds idle SSE streams: COUNT
 * GET transfers of BASE/sub/c<i> in one multi handle, each with the 64 KiB
 * receive buffer ssewatchd gives a per_event listener and the Accept header
 * an EventSource sends, and nothing else of its own: what arrives is
 * dropped. Its resident memory per transfer is what any client built on
 * this libcurl pays, with one HTTP/1.1 connection per stream as ssewatchd
 * has, before keeping anything of its own.
 *
 *   curl_floor BASE COUNT [BUFFER [h2 [CAFILE]]]
 *                      runs until SIGTERM; prints "started COUNT"
 *
 * BUFFER (bytes, default 65536) sets CURLOPT_BUFFERSIZE: 1024, the least
 * libcurl accepts, gives the floor of any such client on this libcurl.
 *
 * h2 asks whether HTTP/2 would lower that floor by sharing connections:
 * the streams are multiplexed, up to 1,000 on a connection (an https BASE
 * negotiates h2, trusting CAFILE; an http BASE uses prior knowledge, which
 * libcurl 7.88 cannot reuse: curl issue 10634).
 *
 * The transfers are added at once and driven with curl_multi_poll(): that
 * costs CPU with thousands of sockets, but no memory per transfer. A
 * transfer that ends (nginx refused it while thousands connected) starts
 * again, as ssewatchd's listeners do.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define BUFFER_SIZE (64 * 1024)		/* ssewatchd's READ_SIZE (per_event) */
#define BUFFER_MIN 1024			/* CURL_MIN_BUFFERSIZE */
#define BUFFER_MAX (10 * 1024 * 1024)	/* CURL_MAX_READ_SIZE */

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static size_t drop(char *data, size_t size, size_t nmemb, void *userdata)
{
	(void)data;
	(void)userdata;
	return size * nmemb;
}

int main(int argc, char **argv)
{
	struct curl_slist *headers = NULL;
	struct rlimit rl;
	CURLM *multi;
	long count, buffer = BUFFER_SIZE;
	bool h2 = argc >= 5 && strcmp(argv[4], "h2") == 0;
	const char *cafile = argc == 6 ? argv[5] : NULL;
	char url[1024];

	if (argc < 3 || argc > 6 || (argc >= 5 && !h2) || (count = strtol(argv[2], NULL, 10)) < 1 ||
	    (argc >= 4 && ((buffer = strtol(argv[3], NULL, 10)) < BUFFER_MIN || buffer > BUFFER_MAX))) {
		fprintf(stderr, "usage: curl_floor BASE COUNT [BUFFER [h2 [CAFILE]]]  (BUFFER: %d..%d bytes)\n",
			BUFFER_MIN, BUFFER_MAX);
		return 2;
	}
	/* One socket per transfer: as many as the hard limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(multi = curl_multi_init()))
		return 1;
	if (h2 && curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS, 1000L) != CURLM_OK)
		return 1;
	headers = curl_slist_append(headers, "Accept: text/event-stream");
	if (!headers)
		return 1;
	for (long i = 0; i < count; i++) {
		CURL *e = curl_easy_init();

		if (!e)
			return 1;
		snprintf(url, sizeof(url), "%s/sub/c%ld", argv[1], i);
		/* The options of ssewatchd's that shape a transfer. */
		curl_easy_setopt(e, CURLOPT_URL, url);
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		if (h2) {
			bool tls = strncmp(argv[1], "https:", 6) == 0;

			curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)(tls ? CURL_HTTP_VERSION_2TLS
									: CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE));
			curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
			if (cafile)
				curl_easy_setopt(e, CURLOPT_CAINFO, cafile);
		} else {
			curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
			curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
			curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
		}
		curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(e, CURLOPT_BUFFERSIZE, buffer);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, drop);
		if (curl_multi_add_handle(multi, e) != CURLM_OK)
			return 1;
	}
	printf("started %ld\n", count);
	fflush(stdout);
	while (!stop) {
		CURLMsg *msg;
		int running, left;

		if (curl_multi_perform(multi, &running) != CURLM_OK)
			return 1;
		while ((msg = curl_multi_info_read(multi, &left)))
			if (msg->msg == CURLMSG_DONE) {
				CURL *e = msg->easy_handle;

				curl_multi_remove_handle(multi, e);
				if (curl_multi_add_handle(multi, e) != CURLM_OK)
					return 1;
			}
		if (curl_multi_poll(multi, NULL, 0, 1000, NULL) != CURLM_OK)
			return 1;
	}
	/* Killed while measured: nothing to clean up that the exit does not. */
	return 0;
}
