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
#include <getopt.h>
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

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ssewatchd [-c FILE] [run]            run in the foreground (the service mode)\n"
		"       ssewatchd [-c FILE] check            validate the configuration, print the listeners\n"
		"       ssewatchd [-c FILE] state list       one line per listener: cursor, pending, dead letters\n"
		"       ssewatchd [-c FILE] state show NAME  a listener's durable state as JSON\n"
		"       ssewatchd --version | --help\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE   configuration file (default: $SSEWATCHD_CONFIG,\n"
		"                      else " CFG_DEFAULT_PATH ")\n"
		"  -h, --help          show this help\n"
		"  -V, --version       show the version\n");
}

/* Loads the configuration, printing every problem; EX_CONFIG if any. */
static int load_config(const char *path, struct cfg **ret)
{
	struct cfg_errors errors = { 0 };
	int r;

	r = cfg_load(path, ret, &errors);
	for (size_t i = 0; i < errors.n; i++)
		fprintf(stderr, "%s\n", errors.lines[i]);
	if (r < 0 && errors.n == 0)
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
	cfg_errors_clear(&errors);
	if (r < 0)
		return EX_CONFIG;
	for (size_t i = 0; i < (*ret)->n_warnings; i++)
		fprintf(stderr, "%s\n", (*ret)->warnings[i]);
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

static int cmd_state(struct cfg *c, int argc, char **argv)
{
	struct statedir *d = NULL;
	int r, ret = EXIT_SUCCESS;

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
			continue;
		}
		sum = state_summary(d, l, st);
		if (sum && argc == 2) {
			_cleanup_free_ char *s = NULL;

			if (st && json_object_set_new(sum, "state", listener_state_to_json(st)) < 0)
				sum = NULL;
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
	if (argc == 2) {
		fprintf(stderr, "ssewatchd: no listener named '%s' in %s\n", argv[1], c->path);
		return EX_USAGE;
	}
	return ret;
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
	if (strcmp(command, "run") != 0 && strcmp(command, "check") != 0 && strcmp(command, "state") != 0) {
		fprintf(stderr, "ssewatchd: unknown command '%s'\n", command);
		usage(stderr);
		return EX_USAGE;
	}
	if (strcmp(command, "state") != 0 && optind < argc) {
		fprintf(stderr, "ssewatchd: %s takes no arguments\n", command);
		return EX_USAGE;
	}

	r = load_config(cfg_default_path(config), &c);
	if (r != 0)
		return r;
	log_set_max_level(c->log_level);

	if (strcmp(command, "check") == 0)
		r = cmd_check(c);
	else if (strcmp(command, "state") == 0)
		r = cmd_state(c, argc - optind, argv + optind);
	else
		return daemon_run(c);	/* takes the configuration */
	cfg_free(c);
	return r;
}
