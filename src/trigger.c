/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "child.h"
#include "cleanup.h"
#include "curl_glue.h"
#include "dbuf.h"
#include "log.h"
#include "notif.h"
#include "strv.h"
#include "tmpl.h"
#include "trigger.h"
#include "util.h"

#define POST_RESPONSE_MAX 1024

struct trigger_run {
	trigger_done_fn done;
	void *userdata;
	const struct cfg_listener *listener;
	const struct cfg_trigger *trigger;

	struct child *child;		/* command */

	struct curl_glue *glue;		/* post */
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	struct dbuf response;
	sd_event_source *cancelled;	/* reports a cancelled request from the loop */
};

static const char aviso_text_start[] = "{\"cloudevent\":";

/* An aviso notification's text as our writer makes it: the raw CloudEvent first. */
static bool cloudevent_first(const char *text)
{
	return strncmp(text, aviso_text_start, STRLEN(aviso_text_start)) == 0;
}

bool trigger_needs_tree(const struct cfg_listener *l, const struct cfg_trigger *t, const char *text)
{
	/* Log and echo lines are made from the notification's text: sse's as
	 * it is, aviso's without its first member, the raw CloudEvent. */
	if ((t->type != CFG_TRIGGER_LOG && t->type != CFG_TRIGGER_ECHO) || !text)
		return true;
	return l->protocol == CFG_PROTOCOL_AVISO && !cloudevent_first(text);
}

bool trigger_is_external(const struct cfg_trigger *t)
{
	return t->type == CFG_TRIGGER_COMMAND || t->type == CFG_TRIGGER_POST;
}

/* Variables a trigger must never inherit: the service manager's handles
 * (a child could pose as the daemon on NOTIFY_SOCKET), the credentials
 * directory, and our own namespaces, which we set per notification. */
static bool env_is_private(const char *entry)
{
	static const char *const names[] = {
		"NOTIFY_SOCKET", "CREDENTIALS_DIRECTORY", "JOURNAL_STREAM", "MAINPID", "MANAGERPID",
	};
	static const char *const prefixes[] = { "SSEWATCHD_", "AVISO_", "LISTEN_", "WATCHDOG_" };
	size_t len = strcspn(entry, "=");

	for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
		if (strncmp(entry, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (strlen(names[i]) == len && strncmp(entry, names[i], len) == 0)
			return true;
	return false;
}

char **trigger_base_env(char **environ_)
{
	char **v = calloc(1, sizeof(char *));

	if (!v)
		return NULL;
	for (size_t i = 0; environ_ && environ_[i]; i++)
		if (!env_is_private(environ_[i]) && strv_push(&v, environ_[i]) < 0) {
			strv_free(v);
			return NULL;
		}
	return v;
}

/* ------------------------------------------------------------ templates */

/*
 * What templates see as "notification": for aviso the notification as
 * aviso's own client models it; for sse the event, plus "json" when its data
 * is JSON (so {{ notification.json.meta.domain }} works).
 */
static json_t *template_root(const struct cfg_listener *l, const json_t *n)
{
	_cleanup_free_ char *data = NULL;
	json_t *root, *parsed;
	size_t len;

	if (l->protocol == CFG_PROTOCOL_AVISO) {
		static const char *const keys[] = { "event_type", "sequence", "id", "identifier", "payload", "time" };

		root = json_object();
		for (size_t i = 0; root && i < ELEMENTSOF(keys); i++)
			if (json_object_get(n, keys[i]) && json_object_set(root, keys[i], json_object_get(n, keys[i])) < 0)
				return json_decref(root), NULL;
		return root;
	}
	root = json_pack("{s:O?, s:s, s:O?}", "id", json_object_get(n, "id"), "event", notif_event_name(n), "data",
			 json_object_get(n, "data"));
	if (root && notif_stdin(n, l->protocol, &data, &len) == 0 &&
	    (parsed = json_loadb(data, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL)))
		(void)json_object_set_new(root, "json", parsed);
	return root;
}

static const char *template_getenv(const char *name, void *userdata)
{
	(void)userdata;
	return getenv(name);
}

/* What placeholders see, made when the first of a trigger's values needs it:
 * most values have none, and then the notification's data is not parsed. */
struct lazy_root {
	const struct cfg_listener *listener;
	const json_t *notification;
	json_t *tree;
};

static void lazy_root_done(struct lazy_root *root)
{
	json_decref(root->tree);
	root->tree = NULL;
}

/* Renders one value if it holds placeholders (a copy otherwise). */
static int render(const char *template, enum tmpl_dest dest, struct lazy_root *root, char **ret, char ***ret_env,
		  char **reterr)
{
	if (!tmpl_has_placeholders(template)) {
		*ret = strdup(template);
		return *ret ? 0 : -ENOMEM;
	}
	if (!root->tree && !(root->tree = template_root(root->listener, root->notification)))
		return -ENOMEM;
	return tmpl_render(template, dest, root->tree, template_getenv, NULL, ret, ret_env, reterr);
}

/* aviso's rule: a variable a template read through {{ env.X }} is not
 * passed on to the child as well. */
static void drop_template_env(char **envp, const char *template)
{
	char **names = NULL;

	if (!template || tmpl_env_names(template, &names) < 0)
		return;
	for (size_t i = 0; names && names[i]; i++) {
		size_t len = strlen(names[i]);

		for (size_t k = 0; envp && envp[k];)
			if (strncmp(envp[k], names[i], len) == 0 && envp[k][len] == '=') {
				free(envp[k]);
				memmove(envp + k, envp + k + 1, (strv_length(envp + k + 1) + 1) * sizeof(char *));
			} else {
				k++;
			}
	}
	strv_free(names);
}

struct trigger_logs {
	struct log_file {
		char *path;
		int fd;
	} *files;
	size_t n;
};

struct trigger_logs *trigger_logs_new(void)
{
	return calloc(1, sizeof(struct trigger_logs));
}

void trigger_logs_close_all(struct trigger_logs *logs)
{
	for (size_t i = 0; logs && i < logs->n; i++) {
		(void)close(logs->files[i].fd);
		free(logs->files[i].path);
	}
	if (logs) {
		free(logs->files);
		logs->files = NULL;
		logs->n = 0;
	}
}

struct trigger_logs *trigger_logs_free(struct trigger_logs *logs)
{
	trigger_logs_close_all(logs);
	free(logs);
	return NULL;
}

static int log_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);

	return fd < 0 ? -errno : fd;
}

/* The file's descriptor, opened once (or per line without a cache). */
static int log_fd(struct trigger_logs *logs, const char *path, bool *ret_cached)
{
	struct log_file *nf;
	int fd;

	*ret_cached = false;
	for (size_t i = 0; logs && i < logs->n; i++)
		if (strcmp(logs->files[i].path, path) == 0) {
			*ret_cached = true;
			return logs->files[i].fd;
		}
	fd = log_open(path);
	if (fd < 0 || !logs)
		return fd;
	nf = reallocarray(logs->files, logs->n + 1, sizeof(*nf));
	if (nf) {
		logs->files = nf;
		nf[logs->n].path = strdup(path);
		if (nf[logs->n].path) {
			nf[logs->n++].fd = fd;
			*ret_cached = true;
		}
	}
	return fd;
}

/* A write failed: forget the descriptor, the next line opens the file again. */
static void log_forget(struct trigger_logs *logs, const char *path)
{
	for (size_t i = 0; logs && i < logs->n; i++)
		if (strcmp(logs->files[i].path, path) == 0) {
			(void)close(logs->files[i].fd);
			free(logs->files[i].path);
			logs->files[i] = logs->files[--logs->n];
			return;
		}
}

/*
 * The end of the JSON value at s, in text our own writer made (valid and
 * compact): only strings, with their escapes, and nesting need care.
 */
static const char *skip_value(const char *s)
{
	unsigned depth = 0;

	/* strcspn() jumps over the plain runs (long strings, mostly). */
	for (;; s++) {
		s += strcspn(s, "\"{}[],");
		switch (*s) {
		case '\0':
			return NULL;
		case '"':
			for (s++;; s++) {
				s += strcspn(s, "\"\\");
				if (*s == '"')
					break;
				if (*s == '\0' || *++s == '\0')	/* a backslash escapes the next byte */
					return NULL;
			}
			break;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (depth == 0)
				return s;	/* the end of the enclosing object */
			depth--;
			break;
		case ',':
			if (depth == 0)
				return s;
			break;
		}
	}
}

/*
 * Appends the record line (with its newline) to out: the notification's
 * cached JSON with the listener put in front (listener names need no
 * escaping), without building anything; the tree's record when there is no
 * usable text (the tree made from the text if none was given).
 */
static int append_record_line(const struct cfg_listener *l, const struct trigger_input *in, struct dbuf *out)
{
	_cleanup_(json_decrefp) json_t *rec = NULL, *parsed = NULL;
	_cleanup_free_ char *s = NULL;
	const char *text = in->notification_text;
	const json_t *tree = in->notification;
	size_t before = out->len;
	int r;

	/* aviso: the raw CloudEvent is the first member (keys are sorted) and
	 * the record leaves it out; the rest is used as it is. */
	if (l->protocol == CFG_PROTOCOL_AVISO && text && cloudevent_first(text)) {
		const char *end = skip_value(text + STRLEN(aviso_text_start));

		text = end && *end == ',' ? end : NULL;	/* "{" + rest, with the comma as the "{" */
	}
	if (text && (text[0] == '{' || text[0] == ',')) {
		size_t rest = in->notification_text_len > 0
				      ? in->notification_text_len - (size_t)(text - in->notification_text) - 1
				      : strlen(text + 1);
		size_t name_len = strlen(l->name), sep = text[1] == '}' ? 1 : 2;

		/* One check for room for the whole line: this runs once per
		 * notification of a busy log listener. */
		r = dbuf_reserve(out, 13 + name_len + sep + rest + 1);
		if (r >= 0) {
			char *o = out->buf + out->len;

			memcpy(o, "{\"listener\":\"", 13);
			memcpy(o + 13, l->name, name_len);
			memcpy(o + 13 + name_len, "\",", sep);
			memcpy(o + 13 + name_len + sep, text + 1, rest);
			out->len += 13 + name_len + sep + rest;
			out->buf[out->len] = '\0';
		}
	} else {
		/* A text of another shape (trigger_needs_tree() looks only at
		 * its start; a state file may hold anything that parses). */
		if (!tree && in->notification_text)
			tree = parsed = json_loadb(in->notification_text,
						   in->notification_text_len ?: strlen(in->notification_text),
						   JSON_ALLOW_NUL, NULL);
		rec = tree ? notif_record(tree, l->protocol, l->name) : NULL;
		s = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
		r = s ? dbuf_append(out, s, strlen(s)) : -ENOMEM;
	}
	if (r >= 0)
		r = dbuf_putc(out, '\n');
	if (r < 0)
		out->len = before;	/* no partial line */
	return r;
}

static int record_line(const struct cfg_listener *l, const struct trigger_input *in, char **ret, size_t *ret_len)
{
	struct dbuf b;
	int r;

	dbuf_init(&b, SIZE_MAX - 1);
	r = append_record_line(l, in, &b);
	if (r < 0) {
		dbuf_free(&b);
		return r;
	}
	*ret_len = b.len - 1;	/* callers write len + 1: the line and its newline */
	*ret = b.buf;
	return 0;
}

int trigger_log_line(const struct cfg_listener *l, const struct trigger_input *in, struct dbuf *out)
{
	return append_record_line(l, in, out);
}

int trigger_log_write(const struct trigger_env *env, const char *path, const char *buf, size_t len,
		      char **ret_error)
{
	bool cached;
	int fd, r;

	/* Whole lines in one write with O_APPEND: they never interleave. */
	fd = log_fd(env->logs, path, &cached);
	if (fd < 0) {
		*ret_error = strdupf("cannot open %s: %s", path, strerror(-fd));
		return fd;
	}
	r = write_all(fd, buf, len);
	if (!cached && close(fd) < 0 && r >= 0)
		r = -errno;
	if (r < 0) {
		if (cached)
			log_forget(env->logs, path);
		*ret_error = strdupf("cannot write %s: %s", path, strerror(-r));
	}
	return r;
}

static int run_echo(const struct cfg_listener *l, const struct trigger_input *in, char **ret_error)
{
	_cleanup_free_ char *line = NULL;
	size_t len;
	int r;

	r = record_line(l, in, &line, &len);
	if (r < 0)
		return r;
	r = write_all(STDOUT_FILENO, line, len + 1);
	if (r < 0) {
		*ret_error = strdupf("writing to standard output: %s", strerror(-r));
		return TRIGGER_FAILED;
	}
	return TRIGGER_SUCCEEDED;
}

static int run_log(const struct trigger_env *env, const struct cfg_listener *l, const struct cfg_trigger *t,
		   const struct trigger_input *in, char **ret_error)
{
	_cleanup_free_ char *line = NULL;
	bool cached;
	size_t len;
	int fd, r;

	r = record_line(l, in, &line, &len);
	if (r < 0)
		return r;
	/* One write of one whole line with O_APPEND: lines never interleave. */
	fd = log_fd(env->logs, t->path, &cached);
	if (fd < 0) {
		*ret_error = strdupf("cannot open %s: %s", t->path, strerror(-fd));
		return TRIGGER_FAILED;
	}
	r = write_all(fd, line, len + 1);
	if (r >= 0 && t->fsync && fsync(fd) < 0)
		r = -errno;
	if (!cached && close(fd) < 0 && r >= 0)
		r = -errno;
	if (r < 0) {
		if (cached)
			log_forget(env->logs, t->path);
		*ret_error = strdupf("cannot write %s: %s", t->path, strerror(-r));
		return TRIGGER_FAILED;
	}
	return TRIGGER_SUCCEEDED;
}

static void log_output(const struct trigger_run *run, const char *stream, const char *tail, size_t len, uint64_t total)
{
	char shown[4 * LOG_MSG_MAX + 8];
	size_t newlines = 0, room;

	if (total == 0)
		return;
	/* What fits after the trigger's name (a conf.d file's may be long). */
	room = LOG_MSG_MAX - 1 - MIN(strlen(run->trigger->where) + strlen(stream) + 32, LOG_MSG_MAX / 2);
	/* The tail as the child wrote it, bounded; a trailing newline is noise. */
	while (len > 0 && (tail[len - 1] == '\n' || tail[len - 1] == '\r'))
		len--, newlines++;
	/* The end is where the reason usually is: keep what fits of it,
	 * from a character's start. */
	if (len > room) {
		size_t skip = len - room;

		for (unsigned k = 0; k < 3 && skip < len && ((unsigned char)tail[skip] & 0xc0) == 0x80; k++)
			skip++;
		tail += skip;
		len -= skip;
	}
	/* Escaped here, not by log_f(): a NUL in it would end a %s. */
	(void)log_escape(tail, len, false, shown, sizeof(shown));
	log_f(LOG_INFO, 0, &(struct log_fields){ .listener = run->listener->name },
	      "%s %s%s: %s", run->trigger->where, stream, total > len + newlines ? " (last bytes)" : "", shown);
}

static void on_child_done(struct child *c, const struct child_result *res, void *userdata)
{
	struct trigger_run *run = userdata;
	_cleanup_free_ char *error = NULL;

	(void)c;
	if (res->spawn_error) {
		error = strdupf("cannot start %s: %s", run->trigger->shell ? "/bin/sh" : run->trigger->argv[0],
				strerror(res->spawn_error));
	} else {
		log_output(run, "stdout", res->out_tail, res->out_len, res->out_total);
		log_output(run, "stderr", res->err_tail, res->err_len, res->err_total);
		if (res->timed_out)
			error = strdupf("timed out after %.1fs", (double)run->trigger->timeout_usec / 1e6);
		else if (!res->exited)
			error = strdupf("killed by signal %d (%s)", res->signal, strsignal(res->signal));
		else if (res->exit_code != 0)
			error = strdupf("exit status %d", res->exit_code);
	}
	if ((res->spawn_error || res->timed_out || !res->exited || res->exit_code != 0) && !error)
		error = strdup("failed");
	/* Only a real exit status is the program's verdict; a timeout, a
	 * signal or a failed start may go away. */
	run->done(run, error, error && res->exited && res->exit_code != 0 && cfg_trigger_fail_fast(run->trigger),
		  run->userdata);
}

static int run_command(const struct trigger_env *env, const struct cfg_listener *l, const struct cfg_trigger *t,
		       const json_t *n, trigger_done_fn done, void *userdata, struct trigger_run **ret_run,
		       char **ret_error)
{
	_cleanup_free_ char *input = NULL, *err = NULL;
	_cleanup_(lazy_root_done) struct lazy_root root = { .listener = l, .notification = n };
	char **envp = NULL, **argv = NULL, **shell_env = NULL;
	struct trigger_run *run;
	size_t input_len = 0;
	int r = 0;

	if (t->shell) {
		char *script = NULL;

		r = render(t->shell, TMPL_DEST_SHELL, &root, &script, &shell_env, &err);
		if (r >= 0)
			r = strv_push(&argv, "/bin/sh");
		if (r >= 0)
			r = strv_push(&argv, "-c");
		if (r >= 0)
			r = strv_consume(&argv, script);
		else
			free(script);
	} else {
		for (size_t i = 0; t->argv && t->argv[i]; i++) {
			char *arg = NULL;

			r = render(t->argv[i], TMPL_DEST_ARGV, &root, &arg, NULL, &err);
			if (r < 0)
				break;
			r = strv_consume(&argv, arg);
			if (r < 0)
				break;
		}
	}
	if (r < 0 && err) {
		/* A field the notification lacks will not appear on retry. */
		*ret_error = strdupf("%s: %s", t->shell ? "command" : "argv", err);
		r = TRIGGER_FAILED_PERMANENT;
		goto fail;
	}
	if (r < 0)
		goto fail;

	r = notif_stdin(n, l->protocol, &input, &input_len);
	if (r < 0)
		goto fail;
	for (size_t i = 0; env->base_env && env->base_env[i]; i++)
		if ((r = strv_push(&envp, env->base_env[i])) < 0)
			goto fail;
	for (size_t i = 0; t->argv && t->argv[i]; i++)
		drop_template_env(envp, t->argv[i]);
	drop_template_env(envp, t->shell);
	r = notif_env(n, l->protocol, l->name, &envp);
	for (size_t i = 0; r >= 0 && i < t->n_env; i++)
		r = strv_env_set(&envp, t->env[i].key, t->env[i].value);
	/* Last: the values the shell script refers to. */
	for (size_t i = 0; r >= 0 && shell_env && shell_env[i]; i++)
		r = strv_push(&envp, shell_env[i]);
	if (r < 0)
		goto fail;

	run = calloc(1, sizeof(*run));
	if (!run) {
		r = -ENOMEM;
		goto fail;
	}
	*run = (struct trigger_run){ .done = done, .userdata = userdata, .listener = l, .trigger = t };
	r = child_spawn(env->event,
			&(struct child_spec){
				.argv = argv,
				.envp = envp,
				.working_dir = t->working_dir,
				.stdin_data = input,
				.stdin_len = input_len,
				.timeout_usec = t->timeout_usec,
				.kill_grace_usec = t->kill_grace_usec,
			},
			on_child_done, run, &run->child);
	strv_free(envp);
	strv_free(argv);
	strv_free(shell_env);
	if (r < 0) {
		free(run);
		return r;
	}
	*ret_run = run;
	return TRIGGER_STARTED;
fail:
	strv_free(envp);
	strv_free(argv);
	strv_free(shell_env);
	return r;
}

/* ------------------------------------------------------------ post */

json_t *trigger_cloudevent(const struct cfg_listener *l, const struct trigger_input *in)
{
	const json_t *n = in->notification;
	_cleanup_free_ char *data = NULL, *id = NULL, *type = NULL, *source = NULL;
	char time[32];
	json_t *ce, *parsed;
	size_t len;

	if (l->protocol == CFG_PROTOCOL_AVISO) {
		/* The server's own CloudEvent, as aviso's client forwards it. */
		ce = json_object_get(n, "cloudevent");
		if (json_is_object(ce))
			return json_deep_copy(ce);
		/* The source names the server, not its credentials. */
		if (!(source = url_hide_secrets(l->base_url)))
			return NULL;
		return json_pack("{s:s, s:O?, s:s, s:s+, s:{s:O?, s:O?}}", "specversion", "1.0", "id",
				 json_object_get(n, "id"), "source", source, "type", "int.ecmwf.aviso.",
				 json_string_value(json_object_get(n, "event_type")) ?: "unknown", "data", "identifier",
				 json_object_get(n, "identifier"), "payload", json_object_get(n, "payload"));
	}

	/* sse: the event becomes a CloudEvent of our own. */
	id = notif_event_id(n)[0] ? strdup(notif_event_id(n)) : strdupf("%s-%" PRIu64, l->name, in->seq);
	type = strdupf("ssewatchd.sse.%s", notif_event_name(n));
	source = url_hide_secrets(l->url);
	if (!id || !type || !source || notif_stdin(n, l->protocol, &data, &len) < 0)
		return NULL;
	ce = json_pack("{s:s, s:s, s:s, s:s, s:s}", "specversion", "1.0", "id", id, "source", source, "type", type,
		       "time", format_rfc3339(in->received_usec, time));
	if (!ce)
		return NULL;
	parsed = json_loadb(data, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
	if (parsed) {
		if (json_object_set_new(ce, "datacontenttype", json_string("application/json")) < 0 ||
		    json_object_set_new(ce, "data", parsed) < 0)
			goto fail;
	} else if (json_object_get(n, "data")) {
		if (json_object_set_new(ce, "datacontenttype", json_string("text/plain")) < 0 ||
		    json_object_set(ce, "data", json_object_get(n, "data")) < 0)
			goto fail;
	} else if (json_object_set(ce, "data_base64", json_object_get(n, "data_base64")) < 0) {
		goto fail;
	}
	return ce;
fail:
	json_decref(ce);
	return NULL;
}

static size_t post_write(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct trigger_run *run = userdata;
	size_t len = size * nmemb;

	/* Only the start of an answer matters, for the error message. */
	(void)dbuf_append(&run->response, p, MIN(len, POST_RESPONSE_MAX - run->response.len));
	return len;
}

static void post_release(struct trigger_run *run)
{
	if (run->easy) {
		curl_glue_remove(run->glue, run->easy);
		curl_easy_cleanup(run->easy);
		run->easy = NULL;
	}
	curl_slist_free_all(run->headers);
	run->headers = NULL;
	free(run->body);
	run->body = NULL;
}

static void on_post_done(CURL *easy, CURLcode result, void *userdata)
{
	struct trigger_run *run = userdata;
	_cleanup_free_ char *error = NULL;
	bool permanent = false;
	long status = 0;

	(void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (result != CURLE_OK) {
		error = strdupf("POST failed: %s", curl_easy_strerror(result));
	} else if (status < 200 || status > 299) {
		char body[POST_RESPONSE_MAX + 1];
		size_t n = 0;

		for (size_t i = 0; i < run->response.len; i++)
			body[n++] = (unsigned char)run->response.buf[i] >= 0x20 && run->response.buf[i] != 0x7f
					    ? run->response.buf[i] : ' ';
		while (n > 0 && body[n - 1] == ' ')
			n--;
		body[n] = '\0';
		error = strdupf("the server answered HTTP %ld%s%s", status, n ? ": " : "", body);
		/* Worth retrying: 408, 425, 429 and 5xx; the rest will not change,
		 * unless fail_fast: false asks to retry anyway. */
		permanent = status != 408 && status != 425 && status != 429 && status < 500 &&
			    cfg_trigger_fail_fast(run->trigger);
	}
	if (result != CURLE_OK && !error)
		error = strdup("POST failed");
	post_release(run);
	run->done(run, error, permanent, run->userdata);
}

static int on_post_cancelled(sd_event_source *s, void *userdata)
{
	struct trigger_run *run = userdata;

	(void)s;
	run->done(run, "cancelled", false, run->userdata);
	return 0;
}

static int run_post(const struct trigger_env *env, const struct cfg_listener *l, const struct cfg_trigger *t,
		    const struct trigger_input *in, trigger_done_fn done, void *userdata, struct trigger_run **ret_run,
		    char **ret_error)
{
	_cleanup_(json_decrefp) json_t *ce = trigger_cloudevent(l, in);
	_cleanup_(lazy_root_done) struct lazy_root root = { .listener = l, .notification = in->notification };
	_cleanup_free_ char *url = NULL, *err = NULL;
	struct trigger_run *run;
	bool content_type = false;
	int r = -ENOMEM;

	if (!ce || !env->glue)
		return ce ? -EINVAL : -ENOMEM;
	r = render(t->url, TMPL_DEST_URL, &root, &url, NULL, &err);
	if (r < 0 && err) {
		*ret_error = strdupf("url: %s", err);
		return TRIGGER_FAILED_PERMANENT;
	}
	if (r < 0)
		return r;
	r = -ENOMEM;
	run = calloc(1, sizeof(*run));
	if (!run)
		return -ENOMEM;
	*run = (struct trigger_run){ .done = done, .userdata = userdata, .listener = l, .trigger = t,
				     .glue = env->glue };
	dbuf_init(&run->response, POST_RESPONSE_MAX);
	run->body = json_dumps(ce, JSON_COMPACT);
	run->easy = curl_easy_init();
	if (!run->body || !run->easy)
		goto fail;
	for (size_t i = 0; i < t->n_headers; i++) {
		_cleanup_free_ char *value = NULL, *h = NULL;
		struct curl_slist *nl;

		r = render(t->headers[i].value, TMPL_DEST_HEADER, &root, &value, NULL, &err);
		if (r < 0 && err) {
			*ret_error = strdupf("headers.%s: %s", t->headers[i].key, err);
			r = TRIGGER_FAILED_PERMANENT;
			goto fail;
		}
		r = -ENOMEM;
		/* "Name:" with nothing after it tells curl to leave the header
		 * out; "Name;" sends it empty. */
		h = !value ? NULL : value[0] ? strdupf("%s: %s", t->headers[i].key, value)
					   : strdupf("%s;", t->headers[i].key);
		if (!h || !(nl = curl_slist_append(run->headers, h)))
			goto fail;
		run->headers = nl;
		content_type |= strcasecmp(t->headers[i].key, "Content-Type") == 0;
	}
	if (!content_type) {
		struct curl_slist *nl = curl_slist_append(run->headers, "Content-Type: application/cloudevents+json");

		if (!nl)
			goto fail;
		run->headers = nl;
	}
	r = -EINVAL;
	if (curl_easy_setopt(run->easy, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(run->easy, CURLOPT_POSTFIELDS, run->body) != CURLE_OK ||
	    curl_easy_setopt(run->easy, CURLOPT_HTTPHEADER, run->headers) != CURLE_OK ||
	    curl_easy_setopt(run->easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(run->easy, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(run->easy, CURLOPT_TIMEOUT_MS, curl_glue_ms(t->timeout_usec)) != CURLE_OK ||
	    curl_easy_setopt(run->easy, CURLOPT_USERAGENT, "ssewatchd/" SSEWATCHD_VERSION) != CURLE_OK ||
	    curl_easy_setopt(run->easy, CURLOPT_WRITEFUNCTION, post_write) != CURLE_OK ||
	    curl_easy_setopt(run->easy, CURLOPT_WRITEDATA, run) != CURLE_OK)
		goto fail;
	r = curl_glue_add(run->glue, run->easy, on_post_done, run);
	if (r < 0)
		goto fail;
	*ret_run = run;
	return TRIGGER_STARTED;
fail:
	post_release(run);
	dbuf_free(&run->response);
	free(run);
	return r;
}

int trigger_start(const struct trigger_env *env, const struct cfg_listener *l, const struct cfg_trigger *t,
		  const struct trigger_input *in, trigger_done_fn done, void *userdata,
		  struct trigger_run **ret_run, char **ret_error)
{
	const json_t *n = in->notification;

	*ret_run = NULL;
	*ret_error = NULL;
	switch (t->type) {
	case CFG_TRIGGER_ECHO:
		return run_echo(l, in, ret_error);
	case CFG_TRIGGER_LOG:
		return run_log(env, l, t, in, ret_error);
	case CFG_TRIGGER_COMMAND:
		return run_command(env, l, t, n, done, userdata, ret_run, ret_error);
	case CFG_TRIGGER_POST:
		return run_post(env, l, t, in, done, userdata, ret_run, ret_error);
	}
	return -EINVAL;
}

void trigger_run_cancel(struct trigger_run *run)
{
	if (!run)
		return;
	if (run->child) {
		child_terminate(run->child);
	} else if (run->easy && !run->cancelled) {
		/* Report from the loop: the caller may hold on to run. */
		post_release(run);
		if (sd_event_add_defer(curl_glue_event(run->glue), &run->cancelled, on_post_cancelled, run) < 0)
			run->done(run, "cancelled", false, run->userdata);
	}
}

void trigger_run_rebind(struct trigger_run *run, const struct cfg_listener *l, const struct cfg_trigger *t)
{
	run->listener = l;
	run->trigger = t;
}

struct trigger_run *trigger_run_free(struct trigger_run *run)
{
	if (!run)
		return NULL;
	child_free(run->child);
	post_release(run);
	sd_event_source_disable_unref(run->cancelled);
	dbuf_free(&run->response);
	free(run);
	return NULL;
}
