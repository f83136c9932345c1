/* SPDX-License-Identifier: MIT */
// fuzz-sources: src/config.c src/dbuf.c src/log.c src/util.c src/tmpl.c
/*
 * libFuzzer target for config: arbitrary bytes as a main configuration file.
 * Beyond "does not crash or leak", it checks the loader's promises: success
 * gives listeners that each have a name, at least one trigger and a resolved
 * form (which equals itself, as a reload compares it, and whose redacted
 * copy can be built); failure gives at least one error,
 * each a single line "FILE:LINE:COLUMN: ...".
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ^[^:]+:[0-9]+:[0-9]+: without regex.h, which is slow to run per input. */
static int well_formed(const char *l)
{
	const char *p = strchr(l, ':');

	if (!p || p == l || strchr(l, '\n'))
		return 0;
	for (int field = 0; field < 2; field++) {
		const char *d = ++p;

		while (isdigit((unsigned char)*p))
			p++;
		if (p == d || *p != ':')
			return 0;
	}
	return p[1] == ' ';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg_errors e = {};
	struct cfg *c = NULL;
	int r = cfg_load_buffer("fuzz.yaml", data, size, &c, &e);

	if (r == 0) {
		if (!c || e.n != 0 || c->n_listeners == 0)
			abort();
		for (size_t i = 0; i < c->n_listeners; i++) {
			const struct cfg_listener *l = &c->listeners[i];
			json_t *j;

			if (!l->name || !l->where || l->n_triggers == 0 || !cfg_listener_same(l, l) ||
			    cfg_find_listener(c, l->name) != l)
				abort();
			j = cfg_listener_to_json(l);
			if (!j)
				abort();
			json_decref(j);
		}
	} else {
		if (c || e.n == 0)
			abort();
		for (size_t i = 0; i < e.n; i++)
			if (!well_formed(e.lines[i]))
				abort();
	}
	cfg_free(c);
	cfg_errors_clear(&e);
	return 0;
}
