/* SPDX-License-Identifier: MIT */
/*
 * ssewatchd — watch Server-Sent Events streams and run triggers for every
 * notification, in order, without losing one.
 *
 * Start-up order: parse the command line, load the configuration (exit 78 if
 * it is invalid), then either run the daemon (daemon.c: loop, signals, state
 * directory, curl, one watch per listener) or carry out a one-shot command.
 */
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cleanup.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "state.h"
#include "strv.h"
#include "util.h"
#include "watch.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ssewatchd [-c FILE] [run]            run in the foreground (the service mode)\n"
		"       ssewatchd [-c FILE] check            validate the configuration, print the listeners\n"
		"       ssewatchd [-c FILE] status [--json]  the running daemon's listeners and counters\n"
		"       ssewatchd [-c FILE] state list       one line per listener: cursor, pending, dead letters\n"
		"       ssewatchd [-c FILE] state show NAME  a listener's durable state as JSON\n"
		"       ssewatchd [-c FILE] state reset NAME [--to CURSOR | --live]\n"
		"                                            forget a listener's position (the daemon must be stopped)\n"
		"       ssewatchd [-c FILE] dead-letter list|retry|drop NAME [SEQ]\n"
		"                                            notifications whose triggers failed for good\n"
		"       ssewatchd [-c FILE] replay NAME --from CURSOR [--to CURSOR]\n"
		"                                            run an aviso listener's triggers for past\n"
		"                                            notifications; its state is left untouched\n"
		"       ssewatchd --version | --help\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE   configuration file (default: $SSEWATCHD_CONFIG,\n"
		"                      else " CFG_DEFAULT_PATH ")\n"
		"  -h, --help          show this help\n"
		"  -V, --version       show the version\n");
}

/* A configuration problem as the terminal shows it (FILE:LINE:COL: ...);
 * under systemd, as a journal entry of that priority, so that
 * `journalctl -p err` shows why the service did not start. */
static void config_message(int level, const char *line)
{
	if (log_get_target() == LOG_TARGET_JOURNAL)
		(void)log_full_errno(level, 0, "%s", line);
	else
		fprintf(stderr, "%s\n", line);
}

/* The second word of state and dead-letter, before the configuration is
 * read (the commands check the rest). */
static bool subcommand_known(const char *command, const char *word)
{
	static const char *const state_words[] = { "list", "show", "reset", NULL };
	static const char *const dead_letter_words[] = { "list", "retry", "drop", NULL };
	const char *const *words = strcmp(command, "state") == 0	  ? state_words
				   : strcmp(command, "dead-letter") == 0 ? dead_letter_words
									  : NULL;

	if (!words)
		return true;
	for (; word && *words; words++)
		if (strcmp(word, *words) == 0)
			return true;
	return false;
}

/* Loads the configuration, printing every problem; EX_CONFIG if any. */
static int load_config(const char *path, unsigned flags, struct cfg **ret)
{
	struct cfg_errors errors = { 0 };
	int r;

	r = cfg_load_flags(path, flags, ret, &errors);
	for (size_t i = 0; i < errors.n; i++)
		config_message(LOG_ERR, errors.lines[i]);
	if (r < 0 && errors.n == 0) {
		_cleanup_free_ char *line = strdupf("%s: %s", path, strerror(-r));

		config_message(LOG_ERR, line ? line : path);
	}
	cfg_errors_clear(&errors);
	if (r < 0)
		return EX_CONFIG;
	for (size_t i = 0; i < (*ret)->n_warnings; i++)
		config_message(LOG_WARNING, (*ret)->warnings[i]);
	return 0;
}

static int cmd_check(struct cfg *c)
{
	for (size_t i = 0; i < c->n_listeners; i++) {
		_cleanup_(json_decrefp) json_t *j = cfg_listener_to_json(&c->listeners[i]);
		_cleanup_free_ char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;

		if (!s) {
			fprintf(stderr, "ssewatchd: out of memory\n");
			return EXIT_FAILURE;
		}
		printf("%s\n", s);
	}
	fprintf(stderr, "%s: configuration OK: %zu listener(s), state in %s\n", c->path, c->n_listeners,
		c->state_dir);
	return EXIT_SUCCESS;
}

/* Opens the state directory to read it; *ret stays NULL if it does not exist yet. */
static int open_statedir(const struct cfg *c, struct statedir **ret)
{
	_cleanup_free_ char *err = NULL;
	int r = statedir_open(c->state_dir, 0, ret, &err);

	if (r == -ENOENT) {
		*ret = NULL;
		return 0;	/* the daemon never ran: no state yet */
	}
	if (r < 0)
		fprintf(stderr, "ssewatchd: %s\n", err ? err : strerror(-r));
	else
		statedir_allow_event_size(*ret, cfg_largest_event_size(c));
	return r;
}

/* The summary every state command shows for a listener (CONTRACT.md §3). */
static json_t *state_summary(struct statedir *d, const struct cfg_listener *l, struct listener_state *st)
{
	_cleanup_free_ uint64_t *seqs = NULL;
	size_t n_dead = 0;

	if (d)
		(void)deadletter_list(d, l->name, &seqs, &n_dead);
	return json_pack("{s:s, s:s, s:O, s:I, s:I, s:I}", "listener", l->name, "protocol",
			 cfg_protocol_to_string(l->protocol), "cursor", st && st->cursor ? st->cursor : json_null(),
			 "pending", (json_int_t)(st ? st->n_pending : 0), "dead_letters", (json_int_t)n_dead,
			 "delivered", (json_int_t)(st ? st->delivered : 0));
}

/* Takes the lock, as the daemon does: these commands change the state. */
static int open_statedir_locked(const struct cfg *c, struct statedir **ret)
{
	_cleanup_free_ char *err = NULL;
	int r = statedir_open(c->state_dir, STATEDIR_LOCK | STATEDIR_CREATE, ret, &err);

	if (r == -EBUSY)
		fprintf(stderr, "ssewatchd: refusing: %s; stop it first (systemctl stop ssewatchd)\n", err);
	else if (r < 0)
		fprintf(stderr, "ssewatchd: %s\n", err ? err : strerror(-r));
	else
		statedir_allow_event_size(*ret, cfg_largest_event_size(c));
	return r;
}

static const struct cfg_listener *listener_or_complain(const struct cfg *c, const char *name)
{
	const struct cfg_listener *l = cfg_find_listener(c, name);

	if (!l)
		fprintf(stderr, "ssewatchd: no listener named '%s' in %s\n", name, c->path);
	return l;
}

/* Moves a state's unfinished notifications to dead letters: a reset loses nothing. */
static int pending_to_dead_letters(struct statedir *d, struct listener_state *st)
{
	while (st->n_pending > 0) {
		struct state_pending *p = listener_state_oldest(st);
		_cleanup_(json_decrefp) json_t *rec = json_pack(
			"{s:s, s:I, s:O, s:s, s:s, s:i, s:I}", "listener", st->name, "seq", (json_int_t)p->seq,
			"notification", state_pending_notification(p), "trigger", "(none)", "error",
			"unfinished when the state was reset", "attempts", 0, "failed_usec",
			(json_int_t)now_usec(CLOCK_REALTIME));
		int r = rec ? deadletter_write(d, st->name, p->seq, rec) : -ENOMEM;

		if (r < 0)
			return r;
		listener_state_pop(st);
	}
	return 0;
}

/* The offline commands' commit: the error goes to stderr. */
static int save_or_report(struct statedir *d, const struct listener_state *st)
{
	_cleanup_free_ char *err = NULL;
	int r = state_save(d, st, &err);

	if (r < 0)
		fprintf(stderr, "ssewatchd: %s\n", err ? err : strerror(-r));
	return r;
}

/* s as a plain decimal number in min..max: no sign, no blanks, no overflow. */
static bool parse_decimal(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (!s[0] || strspn(s, "0123456789") != strlen(s))
		return false;
	for (; *s; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v < min || v > max)
		return false;
	*ret = v;
	return true;
}

/* state reset NAME [--to CURSOR | --live] */
static int cmd_state_reset(struct cfg *c, int argc, char **argv)
{
	const struct cfg_listener *l;
	struct statedir *d = NULL;
	struct listener_state *old = NULL, *st = NULL;
	_cleanup_(json_decrefp) json_t *identity = NULL;
	_cleanup_free_ char *err = NULL;
	const char *to = NULL;
	uint64_t to_seq = 0;
	bool live = false;
	int r, ret = EXIT_FAILURE;

	if (argc == 3 && strcmp(argv[1], "--to") == 0)
		to = argv[2];
	else if (argc == 2 && strcmp(argv[1], "--live") == 0)
		live = true;
	else if (argc != 1) {
		usage(stderr);
		return EX_USAGE;
	}
	l = listener_or_complain(c, argv[0]);
	if (!l)
		return EX_USAGE;
	if (to && l->protocol == CFG_PROTOCOL_AVISO && !parse_decimal(to, 0, INT64_MAX, &to_seq)) {
		fprintf(stderr, "ssewatchd: --to for an aviso listener is a sequence number (the last one handled), "
			"0 to %" PRId64 "\n", INT64_MAX);
		return EX_USAGE;
	}
	if (to && strpbrk(to, "\r\n")) {
		fprintf(stderr, "ssewatchd: --to: an event id holds no line break\n");
		return EX_USAGE;
	}
	if (to && !utf8_valid(to, strlen(to))) {
		fprintf(stderr, "ssewatchd: --to: an event id is UTF-8 text\n");
		return EX_USAGE;
	}
	if (open_statedir_locked(c, &d) < 0)
		return EXIT_FAILURE;

	/* A corrupt file is exactly what a reset is for: it is replaced. One
	 * that cannot be read now (permissions, I/O) may hold pending
	 * notifications, and stays. */
	r = state_load(d, l->name, &old, &err);
	if (r == -EBADMSG || r == -ELOOP) {
		fprintf(stderr, "%s: the state file is replaced, its content unusable: %s\n", l->name,
			err ? err : strerror(-r));
	} else if (r < 0 && r != -ENOENT) {
		fprintf(stderr, "ssewatchd: %s; nothing was changed\n", err ? err : strerror(-r));
		goto out;
	}
	if (r >= 0 && old->n_pending > 0) {
		size_t n = old->n_pending;

		r = pending_to_dead_letters(d, old);
		if (r < 0) {
			fprintf(stderr, "ssewatchd: cannot keep the unfinished notifications as dead letters: %s\n",
				strerror(-r));
			goto out;
		}
		fprintf(stderr, "%s: %zu unfinished notification(s) moved to dead letters "
			"(see 'ssewatchd dead-letter list %s')\n", l->name, n, l->name);
	}

	if (!to && !live) {
		r = state_remove(d, l->name);
		if (r < 0 && r != -ENOENT) {
			fprintf(stderr, "ssewatchd: cannot remove the state of %s: %s\n", l->name, strerror(-r));
			goto out;
		}
		fprintf(stderr, "%s: state removed; the next start begins afresh%s\n", l->name,
			l->protocol == CFG_PROTOCOL_AVISO && (l->from_id_set || l->from_date)
				? " from the configured from_id/from_date" : "");
		ret = EXIT_SUCCESS;
		goto out;
	}

	identity = (l->protocol == CFG_PROTOCOL_SSE ? &proto_sse : &proto_aviso)->identity(l);
	st = identity ? listener_state_new(l->name, identity) : NULL;
	if (!st) {
		fprintf(stderr, "ssewatchd: out of memory\n");
		goto out;
	}
	/* Dead-letter numbers stay unique: past the old state's and every dead letter's. */
	r = deadletter_next_seq(d, l->name, &st->next_seq);
	if (r < 0) {
		fprintf(stderr, "ssewatchd: cannot read the dead letters of %s: %s\n", l->name, strerror(-r));
		goto out;
	}
	if (old)
		st->next_seq = MAX(st->next_seq, old->next_seq);
	if (to) {
		json_t *cursor = l->protocol == CFG_PROTOCOL_AVISO ? json_integer((json_int_t)to_seq) : json_string(to);

		r = cursor ? listener_state_set_cursor(st, cursor) : -ENOMEM;	/* NULL would clear it */
		if (r < 0) {
			fprintf(stderr, "ssewatchd: invalid cursor '%s': %s\n", to, strerror(-r));
			goto out;
		}
	}
	r = save_or_report(d, st);
	if (r < 0)
		goto out;
	if (to)
		fprintf(stderr, "%s: cursor set to %s; the next start resumes after it\n", l->name, to);
	else
		fprintf(stderr, "%s: reset to live; the next start takes only new notifications\n", l->name);
	ret = EXIT_SUCCESS;
out:
	listener_state_free(old);
	listener_state_free(st);
	statedir_free(d);
	return ret;
}

/* dead-letter list|retry|drop NAME [SEQ] */
static int cmd_dead_letter(struct cfg *c, int argc, char **argv)
{
	const struct cfg_listener *l;
	struct statedir *d = NULL;
	struct listener_state *st = NULL;
	_cleanup_free_ uint64_t *seqs = NULL;
	_cleanup_free_ char *err = NULL;
	size_t n = 0, done = 0, n_queued = 0;
	bool found = false;
	uint64_t only = 0;
	bool list;
	int r, ret = EXIT_FAILURE;

	if (argc < 2 || argc > 3 ||
	    (strcmp(argv[0], "list") != 0 && strcmp(argv[0], "retry") != 0 && strcmp(argv[0], "drop") != 0)) {
		usage(stderr);
		return EX_USAGE;
	}
	list = strcmp(argv[0], "list") == 0;
	l = listener_or_complain(c, argv[1]);
	if (!l)
		return EX_USAGE;
	if (argc == 3 && !parse_decimal(argv[2], 1, INT64_MAX, &only)) {
		fprintf(stderr, "ssewatchd: '%s' is not a dead letter number (see dead-letter list)\n", argv[2]);
		return EX_USAGE;
	}
	r = list ? open_statedir(c, &d) : open_statedir_locked(c, &d);
	if (r < 0)
		return EXIT_FAILURE;
	if (d && deadletter_list(d, l->name, &seqs, &n) < 0)
		goto out;
	if (!list && strcmp(argv[0], "retry") == 0) {
		r = state_load(d, l->name, &st, &err);
		if (r == -ENOENT) {
			_cleanup_(json_decrefp) json_t *id =
				(l->protocol == CFG_PROTOCOL_SSE ? &proto_sse : &proto_aviso)->identity(l);

			st = id ? listener_state_new(l->name, id) : NULL;
			if (st)
				st->bootstrap = true;	/* the first start still begins where configured */
		} else if (r < 0) {
			fprintf(stderr, "ssewatchd: %s\n", err ? err : strerror(-r));
			goto out;
		}
		if (!st)
			goto out;
		if (n > 0)
			st->next_seq = MAX(st->next_seq, seqs[n - 1] + 1);	/* numbers stay unique */
	}

	for (size_t i = 0; i < n; i++) {
		_cleanup_(json_decrefp) json_t *rec = NULL;
		_cleanup_free_ char *rerr = NULL;
		json_t *notification;

		if (only && seqs[i] != only)
			continue;
		found = true;
		if (strcmp(argv[0], "drop") == 0) {
			/* Whatever it holds, even nothing readable. */
			r = deadletter_remove(d, l->name, seqs[i]);
			if (r < 0) {
				fprintf(stderr, "ssewatchd: cannot drop %s/" DEADLETTER_DIR "/%s/%" PRIu64 ".json: %s\n",
					statedir_path(d), l->name, seqs[i], strerror(-r));
				goto out;
			}
			done++;
			continue;
		}
		r = deadletter_read(d, l->name, seqs[i], &rec, &rerr);
		if (r < 0) {
			fprintf(stderr, "ssewatchd: %s\n", rerr ? rerr : strerror(-r));
			continue;
		}
		notification = json_object_get(rec, "notification");
		if (list) {
			char when[32];

			printf("%-8" PRIu64 " %-24s %-28s %s (%s)\n", seqs[i],
			       json_string_value(json_object_get(notification, "id")) ?: "-",
			       json_string_value(json_object_get(rec, "trigger")) ?: "-",
			       json_string_value(json_object_get(rec, "error")) ?: "-",
			       format_rfc3339((uint64_t)json_integer_value(json_object_get(rec, "failed_usec")), when));
		} else {
			/* data_bytes: an oversize event recorded before "kept" existed. */
			if (!json_is_object(notification) || json_is_false(json_object_get(rec, "kept")) ||
			    json_object_get(notification, "data_bytes")) {
				fprintf(stderr, "%s: dead letter %" PRIu64 " cannot be retried: its content was not kept "
					"(%s)\n", l->name, seqs[i],
					json_string_value(json_object_get(rec, "error")) ?: "the event was too large");
				continue;
			}
			r = listener_state_push(st, json_incref(notification), now_usec(CLOCK_REALTIME), NULL);
			if (r < 0)
				goto out;
			seqs[n_queued++] = seqs[i];	/* i >= n_queued: nothing unread is overwritten */
		}
		done++;
	}
	if (!list && strcmp(argv[0], "retry") == 0 && done > 0) {
		/* Durable in the queue first, then forgotten as dead letters: a
		 * crash in between repeats one, never loses one. */
		bool removed = true;

		r = save_or_report(d, st);
		if (r < 0)
			goto out;
		for (size_t i = 0; i < n_queued; i++) {
			r = deadletter_remove(d, l->name, seqs[i]);
			if (r < 0 && r != -ENOENT) {
				/* Queued, and still a dead letter: another retry would run it twice. */
				fprintf(stderr, "ssewatchd: %s: dead letter %" PRIu64 " is queued again, but %s/" DEADLETTER_DIR
					"/%s/%" PRIu64 ".json cannot be removed (%s): remove it before the next retry, "
					"or it runs twice\n", l->name, seqs[i], statedir_path(d), l->name, seqs[i],
					strerror(-r));
				removed = false;
			}
		}
		if (!removed)
			goto out;
	}
	if (only && !found) {
		fprintf(stderr, "ssewatchd: %s has no dead letter %" PRIu64 "\n", l->name, only);
		goto out;
	}
	if (only && done == 0)
		goto out;	/* it could not be read, or retried: said above */
	if (!list)
		fprintf(stderr, "%s: %zu dead letter(s) %s\n", l->name, done,
			strcmp(argv[0], "drop") == 0 ? "dropped"
						     : "queued again; they run at the next start, after what is pending");
	ret = EXIT_SUCCESS;
out:
	listener_state_free(st);
	statedir_free(d);
	return ret;
}

static int cmd_state(struct cfg *c, int argc, char **argv)
{
	struct statedir *d = NULL;
	int r, ret = EXIT_SUCCESS;

	if (argc >= 2 && strcmp(argv[0], "reset") == 0)
		return cmd_state_reset(c, argc - 1, argv + 1);
	if (argc < 1 || (strcmp(argv[0], "list") != 0 && strcmp(argv[0], "show") != 0) ||
	    (strcmp(argv[0], "list") == 0 && argc != 1) || (strcmp(argv[0], "show") == 0 && argc != 2)) {
		usage(stderr);
		return EX_USAGE;
	}
	if (open_statedir(c, &d) < 0)
		return EXIT_FAILURE;

	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct cfg_listener *l = &c->listeners[i];
		struct listener_state *st = NULL;
		_cleanup_free_ char *err = NULL;
		_cleanup_(json_decrefp) json_t *sum = NULL;

		if (argc == 2 && strcmp(argv[1], l->name) != 0)
			continue;
		r = d ? state_load(d, l->name, &st, &err) : -ENOENT;
		if (r < 0 && r != -ENOENT) {
			fprintf(stderr, "ssewatchd: %s\n", err ? err : strerror(-r));
			ret = EXIT_FAILURE;
			if (argc == 2)
				break;	/* the listener named was found */
			continue;
		}
		sum = state_summary(d, l, st);
		if (sum && argc == 2) {
			_cleanup_free_ char *s = NULL;

			json_t *full = st ? listener_state_to_json(st) : NULL;

			/* A file from an earlier build may hold credentials in its identity. */
			if (full && json_object_set_new(full, "identity", state_identity_without_secrets(st->identity)) < 0) {
				json_decref(full);
				full = NULL;
			}
			if (st && (!full || json_object_set_new(sum, "state", full) < 0)) {	/* set_new takes full */
				json_decref(sum);
				sum = NULL;
			}
			s = sum ? json_dumps(sum, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
			if (s)
				printf("%s\n", s);
		} else if (sum) {
			_cleanup_free_ char *cur = json_dumps(json_object_get(sum, "cursor"), JSON_ENCODE_ANY);

			printf("%-24s cursor=%s pending=%zu dead_letters=%" JSON_INTEGER_FORMAT "\n", l->name,
			       cur ? cur : "?", st ? st->n_pending : 0,
			       json_integer_value(json_object_get(sum, "dead_letters")));
		}
		listener_state_free(st);
		if (argc == 2) {
			statedir_free(d);
			return sum ? ret : EXIT_FAILURE;
		}
	}
	statedir_free(d);
	if (argc == 2 && ret == EXIT_SUCCESS) {
		fprintf(stderr, "ssewatchd: no listener named '%s' in %s\n", argv[1], c->path);
		return EX_USAGE;
	}
	return ret;
}

/* status [--json]: what the running daemon wrote into its runtime directory. */
static int cmd_status(struct cfg *c, int argc, char **argv)
{
	_cleanup_free_ char *path = strdupf("%s/" DAEMON_STATUS_FILE, c->runtime_dir);
	_cleanup_(json_decrefp) json_t *j = NULL;
	json_error_t err;
	bool as_json = argc == 1 && strcmp(argv[0], "--json") == 0;
	json_t *l;
	size_t i;
	int pid;

	if (argc > 1 || (argc == 1 && !as_json)) {
		usage(stderr);
		return EX_USAGE;
	}
	if (!path)
		return EXIT_FAILURE;
	j = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
	if (!j) {
		fprintf(stderr, "ssewatchd is not running (%s: %s)\n", path,
			errno == ENOENT ? "no status file" : err.text);
		return EXIT_FAILURE;
	}
	pid = (int)json_integer_value(json_object_get(j, "pid"));
	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH)) {
		fprintf(stderr, "ssewatchd is not running (%s is left from pid %d)\n", path, pid);
		return EXIT_FAILURE;
	}
	if (as_json) {
		_cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);

		if (!text)
			return EXIT_FAILURE;
		printf("%s\n", text);
		return EXIT_SUCCESS;
	}
	printf("ssewatchd %s, pid %d, started %s%s; config %s\n",
	       json_string_value(json_object_get(j, "version")) ?: "?", pid,
	       json_string_value(json_object_get(j, "started")) ?: "?",
	       json_is_true(json_object_get(j, "stopping")) ? " (stopping)" : "", c->path);
	printf("%-20s %-12s %-21s %-27s %9s %9s %7s %5s %6s %10s\n", "LISTENER", "STATE", "CONNECTED SINCE",
	       "LAST NOTIFICATION", "RECEIVED", "TRIGGERED", "FAILED", "DEAD", "QUEUED", "RECONNECTS");
	json_array_foreach(json_object_get(j, "listeners"), i, l) {
		const char *state = json_string_value(json_object_get(l, "state")) ?: "?";
		const char *since = json_string_value(json_object_get(l, "connected_since"));
		const char *last = json_string_value(json_object_get(l, "last_event_time"));

		printf("%-20s %-12s %-21.19s %-27.19s %9" JSON_INTEGER_FORMAT " %9" JSON_INTEGER_FORMAT
		       " %7" JSON_INTEGER_FORMAT " %5" JSON_INTEGER_FORMAT " %6" JSON_INTEGER_FORMAT
		       " %10" JSON_INTEGER_FORMAT "\n",
		       json_string_value(json_object_get(l, "name")) ?: "?", state, since ? since : "-",
		       last ? last : "-", json_integer_value(json_object_get(l, "received")),
		       json_integer_value(json_object_get(l, "triggered")),
		       json_integer_value(json_object_get(l, "failed")),
		       json_integer_value(json_object_get(l, "dead_letters")),
		       json_integer_value(json_object_get(l, "pending")),
		       json_integer_value(json_object_get(l, "reconnects")));
		if (strcmp(state, "failed") == 0 || strcmp(state, "waiting") == 0)
			printf("%20s why: %s%s\n", "", json_string_value(json_object_get(l, "reason")) ?: "?",
			       json_integer_value(json_object_get(l, "http_status")) > 0 ? " (see the log)" : "");
		if (json_is_true(json_object_get(l, "retiring")))
			printf("%20s retired by the reload: it goes once what it holds is written\n", "");
		if (json_integer_value(json_object_get(l, "commit_held")) > 0)
			printf("%20s the state cannot be written (see the log): %" JSON_INTEGER_FORMAT
			       " notification(s) held in memory, reading stopped\n", "",
			       json_integer_value(json_object_get(l, "commit_held")));
		else if (json_object_get(l, "commit_held"))
			printf("%20s the state cannot be written (see the log): reading stopped\n", "");
	}
	return EXIT_SUCCESS;
}

/* replay NAME --from CURSOR [--to CURSOR]; takes the configuration. */
static int cmd_replay(struct cfg *c, int argc, char **argv)
{
	const char *name = NULL, *from = NULL, *to = NULL;
	const struct cfg_listener *l;
	uint64_t to_seq = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
			from = argv[++i];
		else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
			to = argv[++i];
		else if (strncmp(argv[i], "--from=", 7) == 0)
			from = argv[i] + 7;
		else if (strncmp(argv[i], "--to=", 5) == 0)
			to = argv[i] + 5;
		else if (!name && argv[i][0] != '-')
			name = argv[i];
		else {
			fprintf(stderr, "ssewatchd: replay: unexpected argument '%s'\n", argv[i]);
			cfg_free(c);
			return EX_USAGE;
		}
	}
	if (!name || !from || !from[0]) {
		fprintf(stderr, "ssewatchd: replay needs a listener name and --from CURSOR (aviso: a sequence or a "
			"date; sse: an event id)\n");
		cfg_free(c);
		return EX_USAGE;
	}
	l = cfg_find_listener(c, name);
	if (l && l->protocol == CFG_PROTOCOL_SSE) {
		/* Event ids are opaque: the stream has no end to stop at but the one named. */
		if (!to || !to[0] || strpbrk(from, "\r\n") || strpbrk(to, "\r\n")) {
			fprintf(stderr, "ssewatchd: replay of an sse listener needs --from and --to event ids (one "
				"line each): it runs the events after --from, up to the one whose id is --to\n");
			cfg_free(c);
			return EX_USAGE;
		}
		return daemon_replay(c, name, from, 0, to);
	}
	if (to && !parse_decimal(to, 1, INT64_MAX, &to_seq)) {
		fprintf(stderr, "ssewatchd: replay: --to takes a sequence number, not '%s'\n", to);
		cfg_free(c);
		return EX_USAGE;
	}
	if (strspn(from, "0123456789") == strlen(from)) {
		uint64_t from_seq;

		if (!parse_decimal(from, 0, INT64_MAX, &from_seq)) {
			fprintf(stderr, "ssewatchd: replay: --from %s is beyond the largest sequence number\n", from);
			cfg_free(c);
			return EX_USAGE;
		}
		if (to && to_seq < from_seq) {
			fprintf(stderr, "ssewatchd: replay: --to %" PRIu64 " comes before --from %" PRIu64 "\n", to_seq,
				from_seq);
			cfg_free(c);
			return EX_USAGE;
		}
	}
	return daemon_replay(c, name, from, to_seq, NULL);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	const char *config = NULL, *command = "run";
	struct cfg *c = NULL;
	int opt, r;

	/* No fastbins: a notification's many small JSON nodes are freed
	 * together, and with fastbins every later allocation of 1 KiB or
	 * more first sweeps them all (malloc_consolidate), once per event.
	 * tcache still serves the small sizes. */
	(void)mallopt(M_MXFAST, 0);

	while ((opt = getopt_long(argc, argv, "+c:hV", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("ssewatchd %s\n", SSEWATCHD_VERSION);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind < argc)
		command = argv[optind++];
	if (strcmp(command, "run") != 0 && strcmp(command, "check") != 0 && strcmp(command, "state") != 0 &&
	    strcmp(command, "replay") != 0 && strcmp(command, "dead-letter") != 0 && strcmp(command, "status") != 0) {
		fprintf(stderr, "ssewatchd: unknown command '%s'\n", command);
		usage(stderr);
		return EX_USAGE;
	}
	if ((strcmp(command, "run") == 0 || strcmp(command, "check") == 0) && optind < argc) {
		fprintf(stderr, "ssewatchd: %s takes no arguments\n", command);
		return EX_USAGE;
	}
	/* A wrong word is a usage error whatever the configuration holds. */
	if (!subcommand_known(command, optind < argc ? argv[optind] : NULL)) {
		usage(stderr);
		return EX_USAGE;
	}

	/* run, check and replay need the credentials; the offline commands do not. */
	r = load_config(cfg_default_path(config),
			strcmp(command, "state") == 0 || strcmp(command, "dead-letter") == 0 ||
					strcmp(command, "status") == 0
				? CFG_LOAD_UNCHECKED_SECRETS : 0,
			&c);
	if (r != 0)
		return r;
	log_set_max_level(c->log_level);

	if (strcmp(command, "replay") == 0)
		return cmd_replay(c, argc - optind, argv + optind);	/* takes the configuration */
	if (strcmp(command, "check") == 0)
		r = cmd_check(c);
	else if (strcmp(command, "status") == 0)
		r = cmd_status(c, argc - optind, argv + optind);
	else if (strcmp(command, "state") == 0)
		r = cmd_state(c, argc - optind, argv + optind);
	else if (strcmp(command, "dead-letter") == 0)
		r = cmd_dead_letter(c, argc - optind, argv + optind);
	else
		return daemon_run(c);	/* takes the configuration */
	cfg_free(c);
	return r;
}
