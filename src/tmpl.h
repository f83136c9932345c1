/* SPDX-License-Identifier: MIT */
/*
 * tmpl: the placeholders of trigger templates (aviso compatible), checked at
 * config load and rendered per notification. Pure: no I/O, no global state,
 * never logs.
 *
 * Syntax
 *   {{ notification }}            the whole notification
 *   {{ notification.a.b.c }}      a dotted path into the notification object
 *   {{ env.NAME }}                the daemon's variable NAME (through the caller)
 *   \{{                           a literal "{{"; any other backslash is literal
 * Whitespace (spaces, tabs) inside the braces is optional. Path segments are
 * [A-Za-z0-9_-]+, env names [A-Za-z_][A-Za-z0-9_]*. There is no logic, no
 * filter and no indexing: anything else between "{{" and "}}", and a "{{"
 * with no "}}", is a syntax error naming its byte offset (0-based, in the
 * template). A "}}" outside a placeholder is literal.
 *
 * Values: a string as it is; a number or boolean as JSON text (a real in the
 * shortest form that reads back the same: 0.1, 1.5, 1e100); null as "null";
 * an object or array as compact JSON with sorted keys. A path that does not
 * resolve, or an env variable that is not set, fails the render.
 *
 * Destinations
 *   ARGV    one argv element: values inserted as they are (there is no shell).
 *   URL     values percent-encoded (RFC 3986 unreserved bytes kept). A
 *           placeholder before the end of the authority (the first '/', '?'
 *           or '#' after "://"), or with no "://" before it, is refused at
 *           check time: a value never chooses the scheme, host or port. A
 *           literal space or control character is refused too.
 *   HEADER  a header value: values inserted as they are; a literal CR or LF
 *           is refused, and a rendered value holding CR, LF or NUL fails.
 *   SHELL   a /bin/sh -c script. Values are never spliced into the script:
 *           placeholder number N (from 1, in template order) becomes a
 *           reference to the variable SSEWATCHD_ARG_N, which the caller puts
 *           in the child's environment from *ret_env:
 *               bare word          "${SSEWATCHD_ARG_N}"
 *               inside "..."       ${SSEWATCHD_ARG_N}
 *               inside '...'       '"${SSEWATCHD_ARG_N}"'   (close, expand, reopen)
 *           so `echo {{ notification.sequence }} >> /tmp/x` works as in aviso,
 *           and so do assignments (v={{ ... }}) and redirection targets
 *           (> {{ ... }}), each a single quoted expansion. To pick the form, a
 *           POSIX sh scanner follows quotes, backslashes, comments, $(( )),
 *           (( )), $[ ], ${ }, $( ), backticks, $'...', here-documents and
 *           bash's [[ ]]. It refuses a placeholder inside arithmetic (the
 *           value would be evaluated: $((...)), ((...)), $[...], and for bash,
 *           whose /bin/sh it may be, [[...]] and a NAME[...] subscript), inside
 *           ${...}, directly after '$', inside a here-document or its
 *           delimiter, inside a comment, inside $'...', and inside $(...) or
 *           backticks (not supported, to keep the quoting simple and safe:
 *           assign the value to a variable before). Where shells disagree or
 *           it cannot follow the script reliably (a 'case' inside $(...), a
 *           quote inside arithmetic or inside "${...}", a backslash inside
 *           $'...', a here-document tied to a $(...), very deep nesting) it
 *           refuses every later placeholder instead of guessing.
 *
 * What SHELL cannot prevent: the values never appear in the script text, so
 * the shell never parses them as code, but a script can still ask for a
 * value to be parsed again: eval, sh -c "$1", `xargs sh -c`, find -exec
 * sh -c, and bash's arithmetic on a variable that holds a value (v={{ .. }};
 * [[ $v -eq 1 ]], let, declare -i, unset "a[$v]"), and so on. A value may also start with '-' (end options with --)
 * or be used as the command name if the template puts it there. Those are the
 * template author's choices.
 *
 * Limits: TMPL_MAX_LENGTH bytes of template, TMPL_MAX_PLACEHOLDERS
 * placeholders, TMPL_MAX_RENDERED bytes rendered (for SHELL: the script plus
 * every NAME=value), and for ARGV the argument, for SHELL each NAME=value and
 * the script, at most TMPL_MAX_ARG bytes (the kernel's MAX_ARG_STRLEN).
 */
#ifndef SSEWATCHD_TMPL_H
#define SSEWATCHD_TMPL_H

#include <jansson.h>
#include <stdbool.h>

#define TMPL_MAX_LENGTH		(64 * 1024)
#define TMPL_MAX_PLACEHOLDERS	64
#define TMPL_MAX_RENDERED	(1024 * 1024)
#define TMPL_MAX_ARG		(128 * 1024 - 1)
#define TMPL_SHELL_VAR_PREFIX	"SSEWATCHD_ARG_"

enum tmpl_dest {
	TMPL_DEST_ARGV,
	TMPL_DEST_URL,
	TMPL_DEST_HEADER,
	TMPL_DEST_SHELL,
};

/* The value of the daemon's variable name, or NULL if it is not set. */
typedef const char *(*tmpl_env_fn)(const char *name, void *userdata);

/*
 * Syntax and the destination's rules, for config load. 0 if the template is
 * fine; otherwise -EINVAL (with a message naming the byte offset, e.g.
 * "placeholder at offset 14 is inside $((...)); use it outside arithmetic"),
 * -E2BIG (a limit), or -ENOMEM. *reterr (may be NULL) gets the message, which
 * the caller frees; it is set to NULL on success and on -ENOMEM.
 */
int tmpl_check(const char *template, enum tmpl_dest dest, char **reterr);

/*
 * Whether rendering can give anything but the template itself, i.e. it holds
 * "{{" (a placeholder or an escaped \{{). False: use the template as it is.
 */
bool tmpl_has_placeholders(const char *template);

/*
 * Renders template for dest. notification is the root of the paths (NULL:
 * every notification placeholder fails); getenv_fn (may be NULL: nothing is
 * set) answers {{ env.NAME }}. On success *ret is the rendered text and, for
 * SHELL, *ret_env the NULL-terminated NAME=value list (maybe empty) for the
 * child's environment; for other destinations *ret_env (if ret_env is not
 * NULL) is set to NULL. SHELL requires ret_env; add its entries to the
 * child's environment last (after dropping inherited SSEWATCHD_* variables),
 * so nothing else can set them.
 *
 * Errors, each with *reterr (may be NULL) as for tmpl_check; a message names
 * the placeholder ("notification.identifier.step: not present", "env.X: not
 * set") and never holds a value:
 *   -EINVAL   the template fails tmpl_check
 *   -ENOENT   a path does not resolve, or an env variable is not set
 *   -EBADMSG  a value the destination cannot hold (NUL; CR or LF in a header)
 *   -E2BIG    the result exceeds a limit
 *   -ENOMEM
 */
int tmpl_render(const char *template, enum tmpl_dest dest, const json_t *notification, tmpl_env_fn getenv_fn,
		void *userdata, char **ret, char ***ret_env, char **reterr);

/*
 * The distinct NAMEs the template reads through {{ env.NAME }}, in order of
 * first use, as a NULL-terminated list (maybe empty) the caller frees: the
 * child's environment should not carry them (aviso removes them too).
 * -EINVAL if the template has a syntax error, -E2BIG, -ENOMEM.
 */
int tmpl_env_names(const char *template, char ***ret);

#endif
