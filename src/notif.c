/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "dbuf.h"
#include "jsonw.h"
#include "notif.h"
#include "strv.h"
#include "util.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const void *data, size_t len)
{
	const unsigned char *p = data;
	char *out, *o;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	out = o = malloc((len + 2) / 3 * 4 + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < len ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

int base64_decode(const char *s, size_t len, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *out = NULL;
	size_t n = 0;
	uint32_t acc = 0;
	int bits = 0, pad = 0;

	if (len % 4 != 0)
		return -EINVAL;
	out = malloc(len / 4 * 3 + 1);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		const char *c;

		if (s[i] == '=') {
			/* Padding only at the end, at most two. */
			if (++pad > 2 || i < len - 2)
				return -EINVAL;
			continue;
		}
		if (pad > 0 || !(c = memchr(b64, s[i], 64)) || s[i] == '\0')
			return -EINVAL;
		acc = acc << 6 | (uint32_t)(c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)(acc >> bits & 0xff);
		}
	}
	out[n] = '\0';
	*ret = TAKE_PTR(out);
	*ret_len = n;
	return 0;
}

/* A string member: s as a JSON string when it is UTF-8, else NULL there
 * and its base64 under "<name>_base64" (names sort before their _base64). */
static int put_base64(struct dbuf *b, const char *member, const void *s, size_t len)
{
	_cleanup_free_ char *enc = base64_encode(s, len);
	int r;

	if (!enc)
		return -ENOMEM;
	r = dbuf_append(b, member, strlen(member));
	return r < 0 ? r : jsonw_append_string(b, enc, strlen(enc));
}

int notif_sse_format(const char *event, size_t event_len, const char *data, size_t data_len, bool id_set,
		     const char *id, size_t id_len, struct dbuf *b)
{
	bool id_utf8 = id_set && utf8_valid(id, id_len);
	int r;

	dbuf_reset(b);
	/* One allocation: the worst case of escaping for the usual sizes (the
	 * escaper then needs no measuring pass), else room for base64 or plain
	 * text. A buffer kept from one event to the next keeps that room warm. */
	if (data_len + event_len + id_len <= 16 * 1024)
		r = dbuf_reserve(b, 6 * (data_len + event_len + id_len) + 64);
	else
		r = dbuf_reserve(b, data_len / 3 * 4 + event_len + id_len + 64);
	/* Member order is jansson's sorted order, as jsonw_dumps() writes it. */
	if (r >= 0 && utf8_valid(data, data_len)) {
		r = dbuf_append(b, "{\"data\":", 8);
		if (r >= 0)
			r = jsonw_append_string(b, data, data_len);
	} else if (r >= 0) {
		r = put_base64(b, "{\"data_base64\":", data, data_len);
	}
	if (r >= 0)
		r = dbuf_append(b, ",\"event\":", 9);
	if (r >= 0)
		r = utf8_valid(event, event_len) ? jsonw_append_string(b, event, event_len)
						  : dbuf_append(b, "\"(invalid UTF-8)\"", 17);
	if (r >= 0)
		r = dbuf_append(b, ",\"id\":", 6);
	if (r >= 0)
		r = id_utf8 ? jsonw_append_string(b, id, id_len) : dbuf_append(b, "null", 4);
	if (r >= 0 && id_set && !id_utf8)
		r = put_base64(b, ",\"id_base64\":", id, id_len);
	if (r >= 0)
		r = dbuf_putc(b, '}');
	return r;
}

/* Appends ",\"<member>\":" and v, or dflt when v is NULL. */
static int put_member(struct dbuf *b, const char *member, const json_t *v, const char *dflt)
{
	int r = dbuf_append(b, member, strlen(member));

	if (r < 0)
		return r;
	return v ? jsonw_append(b, v) : dbuf_append(b, dflt, strlen(dflt));
}

int notif_aviso_format(const json_t *ce, const char *event, uint64_t sequence, struct dbuf *b)
{
	const json_t *data = json_object_get(ce, "data");
	const char *id = json_string_value(json_object_get(ce, "id")), *at = id ? strrchr(id, '@') : NULL;
	char digits[48];
	int r;

	if (!at || sequence > INT64_MAX || !utf8_valid(event, strlen(event)))
		return -EINVAL;
	dbuf_reset(b);
	/* The members in jansson's sorted order, as jsonw_append() has them. */
	r = dbuf_append(b, "{\"cloudevent\":", 14);
	if (r >= 0)
		r = jsonw_append(b, ce);
	if (r >= 0)
		r = dbuf_append(b, ",\"event\":", 9);
	if (r >= 0)
		r = jsonw_append_string(b, event, strlen(event));
	if (r >= 0)
		r = dbuf_append(b, ",\"event_type\":", 14);
	if (r >= 0)
		r = jsonw_append_string(b, id, (size_t)(at - id));
	if (r >= 0)
		r = dbuf_append(b, ",\"id\":", 6);
	if (r >= 0)
		r = jsonw_append_string(b, id, strlen(id));
	if (r >= 0)
		r = put_member(b, ",\"identifier\":", json_object_get(data, "identifier"), "{}");
	if (r >= 0)
		r = put_member(b, ",\"payload\":", json_object_get(data, "payload"), "null");
	if (r >= 0) {
		int n = snprintf(digits, sizeof(digits), ",\"sequence\":%" PRIu64, sequence);

		r = dbuf_append(b, digits, (size_t)n);
	}
	if (r >= 0)
		r = put_member(b, ",\"time\":", json_object_get(ce, "time"), "null");
	if (r >= 0)
		r = dbuf_putc(b, '}');
	return r;
}

char *notif_sse_text(const char *event, size_t event_len, const char *data, size_t data_len,
		     bool id_set, const char *id, size_t id_len, struct dbuf *scratch, size_t *ret_len)
{
	struct dbuf own, *b = scratch ? scratch : &own;
	char *text;
	int r;

	if (!scratch)
		dbuf_init(&own, SIZE_MAX - 1);
	r = notif_sse_format(event, event_len, data, data_len, id_set, id, id_len, b);
	if (r < 0) {
		if (scratch)
			dbuf_reset_trim(scratch, NOTIF_SCRATCH_KEEP);
		else
			dbuf_free(&own);
		return NULL;
	}
	*ret_len = b->len;
	if (!scratch)
		return jsonw_shrink(&own);
	text = malloc(b->len + 1);
	if (text)
		memcpy(text, b->buf, b->len + 1);
	dbuf_reset_trim(scratch, NOTIF_SCRATCH_KEEP);
	return text;
}

json_t *notif_sse_new(const char *event, size_t event_len, const char *data, size_t data_len,
		      bool id_set, const char *id, size_t id_len)
{
	json_t *n = json_object(), *d, *ev, *i;

	if (!n)
		return NULL;
	/* JSON strings are UTF-8: other data (and names) go as base64. */
	d = utf8_valid(data, data_len) ? json_stringn_nocheck(data, data_len) : NULL;
	if (d) {
		if (json_object_set_new(n, "data", d) < 0)
			goto fail;
	} else {
		_cleanup_free_ char *enc = base64_encode(data, data_len);

		if (!enc || json_object_set_new(n, "data_base64", json_string(enc)) < 0)
			goto fail;
	}
	ev = json_stringn(event, event_len);
	if (!ev)
		ev = json_string("(invalid UTF-8)");
	if (json_object_set_new(n, "event", ev) < 0)
		goto fail;
	if (!id_set)
		i = json_null();
	else if (!(i = json_stringn(id, id_len))) {
		_cleanup_free_ char *enc = base64_encode(id, id_len);

		i = enc ? json_string(enc) : NULL;
		if (!i || json_object_set_new(n, "id_base64", i) < 0)
			goto fail;
		i = json_null();
	}
	if (json_object_set_new(n, "id", i) < 0)
		goto fail;
	return n;
fail:
	json_decref(n);
	return NULL;
}

const char *notif_event_name(const json_t *n)
{
	const char *s = json_string_value(json_object_get(n, "event"));

	return s ? s : "";
}

const char *notif_event_id(const json_t *n)
{
	const char *s = json_string_value(json_object_get(n, "id"));

	return s ? s : "";
}

int notif_stdin(const json_t *n, enum cfg_protocol protocol, char **ret, size_t *ret_len)
{
	const json_t *d;

	if (protocol == CFG_PROTOCOL_AVISO) {
		_cleanup_(json_decrefp) json_t *o = json_object();
		static const char *const keys[] = { "event_type", "sequence", "id", "identifier", "payload", "time" };

		if (!o)
			return -ENOMEM;
		for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
			json_t *v = json_object_get(n, keys[i]);

			if (v && json_object_set(o, keys[i], v) < 0)
				return -ENOMEM;
		}
		*ret = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		if (!*ret)
			return -ENOMEM;
		*ret_len = strlen(*ret);
		return 0;
	}

	d = json_object_get(n, "data");
	if (json_is_string(d)) {
		*ret_len = json_string_length(d);
		*ret = malloc(*ret_len + 1);
		if (!*ret)
			return -ENOMEM;
		memcpy(*ret, json_string_value(d), *ret_len + 1);
		return 0;
	}
	d = json_object_get(n, "data_base64");
	if (json_is_string(d))
		return base64_decode(json_string_value(d), json_string_length(d), ret, ret_len);
	return -EINVAL;
}

/* Linux refuses to start a program with any one "NAME=value" longer than
 * MAX_ARG_STRLEN (32 pages), however short the rest: such a variable is
 * left out (stdin has the whole notification anyway). */
#define ENV_STRING_MAX (32u * 4096u)

static int env_set_bounded(char ***env, const char *name, const char *value)
{
	if (strlen(name) + 1 + strlen(value) + 1 > ENV_STRING_MAX)
		return 0;
	return strv_env_set(env, name, value);
}

/* AVISO_IDENTIFIER_<KEY>: upper-cased, non-alphanumerics as '_'. */
static int env_identifier(char ***env, const char *key, const json_t *value)
{
	_cleanup_free_ char *name = NULL, *dumped = NULL;
	size_t len = strlen(key);
	const char *v;

	name = malloc(STRLEN("AVISO_IDENTIFIER_") + len + 1);
	if (!name)
		return -ENOMEM;
	strcpy(name, "AVISO_IDENTIFIER_");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];

		name[STRLEN("AVISO_IDENTIFIER_") + i] = isalnum(c) && c < 0x80 ? (char)toupper(c) : '_';
	}
	name[STRLEN("AVISO_IDENTIFIER_") + len] = '\0';
	if (json_is_string(value)) {
		v = json_string_value(value);
	} else {
		dumped = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!dumped)
			return -ENOMEM;
		v = dumped;
	}
	return env_set_bounded(env, name, v);
}

int notif_env(const json_t *n, enum cfg_protocol protocol, const char *listener, char ***env)
{
	int r;

	r = strv_env_set(env, "SSEWATCHD_LISTENER", listener);
	if (r >= 0)
		r = strv_env_set(env, "SSEWATCHD_EVENT_ID", notif_event_id(n));
	if (r >= 0)
		r = strv_env_set(env, "SSEWATCHD_EVENT", notif_event_name(n));
	if (r < 0 || protocol != CFG_PROTOCOL_AVISO)
		return r;

	{
		_cleanup_free_ char *seq = NULL, *payload = NULL, *whole = NULL;
		size_t len;
		const char *key;
		json_t *value;

		json_t *sv = json_object_get(n, "sequence"), *pv = json_object_get(n, "payload");

		/* Absent members give empty values, not errors. */
		seq = sv ? json_dumps(sv, JSON_ENCODE_ANY) : strdup("");
		payload = json_dumps(pv ? pv : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
		r = notif_stdin(n, protocol, &whole, &len);
		if (r < 0)
			return r;
		if (!seq || !payload)
			return -ENOMEM;
		r = strv_env_set(env, "AVISO_EVENT_TYPE", json_string_value(json_object_get(n, "event_type")) ?: "");
		if (r >= 0)
			r = strv_env_set(env, "AVISO_SEQUENCE", seq);
		if (r >= 0)
			r = env_set_bounded(env, "AVISO_PAYLOAD_JSON", payload);
		if (r >= 0)
			r = env_set_bounded(env, "AVISO_NOTIFICATION_JSON", whole);
		json_object_foreach(json_object_get(n, "identifier"), key, value)
			if (r >= 0)
				r = env_identifier(env, key, value);
	}
	return r;
}

json_t *notif_record(const json_t *n, enum cfg_protocol protocol, const char *listener)
{
	json_t *rec = json_object();
	const char *key;
	json_t *value;

	if (!rec || json_object_set_new(rec, "listener", json_string(listener)) < 0)
		goto fail;
	json_object_foreach((json_t *)n, key, value) {
		/* The raw CloudEvent is kept in state for post triggers; the
		 * record shows the decoded notification. */
		if (protocol == CFG_PROTOCOL_AVISO && strcmp(key, "cloudevent") == 0)
			continue;
		if (json_object_set(rec, key, value) < 0)
			goto fail;
	}
	return rec;
fail:
	json_decref(rec);
	return NULL;
}
