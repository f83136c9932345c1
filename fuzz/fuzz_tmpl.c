/* SPDX-License-Identifier: MIT */
// fuzz-sources: src/tmpl.c src/dbuf.c
/*
 * libFuzzer target for tmpl: arbitrary bytes as a template, checked for each
 * destination and, where the check passes, rendered against two
 * notifications of the same shape whose strings differ (both full of quotes,
 * $ and backquotes). Beyond "does not crash or leak", it checks the promises
 * the triggers rely on:
 *   - a refusal names the offset; a template that passes check renders
 *     (or misses a value) the same way for both notifications;
 *   - SHELL: the script is the same for both, so no value is ever in it
 *     (and neither value appears unless the template itself holds it), and
 *     there is one NAME=value per placeholder;
 *   - URL: no raw space, control byte or DEL, and the scheme and host are
 *     the same for both;
 *   - HEADER: no CR or LF;
 *   - a template without "{{" renders as itself.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const values[2] = {
	"Zq'\"$(touch PWN)`id`;&|<> *?${IFS}\\",
	"Yx\"'${HOME}$((1+1))`;#!~[a]* \t",
};

static json_t *notifications[2];

static void fail(const char *what, const char *tmpl)
{
	fprintf(stderr, "fuzz_tmpl: %s\ntemplate: '%s'\n", what, tmpl);
	abort();
}

static json_t *make_notification(const char *v)
{
	json_t *n = json_pack("{s:s, s:{s:s, s:i, s:[s, s]}, s:i, s:b, s:n, s:f, s:s, s:i, s:{s:s, s:s}}",
			      "a", v, "b", "c", v, "d", 1, "e", v, "x", "n", 42, "t", 1, "z", "r", 0.5,
			      "event_type", v, "sequence", 7, "identifier", "step", v, "date", "20260913");

	if (!n)
		abort();
	return n;
}

/* Names from A to M are set (to the notification's value), the others not. */
static const char *getenv_fn(const char *name, void *userdata)
{
	return name[0] >= 'A' && name[0] <= 'M' ? userdata : NULL;
}

static size_t count(char **v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

static void strv_release(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* Up to the end of the authority: what a value must never change. */
static size_t authority_end(const char *url)
{
	const char *sep = strstr(url, "://");

	return sep ? (size_t)(sep - url) + 3 + strcspn(sep + 3, "/?#") : strlen(url);
}

static void one(const char *t, enum tmpl_dest dest)
{
	char *err = NULL, *out[2] = {}, **env[2] = {}, **names = NULL;
	int r, rr[2];

	r = tmpl_check(t, dest, &err);
	if (r < 0) {
		if (r == -ENOMEM)
			return;
		if (!err || (r == -EINVAL && !strstr(err, "offset ")) || (r != -EINVAL && r != -E2BIG))
			fail("a refusal without its offset", t);
		free(err);
		return;
	}
	if (err)
		fail("a message on success", t);
	if (tmpl_env_names(t, &names) < 0)
		fail("env names of a template that checks", t);
	strv_release(names);

	for (int k = 0; k < 2; k++) {
		rr[k] = tmpl_render(t, dest, notifications[k], getenv_fn, (void *)values[k], &out[k], &env[k], &err);
		if (rr[k] == -EINVAL)
			fail("render refuses what check accepted", t);
		if ((rr[k] == 0) != (out[k] != NULL) || (rr[k] == 0) != (err == NULL))
			fail("inconsistent render results", t);
		free(err);
		err = NULL;
	}
	if (rr[0] != rr[1])
		fail("the values changed whether it renders", t);
	if (rr[0] < 0)
		return;

	if (!tmpl_has_placeholders(t) && strcmp(out[0], t) != 0)
		fail("a template without {{ changed", t);
	switch (dest) {
	case TMPL_DEST_SHELL:
		if (strcmp(out[0], out[1]) != 0)
			fail("the script depends on the values", t);
		if (count(env[0]) != count(env[1]))
			fail("variables differ", t);
		for (int k = 0; k < 2; k++)
			if (strstr(out[0], values[k]) && !strstr(t, values[k]))
				fail("a value is in the script", t);
		break;
	case TMPL_DEST_URL:
		for (int k = 0; k < 2; k++)
			for (const char *p = out[k]; *p; p++)
				if ((unsigned char)*p <= 0x20 || *p == 0x7f)
					fail("a raw space or control byte in a URL", t);
		if (authority_end(out[0]) != authority_end(out[1]) ||
		    strncmp(out[0], out[1], authority_end(out[0])) != 0)
			fail("a value changed the scheme or host", t);
		break;
	case TMPL_DEST_HEADER:
		if (strpbrk(out[0], "\r\n") || strpbrk(out[1], "\r\n"))
			fail("CR or LF in a header", t);
		break;
	case TMPL_DEST_ARGV:
		break;
	}
	for (int k = 0; k < 2; k++) {
		if (dest != TMPL_DEST_SHELL && env[k])
			fail("variables for a destination without them", t);
		free(out[k]);
		strv_release(env[k]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *t;

	if (!notifications[0]) {
		notifications[0] = make_notification(values[0]);
		notifications[1] = make_notification(values[1]);
	}
	/* The first byte picks the destination tried first; all four are tried. */
	if (size == 0)
		return 0;
	t = strndup((const char *)data + 1, size - 1);
	if (!t)
		return 0;
	for (int d = 0; d < 4; d++)
		one(t, (enum tmpl_dest)((data[0] + d) % 4));
	free(t);
	return 0;
}
