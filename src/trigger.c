/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "child.h"
#include "cleanup.h"
#include "log.h"
#include "notif.h"
#include "strv.h"
#include "trigger.h"
#include "util.h"

struct trigger_run {
	struct child *child;
	trigger_done_fn done;
	void *userdata;
	const struct cfg_listener *listener;
	const struct cfg_trigger *trigger;
};

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

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int record_line(const struct cfg_listener *l, const json_t *n, char **ret, size_t *ret_len)
{
	_cleanup_(json_decrefp) json_t *rec = notif_record(n, l->protocol, l->name);
	char *s;

	if (!rec)
		return -ENOMEM;
	s = json_dumps(rec, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	*ret_len = strlen(s);
	s[*ret_len] = '\n';	/* json_dumps left room: we replace the NUL */
	*ret = s;
	return 0;
}

static int run_echo(const struct cfg_listener *l, const json_t *n, char **ret_error)
{
	_cleanup_free_ char *line = NULL;
	size_t len;
	int r;

	r = record_line(l, n, &line, &len);
	if (r < 0)
		return r;
	r = write_all(STDOUT_FILENO, line, len + 1);
	if (r < 0) {
		*ret_error = strdupf("writing to standard output: %s", strerror(-r));
		return TRIGGER_FAILED;
	}
	return TRIGGER_SUCCEEDED;
}

static int run_log(const struct cfg_listener *l, const struct cfg_trigger *t, const json_t *n, char **ret_error)
{
	_cleanup_free_ char *line = NULL;
	_cleanup_close_ int fd = -1;
	size_t len;
	int r;

	r = record_line(l, n, &line, &len);
	if (r < 0)
		return r;
	/* One write of one whole line with O_APPEND: lines never interleave. */
	fd = open(t->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0) {
		*ret_error = strdupf("cannot open %s: %m", t->path);
		return TRIGGER_FAILED;
	}
	r = write_all(fd, line, len + 1);
	if (r >= 0 && t->fsync && fsync(fd) < 0)
		r = -errno;
	if (r >= 0 && close(TAKE_FD(fd)) < 0)
		r = -errno;
	if (r < 0) {
		*ret_error = strdupf("cannot write %s: %s", t->path, strerror(-r));
		return TRIGGER_FAILED;
	}
	return TRIGGER_SUCCEEDED;
}

static void log_output(const struct trigger_run *run, const char *stream, const char *tail, size_t len, uint64_t total)
{
	if (total == 0)
		return;
	/* The tail as the child wrote it, bounded; control bytes are the
	 * journal's problem, not ours, but a trailing newline is noise. */
	while (len > 0 && (tail[len - 1] == '\n' || tail[len - 1] == '\r'))
		len--;
	log_f(LOG_INFO, 0, &(struct log_fields){ .listener = run->listener->name },
	      "%s %s%s: %.*s", run->trigger->where, stream, total > len + 1 ? " (last bytes)" : "",
	      (int)len, tail);
}

static void on_child_done(struct child *c, const struct child_result *res, void *userdata)
{
	struct trigger_run *run = userdata;
	_cleanup_free_ char *error = NULL;

	(void)c;
	if (res->spawn_error) {
		error = strdupf("cannot start %s: %s", run->trigger->argv[0], strerror(res->spawn_error));
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
	run->done(run, error, run->userdata);
}

static int run_command(const struct trigger_env *env, const struct cfg_listener *l, const struct cfg_trigger *t,
		       const json_t *n, trigger_done_fn done, void *userdata, struct trigger_run **ret_run)
{
	_cleanup_free_ char *input = NULL;
	char **envp = NULL;
	struct trigger_run *run;
	size_t input_len = 0;
	int r;

	r = notif_stdin(n, l->protocol, &input, &input_len);
	if (r < 0)
		return r;
	for (size_t i = 0; env->base_env && env->base_env[i]; i++)
		if ((r = strv_push(&envp, env->base_env[i])) < 0)
			goto fail;
	r = notif_env(n, l->protocol, l->name, &envp);
	for (size_t i = 0; r >= 0 && i < t->n_env; i++)
		r = strv_env_set(&envp, t->env[i].key, t->env[i].value);
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
				.argv = t->argv,
				.envp = envp,
				.working_dir = t->working_dir,
				.stdin_data = input,
				.stdin_len = input_len,
				.timeout_usec = t->timeout_usec,
				.kill_grace_usec = t->kill_grace_usec,
			},
			on_child_done, run, &run->child);
	strv_free(envp);
	if (r < 0) {
		free(run);
		return r;
	}
	*ret_run = run;
	return TRIGGER_STARTED;
fail:
	strv_free(envp);
	return r;
}

int trigger_start(const struct trigger_env *env, const struct cfg_listener *l, const struct cfg_trigger *t,
		  const json_t *n, trigger_done_fn done, void *userdata, struct trigger_run **ret_run,
		  char **ret_error)
{
	*ret_run = NULL;
	*ret_error = NULL;
	switch (t->type) {
	case CFG_TRIGGER_ECHO:
		return run_echo(l, n, ret_error);
	case CFG_TRIGGER_LOG:
		return run_log(l, t, n, ret_error);
	case CFG_TRIGGER_COMMAND:
		if (!t->argv) {
			*ret_error = strdup("shell command strings are not supported yet; use argv");
			return TRIGGER_FAILED;
		}
		return run_command(env, l, t, n, done, userdata, ret_run);
	case CFG_TRIGGER_POST:
		*ret_error = strdup("post triggers are not supported yet");
		return TRIGGER_FAILED;
	}
	return -EINVAL;
}

void trigger_run_cancel(struct trigger_run *run)
{
	if (run && run->child)
		child_terminate(run->child);
}

struct trigger_run *trigger_run_free(struct trigger_run *run)
{
	if (!run)
		return NULL;
	child_free(run->child);
	free(run);
	return NULL;
}
