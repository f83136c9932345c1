/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "aviso_frame.h"

static bool name_is(const char *event, size_t len, const char *name)
{
	return len == strlen(name) && memcmp(event, name, len) == 0;
}

static const char *member_string(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static bool streq_opt(const char *a, const char *b)
{
	return a && strcmp(a, b) == 0;
}

int aviso_parse_id(const char *id, uint64_t *ret_seq)
{
	const char *at = id ? strrchr(id, '@') : NULL;
	uint64_t v = 0;

	if (!at || at == id || !at[1])
		return -EINVAL;
	for (const char *p = at + 1; *p; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*ret_seq = v;
	return 0;
}

/* Whether v nests deeper than limit levels (a scalar is one level). */
static bool deeper_than(const json_t *v, unsigned limit)
{
	const char *key;
	json_t *m;
	size_t i;

	if (limit == 0)
		return true;
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, m)
			if (deeper_than(m, limit - 1))
				return true;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m)
			if (deeper_than(m, limit - 1))
				return true;
	}
	return false;
}

static void control(struct aviso_frame *f)
{
	const char *type = member_string(f->data, "type");

	if (streq_opt(type, "connection_established") || streq_opt(type, "replay_started")) {
		f->kind = AVISO_FRAME_OPENED;
		f->live = streq_opt(type, "connection_established");
	} else if (streq_opt(type, "replay_completed")) {
		f->kind = AVISO_FRAME_REPLAY_COMPLETED;
	} else if (streq_opt(type, "notification_replay_limit_reached")) {
		f->kind = AVISO_FRAME_REPLAY_LIMIT;
		f->max_allowed = json_integer_value(json_object_get(f->data, "max_allowed"));
	}
}

static void closing(struct aviso_frame *f)
{
	f->kind = AVISO_FRAME_CLOSING;
	f->reason = member_string(f->data, "reason");
	f->end_of_stream = streq_opt(f->reason, "end_of_stream");
	if (f->end_of_stream || streq_opt(f->reason, "max_duration_reached"))
		f->close = AVISO_CLOSE_AT_ONCE;
	else if (streq_opt(f->reason, "server_shutdown"))
		f->close = AVISO_CLOSE_SHUTDOWN;
	else
		f->close = AVISO_CLOSE_ERROR;
}

static void error(struct aviso_frame *f)
{
	const json_t *seq = json_object_get(f->data, "sequence");

	f->kind = AVISO_FRAME_ERROR;
	f->error_kind = member_string(f->data, "error");
	f->message = member_string(f->data, "message");
	/* About one notification the server cannot render (and never will). */
	if (json_is_integer(seq) && json_integer_value(seq) > 0) {
		f->has_sequence = true;
		f->sequence = (uint64_t)json_integer_value(seq);
	}
}

void aviso_frame_parse(const char *event, size_t event_len, const char *data, size_t len, struct aviso_frame *ret)
{
	bool notifying = name_is(event, event_len, "live-notification") || name_is(event, event_len, "replay");
	bool known = notifying || name_is(event, event_len, "replay-control") ||
		     name_is(event, event_len, "connection-closing") || name_is(event, event_len, "error");
	json_error_t err;
	json_t *v;

	*ret = (struct aviso_frame){ .kind = AVISO_FRAME_IGNORED };
	if (!known)
		return;		/* heartbeat, or a name for newer servers: the data is not read */
	/* "\u0000" is valid JSON, and aviso passes payloads through as they are. */
	v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	if (!json_is_object(v)) {
		ret->kind = AVISO_FRAME_MALFORMED;
		if (v)
			(void)snprintf(ret->problem, sizeof(ret->problem), "a %.*s frame whose data is not a JSON object",
				       (int)event_len, event);
		else
			(void)snprintf(ret->problem, sizeof(ret->problem), "a %.*s frame whose data cannot be read: %s",
				       (int)event_len, event, err.text);
		json_decref(v);
		return;
	}
	ret->data = v;
	if (notifying && json_object_get(v, "specversion")) {
		const json_t *id = json_object_get(v, "id");

		ret->kind = AVISO_FRAME_NOTIFICATION;
		ret->id = json_string_value(id);
		/* An id with a NUL inside is not the one its C string shows. */
		ret->id_ok = ret->id && strlen(ret->id) == json_string_length(id) &&
			     aviso_parse_id(ret->id, &ret->sequence) == 0;
		ret->too_deep = deeper_than(v, AVISO_FRAME_MAX_DEPTH);
	} else if (notifying || name_is(event, event_len, "replay-control"))
		control(ret);
	else if (name_is(event, event_len, "connection-closing"))
		closing(ret);
	else
		error(ret);
}

void aviso_frame_done(struct aviso_frame *f)
{
	json_decref(f->data);
	f->data = NULL;
}
