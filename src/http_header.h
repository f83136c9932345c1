/* SPDX-License-Identifier: MIT */
/*
 * http_header: reading the few response header lines the daemon acts on, as
 * libcurl hands them over (one line each, CRLF included, not NUL-terminated).
 * Pure: bounded by the length given, the clock passed in.
 */
#ifndef SSEWATCHD_HTTP_HEADER_H
#define SSEWATCHD_HTTP_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A status line ("HTTP/1.1 200 OK", "HTTP/2 204"): its three-digit status; 0 if line is none. */
int http_status_line(const char *line, size_t len);

/*
 * If line is header name's (case-insensitive), its value without the
 * white space and line end around it, in *ret_value (pointing into line)
 * and *ret_len. False otherwise.
 */
bool http_header_value(const char *line, size_t len, const char *name, const char **ret_value, size_t *ret_len);

/* Whether a Content-Type value is text/event-stream (parameters aside). */
bool http_media_type_is_event_stream(const char *v, size_t len);

/* A Retry-After value (seconds, or an HTTP-date) as a wait in usec from now_usec (CLOCK_REALTIME); 0 if none. */
uint64_t http_retry_after_usec(const char *v, size_t len, uint64_t now_usec);

/* An X-Request-ID value kept for the log: its printable bytes, cut to fit out[size]. */
void http_request_id(const char *v, size_t len, char *out, size_t size);

#endif
