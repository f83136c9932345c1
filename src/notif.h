/* SPDX-License-Identifier: MIT */
/*
 * notif: a notification as it is stored in the state file and handed to
 * triggers. It is a JSON object:
 *
 *   sse:   {"event":"message","id":"42"|null,"data":"..."}
 *          (data that is not valid UTF-8 is kept as "data_base64")
 *   aviso: {"event":"live-notification","event_type":"mars","sequence":42,
 *           "id":"mars@42","identifier":{...},"payload":...,"time":"...",
 *           "cloudevent":{...}}
 *
 * From it come a trigger's stdin, its environment and the JSON line of the
 * log and echo triggers.
 */
#ifndef SSEWATCHD_NOTIF_H
#define SSEWATCHD_NOTIF_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "dbuf.h"

/* A new sse notification. id_set=false: no id was ever given (null). */
json_t *notif_sse_new(const char *event, size_t event_len, const char *data, size_t data_len,
		      bool id_set, const char *id, size_t id_len);

/* A scratch buffer for notif_sse_text() keeps at most this much between calls. */
#define NOTIF_SCRATCH_KEEP (128 * 1024)

/*
 * The same notification as compact JSON with sorted keys, byte for byte what
 * jsonw_dumps(notif_sse_new(...)) gives, without building it.
 * NUL-terminated; its length in *ret_len. NULL on OOM. scratch (may be NULL)
 * is a buffer the caller keeps from one call to the next.
 */
char *notif_sse_text(const char *event, size_t event_len, const char *data, size_t data_len,
		     bool id_set, const char *id, size_t id_len, struct dbuf *scratch, size_t *ret_len);

/*
 * The same text written into b (its contents replaced; its cap applies): the
 * sse hot path, which copies it from there. 0, or negative errno.
 */
int notif_sse_format(const char *event, size_t event_len, const char *data, size_t data_len, bool id_set,
		     const char *id, size_t id_len, struct dbuf *b);

/*
 * The aviso notification of a CloudEvent ce that came as SSE event `event`,
 * as compact JSON with sorted keys, byte for byte what jsonw_append() writes
 * of the object above, without building it. ce's "id" is
 * "<event_type>@<sequence>" and sequence is the number after its last '@'
 * (the caller parsed it, at most INT64_MAX). The text replaces b's contents
 * (its cap applies). 0, or negative errno (-EINVAL: no such id).
 */
int notif_aviso_format(const json_t *ce, const char *event, uint64_t sequence, struct dbuf *b);

/* The SSE event name ("event" member); "" if absent. */
const char *notif_event_name(const json_t *n);

/* SSEWATCHD_EVENT_ID: sse the event id ("" if none), aviso "<type>@<seq>". */
const char *notif_event_id(const json_t *n);

/* What the command trigger gets on stdin: sse the raw data, aviso the JSON. */
int notif_stdin(const json_t *n, enum cfg_protocol protocol, char **ret, size_t *ret_len);

/* Adds SSEWATCHD_* (and for aviso AVISO_*) variables to an environment array. */
int notif_env(const json_t *n, enum cfg_protocol protocol, const char *listener, char ***env);

/* The object the log and echo triggers write: the notification plus "listener". */
json_t *notif_record(const json_t *n, enum cfg_protocol protocol, const char *listener);

/* Base64 (RFC 4648, with padding). decode returns -EINVAL on bad input. */
char *base64_encode(const void *data, size_t len);
int base64_decode(const char *s, size_t len, char **ret, size_t *ret_len);

#endif
