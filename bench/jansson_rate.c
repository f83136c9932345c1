/* SPDX-License-Identifier: MIT */
/*
 * The ceiling jansson puts on an aviso listener: parse every `data:` line of
 * a pre-generated aviso stream with json_loadb() (what any jansson-based
 * client must do once per notification), timing only the parsing.
 *
 *   jansson_rate FILE    prints: <frames> <seconds> <frames per second>
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	char *line = NULL;
	size_t cap = 0, frames = 0;
	double spent = 0;
	ssize_t n;
	FILE *f;

	if (argc != 2 || !(f = fopen(argv[1], "r"))) {
		fprintf(stderr, "usage: jansson_rate FILE\n");
		return 2;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		json_error_t err;
		json_t *j;
		double t;

		if (strncmp(line, "data: ", 6) != 0)
			continue;
		t = now();
		j = json_loadb(line + 6, (size_t)n - 7, 0, &err);
		spent += now() - t;
		if (!j) {
			fprintf(stderr, "line %d: %s\n", err.line, err.text);
			return 1;
		}
		json_decref(j);
		frames++;
	}
	free(line);
	fclose(f);
	printf("%zu %.6f %.0f\n", frames, spent, spent > 0 ? (double)frames / spent : 0.0);
	return 0;
}
