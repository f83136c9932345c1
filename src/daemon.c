/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

#include "backoff.h"
#include "cleanup.h"
#include "curl_glue.h"
#include "daemon.h"
#include "log.h"
#include "state.h"
#include "strv.h"
#include "util.h"
#include "watch.h"

extern char **environ;

/* How long a stop waits for running triggers before terminating them, and
 * then how long for the terminated ones to go. */
#define STOP_GRACE_USEC     (30 * USEC_PER_SEC)
#define STOP_TERMINATE_USEC (10 * USEC_PER_SEC)

uint64_t daemon_random(struct daemon *d)
{
	return backoff_random(&d->rng);
}

static bool any_busy(const struct daemon *d)
{
	for (size_t i = 0; i < d->n_watches; i++)
		if (watch_busy(d->watches[i]))
			return true;
	return false;
}

static void finish(struct daemon *d)
{
	for (size_t i = 0; i < d->n_watches; i++)
		(void)watch_flush(d->watches[i]);	/* logs its own failure */
	(void)sd_event_exit(d->event, d->exit_code);
}

void daemon_watch_idle(struct daemon *d)
{
	if (d->stopping && !any_busy(d))
		finish(d);
}

static int on_stop_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;
	static bool terminated;

	(void)usec;
	if (terminated) {
		log_error("triggers did not end after being terminated; exiting anyway");
		finish(d);
		return 0;
	}
	terminated = true;
	log_warning("triggers still running after %.0fs: terminating them (they will run again at the next start)",
		    (double)d->stop_grace_usec / 1e6);
	for (size_t i = 0; i < d->n_watches; i++)
		watch_cancel_trigger(d->watches[i]);
	(void)sd_event_source_set_time_relative(s, STOP_TERMINATE_USEC);
	(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

static int on_terminate(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;

	(void)s;
	if (d->stopping) {
		log_notice("SIG%s again: stopping now", sigabbrev_np((int)si->ssi_signo));
		finish(d);
		return 0;
	}
	d->stopping = true;
	(void)sd_notify(0, "STOPPING=1");
	log_info("SIG%s received: stopping", sigabbrev_np((int)si->ssi_signo));
	for (size_t i = 0; i < d->n_watches; i++)
		watch_stop(d->watches[i]);
	if (!any_busy(d)) {
		finish(d);
		return 0;
	}
	log_info("waiting up to %.0fs for running triggers to finish", (double)d->stop_grace_usec / 1e6);
	if (sd_event_add_time_relative(d->event, &d->stop_timer, CLOCK_MONOTONIC, d->stop_grace_usec,
				       USEC_PER_MSEC, on_stop_timer, d) < 0)
		finish(d);
	return 0;
}

static int on_hangup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	(void)s;
	(void)si;
	(void)userdata;
	log_notice("SIGHUP: reloading is not supported by this version; ignored");
	return 0;
}

/* Many listeners need many sockets: use all the descriptors we may. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_debug("cannot raise RLIMIT_NOFILE, ignoring: %m");
	}
}

static int setup_signals(struct daemon *d)
{
	sigset_t mask;
	int r;

	/* SIGCHLD is blocked for sd_event_add_child; the others arrive through
	 * signalfd. Children get a clean mask from child.c. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	/* curl asks for MSG_NOSIGNAL, TLS libraries may not. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return -errno;

	r = sd_event_add_signal(d->event, NULL, SIGTERM, on_terminate, d);
	if (r >= 0)
		r = sd_event_add_signal(d->event, NULL, SIGINT, on_terminate, d);
	if (r >= 0)
		r = sd_event_add_signal(d->event, NULL, SIGHUP, on_hangup, d);
	return r;
}

static void daemon_done(struct daemon *d)
{
	for (size_t i = 0; i < d->n_watches; i++)
		watch_free(d->watches[i]);
	free(d->watches);
	curl_glue_free(d->glue);
	sd_event_source_disable_unref(d->stop_timer);
	statedir_free(d->statedir);
	strv_free(d->tenv.base_env);
	sd_event_unref(d->event);
	cfg_free(d->cfg);
	curl_global_cleanup();
}

int daemon_run(struct cfg *cfg)
{
	struct daemon d = { .cfg = cfg, .stop_grace_usec = STOP_GRACE_USEC, .exit_code = EXIT_SUCCESS };
	_cleanup_free_ char *err = NULL;
	size_t failed = 0;
	int r;

	raise_nofile();
	if (getrandom(&d.rng, sizeof(d.rng), GRND_NONBLOCK) != sizeof(d.rng))
		d.rng = now_usec(CLOCK_REALTIME) ^ (uint64_t)getpid();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("cannot initialise libcurl");
		cfg_free(cfg);
		return EXIT_FAILURE;
	}

	r = sd_event_new(&d.event);
	if (r < 0) {
		log_error_errno(r, "cannot create the event loop: %m");
		goto fail;
	}
	r = setup_signals(&d);
	if (r < 0) {
		log_error_errno(r, "cannot set up signal handling: %m");
		goto fail;
	}
	r = statedir_open(cfg->state_dir, STATEDIR_LOCK | STATEDIR_CREATE, &d.statedir, &err);
	if (r < 0) {
		log_f(LOG_ERR, r, &(struct log_fields){ .message_id = LOG_MID_STATE_ERROR }, "%s",
		      err ? err : strerror(-r));
		goto fail;
	}
	d.tenv.event = d.event;
	d.tenv.base_env = trigger_base_env(environ);
	r = curl_glue_new(d.event, &d.glue);
	if (r < 0 || !d.tenv.base_env) {
		log_error_errno(r < 0 ? r : -ENOMEM, "cannot set up: %m");
		goto fail;
	}

	d.watches = calloc(cfg->n_listeners ? cfg->n_listeners : 1, sizeof(*d.watches));
	if (!d.watches) {
		log_error("out of memory");
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		r = watch_new(&d, &cfg->listeners[i], &d.watches[d.n_watches]);
		if (r < 0) {
			log_error_errno(r, "%s: cannot set up the listener: %m", cfg->listeners[i].name);
			goto fail;
		}
		d.n_watches++;
	}
	for (size_t i = 0; i < d.n_watches; i++) {
		r = watch_start(d.watches[i]);
		if (r < 0) {
			log_error_errno(r, "%s: cannot start: %m", d.watches[i]->name);
			goto fail;
		}
		failed += sv_is_final(&d.watches[i]->sv);
	}

	log_info("ssewatchd %s started: %zu listener(s)%s, state in %s", SSEWATCHD_VERSION, d.n_watches,
		 failed ? " (some failed, see above)" : "", cfg->state_dir);
	(void)sd_notify(0, "READY=1");

	r = sd_event_loop(d.event);
	if (r < 0) {
		log_error_errno(r, "event loop failed: %m");
		d.exit_code = EXIT_FAILURE;
	} else {
		d.exit_code = r;
	}
	daemon_done(&d);
	return d.exit_code;
fail:
	daemon_done(&d);
	return EXIT_FAILURE;
}
