/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "jsonw.h"

/* Depth as jansson's parser allows it; a deeper value is written by jansson. */
#define JSONW_MAX_DEPTH 2048

/* What a byte becomes inside a JSON string: 0 itself, 'u' \\u00XX, else \\ + that. */
static const char escape[256] = {
	['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f', ['\r'] = 'r',
	[0x00] = 'u', [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u', [0x05] = 'u', [0x06] = 'u',
	[0x07] = 'u', [0x0b] = 'u', [0x0e] = 'u', [0x0f] = 'u', [0x10] = 'u', [0x11] = 'u', [0x12] = 'u',
	[0x13] = 'u', [0x14] = 'u', [0x15] = 'u', [0x16] = 'u', [0x17] = 'u', [0x18] = 'u', [0x19] = 'u',
	[0x1a] = 'u', [0x1b] = 'u', [0x1c] = 'u', [0x1d] = 'u', [0x1e] = 'u', [0x1f] = 'u',
	['"'] = '"', ['\\'] = '\\',
};

static int append_string(struct dbuf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t need = 0;
	char *o;

	/* One pass to size it, one to write it: no append per piece. */
	for (size_t i = 0; i < len; i++)
		need += escape[(unsigned char)s[i]] == 0 ? 1 : escape[(unsigned char)s[i]] == 'u' ? 6 : 2;
	if (need > out->max - out->len || need + 2 > out->max - out->len)
		return -E2BIG;
	if (dbuf_reserve(out, need + 2) < 0)
		return -ENOMEM;
	o = out->buf + out->len;
	*o++ = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char e = escape[c];

		if (e == 0) {
			*o++ = (char)c;
		} else {
			*o++ = '\\';
			*o++ = e;
			if (e == 'u') {
				/* jansson: "\\u%04X" for the other control characters. */
				*o++ = '0';
				*o++ = '0';
				*o++ = hex[c >> 4];
				*o++ = hex[c & 15];
			}
		}
	}
	*o++ = '"';
	out->len = (size_t)(o - out->buf);
	out->buf[out->len] = '\0';
	return 0;
}

static int compare_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int append(struct dbuf *out, const json_t *j, unsigned depth)
{
	char num[64];
	int r, n;

	if (depth > JSONW_MAX_DEPTH)
		return -EINVAL;
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		_cleanup_free_ const char **keys = NULL;
		size_t count = json_object_size(j), i = 0;
		const char *key;
		json_t *v;

		if (count == 0)
			return dbuf_append(out, "{}", 2);
		keys = malloc(count * sizeof(*keys));
		if (!keys)
			return -ENOMEM;
		json_object_foreach((json_t *)j, key, v)
			keys[i++] = key;
		qsort(keys, count, sizeof(*keys), compare_keys);
		r = dbuf_putc(out, '{');
		for (i = 0; r >= 0 && i < count; i++) {
			if (i > 0)
				r = dbuf_putc(out, ',');
			if (r >= 0)
				r = append_string(out, keys[i], strlen(keys[i]));
			if (r >= 0)
				r = dbuf_putc(out, ':');
			if (r >= 0)
				r = append(out, json_object_get(j, keys[i]), depth + 1);
		}
		return r < 0 ? r : dbuf_putc(out, '}');
	}
	case JSON_ARRAY:
		r = dbuf_putc(out, '[');
		for (size_t i = 0; r >= 0 && i < json_array_size(j); i++) {
			if (i > 0)
				r = dbuf_putc(out, ',');
			if (r >= 0)
				r = append(out, json_array_get(j, i), depth + 1);
		}
		return r < 0 ? r : dbuf_putc(out, ']');
	case JSON_STRING:
		return append_string(out, json_string_value(j), json_string_length(j));
	case JSON_INTEGER:
		n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
		return dbuf_append(out, num, (size_t)n);
	case JSON_REAL: {
		/* jansson's own rules for reals ("1.0", exponents): rare, so delegate. */
		_cleanup_free_ char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

		return text ? dbuf_append(out, text, strlen(text)) : -ENOMEM;
	}
	case JSON_TRUE:
		return dbuf_append(out, "true", 4);
	case JSON_FALSE:
		return dbuf_append(out, "false", 5);
	case JSON_NULL:
		return dbuf_append(out, "null", 4);
	}
	return -EINVAL;
}

int jsonw_append(struct dbuf *out, const json_t *j)
{
	return j ? append(out, j, 0) : -EINVAL;
}

char *jsonw_dumps(const json_t *j)
{
	struct dbuf out;

	dbuf_init(&out, SIZE_MAX - 1);
	if (jsonw_append(&out, j) < 0) {
		dbuf_free(&out);
		return NULL;
	}
	if (!out.buf)
		return strdup("");
	return out.buf;
}
