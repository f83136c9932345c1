/* SPDX-License-Identifier: MIT */
/*
 * trigger: runs one configured trigger for one notification. echo and log
 * finish before trigger_start returns; command runs a child process and
 * reports later. The caller (watch.c) owns ordering, retries, dead letters
 * and durability: this module only runs the thing once.
 */
#ifndef SSEWATCHD_TRIGGER_H
#define SSEWATCHD_TRIGGER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "dbuf.h"

struct curl_glue;
struct trigger_logs;
struct trigger_run;

/* What a trigger needs from the daemon. */
struct trigger_env {
	sd_event *event;
	struct curl_glue *glue;	/* post requests run in the daemon's curl multi */
	char **base_env;	/* the daemon's environment minus what children must not see */
	struct trigger_logs *logs;	/* log files kept open; NULL: opened per line */
};

/* The files log triggers write stay open; reload closes them (log rotation). */
struct trigger_logs *trigger_logs_new(void);
void trigger_logs_close_all(struct trigger_logs *logs);
struct trigger_logs *trigger_logs_free(struct trigger_logs *logs);

/* The notification a trigger runs for. */
struct trigger_input {
	const json_t *notification;	/* borrowed; must outlive the run; NULL when !trigger_needs_tree() */
	uint64_t seq;			/* the listener's delivery number */
	uint64_t received_usec;		/* CLOCK_REALTIME */
	const char *notification_text;	/* notification as compact sorted JSON, or NULL */
	size_t notification_text_len;	/* its length; 0: count it */
};

/*
 * error is NULL on success, else a short description ("exit status 3").
 * permanent: retrying cannot help (a 4xx answer, or fail_fast: true).
 */
typedef void (*trigger_done_fn)(struct trigger_run *run, const char *error, bool permanent, void *userdata);

enum {
	TRIGGER_STARTED = 0,		/* done will be called later, from the loop */
	TRIGGER_SUCCEEDED = 1,		/* finished already, successfully */
	TRIGGER_FAILED = 2,		/* finished already, unsuccessfully: *ret_error says why */
	TRIGGER_FAILED_PERMANENT = 3,	/* ...and retrying cannot help */
};

/*
 * Runs trigger t of listener l for in. Returns TRIGGER_* or a negative errno
 * for local failures such as OOM. On TRIGGER_STARTED *ret_run is set and
 * belongs to the caller, who frees it with trigger_run_free() (also from
 * inside done).
 */
int trigger_start(const struct trigger_env *env, const struct cfg_listener *l, const struct cfg_trigger *t,
		  const struct trigger_input *in, trigger_done_fn done, void *userdata,
		  struct trigger_run **ret_run, char **ret_error);

/* Ends a running trigger (a command gets SIGTERM, then SIGKILL after its
 * grace; a request is aborted); done is still called, from the loop. */
void trigger_run_cancel(struct trigger_run *run);

/* The body a post trigger sends: a structured CloudEvent. New reference. */
json_t *trigger_cloudevent(const struct cfg_listener *l, const struct trigger_input *in);

struct trigger_run *trigger_run_free(struct trigger_run *run);

/* After a reload that left this listener unchanged: the same listener and
 * trigger, in the new configuration's memory (the old one is freed). */
void trigger_run_rebind(struct trigger_run *run, const struct cfg_listener *l, const struct cfg_trigger *t);

/* Whether a trigger runs outside the daemon (a process or a request) and so can be
 * interrupted by a crash half way. echo and log finish within one loop iteration. */
bool trigger_is_external(const struct cfg_trigger *t);

/*
 * A log trigger's work in two halves, for a caller that gathers the lines of
 * many notifications into one write: the line (with its newline) appended to
 * out, and a block of whole lines appended to path through env's cached
 * descriptors. Negative errno; trigger_log_write() also says what failed.
 */
int trigger_log_line(const struct cfg_listener *l, const struct trigger_input *in, struct dbuf *out);
int trigger_log_write(const struct trigger_env *env, const char *path, const char *buf, size_t len,
		      char **ret_error);

/* Whether t needs trigger_input.notification, or makes do with its text
 * (state_pending_text(); NULL: there is none). */
bool trigger_needs_tree(const struct cfg_listener *l, const struct cfg_trigger *t, const char *text);

/* The environment children start from: environ minus the daemon's own and secret variables. */
char **trigger_base_env(char **environ_);

#endif
