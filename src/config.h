/* SPDX-License-Identifier: MIT */
/*
 * config: reads the YAML (or JSON) configuration with libyaml into a jansson
 * tree that remembers where every node came from, then validates it into the
 * structs below. Every problem is reported as
 *
 *     FILE:LINE:COLUMN: listeners[1].triggers[0].timeout: message
 *
 * and loading fails (the daemon exits 78) if there is at least one. Values
 * given at top level (base_url, auth, tls, heartbeat_interval, ...) are copied
 * into each listener that does not set its own, so a cfg_listener is complete
 * on its own.
 */
#ifndef SSEWATCHD_CONFIG_H
#define SSEWATCHD_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_DEFAULT_PATH        "/etc/ssewatchd/ssewatchd.yaml"
#define CFG_DEFAULT_STATE_DIR   "/var/lib/ssewatchd"
#define CFG_DEFAULT_RUNTIME_DIR "/run/ssewatchd"
#define CFG_NAME_MAX            64
#define CFG_MAX_FILE_SIZE       (1024 * 1024)
#define CFG_MAX_LISTENERS       10000
#define CFG_MAX_TRIGGERS        32

/* Defaults, in microseconds or bytes. */
#define CFG_DEFAULT_HEARTBEAT_USEC        (30 * UINT64_C(1000000))
#define CFG_DEFAULT_CONNECT_TIMEOUT_USEC  (10 * UINT64_C(1000000))
#define CFG_DEFAULT_POST_TIMEOUT_USEC     (30 * UINT64_C(1000000))
#define CFG_DEFAULT_KILL_GRACE_USEC       (5 * UINT64_C(1000000))
#define CFG_DEFAULT_RETRY_DELAY_USEC      (1 * UINT64_C(1000000))
#define CFG_DEFAULT_REFRESH_TIMEOUT_USEC  (30 * UINT64_C(1000000))
#define CFG_DEFAULT_MAX_EVENT_SIZE        (1024 * 1024)
/* commit: per_event: each commit rewrites every waiting notification, and
 * shorter pauses keep the server from giving up on a reader it waits for. */
#define CFG_DEFAULT_MAX_PENDING           16
/* commit: batch: room for one half being committed while the other is read.
 * Halves of 8192 amortise each commit's two syncs; larger ones gained nothing. */
#define CFG_DEFAULT_MAX_PENDING_BATCH     16384

enum cfg_protocol {
	CFG_PROTOCOL_AVISO,
	CFG_PROTOCOL_SSE,
};

enum cfg_commit {
	CFG_COMMIT_PER_EVENT,	/* "per_event" (default) */
	CFG_COMMIT_BATCH,	/* "batch": one commit per read */
};

enum cfg_on_failure {
	CFG_ON_FAILURE_DEAD_LETTER,	/* "dead_letter" (default) */
	CFG_ON_FAILURE_STOP,		/* "stop": the listener stops */
};

enum cfg_on_gap {
	CFG_ON_GAP_CONTINUE,	/* "continue" (default): log the gap and go on */
	CFG_ON_GAP_STOP,	/* "stop" */
};

enum cfg_trigger_type {
	CFG_TRIGGER_ECHO,
	CFG_TRIGGER_LOG,
	CFG_TRIGGER_COMMAND,
	CFG_TRIGGER_POST,
};

/* A string map entry, in the order given in the file. */
struct cfg_kv {
	char *key;
	char *value;
};

struct cfg_auth {
	char *bearer_token;		/* inline secret; discouraged but aviso-compatible */
	char *bearer_token_file;	/* re-read on 401 and on reload */
	char **refresh_command;		/* argv, NULL-terminated; NULL if unset */
	uint64_t refresh_timeout_usec;
	char *basic_username;
	char *basic_password;		/* inline secret (aviso-compatible) */
	char *basic_password_file;
};

struct cfg_tls {
	char **ca_bundle;		/* extra CA files, added to the system roots */
	size_t n_ca_bundle;
	bool insecure;			/* also "danger_accept_invalid_certs" */
};

struct cfg_trigger {
	enum cfg_trigger_type type;
	char *where;			/* "listeners[0].triggers[1]", for messages */

	unsigned retries;		/* extra attempts after the first; default 0 */
	bool required;			/* default true */
	int fail_fast;			/* -1 unset, else 0/1 (aviso compatibility) */
	uint64_t timeout_usec;		/* 0 = none; post defaults to 30 s */
	uint64_t retry_delay_usec;	/* base of the jittered backoff between attempts */
	bool on_failure_set;
	enum cfg_on_failure on_failure;	/* overrides the listener's when set */

	/* command: exactly one of argv and shell */
	char **argv;			/* NULL-terminated */
	size_t argc;
	char *shell;			/* "command:" string, run with /bin/sh -c */
	struct cfg_kv *env;
	size_t n_env;
	char *working_dir;
	uint64_t kill_grace_usec;	/* SIGTERM to SIGKILL on timeout */

	/* post */
	char *url;
	struct cfg_kv *headers;
	size_t n_headers;

	/* log */
	char *path;
	bool fsync;
};

struct cfg_listener {
	char *name;			/* [A-Za-z0-9_.-]{1,64}, unique */
	char *where;			/* "listeners[2]" (or "FILE: listeners[0]" for conf.d) */
	enum cfg_protocol protocol;

	/* sse */
	char *url;
	struct cfg_kv *headers;		/* extra request headers */
	size_t n_headers;

	/* aviso */
	char *base_url;			/* resolved: listener's, else top level */
	char *event;			/* event_type */
	json_t *identifiers;		/* object; scalar values or one-operator constraints */
	bool from_id_set;
	uint64_t from_id;
	char *from_date;		/* NULL if unset; bootstrap only */
	enum cfg_on_gap on_gap;

	/* both; resolved against the top level */
	struct cfg_auth auth;
	struct cfg_tls tls;
	char *proxy;
	uint64_t heartbeat_interval_usec;
	uint64_t idle_timeout_usec;	/* 0: max(3 x heartbeat_interval, heartbeat_interval + 30 s) */
	uint64_t connect_timeout_usec;
	enum cfg_commit commit;
	enum cfg_on_failure on_failure;
	size_t max_event_size;
	size_t max_pending;

	struct cfg_trigger *triggers;
	size_t n_triggers;
};

struct cfg {
	char *path;			/* the main file as given */
	char *state_dir;		/* resolved: file, else $STATE_DIRECTORY, else default */
	char *runtime_dir;		/* the status file: file, else $RUNTIME_DIRECTORY, else default */
	int log_level;			/* syslog level; "log_level:", default LOG_INFO */
	struct cfg_listener *listeners;
	size_t n_listeners;
	char **warnings;		/* non-fatal remarks, e.g. ignored aviso keys */
	size_t n_warnings;
};

/* Problems found while loading, each already formatted as above. */
struct cfg_errors {
	char **lines;
	size_t n;
};

/*
 * Loads path and the files matching conf.d/ *.yaml beside it (in name order).
 * On success returns 0 and *ret. On failure returns -EINVAL (invalid
 * content) or another negative errno (e.g. the main file is unreadable),
 * with every problem described in *errors (which the caller frees with
 * cfg_errors_clear). Never logs.
 */
int cfg_load(const char *path, struct cfg **ret, struct cfg_errors *errors);

enum {
	/*
	 * Do not require bearer_token_file and password_file to be readable:
	 * for commands that never send credentials (state, dead-letter,
	 * status), which operators run while systemd's credentials directory
	 * exists only inside the running service.
	 */
	CFG_LOAD_UNCHECKED_SECRETS = 1 << 0,
};

int cfg_load_flags(const char *path, unsigned flags, struct cfg **ret, struct cfg_errors *errors);

/*
 * The same for a main file already in memory: name is used in messages and
 * as cfg->path, and no conf.d directory is read. For tests and fuzzing.
 */
int cfg_load_buffer(const char *name, const void *data, size_t size, struct cfg **ret,
		    struct cfg_errors *errors);

struct cfg *cfg_free(struct cfg *c);
void cfg_errors_clear(struct cfg_errors *e);

/* The path to use: explicit, else $SSEWATCHD_CONFIG, else CFG_DEFAULT_PATH. */
const char *cfg_default_path(const char *explicit_path);

/*
 * The listener as JSON for `ssewatchd check`, with every secret value
 * replaced by "(secret)". Returns a new reference.
 */
json_t *cfg_listener_to_json(const struct cfg_listener *l);

/* The largest max_event_size of any listener (at least the default). */
size_t cfg_largest_event_size(const struct cfg *c);

/*
 * Whether two listeners are the same once resolved, secrets included: what
 * a reload asks before it keeps a listener's connection. False if memory
 * ran out (the listener is set up again, which loses nothing).
 */
bool cfg_listener_same(const struct cfg_listener *a, const struct cfg_listener *b);

const struct cfg_listener *cfg_find_listener(const struct cfg *c, const char *name);

/*
 * Durations: "500ms", "30s", "5m", "1h30m", "1h 30m", or a plain number of
 * seconds. Returns -EINVAL on anything else, -ERANGE on overflow.
 */
int cfg_parse_duration(const char *s, uint64_t *ret_usec);

const char *cfg_protocol_to_string(enum cfg_protocol p);
/* fail_fast as it applies: unset, true for a command string and a post
 * (aviso's default), false for an argv (ours alone: it spends its retries). */
bool cfg_trigger_fail_fast(const struct cfg_trigger *t);

const char *cfg_trigger_type_to_string(enum cfg_trigger_type t);

#endif
