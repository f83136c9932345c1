/* SPDX-License-Identifier: MIT */
/*
 * The aviso notification's text as the aviso module made it before
 * notif_aviso_format(): the tree built with json_pack(), then written by
 * jsonw. The unit test and the fuzz target hold the new text to it, byte for
 * byte. NULL if ce has no "<type>@<seq>" id, or on OOM.
 */
#ifndef SSEWATCHD_TESTS_AVISO_TREE_H
#define SSEWATCHD_TESTS_AVISO_TREE_H

#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "jsonw.h"

static inline char *aviso_tree_text(const json_t *ce, const char *event, uint64_t seq)
{
	const json_t *data = json_object_get(ce, "data");
	const char *id = json_string_value(json_object_get(ce, "id"));
	json_t *n, *empty;
	char *text;

	if (!id || !strrchr(id, '@') || !(empty = json_object()))
		return NULL;
	/* "O" takes a reference of its own: empty is let go of below. */
	n = json_pack("{s:O, s:s, s:s%, s:s, s:O, s:O, s:I, s:O}", "cloudevent", ce, "event", event, "event_type", id,
		      (size_t)(strrchr(id, '@') - id), "id", id, "identifier",
		      json_object_get(data, "identifier") ?: empty, "payload",
		      json_object_get(data, "payload") ?: json_null(), "sequence", (json_int_t)seq, "time",
		      json_object_get(ce, "time") ?: json_null());
	json_decref(empty);
	text = n ? jsonw_dumps(n) : NULL;
	json_decref(n);
	return text;
}

#endif
