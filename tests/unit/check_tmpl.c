/* SPDX-License-Identifier: MIT */
/*
 * tmpl: a table of templates with the exact text (and for SHELL the exact
 * variables) they render to, or the exact message they fail with; the
 * limits; every prefix and suffix of the table's templates; and the proof
 * that SHELL is injection safe: /bin/sh (and bash) really run rendered
 * commands on hostile values, in a scratch directory, and print exactly the
 * value while nothing else happens.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "macro.h"
#include "strv.h"
#include "suites.h"
#include "testlib.h"
#include "tmpl.h"

static const char notification_json[] =
	"{\"event\": \"live-notification\", \"event_type\": \"mars\", \"sequence\": 42, \"id\": \"mars@42\","
	" \"identifier\": {\"step\": \"12\", \"date\": \"20260913\", \"class\": \"od\", \"stream\": \"oper\"},"
	" \"v\": {\"str\": \"it's \\\"q\\\"\", \"int\": -7, \"real\": 0.1, \"half\": 1.5, \"big\": 1e100,"
	"        \"small\": 1e-7, \"t\": true, \"f\": false, \"null\": null, \"list\": [1, \"a\", null],"
	"        \"obj\": {\"b\": 2, \"a\": {\"c\": []}}, \"empty\": \"\", \"utf8\": \"\\u00e9\\u20ac\\ud83d\\ude00\","
	"        \"crlf\": \"a\\r\\nb\", \"cr\": \"a\\rb\", \"nul\": \"a\\u0000b\", \"tab\": \"a\\tb\","
	"        \"unres\": \"AZaz09-._~\", \"res\": \":/?#[]@!$&'()*+,;=% \"},"
	" \"a-b\": {\"c_d\": \"dash\"}}";

static const struct {
	const char *name, *value;
} test_env[] = {
	{ "TOKEN", "s3cr3t" },
	{ "EMPTY", "" },
	{ "NASTY", "$(touch PWNED)'\"" },
};

static const char *env_lookup(const char *name, void *userdata)
{
	(void)userdata;
	for (size_t i = 0; i < ELEMENTSOF(test_env); i++)
		if (strcmp(name, test_env[i].name) == 0)
			return test_env[i].value;
	return NULL;
}

static json_t *load(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_ALLOW_NUL, &err);

	ck_assert_msg(j != NULL, "bad test JSON: %s", err.text);
	return j;
}

/* The same notification with every string replaced by a hostile one. */
static void poison(json_t *j)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach(j, key, v) {
			if (json_is_string(v))
				ck_assert_int_eq(json_object_set_new(j, key, json_string("X'\"$(touch PWNED)`;")), 0);
			else
				poison(v);
		}
	} else if (json_is_array(j))
		json_array_foreach(j, i, v) poison(v);
}

/* "NAME=value\n" for each entry. */
static char *env_joined(char **env)
{
	char *s = strdup("");

	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; env && env[i]; i++) {
		char *n;

		ck_assert_int_ge(asprintf(&n, "%s%s\n", s, env[i]), 0);
		free(s);
		s = n;
	}
	return s;
}

/* ------------------------------------------------------------- the table */

struct vector {
	enum tmpl_dest dest;
	const char *tmpl;
	int check;		/* what tmpl_check returns */
	int render;		/* what tmpl_render returns */
	const char *out;	/* the rendered text, or the message */
	const char *env;	/* SHELL: the variables, "NAME=value\n" each */
};

#define OK(d, t, o)        { TMPL_DEST_##d, t, 0, 0, o, NULL }
#define SH(t, o, e)        { TMPL_DEST_SHELL, t, 0, 0, o, e }
#define BAD(d, t, m)       { TMPL_DEST_##d, t, -EINVAL, -EINVAL, m, NULL }
#define FAILS(d, t, r, m)  { TMPL_DEST_##d, t, 0, r, m, NULL }
#define SYNTAX(off, what)  "template syntax error at offset " #off ": " what
#define UNCLOSED(off)      SYNTAX(off, "'{{' is not closed by '}}'")
#define UNEXPECTED(off, c) SYNTAX(off, "unexpected " c " in a placeholder (no filters, indexing or logic)")
#define ARG(n)             "${SSEWATCHD_ARG_" #n "}"
#define QARG(n)            "\"" ARG(n) "\""
#define SQARG(n)           "'" QARG(n) "'"
#define HOST(off)                                                                                     \
	"placeholder at offset " #off " is in the URL's scheme or host; a value must not choose where " \
	"the request goes (use placeholders in the path or query)"
#define AT(off, why)       "placeholder at offset " #off " " why
#define CMDSUB_WHY(w)                                                                                  \
	"is inside " w "; placeholders are not supported in command substitutions (to keep quoting " \
	"simple and safe): assign it to a variable before, v={{ ... }}"
#define HEREDOC_WHY        "is inside a here-document; pass the value as an argument or variable instead"
#define SUBSCRIPT_WHY      "is inside an array subscript, NAME[...], which bash evaluates as arithmetic"
#define ARITH_QUOTE        "a quote, backslash or backquote inside arithmetic (shells disagree where it ends)"
#define LOST(off, what)                                                                                 \
	"placeholder at offset " #off " comes after " what ", which this check does not follow; move the " \
	"placeholder before it (e.g. into a variable)"

static const struct vector vectors[] = {
	/* syntax */
	OK(ARGV, "", ""),
	OK(ARGV, "plain text", "plain text"),
	OK(ARGV, "{{notification.sequence}}", "42"),
	OK(ARGV, "{{ \t notification.sequence\t }}", "42"),
	OK(ARGV, "a{{ notification.event_type }}b{{ notification.sequence }}c", "amarsb42c"),
	OK(ARGV, "\\{{ notification.sequence }}", "{{ notification.sequence }}"),
	OK(ARGV, "\\{{{{ notification.sequence }}", "{{42"),
	OK(ARGV, "\\\\{{ x }}", "\\{{ x }}"),
	OK(ARGV, "}} {{ notification.id }} }}", "}} mars@42 }}"),
	OK(ARGV, "{ {{ notification.id }}}", "{ mars@42}"),
	OK(ARGV, "{x} { \\ \\{ a\\", "{x} { \\ \\{ a\\"),
	OK(ARGV, "{{ notification.a-b.c_d }}", "dash"),
	BAD(ARGV, "{{", UNCLOSED(0)),
	BAD(ARGV, "ab{{ notification", UNCLOSED(2)),
	BAD(ARGV, "ab{{ notification.", UNCLOSED(2)),
	BAD(ARGV, "{{ notification.sequence }", UNCLOSED(0)),
	BAD(ARGV, "{{ notification.sequence }x}}", UNEXPECTED(26, "'x'")),
	BAD(ARGV, "{{ notification.id }} {{", UNCLOSED(22)),
	BAD(ARGV, "{{}}", SYNTAX(0, "empty placeholder")),
	BAD(ARGV, "x{{  }}", SYNTAX(1, "empty placeholder")),
	BAD(ARGV, "{{ foo }}",
	    SYNTAX(3, "unknown placeholder 'foo' (expected notification, notification.PATH or env.NAME)")),
	BAD(ARGV, "{{ Notification }}",
	    SYNTAX(3, "unknown placeholder 'Notification' (expected notification, notification.PATH or env.NAME)")),
	BAD(ARGV, "{{ notification. }}", SYNTAX(16, "empty name after '.'")),
	BAD(ARGV, "{{ notification..a }}", SYNTAX(16, "empty name after '.'")),
	BAD(ARGV, "{{ notification.a. }}", SYNTAX(18, "empty name after '.'")),
	BAD(ARGV, "{{ notification.a[0] }}", UNEXPECTED(17, "'['")),
	BAD(ARGV, "{{ notification.a | upper }}", UNEXPECTED(18, "'|'")),
	BAD(ARGV, "{{ notification . a }}", UNEXPECTED(16, "'.'")),
	BAD(ARGV, "{{ notification.\xc3\xa9 }}", UNEXPECTED(16, "\\xc3")),
	BAD(ARGV, "{{ notification.a\n}}", UNEXPECTED(17, "\\x0a")),
	BAD(ARGV, "{{{ notification }}}", UNEXPECTED(2, "'{'")),
	BAD(ARGV, "x {{ 'notification' }}", UNEXPECTED(5, "\\x27")),
	BAD(ARGV, "{{ notification.a b }}", UNEXPECTED(18, "'b'")),
	BAD(ARGV, "{{ env }}", SYNTAX(0, "env needs a variable name: {{ env.NAME }}")),
	BAD(ARGV, "{{ env.A.B }}", SYNTAX(3, "env takes one variable name, not a path: {{ env.NAME }}")),
	BAD(ARGV, "{{ env.1A }}", SYNTAX(7, "an environment variable name cannot start with a digit")),
	BAD(ARGV, "{{ env.A-B }}", SYNTAX(7, "an environment variable name is letters, digits and _")),

	/* values */
	OK(ARGV, "{{ notification.v.str }}", "it's \"q\""),
	OK(ARGV, "{{ notification.v.int }}", "-7"),
	OK(ARGV, "{{ notification.v.real }}", "0.1"),
	OK(ARGV, "{{ notification.v.half }}", "1.5"),
	OK(ARGV, "{{ notification.v.big }}", "1e100"),
	OK(ARGV, "{{ notification.v.small }}", "1e-7"),
	OK(ARGV, "{{ notification.v.t }}/{{ notification.v.f }}", "true/false"),
	OK(ARGV, "{{ notification.v.null }}", "null"),
	OK(ARGV, "{{ notification.v.list }}", "[1,\"a\",null]"),
	OK(ARGV, "{{ notification.v.obj }}", "{\"a\":{\"c\":[]},\"b\":2}"),
	OK(ARGV, "[{{ notification.v.empty }}]", "[]"),
	OK(ARGV, "{{ notification.v.utf8 }}", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
	OK(ARGV, "{{ notification.v.crlf }}", "a\r\nb"),
	OK(ARGV, "{{ notification.identifier }}",
	   "{\"class\":\"od\",\"date\":\"20260913\",\"step\":\"12\",\"stream\":\"oper\"}"),
	OK(ARGV, "--step={{ notification.identifier.step }}", "--step=12"),
	OK(ARGV, "{{ env.TOKEN }}:{{ env.EMPTY }}:{{ env.NASTY }}", "s3cr3t::$(touch PWNED)'\""),
	FAILS(ARGV, "{{ notification.identifier.nope }}", -ENOENT, "notification.identifier.nope: not present"),
	FAILS(ARGV, "{{ notification.sequence.x }}", -ENOENT, "notification.sequence.x: not present"),
	FAILS(ARGV, "{{ notification.v.null.x }}", -ENOENT, "notification.v.null.x: not present"),
	FAILS(ARGV, "{{ notification.v.list.a }}", -ENOENT, "notification.v.list.a: not present"),
	FAILS(ARGV, "a {{ env.NOPE }}", -ENOENT, "env.NOPE: not set"),
	FAILS(ARGV, "{{ notification.v.nul }}", -EBADMSG,
	      "notification.v.nul: the value contains a NUL byte, which a C string cannot hold"),

	/* URL */
	OK(URL, "https://h", "https://h"),
	OK(URL, "https://h/{{ notification.v.utf8 }}", "https://h/%C3%A9%E2%82%AC%F0%9F%98%80"),
	OK(URL, "https://h/x?q={{ notification.v.str }}", "https://h/x?q=it%27s%20%22q%22"),
	OK(URL, "https://h/{{ notification.v.unres }}", "https://h/AZaz09-._~"),
	OK(URL, "https://h/{{ notification.v.res }}",
	   "https://h/%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25%20"),
	OK(URL, "https://h/{{ notification.v.obj }}", "https://h/%7B%22a%22%3A%7B%22c%22%3A%5B%5D%7D%2C%22b%22%3A2%7D"),
	OK(URL, "https://h/{{ notification.v.nul }}/{{ notification.v.crlf }}", "https://h/a%00b/a%0D%0Ab"),
	OK(URL, "https://h?{{ notification.id }}", "https://h?mars%4042"),
	OK(URL, "https://h#{{ notification.id }}", "https://h#mars%4042"),
	OK(URL, "https://h:8080/{{ notification.sequence }}/{{ env.NASTY }}",
	   "https://h:8080/42/%24%28touch%20PWNED%29%27%22"),
	OK(URL, "https://h/\\{{x}}", "https://h/{{x}}"),
	OK(URL, "https://h/{{ notification.id }}://{{ notification.id }}", "https://h/mars%4042://mars%4042"),
	BAD(URL, "https://{{ notification.id }}/x", HOST(8)),
	BAD(URL, "https://h{{ notification.id }}/x", HOST(9)),
	BAD(URL, "https://h:{{ notification.sequence }}/x", HOST(10)),
	BAD(URL, "https://{{ env.TOKEN }}@h/x", HOST(8)),
	BAD(URL, "https://h.example{{ notification.id }}", HOST(17)),
	BAD(URL, "{{ notification.id }}", HOST(0)),
	BAD(URL, "{{ env.BASE }}/x", HOST(0)),
	BAD(URL, "http{{ notification.id }}://h/", HOST(4)),
	BAD(URL, "h/{{ notification.id }}", HOST(2)),
	BAD(URL, "://{{ notification.id }}/", HOST(3)),
	BAD(URL, "https://h/a b", "a URL must not contain spaces or control characters (offset 11)"),
	BAD(URL, "https://h/{{ notification.id }}\t", "a URL must not contain spaces or control characters (offset 31)"),

	/* HEADER */
	OK(HEADER, "Bearer {{ env.TOKEN }}", "Bearer s3cr3t"),
	OK(HEADER, "{{ notification.v.str }} {{ notification.v.tab }}", "it's \"q\" a\tb"),
	BAD(HEADER, "a\r\nb{{ notification.id }}", "a header value must not contain CR or LF (offset 1)"),
	FAILS(HEADER, "x{{ notification.v.crlf }}", -EBADMSG,
	      "notification.v.crlf: the value contains CR or LF, which a header value must not"),
	FAILS(HEADER, "{{ notification.v.cr }}", -EBADMSG,
	      "notification.v.cr: the value contains CR or LF, which a header value must not"),
	FAILS(HEADER, "{{ notification.v.nul }}", -EBADMSG,
	      "notification.v.nul: the value contains a NUL byte, which a C string cannot hold"),

	/* SHELL: the accepted contexts */
	SH("echo {{ notification.sequence }} >> /tmp/x", "echo " QARG(1) " >> /tmp/x", "SSEWATCHD_ARG_1=42\n"),
	SH("./on-event.sh {{ notification.event_type }} {{ notification.sequence }}",
	   "./on-event.sh " QARG(1) " " QARG(2), "SSEWATCHD_ARG_1=mars\nSSEWATCHD_ARG_2=42\n"),
	SH("echo \"{{notification.event_type}}\"", "echo \"" ARG(1) "\"", "SSEWATCHD_ARG_1=mars\n"),
	SH("echo '{{ notification.event_type }}'", "echo '" SQARG(1) "'", "SSEWATCHD_ARG_1=mars\n"),
	SH("echo \"a{{ notification.id }}\"'b{{ notification.sequence }}'c{{ notification.event_type }}",
	   "echo \"a" ARG(1) "\"'b" SQARG(2) "'c" QARG(3),
	   "SSEWATCHD_ARG_1=mars@42\nSSEWATCHD_ARG_2=42\nSSEWATCHD_ARG_3=mars\n"),
	SH("echo {{ notification.id }}{{ notification.sequence }}", "echo " QARG(1) QARG(2),
	   "SSEWATCHD_ARG_1=mars@42\nSSEWATCHD_ARG_2=42\n"),
	SH("v={{ notification.id }}; echo \"$v\"", "v=" QARG(1) "; echo \"$v\"", "SSEWATCHD_ARG_1=mars@42\n"),
	SH("export V=x{{ notification.id }}", "export V=x" QARG(1), "SSEWATCHD_ARG_1=mars@42\n"),
	SH("cat > {{ notification.id }}", "cat > " QARG(1), "SSEWATCHD_ARG_1=mars@42\n"),
	SH("cat >{{ notification.id }} 2>>'{{ notification.id }}'", "cat >" QARG(1) " 2>>'" SQARG(2) "'",
	   "SSEWATCHD_ARG_1=mars@42\nSSEWATCHD_ARG_2=mars@42\n"),
	SH("cat <<<{{ notification.id }}", "cat <<<" QARG(1), "SSEWATCHD_ARG_1=mars@42\n"),
	SH("curl -H \"Authorization: Bearer {{ env.TOKEN }}\" x", "curl -H \"Authorization: Bearer " ARG(1) "\" x",
	   "SSEWATCHD_ARG_1=s3cr3t\n"),
	SH("echo {{ notification.v.str }} {{ notification.v.obj }} {{ env.NASTY }}",
	   "echo " QARG(1) " " QARG(2) " " QARG(3),
	   "SSEWATCHD_ARG_1=it's \"q\"\nSSEWATCHD_ARG_2={\"a\":{\"c\":[]},\"b\":2}\n"
	   "SSEWATCHD_ARG_3=$(touch PWNED)'\"\n"),
	SH("echo $(date) {{ notification.id }}", "echo $(date) " QARG(1), "SSEWATCHD_ARG_1=mars@42\n"),
	SH("echo `date`{{ notification.id }}", "echo `date`" QARG(1), "SSEWATCHD_ARG_1=mars@42\n"),
	SH("echo \"$(date)\" \"{{ notification.id }}\"", "echo \"$(date)\" \"" ARG(1) "\"", "SSEWATCHD_ARG_1=mars@42\n"),
	SH("echo \"$(echo \")\")-{{ notification.id }}\"", "echo \"$(echo \")\")-" ARG(1) "\"",
	   "SSEWATCHD_ARG_1=mars@42\n"),
	SH("echo \"${HOME}{{ notification.id }}\"", "echo \"${HOME}" ARG(1) "\"", "SSEWATCHD_ARG_1=mars@42\n"),
	SH("echo ${x:-'}'}{{ notification.id }}", "echo ${x:-'}'}" QARG(1), "SSEWATCHD_ARG_1=mars@42\n"),
	SH("echo $1{{ notification.id }} $#{{ notification.id }} ${#}{{ notification.id }}",
	   "echo $1" QARG(1) " $#" QARG(2) " ${#}" QARG(3),
	   "SSEWATCHD_ARG_1=mars@42\nSSEWATCHD_ARG_2=mars@42\nSSEWATCHD_ARG_3=mars@42\n"),
	SH("x=$((1+(2*3))); echo {{ notification.id }}", "x=$((1+(2*3))); echo " QARG(1), "SSEWATCHD_ARG_1=mars@42\n"),
	SH("echo $((echo a) | cat) {{ notification.id }}", "echo $((echo a) | cat) " QARG(1),
	   "SSEWATCHD_ARG_1=mars@42\n"),
	SH("((echo a) ) ; echo {{ notification.id }}", "((echo a) ) ; echo " QARG(1), "SSEWATCHD_ARG_1=mars@42\n"),
	SH("(cd /tmp && echo {{ notification.id }})", "(cd /tmp && echo " QARG(1) ")", "SSEWATCHD_ARG_1=mars@42\n"),
	SH("case {{ notification.id }} in mars*) echo {{ notification.sequence }};; esac",
	   "case " QARG(1) " in mars*) echo " QARG(2) ";; esac", "SSEWATCHD_ARG_1=mars@42\nSSEWATCHD_ARG_2=42\n"),
	SH("if true; then\n\techo {{ notification.id }} | tr a b\nfi", "if true; then\n\techo " QARG(1) " | tr a b\nfi",
	   "SSEWATCHD_ARG_1=mars@42\n"),
	SH("# a comment's quote\necho {{ notification.id }}", "# a comment's quote\necho " QARG(1),
	   "SSEWATCHD_ARG_1=mars@42\n"),
	SH("echo a#'{{ notification.id }}'", "echo a#'" SQARG(1) "'", "SSEWATCHD_ARG_1=mars@42\n"),
	SH("echo \\'{{ notification.id }} \\\"{{ notification.id }}", "echo \\'" QARG(1) " \\\"" QARG(2),
	   "SSEWATCHD_ARG_1=mars@42\nSSEWATCHD_ARG_2=mars@42\n"),
	SH("echo \"\\\"{{ notification.id }}\" '\\'{{ notification.id }}", "echo \"\\\"" ARG(1) "\" '\\'" QARG(2),
	   "SSEWATCHD_ARG_1=mars@42\nSSEWATCHD_ARG_2=mars@42\n"),
	SH("echo a\\\n#{{ notification.id }}", "echo a\\\n#" QARG(1), "SSEWATCHD_ARG_1=mars@42\n"),
	SH("echo $'x' \"$\"{{ notification.id }}", "echo $'x' \"$\"" QARG(1), "SSEWATCHD_ARG_1=mars@42\n"),
	SH("echo \"{{ notification.id }}", "echo \"" ARG(1), "SSEWATCHD_ARG_1=mars@42\n"),
	SH("echo \\{{ notification.id }}", "echo {{ notification.id }}", ""),
	SH("cat <<EOF\nbody $x '\n\"EOF\nEOF\necho {{ notification.id }}", "cat <<EOF\nbody $x '\n\"EOF\nEOF\necho " QARG(1),
	   "SSEWATCHD_ARG_1=mars@42\n"),
	SH("cat <<-EOF; echo {{ notification.id }}\n\tbody\n\t\tEOF\necho {{ notification.id }}",
	   "cat <<-EOF; echo " QARG(1) "\n\tbody\n\t\tEOF\necho " QARG(2),
	   "SSEWATCHD_ARG_1=mars@42\nSSEWATCHD_ARG_2=mars@42\n"),
	SH("cat <<'E F'\nx\nE F\necho {{ notification.id }}", "cat <<'E F'\nx\nE F\necho " QARG(1),
	   "SSEWATCHD_ARG_1=mars@42\n"),
	SH("cat <<E\\\nOF\nbody\nEOF\necho {{ notification.id }}", "cat <<E\\\nOF\nbody\nEOF\necho " QARG(1),
	   "SSEWATCHD_ARG_1=mars@42\n"),
	SH("cat <<\"E\\\nOF\"\nbody\nEOF\necho {{ notification.id }}",
	   "cat <<\"E\\\nOF\"\nbody\nEOF\necho " QARG(1), "SSEWATCHD_ARG_1=mars@42\n"),
	SH("cat <<E\nfoo\\\nE\nE\necho {{ notification.id }}", "cat <<E\nfoo\\\nE\nE\necho " QARG(1),
	   "SSEWATCHD_ARG_1=mars@42\n"),
	SH("cat <<A <<\"B\"\na\nA\nb\nB\necho {{ notification.id }}", "cat <<A <<\"B\"\na\nA\nb\nB\necho " QARG(1),
	   "SSEWATCHD_ARG_1=mars@42\n"),
	SH("x=$(cat <<E\n)\nE\n) {{ notification.id }}", "x=$(cat <<E\n)\nE\n) " QARG(1), "SSEWATCHD_ARG_1=mars@42\n"),
	SH("[[ -n x ]] && echo {{ notification.id }}", "[[ -n x ]] && echo " QARG(1), "SSEWATCHD_ARG_1=mars@42\n"),
	SH("a[0]={{ notification.id }} echo [{{ notification.id }}]", "a[0]=" QARG(1) " echo [" QARG(2) "]",
	   "SSEWATCHD_ARG_1=mars@42\nSSEWATCHD_ARG_2=mars@42\n"),
	SH("echo $(( $(echo \"1\") )) {{ notification.id }}", "echo $(( $(echo \"1\") )) " QARG(1),
	   "SSEWATCHD_ARG_1=mars@42\n"),
	SH("cat <<E\nx\\\\\nE\necho {{ notification.id }}", "cat <<E\nx\\\\\nE\necho " QARG(1),
	   "SSEWATCHD_ARG_1=mars@42\n"),
	FAILS(SHELL, "echo {{ notification.nope }}", -ENOENT, "notification.nope: not present"),
	FAILS(SHELL, "echo {{ notification.v.nul }}", -EBADMSG,
	      "notification.v.nul: the value contains a NUL byte, which an environment variable cannot hold"),

	/* SHELL: the refused contexts */
	BAD(SHELL, "echo $(( {{ notification.sequence }} + 1 ))", AT(9, "is inside $((...)); use it outside arithmetic")),
	BAD(SHELL, "echo $(((1) + {{ notification.sequence }}))", AT(14, "is inside $((...)); use it outside arithmetic")),
	BAD(SHELL, "(( {{ notification.sequence }} > 1 ))", AT(3, "is inside ((...)); use it outside arithmetic")),
	BAD(SHELL, "echo $[ {{ notification.sequence }} ]", AT(8, "is inside $[...]; use it outside arithmetic")),
	BAD(SHELL, "echo ${x:-{{ notification.id }}}", AT(10, "is inside ${...}; use it outside parameter expansions")),
	BAD(SHELL, "echo \"${x:-{{ notification.id }}}\"", AT(11, "is inside ${...}; use it outside parameter expansions")),
	BAD(SHELL, "echo ${{{ notification.id }}}", UNEXPECTED(8, "'{'")),
	BAD(SHELL, "echo ${ {{ notification.id }}}", AT(8, "is inside ${...}; use it outside parameter expansions")),
	BAD(SHELL, "echo \\\n# {{ notification.id }}", AT(9, "is inside a comment")),
	BAD(SHELL, "echo ${{ notification.id }}", AT(6, "directly follows '$'; a value must not name a variable")),
	BAD(SHELL, "echo \"${{ notification.id }}\"", AT(7, "directly follows '$'; a value must not name a variable")),
	BAD(SHELL, "echo $${{ notification.id }}", AT(7, "directly follows '$'; a value must not name a variable")),
	BAD(SHELL, "echo $(echo {{ notification.id }})", AT(12, CMDSUB_WHY("$(...)"))),
	BAD(SHELL, "echo \"$(echo \"{{ notification.id }}\")\"", AT(14, CMDSUB_WHY("$(...)"))),
	BAD(SHELL, "echo $(( $(echo {{ notification.id }}) ))", AT(16, CMDSUB_WHY("$(...)"))),
	BAD(SHELL, "echo $((echo a) {{ notification.id }})", AT(16, CMDSUB_WHY("$(...)"))),
	BAD(SHELL, "echo `echo {{ notification.id }}`", AT(11, CMDSUB_WHY("`...`"))),
	BAD(SHELL, "echo \"`echo \\\"{{ notification.id }}\\\"`\"", AT(14, CMDSUB_WHY("`...`"))),
	BAD(SHELL, "echo $'{{ notification.id }}'", AT(7, "is inside $'...'; use it outside")),
	BAD(SHELL, "echo a # {{ notification.id }}", AT(9, "is inside a comment")),
	BAD(SHELL, "# {{ notification.id }}\necho", AT(2, "is inside a comment")),
	BAD(SHELL, "echo $(# {{ notification.id }}\n)", AT(9, "is inside a comment")),
	BAD(SHELL, "cat <<EOF\n{{ notification.id }}\nEOF", AT(10, HEREDOC_WHY)),
	BAD(SHELL, "cat <<EOF\nok\nEOF{{ notification.id }}\nEOF", AT(16, HEREDOC_WHY)),
	BAD(SHELL, "cat <<EOF\nok\n{{ notification.id }}EOF\nEOF", AT(13, HEREDOC_WHY)),
	BAD(SHELL, "cat <<-EOF\n\t{{ notification.id }}\n\tEOF", AT(12, HEREDOC_WHY)),
	BAD(SHELL, "cat <<'EOF'\n'{{ notification.id }}'\nEOF", AT(13, HEREDOC_WHY)),
	BAD(SHELL, "cat <<EOF\nno end\n{{ notification.id }}", AT(17, HEREDOC_WHY)),
	BAD(SHELL, "cat <<A <<B\nA\nb\n{{ notification.id }}\nB\n", AT(16, HEREDOC_WHY)),
	BAD(SHELL, "cat <<E\nfoo\\\nE\n{{ notification.id }}\nE\n", AT(15, HEREDOC_WHY)),
	BAD(SHELL, "cat <<{{ notification.id }}", AT(6, "is in a here-document delimiter")),
	BAD(SHELL, "cat << 'E'{{ notification.id }}", AT(10, "is in a here-document delimiter")),
	BAD(SHELL, "[[ {{ notification.sequence }} -eq 1 ]] && echo y",
	    AT(3, "is inside [[...]], whose operands bash evaluates as arithmetic (-eq and the like); use [ ... ] instead")),
	BAD(SHELL, "a[{{ notification.sequence }}]=1", AT(2, SUBSCRIPT_WHY)),
	BAD(SHELL, "a[\"{{ notification.sequence }}\"]=1", AT(3, SUBSCRIPT_WHY)),
	/* bash compound assignments: the [KEY] is arithmetic as well */
	BAD(SHELL, "a=([{{ notification.sequence }}]=1)", AT(4, SUBSCRIPT_WHY)),
	BAD(SHELL, "a=( x [\"{{ notification.sequence }}\"]=1 )", AT(8, SUBSCRIPT_WHY)),
	BAD(SHELL, "declare -a a=([{{ notification.sequence }}]=1)", AT(15, SUBSCRIPT_WHY)),
	BAD(SHELL, "a+=([{{ notification.sequence }}]=1)", AT(5, SUBSCRIPT_WHY)),
	BAD(SHELL, "cat <<E\nx\\\\\\\nE\n{{ notification.id }}\nE", AT(15, HEREDOC_WHY)),
	BAD(SHELL, "echo $(( \"1\" )) {{ notification.id }}", LOST(16, ARITH_QUOTE)),
	BAD(SHELL, "echo $(( ${x:-\"1\"} )) {{ notification.id }}", LOST(22, ARITH_QUOTE)),
	BAD(SHELL, "x=$(cat <<E) {{ notification.id }}\nbody\nE",
	    LOST(13, "a here-document whose $(...) or (...) ends before its body")),
	BAD(SHELL, "x=$(cat <<E\n) {{ notification.id }}\nE", AT(14, HEREDOC_WHY)),
	BAD(SHELL, "cat <<E $(echo\n) {{ notification.id }}\nE",
	    LOST(17, "a here-document whose body starts inside $(...) or (...)")),
	BAD(SHELL, "echo $(case a in a) echo;; esac) {{ notification.id }}", LOST(33, "a 'case' inside $(...) or (...)")),
	BAD(SHELL, "echo \"${x:-'a'}\" {{ notification.id }}", LOST(17, "a ' inside \"${...}\" (shells disagree where it ends)")),
	BAD(SHELL, "echo $'a\\'b' {{ notification.id }}",
	    LOST(13, "a backslash inside $'...' (shells disagree where it ends)")),
	BAD(SHELL, "cat <<\necho {{ notification.id }}", LOST(12, "a here-document operator without a delimiter")),
	BAD(SHELL, "cat <<a <<b <<c <<d <<e <<f <<g <<h <<i\n{{ notification.id }}",
	    LOST(40, "more than 8 here-documents on one line")),
};

START_TEST(test_vector)
{
	const struct vector *v = &vectors[_i];
	_cleanup_(json_decrefp) json_t *n = load(notification_json);
	_cleanup_(json_decrefp) json_t *n2 = load(notification_json);
	_cleanup_free_ char *err = (char *)&err, *out = (char *)&out, *err2 = NULL, *out2 = NULL;
	_cleanup_free_ char *envs = NULL;
	char **env = (char **)&env, **env2 = NULL;
	int r;

	r = tmpl_check(v->tmpl, v->dest, &err);
	ck_assert_msg(r == v->check, "'%s': check gave %d (%s), expected %d", v->tmpl, r, err ? err : "", v->check);
	if (r == 0)
		ck_assert_ptr_null(err);
	else
		ck_assert_str_eq(err, v->out);
	free(err);
	err = (char *)&err;

	r = tmpl_render(v->tmpl, v->dest, n, env_lookup, NULL, &out, &env, &err);
	ck_assert_msg(r == v->render, "'%s': render gave %d (%s), expected %d", v->tmpl, r, err ? err : "",
		      v->render);
	if (r < 0) {
		ck_assert_str_eq(err, v->out);
		ck_assert_ptr_null(out);
		ck_assert_ptr_null(env);
		return;
	}
	ck_assert_ptr_null(err);
	ck_assert_str_eq(out, v->out);
	if (v->dest != TMPL_DEST_SHELL) {
		ck_assert_ptr_null(env);
		return;
	}
	envs = env_joined(env);
	ck_assert_str_eq(envs, v->env);

	/* The script does not depend on the values: hostile ones give the same. */
	poison(n2);
	r = tmpl_render(v->tmpl, v->dest, n2, env_lookup, NULL, &out2, &env2, &err2);
	ck_assert_int_eq(r, 0);
	ck_assert_str_eq(out2, out);
	ck_assert_uint_eq(strv_length(env2), strv_length(env));
	strv_free(env);
	strv_free(env2);
}
END_TEST

/* --------------------------------------------------- values and the API */

START_TEST(test_whole_notification)
{
	_cleanup_(json_decrefp) json_t *n = load(notification_json);
	_cleanup_free_ char *want = json_dumps(n, JSON_COMPACT | JSON_SORT_KEYS);
	_cleanup_free_ char *out = NULL, *url = NULL, *err = NULL;
	_cleanup_free_ char *s = NULL;

	ck_assert_int_eq(tmpl_render("{{ notification }}", TMPL_DEST_ARGV, n, NULL, NULL, &out, NULL, NULL), 0);
	ck_assert_str_eq(out, want);
	ck_assert_int_eq(tmpl_render("https://h/?n={{notification}}", TMPL_DEST_URL, n, NULL, NULL, &url, NULL, NULL), 0);
	ck_assert_str_eq(strstr(url, "?n=%7B%22a-b%22%3A%7B%22c_d%22%3A%22dash%22%7D%2C%22event%22%3A") ? "found" : url,
			 "found");
	ck_assert(!strpbrk(url, " \"{}\r\n"));

	/* No notification, no env function: nothing resolves. */
	ck_assert_int_eq(tmpl_render("{{ notification }}", TMPL_DEST_ARGV, NULL, NULL, NULL, &s, NULL, &err), -ENOENT);
	ck_assert_str_eq(err, "notification: not present");
	free(err);
	ck_assert_int_eq(tmpl_render("{{ env.TOKEN }}", TMPL_DEST_ARGV, n, NULL, NULL, &s, NULL, &err), -ENOENT);
	ck_assert_str_eq(err, "env.TOKEN: not set");
	ck_assert_ptr_null(s);

	/* A root that is not an object: only the whole of it resolves. */
	json_t *str = json_string("plain");

	ck_assert_int_eq(tmpl_render("{{ notification }}", TMPL_DEST_ARGV, str, NULL, NULL, &s, NULL, NULL), 0);
	ck_assert_str_eq(s, "plain");
	free(s);
	ck_assert_int_eq(tmpl_render("{{ notification.a }}", TMPL_DEST_ARGV, str, NULL, NULL, &s, NULL, NULL), -ENOENT);
	json_decref(str);
}
END_TEST

static const struct {
	double value;
	const char *text;
} reals[] = {
	{ 0.1, "0.1" },	    { 1.0, "1.0" },	  { -2.5, "-2.5" },	     { 1e100, "1e100" },
	{ 1e-7, "1e-7" },   { 123456789.125, "123456789.125" },	  { 0.30000000000000004, "0.30000000000000004" },
	{ 1.0 / 3, "0.3333333333333333" },	  { -0.0, "-0.0" },
};

START_TEST(test_reals_shortest)
{
	for (size_t i = 0; i < ELEMENTSOF(reals); i++) {
		_cleanup_(json_decrefp) json_t *n = json_pack("{s:f}", "x", reals[i].value);
		_cleanup_free_ char *out = NULL;

		ck_assert_int_eq(tmpl_render("{{ notification.x }}", TMPL_DEST_ARGV, n, NULL, NULL, &out, NULL, NULL), 0);
		ck_assert_str_eq(out, reals[i].text);
		ck_assert(strtod(out, NULL) == reals[i].value);
	}
}
END_TEST

START_TEST(test_has_placeholders)
{
	ck_assert(!tmpl_has_placeholders(""));
	ck_assert(!tmpl_has_placeholders("echo { } }} {"));
	ck_assert(tmpl_has_placeholders("{{ notification }}"));
	ck_assert(tmpl_has_placeholders("a\\{{b"));	/* rendering removes the backslash */
	ck_assert(tmpl_has_placeholders("{{"));
}
END_TEST

START_TEST(test_env_names)
{
	char **names = NULL;

	ck_assert_int_eq(tmpl_env_names("{{ env.A }}{{ notification.x }} {{env.B_2}} {{ env.A }} \\{{ env.C }}", &names),
			 0);
	ck_assert_uint_eq(strv_length(names), 2);
	ck_assert_str_eq(names[0], "A");
	ck_assert_str_eq(names[1], "B_2");
	strv_free(names);
	names = NULL;
	ck_assert_int_eq(tmpl_env_names("no placeholders", &names), 0);
	ck_assert_ptr_nonnull(names);
	ck_assert_ptr_null(names[0]);
	strv_free(names);
	names = NULL;
	ck_assert_int_eq(tmpl_env_names("{{ env.A }} {{ env }}", &names), -EINVAL);
	ck_assert_ptr_null(names);
}
END_TEST

START_TEST(test_api_edges)
{
	_cleanup_(json_decrefp) json_t *n = load(notification_json);
	char *out = (char *)&out, **env = (char **)&env, *err = (char *)&err;

	/* No message wanted. */
	ck_assert_int_eq(tmpl_check("{{", TMPL_DEST_ARGV, NULL), -EINVAL);
	ck_assert_int_eq(tmpl_render("{{ nope }}", TMPL_DEST_ARGV, n, NULL, NULL, &out, NULL, NULL), -EINVAL);
	ck_assert_ptr_null(out);
	/* SHELL needs somewhere to put its variables. */
	ck_assert_int_eq(tmpl_render("echo", TMPL_DEST_SHELL, n, NULL, NULL, &out, NULL, &err), -EINVAL);
	ck_assert_str_eq(err, "a shell template needs somewhere to put its variables");
	free(err);
	/* The others clear it. */
	ck_assert_int_eq(tmpl_render("x", TMPL_DEST_HEADER, n, NULL, NULL, &out, &env, NULL), 0);
	ck_assert_ptr_null(env);
	ck_assert_str_eq(out, "x");
	free(out);
	/* SHELL without placeholders: an empty list. */
	ck_assert_int_eq(tmpl_render("true", TMPL_DEST_SHELL, n, NULL, NULL, &out, &env, NULL), 0);
	ck_assert_str_eq(out, "true");
	ck_assert_ptr_nonnull(env);
	ck_assert_ptr_null(env[0]);
	free(out);
	strv_free(env);
	ck_assert_int_eq(tmpl_check("x", (enum tmpl_dest)99, &err), -EINVAL);
	ck_assert_str_eq(err, "unknown template destination 99");
	free(err);
}
END_TEST

/* ----------------------------------------------------------------- limits */

static char *repeat(const char *unit, size_t times)
{
	size_t len = strlen(unit);
	char *s = malloc(len * times + 1);

	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < times; i++)
		memcpy(s + i * len, unit, len);
	s[len * times] = '\0';
	return s;
}

START_TEST(test_limits)
{
	_cleanup_free_ char *longest = repeat("a", TMPL_MAX_LENGTH), *too_long = repeat("a", TMPL_MAX_LENGTH + 1);
	_cleanup_free_ char *most = repeat("{{ notification.a }}", TMPL_MAX_PLACEHOLDERS);
	_cleanup_free_ char *too_many = repeat("{{ notification.a }}", TMPL_MAX_PLACEHOLDERS + 1);
	_cleanup_free_ char *big = repeat("x", 600 * 1024), *arg = repeat("y", TMPL_MAX_ARG);
	_cleanup_free_ char *spaces = repeat(" ", 400 * 1024);
	_cleanup_(json_decrefp) json_t *n =
		json_pack("{s:s,s:s,s:s,s:s,s:[]}", "a", "1", "big", big, "arg", arg, "sp", spaces, "list");
	char *out = NULL, **env = NULL, *err = NULL;
	json_t *list = json_object_get(n, "list");

	ck_assert_int_eq(tmpl_check(longest, TMPL_DEST_SHELL, &err), 0);
	ck_assert_int_eq(tmpl_check(too_long, TMPL_DEST_ARGV, &err), -E2BIG);
	ck_assert_str_eq(err, "the template is 65537 bytes; at most 65536 are allowed");
	free(err);
	ck_assert_int_eq(tmpl_render(most, TMPL_DEST_SHELL, n, NULL, NULL, &out, &env, &err), 0);
	ck_assert_uint_eq(strv_length(env), TMPL_MAX_PLACEHOLDERS);
	ck_assert_str_eq(env[63], "SSEWATCHD_ARG_64=1");
	free(out);
	strv_free(env);
	ck_assert_int_eq(tmpl_check(too_many, TMPL_DEST_ARGV, &err), -E2BIG);
	ck_assert_str_eq(err, "more than 64 placeholders (the next at offset 1280)");
	free(err);

	/* One argument or variable: at most MAX_ARG_STRLEN with its NUL. */
	ck_assert_int_eq(tmpl_render("{{ notification.arg }}", TMPL_DEST_ARGV, n, NULL, NULL, &out, NULL, &err), 0);
	ck_assert_uint_eq(strlen(out), TMPL_MAX_ARG);
	free(out);
	ck_assert_int_eq(tmpl_render("-{{ notification.arg }}", TMPL_DEST_ARGV, n, NULL, NULL, &out, NULL, &err), -E2BIG);
	ck_assert_str_eq(err, "the rendered argument is 131072 bytes; at most 131071 fit in one argument");
	free(err);
	ck_assert_int_eq(tmpl_render("echo {{ notification.arg }}", TMPL_DEST_SHELL, n, NULL, NULL, &out, &env, &err),
			 -E2BIG);
	ck_assert_str_eq(err, "notification.arg: the value is 131071 bytes; at most 131055 fit in a variable");
	free(err);
	ck_assert_ptr_null(env);

	/* The whole rendering: at most 1 MiB. */
	ck_assert_int_eq(tmpl_render("{{notification.big}}{{notification.big}}", TMPL_DEST_HEADER, n, NULL, NULL, &out,
				     NULL, &err),
			 -E2BIG);
	ck_assert_str_eq(err, "notification.big: the rendered template would be larger than 1048576 bytes");
	free(err);
	ck_assert_int_eq(tmpl_render("https://h/{{notification.big}}", TMPL_DEST_URL, n, NULL, NULL, &out, NULL, &err),
			 0);
	ck_assert_uint_eq(strlen(out), 10 + 600 * 1024);
	free(out);
	ck_assert_int_eq(tmpl_render("https://h/{{notification.sp}}", TMPL_DEST_URL, n, NULL, NULL, &out, NULL, &err),
			 -E2BIG);
	ck_assert_str_eq(err, "notification.sp: the rendered template would be larger than 1048576 bytes");
	free(err);
	for (int i = 0; i < 9; i++)
		ck_assert_int_eq(json_array_append(list, json_object_get(n, "arg")), 0);
	ck_assert_int_eq(tmpl_render("{{ notification.list }}", TMPL_DEST_HEADER, n, NULL, NULL, &out, NULL, &err),
			 -E2BIG);
	ck_assert_str_eq(err, "notification.list: the value is larger than 1048576 bytes");
	free(err);
	ck_assert_ptr_null(out);
}
END_TEST

/* ------------------------------------------------- prefixes and suffixes */

static void check_piece(const char *piece, const json_t *n)
{
	for (int d = TMPL_DEST_ARGV; d <= TMPL_DEST_SHELL; d++) {
		char *err = NULL, *out = NULL, **env = NULL;
		int r = tmpl_check(piece, (enum tmpl_dest)d, &err);

		if (r != 0 && (r != -EINVAL || !err || !strstr(err, "offset ")))
			ck_abort_msg("'%s' (dest %d): %d without an offset: %s", piece, d, r, err ? err : "(null)");
		free(err);
		err = NULL;
		if (r < 0)
			continue;
		r = tmpl_render(piece, (enum tmpl_dest)d, n, env_lookup, NULL, &out, &env, &err);
		if (r != 0 && r != -ENOENT && r != -EBADMSG)
			ck_abort_msg("'%s' (dest %d): render gave %d", piece, d, r);
		if ((r == 0) != (out != NULL) || (r == 0) != (err == NULL))
			ck_abort_msg("'%s' (dest %d): inconsistent results", piece, d);
		free(out);
		free(err);
		strv_free(env);
	}
}

START_TEST(test_every_prefix_and_suffix)
{
	_cleanup_(json_decrefp) json_t *n = load(notification_json);

	for (size_t v = 0; v < ELEMENTSOF(vectors); v++) {
		const char *t = vectors[v].tmpl;
		size_t len = strlen(t);

		for (size_t cut = 0; cut <= len; cut++) {
			_cleanup_free_ char *prefix = strndup(t, cut);

			check_piece(prefix, n);
			check_piece(t + cut, n);
		}
	}
}
END_TEST

/* Deep nesting: the scanner gives up, and says so, rather than overflow. */
START_TEST(test_deep_nesting)
{
	_cleanup_free_ char *open = repeat("\"$(", 17), *close = repeat(")\"", 17);
	_cleanup_free_ char *t = NULL, *err = NULL;

	ck_assert_int_ge(asprintf(&t, "%s%s {{ notification.id }}", open, close), 0);
	ck_assert_int_eq(tmpl_check(t, TMPL_DEST_SHELL, &err), -EINVAL);
	ck_assert_str_eq(err, "placeholder at offset 86 comes after nesting deeper than 32 quotes and substitutions, "
			      "which this check does not follow; move the placeholder before it (e.g. into a variable)");
	free(t);
	ck_assert_int_ge(asprintf(&t, "%.45s%.30s {{ notification.id }}", open, close), 0);	/* 30 deep */
	ck_assert_int_eq(tmpl_check(t, TMPL_DEST_SHELL, NULL), 0);
}
END_TEST

/* ------------------------------------------------------ injection proof */

/* Values meant to break out of every quoting form. */
static const char *const hostile[] = {
	"it's", "say \"hi\"", "'", "\"", "''", "\"'\"'", "'\\''", "$(touch PWNED)", "`touch PWNED`", "; touch PWNED",
	"&& touch PWNED", "| touch PWNED", "\ntouch PWNED\n", "a\ntouch PWNED", "$HOME", "${HOME}", "$((1+1))",
	"${IFS}", "\\", "\\\\'", "a\\", "\\\"; touch PWNED; \\\"", "*", "./*", "[a]*", "?", "-n", "-e", "--", "~",
	"~root", "a  b", " lead", "trail ", "\t", "", "%s%s", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
	"'$(touch PWNED)'", "\"$(touch PWNED)\"", "\"; touch PWNED; \"", "'; touch PWNED; '", "'\"`touch PWNED`\"'",
	"}; touch PWNED; {", "${x:-$(touch PWNED)}", "<(touch PWNED)", ">PWNED", "$'\\x41'", "!!", "#", "# x",
	"a=b", "x\n#", "'\"${SSEWATCHD_ARG_1}\"'", "{{ notification.v }}", "$0", "$(($(touch PWNED)))",
	"a[$(touch PWNED)]", "\x01\x7f",
};

/* Commands printing the value into ./out; '@' in the expectation is the value. */
static const struct {
	const char *command, *expect;
} shapes[] = {
	{ "printf '%s' {{ notification.v }} > out", "@" },
	{ "printf '%s' \"{{ notification.v }}\" > out", "@" },
	{ "printf '%s' '{{ notification.v }}' > out", "@" },
	{ "printf '%s' pre{{ notification.v }}post > out", "pre@post" },
	{ "printf '%s' \"pre {{ notification.v }} post\" > out", "pre @ post" },
	{ "printf '%s' 'a '{{ notification.v }}\" b\"'{{ notification.v }}' > out", "a @ b@" },
	{ "printf '%s' {{ notification.v }}{{ env.V }} > out", "@@" },
	{ "v={{ notification.v }}; printf '%s' \"$v\" > out", "@" },
	{ "export V='x'{{ notification.v }}; sh -c 'printf %s \"$V\"' > out", "x@" },
	{ "printf '%s' {{ notification.v }} | cat > out", "@" },
	{ "if true; then printf '%s' \"[{{ notification.v }}]\"; fi > out", "[@]" },
	{ "cat <<EOF >/dev/null\n$(echo '\\{{')\nEOF\nprintf '%s' {{ notification.v }} > out", "@" },
	{ "set -- {{ notification.v }}; printf '%s' \"$#:$1\" > out # one word", "1:@" },
	{ "printf '%s' $(printf x)'{{ notification.v }}' > out", "x@" },
};

static const char *value_env(const char *name, void *userdata)
{
	return strcmp(name, "V") == 0 ? userdata : NULL;
}

/* Runs script with shell in dir; returns its exit status. */
static int run_shell(const char *shell, const char *dir, const char *script, char **vars)
{
	char **envp = NULL;
	pid_t pid;
	int status;

	ck_assert_int_eq(strv_push(&envp, "PATH=/usr/bin:/bin"), 0);
	ck_assert_int_eq(strv_push(&envp, "HOME=/nonexistent-home"), 0);
	for (size_t i = 0; vars && vars[i]; i++)
		ck_assert_int_eq(strv_push(&envp, vars[i]), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		if (null < 0 || chdir(dir) < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
			_exit(127);
		execve(shell, (char *[]){ (char *)"sh", (char *)"-c", (char *)script, NULL }, envp);
		_exit(127);
	}
	strv_free(envp);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *expected(const char *pattern, const char *value)
{
	char *s = strdup("");

	ck_assert_ptr_nonnull(s);
	for (const char *p = pattern; *p; p++) {
		char *n;

		ck_assert_int_ge(asprintf(&n, "%s%s", s, *p == '@' ? value : (char[]){ *p, 0 }), 0);
		free(s);
		s = n;
	}
	return s;
}

static bool exists(const char *dir, const char *name)
{
	_cleanup_free_ char *path = NULL;

	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	return access(path, F_OK) == 0;
}

static void touch(const char *dir, const char *name)
{
	_cleanup_free_ char *path = NULL;
	int fd;

	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
}

static const char *const shells[] = { "/bin/sh", "/bin/bash", "/bin/dash" };

START_TEST(test_injection)
{
	const char *value = hostile[_i];
	_cleanup_(json_decrefp) json_t *n = json_pack("{s:s}", "v", value);
	_cleanup_(json_decrefp) json_t *neutral = json_pack("{s:s}", "v", "x");

	for (size_t sh = 0; sh < ELEMENTSOF(shells); sh++) {
		if (access(shells[sh], X_OK) < 0)
			continue;
		for (size_t k = 0; k < ELEMENTSOF(shapes); k++) {
			_cleanup_free_ char *dir = tmpdir_new(), *script = NULL, *err = NULL, *out = NULL, *path = NULL;
			_cleanup_free_ char *want = expected(shapes[k].expect, value), *plain = NULL;
			char **vars = NULL, **plain_vars = NULL;
			size_t len;
			int r;

			/* Files a glob would find. */
			touch(dir, "a");
			touch(dir, "ab");
			r = tmpl_render(shapes[k].command, TMPL_DEST_SHELL, n, value_env, (void *)value, &script, &vars,
					&err);
			ck_assert_msg(r == 0, "%s: %s", shapes[k].command, err);
			/* The value is not in the script: a harmless one gives the same. */
			ck_assert_int_eq(tmpl_render(shapes[k].command, TMPL_DEST_SHELL, neutral, value_env, (void *)"x",
						     &plain, &plain_vars, NULL),
					 0);
			ck_assert_str_eq(script, plain);
			strv_free(plain_vars);
			r = run_shell(shells[sh], dir, script, vars);
			ck_assert_msg(r == 0, "%s exited %d for value '%s': %s", shells[sh], r, value, script);
			ck_assert_msg(!exists(dir, "PWNED"), "%s ran code from value '%s' in: %s", shells[sh], value,
				      script);
			ck_assert_int_ge(asprintf(&path, "%s/out", dir), 0);
			out = file_read(path, &len);
			ck_assert_msg(len == strlen(want) && memcmp(out, want, len) == 0,
				      "%s, '%s': printed '%s', expected '%s'", shells[sh], script, out, want);
			strv_free(vars);
			rm_rf(dir);
		}
	}
}
END_TEST

/* A value as a redirection target names exactly that file. */
START_TEST(test_injection_redirect)
{
	const char *value = hostile[_i];
	_cleanup_(json_decrefp) json_t *n = json_pack("{s:s}", "v", value);

	if (!*value || strchr(value, '/') || strcmp(value, ".") == 0 || strcmp(value, "..") == 0)
		return;
	for (size_t sh = 0; sh < ELEMENTSOF(shells); sh++) {
		_cleanup_free_ char *dir = NULL, *script = NULL, *err = NULL, *out = NULL, *path = NULL;
		char **vars = NULL;

		if (access(shells[sh], X_OK) < 0)
			continue;
		dir = tmpdir_new();
		touch(dir, "a");
		ck_assert_int_eq(tmpl_render("printf ok > {{ notification.v }}", TMPL_DEST_SHELL, n, NULL, NULL, &script,
					     &vars, &err),
				 0);
		ck_assert_int_eq(run_shell(shells[sh], dir, script, vars), 0);
		ck_assert(!exists(dir, "PWNED") || strcmp(value, "PWNED") == 0);
		ck_assert_int_ge(asprintf(&path, "%s/%s", dir, value), 0);
		out = file_read(path, NULL);
		ck_assert_str_eq(out, "ok");
		strv_free(vars);
		rm_rf(dir);
	}
}
END_TEST

Suite *tmpl_suite(void)
{
	Suite *s = suite_create("tmpl");
	TCase *tc = tcase_create("tmpl");
	TCase *shell = tcase_create("injection");

	tcase_add_loop_test(tc, test_vector, 0, ELEMENTSOF(vectors));
	tcase_add_test(tc, test_whole_notification);
	tcase_add_test(tc, test_reals_shortest);
	tcase_add_test(tc, test_has_placeholders);
	tcase_add_test(tc, test_env_names);
	tcase_add_test(tc, test_api_edges);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_every_prefix_and_suffix);
	tcase_add_test(tc, test_deep_nesting);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tcase_add_loop_test(shell, test_injection, 0, ELEMENTSOF(hostile));
	tcase_add_loop_test(shell, test_injection_redirect, 0, ELEMENTSOF(hostile));
	tcase_set_timeout(shell, 120);
	suite_add_tcase(s, shell);
	return s;
}
