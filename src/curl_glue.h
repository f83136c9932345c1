/* SPDX-License-Identifier: MIT */
/*
 * curl_glue: hosts libcurl multi transfers in an sd-event loop, through
 * CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION. It knows nothing of SSE or
 * of what the transfers carry: owners configure their easy handles, add them,
 * and hear once, from the loop (never from inside a curl callback), that a
 * transfer finished.
 *
 * Owners must not use CURLOPT_PRIVATE, which the glue uses for itself.
 */
#ifndef SSEWATCHD_CURL_GLUE_H
#define SSEWATCHD_CURL_GLUE_H

#include <curl/curl.h>
#include <stdint.h>
#include <systemd/sd-event.h>

struct curl_glue;

/* The transfer ended with result; the handle was already removed from the multi. */
typedef void (*curl_glue_done_fn)(CURL *easy, CURLcode result, void *userdata);

int curl_glue_new(sd_event *e, struct curl_glue **ret);

/* Every transfer must have been removed (or finished) before this. */
struct curl_glue *curl_glue_free(struct curl_glue *g);

int curl_glue_add(struct curl_glue *g, CURL *easy, curl_glue_done_fn done, void *userdata);

/* Stops a transfer without calling done. Not from inside a curl callback. */
void curl_glue_remove(struct curl_glue *g, CURL *easy);

/*
 * Resumes a transfer paused by its write callback (CURL_WRITEFUNC_PAUSE).
 * curl may call the write callback again from inside this call, so it must
 * be called from the loop, never from a curl callback.
 */
int curl_glue_unpause(struct curl_glue *g, CURL *easy);

/* The loop the glue runs in. */
sd_event *curl_glue_event(const struct curl_glue *g);

/* A duration for curl's *_MS options: rounded up, as 0 would mean no limit
 * at all (0 stays 0, which does mean that). */
long curl_glue_ms(uint64_t usec);

/* Transfers running now. */
unsigned curl_glue_count(const struct curl_glue *g);

#endif
