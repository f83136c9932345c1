/* SPDX-License-Identifier: MIT */
/*
 * auth: the credentials of one listener, as the Authorization header value.
 *
 * Bearer tokens come inline, from bearer_token_file, or from refresh_command
 * (its standard output); basic credentials from username plus password or
 * password_file. Files are read at the first request and again on refresh,
 * which the daemon does on a 401 and on reload, so rotated credentials are
 * picked up without a restart. With both a file and a command, the command
 * runs only while the file holds a token the server rejected.
 *
 * Secrets stay in this module's memory: they are never logged (messages name
 * files and commands, never values) and never put in a child's environment.
 */
#ifndef SSEWATCHD_AUTH_H
#define SSEWATCHD_AUTH_H

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "config.h"

#define AUTH_MAX_SECRET 65536

struct auth;

/* cfg is borrowed and must outlive the object. */
int auth_new(const struct cfg_auth *cfg, struct auth **ret);
struct auth *auth_free(struct auth *a);

bool auth_configured(const struct auth *a);

/* Whether a refresh can bring different credentials (a file or a command). */
bool auth_can_refresh(const struct auth *a);

/*
 * The Authorization header value ("Bearer ..." or "Basic ..."), read from the
 * files the first time. NULL with 0 if no credentials are configured.
 * Negative errno with *reterr (names the file, never the secret) if they
 * cannot be read. The returned string belongs to the object.
 */
int auth_header(struct auth *a, const char **ret, char **reterr);

typedef void (*auth_done_fn)(struct auth *a, int error, const char *message, void *userdata);

/*
 * Fetches fresh credentials: re-reads the files, or runs refresh_command
 * (from the loop, with its timeout; base_env is its environment). done is
 * called once, from the loop, with error 0 on success.
 */
int auth_refresh(struct auth *a, sd_event *e, char **base_env, auth_done_fn done, void *userdata);

/* After a reload: an identical configuration in new memory (the old one is freed). */
void auth_rebind(struct auth *a, const struct cfg_auth *cfg);

/* Forget the credentials read so far: the next auth_header() reads the files again. */
void auth_invalidate(struct auth *a);

/*
 * Whether credentials may be sent to url: https, or http to a loopback host
 * (localhost, 127.0.0.0/8, ::1). Plain http elsewhere would expose them.
 */
bool auth_url_safe(const char *url);

#endif
