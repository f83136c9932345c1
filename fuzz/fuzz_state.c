/* SPDX-License-Identifier: MIT */
// fuzz-sources: src/state.c src/dbuf.c src/strv.c src/util.c src/jsonw.c src/uring.c
/*
 * libFuzzer target for the state file parser. Beyond "does not crash", it
 * checks what the daemon relies on: a file that is accepted is exactly what
 * the state writes back (to_json gives the document that was read), and what
 * is written is accepted again and reads back the same. A rejected file
 * always comes with a message naming the file.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SOURCE "fuzz.json"

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_state: %s\n", what);
	abort();
}

/* The values jansson built: what state_json_values() must never undercount. */
static size_t tree_values(json_t *j)
{
	size_t n = 1, i;
	const char *key;
	json_t *m;

	if (json_is_object(j)) {
		json_object_foreach(j, key, m)
			n += tree_values(m);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, m)
			n += tree_values(m);
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct listener_state *s = NULL, *t = NULL;
	json_t *orig, *j1, *j2, *any;
	char *err = NULL, *text;
	int r;

	any = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (any && tree_values(any) > state_json_values((const char *)data, size, SIZE_MAX))
		fail("state_json_values() counted fewer values than jansson built");
	json_decref(any);

	/* NULL accepts any valid listener name, so the fuzzer need not guess one. */
	r = listener_state_from_bytes((const char *)data, size, NULL, SOURCE, &s, &err);
	if (r < 0) {
		if (s)
			fail("state returned with an error");
		if (r != -ENOMEM && (!err || strncmp(err, SOURCE ":", strlen(SOURCE ":")) != 0))
			fail("error without a message naming the file");
		free(err);
		return 0;
	}
	if (err)
		fail("message on success");

	/* The same name, expected, is accepted; another is not. */
	r = listener_state_from_bytes((const char *)data, size, s->name, SOURCE, &t, &err);
	if (r < 0)
		fail("refused with its own name expected");
	listener_state_free(t);
	t = NULL;
	r = listener_state_from_bytes((const char *)data, size, strcmp(s->name, "x") ? "x" : "y", SOURCE, &t, &err);
	if (r != -EBADMSG || t)
		fail("accepted with another name expected");
	free(err);
	err = NULL;

	j1 = listener_state_to_json(s);
	if (!j1)
		fail("accepted a state that cannot be written");
	orig = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	if (!orig || !json_equal(orig, j1))
		fail("to_json differs from the document read");

	text = json_dumps(j1, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		fail("dump failed");
	r = listener_state_from_bytes(text, strlen(text), s->name, SOURCE, &t, &err);
	if (r < 0) {
		fprintf(stderr, "%s\n", err ? err : "");
		fail("refused what it wrote");
	}
	j2 = listener_state_to_json(t);
	if (!j2 || !json_equal(j1, j2))
		fail("round trip changed the state");

	/* One more notification and a pop keep it writable. */
	if (listener_state_push(s, json_object(), 1, NULL) == 0) {
		listener_state_pop(s);
		json_decref(j2);
		j2 = listener_state_to_json(s);
		if (!j2)
			fail("push and pop made the state unwritable");
	}

	json_decref(j2);
	free(text);
	json_decref(orig);
	json_decref(j1);
	listener_state_free(t);
	listener_state_free(s);
	return 0;
}
