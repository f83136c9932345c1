/* SPDX-License-Identifier: MIT */
/* strv: NULL-terminated arrays of owned strings (argv, envp). */
#ifndef SSEWATCHD_STRV_H
#define SSEWATCHD_STRV_H

#include <stddef.h>

#include "macro.h"

size_t strv_length(char *const *v);

/* Appends s, taking ownership (freed on failure too). The array stays NULL-terminated. */
int strv_consume(char ***v, char *s);

/* Appends a copy of s. */
int strv_push(char ***v, const char *s);

int strv_pushf(char ***v, const char *fmt, ...) _printf_(2, 3);

/* Sets NAME=value in an environment array, replacing an existing NAME. */
int strv_env_set(char ***v, const char *name, const char *value);

void strv_free(char **v);

#endif
