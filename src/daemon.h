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
#include "trigger.h"

struct curl_glue;
struct statedir;
struct watch;

struct daemon {
	sd_event *event;
	struct curl_glue *glue;
	struct statedir *statedir;
	struct cfg *cfg;
	struct watch **watches;
	size_t n_watches;
	struct trigger_env tenv;
	uint64_t rng;
	bool stopping;
	sd_event_source *stop_timer;
	uint64_t stop_grace_usec;
	int exit_code;
};

/* Runs until SIGTERM/SIGINT (exit 0) or a fatal error. Takes ownership of cfg. */
int daemon_run(struct cfg *cfg);

uint64_t daemon_random(struct daemon *d);

/* A watch finished its work in progress: during shutdown, maybe the last one. */
void daemon_watch_idle(struct daemon *d);

#endif
