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
#include <systemd/sd-event.h>

#include "config.h"

struct trigger_run;

/* What a trigger needs from the daemon. */
struct trigger_env {
	sd_event *event;
	char **base_env;	/* the daemon's environment minus what children must not see */
};

/* error is NULL on success, else a short description ("exit status 3"). */
typedef void (*trigger_done_fn)(struct trigger_run *run, const char *error, void *userdata);

enum {
	TRIGGER_STARTED = 0,	/* done will be called later, from the loop */
	TRIGGER_SUCCEEDED = 1,	/* finished already, successfully */
	TRIGGER_FAILED = 2,	/* finished already, unsuccessfully: *ret_error says why */
};

/*
 * Runs trigger t of listener l for notification n (borrowed; must outlive the
 * run). Returns TRIGGER_* or a negative errno for local failures such as OOM.
 * On TRIGGER_STARTED *ret_run is set and belongs to the caller, who frees it
 * with trigger_run_free() (also from inside done).
 */
int trigger_start(const struct trigger_env *env, const struct cfg_listener *l, const struct cfg_trigger *t,
		  const json_t *n, trigger_done_fn done, void *userdata, struct trigger_run **ret_run,
		  char **ret_error);

/* Terminates a running command (SIGTERM, then SIGKILL after its grace); done is still called. */
void trigger_run_cancel(struct trigger_run *run);

struct trigger_run *trigger_run_free(struct trigger_run *run);

/* Whether a trigger runs outside the daemon (a process or a request) and so can be
 * interrupted by a crash half way. echo and log finish within one loop iteration. */
bool trigger_is_external(const struct cfg_trigger *t);

/* The environment children start from: environ minus the daemon's own and secret variables. */
char **trigger_base_env(char **environ_);

#endif
