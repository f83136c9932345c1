/* SPDX-License-Identifier: MIT */
/*
 * config: a table of configuration texts with the exact error lines they
 * must give (or success), then what a table cannot say: durations, the
 * aviso CLI file, conf.d, the environment, inheritance, the resolved and
 * redacted JSON, and robustness (every truncation and single-byte damage of
 * a valid file loads or fails with well-formed lines).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "cleanup.h"
#include "config.h"
#include "util.h"
#include "macro.h"
#include "suites.h"
#include "testlib.h"

/* Skeletons the vectors build on: a valid aviso listener, one with extra
 * lines before its triggers, a valid sse listener likewise, and an aviso
 * listener whose one trigger (in flow style) starts at line 6, column 9. */
#define LISTENER_A \
	"listeners:\n  - name: a\n    base_url: http://h\n    event: e\n    triggers: [{type: echo}]\n"
#define AVISO_WITH(extra) \
	"listeners:\n  - name: a\n    base_url: http://h\n    event: e\n" extra "    triggers: [{type: echo}]\n"
#define SSE_WITH(extra) \
	"listeners:\n  - name: s\n    protocol: sse\n    url: https://h/x\n" extra "    triggers: [{type: echo}]\n"
#define TRIGGER(body) \
	"listeners:\n  - name: a\n    base_url: http://h\n    event: e\n    triggers:\n      - " body "\n"

struct vector {
	const char *name;
	const char *text;
	const char *expect;	/* the error lines, each ending in \n; "" for success */
};

static const struct vector vectors[] = {
	{ "minimal_ok",
	  LISTENER_A,
	  "" },
	{ "empty_file",
	  "",
	  "t.yaml:1:1: no listeners: add some under 'listeners:', here or in conf.d/*.yaml\n" },
	{ "comment_only",
	  "# nothing\n",
	  "t.yaml:1:1: no listeners: add some under 'listeners:', here or in conf.d/*.yaml\n" },
	{ "listeners_empty",
	  "listeners: []\n",
	  "t.yaml:1:12: listeners: no listeners: add some under 'listeners:', here or in conf.d/*.yaml\n" },
	{ "top_list",
	  "[1]\n",
	  "t.yaml:1:1: the top level must be a mapping, not a list\n" },
	{ "top_scalar",
	  "hello\n",
	  "t.yaml:1:1: the top level must be a mapping, not a string\n" },
	{ "dup_key",
	  "log_level: info\n" "log_level: debug\n" LISTENER_A,
	  "t.yaml:2:1: log_level: duplicate key 'log_level' (first at line 1)\n" },
	{ "int_key",
	  "1: x\n" LISTENER_A,
	  "t.yaml:1:1: mapping keys must be strings, not an integer\n" },
	{ "bool_key",
	  LISTENER_A "true: x\n",
	  "t.yaml:6:1: mapping keys must be strings, not a boolean\n" },
	{ "null_key",
	  LISTENER_A "~: x\n",
	  "t.yaml:6:1: mapping keys must be strings, not null\n" },
	{ "complex_key",
	  LISTENER_A "? [a]\n" ": 1\n",
	  "t.yaml:6:3: mapping keys must be strings, not a list\n" },
	{ "bigint_key",
	  LISTENER_A "99999999999999999999: x\n",
	  "t.yaml:6:1: mapping keys must be strings, not an integer\n" },
	{ "alias_self",
	  LISTENER_A "x: &a [*a]\n",
	  "t.yaml:6:8: x[0]: alias '*a' does not refer to an earlier, complete anchored node\n" },
	{ "alias_unknown",
	  LISTENER_A "x: *nope\n",
	  "t.yaml:6:4: x: alias '*nope' does not refer to an earlier, complete anchored node\n" },
	{ "two_docs",
	  LISTENER_A "---\n" LISTENER_A,
	  "t.yaml:6:1: only one YAML document is allowed; a second one starts here\n" },
	{ "syntax_flow",
	  "listeners: [1, 2\n",
	  "t.yaml:2:1: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence at line 1, column 12)\n" },
	{ "syntax_indent",
	  "listeners:\n" "  - name: x\n" "   bad: 1\n",
	  "t.yaml:3:4: YAML syntax error: did not find expected '-' indicator (while parsing a block collection at line 2, column 3)\n" },
	{ "syntax_tab",
	  "listeners:\n" "\t- name: x\n",
	  "t.yaml:2:1: YAML syntax error: found character that cannot start any token (while scanning for the next token at line 2, column 1)\n" },
	{ "nul_string",
	  LISTENER_A "log_level: \"a\\0b\"\n",
	  "t.yaml:6:12: log_level: strings must not contain NUL characters\n" },
	{ "bad_utf8",
	  LISTENER_A "log_level: \xc3(\n",
	  "t.yaml:6:13: invalid input: invalid trailing UTF-8 octet (byte 0x28)\n" },
	{ "bad_tag",
	  LISTENER_A "log_level: !foo info\n",
	  "t.yaml:6:12: log_level: unsupported tag '!foo' on a scalar\n" },
	{ "tag_mismatch",
	  LISTENER_A "log_level: !!int info\n",
	  "t.yaml:6:12: log_level: 'info' does not match its tag 'tag:yaml.org,2002:int'\n" },
	{ "tag_str_int",
	  "listeners:\n" "  - name: !!str 123\n" "    base_url: http://h\n" "    event: e\n" "    triggers: [{type: echo}]\n",
	  "" },
	{ "event_bool",
	  "listeners:\n" "  - name: a\n" "    base_url: http://h\n" "    event: true\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:4:12: listeners[0].event: expected a string, got a boolean (quote it)\n" },
	{ "event_quoted_bool_ok",
	  "listeners:\n" "  - name: a\n" "    base_url: http://h\n" "    event: \"true\"\n" "    triggers: [{type: echo}]\n",
	  "" },
	{ "event_hex",
	  "listeners:\n" "  - name: a\n" "    base_url: http://h\n" "    event: 0x1F\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:4:12: listeners[0].event: expected a string, got an integer (quote it)\n" },
	{ "event_float",
	  "listeners:\n" "  - name: a\n" "    base_url: http://h\n" "    event: 1e3\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:4:12: listeners[0].event: expected a string, got a number (quote it)\n" },
	{ "event_null",
	  "listeners:\n" "  - name: a\n" "    base_url: http://h\n" "    event: ~\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:4:12: listeners[0].event: 'event' needs a value\n" },
	{ "event_empty",
	  "listeners:\n" "  - name: a\n" "    base_url: http://h\n" "    event:\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:4:11: listeners[0].event: 'event' needs a value\n" },
	{ "base_url_query",
	  "listeners:\n" "  - name: a\n" "    base_url: http://h/?token=x\n" "    event: e\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:3:15: listeners[0].base_url: a base_url has no query or fragment ('?', '#'): /api/v1/... is "
	  "appended to it\n" },
	{ "base_url_fragment_top",
	  "base_url: http://h/base#f\n" "listeners:\n" "  - name: a\n" "    event: e\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:1:11: base_url: a base_url has no query or fragment ('?', '#'): /api/v1/... is appended to it\n" },
	{ "event_yes_ok",
	  "listeners:\n" "  - name: a\n" "    base_url: http://h\n" "    event: yes\n" "    triggers: [{type: echo}]\n",
	  "" },
	{ "unknown_top_suggest",
	  "listener: []\n" LISTENER_A,
	  "t.yaml:1:1: listener: unknown key 'listener'; did you mean 'listeners'?\n" },
	{ "unknown_top",
	  "frobnicate: 1\n" LISTENER_A,
	  "t.yaml:1:1: frobnicate: unknown key 'frobnicate'\n" },
	{ "unknown_listener_suggest",
	  AVISO_WITH("    tigers: 1\n"),
	  "t.yaml:5:5: listeners[0].tigers: unknown key 'tigers'; did you mean 'triggers'?\n" },
	{ "unknown_listener_case",
	  AVISO_WITH("    Name: b\n"),
	  "t.yaml:5:5: listeners[0].Name: unknown key 'Name'; did you mean 'name'?\n" },
	{ "unknown_trigger_suggest",
	  TRIGGER("{type: command, argv: [x], timout: 5s}"),
	  "t.yaml:6:36: listeners[0].triggers[0].timout: unknown key 'timout'; did you mean 'timeout'?\n" },
	{ "url_on_aviso",
	  AVISO_WITH("    url: http://x\n"),
	  "t.yaml:5:5: listeners[0].url: 'url' is only for sse listeners; aviso listeners use 'base_url'\n" },
	{ "identifiers_on_sse",
	  SSE_WITH("    identifiers: {a: 1}\n"),
	  "t.yaml:5:5: listeners[0].identifiers: 'identifiers' is only for aviso listeners\n" },
	{ "base_url_on_sse",
	  SSE_WITH("    base_url: http://x\n"),
	  "t.yaml:5:5: listeners[0].base_url: 'base_url' is only for aviso listeners; sse listeners use 'url'\n" },
	{ "on_gap_on_sse",
	  SSE_WITH("    on_gap: stop\n"),
	  "t.yaml:5:5: listeners[0].on_gap: 'on_gap' is only for aviso listeners\n" },
	{ "name_at_top",
	  "name: x\n" LISTENER_A,
	  "t.yaml:1:1: name: 'name' belongs in a listener, not at top level\n" },
	{ "state_dir_in_listener",
	  AVISO_WITH("    state_dir: /x\n"),
	  "t.yaml:5:5: listeners[0].state_dir: 'state_dir' may only be set at top level\n" },
	{ "timeout_on_echo",
	  TRIGGER("{type: echo, timeout: 5s}"),
	  "t.yaml:6:22: listeners[0].triggers[0].timeout: 'timeout' does not apply to echo triggers\n" },
	{ "argv_on_post",
	  TRIGGER("{type: post, url: http://x, argv: [a]}"),
	  "t.yaml:6:37: listeners[0].triggers[0].argv: 'argv' does not apply to post triggers\n" },
	{ "name_int",
	  "listeners:\n" "  - name: 5\n" "    base_url: http://h\n" "    event: e\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:2:11: listeners[0].name: expected a string, got an integer (quote it)\n" },
	{ "triggers_map",
	  "listeners:\n" "  - name: a\n" "    base_url: http://h\n" "    event: e\n" "    triggers: {}\n",
	  "t.yaml:5:15: listeners[0].triggers: expected a list of triggers, got a mapping\n" },
	{ "listeners_map",
	  "listeners: {}\n",
	  "t.yaml:1:12: listeners: expected a list of listeners, got a mapping\n" },
	{ "listener_scalar",
	  "listeners: [x]\n",
	  "t.yaml:1:13: listeners[0]: expected a mapping (a listener), got a string\n" },
	{ "trigger_scalar",
	  "listeners:\n" "  - name: a\n" "    base_url: http://h\n" "    event: e\n" "    triggers: [echo]\n",
	  "t.yaml:5:16: listeners[0].triggers[0]: expected a mapping (a trigger), got a string\n" },
	{ "name_bad",
	  "listeners:\n" "  - name: a b\n" "    base_url: http://h\n" "    event: e\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:2:11: listeners[0].name: invalid listener name 'a b' (1 to 64 of A-Z a-z 0-9 _ . -, not . or ..)\n" },
	{ "name_empty",
	  "listeners:\n" "  - name: ''\n" "    base_url: http://h\n" "    event: e\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:2:11: listeners[0].name: invalid listener name '' (1 to 64 of A-Z a-z 0-9 _ . -, not . or ..)\n" },
	{ "name_long",
	  "listeners:\n" "  - name: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n" "    base_url: http://h\n" "    event: e\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:2:11: listeners[0].name: invalid listener name 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' (1 to 64 of A-Z a-z 0-9 _ . -, not . or ..)\n" },
	{ "name_dot",
	  "listeners:\n" "  - name: '.'\n" "    base_url: http://h\n" "    event: e\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:2:11: listeners[0].name: invalid listener name '.' (1 to 64 of A-Z a-z 0-9 _ . -, not . or ..)\n" },
	{ "name_dotdot",
	  "listeners:\n" "  - name: ..\n" "    base_url: http://h\n" "    event: e\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:2:11: listeners[0].name: invalid listener name '..' (1 to 64 of A-Z a-z 0-9 _ . -, not . or ..)\n" },
	{ "name_dots_ok",
	  "listeners:\n" "  - name: ...\n" "    base_url: http://h\n" "    event: e\n" "    triggers: [{type: echo}]\n",
	  "" },
	{ "idle_timeout_ok",
	  SSE_WITH("    idle_timeout: 1500ms\n"),
	  "" },
	{ "idle_timeout_zero",
	  SSE_WITH("    idle_timeout: 0s\n"),
	  "t.yaml:5:19: listeners[0].idle_timeout: must be greater than 0\n" },
	{ "name_64_ok",
	  "listeners:\n" "  - name: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n" "    base_url: http://h\n" "    event: e\n" "    triggers: [{type: echo}]\n",
	  "" },
	{ "name_chars_ok",
	  "listeners:\n" "  - name: Ok.name-1_2\n" "    base_url: http://h\n" "    event: e\n" "    triggers: [{type: echo}]\n",
	  "" },
	{ "name_missing",
	  "listeners:\n" "  - base_url: http://h\n" "    event: e\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:2:5: listeners[0]: missing required key 'name' (ssewatchd names the listener's state file after it)\n" },
	{ "name_dup",
	  LISTENER_A "  - name: a\n" "    base_url: http://h\n" "    event: e\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:6:11: listeners[1].name: duplicate listener name 'a' (first defined at line 2)\n" },
	{ "triggers_empty",
	  "listeners:\n" "  - name: a\n" "    base_url: http://h\n" "    event: e\n" "    triggers: []\n",
	  "t.yaml:5:15: listeners[0].triggers: a listener needs at least one trigger\n" },
	{ "triggers_missing",
	  "listeners:\n" "  - name: a\n" "    base_url: http://h\n" "    event: e\n",
	  "t.yaml:2:5: listeners[0]: missing required key 'triggers' (a listener needs at least one trigger)\n" },
	{ "triggers_too_many",
	  "listeners:\n" "  - name: a\n" "    base_url: http://h\n" "    event: e\n" "    triggers: [{type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}, {type: echo}]\n",
	  "t.yaml:5:15: listeners[0].triggers: too many triggers (at most 32)\n" },
	{ "protocol_bad",
	  AVISO_WITH("    protocol: mqtt\n"),
	  "t.yaml:5:15: listeners[0].protocol: invalid value 'mqtt' (expected one of: aviso, sse)\n" },
	{ "type_missing",
	  TRIGGER("{retries: 1}"),
	  "t.yaml:6:9: listeners[0].triggers[0]: missing required key 'type' (echo, log, command or post)\n" },
	{ "type_unknown",
	  TRIGGER("{type: email}"),
	  "t.yaml:6:16: listeners[0].triggers[0].type: unknown trigger type 'email' (expected echo, log, command or post)\n" },
	{ "type_webhook",
	  TRIGGER("{type: webhook, url: http://x}"),
	  "t.yaml:6:16: listeners[0].triggers[0].type: trigger type 'webhook' is not supported by ssewatchd; use a post trigger\n" },
	{ "type_teams",
	  TRIGGER("{type: teams, url: http://x}"),
	  "t.yaml:6:16: listeners[0].triggers[0].type: trigger type 'teams' is not supported by ssewatchd; use a post trigger\n" },
	{ "command_neither",
	  TRIGGER("{type: command}"),
	  "t.yaml:6:9: listeners[0].triggers[0]: a command trigger needs 'argv' (a list, run directly) or 'command' (a shell string)\n" },
	{ "command_both",
	  TRIGGER("{type: command, argv: [a], command: b}"),
	  "t.yaml:6:45: listeners[0].triggers[0].command: set only one of 'argv' (a list, run directly) and 'command' (a shell string)\n" },
	{ "command_argv_empty",
	  TRIGGER("{type: command, argv: []}"),
	  "t.yaml:6:31: listeners[0].triggers[0].argv: must not be empty\n" },
	{ "command_argv_string",
	  TRIGGER("{type: command, argv: /bin/true}"),
	  "t.yaml:6:31: listeners[0].triggers[0].argv: expected a list of strings, got a string\n" },
	{ "command_argv0_empty",
	  TRIGGER("{type: command, argv: ['']}"),
	  "t.yaml:6:32: listeners[0].triggers[0].argv[0]: must not be empty\n" },
	{ "command_argv_int",
	  TRIGGER("{type: command, argv: [a, 1]}"),
	  "t.yaml:6:35: listeners[0].triggers[0].argv[1]: expected a string, got an integer (quote it)\n" },
	{ "command_shell_empty",
	  TRIGGER("{type: command, command: ''}"),
	  "t.yaml:6:34: listeners[0].triggers[0].command: must not be empty\n" },
	{ "post_no_url",
	  TRIGGER("{type: post}"),
	  "t.yaml:6:9: listeners[0].triggers[0]: missing required key 'url'\n" },
	{ "post_ftp",
	  TRIGGER("{type: post, url: 'ftp://x'}"),
	  "t.yaml:6:27: listeners[0].triggers[0].url: 'ftp://x' is not an http:// or https:// URL\n" },
	{ "post_no_host",
	  TRIGGER("{type: post, url: 'http://'}"),
	  "t.yaml:6:27: listeners[0].triggers[0].url: 'http://' is not an http:// or https:// URL\n" },
	{ "post_empty_host",
	  TRIGGER("{type: post, url: 'http://:8080/hook'}"),
	  "t.yaml:6:27: listeners[0].triggers[0].url: 'http://:8080/hook' is not a usable URL: No host part in the URL\n" },
	{ "post_userinfo_only",
	  TRIGGER("{type: post, url: 'https://@'}"),
	  "t.yaml:6:27: listeners[0].triggers[0].url: 'https://@' is not a usable URL: No host part in the URL\n" },
	{ "post_query_only",
	  TRIGGER("{type: post, url: 'https://?x'}"),
	  "t.yaml:6:27: listeners[0].triggers[0].url: 'https://?x' is not a usable URL: No host part in the URL\n" },
	{ "post_port_too_big",
	  TRIGGER("{type: post, url: 'http://h:99999/x'}"),
	  "t.yaml:6:27: listeners[0].triggers[0].url: 'http://h:99999/x' is not a usable URL: Port number was not a decimal number between 0 and 65535\n" },
	{ "post_port_zero",
	  TRIGGER("{type: post, url: 'http://h:0/x'}"),
	  "t.yaml:6:27: listeners[0].triggers[0].url: 'http://h:0/x' is not a usable URL: port 0\n" },
	{ "post_placeholder_bad_host_before_it",
	  TRIGGER("{type: post, url: 'http://h:x/{{ notification.id }}'}"),
	  "t.yaml:6:27: listeners[0].triggers[0].url: 'http://h:x/{{ notification.id }}' is not a usable URL: Port number was not a decimal number between 0 and 65535\n" },
	{ "post_ipv6_userinfo_ok",
	  TRIGGER("{type: post, url: 'https://u:p@[::1]:8443/x?a=b#f'}"),
	  "" },
	{ "sse_url_no_host",
	  "listeners:\n" "  - name: s\n" "    protocol: sse\n" "    url: 'http://:1/x'\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:4:10: listeners[0].url: 'http://:1/x' is not a usable URL: No host part in the URL\n" },
	{ "base_url_no_host",
	  "base_url: 'https://@'\n" "listeners:\n" "  - name: a\n" "    event: e\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:1:11: base_url: 'https://@' is not a usable URL: No host part in the URL\n" },
	{ "argv_relative_with_slash",
	  TRIGGER("{type: command, argv: [bin/fetch, x]}"),
	  "t.yaml:6:31: listeners[0].triggers[0].argv: 'bin/fetch' is a relative path, which the daemon would look up from its own working directory: give an absolute path or a name to find in PATH, or set working_dir\n" },
	{ "argv_relative_with_working_dir_ok",
	  TRIGGER("{type: command, argv: [./fetch], working_dir: /tmp}"),
	  "" },
	{ "argv_bare_name_ok",
	  TRIGGER("{type: command, argv: [fetch]}"),
	  "" },
	{ "refresh_relative",
	  "auth: {refresh_command: [./get-token]}\n" LISTENER_A,
	  "t.yaml:1:25: auth.refresh_command: './get-token' is a relative path, which the daemon would look up from its own working directory: give an absolute path or a name to find in PATH\n" },
	{ "refresh_relative_mapping",
	  "auth: {refresh_command: {argv: [x/get-token]}}\n" LISTENER_A,
	  "t.yaml:1:32: auth.refresh_command.argv: 'x/get-token' is a relative path, which the daemon would look up from its own working directory: give an absolute path or a name to find in PATH\n" },
	/* The skipped duplicate's mapping is freed no earlier than the load:
	 * a later mapping at its address is not taken for it. */
	{ "duplicate_key_then_more_mappings",
	  AVISO_WITH("    identifiers:\n      x: {eq: 1}\n      x: {eq: 2}\n      y: {eq: 3}\n      z: {in: [1]}\n"),
	  "t.yaml:7:7: listeners[0].identifiers.x: duplicate key 'x' (first at line 6)\n" },
	{ "complex_key_then_more_mappings",
	  AVISO_WITH("    identifiers:\n      ? {eq: 1}\n      : 5\n      y: {eq: 3}\n"),
	  "t.yaml:6:9: listeners[0].identifiers: mapping keys must be strings, not a mapping\n" },
	{ "post_space",
	  TRIGGER("{type: post, url: 'http://a b'}"),
	  "t.yaml:6:27: listeners[0].triggers[0].url: 'http://a b' is not an http:// or https:// URL\n" },
	{ "post_placeholder_ok",
	  TRIGGER("{type: post, url: 'https://h/{{ notification.sequence }}'}"),
	  "" },
	{ "template_shell_ok",
	  TRIGGER("{type: command, command: 'echo {{ notification.sequence }} >> /tmp/x'}"),
	  "" },
	{ "template_shell_arith",
	  TRIGGER("{type: command, command: 'echo $(( {{ notification.sequence }} ))'}"),
	  "t.yaml:6:34: listeners[0].triggers[0].command: placeholder at offset 9 is inside $((...)); use it outside arithmetic\n" },
	{ "template_argv_syntax",
	  TRIGGER("{type: command, argv: [a, '--step={{ notification.identifier.step }}', '{{ nope }}']}"),
	  "t.yaml:6:80: listeners[0].triggers[0].argv[2]: template syntax error at offset 3: unknown placeholder 'nope' (expected notification, notification.PATH or env.NAME)\n" },
	{ "template_url_host",
	  TRIGGER("{type: post, url: 'https://{{ notification.id }}/x'}"),
	  "t.yaml:6:27: listeners[0].triggers[0].url: placeholder at offset 8 is in the URL's scheme or host; a value must not choose where the request goes (use placeholders in the path or query)\n" },
	{ "template_header",
	  TRIGGER("{type: post, url: 'https://h/', headers: {X-Ok: 'a {{ env.T }}', X-Id: '{{ env }}'}}"),
	  "t.yaml:6:80: listeners[0].triggers[0].headers.X-Id: template syntax error at offset 0: env needs a variable name: {{ env.NAME }}\n" },
	{ "template_sse_headers_literal",
	  SSE_WITH("    headers: {X-Literal: '{{ nope }}'}\n"),
	  "" },
	{ "log_no_path",
	  TRIGGER("{type: log}"),
	  "t.yaml:6:9: listeners[0].triggers[0]: missing required key 'path'\n" },
	{ "sse_no_url",
	  "listeners:\n" "  - name: s\n" "    protocol: sse\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:2:5: listeners[0]: missing required key 'url'\n" },
	{ "sse_bad_url",
	  "listeners:\n" "  - name: s\n" "    protocol: sse\n" "    url: h/x\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:4:10: listeners[0].url: 'h/x' is not an http:// or https:// URL\n" },
	{ "aviso_no_event",
	  "listeners:\n" "  - name: a\n" "    base_url: http://h\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:2:5: listeners[0]: missing required key 'event'\n" },
	{ "aviso_no_base_url",
	  "listeners:\n" "  - name: a\n" "    event: e\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:2:5: listeners[0]: no base_url: set one in the listener or at top level\n" },
	{ "aviso_top_base_url_ok",
	  "base_url: https://top\n" "listeners:\n" "  - name: a\n" "    event: e\n" "    triggers: [{type: echo}]\n",
	  "" },
	{ "aviso_top_base_url_bad",
	  "base_url: top\n" "listeners:\n" "  - name: a\n" "    event: e\n" "    triggers: [{type: echo}]\n",
	  "t.yaml:1:11: base_url: 'top' is not an http:// or https:// URL\n" },
	{ "from_both",
	  AVISO_WITH("    from_id: 1\n" "    from_date: '2026-01-01T00:00:00Z'\n"),
	  "t.yaml:6:16: listeners[0].from_date: set only one of 'from_id' and 'from_date'\n" },
	{ "from_id_negative",
	  AVISO_WITH("    from_id: -1\n"),
	  "t.yaml:5:14: listeners[0].from_id: must not be negative\n" },
	{ "from_id_letters",
	  AVISO_WITH("    from_id: '12a'\n"),
	  "t.yaml:5:14: listeners[0].from_id: '12a' is not a sequence number (decimal digits)\n" },
	{ "from_id_emptystr",
	  AVISO_WITH("    from_id: ''\n"),
	  "t.yaml:5:14: listeners[0].from_id: '' is not a sequence number (decimal digits)\n" },
	{ "from_id_real",
	  AVISO_WITH("    from_id: 1.5\n"),
	  "t.yaml:5:14: listeners[0].from_id: expected a sequence number (an integer or a string of digits), got a number\n" },
	{ "from_id_overflow",
	  AVISO_WITH("    from_id: '18446744073709551616'\n"),
	  "t.yaml:5:14: listeners[0].from_id: out of range (at most 18446744073709551615)\n" },
	{ "from_id_max_ok",
	  AVISO_WITH("    from_id: 18446744073709551615\n"),
	  "" },
	{ "from_id_str_ok",
	  AVISO_WITH("    from_id: '100'\n"),
	  "" },
	{ "identifiers_list",
	  AVISO_WITH("    identifiers: [a]\n"),
	  "t.yaml:5:18: listeners[0].identifiers: expected a mapping, got a list\n" },
	{ "identifiers_list_value",
	  AVISO_WITH("    identifiers: {step: [1, 2]}\n"),
	  "t.yaml:5:25: listeners[0].identifiers.step: a list is not a value; use {in: [...]} to match any of several\n" },
	{ "identifiers_null_value",
	  AVISO_WITH("    identifiers: {step: null}\n"),
	  "t.yaml:5:25: listeners[0].identifiers.step: expected a string, number or boolean, got null\n" },
	{ "identifiers_two_ops",
	  AVISO_WITH("    identifiers: {step: {gt: 1, lt: 5}}\n"),
	  "t.yaml:5:25: listeners[0].identifiers.step: a constraint has exactly one operator (eq, in, gt, gte, lt, lte or between), not 2\n" },
	{ "identifiers_unknown_op",
	  AVISO_WITH("    identifiers: {step: {gteq: 1}}\n"),
	  "t.yaml:5:26: listeners[0].identifiers.step.gteq: unknown key 'gteq'; did you mean 'gte'?\n" },
	{ "identifiers_in_empty",
	  AVISO_WITH("    identifiers: {step: {in: []}}\n"),
	  "t.yaml:5:30: listeners[0].identifiers.step.in: 'in' needs at least one value\n" },
	{ "identifiers_in_scalar",
	  AVISO_WITH("    identifiers: {step: {in: 5}}\n"),
	  "t.yaml:5:30: listeners[0].identifiers.step.in: expected a list, got an integer\n" },
	{ "identifiers_in_nested",
	  AVISO_WITH("    identifiers: {step: {in: [1, {a: 1}]}}\n"),
	  "t.yaml:5:34: listeners[0].identifiers.step.in[1]: expected a string, number or boolean, got a mapping\n" },
	{ "identifiers_between_one",
	  AVISO_WITH("    identifiers: {step: {between: [1]}}\n"),
	  "t.yaml:5:35: listeners[0].identifiers.step.between: 'between' needs exactly two values [low, high], not 1\n" },
	{ "identifiers_eq_list",
	  AVISO_WITH("    identifiers: {step: {eq: [1]}}\n"),
	  "t.yaml:5:30: listeners[0].identifiers.step.eq: expected a string, number or boolean, got a list\n" },
	{ "identifiers_empty_key",
	  AVISO_WITH("    identifiers: {'': 1}\n"),
	  "t.yaml:5:19: listeners[0].identifiers[\"\"]: identifier names must not be empty\n" },
	{ "identifiers_ok",
	  AVISO_WITH("    identifiers: {class: od, step: {in: [1, 2]}, x: {between: [1, 2]}, y: {gte: 1.5}, z: true, polygon: [[46, 8], [46, 9], [47, 9], [46, 8]], point: [46, 8]}\n"),
	  "" },
	{ "identifiers_polygon_bad",
	  AVISO_WITH("    identifiers: {polygon: [[46, x]]}\n"),
	  "t.yaml:5:34: listeners[0].identifiers.polygon[0][1]: expected a number, got a string\n" },
	{ "auth_not_map",
	  "auth: token\n" LISTENER_A,
	  "t.yaml:1:7: auth: expected a mapping, got a string\n" },
	{ "auth_unknown",
	  "auth: {token: x}\n" LISTENER_A,
	  "t.yaml:1:8: auth.token: unknown key 'token'\n" },
	{ "auth_basic_no_password",
	  "auth: {basic: {username: u}}\n" LISTENER_A,
	  "t.yaml:1:15: auth.basic: basic auth needs 'password' or 'password_file'\n" },
	{ "auth_basic_both",
	  "auth: {basic: {username: u, password: p, password_file: /dev/null}}\n" LISTENER_A,
	  "t.yaml:1:57: auth.basic.password_file: set only one of 'password' and 'password_file'\n" },
	{ "auth_basic_no_user",
	  "auth: {basic: {password: p}}\n" LISTENER_A,
	  "t.yaml:1:15: auth.basic: missing required key 'username'\n" },
	{ "auth_basic_colon",
	  "auth: {basic: {username: 'a:b', password: p}}\n" LISTENER_A,
	  "t.yaml:1:26: auth.basic.username: a basic-auth username must not contain ':'\n" },
	{ "auth_bearer_both",
	  "auth: {bearer_token: t, bearer_token_file: /dev/null}\n" LISTENER_A,
	  "t.yaml:1:44: auth.bearer_token_file: set only one of 'bearer_token' and 'bearer_token_file'\n" },
	{ "auth_basic_and_bearer",
	  "auth: {bearer_token: t, basic: {username: u, password: p}}\n" LISTENER_A,
	  "t.yaml:1:32: auth.basic: 'basic' cannot be combined with bearer_token, bearer_token_file or refresh_command\n" },
	{ "auth_basic_and_refresh",
	  "auth: {refresh_command: [/bin/x], basic: {username: u, password: p}}\n" LISTENER_A,
	  "t.yaml:1:42: auth.basic: 'basic' cannot be combined with bearer_token, bearer_token_file or refresh_command\n" },
	{ "auth_token_empty",
	  "auth: {bearer_token: ''}\n" LISTENER_A,
	  "t.yaml:1:22: auth.bearer_token: must not be empty\n" },
	{ "auth_token_newline",
	  "auth: {bearer_token: \"a\\nb\"}\n" LISTENER_A,
	  "t.yaml:1:22: auth.bearer_token: must not contain line breaks\n" },
	{ "auth_token_file_missing",
	  "auth: {bearer_token_file: /nonexistent/token}\n" LISTENER_A,
	  "t.yaml:1:27: auth.bearer_token_file: cannot read '/nonexistent/token': No such file or directory\n" },
	{ "auth_password_file_dir",
	  "auth: {basic: {username: u, password_file: /}}\n" LISTENER_A,
	  "t.yaml:1:44: auth.basic.password_file: '/' is a directory, not a file\n" },
	{ "auth_refresh_string",
	  "auth: {refresh_command: /bin/x}\n" LISTENER_A,
	  "t.yaml:1:25: auth.refresh_command: expected a list (argv) or a mapping (argv, timeout), got a string\n" },
	{ "auth_refresh_empty",
	  "auth: {refresh_command: []}\n" LISTENER_A,
	  "t.yaml:1:25: auth.refresh_command: must not be empty\n" },
	{ "auth_refresh_map_no_argv",
	  "auth: {refresh_command: {timeout: 5s}}\n" LISTENER_A,
	  "t.yaml:1:25: auth.refresh_command: missing required key 'argv'\n" },
	{ "auth_refresh_zero_timeout",
	  "auth: {refresh_command: {argv: [/bin/x], timeout: 0}}\n" LISTENER_A,
	  "t.yaml:1:51: auth.refresh_command.timeout: must be greater than 0\n" },
	{ "auth_ok_file_refresh",
	  "auth: {bearer_token_file: /dev/null, refresh_command: {argv: [/bin/x, -q], timeout: 1m}}\n" LISTENER_A,
	  "" },
	{ "tls_ca_missing",
	  "tls: {ca_bundle: [/dev/null, /nonexistent.pem]}\n" LISTENER_A,
	  "t.yaml:1:30: tls.ca_bundle[1]: cannot read '/nonexistent.pem': No such file or directory\n" },
	{ "tls_ca_string_ok",
	  "tls: {ca_bundle: /dev/null}\n" LISTENER_A,
	  "" },
	{ "tls_ca_int",
	  "tls: {ca_bundle: 5}\n" LISTENER_A,
	  "t.yaml:1:18: tls.ca_bundle: expected a file name or a list of them, got an integer\n" },
	{ "tls_both",
	  "tls: {insecure: true, danger_accept_invalid_certs: true}\n" LISTENER_A,
	  "t.yaml:1:52: tls.danger_accept_invalid_certs: 'danger_accept_invalid_certs' is another name for 'insecure'; set only one\n" },
	{ "tls_insecure_str",
	  "tls: {insecure: 'yes'}\n" LISTENER_A,
	  "t.yaml:1:17: tls.insecure: expected true or false, got a string\n" },
	{ "working_dir_missing",
	  TRIGGER("{type: command, argv: [a], working_dir: /nonexistent}"),
	  "t.yaml:6:49: listeners[0].triggers[0].working_dir: cannot use '/nonexistent': No such file or directory\n" },
	{ "working_dir_file",
	  TRIGGER("{type: command, argv: [a], working_dir: /dev/null}"),
	  "t.yaml:6:49: listeners[0].triggers[0].working_dir: '/dev/null' is not a directory\n" },
	{ "env_bad_name",
	  TRIGGER("{type: command, argv: [a], env: {1A: x, A-B: y}}"),
	  "t.yaml:6:42: listeners[0].triggers[0].env.1A: invalid environment variable name '1A'\n" "t.yaml:6:49: listeners[0].triggers[0].env.A-B: invalid environment variable name 'A-B'\n" },
	{ "env_reserved",
	  TRIGGER("{type: command, argv: [a], env: {SSEWATCHD_X: x, AVISO_Y: y, aviso_z: ok}}"),
	  "t.yaml:6:42: listeners[0].triggers[0].env.SSEWATCHD_X: 'SSEWATCHD_X' is reserved: ssewatchd sets the SSEWATCHD_* and AVISO_* variables\n" "t.yaml:6:58: listeners[0].triggers[0].env.AVISO_Y: 'AVISO_Y' is reserved: ssewatchd sets the SSEWATCHD_* and AVISO_* variables\n" },
	{ "env_value_int",
	  TRIGGER("{type: command, argv: [a], env: {A: 1}}"),
	  "t.yaml:6:45: listeners[0].triggers[0].env.A: expected a string, got an integer (quote it)\n" },
	{ "env_not_map",
	  TRIGGER("{type: command, argv: [a], env: [A]}"),
	  "t.yaml:6:41: listeners[0].triggers[0].env: expected a mapping, got a list\n" },
	{ "header_bad_name",
	  SSE_WITH("    headers: {'Bad Header': x}\n"),
	  "t.yaml:5:15: listeners[0].headers[\"Bad Header\"]: invalid header name 'Bad Header'\n" },
	{ "header_crlf",
	  SSE_WITH("    headers: {X-A: \"a\\r\\nb\"}\n"),
	  "t.yaml:5:20: listeners[0].headers.X-A: a header value must not contain CR or LF\n" },
	{ "header_dup_case",
	  SSE_WITH("    headers: {X-A: a, x-a: b}\n"),
	  "t.yaml:5:23: listeners[0].headers.x-a: duplicate header 'x-a' (header names ignore case)\n" },
	{ "header_last_event_id",
	  SSE_WITH("    headers: {Last-Event-ID: '5'}\n"),
	  "t.yaml:5:15: listeners[0].headers.Last-Event-ID: 'Last-Event-ID' is set by ssewatchd when it resumes\n" },
	{ "header_post_bad",
	  TRIGGER("{type: post, url: 'http://x', headers: {'a:b': c}}"),
	  "t.yaml:6:49: listeners[0].triggers[0].headers[\"a:b\"]: invalid header name 'a:b'\n" },
	{ "retries_too_many",
	  TRIGGER("{type: echo, retries: 1001}"),
	  "t.yaml:6:31: listeners[0].triggers[0].retries: out of range (0 to 1000)\n" },
	{ "retries_negative",
	  TRIGGER("{type: echo, retries: -1}"),
	  "t.yaml:6:31: listeners[0].triggers[0].retries: out of range (0 to 1000)\n" },
	{ "retries_string",
	  TRIGGER("{type: echo, retries: '3'}"),
	  "t.yaml:6:31: listeners[0].triggers[0].retries: expected an integer, got a string\n" },
	{ "retries_huge",
	  TRIGGER("{type: echo, retries: 99999999999999999999}"),
	  "t.yaml:6:31: listeners[0].triggers[0].retries: out of range (0 to 1000)\n" },
	{ "retries_max_ok",
	  TRIGGER("{type: echo, retries: 1000}"),
	  "" },
	{ "required_str",
	  TRIGGER("{type: echo, required: 'no'}"),
	  "t.yaml:6:32: listeners[0].triggers[0].required: expected true or false, got a string\n" },
	{ "fail_fast_on_log",
	  TRIGGER("{type: log, path: /x, fail_fast: true}"),
	  "t.yaml:6:31: listeners[0].triggers[0].fail_fast: 'fail_fast' does not apply to log triggers\n" },
	{ "on_failure_bad",
	  TRIGGER("{type: echo, on_failure: skip}"),
	  "t.yaml:6:34: listeners[0].triggers[0].on_failure: invalid value 'skip' (expected one of: dead_letter, stop)\n" },
	{ "max_pending_zero",
	  "max_pending: 0\n" LISTENER_A,
	  "t.yaml:1:14: max_pending: out of range (1 to 100000)\n" },
	{ "max_pending_big",
	  "max_pending: 100001\n" LISTENER_A,
	  "t.yaml:1:14: max_pending: out of range (1 to 100000)\n" },
	{ "max_event_size_small",
	  "max_event_size: 1023\n" LISTENER_A,
	  "t.yaml:1:17: max_event_size: out of range (1KiB to 128MiB)\n" },
	{ "max_event_size_big",
	  "max_event_size: 129MiB\n" LISTENER_A,
	  "t.yaml:1:17: max_event_size: out of range (1KiB to 128MiB)\n" },
	{ "max_event_size_mb",
	  "max_event_size: 1MB\n" LISTENER_A,
	  "t.yaml:1:17: max_event_size: invalid size '1MB' (bytes, or a number with k, K, KiB, M, MiB, G or GiB)\n" },
	{ "max_event_size_neg",
	  "max_event_size: -5\n" LISTENER_A,
	  "t.yaml:1:17: max_event_size: out of range (1KiB to 128MiB)\n" },
	{ "max_event_size_overflow",
	  "max_event_size: 99999999999999999999G\n" LISTENER_A,
	  "t.yaml:1:17: max_event_size: out of range (1KiB to 128MiB)\n" },
	{ "max_event_size_bool",
	  "max_event_size: true\n" LISTENER_A,
	  "t.yaml:1:17: max_event_size: expected a size (e.g. 64KiB), got a boolean\n" },
	{ "log_level_bad",
	  "log_level: loud\n" LISTENER_A,
	  "t.yaml:1:12: log_level: invalid log level (expected one of: debug, info, notice, warning, error)\n" },
	{ "commit_bad",
	  "commit: always\n" LISTENER_A,
	  "t.yaml:1:9: commit: invalid value 'always' (expected one of: per_event, batch)\n" },
	{ "on_gap_bad",
	  AVISO_WITH("    on_gap: skip\n"),
	  "t.yaml:5:13: listeners[0].on_gap: invalid value 'skip' (expected one of: continue, stop)\n" },
	{ "state_dir_relative",
	  "state_dir: var/lib\n" LISTENER_A,
	  "t.yaml:1:12: state_dir: 'var/lib' is not an absolute path\n" },
	{ "proxy_space",
	  "proxy: 'http://a b'\n" LISTENER_A,
	  "t.yaml:1:8: proxy: a proxy URL must not contain spaces or control characters\n" },
	{ "timeout_and_connect",
	  "timeout: 5s\n" "connect_timeout: 6s\n" LISTENER_A,
	  "t.yaml:1:10: timeout: 'timeout' is aviso's name for 'connect_timeout'; set only one\n" },
	{ "hb_bad_unit",
	  "heartbeat_interval: 5x\n" LISTENER_A,
	  "t.yaml:1:21: heartbeat_interval: invalid duration '5x' (use e.g. 500ms, 30s, 5m, 1h30m)\n" },
	{ "hb_negative",
	  "heartbeat_interval: -1\n" LISTENER_A,
	  "t.yaml:1:21: heartbeat_interval: a duration must not be negative\n" },
	{ "hb_real",
	  "heartbeat_interval: 1.5\n" LISTENER_A,
	  "t.yaml:1:21: heartbeat_interval: expected a duration (e.g. 30s), got a number\n" },
	{ "hb_empty_string",
	  "heartbeat_interval: ''\n" LISTENER_A,
	  "t.yaml:1:21: heartbeat_interval: invalid duration '' (use e.g. 500ms, 30s, 5m, 1h30m)\n" },
	{ "hb_bool",
	  "heartbeat_interval: true\n" LISTENER_A,
	  "t.yaml:1:21: heartbeat_interval: expected a duration (e.g. 30s), got a boolean\n" },
	{ "hb_too_long",
	  "heartbeat_interval: 8d\n" LISTENER_A,
	  "t.yaml:1:21: heartbeat_interval: duration too long (at most 7d)\n" },
	{ "hb_overflow",
	  "heartbeat_interval: 99999999999999999999h\n" LISTENER_A,
	  "t.yaml:1:21: heartbeat_interval: duration too long (at most 7d)\n" },
	{ "connect_timeout_zero",
	  "connect_timeout: 0\n" LISTENER_A,
	  "t.yaml:1:18: connect_timeout: must be greater than 0\n" },
	{ "json_ok",
	  "{\"listeners\": [{\"name\": \"a\", \"base_url\": \"http://h\", \"event\": \"e\", \"triggers\": [{\"type\": \"echo\"}]}]}\n",
	  "" },
	{ "json_errors",
	  "{\n" "  \"listeners\": [\n" "    {\"name\": \"a\", \"event\": \"e\",\n" "     \"triggers\": [{\"type\": \"log\", \"path\": 5}], \"tigger\": 1}\n" "  ]\n" "}\n",
	  "t.yaml:3:5: listeners[0]: no base_url: set one in the listener or at top level\n" "t.yaml:4:43: listeners[0].triggers[0].path: expected a string, got an integer (quote it)\n" "t.yaml:4:48: listeners[0].tigger: unknown key 'tigger'; did you mean 'triggers'?\n" },
	{ "json_dup",
	  "{\"listeners\": [], \"listeners\": []}\n",
	  "t.yaml:1:19: listeners: duplicate key 'listeners' (first at line 1)\n" },
	{ "json_syntax",
	  "{\"listeners\": [}\n",
	  "t.yaml:1:16: YAML syntax error: did not find expected node content (while parsing a flow node at line 1, column 16)\n" },
	{ "escaped_key",
	  LISTENER_A "\"a\\nb\": 1\n",
	  "t.yaml:6:1: [\"a\\nb\"]: unknown key 'a\\nb'\n" },
	{ "long_utf8_value",
	  LISTENER_A "commit: " "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9" "\n",
	  "t.yaml:6:9: commit: invalid value '\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9...' (expected one of: per_event, batch)\n" },
	{ "many_errors",
	  "state_dir: rel\n" "listeners:\n" "  - name: 'a b'\n" "    protocol: sse\n" "    event: e\n" "    triggers:\n" "      - {type: log}\n" "      - {type: post, url: x, retries: -1}\n" "  - name: ok\n" "    base_url: http://h\n" "    event: e\n" "    triggers: [{type: command, argv: [/bin/true], env: {AVISO_X: y}}]\n",
	  "t.yaml:1:12: state_dir: 'rel' is not an absolute path\n" "t.yaml:3:5: listeners[0]: missing required key 'url'\n" "t.yaml:3:11: listeners[0].name: invalid listener name 'a b' (1 to 64 of A-Z a-z 0-9 _ . -, not . or ..)\n" "t.yaml:5:5: listeners[0].event: 'event' is only for aviso listeners\n" "t.yaml:7:9: listeners[0].triggers[0]: missing required key 'path'\n" "t.yaml:8:27: listeners[0].triggers[1].url: 'x' is not an http:// or https:// URL\n" "t.yaml:8:39: listeners[0].triggers[1].retries: out of range (0 to 1000)\n" "t.yaml:12:57: listeners[1].triggers[0].env.AVISO_X: 'AVISO_X' is reserved: ssewatchd sets the SSEWATCHD_* and AVISO_* variables\n" },
};

/* ---------------------------------------------------------------- helpers */

static char *joined(const struct cfg_errors *e)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < e->n; i++)
		len += strlen(e->lines[i]) + 1;
	s = calloc(1, len);
	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < e->n; i++) {
		strcat(s, e->lines[i]);
		strcat(s, "\n");
	}
	return s;
}

/* What an error line must look like; compiled around each test. */
static regex_t error_line_re;

static void error_line_re_setup(void)
{
	ck_assert_int_eq(regcomp(&error_line_re, "^[^:]+:[1-9][0-9]*:[1-9][0-9]*: ", REG_EXTENDED | REG_NOSUB), 0);
}

static void error_line_re_teardown(void)
{
	regfree(&error_line_re);
}

/*
 * What must hold after any load: success gives listeners that each have a
 * name, a trigger and a resolved form; failure gives at least one error, each
 * a single "FILE:LINE:COLUMN: " line. Plain ifs: this runs thousands of times.
 */
static void check_invariants(const char *what, size_t at, int r, const struct cfg *c, const struct cfg_errors *e)
{
	if (r == 0) {
		if (!c || e->n != 0 || c->n_listeners == 0)
			ck_abort_msg("%s at %zu: success without listeners or with errors", what, at);
		for (size_t i = 0; i < c->n_listeners; i++)
			if (!c->listeners[i].name || c->listeners[i].n_triggers == 0)
				ck_abort_msg("%s at %zu: listener %zu incomplete", what, at, i);
		return;
	}
	if (c || e->n == 0)
		ck_abort_msg("%s at %zu: failure (%d) without errors or with a config", what, at, r);
	for (size_t i = 0; i < e->n; i++)
		if (regexec(&error_line_re, e->lines[i], 0, NULL, 0) != 0 || strchr(e->lines[i], '\n'))
			ck_abort_msg("%s at %zu: malformed error line '%s'", what, at, e->lines[i]);
}

static int load_text(const char *text, size_t len, struct cfg **c, struct cfg_errors *e)
{
	*c = NULL;
	*e = (struct cfg_errors){};
	return cfg_load_buffer("t.yaml", text, len, c, e);
}

static const char *write_file(const char *dir, const char *name, const char *text)
{
	static char path[4096];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return path;
}

/* A listener as resolved, secrets redacted (the caller decrefs). */
static json_t *resolved_tree(const struct cfg_listener *l)
{
	json_t *j = cfg_listener_to_json(l);

	ck_assert_ptr_nonnull(j);
	return j;
}

/* ---------------------------------------------------------------- vectors */

START_TEST(test_vector)
{
	const struct vector *v = &vectors[_i];
	_cleanup_free_ char *got = NULL;
	struct cfg_errors e;
	struct cfg *c;
	int r = load_text(v->text, strlen(v->text), &c, &e);

	got = joined(&e);
	ck_assert_msg(strcmp(got, v->expect) == 0, "%s:\n--- expected\n%s--- got\n%s", v->name, v->expect, got);
	ck_assert_int_eq(r, *v->expect ? -EINVAL : 0);
	check_invariants(v->name, 0, r, c, &e);
	cfg_free(c);
	cfg_errors_clear(&e);
}
END_TEST

START_TEST(test_error_cap)
{
	char text[4096] = "";
	_cleanup_free_ char *got = NULL;
	struct cfg_errors e;
	struct cfg *c;

	for (int i = 0; i < 60; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "bogus%d: 1\n", i);
	ck_assert_int_eq(load_text(text, strlen(text), &c, &e), -EINVAL);
	ck_assert_uint_eq(e.n, 51);
	ck_assert_str_eq(e.lines[0], "t.yaml:1:1: bogus0: unknown key 'bogus0'");
	ck_assert_str_eq(e.lines[49], "t.yaml:50:1: bogus49: unknown key 'bogus49'");
	ck_assert_str_eq(e.lines[50], "t.yaml:1:1: 10 more errors not shown");
	cfg_errors_clear(&e);
}
END_TEST

/* --------------------------------------------------------------- aliases */

START_TEST(test_alias_sharing_is_fine)
{
	static const char text[] =
		"x-triggers: &t [{type: echo}, {type: log, path: /var/log/x}]\n";
	static const char text2[] =
		"listeners:\n"
		"  - {name: a, base_url: 'http://h', event: e, triggers: &t [{type: echo}, {type: log, path: /x}]}\n"
		"  - {name: b, base_url: 'http://h', event: e, triggers: *t}\n";
	struct cfg_errors e;
	struct cfg *c;

	/* An unknown top-level key holding an anchor is still an unknown key. */
	ck_assert_int_eq(load_text(text, strlen(text), &c, &e), -EINVAL);
	ck_assert_str_eq(e.lines[0], "t.yaml:1:1: x-triggers: unknown key 'x-triggers'");
	cfg_errors_clear(&e);

	ck_assert_int_eq(load_text(text2, strlen(text2), &c, &e), 0);
	ck_assert_uint_eq(c->n_listeners, 2);
	ck_assert_uint_eq(c->listeners[1].n_triggers, 2);
	ck_assert_str_eq(c->listeners[1].triggers[1].path, "/x");
	ck_assert_str_eq(c->listeners[1].triggers[1].where, "listeners[1].triggers[1]");
	cfg_free(c);
}
END_TEST

START_TEST(test_alias_bomb)
{
	char text[4096];
	size_t o;
	struct cfg_errors e;
	struct cfg *c;

	/* Ten levels of ten aliases each: 10^10 nodes if expanded; the cap is 500000. */
	o = (size_t)snprintf(text, sizeof(text), "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i < 10; i++) {
		o += (size_t)snprintf(text + o, sizeof(text) - o, "a%d: &a%d [", i, i);
		for (int j = 0; j < 10; j++)
			o += (size_t)snprintf(text + o, sizeof(text) - o, "%s*a%d", j ? ", " : "", i - 1);
		o += (size_t)snprintf(text + o, sizeof(text) - o, "]\n");
	}
	ck_assert_int_eq(load_text(text, o, &c, &e), -EINVAL);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_str_eq(e.lines[0], "t.yaml:6:25: a5[3]: too many nodes (more than 500000, counting alias expansions)");
	cfg_errors_clear(&e);
}
END_TEST

/* depth lists below the top-level mapping: the whole tree is depth + 1 deep. */
static void load_nested(unsigned depth, bool via_alias, struct cfg **c, struct cfg_errors *e)
{
	char text[1024];
	size_t o = 0;

	if (via_alias) {
		/* An anchor 32 deep, used 32 lists down. */
		o += (size_t)snprintf(text + o, sizeof(text) - o, "a: &x ");
		for (unsigned i = 0; i < 32; i++)
			text[o++] = '[';
		for (unsigned i = 0; i < 32; i++)
			text[o++] = ']';
		o += (size_t)snprintf(text + o, sizeof(text) - o, "\nb: ");
		for (unsigned i = 0; i < depth - 32; i++)
			text[o++] = '[';
		o += (size_t)snprintf(text + o, sizeof(text) - o, "*x");
		for (unsigned i = 0; i < depth - 32; i++)
			text[o++] = ']';
	} else {
		o += (size_t)snprintf(text + o, sizeof(text) - o, "a: ");
		for (unsigned i = 0; i < depth; i++)
			text[o++] = '[';
		for (unsigned i = 0; i < depth; i++)
			text[o++] = ']';
	}
	text[o++] = '\n';
	ck_assert_int_eq(load_text(text, o, c, e), -EINVAL);
}

START_TEST(test_depth_limit)
{
	struct cfg_errors e;
	struct cfg *c;

	load_nested(63, false, &c, &e);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_str_eq(e.lines[0], "t.yaml:1:1: a: unknown key 'a'");
	cfg_errors_clear(&e);

	load_nested(64, false, &c, &e);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_msg(strstr(e.lines[0], "t.yaml:1:67: a[0][0]") == e.lines[0], "%s", e.lines[0]);
	ck_assert_msg(strstr(e.lines[0], "]: nested deeper than 64 levels"), "%s", e.lines[0]);
	cfg_errors_clear(&e);

	load_nested(63, true, &c, &e);
	ck_assert_uint_eq(e.n, 2);
	ck_assert_str_eq(e.lines[0], "t.yaml:1:1: a: unknown key 'a'");
	ck_assert_str_eq(e.lines[1], "t.yaml:2:1: b: unknown key 'b'");
	cfg_errors_clear(&e);

	load_nested(64, true, &c, &e);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_msg(strstr(e.lines[0], "t.yaml:2:36: b[0]"), "%s", e.lines[0]);
	ck_assert_msg(strstr(e.lines[0], "]: nested deeper than 64 levels (through an alias)"), "%s", e.lines[0]);
	cfg_errors_clear(&e);
}
END_TEST

/* -------------------------------------------------------------- durations */

static const struct {
	const char *text;
	int r;
	uint64_t usec;
} durations[] = {
	{ "500ms", 0, 500000 },
	{ "30s", 0, 30000000 },
	{ "5m", 0, 300000000 },
	{ "1h30m", 0, 5400000000 },
	{ "1h 30m", 0, 5400000000 },
	{ "1h  30m 15s", 0, 5415000000 },
	{ "30", 0, 30000000 },
	{ "0", 0, 0 },
	{ "0s", 0, 0 },
	{ "2d", 0, 172800000000 },
	{ "1min", 0, 60000000 },
	{ "3sec", 0, 3000000 },
	{ "250us", 0, 250 },
	{ "1s500ms", 0, 1500000 },
	{ "007s", 0, 7000000 },
	{ "18446744073709s", 0, 18446744073709000000u },
	{ "", -EINVAL, 0 },
	{ " ", -EINVAL, 0 },
	{ "s", -EINVAL, 0 },
	{ "-1s", -EINVAL, 0 },
	{ "+1s", -EINVAL, 0 },
	{ "1.5s", -EINVAL, 0 },
	{ "5x", -EINVAL, 0 },
	{ "5S", -EINVAL, 0 },
	{ "5 s", 0, 5 * USEC_PER_SEC },
	{ "1h30", -EINVAL, 0 },
	{ " 1s", -EINVAL, 0 },
	{ "1s ", 0, USEC_PER_SEC },
	{ "1s,2s", -EINVAL, 0 },
	{ "1ms2", -EINVAL, 0 },
	{ "18446744073710s", -ERANGE, 0 },
	{ "18446744073709551615us", 0, UINT64_MAX },
	{ "18446744073709551616us", -ERANGE, 0 },
	{ "99999999999999999999", -ERANGE, 0 },
	{ "18446744073709551615us 1us", -ERANGE, 0 },
	/* humantime's spellings, as aviso writes them */
	{ "30seconds", 0, 30 * USEC_PER_SEC },
	{ "1second", 0, USEC_PER_SEC },
	{ "2secs", 0, 2 * USEC_PER_SEC },
	{ "500msec", 0, 500 * USEC_PER_MSEC },
	{ "7usec", 0, 7 },
	{ "2hours", 0, 7200 * USEC_PER_SEC },
	{ "1hour 30minutes", 0, 5400 * USEC_PER_SEC },
	{ "1hr 2hrs", 0, 10800 * USEC_PER_SEC },
	{ "3mins", 0, 180 * USEC_PER_SEC },
	{ "1minute", 0, 60 * USEC_PER_SEC },
	{ "1day", 0, 86400 * USEC_PER_SEC },
	{ "2days", 0, 172800 * USEC_PER_SEC },
	{ "1w", 0, 604800 * USEC_PER_SEC },
	{ "1week", 0, 604800 * USEC_PER_SEC },
	{ "2weeks", 0, 1209600 * USEC_PER_SEC },
	{ "1month", 0, 2630016 * USEC_PER_SEC },
	{ "1y", 0, 31557600 * USEC_PER_SEC },
	{ "1years", 0, 31557600 * USEC_PER_SEC },
	/* nanoseconds round up to the microsecond */
	{ "1ns", 0, 1 },
	{ "1000nsec", 0, 1 },
	{ "1001ns", 0, 2 },
	{ "1s 999ns", 0, USEC_PER_SEC + 1 },
	{ "18446744073709551615us 1ns", -ERANGE, 0 },
	{ "18446744073709551615ns", 0, 18446744073709552 },
	{ "5nanos", 0, 1 },
	{ "500millis", 0, 500 * USEC_PER_MSEC },
	{ "3\xc2\xb5s", 0, 3 },
	{ "1M", 0, 2630016 * USEC_PER_SEC },
	{ "20 min 17 nsec ", 0, 20 * 60 * USEC_PER_SEC + 1 },
	{ "1 h", 0, 3600 * USEC_PER_SEC },
	{ "1 ", -EINVAL, 0 },
	{ "1 \xc2", -EINVAL, 0 },
	{ "1\xb5s", -EINVAL, 0 },
	{ "1Seconds", -EINVAL, 0 },
	{ "1secondss", -EINVAL, 0 },
};

START_TEST(test_duration)
{
	uint64_t v = 12345;
	int r = cfg_parse_duration(durations[_i].text, &v);

	ck_assert_msg(r == durations[_i].r, "'%s': got %d, want %d", durations[_i].text, r, durations[_i].r);
	ck_assert_msg(v == (r == 0 ? durations[_i].usec : 12345), "'%s': got %llu", durations[_i].text,
		      (unsigned long long)v);
}
END_TEST

/* Durations in the file, as the resolved JSON shows them (its shortest form). */
START_TEST(test_durations_in_file)
{
	static const char ok[] =
		"heartbeat_interval: 90\n"
		"connect_timeout: 1h 30m\n"
		"listeners:\n  - name: a\n    base_url: http://h\n    event: e\n    triggers:\n"
		"      - {type: command, argv: [a], timeout: 1500ms, kill_grace: 0, retry_delay: 2m}\n";
	struct cfg_errors e;
	struct cfg *c;
	json_t *t, *r;

	ck_assert_int_eq(load_text(ok, strlen(ok), &c, &e), 0);
	ck_assert_uint_eq(c->listeners[0].heartbeat_interval_usec, 90 * USEC_PER_SEC);
	ck_assert_uint_eq(c->listeners[0].connect_timeout_usec, 5400 * USEC_PER_SEC);
	ck_assert_uint_eq(c->listeners[0].triggers[0].timeout_usec, 1500 * USEC_PER_MSEC);
	ck_assert_uint_eq(c->listeners[0].triggers[0].kill_grace_usec, 0);
	ck_assert_uint_eq(c->listeners[0].triggers[0].retry_delay_usec, 120 * USEC_PER_SEC);
	r = resolved_tree(&c->listeners[0]);
	ck_assert_str_eq(json_string_value(json_object_get(r, "heartbeat_interval")), "1m30s");
	ck_assert_str_eq(json_string_value(json_object_get(r, "connect_timeout")), "1h30m");
	t = json_array_get(json_object_get(r, "triggers"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(t, "timeout")), "1s500ms");
	ck_assert_str_eq(json_string_value(json_object_get(t, "kill_grace")), "0s");
	json_decref(r);
	cfg_free(c);
}
END_TEST

/* ------------------------------------------------------- sizes and defaults */

START_TEST(test_sizes)
{
	static const struct { const char *text; size_t bytes; } ok[] = {
		{ "1024", 1024 }, { "'1024'", 1024 }, { "1k", 1024 }, { "1K", 1024 }, { "64KiB", 65536 },
		{ "512k", 524288 }, { "1M", 1048576 }, { "1MiB", 1048576 }, { "128MiB", 134217728 },
		{ "2048B", 2048 },
	};

	for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
		char text[256];
		struct cfg_errors e;
		struct cfg *c;

		snprintf(text, sizeof(text), "max_event_size: %s\n" LISTENER_A, ok[i].text);
		ck_assert_msg(load_text(text, strlen(text), &c, &e) == 0, "%s: %s", ok[i].text,
			      e.n ? e.lines[0] : "");
		ck_assert_uint_eq(c->listeners[0].max_event_size, ok[i].bytes);
		cfg_free(c);
	}
}
END_TEST

START_TEST(test_defaults)
{
	static const char text[] =
		"listeners:\n"
		"  - name: a\n    base_url: http://h\n    event: e\n"
		"    triggers: [{type: echo}, {type: log, path: /l}, {type: command, command: 'x'}, {type: post, url: 'http://p'}]\n";
	const struct cfg_listener *l;
	struct cfg_errors e;
	struct cfg *c;

	unsetenv("STATE_DIRECTORY");
	ck_assert_int_eq(load_text(text, strlen(text), &c, &e), 0);
	ck_assert_str_eq(c->path, "t.yaml");
	ck_assert_str_eq(c->state_dir, CFG_DEFAULT_STATE_DIR);
	ck_assert_int_eq(c->log_level, LOG_INFO);
	ck_assert_uint_eq(c->n_warnings, 0);
	l = cfg_find_listener(c, "a");
	ck_assert_ptr_eq(l, &c->listeners[0]);
	ck_assert_ptr_null(cfg_find_listener(c, "b"));
	ck_assert_str_eq(l->where, "listeners[0]");
	ck_assert_int_eq(l->protocol, CFG_PROTOCOL_AVISO);
	ck_assert_uint_eq(l->heartbeat_interval_usec, CFG_DEFAULT_HEARTBEAT_USEC);
	ck_assert_uint_eq(l->connect_timeout_usec, CFG_DEFAULT_CONNECT_TIMEOUT_USEC);
	ck_assert_int_eq(l->commit, CFG_COMMIT_PER_EVENT);
	ck_assert_int_eq(l->on_failure, CFG_ON_FAILURE_DEAD_LETTER);
	ck_assert_int_eq(l->on_gap, CFG_ON_GAP_CONTINUE);
	ck_assert_uint_eq(l->max_event_size, CFG_DEFAULT_MAX_EVENT_SIZE);
	ck_assert_uint_eq(l->max_pending, CFG_DEFAULT_MAX_PENDING);
	ck_assert(!l->from_id_set);
	ck_assert_ptr_null(l->from_date);
	ck_assert_ptr_null(l->identifiers);
	ck_assert_ptr_null(l->proxy);
	ck_assert(!l->tls.insecure);
	ck_assert_uint_eq(l->tls.n_ca_bundle, 0);
	ck_assert_ptr_null(l->auth.bearer_token);
	ck_assert_ptr_null(l->auth.refresh_command);
	ck_assert_uint_eq(l->auth.refresh_timeout_usec, CFG_DEFAULT_REFRESH_TIMEOUT_USEC);
	ck_assert_uint_eq(l->n_triggers, 4);
	for (size_t i = 0; i < 4; i++) {
		const struct cfg_trigger *t = &l->triggers[i];

		ck_assert_int_eq(t->type, (enum cfg_trigger_type)i);
		ck_assert_uint_eq(t->retries, 0);
		ck_assert(t->required);
		ck_assert_int_eq(t->fail_fast, -1);
		ck_assert(!t->on_failure_set);
		ck_assert_uint_eq(t->retry_delay_usec, CFG_DEFAULT_RETRY_DELAY_USEC);
		ck_assert_uint_eq(t->kill_grace_usec, CFG_DEFAULT_KILL_GRACE_USEC);
		ck_assert_uint_eq(t->timeout_usec, i == CFG_TRIGGER_POST ? CFG_DEFAULT_POST_TIMEOUT_USEC : 0);
	}
	ck_assert(!l->triggers[1].fsync);
	ck_assert_str_eq(l->triggers[2].shell, "x");
	ck_assert_ptr_null(l->triggers[2].argv);
	ck_assert_str_eq(l->triggers[3].where, "listeners[0].triggers[3]");
	ck_assert_str_eq(cfg_protocol_to_string(CFG_PROTOCOL_SSE), "sse");
	ck_assert_str_eq(cfg_trigger_type_to_string(CFG_TRIGGER_COMMAND), "command");
	cfg_free(c);
}
END_TEST

/* Every setting away from its default, and read back. */
/* Unset, max_pending follows the commit mode: per_event commits write every
 * waiting notification, batch fills one commit from one read. */
START_TEST(test_max_pending_default_follows_commit)
{
	static const char text[] =
		"commit: batch\n"
		"listeners:\n"
		"  - {name: b, protocol: sse, url: 'http://h/s', triggers: [{type: echo}]}\n"
		"  - {name: p, protocol: sse, url: 'http://h/s', commit: per_event, triggers: [{type: echo}]}\n"
		"  - {name: x, protocol: sse, url: 'http://h/s', commit: per_event, max_pending: 5000, triggers: [{type: echo}]}\n";
	struct cfg_errors e;
	struct cfg *c;

	ck_assert_int_eq(load_text(text, strlen(text), &c, &e), 0);
	ck_assert_uint_eq(c->listeners[0].max_pending, CFG_DEFAULT_MAX_PENDING_BATCH);
	ck_assert_uint_eq(c->listeners[1].max_pending, CFG_DEFAULT_MAX_PENDING);
	ck_assert_uint_eq(c->listeners[2].max_pending, 5000);
	cfg_free(c);
}
END_TEST

START_TEST(test_all_settings)
{
	static const char text[] =
		"state_dir: /srv/state\n"
		"log_level: debug\n"
		"proxy: 'socks5h://proxy:1080'\n"
		"commit: batch\n"
		"on_failure: stop\n"
		"max_pending: 7\n"
		"listeners:\n"
		"  - name: w\n"
		"    protocol: sse\n"
		"    url: 'https://stream.example.org/v2/stream/recentchange'\n"
		"    headers: {User-Agent: ops-bot, X-Empty: ''}\n"
		"    max_event_size: 64KiB\n"
		"    triggers:\n"
		"      - type: command\n"
		"        argv: [/usr/local/bin/fetch, --step, '{{ notification.identifier.step }}']\n"
		"        env: {MODE: fast, _X1: ''}\n"
		"        working_dir: /\n"
		"        timeout: 10m\n"
		"        kill_grace: 2s\n"
		"        retries: 3\n"
		"        retry_delay: 250ms\n"
		"        required: false\n"
		"        fail_fast: true\n"
		"        on_failure: dead_letter\n"
		"      - {type: log, path: /var/log/x.ndjson, fsync: true}\n"
		"  - name: e\n"
		"    base_url: http://aviso:8080\n"
		"    event: mars\n"
		"    identifiers: {class: od, step: {in: [1, 2, 3]}}\n"
		"    from_id: 100\n"
		"    on_gap: stop\n"
		"    on_failure: dead_letter\n"
		"    triggers: [{type: post, url: 'https://hooks.example.int/aviso', headers: {X-A: b}, timeout: 0}]\n";
	const struct cfg_listener *w, *a;
	const struct cfg_trigger *t;
	struct cfg_errors e;
	struct cfg *c;

	ck_assert_int_eq(load_text(text, strlen(text), &c, &e), 0);
	ck_assert_str_eq(c->state_dir, "/srv/state");
	ck_assert_int_eq(c->log_level, LOG_DEBUG);
	w = &c->listeners[0];
	a = &c->listeners[1];
	ck_assert_int_eq(w->protocol, CFG_PROTOCOL_SSE);
	ck_assert_str_eq(w->url, "https://stream.example.org/v2/stream/recentchange");
	ck_assert_ptr_null(w->base_url);
	ck_assert_uint_eq(w->n_headers, 2);
	ck_assert_str_eq(w->headers[0].key, "User-Agent");
	ck_assert_str_eq(w->headers[0].value, "ops-bot");
	ck_assert_str_eq(w->headers[1].value, "");
	ck_assert_uint_eq(w->max_event_size, 65536);
	ck_assert_uint_eq(w->max_pending, 7);
	ck_assert_str_eq(w->proxy, "socks5h://proxy:1080");
	ck_assert_int_eq(w->commit, CFG_COMMIT_BATCH);
	ck_assert_int_eq(w->on_failure, CFG_ON_FAILURE_STOP);
	t = &w->triggers[0];
	ck_assert_uint_eq(t->argc, 3);
	ck_assert_str_eq(t->argv[2], "{{ notification.identifier.step }}");
	ck_assert_ptr_null(t->argv[3]);
	ck_assert_uint_eq(t->n_env, 2);
	ck_assert_str_eq(t->env[1].key, "_X1");
	ck_assert_str_eq(t->working_dir, "/");
	ck_assert_uint_eq(t->timeout_usec, 600 * USEC_PER_SEC);
	ck_assert_uint_eq(t->kill_grace_usec, 2 * USEC_PER_SEC);
	ck_assert_uint_eq(t->retries, 3);
	ck_assert_uint_eq(t->retry_delay_usec, 250 * USEC_PER_MSEC);
	ck_assert(!t->required);
	ck_assert_int_eq(t->fail_fast, 1);
	ck_assert(t->on_failure_set);
	ck_assert_int_eq(t->on_failure, CFG_ON_FAILURE_DEAD_LETTER);
	ck_assert(w->triggers[1].fsync);
	ck_assert_str_eq(a->base_url, "http://aviso:8080");
	ck_assert_str_eq(a->event, "mars");
	ck_assert(a->from_id_set);
	ck_assert_uint_eq(a->from_id, 100);
	ck_assert_int_eq(a->on_gap, CFG_ON_GAP_STOP);
	ck_assert_int_eq(a->on_failure, CFG_ON_FAILURE_DEAD_LETTER);
	ck_assert_int_eq(a->commit, CFG_COMMIT_BATCH);
	ck_assert_uint_eq(a->triggers[0].timeout_usec, 0);
	ck_assert_str_eq(a->triggers[0].headers[0].key, "X-A");
	cfg_free(c);
}
END_TEST

/* --------------------------------------------------------- YAML and JSON */

/* The same configuration as YAML and as JSON resolves the same. */
START_TEST(test_yaml_equals_json)
{
	static const char yaml[] =
		"base_url: https://aviso.example.int\n"
		"auth: {bearer_token_file: /dev/null}\n"
		"listeners:\n"
		"  - name: a\n"
		"    event: mars\n"
		"    identifiers: {class: od, step: {between: [0, 12]}, flag: true, ratio: 0.5}\n"
		"    from_id: '18446744073709551615'\n"
		"    triggers:\n"
		"      - type: command\n"
		"        argv: [/bin/echo, hi]\n";
	static const char json[] =
		"{\"base_url\": \"https://aviso.example.int\",\n"
		" \"auth\": {\"bearer_token_file\": \"/dev/null\"},\n"
		" \"listeners\": [{\"name\": \"a\", \"event\": \"mars\",\n"
		"   \"identifiers\": {\"class\": \"od\", \"step\": {\"between\": [0, 12]}, \"flag\": true, \"ratio\": 0.5},\n"
		"   \"from_id\": 18446744073709551615,\n"
		"   \"triggers\": [{\"type\": \"command\", \"argv\": [\"/bin/echo\", \"hi\"]}]}]}\n";
	struct cfg_errors e;
	struct cfg *y, *j;
	json_t *r;

	ck_assert_int_eq(load_text(yaml, strlen(yaml), &y, &e), 0);
	ck_assert_int_eq(load_text(json, strlen(json), &j, &e), 0);
	/* The same listener, whatever the syntax and order. */
	ck_assert(cfg_listener_same(&y->listeners[0], &j->listeners[0]));
	ck_assert_uint_eq(j->listeners[0].from_id, UINT64_MAX);
	r = resolved_tree(&j->listeners[0]);
	ck_assert_str_eq(json_string_value(json_object_get(r, "from_id")), "18446744073709551615");
	json_decref(r);
	cfg_free(y);
	cfg_free(j);
}
END_TEST

/* YAML 1.2 core schema: what is a string and what is not. */
START_TEST(test_core_schema)
{
	static const char text[] =
		"listeners:\n"
		"  - name: a\n    base_url: http://h\n    event: e\n    triggers: [{type: echo}]\n"
		"    identifiers: {a: yes, b: no, c: on, d: 0o17, e: 0x1f, f: 1_000, g: '1', h: 1.0, i: -0,\n"
		"                  j: .inf, k: 1e3, l: True, m: FALSE, n: 2026-01-01, o: \"null\", p: !!str 12,\n"
		"                  q: 0x, r: +5, s: 012}\n";
	static const char expect[] =
		"{\"a\": \"yes\", \"b\": \"no\", \"c\": \"on\", \"d\": 15, \"e\": 31, \"f\": \"1_000\", \"g\": \"1\","
		" \"h\": 1.0, \"i\": 0, \"j\": \".inf\", \"k\": 1000.0, \"l\": true, \"m\": false,"
		" \"n\": \"2026-01-01\", \"o\": \"null\", \"p\": \"12\", \"q\": \"0x\", \"r\": 5, \"s\": 12}";
	struct cfg_errors e;
	struct cfg *c;
	json_t *want;

	ck_assert_int_eq(load_text(text, strlen(text), &c, &e), 0);
	want = json_loads(expect, 0, NULL);
	ck_assert_ptr_nonnull(want);
	ck_assert_msg(json_equal(c->listeners[0].identifiers, want), "%s",
		      json_dumps(c->listeners[0].identifiers, JSON_COMPACT));
	json_decref(want);
	cfg_free(c);
}
END_TEST

/* A relative path is taken from the working directory, as aviso does, with a warning naming the result. */
START_TEST(test_relative_paths)
{
	static const char text[] = "listeners:\n"
				   "  - name: a\n"
				   "    protocol: sse\n"
				   "    url: http://127.0.0.1:9/\n"
				   "    triggers:\n"
				   "      - {type: log, path: out.log}\n"
				   "      - {type: log, path: .//./logs/x.ndjson}\n"
				   "      - {type: command, command: 'true', working_dir: .}\n";
	_cleanup_free_ char *cwd = getcwd(NULL, 0), *want = NULL;
	struct cfg_errors e = {};
	struct cfg *c = NULL;
	const struct cfg_listener *l;
	int r;

	ck_assert_ptr_nonnull(cwd);
	r = cfg_load_buffer("t.yaml", text, strlen(text), &c, &e);
	ck_assert_msg(r == 0, "%d: %s", r, e.n ? e.lines[0] : "");
	l = &c->listeners[0];
	ck_assert_int_ge(asprintf(&want, "%s/out.log", cwd), 0);
	ck_assert_str_eq(l->triggers[0].path, want);
	free(want);
	ck_assert_int_ge(asprintf(&want, "%s/logs/x.ndjson", cwd), 0);
	ck_assert_str_eq(l->triggers[1].path, want);
	ck_assert_str_eq(l->triggers[2].working_dir, cwd);
	ck_assert_uint_eq(c->n_warnings, 3);
	free(want);
	ck_assert_int_ge(asprintf(&want, "t.yaml:7:27: listeners[0].triggers[1].path: relative path './/./logs/x.ndjson' "
					 "taken from the working directory: %s/logs/x.ndjson", cwd), 0);
	ck_assert_str_eq(c->warnings[1], want);
	cfg_free(c);
	c = NULL;

	/* state_dir is the daemon's own: absolute, as systemd's StateDirectory= gives it. */
	r = cfg_load_buffer("t.yaml", "state_dir: rel\n", 15, &c, &e);
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_str_eq(e.lines[0], "t.yaml:1:12: state_dir: 'rel' is not an absolute path");
	cfg_errors_clear(&e);
}
END_TEST

/* The top-level auth goes to an sse listener's server too: said, unless it is base_url's or the listener has its own. */
START_TEST(test_inherited_auth_warning)
{
	static const char text[] = "base_url: https://aviso.example.int\n"
				   "auth: {bearer_token: t}\n"
				   "listeners:\n"
				   "  - {name: a, event: mars, triggers: [{type: echo}]}\n"
				   "  - {name: b, protocol: sse, url: 'https://other.example.org/s', triggers: [{type: echo}]}\n"
				   "  - {name: c, protocol: sse, url: 'https://AVISO.example.int/s', triggers: [{type: echo}]}\n"
				   "  - {name: d, protocol: sse, auth: {}, url: 'https://x.example.org/', triggers: [{type: echo}]}\n";
	struct cfg_errors e = {};
	struct cfg *c = NULL;
	int r;

	r = cfg_load_buffer("t.yaml", text, strlen(text), &c, &e);
	ck_assert_msg(r == 0, "%d: %s", r, e.n ? e.lines[0] : "");
	ck_assert_uint_eq(c->n_warnings, 1);
	ck_assert_str_eq(c->warnings[0], "t.yaml:5:5: listeners[1]: the top-level auth applies to this listener too, "
					 "so its credentials are sent to other.example.org as well as to aviso.example.int: "
					 "give the listener 'auth: {}' if they are not meant for that server");
	ck_assert_ptr_nonnull(c->listeners[1].auth.bearer_token);
	ck_assert_ptr_null(c->listeners[3].auth.bearer_token);
	cfg_free(c);
}
END_TEST

/* check prints fail_fast and on_failure as they apply, not as unset. */
START_TEST(test_check_shows_resolved_trigger_defaults)
{
	static const char text[] = "listeners:\n"
				   "  - name: a\n"
				   "    protocol: sse\n"
				   "    url: http://127.0.0.1:9/\n"
				   "    on_failure: stop\n"
				   "    triggers:\n"
				   "      - {type: command, argv: [/bin/true]}\n"
				   "      - {type: command, command: 'true'}\n"
				   "      - {type: post, url: 'https://h/'}\n"
				   "      - {type: post, url: 'https://h/', fail_fast: false, on_failure: dead_letter}\n";
	static const char *const want[] = {
		"{\"fail_fast\":false,\"on_failure\":\"stop\"}",
		"{\"fail_fast\":true,\"on_failure\":\"stop\"}",
		"{\"fail_fast\":true,\"on_failure\":\"stop\"}",
		"{\"fail_fast\":false,\"on_failure\":\"dead_letter\"}",
	};
	struct cfg_errors e = {};
	struct cfg *c = NULL;
	json_t *j, *t;

	ck_assert_int_eq(load_text(text, strlen(text), &c, &e), 0);
	j = cfg_listener_to_json(&c->listeners[0]);
	ck_assert_ptr_nonnull(j);
	for (size_t i = 0; i < ELEMENTSOF(want); i++) {
		_cleanup_free_ char *got = NULL;
		json_t *pair;

		t = json_array_get(json_object_get(j, "triggers"), i);
		pair = json_pack("{s:O, s:O}", "fail_fast", json_object_get(t, "fail_fast"), "on_failure",
				 json_object_get(t, "on_failure"));
		ck_assert_ptr_nonnull(pair);
		got = json_dumps(pair, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(pair);
		ck_assert_str_eq(got, want[i]);
	}
	json_decref(j);
	cfg_free(c);
}
END_TEST

/* ------------------------------------------------------ aviso CLI config */

START_TEST(test_aviso_cli_file)
{
	static const char ids[] =
		"{\"date\": \"20260913\", \"severity\": {\"gte\": 5}, \"anomaly\": {\"between\": [40, 50]},"
		" \"region\": {\"in\": [\"north\", \"south\"]}}";
	const struct cfg_listener *l;
	const struct cfg_trigger *t;
	struct cfg_errors e = {};
	struct cfg *c = NULL;
	json_t *want;
	int r;

	_cleanup_free_ char *text = NULL, *cwd = getcwd(NULL, 0), *abs_ca = NULL, *warn = NULL;
	size_t len = 0;

	/* Unchanged: its relative ca_bundle is taken from the working
	 * directory (the source tree here), as aviso would, and said so. */
	text = file_read("tests/data/aviso-cli.yaml", &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(cwd);
	ck_assert_int_ge(asprintf(&abs_ca, "%s/tests/data/aviso-ca.pem", cwd), 0);
	r = cfg_load_buffer("tests/data/aviso-cli.yaml", text, len, &c, &e);
	ck_assert_msg(r == 0, "%d: %s", r, e.n ? e.lines[0] : "");
	ck_assert_uint_eq(c->n_warnings, 2);
	ck_assert_str_eq(c->warnings[0], "tests/data/aviso-cli.yaml:15:1: state_file is ignored: "
					 "ssewatchd keeps one state file per listener in state_dir");
	ck_assert_int_ge(asprintf(&warn, "tests/data/aviso-cli.yaml:19:7: tls.ca_bundle[0]: relative path "
					 "'tests/data/aviso-ca.pem' taken from the working directory: %s", abs_ca), 0);
	ck_assert_str_eq(c->warnings[1], warn);
	ck_assert_uint_eq(c->n_listeners, 3);
	for (size_t i = 0; i < c->n_listeners; i++) {
		l = &c->listeners[i];
		ck_assert_int_eq(l->protocol, CFG_PROTOCOL_AVISO);
		ck_assert_str_eq(l->base_url, "https://aviso.example.int");
		ck_assert_str_eq(l->auth.bearer_token, "your-token-here");
		ck_assert_ptr_null(l->auth.basic_username);
		ck_assert_uint_eq(l->connect_timeout_usec, 30 * USEC_PER_SEC);	/* aviso's "timeout" */
		ck_assert_uint_eq(l->heartbeat_interval_usec, 20 * USEC_PER_SEC);
		ck_assert_uint_eq(l->tls.n_ca_bundle, 1);
		ck_assert_str_eq(l->tls.ca_bundle[0], abs_ca);
		ck_assert(!l->tls.insecure);
	}

	l = cfg_find_listener(c, "mars-od");
	ck_assert_str_eq(l->event, "mars");
	ck_assert_str_eq(json_string_value(json_object_get(l->identifiers, "stream")), "oper");
	ck_assert(!l->from_id_set);
	ck_assert_int_eq(l->triggers[0].type, CFG_TRIGGER_LOG);
	ck_assert_str_eq(l->triggers[0].path, "/var/log/aviso/mars-od.log");

	l = cfg_find_listener(c, "selected-weather");
	want = json_loads(ids, 0, NULL);
	ck_assert(json_equal(l->identifiers, want));
	json_decref(want);
	ck_assert(l->from_id_set);
	ck_assert_uint_eq(l->from_id, 42);
	ck_assert_uint_eq(l->n_triggers, 3);
	ck_assert_int_eq(l->triggers[0].type, CFG_TRIGGER_ECHO);
	t = &l->triggers[1];
	ck_assert_int_eq(t->type, CFG_TRIGGER_COMMAND);
	ck_assert_str_eq(t->shell, "./on-event.sh {{ notification.event_type }} {{ notification.sequence }}");
	ck_assert_ptr_null(t->argv);
	ck_assert_uint_eq(t->n_env, 1);
	ck_assert_str_eq(t->env[0].key, "DATA_DIR");
	ck_assert_str_eq(t->env[0].value, "/var/lib/aviso/data");
	ck_assert_str_eq(t->working_dir, "/tmp");
	ck_assert_uint_eq(t->timeout_usec, 30 * USEC_PER_SEC);
	ck_assert_uint_eq(t->retries, 2);
	ck_assert(!t->required);
	ck_assert_int_eq(t->fail_fast, 0);
	t = &l->triggers[2];
	ck_assert_int_eq(t->type, CFG_TRIGGER_POST);
	ck_assert_str_eq(t->url, "https://receiver.example/aviso");
	ck_assert_str_eq(t->headers[0].key, "Authorization");
	ck_assert_str_eq(t->headers[0].value, "Bearer {{ env.RECEIVER_TOKEN }}");
	ck_assert_uint_eq(t->timeout_usec, 30 * USEC_PER_SEC);	/* aviso's HTTP default */
	ck_assert_int_eq(t->fail_fast, -1);
	ck_assert(t->required);

	l = cfg_find_listener(c, "alpine-observations");
	ck_assert_str_eq(l->from_date, "2026-06-01T00:00:00Z");
	ck_assert_uint_eq(json_array_size(json_object_get(l->identifiers, "polygon")), 5);
	cfg_free(c);
}
END_TEST

/* ------------------------------------------------------- files and conf.d */

struct tmpdir {
	char path[64];
};

static void tmpdir_make(struct tmpdir *d)
{
	char sub[128];

	snprintf(d->path, sizeof(d->path), "/tmp/check_config.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d->path));
	snprintf(sub, sizeof(sub), "%s/conf.d", d->path);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	return remove(path);
}

static void tmpdir_remove(struct tmpdir *d)
{
	/* Only our own mkdtemp() directory, depth first, links not followed. */
	ck_assert(strncmp(d->path, "/tmp/check_config.", 18) == 0);
	ck_assert_int_eq(nftw(d->path, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static const char confd_main[] =
	"base_url: https://top\n"
	"auth: {bearer_token: tok}\n"
	"listeners:\n"
	"  - name: main\n"
	"    event: e\n"
	"    triggers: [{type: echo}]\n";

START_TEST(test_confd)
{
	struct tmpdir d;
	struct cfg_errors e = {};
	struct cfg *c = NULL;
	char path[256], where[512];

	tmpdir_make(&d);
	snprintf(path, sizeof(path), "%s/ssewatchd.yaml", d.path);
	write_file(d.path, "ssewatchd.yaml", confd_main);
	write_file(d.path, "conf.d/20-b.yaml", "listeners:\n  - name: b\n    event: e\n    triggers: [{type: echo}]\n");
	write_file(d.path, "conf.d/10-a.yaml",
		   "listeners:\n  - name: a\n    protocol: sse\n    url: http://h/a\n    triggers: [{type: echo}]\n");
	write_file(d.path, "conf.d/.hidden.yaml", "not: valid\n");
	write_file(d.path, "conf.d/x.yml", "not: valid\n");
	write_file(d.path, "conf.d/notes.txt", "not: valid\n");
	write_file(d.path, "conf.d/15-empty.yaml", "# nothing here yet\n");

	ck_assert_int_eq(cfg_load(path, &c, &e), 0);
	ck_assert_uint_eq(c->n_listeners, 3);
	ck_assert_str_eq(c->listeners[0].name, "main");
	ck_assert_str_eq(c->listeners[1].name, "a");
	ck_assert_str_eq(c->listeners[2].name, "b");
	ck_assert_str_eq(c->listeners[0].where, "listeners[0]");
	snprintf(where, sizeof(where), "%s/conf.d/20-b.yaml: listeners[0]", d.path);
	ck_assert_str_eq(c->listeners[2].where, where);
	snprintf(where, sizeof(where), "%s/conf.d/20-b.yaml: listeners[0].triggers[0]", d.path);
	ck_assert_str_eq(c->listeners[2].triggers[0].where, where);
	/* conf.d listeners inherit the main file's defaults. */
	ck_assert_str_eq(c->listeners[2].base_url, "https://top");
	ck_assert_str_eq(c->listeners[2].auth.bearer_token, "tok");
	ck_assert_str_eq(c->listeners[1].auth.bearer_token, "tok");
	ck_assert_ptr_null(c->listeners[1].base_url);
	c = cfg_free(c);

	/* Errors in conf.d files name them; the main file's come first. */
	write_file(d.path, "conf.d/30-c.yaml",
		   "state_dir: /x\nlistners: []\nlisteners:\n  - name: main\n    event: e\n    triggers: [{type: echo}]\n");
	write_file(d.path, "ssewatchd.yaml", "frobnicate: 1\n");
	ck_assert_int_eq(cfg_load(path, &c, &e), -EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(e.n, 5);
	snprintf(where, sizeof(where), "%s/ssewatchd.yaml:1:1: frobnicate: unknown key 'frobnicate'", d.path);
	ck_assert_str_eq(e.lines[0], where);
	/* Without a top-level base_url, conf.d's aviso listeners have none. */
	snprintf(where, sizeof(where), "%s/conf.d/20-b.yaml:2:5: listeners[0]: no base_url: set one in the listener or at top level",
		 d.path);
	ck_assert_str_eq(e.lines[1], where);
	snprintf(where, sizeof(where),
		 "%s/conf.d/30-c.yaml:1:1: state_dir: 'state_dir' cannot be set in a conf.d file; only 'listeners' may appear here",
		 d.path);
	ck_assert_str_eq(e.lines[2], where);
	snprintf(where, sizeof(where), "%s/conf.d/30-c.yaml:2:1: listners: unknown key 'listners'; did you mean 'listeners'?",
		 d.path);
	ck_assert_str_eq(e.lines[3], where);
	snprintf(where, sizeof(where), "%s/conf.d/30-c.yaml:4:5: listeners[0]: no base_url: set one in the listener or at top level",
		 d.path);
	ck_assert_str_eq(e.lines[4], where);
	cfg_errors_clear(&e);

	/* Duplicate names across files point at the first definition's file. */
	write_file(d.path, "ssewatchd.yaml", confd_main);
	ck_assert_int_eq(cfg_load(path, &c, &e), -EINVAL);
	ck_assert_uint_eq(e.n, 3);
	snprintf(where, sizeof(where),
		 "%s/conf.d/30-c.yaml:4:11: listeners[0].name: duplicate listener name 'main' (first defined at %s/ssewatchd.yaml:4)",
		 d.path, d.path);
	ck_assert_str_eq(e.lines[2], where);
	cfg_errors_clear(&e);

	/* A main file without listeners is fine when conf.d has some. */
	unlink(write_file(d.path, "conf.d/30-c.yaml", ""));
	write_file(d.path, "ssewatchd.yaml", "base_url: https://top\n");
	ck_assert_int_eq(cfg_load(path, &c, &e), 0);
	ck_assert_uint_eq(c->n_listeners, 2);
	cfg_free(c);
	tmpdir_remove(&d);
}
END_TEST

START_TEST(test_file_errors)
{
	struct tmpdir d;
	struct cfg_errors e = {};
	struct cfg *c = NULL;
	char path[256], want[512];
	_cleanup_free_ char *big = NULL;

	tmpdir_make(&d);
	snprintf(path, sizeof(path), "%s/missing.yaml", d.path);
	ck_assert_int_eq(cfg_load(path, &c, &e), -ENOENT);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(e.n, 1);
	snprintf(want, sizeof(want), "%s:1:1: cannot read: No such file or directory", path);
	ck_assert_str_eq(e.lines[0], want);
	cfg_errors_clear(&e);

	snprintf(path, sizeof(path), "%s/conf.d", d.path);
	ck_assert_int_eq(cfg_load(path, &c, &e), -EISDIR);
	snprintf(want, sizeof(want), "%s:1:1: cannot read: Is a directory", path);
	ck_assert_str_eq(e.lines[0], want);
	cfg_errors_clear(&e);

	/* One byte over the limit, as a file and as a buffer. */
	big = malloc(CFG_MAX_FILE_SIZE + 2);
	ck_assert_ptr_nonnull(big);
	memset(big, '#', CFG_MAX_FILE_SIZE + 1);
	big[CFG_MAX_FILE_SIZE + 1] = '\0';
	snprintf(path, sizeof(path), "%s", write_file(d.path, "big.yaml", big));
	ck_assert_int_eq(cfg_load(path, &c, &e), -EINVAL);
	snprintf(want, sizeof(want), "%s:1:1: file is larger than 1048576 bytes", path);
	ck_assert_str_eq(e.lines[0], want);
	cfg_errors_clear(&e);
	ck_assert_int_eq(load_text(big, CFG_MAX_FILE_SIZE + 1, &c, &e), -EINVAL);
	ck_assert_str_eq(e.lines[0], "t.yaml:1:1: file is larger than 1048576 bytes");
	cfg_errors_clear(&e);

	/* A conf.d entry that cannot be read is an error in that entry. */
	snprintf(path, sizeof(path), "%s/conf.d/dir.yaml", d.path);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	write_file(d.path, "main.yaml", confd_main);
	snprintf(path, sizeof(path), "%s/main.yaml", d.path);
	ck_assert_int_eq(cfg_load(path, &c, &e), -EINVAL);
	snprintf(want, sizeof(want), "%s/conf.d/dir.yaml:1:1: cannot read: Is a directory", d.path);
	ck_assert_str_eq(e.lines[0], want);
	cfg_errors_clear(&e);
	tmpdir_remove(&d);
}
END_TEST

/* ------------------------------------------------------------ environment */

START_TEST(test_state_directory)
{
	struct cfg_errors e;
	struct cfg *c;

	setenv("STATE_DIRECTORY", "/var/lib/ssewatchd-a:/var/lib/other", 1);
	ck_assert_int_eq(load_text(LISTENER_A, strlen(LISTENER_A), &c, &e), 0);
	ck_assert_str_eq(c->state_dir, "/var/lib/ssewatchd-a");
	cfg_free(c);

	setenv("STATE_DIRECTORY", "/only", 1);
	ck_assert_int_eq(load_text(LISTENER_A, strlen(LISTENER_A), &c, &e), 0);
	ck_assert_str_eq(c->state_dir, "/only");
	cfg_free(c);

	/* The file wins over the environment. */
	static const char text[] = "state_dir: /from/file\n" LISTENER_A;
	ck_assert_int_eq(load_text(text, strlen(text), &c, &e), 0);
	ck_assert_str_eq(c->state_dir, "/from/file");
	cfg_free(c);

	setenv("STATE_DIRECTORY", "", 1);
	ck_assert_int_eq(load_text(LISTENER_A, strlen(LISTENER_A), &c, &e), 0);
	ck_assert_str_eq(c->state_dir, CFG_DEFAULT_STATE_DIR);
	cfg_free(c);

	/* Not systemd's (always absolute): not taken. */
	setenv("STATE_DIRECTORY", "relative/dir", 1);
	ck_assert_int_eq(load_text(LISTENER_A, strlen(LISTENER_A), &c, &e), 0);
	ck_assert_str_eq(c->state_dir, CFG_DEFAULT_STATE_DIR);
	cfg_free(c);

	unsetenv("STATE_DIRECTORY");
	ck_assert_int_eq(load_text(LISTENER_A, strlen(LISTENER_A), &c, &e), 0);
	ck_assert_str_eq(c->state_dir, CFG_DEFAULT_STATE_DIR);
	cfg_free(c);
}
END_TEST

START_TEST(test_default_path)
{
	unsetenv("SSEWATCHD_CONFIG");
	ck_assert_str_eq(cfg_default_path(NULL), CFG_DEFAULT_PATH);
	ck_assert_str_eq(cfg_default_path("/x.yaml"), "/x.yaml");
	setenv("SSEWATCHD_CONFIG", "/etc/other.yaml", 1);
	ck_assert_str_eq(cfg_default_path(NULL), "/etc/other.yaml");
	ck_assert_str_eq(cfg_default_path("/x.yaml"), "/x.yaml");
	setenv("SSEWATCHD_CONFIG", "", 1);
	ck_assert_str_eq(cfg_default_path(NULL), CFG_DEFAULT_PATH);
	unsetenv("SSEWATCHD_CONFIG");
}
END_TEST

/* ---------------------------------------------- inheritance and resolved */

START_TEST(test_inheritance)
{
	static const char text[] =
		"base_url: https://top\n"
		"heartbeat_interval: 10s\n"
		"max_event_size: 2MiB\n"
		"proxy: http://proxy:3128\n"
		"auth:\n"
		"  bearer_token_file: /dev/null\n"
		"  refresh_command: [/usr/libexec/get-token, --quiet]\n"
		"tls: {ca_bundle: [/dev/null], insecure: true}\n"
		"listeners:\n"
		"  - name: inherits\n    event: e\n    triggers: [{type: echo}]\n"
		"  - name: overrides\n    event: e\n    base_url: https://own\n    heartbeat_interval: 1m\n"
		"    proxy: ''\n"
		"    auth: {basic: {username: u, password: p}}\n"
		"    tls: {}\n"
		"    triggers: [{type: echo}]\n"
		"  - name: sse\n    protocol: sse\n    url: http://s\n    triggers: [{type: echo}]\n";
	const struct cfg_listener *a, *b, *s;
	struct cfg_errors e;
	struct cfg *c;

	ck_assert_int_eq(load_text(text, strlen(text), &c, &e), 0);
	a = &c->listeners[0];
	b = &c->listeners[1];
	s = &c->listeners[2];
	ck_assert_str_eq(a->base_url, "https://top");
	ck_assert_uint_eq(a->heartbeat_interval_usec, 10 * USEC_PER_SEC);
	ck_assert_uint_eq(a->max_event_size, 2 * 1024 * 1024);
	ck_assert_str_eq(a->proxy, "http://proxy:3128");
	ck_assert_str_eq(a->auth.bearer_token_file, "/dev/null");
	ck_assert_str_eq(a->auth.refresh_command[1], "--quiet");
	ck_assert_ptr_null(a->auth.refresh_command[2]);
	ck_assert(a->tls.insecure);
	ck_assert_str_eq(a->tls.ca_bundle[0], "/dev/null");

	/* Whole objects replace: no bearer file or refresh command left over. */
	ck_assert_str_eq(b->base_url, "https://own");
	ck_assert_uint_eq(b->heartbeat_interval_usec, 60 * USEC_PER_SEC);
	ck_assert_uint_eq(b->max_event_size, 2 * 1024 * 1024);
	ck_assert_str_eq(b->proxy, "");
	ck_assert_ptr_null(b->auth.bearer_token_file);
	ck_assert_ptr_null(b->auth.refresh_command);
	ck_assert_str_eq(b->auth.basic_username, "u");
	ck_assert_str_eq(b->auth.basic_password, "p");
	ck_assert(!b->tls.insecure);
	ck_assert_uint_eq(b->tls.n_ca_bundle, 0);

	/* sse listeners get every shared default except the aviso server. */
	ck_assert_ptr_null(s->base_url);
	ck_assert_str_eq(s->auth.bearer_token_file, "/dev/null");
	ck_assert(s->tls.insecure);
	cfg_free(c);
}
END_TEST

/* JSON's surrogate-pair escapes (json.dumps writes them) load as the
 * character; anything else that looks like one is left to libyaml. */
START_TEST(test_json_surrogate_pairs)
{
	static const struct {
		const char *value;	/* as written in the JSON string */
		const char *want;	/* the identifier's value, or NULL: an error */
	} rows[] = {
		{ "\\u00e9\\ud83d\\ude00", "\xc3\xa9\xf0\x9f\x98\x80" },
		{ "\\uD83D\\uDE00\\uD83D\\uDE01 x", "\xf0\x9f\x98\x80\xf0\x9f\x98\x81 x" },
		{ "\\udbff\\udfff", "\xf4\x8f\xbf\xbf" },
		{ "\\\\ud83d\\ude00", NULL },		/* a backslash, then text; then a lone low half */
		{ "\\\\ud83d", "\\ud83d" },			/* a backslash, then text */
		{ "\\\"\\ud83d\\ude00\\\"", "\"\xf0\x9f\x98\x80\"" },	/* escaped quotes keep the string open */
		{ "\\ud83d", NULL },				/* a lone high half */
		{ "\\ud83d\\u0041", NULL },			/* not a pair */
		{ "\\ude00\\ud83d", NULL },			/* the wrong order */
	};

	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		_cleanup_free_ char *text = strdupf(
			"{\"listeners\": [{\"name\": \"a\", \"event\": \"e\", \"base_url\": \"https://x\", "
			"\"identifiers\": {\"k\": \"%s\"}, \"triggers\": [{\"type\": \"echo\"}]}]}", rows[i].value);
		struct cfg_errors e;
		struct cfg *c;
		int r;

		ck_assert_ptr_nonnull(text);
		r = load_text(text, strlen(text), &c, &e);
		if (!rows[i].want) {
			ck_assert_msg(r < 0, "row %zu loaded", i);
			cfg_errors_clear(&e);
			continue;
		}
		ck_assert_msg(r == 0, "row %zu: %s", i, e.n ? e.lines[0] : "?");
		ck_assert_str_eq(json_string_value(json_object_get(c->listeners[0].identifiers, "k")), rows[i].want);
		cfg_free(c);
	}
}
END_TEST

/* Positions after a rewritten pair are the file's own columns. */
START_TEST(test_json_surrogate_pair_positions)
{
	static const char text[] =
		"{\"listeners\": [{\"name\": \"a\", \"event\": \"e\", \"base_url\": \"https://x\",\n"
		"  \"identifiers\": {\"k\": \"\\ud83d\\ude00\\ud83d\\ude01\"}, \"bogus\": 1,\n"
		"  \"triggers\": [{\"type\": \"echo\"}]}]}\n";
	static const char bad_syntax[] = "{\"a\": \"\\ud83d\\ude00\", \"b\": \"\\q\"}\n";
	struct cfg_errors e;
	struct cfg *c;

	ck_assert_int_lt(load_text(text, strlen(text), &c, &e), 0);
	ck_assert_uint_eq(e.n, 1);
	/* "bogus" starts at column 53 of line 2 as written */
	ck_assert_str_eq(e.lines[0], "t.yaml:2:53: listeners[0].bogus: unknown key 'bogus'");
	cfg_errors_clear(&e);

	ck_assert_int_lt(load_text(bad_syntax, strlen(bad_syntax), &c, &e), 0);
	ck_assert_uint_eq(e.n, 1);
	/* the bad escape \q at column 29, its string from column 28 */
	ck_assert_msg(strstr(e.lines[0], "t.yaml:1:29: YAML syntax error: ") == e.lines[0] &&
			      strstr(e.lines[0], "at line 1, column 28)"), "%s", e.lines[0]);
	cfg_errors_clear(&e);
}
END_TEST

/* The same bytes in a YAML file that does not start like JSON are YAML's:
 * libyaml's refusal stands. */
START_TEST(test_yaml_surrogates_untouched)
{
	static const char text[] = "identifiers_unused: \"\\ud83d\\ude00\"\n" LISTENER_A;
	struct cfg_errors e;
	struct cfg *c;

	ck_assert_int_lt(load_text(text, strlen(text), &c, &e), 0);
	ck_assert_uint_ge(e.n, 1);
	ck_assert_ptr_nonnull(strstr(e.lines[0], "invalid Unicode character escape code"));
	cfg_errors_clear(&e);
}
END_TEST

/* Keys apply in any order: ca_bundle after insecure keeps it. */
START_TEST(test_tls_keys_in_any_order)
{
	static const char text[] =
		"tls: {danger_accept_invalid_certs: true, ca_bundle: [/dev/null]}\n"
		"listeners:\n"
		"  - name: a\n    event: e\n    base_url: https://x\n    triggers: [{type: echo}]\n"
		"  - name: b\n    event: e\n    base_url: https://x\n    tls: {insecure: true, ca_bundle: /dev/null}\n"
		"    triggers: [{type: echo}]\n";
	struct cfg_errors e;
	struct cfg *c;

	ck_assert_int_eq(load_text(text, strlen(text), &c, &e), 0);
	for (size_t i = 0; i < 2; i++) {
		ck_assert(c->listeners[i].tls.insecure);
		ck_assert_uint_eq(c->listeners[i].tls.n_ca_bundle, 1);
		ck_assert_str_eq(c->listeners[i].tls.ca_bundle[0], "/dev/null");
	}
	cfg_free(c);
}
END_TEST

START_TEST(test_resolved_and_redacted)
{
	static const char text[] =
		"auth: {bearer_token: s3cr3t-token}\n"
		"listeners:\n"
		"  - name: a\n    base_url: 'https://user:pw@aviso/x'\n    event: e\n    triggers: [{type: echo}]\n"
		"  - name: b\n    base_url: https://aviso\n    event: e\n"
		"    auth: {basic: {username: alice, password: hunter2}}\n"
		"    triggers: [{type: post, url: 'https://hook', headers: {Authorization: Bearer xyz, X-Ok: visible,"
		" X-Api-Key: k3y-val}},\n"
		"               {type: command, argv: [/bin/true], env: {DB_PASSWORD: pa55, PLAIN: shown}}]\n"
		"  - name: c\n    base_url: https://aviso\n    event: e\n"
		"    auth: {basic: {username: alice, password_file: /dev/null}}\n"
		"    triggers: [{type: echo}]\n";
	struct cfg_errors e;
	struct cfg *c, *c2;
	json_t *j;
	char *dump;

	ck_assert_int_eq(load_text(text, strlen(text), &c, &e), 0);

	/* The comparison a reload makes sees the secrets... */
	{
		static const struct {
			const char *secret, *changed;
			size_t listener;
		} rows[] = {
			{ "s3cr3t-token", "s3cr3t-tokeN", 0 },	/* the top level's, which a inherits */
			{ "user:pw@", "user:pX@", 0 },
			{ "hunter2", "hunter3", 1 },
			{ "Bearer xyz", "Bearer xyZ", 1 },
			{ "k3y-val", "k3y-vaL", 1 },
			{ "pa55", "pa56", 1 },
		};

		for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
			char *changed = strdup(text);
			char *p = strstr(changed, rows[i].secret);

			ck_assert_ptr_nonnull(p);
			memcpy(p, rows[i].changed, strlen(rows[i].changed));
			ck_assert_int_eq(load_text(changed, strlen(changed), &c2, &e), 0);
			ck_assert_msg(!cfg_listener_same(&c->listeners[rows[i].listener], &c2->listeners[rows[i].listener]),
				      "%s changed, listener %zu the same", rows[i].secret, rows[i].listener);
			/* ...and nothing else: b has its own auth */
			if (i == 0)
				ck_assert(cfg_listener_same(&c->listeners[1], &c2->listeners[1]));
			cfg_free(c2);
			free(changed);
		}
	}

	/* ...the JSON for humans does not. */
	for (size_t i = 0; i < c->n_listeners; i++) {
		j = cfg_listener_to_json(&c->listeners[i]);
		ck_assert_ptr_nonnull(j);
		dump = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		ck_assert_ptr_null(strstr(dump, "s3cr3t"));
		ck_assert_ptr_null(strstr(dump, "hunter2"));
		ck_assert_ptr_null(strstr(dump, "xyz"));
		ck_assert_ptr_null(strstr(dump, "k3y-val"));
		ck_assert_ptr_null(strstr(dump, "pa55"));
		ck_assert_ptr_null(strstr(dump, ":pw@"));
		if (i == 0) {
			ck_assert_ptr_nonnull(strstr(dump, "\"bearer_token\":\"(secret)\""));
			ck_assert_ptr_nonnull(strstr(dump, "\"base_url\":\"https://(secret)@aviso/x\""));
		}
		if (i == 1) {
			ck_assert_ptr_nonnull(strstr(dump, "\"basic\":{\"password\":\"(secret)\",\"username\":\"alice\"}"));
			ck_assert_ptr_nonnull(strstr(dump, "\"headers\":{\"Authorization\":\"(secret)\",\"X-Api-Key\":\"(secret)\","
							   "\"X-Ok\":\"visible\"}"));
			ck_assert_ptr_nonnull(strstr(dump, "\"env\":{\"DB_PASSWORD\":\"(secret)\",\"PLAIN\":\"shown\"}"));
		}
		if (i == 2) /* a file name is not a secret */
			ck_assert_ptr_nonnull(strstr(dump, "\"password_file\":\"/dev/null\""));
		free(dump);
		json_decref(j);
	}

	/* Same text, equal listeners; a changed trigger, a different one. */
	ck_assert_int_eq(load_text(text, strlen(text), &c2, &e), 0);
	for (size_t i = 0; i < c->n_listeners; i++)
		ck_assert(cfg_listener_same(&c->listeners[i], &c2->listeners[i]));
	ck_assert(!cfg_listener_same(&c->listeners[0], &c->listeners[1]));
	cfg_free(c2);
	{
		char *changed = strdup(text);
		char *p = strstr(changed, "https://hook");

		p[8] = 'c';	/* https://cook */
		ck_assert_int_eq(load_text(changed, strlen(changed), &c2, &e), 0);
		ck_assert(cfg_listener_same(&c->listeners[0], &c2->listeners[0]));
		ck_assert(!cfg_listener_same(&c->listeners[1], &c2->listeners[1]));
		cfg_free(c2);
		free(changed);
	}
	cfg_free(c);
}
END_TEST

/* ------------------------------------------------------------- robustness */

static const char full_config[] =
	"# every kind of thing, so that damage lands everywhere\n"
	"state_dir: /var/lib/ssewatchd\n"
	"base_url: https://aviso.example.int\n"
	"heartbeat_interval: 30s\n"
	"auth:\n"
	"  bearer_token_file: /dev/null\n"
	"  refresh_command: {argv: [/bin/true], timeout: 5s}\n"
	"tls: {ca_bundle: [/dev/null], insecure: false}\n"
	"defaults: &d {type: echo}\n"
	"listeners:\n"
	"  - name: enfo-steps\n"
	"    event: mars\n"
	"    identifiers: {class: od, stream: enfo, step: {in: [1, 2, 3]}}\n"
	"    from_id: \"100\"\n"
	"    triggers:\n"
	"      - type: command\n"
	"        argv: [/usr/local/bin/fetch, \"--step\", \"{{ notification.identifier.step }}\"]\n"
	"        timeout: 10m\n"
	"        retries: 3\n"
	"      - type: post\n"
	"        url: https://hooks.example.int/aviso\n"
	"      - type: log\n"
	"        path: /var/log/ssewatchd/enfo.ndjson\n"
	"  - {\"name\": \"wiki\", \"protocol\": \"sse\", \"url\": \"https://stream.example.org/rc\",\n"
	"     \"headers\": {\"User-Agent\": \"ops-bot\"}, \"triggers\": [{\"type\": \"echo\"}]}\n";

/* The unknown "defaults" key makes the whole file fail; without it, it loads. */
static const char *full_ok(void)
{
	static char buf[sizeof(full_config)];
	const char *d = strstr(full_config, "defaults:");
	const char *nl = strchr(d, '\n') + 1;

	memcpy(buf, full_config, (size_t)(d - full_config));
	strcpy(buf + (d - full_config), nl);
	return buf;
}

START_TEST(test_full_config_loads)
{
	struct cfg_errors e;
	struct cfg *c;
	const char *ok = full_ok();

	ck_assert_int_eq(load_text(full_config, strlen(full_config), &c, &e), -EINVAL);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_str_eq(e.lines[0], "t.yaml:9:1: defaults: unknown key 'defaults'");
	cfg_errors_clear(&e);
	ck_assert_int_eq(load_text(ok, strlen(ok), &c, &e), 0);
	ck_assert_uint_eq(c->n_listeners, 2);
	cfg_free(c);
}
END_TEST

START_TEST(test_truncate_everywhere)
{
	const char *ok = full_ok();
	size_t len = strlen(ok), loaded = 0;

	for (size_t at = 0; at <= len; at++) {
		struct cfg_errors e;
		struct cfg *c;
		int r = load_text(ok, at, &c, &e);

		check_invariants("truncated", at, r, c, &e);
		loaded += r == 0;
		cfg_free(c);
		cfg_errors_clear(&e);
	}
	/* Cut after a complete listener, the file is still valid. */
	ck_assert_uint_gt(loaded, 0);
}
END_TEST

START_TEST(test_damage_everywhere)
{
	static const char replacements[] = { '\0', '\xff', '{', ':', '&', '*', '\n', ' ', '"' };
	const char *ok = full_ok();
	size_t len = strlen(ok);
	char *buf = malloc(len + 1);

	ck_assert_ptr_nonnull(buf);
	for (size_t at = 0; at < len; at++) {
		for (size_t k = 0; k <= ELEMENTSOF(replacements); k++) {
			struct cfg_errors e;
			struct cfg *c;
			size_t n = len;
			int r;

			memcpy(buf, ok, len);
			if (k == ELEMENTSOF(replacements)) { /* delete the byte */
				memmove(buf + at, buf + at + 1, len - at - 1);
				n--;
			} else
				buf[at] = replacements[k];
			r = load_text(buf, n, &c, &e);
			check_invariants("damaged", at * 16 + k, r, c, &e);
			cfg_free(c);
			cfg_errors_clear(&e);
		}
	}
	free(buf);
}
END_TEST

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core"), *robust = tcase_create("robustness");

	tcase_add_checked_fixture(tc, error_line_re_setup, error_line_re_teardown);
	tcase_add_checked_fixture(robust, error_line_re_setup, error_line_re_teardown);

	tcase_add_loop_test(tc, test_vector, 0, ELEMENTSOF(vectors));
	tcase_add_test(tc, test_error_cap);
	tcase_add_test(tc, test_alias_sharing_is_fine);
	tcase_add_test(tc, test_alias_bomb);
	tcase_add_test(tc, test_depth_limit);
	tcase_add_loop_test(tc, test_duration, 0, ELEMENTSOF(durations));
	tcase_add_test(tc, test_durations_in_file);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_all_settings);
	tcase_add_test(tc, test_max_pending_default_follows_commit);
	tcase_add_test(tc, test_yaml_equals_json);
	tcase_add_test(tc, test_core_schema);
	tcase_add_test(tc, test_aviso_cli_file);
	tcase_add_test(tc, test_relative_paths);
	tcase_add_test(tc, test_inherited_auth_warning);
	tcase_add_test(tc, test_check_shows_resolved_trigger_defaults);
	tcase_add_test(tc, test_confd);
	tcase_add_test(tc, test_file_errors);
	tcase_add_test(tc, test_state_directory);
	tcase_add_test(tc, test_default_path);
	tcase_add_test(tc, test_inheritance);
	tcase_add_test(tc, test_tls_keys_in_any_order);
	tcase_add_test(tc, test_json_surrogate_pairs);
	tcase_add_test(tc, test_json_surrogate_pair_positions);
	tcase_add_test(tc, test_yaml_surrogates_untouched);
	tcase_add_test(tc, test_resolved_and_redacted);
	suite_add_tcase(s, tc);

	/* Thousands of loads each; generous for sanitizer and valgrind runs. */
	tcase_set_timeout(robust, 300);
	tcase_add_test(robust, test_full_config_loads);
	tcase_add_test(robust, test_truncate_everywhere);
	tcase_add_test(robust, test_damage_everywhere);
	suite_add_tcase(s, robust);
	return s;
}
