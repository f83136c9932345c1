/* SPDX-License-Identifier: MIT */
/*
 * daemon: the running process. It owns the loop, the curl glue, the state
 * directory and the configuration, and one watch per listener. main.c
 * creates it for `ssewatchd run`.
 */
#ifndef SSEWATCHD_DAEMON_H
#define SSEWATCHD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "dbuf.h"
#include "trigger.h"

struct curl_glue;
struct statedir;
struct uring;
struct watch;

struct daemon {
	sd_event *event;
	struct curl_glue *glue;
	struct statedir *statedir;
	struct uring *uring;		/* batch commits' writes and syncs; NULL: no io_uring */
	sd_event_source *uring_source;
	struct cfg *cfg;
	struct watch **watches;
	size_t n_watches;
	struct trigger_env tenv;
	uint64_t rng;
	struct dbuf text_scratch;	/* notif_sse_text()'s room, shared: one event at a time */
	bool stopping;
	bool stopping_watches;	/* on_terminate() is stopping them one by one */
	bool finished;		/* the loop was told to exit */
	sd_event_source *stop_timer;
	bool terminating;		/* the grace is over: triggers were sent SIGTERM */
	uint64_t stop_grace_usec;
	int exit_code;

	/* status file and STATUS= */
	sd_event_source *status_timer;
	uint64_t status_generation;
	int runtime_fd;
	uint64_t started_usec;

	/* reload: watches finishing under an old configuration, and the new
	 * watches waiting for them to release their state file */
	struct cfg **old_cfgs;
	size_t n_old_cfgs;
	struct watch **retiring;
	size_t n_retiring;
	struct watch **waiting;
	size_t n_waiting;

	/* `ssewatchd replay`: one watch, nothing written, progress on a terminal */
	bool replay;
	sd_event_source *progress;
	bool progress_tty;
};

/* Runs until SIGTERM/SIGINT (exit 0) or a fatal error. Takes ownership of cfg. */
int daemon_run(struct cfg *cfg);

/*
 * Replays listener name's notifications through its triggers, writing no
 * state: aviso from `from` (a sequence or a date) to `to` (0: the end); sse
 * after the event id `from` to the event whose id is `to_id`. Exit status 0
 * if every trigger succeeded. Takes ownership of cfg.
 */
int daemon_replay(struct cfg *cfg, const char *name, const char *from, uint64_t to, const char *to_id);

uint64_t daemon_random(struct daemon *d);

/* The status file, where `ssewatchd status` reads it. */
#define DAEMON_STATUS_FILE "status.json"

/* A watch finished its work in progress: during shutdown, maybe the last one. */
void daemon_watch_idle(struct daemon *d);

#endif
