/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "backoff.h"
#include "cleanup.h"
#include "child.h"
#include "curl_glue.h"
#include "daemon.h"
#include "dbuf.h"
#include "log.h"
#include "state.h"
#include "strv.h"
#include "uring.h"
#include "util.h"
#include "watch.h"

/* The state reader's bounds follow what a configuration may set. */
_Static_assert(CFG_DEFAULT_MAX_EVENT_SIZE == STATE_EVENT_SIZE_DEFAULT, "max_event_size's default");

extern char **environ;

/* How long a stop waits for running triggers before terminating them, and
 * then how long for the terminated ones to go. */
#define STOP_GRACE_USEC     (30 * USEC_PER_SEC)
#define STOP_TERMINATE_USEC (10 * USEC_PER_SEC)
#define STATUS_CHUNK (64 * 1024)
/* Requests in flight at once: two per listener committing; more commit as
 * without a ring. */
#define URING_ENTRIES 256

uint64_t daemon_random(struct daemon *d)
{
	return backoff_random(&d->rng);
}

static bool any_busy(const struct daemon *d)
{
	for (size_t i = 0; i < d->n_watches; i++)
		if (watch_busy(d->watches[i]))
			return true;
	for (size_t i = 0; i < d->n_retiring; i++)
		if (watch_busy(d->retiring[i]))
			return true;
	return false;
}

/* ------------------------------------------------------------ status */

static int dump_to_dbuf(const char *buffer, size_t size, void *data)
{
	return dbuf_append(data, buffer, size) < 0 ? -1 : 0;
}

/* What b holds goes to the file once it is a chunk, or with all, at the end. */
static int status_flush(struct dbuf *b, int fd, bool all)
{
	int r;

	if (!all && b->len < STATUS_CHUNK)
		return 0;
	r = write_all(fd, b->buf, b->len);
	dbuf_reset(b);
	return r;
}

/*
 * The status file is written a listener at a time: as one tree, it would
 * cost kilobytes per listener, kept by the heap long after (a third of the
 * memory of 10,000 idle listeners).
 */
static int status_write(struct daemon *d)
{
	_cleanup_(json_decrefp) json_t *head = NULL;
	_cleanup_free_ char *head_text = NULL, *tmp = NULL;
	_cleanup_(dbuf_free) struct dbuf b;
	char started[32], now[32];
	int fd, r;

	dbuf_init(&b, SIZE_MAX - 1);	/* a chunk and one listener: bounded by that listener's limits */
	head = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:b}", "version", SSEWATCHD_VERSION, "pid",
			 (int)getpid(), "started", format_rfc3339(d->started_usec, started), "updated",
			 format_rfc3339(now_usec(CLOCK_REALTIME), now), "config", d->cfg->path, "state_dir",
			 d->cfg->state_dir, "runtime_dir", d->cfg->runtime_dir, "stopping", d->stopping);
	head_text = head ? json_dumps(head, JSON_COMPACT) : NULL;
	if (!head_text)
		return -ENOMEM;
	fd = atomic_write_open(d->runtime_fd, DAEMON_STATUS_FILE, 0644, &tmp);
	if (fd < 0)
		return fd;
	/* The head's members (without its "}"), then the listeners as its last. */
	r = dbuf_append(&b, head_text, strlen(head_text) - 1);
	if (r >= 0)
		r = dbuf_append(&b, ",\"listeners\":[", 14);
	/* The retired ones that still hold what they could not write come
	 * first: a reader that keeps the last entry of a name sees the live one. */
	for (size_t i = 0, n = 0; r >= 0 && i < d->n_retiring + d->n_watches; i++) {
		bool retiring = i < d->n_retiring;
		struct watch *w = retiring ? d->retiring[i] : d->watches[i - d->n_retiring];
		_cleanup_(json_decrefp) json_t *one = NULL;

		if (retiring && !watch_holding(w))
			continue;
		one = watch_status(w);
		if (one && retiring && json_object_set_new(one, "retiring", json_true()) < 0)
			r = -ENOMEM;
		r = r < 0 || !one ? -ENOMEM : n++ > 0 ? dbuf_putc(&b, ',') : 0;
		if (r >= 0 && json_dump_callback(one, dump_to_dbuf, &b, JSON_COMPACT) < 0)
			r = -ENOMEM;
		if (r >= 0)
			r = status_flush(&b, fd, false);
	}
	if (r >= 0)
		r = dbuf_append(&b, "]}", 2);
	if (r >= 0)
		r = status_flush(&b, fd, true);
	if (r < 0) {
		atomic_write_abandon(d->runtime_fd, fd, &tmp);
		return r;
	}
	/* Not durable on purpose: it only describes this process. */
	return atomic_write_close(d->runtime_fd, fd, &tmp, DAEMON_STATUS_FILE, false);
}

static void status_update(struct daemon *d, bool force)
{
	size_t open = 0, failed = 0, other = 0;
	uint64_t received = 0, dead = 0;

	if (d->finished || (!force && d->status_generation == watch_status_generation))
		return;
	d->status_generation = watch_status_generation;

	for (size_t i = 0; i < d->n_watches; i++) {
		const struct watch *w = d->watches[i];

		if (w->sv.phase == SV_OPEN)
			open++;
		else if (w->sv.phase == SV_FAILED)
			failed++;
		else
			other++;
		received += w->stats.received;
		dead += w->stats.dead_letters;
	}
	(void)sd_notifyf(0, "STATUS=%zu listener(s): %zu open, %zu connecting or waiting, %zu failed; "
			 "%" PRIu64 " notification(s), %" PRIu64 " dead letter(s)%s",
			 d->n_watches, open, other, failed, received, dead, d->stopping ? "; stopping" : "");

	if (d->runtime_fd >= 0) {
		int r = status_write(d);

		if (r < 0)
			log_full_errno(LOG_DEBUG, r, "cannot write the status file, ignoring: %m");
	}
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;

	(void)usec;
	status_update(d, false);
	(void)sd_event_source_set_time_relative(s, USEC_PER_SEC);
	return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static void runtime_dir_open(struct daemon *d)
{
	const char *path = d->cfg->runtime_dir;

	/* systemd's RuntimeDirectory= exists already; by hand, make it. */
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		log_warning_errno(errno, "cannot create %s, so `ssewatchd status` will not work: %m", path);
	d->runtime_fd = open(path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (d->runtime_fd < 0 && errno != ENOENT)
		log_warning_errno(errno, "cannot open %s, so `ssewatchd status` will not work: %m", path);
	/* One status file per directory: a second daemon there (run by hand
	 * next to the service, say) must neither overwrite nor remove it. */
	if (d->runtime_fd >= 0 && flock(d->runtime_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			log_warning("another ssewatchd writes its status in %s; this one writes none "
				    "(give it a runtime_dir of its own)", path);
		else
			log_warning_errno(errno, "cannot lock %s, so `ssewatchd status` will not work: %m", path);
		close(d->runtime_fd);
		d->runtime_fd = -1;
	}
}

/* ------------------------------------------------------------ reload */

static void array_remove(struct watch **a, size_t *n, size_t i)
{
	memmove(a + i, a + i + 1, (*n - i - 1) * sizeof(*a));
	(*n)--;
}

static int array_push(struct watch ***a, size_t *n, struct watch *w)
{
	struct watch **na = realloc(*a, (*n + 1) * sizeof(**a));

	if (!na)
		return -ENOMEM;
	na[(*n)++] = w;
	*a = na;
	return 0;
}

static bool retiring_named(const struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->n_retiring; i++)
		if (strcmp(d->retiring[i]->name, name) == 0)
			return true;
	return false;
}

/* Retiring watches that finished their trigger go; new watches whose
 * predecessor went start; old configurations nobody uses are freed. */
static void reload_progress(struct daemon *d)
{
	for (size_t i = 0; i < d->n_retiring;) {
		struct watch *w = d->retiring[i];

		/* One holding what it could not write goes once it is written. */
		if (watch_busy(w) || watch_holding(w)) {
			i++;
			continue;
		}
		if (watch_flush(w) < 0) {
			i++;	/* held: it goes once that write succeeds */
			continue;
		}
		watch_free(w);
		array_remove(d->retiring, &d->n_retiring, i);
	}
	for (size_t i = 0; i < d->n_waiting;) {
		struct watch *w = d->waiting[i];

		if (retiring_named(d, w->name)) {
			i++;
			continue;
		}
		array_remove(d->waiting, &d->n_waiting, i);
		if (watch_start(w) < 0)
			log_error("%s: cannot start after the reload", w->name);
	}
	if (d->n_retiring == 0) {
		for (size_t i = 0; i < d->n_old_cfgs; i++)
			cfg_free(d->old_cfgs[i]);
		d->n_old_cfgs = 0;
	}
}

static void retire(struct daemon *d, struct watch *w)
{
	/* One still waiting for its predecessor never started: it just goes
	 * (reload_progress() must not start it once it is freed). */
	for (size_t i = 0; i < d->n_waiting; i++)
		if (d->waiting[i] == w) {
			array_remove(d->waiting, &d->n_waiting, i);
			break;
		}
	watch_stop(w);
	if (array_push(&d->retiring, &d->n_retiring, w) < 0) {
		/* Out of memory: stop it the hard way rather than leak it. */
		watch_cancel_trigger(w);
		watch_flush_final(w);
		watch_free(w);
	}
}

static void reload(struct daemon *d)
{
	struct cfg_errors errors = { 0 };
	struct cfg *c = NULL, **old_cfgs;
	struct watch **next;
	size_t kept = 0, added = 0, changed = 0, removed = 0, restarted = 0;
	int r;

	(void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, now_usec(CLOCK_MONOTONIC));
	log_info("SIGHUP received: reloading %s", d->cfg->path);
	r = cfg_load(d->cfg->path, &c, &errors);
	for (size_t i = 0; i < errors.n; i++)
		log_error("%s", errors.lines[i]);
	cfg_errors_clear(&errors);
	if (r < 0) {
		log_error_errno(r, "the new configuration is invalid (see above): still running the previous one");
		goto done;
	}
	for (size_t i = 0; i < c->n_warnings; i++)
		log_warning("%s", c->warnings[i]);
	if (strcmp(c->state_dir, d->cfg->state_dir) != 0 || strcmp(c->runtime_dir, d->cfg->runtime_dir) != 0)
		log_warning("state_dir and runtime_dir changes take effect at the next restart; keeping %s",
			    d->cfg->state_dir);
	/* Both allocations before anything changes; realloc's block is ours
	 * at once, whether or not the other one worked. */
	old_cfgs = realloc(d->old_cfgs, (d->n_old_cfgs + 1) * sizeof(*old_cfgs));
	if (old_cfgs)
		d->old_cfgs = old_cfgs;
	next = calloc(c->n_listeners ? c->n_listeners : 1, sizeof(*next));
	if (!next || !old_cfgs) {
		free(next);
		cfg_free(c);
		log_error("out of memory: still running the previous configuration");
		goto done;
	}
	{
		/* The directories in use stay. */
		char *t = c->state_dir;

		c->state_dir = d->cfg->state_dir;
		d->cfg->state_dir = t;
		t = c->runtime_dir;
		c->runtime_dir = d->cfg->runtime_dir;
		d->cfg->runtime_dir = t;
	}

	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct cfg_listener *l = &c->listeners[i];
		struct watch *old = NULL;

		for (size_t k = 0; k < d->n_watches; k++)
			if (d->watches[k] && strcmp(d->watches[k]->name, l->name) == 0) {
				old = d->watches[k];
				d->watches[k] = NULL;
				break;
			}
		/* A listener that failed or stopped is started again, as its
		 * message promised: its credentials or state may be mended. */
		if (old && cfg_listener_same(old->cfg, l) && !watch_ended(old)) {
			watch_reloaded(old, l);	/* same stream: the connection stays */
			next[i] = old;
			kept++;
			continue;
		}
		if (old) {
			if (cfg_listener_same(old->cfg, l))
				restarted++;
			else
				changed++;
			retire(d, old);
		} else {
			added++;
		}
		r = watch_new(d, l, &next[i]);
		if (r < 0) {
			log_error_errno(r, "%s: cannot set up the listener: %m", l->name);
			continue;
		}
		/* The old watch may still run a trigger and owns the state file
		 * until it is done: the new one waits for it. */
		if (retiring_named(d, l->name))
			r = array_push(&d->waiting, &d->n_waiting, next[i]);
		else
			r = watch_start(next[i]);
		if (r < 0)
			log_error_errno(r, "%s: cannot start: %m", l->name);
	}
	for (size_t k = 0; k < d->n_watches; k++)
		if (d->watches[k]) {
			log_info("%s: removed from the configuration: stopping (its state is kept)", d->watches[k]->name);
			retire(d, d->watches[k]);
			removed++;
		}

	/* The old configuration lives until no retiring watch uses it. */
	d->old_cfgs[d->n_old_cfgs++] = d->cfg;
	d->cfg = c;
	if (d->statedir)
		statedir_allow_event_size(d->statedir, cfg_largest_event_size(c));
	free(d->watches);
	d->watches = next;
	d->n_watches = 0;
	for (size_t i = 0; i < c->n_listeners; i++)
		if (next[i])
			d->watches[d->n_watches++] = next[i];
	log_set_max_level(c->log_level);
	/* Log files are opened afresh (after a rotation, say). */
	trigger_logs_close_all(d->tenv.logs);
	log_info("configuration reloaded: %zu listener(s) unchanged, %zu changed, %zu added, %zu removed, "
		 "%zu failed or stopped one(s) restarted", kept, changed, added, removed, restarted);
	reload_progress(d);
done:
	status_update(d, true);
	(void)sd_notify(0, "READY=1");
}

static void progress_print(struct daemon *d, bool final);

static void finish(struct daemon *d)
{
	if (d->finished)
		return;
	d->finished = true;
	for (size_t i = 0; i < d->n_watches; i++)
		watch_flush_final(d->watches[i]);
	for (size_t i = 0; i < d->n_retiring; i++)
		watch_flush_final(d->retiring[i]);
	if (d->replay && d->stopping) {
		struct watch *w = d->watches[0];

		/* Stopped short of its end (or something failed): not a
		 * complete replay. */
		if (!watch_replay_finished(w) || (w->st && w->st->n_pending > 0) || w->stats.failed > 0)
			d->exit_code = EXIT_FAILURE;
		progress_print(d, true);	/* how far it got */
	}
	/* No daemon, no status: `ssewatchd status` says it is not running. */
	if (d->runtime_fd >= 0)
		(void)unlinkat(d->runtime_fd, DAEMON_STATUS_FILE, 0);
	(void)sd_event_exit(d->event, d->exit_code);
}

static void progress_print(struct daemon *d, bool final)
{
	const struct watch *w = d->watches[0];

	if (!d->progress_tty && !final)
		return;
	fprintf(stderr, "%sreplay %s: %" PRIu64 " notification(s), %" PRIu64 " trigger run(s) failed%s",
		d->progress_tty ? "\r\033[K" : "", w->name, w->stats.received, w->stats.failed,
		final ? "\n" : "");
	fflush(stderr);
}

static void replay_check(struct daemon *d)
{
	struct watch *w = d->watches[0];

	bool idle = !watch_busy(w) && (!w->st || w->st->n_pending == 0);

	/* Done when the stream reached its end, or failed for good, and every
	 * notification received went through the triggers. */
	if (watch_replay_finished(w) || (w->sv.phase == SV_FAILED && idle)) {
		progress_print(d, true);
		if (!watch_replay_finished(w) || w->stats.failed > 0)
			d->exit_code = EXIT_FAILURE;
		finish(d);
	}
}

void daemon_watch_idle(struct daemon *d)
{
	if (d->stopping_watches)
		return;		/* on_terminate() looks once they are all stopped */
	if (d->replay && !d->stopping)
		replay_check(d);
	else if (d->stopping && !any_busy(d))
		finish(d);
	else if (d->n_retiring > 0)
		reload_progress(d);
}

static int on_progress(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;

	(void)usec;
	progress_print(d, false);
	(void)sd_event_source_set_time_relative(s, 200 * USEC_PER_MSEC);
	return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int on_stop_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;

	(void)usec;
	if (d->terminating) {
		log_error("triggers did not end after being terminated; exiting anyway");
		finish(d);
		return 0;
	}
	d->terminating = true;
	if (usec)	/* not a second signal, which said so already */
		log_warning("triggers still running after %.0fs: terminating them (they will run again at the "
			    "next start)", (double)d->stop_grace_usec / 1e6);
	for (size_t i = 0; i < d->n_watches; i++)
		watch_cancel_trigger(d->watches[i]);
	for (size_t i = 0; i < d->n_retiring; i++)	/* changed by a reload, their trigger still running */
		watch_cancel_trigger(d->retiring[i]);
	(void)sd_event_source_set_time_relative(s, STOP_TERMINATE_USEC);
	(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

static int on_terminate(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;

	(void)s;
	if (d->stopping && d->stop_timer && !d->terminating) {
		/* The end of the grace, now: the triggers get SIGTERM and
		 * STOP_TERMINATE_USEC to end; a third signal does not wait. */
		log_notice("SIG%s again: terminating the running triggers now (they will run again at the next "
			   "start)", sigabbrev_np((int)si->ssi_signo));
		return on_stop_timer(d->stop_timer, 0, d);
	}
	if (d->stopping) {
		log_notice("SIG%s again: stopping now", sigabbrev_np((int)si->ssi_signo));
		finish(d);
		return 0;
	}
	d->stopping = true;
	(void)sd_notify(0, "STOPPING=1");
	log_info("SIG%s received: stopping", sigabbrev_np((int)si->ssi_signo));
	/* Every listener takes in what it read before any may end the daemon:
	 * the first one's stop could otherwise finish() it under the others. */
	d->stopping_watches = true;
	for (size_t i = 0; i < d->n_watches; i++)
		watch_stop(d->watches[i]);
	d->stopping_watches = false;
	status_update(d, true);
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
	struct daemon *d = userdata;

	(void)s;
	(void)si;
	if (d->stopping || d->replay)
		log_notice("SIGHUP ignored: %s", d->replay ? "a replay does not reload" : "stopping");
	else
		reload(d);
	return 0;
}

/* Test-only: SSEWATCHD_TEST_FAULTS=stall-on-usr1 makes SIGUSR1 stall the
 * loop, so tests can see the service manager's watchdog restart it. */
static int on_stall(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	(void)s;
	(void)si;
	(void)userdata;
	log_warning("SIGUSR1 with SSEWATCHD_TEST_FAULTS=stall-on-usr1: stalling the event loop");
	for (;;)
		pause();
	return 0;
}

/* Many listeners need many sockets: use all the descriptors we may.
 * Trigger programs start with the limit we were given. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		child_set_nofile(rl.rlim_cur);
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_full_errno(LOG_DEBUG, errno, "cannot raise RLIMIT_NOFILE, ignoring: %m");
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
	if (r >= 0 && secure_getenv("SSEWATCHD_TEST_FAULTS") &&
	    strstr(secure_getenv("SSEWATCHD_TEST_FAULTS"), "stall-on-usr1")) {
		sigaddset(&mask, SIGUSR1);
		if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
			return -errno;
		r = sd_event_add_signal(d->event, NULL, SIGUSR1, on_stall, d);
	}
	return r;
}

static void daemon_done(struct daemon *d)
{
	for (size_t i = 0; i < d->n_watches; i++)
		watch_free(d->watches[i]);
	free(d->watches);
	for (size_t i = 0; i < d->n_retiring; i++)
		watch_free(d->retiring[i]);
	free(d->retiring);
	free(d->waiting);	/* its watches are in d->watches too */
	for (size_t i = 0; i < d->n_old_cfgs; i++)
		cfg_free(d->old_cfgs[i]);
	free(d->old_cfgs);
	sd_event_source_disable_unref(d->status_timer);
	if (d->runtime_fd >= 0)
		close(d->runtime_fd);
	sd_event_source_disable_unref(d->progress);
	curl_glue_free(d->glue);
	sd_event_source_disable_unref(d->stop_timer);
	statedir_free(d->statedir);
	sd_event_source_disable_unref(d->uring_source);
	uring_free(d->uring);
	strv_free(d->tenv.base_env);
	trigger_logs_free(d->tenv.logs);
	sd_event_unref(d->event);
	cfg_free(d->cfg);
	dbuf_free(&d->text_scratch);
	curl_global_cleanup();
}

static int on_uring(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct daemon *d = userdata;

	(void)s;
	(void)fd;
	(void)revents;
	(void)uring_dispatch(d->uring);
	return 0;
}

/* Batch commits are written and synced by the kernel's workers where it
 * lets us (uring.h); elsewhere on the loop's thread, as before. */
static void uring_setup(struct daemon *d)
{
	int r = uring_new(URING_ENTRIES, &d->uring);

	if (r >= 0)
		r = sd_event_add_io(d->event, &d->uring_source, uring_fd(d->uring), EPOLLIN, on_uring, d);
	if (r < 0) {
		log_full_errno(LOG_DEBUG, r, "no io_uring, batch commits are written on the loop's thread: %m");
		d->uring = uring_free(d->uring);
		return;
	}
	statedir_set_uring(d->statedir, d->uring);
}

/* Everything but the watches; the state directory only when lock is set. */
static int daemon_setup(struct daemon *d, bool lock)
{
	_cleanup_free_ char *err = NULL;
	int r;

	raise_nofile();
	dbuf_init(&d->text_scratch, SIZE_MAX - 1);
	if (getrandom(&d->rng, sizeof(d->rng), GRND_NONBLOCK) != sizeof(d->rng))
		d->rng = now_usec(CLOCK_REALTIME) ^ (uint64_t)getpid();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return log_error_errno(-EIO, "cannot initialise libcurl");

	r = sd_event_new(&d->event);
	if (r < 0)
		return log_error_errno(r, "cannot create the event loop: %m");
	r = setup_signals(d);
	if (r < 0)
		return log_error_errno(r, "cannot set up signal handling: %m");
	if (lock) {
		r = statedir_open(d->cfg->state_dir, STATEDIR_LOCK | STATEDIR_CREATE, &d->statedir, &err);
		if (r < 0)
			return log_f(LOG_ERR, r, &(struct log_fields){ .message_id = LOG_MID_STATE_ERROR }, "%s",
				     err ? err : strerror(-r));
		statedir_allow_event_size(d->statedir, cfg_largest_event_size(d->cfg));
		uring_setup(d);
	}
	d->tenv.event = d->event;
	d->tenv.base_env = trigger_base_env(environ);
	d->tenv.logs = trigger_logs_new();
	r = curl_glue_new(d->event, &d->glue);
	d->tenv.glue = d->glue;
	if (r < 0 || !d->tenv.base_env || !d->tenv.logs)
		return log_error_errno(r < 0 ? r : -ENOMEM, "cannot set up: %m");
	d->watches = calloc(d->cfg->n_listeners ? d->cfg->n_listeners : 1, sizeof(*d->watches));
	if (!d->watches)
		return log_error_errno(-ENOMEM, "out of memory");
	return 0;
}

/* Runs the loop, then frees everything; returns the exit status. */
static int daemon_loop(struct daemon *d)
{
	int r = sd_event_loop(d->event);

	if (r < 0) {
		log_error_errno(r, "event loop failed: %m");
		d->exit_code = EXIT_FAILURE;
	} else {
		d->exit_code = r;
	}
	daemon_done(d);
	return d->exit_code;
}

int daemon_run(struct cfg *cfg)
{
	struct daemon d = { .cfg = cfg, .stop_grace_usec = STOP_GRACE_USEC, .exit_code = EXIT_SUCCESS,
			    .runtime_fd = -1, .started_usec = now_usec(CLOCK_REALTIME) };
	size_t failed = 0;
	int r;

	if (daemon_setup(&d, true) < 0)
		goto fail;
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

	/* WATCHDOG=1 from the loop itself, when WatchdogSec= asks for it: a
	 * stalled loop stops the pings and systemd restarts us. */
	r = sd_event_set_watchdog(d.event, true);
	if (r < 0)
		log_warning_errno(r, "cannot enable the watchdog, ignoring: %m");
	runtime_dir_open(&d);
	r = sd_event_add_time_relative(d.event, &d.status_timer, CLOCK_MONOTONIC, USEC_PER_SEC, 100 * USEC_PER_MSEC,
				       on_status_timer, &d);
	if (r < 0)
		log_warning_errno(r, "cannot schedule status updates, ignoring: %m");

	log_info("ssewatchd %s started: %zu listener(s)%s, state in %s", SSEWATCHD_VERSION, d.n_watches,
		 failed ? " (some failed, see above)" : "", cfg->state_dir);
	status_update(&d, true);
	(void)sd_notify(0, "READY=1");
	return daemon_loop(&d);
fail:
	daemon_done(&d);
	return EXIT_FAILURE;
}

int daemon_replay(struct cfg *cfg, const char *name, const char *from, uint64_t to, const char *to_id)
{
	struct daemon d = { .cfg = cfg, .stop_grace_usec = STOP_GRACE_USEC, .exit_code = EXIT_SUCCESS,
			    .replay = true, .runtime_fd = -1 };
	const struct cfg_listener *l = cfg_find_listener(cfg, name);
	int r;

	if (!l) {
		log_error("%s: no such listener in the configuration", name);
		cfg_free(cfg);
		return 64;
	}
	if (daemon_setup(&d, false) < 0)
		goto fail;
	r = watch_new_replay(&d, l, from, to, to_id, &d.watches[0]);
	if (r < 0) {
		log_error_errno(r, "%s: cannot set up the replay: %m", name);
		goto fail;
	}
	d.n_watches = 1;
	d.progress_tty = isatty(STDERR_FILENO);
	r = sd_event_add_time_relative(d.event, &d.progress, CLOCK_MONOTONIC, 200 * USEC_PER_MSEC,
				       50 * USEC_PER_MSEC, on_progress, &d);
	if (r >= 0)
		r = watch_start(d.watches[0]);
	if (r < 0) {
		log_error_errno(r, "%s: cannot start the replay: %m", name);
		goto fail;
	}
	return daemon_loop(&d);
fail:
	daemon_done(&d);
	return EXIT_FAILURE;
}
