/* SPDX-License-Identifier: MIT */
/*
 * ssewatchd — watch Server-Sent Events streams and run triggers for every
 * notification, in order, without losing one.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "macro.h"

#define DEFAULT_CONFIG "/etc/ssewatchd/ssewatchd.yaml"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ssewatchd [-c FILE] [COMMAND]\n"
		"       ssewatchd --version | --help\n"
		"\n"
		"Watch Server-Sent Events streams and run triggers for each notification.\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE   configuration file (default: $SSEWATCHD_CONFIG,\n"
		"                      else " DEFAULT_CONFIG ")\n"
		"  -h, --help          show this help\n"
		"  -V, --version       show the version\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "+c:hV", options, NULL)) != -1) {
		switch (c) {
		case 'c':
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

	if (optind < argc) {
		fprintf(stderr, "ssewatchd: unknown command '%s'\n", argv[optind]);
		usage(stderr);
		return EX_USAGE;
	}
	fprintf(stderr, "ssewatchd: this version can only print --help and --version\n");
	return EXIT_FAILURE;
}
