/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "child.h"
#include "cleanup.h"
#include "notif.h"
#include "util.h"

struct auth {
	const struct cfg_auth *cfg;
	char *header;			/* "Bearer ..." or "Basic ...", once loaded */
	char *fetched_token;		/* from refresh_command */
	/* What bearer_token_file held when the server rejected it: while the
	 * file still holds that, a fetched token is used instead. */
	char *rejected_file_token;
	bool header_from_file;		/* the header's token came from bearer_token_file */

	struct child *refresh;
	auth_done_fn done;
	void *userdata;
	sd_event_source *defer;		/* reports a refresh that needed no process */
	int result;
	char *message;
};

int auth_new(const struct cfg_auth *cfg, struct auth **ret)
{
	struct auth *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->cfg = cfg;
	*ret = a;
	return 0;
}

static void wipe(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

struct auth *auth_free(struct auth *a)
{
	if (!a)
		return NULL;
	child_free(a->refresh);
	sd_event_source_disable_unref(a->defer);
	wipe(a->header);
	wipe(a->fetched_token);
	wipe(a->rejected_file_token);
	free(a->message);
	free(a);
	return NULL;
}

bool auth_configured(const struct auth *a)
{
	const struct cfg_auth *c = a->cfg;

	return c->bearer_token || c->bearer_token_file || c->refresh_command || c->basic_username;
}

bool auth_can_refresh(const struct auth *a)
{
	const struct cfg_auth *c = a->cfg;

	return c->bearer_token_file || c->refresh_command || c->basic_password_file;
}

/* A secret must fit in one header line. */
static bool secret_ok(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\0' || s[i] == '\r' || s[i] == '\n')
			return false;
	return true;
}

/* Trailing white space (a final newline above all) is not part of a secret. */
static size_t trim(const char *s, size_t len)
{
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	return len;
}

static int read_secret(const char *path, char **ret, char **reterr)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	char *buf;
	size_t len = 0;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0) {
		*reterr = strdupf("cannot read credentials from %s: %m", path);
		return -errno;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > AUTH_MAX_SECRET) {
		*reterr = strdupf("%s: not a regular file of at most %d bytes", path, AUTH_MAX_SECRET);
		return -EINVAL;
	}
	buf = calloc(1, (size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	len = trim(buf, len);
	buf[len] = '\0';
	if (!secret_ok(buf, len)) {
		wipe(buf);
		*reterr = strdupf("%s: empty, or holds a line break or NUL inside the credential", path);
		return -EINVAL;
	}
	*ret = buf;
	return 0;
}

static int make_header(struct auth *a, char **reterr)
{
	const struct cfg_auth *c = a->cfg;
	char *h;
	int r;

	if (c->basic_username) {
		char *pass = NULL, *pair, *enc;

		if (c->basic_password_file) {
			r = read_secret(c->basic_password_file, &pass, reterr);
			if (r < 0)
				return r;
		} else if (!(pass = strdup(c->basic_password ? c->basic_password : ""))) {
			return -ENOMEM;
		}
		pair = strdupf("%s:%s", c->basic_username, pass);
		wipe(pass);
		if (!pair)
			return -ENOMEM;
		enc = base64_encode(pair, strlen(pair));
		wipe(pair);
		if (!enc)
			return -ENOMEM;
		h = strdupf("Basic %s", enc);
		wipe(enc);
	} else {
		char *token = NULL;
		bool from_file = false;

		if (c->bearer_token_file) {
			r = read_secret(c->bearer_token_file, &token, reterr);
			if (r == -ENOMEM || (r < 0 && !c->refresh_command))
				return r;
			if (r < 0) {
				/* An unreadable file: the command stands in for it. */
				free(*reterr);
				*reterr = NULL;
				if (!a->fetched_token)
					return -ENOKEY;
				token = strdup(a->fetched_token);
				if (!token)
					return -ENOMEM;
				h = strdupf("Bearer %s", token);
				wipe(token);
				a->header_from_file = false;
				goto done;
			}
			/* A file that changed since its token was rejected was
			 * rotated: it is newer than anything fetched. */
			if (!a->rejected_file_token || strcmp(token, a->rejected_file_token) != 0) {
				wipe(a->fetched_token);
				a->fetched_token = NULL;
				from_file = true;
			} else if (a->fetched_token) {
				wipe(token);
				token = strdup(a->fetched_token);
			} else if (c->refresh_command) {
				wipe(token);
				return -ENOKEY;		/* the file is stale: fetch first */
			} else
				from_file = true;	/* nothing newer to offer */
		} else if (a->fetched_token)
			token = strdup(a->fetched_token);
		else if (c->bearer_token)
			token = strdup(c->bearer_token);
		else
			return -ENOKEY;		/* refresh_command only: fetch first */
		if (!token)
			return -ENOMEM;
		h = strdupf("Bearer %s", token);
		wipe(token);
		a->header_from_file = from_file;
	}
done:
	if (!h)
		return -ENOMEM;
	wipe(a->header);
	a->header = h;
	return 0;
}

int auth_header(struct auth *a, const char **ret, char **reterr)
{
	int r;

	*ret = NULL;
	if (!auth_configured(a))
		return 0;
	if (!a->header) {
		r = make_header(a, reterr);
		if (r < 0)
			return r;
	}
	*ret = a->header;
	return 0;
}

static void report(struct auth *a, int error, char *message)
{
	auth_done_fn done = a->done;

	a->done = NULL;
	free(a->message);
	a->message = NULL;
	if (done)
		done(a, error, message, a->userdata);
	free(message);
}

static int on_defer(sd_event_source *s, void *userdata)
{
	struct auth *a = userdata;

	(void)s;
	report(a, a->result, TAKE_PTR(a->message));
	return 0;
}

static void on_refresh_done(struct child *c, const struct child_result *res, void *userdata)
{
	struct auth *a = userdata;
	const char *cmd = a->cfg->refresh_command[0];
	char *message = NULL;
	size_t len;
	int error = 0;

	(void)c;
	if (res->spawn_error) {
		message = strdupf("cannot run refresh command %s: %s", cmd, strerror(res->spawn_error));
		error = -res->spawn_error;
	} else if (res->timed_out) {
		message = strdupf("refresh command %s timed out", cmd);
		error = -ETIME;
	} else if (!res->exited || res->exit_code != 0) {
		/* stderr may explain; stdout may hold a secret, so it is not shown. */
		len = trim(res->err_tail, res->err_len);
		message = strdupf("refresh command %s %s %d%s%.*s", cmd, res->exited ? "exited with status" : "killed by signal",
				  res->exited ? res->exit_code : res->signal, len ? ": " : "", (int)MIN(len, 300), res->err_tail);
		error = -EIO;
	} else if (res->out_total > AUTH_MAX_SECRET || !secret_ok(res->out_tail, trim(res->out_tail, res->out_len))) {
		message = strdupf("refresh command %s printed no usable token (one line, at most %d bytes, expected)",
				  cmd, AUTH_MAX_SECRET);
		error = -EINVAL;
	} else {
		wipe(a->fetched_token);
		a->fetched_token = strndup(res->out_tail, trim(res->out_tail, res->out_len));
		if (!a->fetched_token)
			error = -ENOMEM;
		else
			error = make_header(a, &message);
	}
	a->refresh = child_free(a->refresh);
	report(a, error, message);
}

/* The server refused the header: what it carried is not offered again while something newer may be had. */
static int forget_rejected(struct auth *a)
{
	if (a->header && strncmp(a->header, "Bearer ", 7) == 0) {
		if (a->header_from_file) {
			wipe(a->rejected_file_token);
			a->rejected_file_token = strdup(a->header + 7);
			if (!a->rejected_file_token)
				return -ENOMEM;
		} else {
			wipe(a->fetched_token);
			a->fetched_token = NULL;
		}
	}
	wipe(a->header);
	a->header = NULL;
	return 0;
}

static int spawn_refresh(struct auth *a, sd_event *e, char **base_env)
{
	return child_spawn(e,
			   &(struct child_spec){
				   .argv = a->cfg->refresh_command,
				   .envp = base_env,
				   .timeout_usec = a->cfg->refresh_timeout_usec,
				   .kill_grace_usec = USEC_PER_SEC,
				   .capture_max = AUTH_MAX_SECRET,
			   },
			   on_refresh_done, a, &a->refresh);
}

int auth_refresh(struct auth *a, sd_event *e, char **base_env, auth_done_fn done, void *userdata)
{
	int r;

	if (a->done)
		return -EBUSY;
	r = forget_rejected(a);
	if (r < 0)
		return r;
	a->done = done;
	a->userdata = userdata;

	/* The file first: a rotated file needs no command. */
	free(a->message);
	a->message = NULL;
	a->result = a->cfg->refresh_command && !a->cfg->bearer_token_file ? -ENOKEY : make_header(a, &a->message);
	if (a->result == -ENOKEY && a->cfg->refresh_command) {
		r = spawn_refresh(a, e, base_env);
		if (r < 0)
			a->done = NULL;
		return r;
	}

	/* Report from the loop, like a command. */
	if (!a->defer) {
		r = sd_event_add_defer(e, &a->defer, on_defer, a);
		if (r < 0) {
			a->done = NULL;
			return r;
		}
	}
	return sd_event_source_set_enabled(a->defer, SD_EVENT_ONESHOT);
}

void auth_rebind(struct auth *a, const struct cfg_auth *cfg)
{
	a->cfg = cfg;
}

void auth_invalidate(struct auth *a)
{
	/* The next auth_header() reads the file again: if it changed since
	 * the server rejected it, it wins over a fetched token. */
	wipe(a->header);
	a->header = NULL;
}

bool auth_url_safe(const char *url)
{
	const char *host, *end;
	size_t n;

	if (strncasecmp(url, "https://", 8) == 0)
		return true;
	if (strncasecmp(url, "http://", 7) != 0)
		return false;
	host = url + 7;
	end = host + strcspn(host, "/?#");
	/* Skip userinfo. */
	for (const char *at = host; at < end; at++)
		if (*at == '@')
			host = at + 1;
	if (*host == '[') {
		const char *close = memchr(host, ']', (size_t)(end - host));

		return close && (size_t)(close - host - 1) == 3 && strncmp(host + 1, "::1", 3) == 0;
	}
	n = strcspn(host, ":/?#");
	if (n == 9 && strncasecmp(host, "localhost", 9) == 0)
		return true;
	if (n >= 4 && strncmp(host, "127.", 4) == 0) {
		/* A dotted quad in 127.0.0.0/8, digits and dots only. */
		for (size_t i = 4; i < n; i++)
			if (!isdigit((unsigned char)host[i]) && host[i] != '.')
				return false;
		return true;
	}
	return false;
}
