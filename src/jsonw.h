/* SPDX-License-Identifier: MIT */
/*
 * jsonw: writes JSON exactly as jansson's json_dumps(j, JSON_COMPACT |
 * JSON_SORT_KEYS) does (the same bytes: state files must not change with
 * the writer), but a good deal faster: runs of plain bytes are copied
 * whole instead of being passed through a callback one code point at a time.
 * Every notification is serialised once on its way into the state file, so
 * this is on the hot path.
 */
#ifndef SSEWATCHD_JSONW_H
#define SSEWATCHD_JSONW_H

#include <jansson.h>
#include <stdbool.h>

#include "dbuf.h"

/* Appends j to out. -ENOMEM, -E2BIG (out's cap), or -EINVAL (a string that is not valid UTF-8). */
int jsonw_append(struct dbuf *out, const json_t *j);

/* Appends s (len bytes, valid UTF-8 the caller checked) as a JSON string. -ENOMEM or -E2BIG. */
int jsonw_append_string(struct dbuf *out, const char *s, size_t len);

/* For tests: escapes with SSSE3's byte shuffle (the default where the CPU
 * has it) or without. False if that way is not available here. */
bool jsonw_shuffle_escaping(bool on);

/* A new NUL-terminated string, or NULL. */
char *jsonw_dumps(const json_t *j);

/* Takes b's contents (never NULL-buffered: append first) trimmed to their size; b is left empty. */
char *jsonw_shrink(struct dbuf *b);

#endif
