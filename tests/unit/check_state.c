/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "macro.h"
#include "state.h"
#include "suites.h"
#include "testlib.h"
#include "uring.h"
#include "util.h"

#define SRC "/var/lib/ssewatchd/wiki.json"

/* ------------------------------------------------------------ helpers */

/* For hot loops: Check's own assertions cost a lot per call under valgrind. */
#define CHECK(cond)                                             \
	do {                                                    \
		if (!(cond))                                    \
			ck_abort_msg("check failed: %s", #cond); \
	} while (0)

static char *make_tmpdir(void)
{
	char tmpl[] = "/tmp/ssewatchd-state-XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	return strdup(tmpl);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		(void)chmod(path, 0700);
	return remove(path) < 0 ? -1 : 0;
}

static void rm_tree(const char *path)
{
	(void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *path_join(const char *a, const char *b)
{
	char *p = NULL;

	ck_assert_int_ge(asprintf(&p, "%s/%s", a, b), 0);
	return p;
}

static void write_file(const char *dir, const char *name, const char *data, size_t len)
{
	_cleanup_free_ char *p = path_join(dir, name);
	_cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
}

/* The whole file, NUL-terminated; NULL if it cannot be read. */
static char *read_file(const char *dir, const char *name, size_t *ret_len)
{
	_cleanup_free_ char *p = path_join(dir, name);
	FILE *f = fopen(p, "re");
	char *buf;
	long n;

	if (!f)
		return NULL;
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	if (ret_len)
		*ret_len = (size_t)n;
	return buf;
}

/* Entries of dir other than "." and "..", sorted and joined by spaces. */
static char *list_dir(const char *dir)
{
	struct dirent **ents;
	size_t len = 0;
	char *out;
	int n = scandir(dir, &ents, NULL, alphasort);

	ck_assert_int_ge(n, 0);
	out = calloc(1, 1);
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;

		if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
			size_t k = strlen(name);

			out = realloc(out, len + k + 2);
			ck_assert_ptr_nonnull(out);
			if (len)
				out[len++] = ' ';
			memcpy(out + len, name, k + 1);
			len += k;
		}
		free(ents[i]);
	}
	free(ents);
	return out;
}

static struct statedir *open_locked(const char *dir)
{
	_cleanup_free_ char *err = NULL;
	struct statedir *d = NULL;

	ck_assert_msg(statedir_open(dir, STATEDIR_LOCK | STATEDIR_CREATE, &d, &err) == 0, "%s", err);
	ck_assert_ptr_nonnull(d);
	return d;
}

static json_t *notification(int i)
{
	json_t *n = json_pack("{s:i,s:s}", "i", i, "data", "payload");

	ck_assert_ptr_nonnull(n);
	return n;
}

/* A state with a string cursor and three pending notifications, one already popped. */
static struct listener_state *sample_state(void)
{
	json_t *identity = json_pack("{s:s,s:s}", "protocol", "sse", "url", "https://stream.example.org/v2/x");
	struct listener_state *s = listener_state_new("wiki", identity);
	uint64_t seq;

	json_decref(identity);
	ck_assert_ptr_nonnull(s);
	for (int i = 0; i < 4; i++) {
		json_t *n = notification(i);

		/* A string with a NUL and non-ASCII text must survive the round
		 * trip (set before the push: a pushed notification is not changed). */
		if (i == 2)
			ck_assert_int_eq(json_object_set_new(n, "bin", json_stringn("a\0b\xc3\xa9", 5)), 0);
		ck_assert_int_eq(listener_state_push(s, n, 1700000000000000 + (uint64_t)i, &seq), 0);
	}
	listener_state_pop(s);
	s->pending[0].triggers_done = 2;
	s->retry_ms = 3000;
	ck_assert_int_eq(listener_state_set_cursor(s, json_string("id-41")), 0);
	return s;
}

static char *dump(const json_t *j)
{
	char *t = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	ck_assert_ptr_nonnull(t);
	return t;
}

/*
 * Mounts a tmpfs on dir in a private mount namespace of this process. Check
 * runs each test in a child of its own, so the namespace dies with the test;
 * under CK_FORK=no the runner keeps a private namespace, which is harmless.
 * Without the privilege the calling test is skipped, with the reason printed.
 */
static bool mount_tmpfs(const char *dir, const char *opts, const char *test)
{
	if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
		unit_skip("state", test, "cannot mount a tmpfs in a private mount namespace: %s", strerror(errno));
		return false;
	}
	return true;
}

/* ------------------------------------------------------------ vectors */

/* Each piece but the last carries its trailing comma, so "" drops a member. */
#define FMT "\"format\":\"ssewatchd-state\","
#define VER "\"version\":1,"
#define LIS "\"listener\":\"wiki\","
#define IDN "\"identity\":{\"protocol\":\"sse\",\"url\":\"https://stream.example.org/x\"},"
#define IDN_AVISO "\"identity\":{\"protocol\":\"aviso\",\"base_url\":\"https://a\",\"event\":\"mars\"},"
#define CUR "\"cursor\":\"abc\","
#define NXT "\"next_seq\":4,"
#define DLV "\"delivered\":1,"
#define RTY "\"retry_ms\":0,"
#define ENTRY_(seq, usec, done, notif) \
	"{\"seq\":" seq ",\"received_usec\":" usec ",\"triggers_done\":" done ",\"notification\":" notif "}"
#define ENTRY(seq, done) ENTRY_(seq, "1700000000000000", done, "{\"data\":\"x\"}")
#define PND "\"pending\":[" ENTRY("2", "0") "," ENTRY("3", "1") "]"
#define PND1(entry) "\"pending\":[" entry "]"
#define DOC(f, v, l, i, c, n, d, r, p) "{" f v l i c n d r p "}"
#define BASE DOC(FMT, VER, LIS, IDN, CUR, NXT, DLV, RTY, PND)

static const struct vector {
	const char *what;
	const char *json;
	int r;
	const char *msg;	/* after SRC */
} vectors[] = {
	{ "valid", BASE, 0, NULL },
	{ "valid, integer cursor", DOC(FMT, VER, LIS, IDN_AVISO, "\"cursor\":42,", NXT, DLV, RTY, PND), 0, NULL },
	{ "sse listener, integer cursor", DOC(FMT, VER, LIS, IDN, "\"cursor\":42,", NXT, DLV, RTY, PND), -EBADMSG,
	  ": cursor: is a number, but an sse listener's cursor is an event id (a string)" },
	{ "aviso listener, string cursor", DOC(FMT, VER, LIS, IDN_AVISO, CUR, NXT, DLV, RTY, PND), -EBADMSG,
	  ": cursor: is a string, but an aviso listener's cursor is a sequence number" },
	{ "valid, null cursor, no pending",
	  DOC(FMT, VER, LIS, IDN, "\"cursor\":null,", "\"next_seq\":1,", "\"delivered\":0,", RTY, "\"pending\":[]"),
	  0, NULL },
	{ "valid, limits",
	  DOC(FMT, VER, LIS, "\"identity\":{},", "\"cursor\":9223372036854775807,",
	      "\"next_seq\":9223372036854775807,", "\"delivered\":9223372036854775807,",
	      "\"retry_ms\":4294967295,",
	      PND1(ENTRY_("9223372036854775806", "9223372036854775807", "1000", "{\"n\":null}"))),
	  0, NULL },
	{ "valid, members in another order, whitespace, NUL in a string",
	  "\n{ \"pending\": [ {\"notification\": {\"d\": \"a\\u0000b\"}, \"triggers_done\": 0, \"seq\": 7,"
	  " \"received_usec\": 0} ],\r\n \"retry_ms\": 5, \"next_seq\": 8, \"delivered\": 0, \"cursor\": \"\","
	  " \"identity\": {}, \"listener\": \"wiki\", \"version\": 1, \"format\": \"ssewatchd-state\" }\n",
	  0, NULL },

	{ "valid, bootstrap", DOC(FMT, VER, LIS, IDN, "\"cursor\":null,\"bootstrap\":true,", NXT, DLV, RTY, PND), 0,
	  NULL },
	{ "bootstrap false", DOC(FMT, VER, LIS, IDN, "\"bootstrap\":false,\"cursor\":null,", NXT, DLV, RTY, PND),
	  -EBADMSG, ": bootstrap: expected true (or no such member)" },
	{ "bootstrap not a boolean", DOC(FMT, VER, LIS, IDN, "\"bootstrap\":1,\"cursor\":null,", NXT, DLV, RTY, PND),
	  -EBADMSG, ": bootstrap: expected true (or no such member)" },
	{ "bootstrap with a cursor", DOC(FMT, VER, LIS, IDN, "\"bootstrap\":true," CUR, NXT, DLV, RTY, PND),
	  -EBADMSG, ": bootstrap: is true, but there is a cursor" },

	/* not JSON, or not ours */
	{ "empty", "", -EBADMSG, ":1:0: '[' or '{' expected near end of file" },
	{ "array", "[]", -EBADMSG, ": not a JSON object" },
	{ "truncated", "{\"format\":\"ssewatchd-state\",\"vers", -EBADMSG,
	  ":1:33: premature end of input near '\"vers'" },
	{ "trailing garbage", BASE "x", -EBADMSG, ":1:371: end of file expected near 'x'" },
	{ "two documents", BASE BASE, -EBADMSG, ":1:371: end of file expected near '{'" },
	{ "duplicate key", "{\"format\":\"ssewatchd-state\",\"format\":\"x\"}", -EBADMSG,
	  ":1:36: duplicate object key near '\"format\"'" },
	{ "invalid UTF-8", "{\"format\":\"\xff\"}", -EBADMSG, ":1:11: unable to decode byte 0xff near '\"'" },
	{ "raw NUL byte", "{\"format\":\"a\0b\"}", -EBADMSG, ":1:12: control character 0x0 near '\"a'" },
	{ "integer too big", DOC(FMT, VER, LIS, IDN, CUR, "\"next_seq\":99999999999999999999,", DLV, RTY, PND),
	  -EBADMSG, ":1:171: too big integer near '99999999999999999999'" },
	{ "format missing", DOC("", VER, LIS, IDN, CUR, NXT, DLV, RTY, PND), -EBADMSG, ": format: missing" },
	{ "format wrong", DOC("\"format\":\"aviso-state\",", VER, LIS, IDN, CUR, NXT, DLV, RTY, PND), -EBADMSG,
	  ": format: is \"aviso-state\", expected \"ssewatchd-state\"" },
	{ "format with NUL", DOC("\"format\":\"ssewatchd-state\\u0000\",", VER, LIS, IDN, CUR, NXT, DLV, RTY, PND),
	  -EBADMSG, ": format: is \"ssewatchd-state\\x00\", expected \"ssewatchd-state\"" },
	{ "format not a string", DOC("\"format\":1,", VER, LIS, IDN, CUR, NXT, DLV, RTY, PND), -EBADMSG,
	  ": format: expected a string" },

	/* version */
	{ "newer version", DOC(FMT, "\"version\":2,", LIS, IDN, CUR, NXT, DLV, RTY, PND), -EBADMSG,
	  ": was written by a newer ssewatchd (version 2)" },
	{ "newer version with new members",
	  DOC(FMT, "\"version\":3,", LIS, IDN, "\"shiny\":true,", NXT, DLV, RTY, PND), -EBADMSG,
	  ": was written by a newer ssewatchd (version 3)" },
	{ "version 0", DOC(FMT, "\"version\":0,", LIS, IDN, CUR, NXT, DLV, RTY, PND), -EBADMSG,
	  ": version: 0 is out of range (1..1)" },
	{ "version a string", DOC(FMT, "\"version\":\"1\",", LIS, IDN, CUR, NXT, DLV, RTY, PND), -EBADMSG,
	  ": version: expected an integer" },
	{ "version missing", DOC(FMT, "", LIS, IDN, CUR, NXT, DLV, RTY, PND), -EBADMSG, ": version: missing" },

	/* members */
	{ "unknown member (a typo)", DOC(FMT, VER, LIS, IDN, CUR, "\"nxt_seq\":4,", DLV, RTY, PND), -EBADMSG,
	  ": nxt_seq: unknown member" },
	{ "unknown member with odd bytes", DOC(FMT, VER, LIS, IDN, CUR, NXT, DLV "\"a b\\n\":1,", RTY, PND),
	  -EBADMSG, ": \"a b\\x0a\": unknown member" },
	{ "listener missing", DOC(FMT, VER, "", IDN, CUR, NXT, DLV, RTY, PND), -EBADMSG, ": listener: missing" },
	{ "listener mismatch", DOC(FMT, VER, "\"listener\":\"enfo\",", IDN, CUR, NXT, DLV, RTY, PND), -EBADMSG,
	  ": listener: is \"enfo\", expected \"wiki\"" },
	{ "listener with NUL", DOC(FMT, VER, "\"listener\":\"wiki\\u0000\",", IDN, CUR, NXT, DLV, RTY, PND),
	  -EBADMSG, ": listener: is \"wiki\\x00\", expected \"wiki\"" },
	{ "listener not a string", DOC(FMT, VER, "\"listener\":null,", IDN, CUR, NXT, DLV, RTY, PND), -EBADMSG,
	  ": listener: expected a string" },
	{ "identity not an object", DOC(FMT, VER, LIS, "\"identity\":[],", CUR, NXT, DLV, RTY, PND), -EBADMSG,
	  ": identity: expected an object" },
	{ "identity missing", DOC(FMT, VER, LIS, "", CUR, NXT, DLV, RTY, PND), -EBADMSG, ": identity: missing" },
	{ "cursor missing", DOC(FMT, VER, LIS, IDN, "", NXT, DLV, RTY, PND), -EBADMSG, ": cursor: missing" },
	{ "cursor negative", DOC(FMT, VER, LIS, IDN, "\"cursor\":-1,", NXT, DLV, RTY, PND), -EBADMSG,
	  ": cursor: -1 is negative" },
	{ "cursor real", DOC(FMT, VER, LIS, IDN, "\"cursor\":1.5,", NXT, DLV, RTY, PND), -EBADMSG,
	  ": cursor: expected null, a string or a non-negative integer" },
	{ "cursor boolean", DOC(FMT, VER, LIS, IDN, "\"cursor\":true,", NXT, DLV, RTY, PND), -EBADMSG,
	  ": cursor: expected null, a string or a non-negative integer" },
	{ "cursor with LF", DOC(FMT, VER, LIS, IDN, "\"cursor\":\"a\\nb\",", NXT, DLV, RTY, PND), -EBADMSG,
	  ": cursor: contains a NUL, CR or LF character" },
	{ "cursor with NUL", DOC(FMT, VER, LIS, IDN, "\"cursor\":\"a\\u0000\",", NXT, DLV, RTY, PND), -EBADMSG,
	  ": cursor: contains a NUL, CR or LF character" },
	{ "next_seq 0", DOC(FMT, VER, LIS, IDN, CUR, "\"next_seq\":0,", DLV, RTY, "\"pending\":[]"), -EBADMSG,
	  ": next_seq: 0 is out of range (1..9223372036854775807)" },
	{ "next_seq real", DOC(FMT, VER, LIS, IDN, CUR, "\"next_seq\":4.0,", DLV, RTY, PND), -EBADMSG,
	  ": next_seq: expected an integer" },
	{ "next_seq not above pending", DOC(FMT, VER, LIS, IDN, CUR, "\"next_seq\":3,", DLV, RTY, PND), -EBADMSG,
	  ": next_seq: not greater than pending[1].seq" },
	{ "delivered negative", DOC(FMT, VER, LIS, IDN, CUR, NXT, "\"delivered\":-1,", RTY, PND), -EBADMSG,
	  ": delivered: -1 is out of range (0..9223372036854775807)" },
	{ "retry_ms too big", DOC(FMT, VER, LIS, IDN, CUR, NXT, DLV, "\"retry_ms\":4294967296,", PND), -EBADMSG,
	  ": retry_ms: 4294967296 is out of range (0..4294967295)" },
	{ "pending missing", DOC(FMT, VER, LIS, IDN, CUR, NXT, DLV, "\"retry_ms\":0", ""), -EBADMSG,
	  ": pending: missing" },
	{ "pending an object", DOC(FMT, VER, LIS, IDN, CUR, NXT, DLV, RTY, "\"pending\":{}"), -EBADMSG,
	  ": pending: expected an array" },

	/* pending entries */
	{ "entry not an object", DOC(FMT, VER, LIS, IDN, CUR, NXT, DLV, RTY, PND1("3")), -EBADMSG,
	  ": pending[0]: expected an object" },
	{ "seqs not increasing",
	  DOC(FMT, VER, LIS, IDN, CUR, "\"next_seq\":9,", DLV, RTY,
	      "\"pending\":[" ENTRY("1", "0") "," ENTRY("5", "0") "," ENTRY("5", "0") "]"),
	  -EBADMSG, ": pending[2].seq: not greater than pending[1].seq" },
	{ "seqs decreasing",
	  DOC(FMT, VER, LIS, IDN, CUR, NXT, DLV, RTY, "\"pending\":[" ENTRY("3", "0") "," ENTRY("2", "0") "]"),
	  -EBADMSG, ": pending[1].seq: not greater than pending[0].seq" },
	{ "seq 0", DOC(FMT, VER, LIS, IDN, CUR, NXT, DLV, RTY, PND1(ENTRY("0", "0"))), -EBADMSG,
	  ": pending[0].seq: 0 is out of range (1..9223372036854775807)" },
	{ "seq missing",
	  DOC(FMT, VER, LIS, IDN, CUR, NXT, DLV, RTY,
	      PND1("{\"received_usec\":0,\"triggers_done\":0,\"notification\":{}}")),
	  -EBADMSG, ": pending[0].seq: missing" },
	{ "triggers_done too big", DOC(FMT, VER, LIS, IDN, CUR, NXT, DLV, RTY, PND1(ENTRY("2", "1001"))), -EBADMSG,
	  ": pending[0].triggers_done: 1001 is out of range (0..1000)" },
	{ "triggers_done negative", DOC(FMT, VER, LIS, IDN, CUR, NXT, DLV, RTY, PND1(ENTRY("2", "-1"))), -EBADMSG,
	  ": pending[0].triggers_done: -1 is out of range (0..1000)" },
	{ "triggers_done a string", DOC(FMT, VER, LIS, IDN, CUR, NXT, DLV, RTY, PND1(ENTRY("2", "\"0\""))),
	  -EBADMSG, ": pending[0].triggers_done: expected an integer" },
	{ "received_usec negative",
	  DOC(FMT, VER, LIS, IDN, CUR, NXT, DLV, RTY, PND1(ENTRY_("2", "-5", "0", "{}"))), -EBADMSG,
	  ": pending[0].received_usec: -5 is out of range (0..9223372036854775807)" },
	{ "notification a string",
	  DOC(FMT, VER, LIS, IDN, CUR, NXT, DLV, RTY, PND1(ENTRY_("2", "0", "0", "\"x\""))), -EBADMSG,
	  ": pending[0].notification: expected an object" },
	{ "notification missing",
	  DOC(FMT, VER, LIS, IDN, CUR, NXT, DLV, RTY, PND1("{\"seq\":2,\"received_usec\":0,\"triggers_done\":0}")),
	  -EBADMSG, ": pending[0].notification: missing" },
	{ "unknown member in an entry",
	  DOC(FMT, VER, LIS, IDN, CUR, NXT, DLV, RTY,
	      "\"pending\":[" ENTRY("2", "0") ",{\"seq\":3,\"received_usec\":0,\"triggers_done\":0,"
	      "\"notification\":{},\"tries\":1}]"),
	  -EBADMSG, ": pending[1].tries: unknown member" },
};

START_TEST(test_vectors)
{
	const struct vector *v = &vectors[_i];
	_cleanup_free_ char *err = NULL, *want = NULL;
	struct listener_state *s = NULL;
	int r;

	r = listener_state_from_bytes(v->json, strlen(v->json) + (strcmp(v->what, "raw NUL byte") == 0 ? 4 : 0),
				      "wiki", SRC, &s, &err);
	ck_assert_msg(r == v->r, "%s: got %d (%s), want %d", v->what, r, err ? err : "", v->r);
	if (r < 0) {
		ck_assert_ptr_null(s);
		ck_assert_int_ge(asprintf(&want, SRC "%s", v->msg), 0);
		ck_assert_msg(err && strcmp(err, want) == 0, "%s:\n got  %s\n want %s", v->what, err, want);
	} else {
		/* What was read is exactly what would be written back. */
		json_t *orig = json_loads(v->json, JSON_ALLOW_NUL, NULL), *back = listener_state_to_json(s);

		ck_assert_ptr_null(err);
		ck_assert_ptr_nonnull(back);
		ck_assert_msg(json_equal(orig, back), "%s: does not round-trip", v->what);
		json_decref(orig);
		json_decref(back);
		listener_state_free(s);
	}
}
END_TEST

START_TEST(test_expected_name_null)
{
	_cleanup_free_ char *err = NULL;
	struct listener_state *s = NULL;
	static const char bad_name[] = DOC(FMT, VER, "\"listener\":\"..\",", IDN, CUR, NXT, DLV, RTY, PND);

	ck_assert_int_eq(listener_state_from_bytes(BASE, strlen(BASE), NULL, SRC, &s, &err), 0);
	ck_assert_str_eq(s->name, "wiki");
	listener_state_free(s);
	s = NULL;
	ck_assert_int_eq(listener_state_from_bytes(bad_name, strlen(bad_name), NULL, SRC, &s, &err), -EBADMSG);
	ck_assert_str_eq(err, SRC ": listener: \"..\" is not a valid listener name");
	ck_assert_ptr_null(s);
}
END_TEST

/* Credentials an earlier build kept in an identity are read as they are
 * (what is read is what is written back) and hidden by the helper. */
START_TEST(test_identity_without_secrets)
{
	_cleanup_free_ char *err = NULL, *dump = NULL, *dump2 = NULL;
	struct listener_state *s = NULL;
	json_t *hidden, *original;
	static const char doc[] =
		DOC(FMT, VER, LIS, "\"identity\":{\"protocol\":\"aviso\",\"base_url\":\"https://u:pw@h\",\"url\":1},",
		    "\"cursor\":7,", NXT, DLV, RTY, PND);

	ck_assert_int_eq(listener_state_from_bytes(doc, strlen(doc), "wiki", SRC, &s, &err), 0);
	dump = json_dumps(s->identity, JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_str_eq(dump, "{\"base_url\":\"https://u:pw@h\",\"protocol\":\"aviso\",\"url\":1}");
	hidden = state_identity_without_secrets(s->identity);
	dump2 = json_dumps(hidden, JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_str_eq(dump2, "{\"base_url\":\"https://(secret)@h\",\"protocol\":\"aviso\",\"url\":1}");
	json_decref(hidden);
	free(dump2);
	dump2 = json_dumps(s->identity, JSON_COMPACT | JSON_SORT_KEYS);	/* the original is untouched */
	ck_assert_str_eq(dump2, dump);
	listener_state_free(s);

	original = json_pack("{s:s, s:s}", "protocol", "sse", "url", "https://h/x?topic=a&access_token=t#f");
	hidden = state_identity_without_secrets(original);
	free(dump2);
	dump2 = json_dumps(hidden, JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_str_eq(dump2, "{\"protocol\":\"sse\",\"url\":\"https://h/x?topic=a&access_token=(secret)#f\"}");
	json_decref(hidden);
	json_decref(original);
}
END_TEST

START_TEST(test_from_bytes_size_bound)
{
	_cleanup_free_ char *err = NULL;
	struct listener_state *s = NULL;

	/* The size is refused before a byte is read. */
	ck_assert_int_eq(listener_state_from_bytes("{}", (size_t)STATE_MAX_FILE_SIZE + 1, "wiki", SRC, &s, &err),
			 -EBADMSG);
	ck_assert_str_eq(err, SRC ": too large (1073741825 bytes, the limit is 1073741824)");
	ck_assert_ptr_null(s);
}
END_TEST

/* text, the values state_json_values() counts (an upper bound, exact without
 * empty containers), and the values jansson builds (-1: not JSON). */
static const struct {
	const char *text;
	size_t counted;
	int built;
} value_vectors[] = {
	{ "1", 1, 1 },
	{ "\"a\"", 1, 1 },
	{ "[]", 2, 1 },
	{ "{}", 2, 1 },
	{ "[1,2,3]", 4, 4 },
	{ "{\"a\":1,\"b\":[true,null]}", 5, 5 },
	{ "[[[[]]]]", 5, 4 },
	{ " [ 1 , { \"k\" : \"v\" } ] ", 4, 4 },
	/* structural characters inside strings are text, escaped quotes too */
	{ "[\",[{\",\"\\\",[\"]", 3, 3 },
	{ "{\"a,b\":\"\\\\\",\"c\":1}", 3, 3 },
	/* \u escapes hold no quote to end the string early */
	{ "[\"\\u0022,\",1]", 3, 3 },
	/* not JSON: counted all the same, never below what a parser would build */
	{ "[1,2", 3, -1 },
	{ "\"unterminated,[,{", 1, -1 },
	{ ",,,", 4, -1 },
	{ "\"ends in a backslash\\", 1, -1 },
	{ "", 1, -1 },
};

static size_t built_values(const json_t *j)
{
	size_t n = 1, i;
	const char *key;
	json_t *m;

	if (json_is_object(j)) {
		json_object_foreach((json_t *)j, key, m)
			n += built_values(m);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, m)
			n += built_values(m);
	}
	return n;
}

START_TEST(test_json_values)
{
	for (size_t i = 0; i < ELEMENTSOF(value_vectors); i++) {
		const char *text = value_vectors[i].text;
		size_t len = strlen(text);
		json_t *j = json_loadb(text, len, JSON_DECODE_ANY, NULL);

		ck_assert_msg(state_json_values(text, len, SIZE_MAX) == value_vectors[i].counted, "%s: %zu", text,
			      state_json_values(text, len, SIZE_MAX));
		if (value_vectors[i].built < 0)
			ck_assert_msg(!j, "%s parsed", text);
		else {
			ck_assert_msg(j, "%s not parsed", text);
			ck_assert_msg(built_values(j) == (size_t)value_vectors[i].built, "%s", text);
		}
		json_decref(j);
		/* Counting stops once past the limit; every prefix is read within its length. */
		for (size_t stop = 0; stop < value_vectors[i].counted; stop++)
			ck_assert_uint_eq(state_json_values(text, len, stop), stop + 1);
		for (size_t cut = 0; cut <= len; cut++) {
			char *prefix = strndup(text, cut);

			ck_assert_ptr_nonnull(prefix);
			ck_assert_uint_le(state_json_values(prefix, cut, SIZE_MAX), value_vectors[i].counted);
			free(prefix);
		}
	}
}
END_TEST

START_TEST(test_too_many_values_are_refused_unparsed)
{
	_cleanup_free_ char *err = NULL, *doc = NULL;
	struct listener_state *s = NULL;
	size_t max = 1000, len;

	/* A state one value over the limit, as a foreign file could be. */
	len = 2 * max + 1;
	doc = malloc(len + 1);
	ck_assert_ptr_nonnull(doc);
	doc[0] = '[';
	for (size_t i = 0; i < max; i++)
		memcpy(doc + 1 + 2 * i, i + 1 < max ? "1," : "1]", 2);
	doc[len] = '\0';
	ck_assert_uint_eq(state_json_values(doc, len, SIZE_MAX), max + 1);
	ck_assert_int_eq(listener_state_from_bytes_max(doc, len, max, NULL, SRC, &s, &err), -EBADMSG);
	ck_assert_ptr_null(s);
	ck_assert_str_eq(err, SRC ": more than 1000 JSON values, more than this daemon writes with the largest "
			 "max_event_size configured: not read");
	/* At the limit, it is parsed (and refused for what it is). */
	free(err);
	err = NULL;
	ck_assert_int_eq(listener_state_from_bytes_max(doc, len, max + 1, NULL, SRC, &s, &err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "not a JSON object"));
	/* The bound grows with max_event_size, up to the largest allowed. */
	ck_assert_uint_lt(state_max_values(STATE_EVENT_SIZE_DEFAULT), state_max_values(STATE_EVENT_SIZE_MAX));
	ck_assert_uint_eq(state_max_values(SIZE_MAX), state_max_values(STATE_EVENT_SIZE_MAX));
	ck_assert_uint_ge(state_max_values(STATE_EVENT_SIZE_DEFAULT),
			  (STATE_PENDING_BYTES_MAX + STATE_EVENT_SIZE_DEFAULT) / 2);
}
END_TEST

START_TEST(test_names)
{
	static const char *const good[] = { "a", "wiki", "enfo-steps", "A_b.c-9", ".hidden", "..x",
		"0123456789012345678901234567890123456789012345678901234567890123" };
	static const char *const bad[] = { "", ".", "..", "a/b", "a b", "ü", "x\n",
		"01234567890123456789012345678901234567890123456789012345678901234" };

	for (size_t i = 0; i < ELEMENTSOF(good); i++)
		ck_assert_msg(state_name_valid(good[i]), "%s", good[i]);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ck_assert_msg(!state_name_valid(bad[i]), "%s", bad[i]);
	ck_assert(!state_name_valid(NULL));
}
END_TEST

/* ------------------------------------------------------------ serialisation */

START_TEST(test_to_json_exact_format)
{
	json_t *identity = json_pack("{s:s}", "protocol", "aviso");
	struct listener_state *s = listener_state_new("enfo", identity);
	_cleanup_free_ char *text = NULL;
	json_t *j;
	uint64_t seq = 0;

	json_decref(identity);
	ck_assert_int_eq(listener_state_push(s, json_pack("{s:i}", "x", 1), 123, &seq), 0);
	ck_assert_uint_eq(seq, 1);
	ck_assert_int_eq(listener_state_set_cursor(s, json_integer(42)), 0);
	j = listener_state_to_json(s);
	text = dump(j);
	ck_assert_str_eq(text, "{\"cursor\":42,\"delivered\":0,\"format\":\"ssewatchd-state\","
			       "\"identity\":{\"protocol\":\"aviso\"},\"listener\":\"enfo\",\"next_seq\":2,"
			       "\"pending\":[{\"notification\":{\"x\":1},\"received_usec\":123,\"seq\":1,"
			       "\"triggers_done\":0}],\"retry_ms\":0,\"version\":1}");
	json_decref(j);

	/* A never-set cursor is written as null. */
	listener_state_pop(s);
	ck_assert_int_eq(listener_state_set_cursor(s, NULL), 0);
	j = listener_state_to_json(s);
	ck_assert(json_is_null(json_object_get(j, "cursor")));
	ck_assert_int_eq(json_integer_value(json_object_get(j, "delivered")), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "pending")), 0);
	json_decref(j);
	listener_state_free(s);
}
END_TEST

START_TEST(test_round_trip)
{
	struct listener_state *s = sample_state(), *t = NULL;
	_cleanup_free_ char *text = NULL, *text2 = NULL, *err = NULL;
	json_t *j = listener_state_to_json(s), *j2;

	text = dump(j);
	ck_assert_msg(listener_state_from_bytes(text, strlen(text), "wiki", SRC, &t, &err) == 0, "%s", err);
	ck_assert_str_eq(t->name, "wiki");
	ck_assert(json_equal(t->identity, s->identity));
	ck_assert_str_eq(json_string_value(t->cursor), "id-41");
	ck_assert_uint_eq(t->next_seq, 5);
	ck_assert_uint_eq(t->delivered, 1);
	ck_assert_uint_eq(t->retry_ms, 3000);
	ck_assert_uint_eq(t->n_pending, 3);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_uint_eq(t->pending[i].seq, i + 2);
		ck_assert_uint_eq(t->pending[i].received_usec, 1700000000000001 + i);
		ck_assert_uint_eq(t->pending[i].triggers_done, i == 0 ? 2 : 0);
		ck_assert(json_equal(t->pending[i].notification, s->pending[i].notification));
	}
	ck_assert_uint_eq(json_string_length(json_object_get(t->pending[1].notification, "bin")), 5);
	j2 = listener_state_to_json(t);
	text2 = dump(j2);
	ck_assert_str_eq(text, text2);
	json_decref(j);
	json_decref(j2);
	listener_state_free(s);
	listener_state_free(t);
}
END_TEST

START_TEST(test_to_json_refuses_what_cannot_be_read)
{
	struct listener_state *s = sample_state();

	s->pending[0].triggers_done = 1001;
	ck_assert_ptr_null(listener_state_to_json(s));
	s->pending[0].triggers_done = 0;
	s->pending[1].seq = s->pending[0].seq;
	ck_assert_ptr_null(listener_state_to_json(s));
	s->pending[1].seq = s->pending[0].seq + 1;
	s->next_seq = s->pending[2].seq;
	ck_assert_ptr_null(listener_state_to_json(s));
	listener_state_free(s);
}
END_TEST

static char *sample_text(size_t *len)
{
	struct listener_state *s = sample_state();
	json_t *j = listener_state_to_json(s);
	char *text = dump(j);

	json_decref(j);
	listener_state_free(s);
	*len = strlen(text);
	return text;
}

static void assert_rejected(const char *data, size_t len, const char *what, size_t at)
{
	_cleanup_free_ char *err = NULL;
	struct listener_state *s = NULL;
	int r = listener_state_from_bytes(data, len, "wiki", SRC, &s, &err);

	ck_assert_msg(r == -EBADMSG, "%s at %zu: got %d", what, at, r);
	ck_assert_ptr_null(s);
	ck_assert_msg(err && strncmp(err, SRC ":", STRLEN(SRC ":")) == 0, "%s at %zu: message %s", what, at, err);
}

START_TEST(test_truncate_at_every_point)
{
	size_t len;
	_cleanup_free_ char *text = sample_text(&len);

	ck_assert_uint_gt(len, 200);
	for (size_t cut = 0; cut < len; cut++) {
		/* A copy of exactly cut bytes, so ASan sees any read past the end. */
		char *part = malloc(cut ? cut : 1);

		memcpy(part, text, cut);
		assert_rejected(part, cut, "truncated", cut);
		free(part);
	}
}
END_TEST

START_TEST(test_split_variants)
{
	size_t len;
	_cleanup_free_ char *text = sample_text(&len);
	char *buf = malloc(len);

	for (size_t k = 1; k < len; k++) {
		/* The second half alone, as if the head of the file were lost. */
		assert_rejected(text + k, len - k, "tail", k);
		/* The head, then zeros to the full size (a crash after the size but before the data was written). */
		memcpy(buf, text, k);
		memset(buf + k, 0, len - k);
		assert_rejected(buf, len, "zero-filled tail", k);
		/* The head, then the rest of the file again from its beginning (a torn overwrite). */
		memcpy(buf + k, text, len - k);
		assert_rejected(buf, len, "torn", k);
	}
	free(buf);
}
END_TEST

/* ------------------------------------------------------------ in-memory state */

START_TEST(test_cursor_rules)
{
	struct listener_state *s = listener_state_new("a", NULL);

	ck_assert(json_is_object(s->identity));
	ck_assert_ptr_null(s->cursor);
	ck_assert_int_eq(listener_state_set_cursor(s, json_integer(5)), 0);
	ck_assert_int_eq(listener_state_set_cursor(s, json_integer(3)), -ERANGE);
	ck_assert_int_eq(json_integer_value(s->cursor), 5);
	ck_assert_int_eq(listener_state_set_cursor(s, json_integer(5)), 0);
	ck_assert_int_eq(listener_state_set_cursor(s, json_integer(7)), 0);
	ck_assert_int_eq(listener_state_set_cursor(s, json_string("8")), -EINVAL);
	ck_assert_int_eq(listener_state_set_cursor(s, json_integer(-1)), -EINVAL);
	ck_assert_int_eq(listener_state_set_cursor(s, json_real(9.0)), -EINVAL);
	ck_assert_int_eq(listener_state_set_cursor(s, json_true()), -EINVAL);
	ck_assert_int_eq(json_integer_value(s->cursor), 7);
	/* NULL unsets (state reset); then any type may start again. */
	ck_assert_int_eq(listener_state_set_cursor(s, NULL), 0);
	ck_assert_ptr_null(s->cursor);
	ck_assert_int_eq(listener_state_set_cursor(s, json_string("b")), 0);
	ck_assert_int_eq(listener_state_set_cursor(s, json_string("a")), 0);
	ck_assert_int_eq(listener_state_set_cursor(s, json_string("")), 0);
	ck_assert_int_eq(listener_state_set_cursor(s, json_integer(1)), -EINVAL);
	ck_assert_int_eq(listener_state_set_cursor(s, json_string("a\r\nX-Evil: 1")), -EINVAL);
	ck_assert_int_eq(listener_state_set_cursor(s, json_stringn("a\0b", 3)), -EINVAL);
	ck_assert_str_eq(json_string_value(s->cursor), "");
	listener_state_free(s);

	/* The identity must be an object. */
	json_t *arr = json_array();

	ck_assert_ptr_null(listener_state_new("a", arr));
	json_decref(arr);
}
END_TEST

/* The string setter: the same rules, and a value someone holds stays as it was. */
START_TEST(test_cursor_string)
{
	struct listener_state *s = listener_state_new("a", NULL);
	json_t *held, *mine;

	ck_assert_int_eq(listener_state_set_cursor_string(s, "", 0), 0);
	ck_assert_str_eq(json_string_value(s->cursor), "");
	ck_assert_int_eq(listener_state_set_cursor_string(s, "a\r\nX-Evil: 1", 13), -EINVAL);
	ck_assert_int_eq(listener_state_set_cursor_string(s, "ab\n", 3), -EINVAL);
	ck_assert_int_eq(listener_state_set_cursor_string(s, "a\0b", 3), -EINVAL);
	ck_assert_int_eq(listener_state_set_cursor_string(s, "\xc3", 1), -EINVAL);
	ck_assert_str_eq(json_string_value(s->cursor), "");

	/* No one else holds it: changed in place. */
	mine = s->cursor;
	ck_assert_int_eq(listener_state_set_cursor_string(s, "id-1\xc3\xa9", 6), 0);
	ck_assert_ptr_eq(s->cursor, mine);
	ck_assert_str_eq(json_string_value(s->cursor), "id-1\xc3\xa9");

	/* Held (as a commit holds the committed cursor): a new value. */
	held = json_incref(s->cursor);
	ck_assert_int_eq(listener_state_set_cursor_string(s, "id-2", 4), 0);
	ck_assert_ptr_ne(s->cursor, held);
	ck_assert_str_eq(json_string_value(held), "id-1\xc3\xa9");
	ck_assert_str_eq(json_string_value(s->cursor), "id-2");
	json_decref(held);

	/* Not over an integer cursor. */
	ck_assert_int_eq(listener_state_set_cursor(s, NULL), 0);
	ck_assert_int_eq(listener_state_set_cursor(s, json_integer(4)), 0);
	ck_assert_int_eq(listener_state_set_cursor_string(s, "5", 1), -EINVAL);
	ck_assert_int_eq(json_integer_value(s->cursor), 4);
	listener_state_free(s);
}
END_TEST

START_TEST(test_push_rules)
{
	struct listener_state *s = listener_state_new("a", NULL);
	uint64_t seq = 0;

	ck_assert_int_eq(listener_state_push(s, json_string("x"), 0, &seq), -EINVAL);
	ck_assert_int_eq(listener_state_push(s, NULL, 0, &seq), -EINVAL);
	ck_assert_int_eq(listener_state_push(s, json_object(), (uint64_t)INT64_MAX + 1, &seq), -ERANGE);
	ck_assert_uint_eq(s->n_pending, 0);
	ck_assert_uint_eq(s->next_seq, 1);
	s->next_seq = INT64_MAX;
	ck_assert_int_eq(listener_state_push(s, json_object(), 0, &seq), -EOVERFLOW);
	s->next_seq = INT64_MAX - 1;
	ck_assert_int_eq(listener_state_push(s, json_object(), 0, &seq), 0);
	ck_assert_uint_eq(seq, (uint64_t)INT64_MAX - 1);
	listener_state_pop(s);
	listener_state_pop(s);	/* empty: nothing happens */
	ck_assert_uint_eq(s->delivered, 1);
	listener_state_free(s);
}
END_TEST

START_TEST(test_oldest_and_rollback)
{
	struct listener_state *s = listener_state_new("a", NULL);
	json_t *committed;
	uint64_t committed_next;

	ck_assert_ptr_null(listener_state_oldest(s));
	for (int i = 1; i <= 3; i++)
		ck_assert_int_eq(listener_state_push(s, notification(i), 0, NULL), 0);
	ck_assert_int_eq(listener_state_set_cursor(s, json_integer(30)), 0);
	listener_state_pop(s);
	ck_assert_ptr_eq(listener_state_oldest(s), &s->pending[0]);
	ck_assert_uint_eq(listener_state_oldest(s)->seq, 2);

	/* "Committed" here; then two more arrive and the commit fails. */
	committed = json_incref(s->cursor);
	committed_next = s->next_seq;
	for (int i = 4; i <= 5; i++)
		ck_assert_int_eq(listener_state_push(s, notification(i), 0, NULL), 0);
	ck_assert_int_eq(listener_state_set_cursor(s, json_integer(50)), 0);
	listener_state_rollback(s, committed_next, committed);
	ck_assert_uint_eq(s->n_pending, 2);
	ck_assert_uint_eq(s->pending[1].seq, 3);
	ck_assert_uint_eq(s->next_seq, 4);
	ck_assert_ptr_eq(s->cursor, committed);
	ck_assert_int_eq(json_integer_value(s->cursor), 30);
	ck_assert_uint_eq(s->delivered, 1);
	json_decref(committed);	/* the caller's reference; the state holds its own */

	/* The same seqs are handed out again. */
	ck_assert_int_eq(listener_state_push(s, notification(4), 0, NULL), 0);
	ck_assert_uint_eq(s->pending[2].seq, 4);

	/* Back to a never-set cursor. */
	listener_state_rollback(s, 4, NULL);
	ck_assert_ptr_null(s->cursor);
	ck_assert_uint_eq(s->n_pending, 2);
	listener_state_free(s);
}
END_TEST

START_TEST(test_fifo_many)
{
	struct listener_state *s = listener_state_new("a", NULL);
	uint64_t next_pop = 1, seq;
	size_t most = 0;

	/* Grow: three in, two out, 8000 times; then shrink: one in, two out. */
	for (int round = 0; round < 17000; round++) {
		int in = round < 8000 ? 3 : 1;

		for (int k = 0; k < in; k++) {
			int i = (int)s->next_seq;

			CHECK(listener_state_push(s, notification(i), (uint64_t)i, &seq) == 0);
			CHECK(seq == (uint64_t)i);
		}
		most = MAX(most, s->n_pending);
		for (int k = 0; k < 2 && s->n_pending; k++) {
			CHECK(s->pending[0].seq == next_pop);
			CHECK(json_integer_value(json_object_get(s->pending[0].notification, "i")) == (json_int_t)next_pop);
			listener_state_pop(s);
			next_pop++;
		}
		CHECK(s->cap_pending <= 4 * most + 8);
		if (s->n_pending)
			CHECK(s->pending[s->n_pending - 1].seq == s->next_seq - 1);
	}
	ck_assert_uint_eq(s->delivered, next_pop - 1);
	/* Drained: a large allocation was given back. */
	ck_assert_uint_eq(s->n_pending, 0);
	ck_assert_uint_le(s->cap_pending, 1024);

	/* Steady state near a full allocation: no reallocation, order kept. */
	while (s->n_pending)
		listener_state_pop(s);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(listener_state_push(s, json_object(), 0, NULL), 0);
	for (int i = 0; i < 30000; i++) {
		uint64_t first = s->pending[0].seq;

		CHECK(listener_state_push(s, json_object(), 0, NULL) == 0);
		listener_state_pop(s);
		CHECK(s->pending[0].seq == first + 1);
		CHECK(s->cap_pending <= 4096);
	}
	ck_assert_uint_eq(s->n_pending, 1000);
	listener_state_free(s);
}
END_TEST

/*
 * Copied texts share blocks: across many blocks every text stays intact
 * while its neighbours come and go (pop from the front, rollback from the
 * back), a text too big for a block gets its own, and a drained state holds
 * no block at all.
 */
START_TEST(test_push_copy_blocks)
{
	struct listener_state *s = listener_state_new("a", NULL);
	char text[64 * 1024], want[64 * 1024];
	uint64_t next_pop = 1, seq;

	ck_assert_int_eq(listener_state_push_copy(s, "", 0, 0, &seq), -EINVAL);
	ck_assert_int_eq(listener_state_push_copy(s, "[1]", 3, 0, &seq), -EINVAL);
	ck_assert_uint_eq(s->next_seq, 1);
	ck_assert_ptr_null(s->slab);

	for (int round = 0; round < 3000; round++) {
		/* Sizes from 2 bytes to past a quarter block, a few each round. */
		for (int k = 0; k < 3; k++) {
			uint64_t i = s->next_seq;
			size_t len = i % 97 == 0 ? 20000 + i % 5 : 2 + (i * 7919) % 700;

			memset(text, 'a' + (int)(i % 26), len);
			text[0] = '{';
			text[len - 1] = '}';
			CHECK(listener_state_push_copy(s, text, len, i, &seq) == 0);
			CHECK(seq == i);
		}
		if (round % 10 == 9) {
			/* A failed commit: the last two go again. */
			listener_state_rollback(s, s->next_seq - 2, NULL);
		}
		for (int k = 0; k < 2 && s->n_pending; k++) {
			const struct state_pending *p = &s->pending[0];
			uint64_t i = p->seq;
			size_t len = i % 97 == 0 ? 20000 + i % 5 : 2 + (i * 7919) % 700;

			CHECK(i == next_pop);
			memset(want, 'a' + (int)(i % 26), len);
			want[0] = '{';
			want[len - 1] = '}';
			CHECK(p->text_bytes == len);
			CHECK(memcmp(state_pending_text(p), want, len) == 0 && state_pending_text(p)[len] == '\0');
			listener_state_pop(s);
			next_pop++;
		}
	}
	ck_assert_uint_gt(s->n_pending, 0);
	while (s->n_pending)
		listener_state_pop(s);
	ck_assert_ptr_null(s->slab);
	ck_assert_uint_eq(s->pending_bytes, 0);

	/* Freed with texts still pending: nothing leaks (valgrind, ASan). */
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(listener_state_push_copy(s, "{\"k\":1}", 7, 0, NULL), 0);
	ck_assert_ptr_nonnull(s->slab);
	listener_state_free(s);
}
END_TEST

/* ------------------------------------------------------------ the directory */

START_TEST(test_atomic_write)
{
	_cleanup_free_ char *dir = make_tmpdir(), *text = NULL, *ls = NULL;
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	size_t len;

	ck_assert_int_eq(atomic_write_at(dfd, "a.json", "one\n", 4, true, 0600), 0);
	ck_assert_int_eq(atomic_write_at(dfd, "a.json", "second\n", 7, true, 0640), 0);
	text = read_file(dir, "a.json", &len);
	ck_assert_uint_eq(len, 7);
	ck_assert_str_eq(text, "second\n");
	ck_assert_int_eq(fstatat(dfd, "a.json", &st, 0), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	ck_assert_int_eq(atomic_write_at(dfd, "b", "", 0, false, 0600), 0);
	ck_assert_int_eq(atomic_write_at(dfd, "", "x", 1, true, 0600), -EINVAL);
	ck_assert_int_eq(atomic_write_at(dfd, "a/b", "x", 1, true, 0600), -EINVAL);
	ck_assert_int_eq(atomic_write_at(dfd, ".", "x", 1, true, 0600), -EINVAL);
	ck_assert_int_eq(atomic_write_at(dfd, "..", "x", 1, true, 0600), -EINVAL);
	ck_assert_int_eq(atomic_write_at(-1, "c", "x", 1, true, 0600), -EBADF);
	ls = list_dir(dir);
	ck_assert_str_eq(ls, "a.json b");
	rm_tree(dir);
}
END_TEST

/* A text written in pieces: nothing shows under its name until it is
 * whole; abandoned, nothing is left. */
START_TEST(test_atomic_write_in_pieces)
{
	_cleanup_free_ char *dir = make_tmpdir(), *text = NULL, *ls = NULL, *tmp = NULL;
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	size_t len;
	int fd;

	ck_assert_int_eq(atomic_write_at(dfd, "s.json", "old\n", 4, false, 0644), 0);
	fd = atomic_write_open(dfd, "s.json", 0640, &tmp);
	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(tmp);
	ck_assert_int_eq(write_all(fd, "{\"a\":", 5), 0);
	text = read_file(dir, "s.json", &len);
	ck_assert_str_eq(text, "old\n");
	free(TAKE_PTR(text));
	ck_assert_int_eq(write_all(fd, "1}\n", 3), 0);
	ck_assert_int_eq(atomic_write_close(dfd, fd, &tmp, "s.json", false), 0);
	ck_assert_ptr_null(tmp);
	text = read_file(dir, "s.json", &len);
	ck_assert_uint_eq(len, 8);
	ck_assert_str_eq(text, "{\"a\":1}\n");
	ck_assert_int_eq(fstatat(dfd, "s.json", &st, 0), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);

	fd = atomic_write_open(dfd, "s.json", 0644, &tmp);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_all(fd, "half", 4), 0);
	atomic_write_abandon(dfd, fd, &tmp);
	ck_assert_ptr_null(tmp);
	ls = list_dir(dir);
	ck_assert_str_eq(ls, "s.json");
	free(TAKE_PTR(text));
	text = read_file(dir, "s.json", &len);
	ck_assert_str_eq(text, "{\"a\":1}\n");
	ck_assert_int_eq(atomic_write_open(dfd, "a/b", 0644, &tmp), -EINVAL);
	rm_tree(dir);
}
END_TEST

START_TEST(test_open_create_and_list)
{
	_cleanup_free_ char *dir = make_tmpdir(), *deep = NULL, *err = NULL, *want = NULL, *p = NULL;
	static const char long_name[] = "01234567890123456789012345678901234567890123456789012345678901234.json";
	struct statedir *d = NULL;
	char **names = NULL;
	struct stat st;

	ck_assert_int_ge(asprintf(&deep, "%s/a/b//state/", dir), 0);
	ck_assert_int_eq(statedir_open(deep, STATEDIR_LOCK, &d, &err), -ENOENT);
	ck_assert_int_ge(asprintf(&want, "cannot open state directory %s/a/b//state: No such file or directory", dir),
			 0);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(d);

	d = open_locked(deep);
	ck_assert(statedir_locked(d));
	free(want);
	ck_assert_int_ge(asprintf(&want, "%s/a/b//state", dir), 0);
	ck_assert_str_eq(statedir_path(d), want);
	p = path_join(dir, "a");
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	ck_assert_int_eq(stat(statedir_path(d), &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);

	ck_assert_int_eq(statedir_list(d, &names), 0);
	ck_assert_ptr_null(names[0]);
	strv_free(names);

	write_file(statedir_path(d), "wiki.json", "{}", 2);
	write_file(statedir_path(d), "enfo.json", "{}", 2);
	write_file(statedir_path(d), "a.json", "", 0);
	write_file(statedir_path(d), "bad name.json", "{}", 2);
	write_file(statedir_path(d), ".json", "{}", 2);
	write_file(statedir_path(d), "..json", "{}", 2);
	write_file(statedir_path(d), "x.json.tmp", "{}", 2);
	write_file(statedir_path(d), long_name, "{}", 2);
	free(p);
	p = path_join(statedir_path(d), "sub.json");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	free(p);
	p = path_join(statedir_path(d), "link.json");
	ck_assert_int_eq(symlink("wiki.json", p), 0);

	ck_assert_int_eq(statedir_list(d, &names), 0);
	ck_assert_str_eq(names[0], "a");
	ck_assert_str_eq(names[1], "enfo");
	ck_assert_str_eq(names[2], "wiki");
	ck_assert_ptr_null(names[3]);
	strv_free(names);
	statedir_free(d);
	rm_tree(dir);
}
END_TEST

/* state_load() fails with r and the message "DIR/" + msg. */
static void assert_load_error(struct statedir *d, const char *name, int r, const char *msg)
{
	_cleanup_free_ char *err = NULL, *want = path_join(statedir_path(d), msg);
	struct listener_state *t = NULL;

	ck_assert_int_eq(state_load(d, name, &t, &err), r);
	ck_assert_ptr_null(t);
	ck_assert_str_eq(err, want);
}

START_TEST(test_save_load_remove)
{
	_cleanup_free_ char *dir = make_tmpdir(), *err = NULL, *want = NULL, *text = NULL, *expect = NULL;
	_cleanup_free_ char *p = NULL, *ls = NULL;
	struct statedir *d = open_locked(dir), *ro = NULL;
	struct listener_state *s = sample_state(), *t = NULL;
	json_t *j = listener_state_to_json(s), *j2;
	struct stat st;
	size_t len;

	ck_assert_msg(state_save(d, s, &err) == 0, "%s", err);
	text = read_file(dir, "wiki.json", &len);
	expect = dump(j);
	ck_assert_uint_eq(len, strlen(expect) + 1);
	ck_assert_int_eq(strncmp(text, expect, strlen(expect)), 0);
	ck_assert_int_eq(text[len - 1], '\n');
	p = path_join(dir, "wiki.json");
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ls = list_dir(dir);
	ck_assert_str_eq(ls, ".lock wiki.json");

	ck_assert_msg(state_load(d, "wiki", &t, &err) == 0, "%s", err);
	j2 = listener_state_to_json(t);
	ck_assert(json_equal(j, j2));
	json_decref(j2);
	listener_state_free(t);
	t = NULL;

	/* Saving again replaces the file. */
	listener_state_pop(s);
	ck_assert_int_eq(state_save(d, s, &err), 0);
	ck_assert_int_eq(state_load(d, "wiki", &t, &err), 0);
	ck_assert_uint_eq(t->n_pending, 2);
	listener_state_free(t);
	t = NULL;

	ck_assert_int_eq(state_load(d, "none", &t, &err), -ENOENT);
	ck_assert_ptr_null(err);
	ck_assert_int_eq(state_load(d, "../x", &t, &err), -EINVAL);
	free(err);
	err = NULL;

	/* A state file for another listener is refused and left alone. */
	write_file(dir, "enfo.json", text, len);
	assert_load_error(d, "enfo", -EBADMSG, "enfo.json: listener: is \"wiki\", expected \"enfo\"");
	free(text);
	text = read_file(dir, "enfo.json", NULL);
	ck_assert_int_eq(strncmp(text, expect, strlen(expect)), 0);

	ck_assert_int_eq(state_remove(d, "wiki"), 0);
	ck_assert_int_eq(state_remove(d, "wiki"), -ENOENT);
	ck_assert_int_eq(state_remove(d, "../x"), -EINVAL);
	ck_assert_int_eq(state_load(d, "wiki", &t, &err), -ENOENT);

	/* Read-only commands open without the lock: they may read, not write. */
	ck_assert_int_eq(statedir_open(dir, 0, &ro, &err), 0);
	ck_assert(!statedir_locked(ro));
	free(err);
	err = NULL;
	ck_assert_int_eq(state_save(ro, s, &err), -EPERM);
	free(want);
	ck_assert_int_ge(asprintf(&want, "cannot write to state directory %s: not locked", dir), 0);
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(state_remove(ro, "enfo"), -EPERM);
	ck_assert_int_eq(deadletter_write(ro, "enfo", 1, j), -EPERM);
	ck_assert_int_eq(deadletter_remove(ro, "enfo", 1), -EPERM);
	statedir_free(ro);

	/* An inconsistent state is not written. */
	free(err);
	err = NULL;
	s->pending[0].triggers_done = 5000;
	ck_assert_int_eq(state_save(d, s, &err), -EINVAL);
	free(want);
	ck_assert_int_ge(asprintf(&want, "%s/wiki.json: refusing to write an inconsistent state", dir), 0);
	ck_assert_str_eq(err, want);

	json_decref(j);
	listener_state_free(s);
	statedir_free(d);
	rm_tree(dir);
}
END_TEST

/* A ring for the directory's begun saves (_i 1), or none (_i 0, or where
 * the kernel refuses io_uring: the test then runs without, as the daemon
 * would). */
static struct uring *ring_for(struct statedir *d, int with)
{
	struct uring *q = NULL;

	if (!with)
		return NULL;
	if (uring_new(8, &q) < 0) {
		fprintf(stderr, "state: io_uring refused here, the ring case runs without one\n");
		return NULL;
	}
	statedir_set_uring(d, q);
	return q;
}

/* A save in two halves: until the finish the old file stands and only a temp
 * file is new; the finish puts the new one in place; an abandoned or failed
 * one leaves nothing behind. With a ring and without. */
START_TEST(test_save_in_two_halves)
{
	_cleanup_free_ char *dir = make_tmpdir(), *err = NULL, *before = NULL, *after = NULL, *ls = NULL,
			    *p = NULL;
	struct statedir *d = open_locked(dir), *ro = NULL;
	struct uring *q = ring_for(d, _i);
	struct listener_state *s = sample_state(), *t = NULL;
	struct state_save_op op = STATE_SAVE_OP_IDLE, other = STATE_SAVE_OP_IDLE;

	ck_assert_msg(state_save(d, s, &err) == 0, "%s", err);
	before = read_file(dir, "wiki.json", NULL);
	listener_state_pop(s);

	ck_assert_msg(state_save_begin(d, s, &op, &err) == 0, "%s", err);
	ck_assert_int_ge(op.fd, 0);
	ck_assert(state_save_active(&op));
	ck_assert_int_eq(op.phase, q ? STATE_SAVE_SYNCING : STATE_SAVE_WRITTEN);
	ck_assert_int_eq(state_save_begin(d, s, &op, &err), -EBUSY);
	after = read_file(dir, "wiki.json", NULL);
	ck_assert_str_eq(after, before);
	ls = list_dir(dir);
	ck_assert_msg(strncmp(ls, ".lock .wiki.json.", 17) == 0 && strstr(ls, " wiki.json"), "%s", ls);
	ck_assert_msg(state_save_finish(d, &op, &err) == 0, "%s", err);
	ck_assert_int_eq(op.fd, -1);
	ck_assert(!state_save_active(&op));
	ck_assert_int_eq(state_save_finish(d, &op, &err), -EINVAL);
	/* A small file is replaced, not kept (test_commits_recycle). */
	ck_assert_ptr_null(op.spare);
	free(ls);
	ls = list_dir(dir);
	ck_assert_str_eq(ls, ".lock wiki.json");
	ck_assert_int_eq(state_load(d, "wiki", &t, &err), 0);
	ck_assert_uint_eq(t->n_pending, s->n_pending);
	listener_state_free(t);
	t = NULL;

	/* Abandoned: the temp file goes, the file stays as it was. */
	free(before);
	before = read_file(dir, "wiki.json", NULL);
	listener_state_pop(s);
	ck_assert_int_eq(state_save_begin(d, s, &op, &err), 0);
	state_save_abandon(d, &op);
	ck_assert_int_eq(op.fd, -1);
	ck_assert_ptr_null(op.tmp);
	free(ls);
	ls = list_dir(dir);
	ck_assert_str_eq(ls, ".lock wiki.json");
	free(after);
	after = read_file(dir, "wiki.json", NULL);
	ck_assert_str_eq(after, before);
	state_save_abandon(d, &op);	/* idle: nothing to do */

	/* The finish fails (the name is taken by a directory): no temp file is
	 * left, and the half is idle again. */
	p = path_join(dir, "wiki.json");
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_int_eq(state_save_begin(d, s, &op, &err), 0);
	free(err);
	err = NULL;
	ck_assert_int_eq(state_save_finish(d, &op, &err), -EISDIR);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err, "cannot write state file") && strstr(err, "wiki.json"), "%s", err);
	ck_assert_int_eq(op.fd, -1);
	free(ls);
	ls = list_dir(dir);
	ck_assert_str_eq(ls, ".lock wiki.json");
	ck_assert_int_eq(rmdir(p), 0);

	/* Without the lock, or for an inconsistent state, nothing is begun. */
	free(err);
	err = NULL;
	ck_assert_int_eq(statedir_open(dir, 0, &ro, &err), 0);
	free(err);
	err = NULL;
	ck_assert_int_eq(state_save_begin(ro, s, &other, &err), -EPERM);
	ck_assert_int_eq(other.fd, -1);
	statedir_free(ro);
	free(err);
	err = NULL;
	s->pending[0].triggers_done = 5000;
	ck_assert_int_eq(state_save_begin(d, s, &other, &err), -EINVAL);
	ck_assert_int_eq(other.fd, -1);
	free(ls);
	ls = list_dir(dir);
	ck_assert_str_eq(ls, ".lock");
	state_save_op_done(d, &op);
	state_save_op_done(d, &other);

	listener_state_free(s);
	statedir_free(d);
	uring_free(q);
	rm_tree(dir);
}
END_TEST

static ino_t ino_of(const char *dir, const char *name)
{
	_cleanup_free_ char *p = path_join(dir, name);
	struct stat st;

	ck_assert_msg(lstat(p, &st) == 0, "%s: %s", p, strerror(errno));
	return st.st_ino;
}

/* The bytes a fresh file gets for s (state_save() in a directory of its own). */
static char *fresh_text(const struct listener_state *s, size_t *ret_len)
{
	_cleanup_free_ char *dir = make_tmpdir(), *err = NULL;
	struct statedir *d = open_locked(dir);
	char *text;

	ck_assert_msg(state_save(d, s, &err) == 0, "%s", err);
	text = read_file(dir, "wiki.json", ret_len);
	statedir_free(d);
	rm_tree(dir);
	return text;
}

static void assert_text_is_fresh(const char *dir, const struct listener_state *s)
{
	size_t len, want_len;
	_cleanup_free_ char *text = read_file(dir, "wiki.json", &len), *want = fresh_text(s, &want_len);

	ck_assert_uint_eq(len, want_len);
	ck_assert_int_eq(memcmp(text, want, len), 0);
}

static void push_n(struct listener_state *s, int n, const char *data)
{
	uint64_t seq;

	for (int i = 0; i < n; i++) {
		json_t *x = json_pack("{s:i,s:s}", "i", i, "data", data);

		ck_assert_int_eq(listener_state_push(s, x, 1700000000000000 + (uint64_t)i, &seq), 0);
	}
}

/* Commits recycle: when the file a commit replaces is large, it is kept as
 * the spare and the next commit is written over it, ending up byte for
 * byte what a fresh file gets, shorter or longer; a small file is replaced
 * as before (no spare) unless the commit before was less than a second ago;
 * a spare a reader holds locked is left alone. op.finished_usec is set
 * before each commit: the test must not depend on how fast it runs. */
START_TEST(test_commits_recycle)
{
	_cleanup_free_ char *dir = make_tmpdir(), *err = NULL, *ls = NULL, *first = NULL, *spare_text = NULL,
			    *held_name = NULL, *held_before = NULL, *held_after = NULL, *p = NULL, *big = NULL;
	struct statedir *d = open_locked(dir);
	struct listener_state *s = sample_state(), *t = NULL;
	struct state_save_op op = STATE_SAVE_OP_IDLE;
	ino_t a, b, c;
	size_t len;
	int fd;

	big = malloc(20001);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', 20000);
	big[20000] = '\0';

	/* The first commit has nothing to exchange with. */
	push_n(s, 1, big);
	ck_assert_msg(state_save_using(d, s, &op, &err) == 0, "%s", err);
	ck_assert_ptr_null(op.spare);
	ls = list_dir(dir);
	ck_assert_str_eq(ls, ".lock wiki.json");
	a = ino_of(dir, "wiki.json");
	first = read_file(dir, "wiki.json", NULL);

	/* The second replaces a large file, so it exchanges: the first file,
	 * unchanged, is the spare. */
	push_n(s, 3, "second");
	ck_assert_msg(state_save_using(d, s, &op, &err) == 0, "%s", err);
	ck_assert_ptr_nonnull(op.spare);
	ck_assert(ino_of(dir, op.spare) == a);
	spare_text = read_file(dir, op.spare, NULL);
	ck_assert_str_eq(spare_text, first);
	b = ino_of(dir, "wiki.json");
	ck_assert(b != a);
	assert_text_is_fresh(dir, s);

	/* Shorter (small now): written over the first file, the rest cut off. */
	for (int i = 0; i < 4; i++)
		listener_state_pop(s);
	ck_assert_msg(state_save_using(d, s, &op, &err) == 0, "%s", err);
	ck_assert(ino_of(dir, "wiki.json") == a);
	ck_assert(ino_of(dir, op.spare) == b);
	assert_text_is_fresh(dir, s);

	/* Longer: written over the second; the small file it replaces is not
	 * kept, the commit before being long ago. */
	push_n(s, 2, big);
	op.finished_usec = now_usec(CLOCK_MONOTONIC) - 2 * USEC_PER_SEC;
	ck_assert_msg(state_save_using(d, s, &op, &err) == 0, "%s", err);
	ck_assert(ino_of(dir, "wiki.json") == b);
	ck_assert_ptr_null(op.spare);
	free(ls);
	ls = list_dir(dir);
	ck_assert_str_eq(ls, ".lock wiki.json");
	assert_text_is_fresh(dir, s);

	/* A new file again, and the large one it replaces is the spare. */
	listener_state_pop(s);
	op.finished_usec = 0;
	ck_assert_msg(state_save_using(d, s, &op, &err) == 0, "%s", err);
	c = ino_of(dir, "wiki.json");
	ck_assert(c != b);	/* (a is free: its number may come back) */
	ck_assert(ino_of(dir, op.spare) == b);
	assert_text_is_fresh(dir, s);

	/* A reader holds the spare locked (it opened it as wiki.json): the next
	 * commit makes a new file, and what the reader holds stays intact. */
	held_name = strdup(op.spare);
	p = path_join(dir, held_name);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_SH), 0);
	held_before = read_file(dir, held_name, &len);
	push_n(s, 1, "held");
	ck_assert_msg(state_save_using(d, s, &op, &err) == 0, "%s", err);
	ck_assert(ino_of(dir, "wiki.json") != b && ino_of(dir, "wiki.json") != c);
	ck_assert_msg(access(p, F_OK) < 0 && errno == ENOENT, "%s is still there", held_name);
	held_after = calloc(1, len + 1);
	ck_assert_int_eq(pread(fd, held_after, len + 1, 0), (ssize_t)len);
	ck_assert_int_eq(memcmp(held_after, held_before, len), 0);
	ck_assert_int_eq(close(fd), 0);
	ck_assert(ino_of(dir, op.spare) == c);	/* the file it replaced */
	assert_text_is_fresh(dir, s);
	ck_assert_int_eq(state_load(d, "wiki", &t, &err), 0);
	ck_assert_uint_eq(t->n_pending, s->n_pending);
	listener_state_free(t);

	/* Small files, committed in quick succession: each replaced one is
	 * kept and written over next (a busy listener's); once commits are a
	 * second apart, the small file is replaced and no spare is left. */
	while (s->n_pending > 0)
		listener_state_pop(s);
	push_n(s, 1, "small");
	op.finished_usec = now_usec(CLOCK_MONOTONIC);
	ck_assert_msg(state_save_using(d, s, &op, &err) == 0, "%s", err);	/* replaces the large one */
	a = ino_of(dir, "wiki.json");
	push_n(s, 1, "small");
	op.finished_usec = now_usec(CLOCK_MONOTONIC);
	ck_assert_msg(state_save_using(d, s, &op, &err) == 0, "%s", err);
	ck_assert_ptr_nonnull(op.spare);
	ck_assert(ino_of(dir, op.spare) == a);	/* small, but kept */
	b = ino_of(dir, "wiki.json");
	push_n(s, 1, "small");
	op.finished_usec = now_usec(CLOCK_MONOTONIC);
	ck_assert_msg(state_save_using(d, s, &op, &err) == 0, "%s", err);
	ck_assert(ino_of(dir, "wiki.json") == a);	/* written over the spare */
	ck_assert(ino_of(dir, op.spare) == b);
	assert_text_is_fresh(dir, s);
	push_n(s, 1, "small");
	op.finished_usec = now_usec(CLOCK_MONOTONIC) - USEC_PER_SEC;
	ck_assert_msg(state_save_using(d, s, &op, &err) == 0, "%s", err);
	ck_assert(ino_of(dir, "wiki.json") == b);	/* the spare used once more, */
	ck_assert_ptr_null(op.spare);			/* and none kept */
	free(ls);
	ls = list_dir(dir);
	ck_assert_str_eq(ls, ".lock wiki.json");
	assert_text_is_fresh(dir, s);
	push_n(s, 1, "busy again");
	op.finished_usec = now_usec(CLOCK_MONOTONIC);
	ck_assert_msg(state_save_using(d, s, &op, &err) == 0, "%s", err);
	ck_assert_ptr_nonnull(op.spare);

	/* Done with: the spare goes. */
	state_save_op_done(d, &op);
	ck_assert_ptr_null(op.spare);
	free(ls);
	ls = list_dir(dir);
	ck_assert_str_eq(ls, ".lock wiki.json");

	listener_state_free(s);
	statedir_free(d);
	rm_tree(dir);
}
END_TEST

/* Makes renameat2() fail with err in this process, for good. */
static bool refuse_renameat2(int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_renameat2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = ELEMENTSOF(f), .filter = f };

	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

/* Where the exchange is refused (a file system without it, a system call
 * filter), a large file is replaced by a plain rename; another error fails
 * the commit and leaves the old file. Each case in a child of its own: the
 * filter cannot be taken back. */
struct done_count {
	int calls;
};

static void count_save_done(struct uring_req *req, void *userdata)
{
	struct done_count *c = userdata;

	(void)req;
	c->calls++;
}

/* With a ring, a begun save goes through its phases as the kernel's work
 * ends: the write and fsync of the file (the old file still stands), the
 * rename (the new text in place, advance()), the directory's fsync (then
 * poll says done). The caller's done is called for each end the loop's
 * way reaps (eventfd, dispatch), as the daemon's pump is run by it. A large
 * file recycles as without a ring; an abandoned save, at either phase,
 * waits for the kernel and leaves only wiki.json. */
START_TEST(test_save_with_a_ring)
{
	_cleanup_free_ char *dir = make_tmpdir(), *err = NULL, *before = NULL, *after = NULL, *ls = NULL,
			    *big = NULL;
	struct statedir *d = open_locked(dir);
	struct uring *q = ring_for(d, 1);
	struct listener_state *s = sample_state();
	struct done_count c = { 0 };
	struct state_save_op op = STATE_SAVE_OP_IDLE;
	ino_t first;
	int r;

	if (!q) {
		listener_state_free(s);
		statedir_free(d);
		rm_tree(dir);
		return;
	}
	op.sync.done = count_save_done;
	op.sync.userdata = &c;
	big = malloc(20001);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', 20000);
	big[20000] = '\0';
	push_n(s, 1, big);	/* past STATE_SPARE_MIN: replaced files are kept */
	ck_assert_msg(state_save_using(d, s, &op, &err) == 0, "%s", err);
	first = ino_of(dir, "wiki.json");
	before = read_file(dir, "wiki.json", NULL);
	push_n(s, 1, "more");

	/* The file's write and fsync: nothing replaced yet. */
	ck_assert_msg(state_save_begin(d, s, &op, &err) == 0, "%s", err);
	ck_assert_int_eq(op.phase, STATE_SAVE_SYNCING);
	ck_assert_int_eq(uring_wait(q, &op.sync), 0);
	ck_assert(!op.write.busy);
	ck_assert_int_eq(op.write.res, (int)op.text.len);
	after = read_file(dir, "wiki.json", NULL);
	ck_assert_str_eq(after, before);
	/* The rename: in place, by an exchange (the old file is the spare). */
	state_save_advance(d, &op);
	ck_assert_int_eq(op.phase, STATE_SAVE_PLACED);
	ck_assert(op.exchanged);
	ck_assert_int_eq(op.fd, -1);
	assert_text_is_fresh(dir, s);
	ck_assert(ino_of(dir, "wiki.json") != first);
	/* The directory's fsync, then done. */
	while ((r = state_save_poll(d, &op, &err)) == 0)
		ck_assert_int_eq(uring_wait(q, &op.sync), 0);
	ck_assert_msg(r == 1, "%s", err);
	ck_assert(!state_save_active(&op));
	ck_assert_ptr_nonnull(op.spare);

	/* The loop's way: the eventfd, dispatch, then poll; the next commit
	 * writes over the spare (the first file's inode). */
	push_n(s, 1, "again");
	c.calls = 0;
	ck_assert_msg(state_save_begin(d, s, &op, &err) == 0, "%s", err);
	while ((r = state_save_poll(d, &op, &err)) == 0) {
		struct pollfd p = { .fd = uring_fd(q), .events = POLLIN };

		ck_assert_int_eq(poll(&p, 1, 10 * 1000), 1);
		ck_assert_int_ge(uring_dispatch(q), 0);
	}
	ck_assert_msg(r == 1, "%s", err);
	ck_assert_int_eq(c.calls, 2);	/* the file's fsync, the directory's (reaped, not waited for) */
	ck_assert_uint_eq(ino_of(dir, "wiki.json"), first);
	assert_text_is_fresh(dir, s);

	/* Abandoned once placed: the new text stays, the file it replaced goes. */
	free(before);
	before = read_file(dir, "wiki.json", NULL);
	push_n(s, 1, "placed");
	ck_assert_msg(state_save_begin(d, s, &op, &err) == 0, "%s", err);
	ck_assert_int_eq(uring_wait(q, &op.sync), 0);
	state_save_advance(d, &op);
	ck_assert_int_eq(op.phase, STATE_SAVE_PLACED);
	state_save_abandon(d, &op);
	ck_assert(!state_save_active(&op));
	ck_assert_uint_eq(uring_busy(q), 0);
	assert_text_is_fresh(dir, s);
	ls = list_dir(dir);
	ck_assert_str_eq(ls, ".lock wiki.json");

	/* Abandoned while the kernel writes: waited for, the temp file goes,
	 * wiki.json stays as it was. */
	free(before);
	before = read_file(dir, "wiki.json", NULL);
	push_n(s, 1, "dropped");
	ck_assert_msg(state_save_begin(d, s, &op, &err) == 0, "%s", err);
	state_save_abandon(d, &op);
	ck_assert_uint_eq(uring_busy(q), 0);
	free(after);
	after = read_file(dir, "wiki.json", NULL);
	ck_assert_str_eq(after, before);
	free(ls);
	ls = list_dir(dir);
	ck_assert_str_eq(ls, ".lock wiki.json");

	state_save_op_done(d, &op);
	listener_state_free(s);
	statedir_free(d);
	uring_free(q);
	rm_tree(dir);
}
END_TEST

/* With a ring, a write the kernel cuts short (here by RLIMIT_FSIZE) is
 * finished on the thread, whose write then fails the same way: the save
 * fails with a message, no temp file is left, and the file stands as it
 * was; with room again, the next save goes through. */
START_TEST(test_ring_save_short_write)
{
	_cleanup_free_ char *dir = make_tmpdir(), *err = NULL, *before = NULL, *after = NULL, *ls = NULL,
			    *big = NULL;
	struct statedir *d = open_locked(dir);
	struct uring *q = ring_for(d, 1);
	struct listener_state *s = sample_state();
	struct state_save_op op = STATE_SAVE_OP_IDLE;
	struct rlimit was, small;
	void (*old_handler)(int);

	if (!q) {
		listener_state_free(s);
		statedir_free(d);
		rm_tree(dir);
		return;
	}
	ck_assert_msg(state_save(d, s, &err) == 0, "%s", err);
	before = read_file(dir, "wiki.json", NULL);
	big = malloc(20001);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', 20000);
	big[20000] = '\0';
	push_n(s, 1, big);

	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &was), 0);
	small = was;
	small.rlim_cur = 8192;
	old_handler = signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
	ck_assert_msg(state_save_begin(d, s, &op, &err) == 0, "%s", err);
	ck_assert_int_eq(op.phase, STATE_SAVE_SYNCING);
	ck_assert_int_eq(state_save_finish(d, &op, &err), -EFBIG);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &was), 0);
	signal(SIGXFSZ, old_handler);
	ck_assert_msg(strstr(err, "cannot write state file") && strstr(err, "File too large"), "%s", err);
	ck_assert(!state_save_active(&op));
	after = read_file(dir, "wiki.json", NULL);
	ck_assert_str_eq(after, before);
	ls = list_dir(dir);
	ck_assert_str_eq(ls, ".lock wiki.json");

	free(err);
	err = NULL;
	ck_assert_msg(state_save_begin(d, s, &op, &err) == 0, "%s", err);
	ck_assert_msg(state_save_finish(d, &op, &err) == 0, "%s", err);
	assert_text_is_fresh(dir, s);

	state_save_op_done(d, &op);
	listener_state_free(s);
	statedir_free(d);
	uring_free(q);
	rm_tree(dir);
}
END_TEST

START_TEST(test_commit_without_exchange)
{
	static const int refused[] = { EINVAL, EOPNOTSUPP, ENOSYS, EPERM, EIO };
	_cleanup_free_ char *big = malloc(20001);

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', 20000);
	big[20000] = '\0';
	for (size_t k = 0; k < ELEMENTSOF(refused); k++) {
		_cleanup_free_ char *dir = make_tmpdir();
		int fds[2], status;
		char res = '?';
		pid_t pid;

		ck_assert_int_eq(pipe(fds), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			struct statedir *d = open_locked(dir);
			struct listener_state *s = sample_state();
			struct state_save_op op = STATE_SAVE_OP_IDLE;
			char *before, *after, *ls;
			int r;

			close(fds[0]);
			/* The verdict goes through the pipe: the exit status is
			 * valgrind's when it runs the tests (the child's memory
			 * is left to _exit()). */
			push_n(s, 1, big);
			if (state_save_using(d, s, &op, NULL) < 0)
				res = '2';
			before = read_file(dir, "wiki.json", NULL);
			if (res == '?' && !refuse_renameat2(refused[k]))
				res = 'S';
			if (res == '?') {
				listener_state_pop(s);
				r = state_save_using(d, s, &op, NULL);
				after = read_file(dir, "wiki.json", NULL);
				ls = list_dir(dir);
				if (refused[k] == EIO)
					res = r != -EIO || strcmp(after, before) != 0 ? '3' : '0';
				else
					res = r < 0 || strcmp(after, before) == 0 || op.spare ? '4' : '0';
				if (res == '0' && strcmp(ls, ".lock wiki.json") != 0)
					res = '5';
			}
			(void)!write(fds[1], &res, 1);
			_exit(0);
		}
		close(fds[1]);
		ck_assert_int_eq(read(fds[0], &res, 1), 1);
		close(fds[0]);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		if (res == 'S') {
			rm_tree(dir);
			unit_skip("state", "test_commit_without_exchange", "cannot install a seccomp filter");
			return;
		}
		ck_assert_msg(res == '0', "refused with %s: failure %c", strerror(refused[k]), res);
		rm_tree(dir);
	}
}
END_TEST

/* Waits until a process waits for a lock on inode ino (a "->" line in /proc/locks). */
static bool lock_waiter_seen(ino_t ino)
{
	char needle[64];

	snprintf(needle, sizeof(needle), ":%ju ", (uintmax_t)ino);
	for (int i = 0; i < 20000; i++) {
		FILE *f = fopen("/proc/locks", "re");
		char line[256];
		bool seen = false;

		if (!f)
			return false;
		while (!seen && fgets(line, sizeof(line), f))
			seen = strstr(line, "->") && strstr(line, needle);
		fclose(f);
		if (seen)
			return true;
		(void)usleep(500);	/* polling for the event, not standing in for it */
	}
	return false;
}

/* Without the directory lock (a command beside a running daemon), a load
 * waits while a writer holds the file and, if the file was replaced
 * meanwhile, reads the new one, never what was written over the old. */
START_TEST(test_load_waits_for_a_writer_and_rereads)
{
	_cleanup_free_ char *dir = make_tmpdir(), *err = NULL, *p = NULL;
	struct statedir *d = open_locked(dir), *ro = NULL;
	struct listener_state *s = sample_state(), *t = NULL;
	int go[2], status;
	char c = '?';
	pid_t pid;

	ck_assert_msg(state_save(d, s, &err) == 0, "%s", err);
	ck_assert_uint_eq(s->n_pending, 3);
	p = path_join(dir, "wiki.json");
	ck_assert_int_eq(pipe(go), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(p, O_RDWR | O_CLOEXEC);
		struct stat st;
		char res = '0';

		/* "L" once it holds the lock, then its verdict: the exit status
		 * is valgrind's when it runs the tests (the child's memory is
		 * left to _exit()). */
		if (fd < 0 || flock(fd, LOCK_EX) < 0 || fstat(fd, &st) < 0)
			res = '2';
		else if (write(go[1], "L", 1) != 1 || !lock_waiter_seen(st.st_ino))
			res = '3';
		if (res == '0') {
			/* A newer state goes in place, then the old file is written over. */
			listener_state_pop(s);
			if (state_save(d, s, NULL) < 0)
				res = '4';
			else if (pwrite(fd, "{\"not\":\"a state\"}", 17, 0) != 17 || ftruncate(fd, 17) < 0)
				res = '5';
		}
		(void)!write(go[1], &res, 1);
		_exit(0);
	}
	ck_assert_int_eq(read(go[0], &c, 1), 1);
	ck_assert_msg(c == 'L', "writer: failure %c", c);
	ck_assert_int_eq(statedir_open(dir, 0, &ro, &err), 0);
	ck_assert_msg(state_load(ro, "wiki", &t, &err) == 0, "%s", err);
	ck_assert_uint_eq(t->n_pending, 2);
	ck_assert_int_eq(read(go[0], &c, 1), 1);
	ck_assert_msg(c == '0', "writer: failure %c", c);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	listener_state_free(t);
	statedir_free(ro);
	listener_state_free(s);
	statedir_free(d);
	close(go[0]);
	close(go[1]);
	rm_tree(dir);
}
END_TEST

START_TEST(test_load_refuses_odd_files)
{
	_cleanup_free_ char *dir = make_tmpdir(), *p = NULL;
	struct statedir *d = open_locked(dir);

	p = path_join(dir, "link.json");
	write_file(dir, "wiki.json", BASE, strlen(BASE));
	ck_assert_int_eq(symlink("wiki.json", p), 0);
	assert_load_error(d, "link", -ELOOP, "link.json: is a symbolic link, not following it");

	free(p);
	p = path_join(dir, "fifo.json");
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	assert_load_error(d, "fifo", -EBADMSG, "fifo.json: not a regular file");

	/* A sparse file just over the limit: refused by its size, not read. */
	free(p);
	p = path_join(dir, "big.json");
	write_file(dir, "big.json", "{", 1);
	ck_assert_int_eq(truncate(p, (off_t)STATE_MAX_FILE_SIZE + 1), 0);
	assert_load_error(d, "big", -EBADMSG, "big.json: too large (1073741825 bytes, the limit is 1073741824)");

	/* A syntax error names file, line and column. */
	write_file(dir, "bad.json", "{\n  \"format\": x\n}", 17);
	assert_load_error(d, "bad", -EBADMSG, "bad.json:2:13: invalid token near 'x'");

	statedir_free(d);
	rm_tree(dir);
}
END_TEST

START_TEST(test_saved_file_truncated_at_every_point)
{
	_cleanup_free_ char *dir = make_tmpdir(), *err = NULL, *text = NULL;
	struct statedir *d = open_locked(dir);
	struct listener_state *s = sample_state(), *t = NULL;
	size_t len;

	ck_assert_int_eq(state_save(d, s, &err), 0);
	text = read_file(dir, "wiki.json", &len);
	for (size_t cut = 0; cut + 1 < len; cut++) {
		write_file(dir, "wiki.json", text, cut);
		ck_assert_msg(state_load(d, "wiki", &t, &err) == -EBADMSG, "accepted a file cut at %zu", cut);
		ck_assert_ptr_null(t);
		ck_assert_ptr_nonnull(err);
		free(err);
		err = NULL;
	}
	/* Only the final newline may go. */
	write_file(dir, "wiki.json", text, len - 1);
	ck_assert_int_eq(state_load(d, "wiki", &t, &err), 0);
	listener_state_free(t);
	listener_state_free(s);
	statedir_free(d);
	rm_tree(dir);
}
END_TEST

/* ------------------------------------------------------------ locking */

START_TEST(test_lock_in_process)
{
	_cleanup_free_ char *dir = make_tmpdir(), *err = NULL, *want = NULL, *pid = NULL, *ls = NULL;
	struct statedir *a = open_locked(dir), *b = NULL;

	/* flock() locks belong to the open file description: a second open conflicts. */
	ck_assert_int_eq(statedir_open(dir, STATEDIR_LOCK, &b, &err), -EBUSY);
	ck_assert_ptr_null(b);
	ck_assert_int_ge(asprintf(&want, "state directory %s is locked by another ssewatchd (pid %d)", dir,
				  (int)getpid()), 0);
	ck_assert_str_eq(err, want);
	pid = read_file(dir, ".lock", NULL);
	free(want);
	ck_assert_int_ge(asprintf(&want, "%d\n", (int)getpid()), 0);
	ck_assert_str_eq(pid, want);

	/* Without the lock flag: fine, and not locked. */
	free(err);
	err = NULL;
	ck_assert_int_eq(statedir_open(dir, 0, &b, &err), 0);
	ck_assert(!statedir_locked(b));
	statedir_free(b);
	b = NULL;

	statedir_free(a);
	ck_assert_int_eq(statedir_open(dir, STATEDIR_LOCK, &b, &err), 0);
	ck_assert(statedir_locked(b));
	statedir_free(b);
	ls = list_dir(dir);
	ck_assert_str_eq(ls, ".lock");
	rm_tree(dir);
}
END_TEST

START_TEST(test_lock_other_process)
{
	_cleanup_free_ char *dir = make_tmpdir(), *err = NULL, *want = NULL;
	struct statedir *b = NULL;
	int up[2], down[2], status;
	char c = 0;
	pid_t pid;

	ck_assert_int_eq(pipe2(up, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(down, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct statedir *cd = NULL;

		close(up[0]);
		close(down[1]);
		c = statedir_open(dir, STATEDIR_LOCK, &cd, NULL) == 0 ? 'L' : 'E';
		(void)!write(up[1], &c, 1);
		(void)!read(down[0], &c, 1);	/* until the parent closes its end */
		statedir_free(cd);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	ck_assert_int_eq(read(up[0], &c, 1), 1);
	ck_assert_int_eq(c, 'L');
	ck_assert_int_eq(statedir_open(dir, STATEDIR_LOCK, &b, &err), -EBUSY);
	ck_assert_int_ge(asprintf(&want, "state directory %s is locked by another ssewatchd (pid %d)", dir, (int)pid),
			 0);
	ck_assert_str_eq(err, want);
	close(down[1]);
	close(up[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	/* Only that it exited: under valgrind a forked child reports the parent's memory as its leaks. */
	ck_assert(WIFEXITED(status));

	/* The kernel released the lock with the process. */
	free(err);
	err = NULL;
	ck_assert_int_eq(statedir_open(dir, STATEDIR_LOCK, &b, &err), 0);
	statedir_free(b);
	rm_tree(dir);
}
END_TEST

START_TEST(test_lock_holder_without_pid)
{
	_cleanup_free_ char *dir = make_tmpdir(), *p = NULL, *err = NULL, *want = NULL;
	_cleanup_close_ int fd = -1;
	struct statedir *d = NULL;

	p = path_join(dir, ".lock");
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "garbage", 7), 7);
	ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
	ck_assert_int_eq(statedir_open(dir, STATEDIR_LOCK, &d, &err), -EBUSY);
	ck_assert_int_ge(asprintf(&want, "state directory %s is locked by another ssewatchd (pid unknown)", dir), 0);
	ck_assert_str_eq(err, want);
	rm_tree(dir);
}
END_TEST

START_TEST(test_leftover_temp_files)
{
	_cleanup_free_ char *dir = make_tmpdir(), *err = NULL, *ls = NULL, *dl = NULL, *p = NULL;
	struct statedir *d = NULL;

	write_file(dir, "wiki.json", "{}", 2);
	write_file(dir, ".wiki.json.Ab12Cd", "{", 1);
	write_file(dir, ".probe.ZZZZZZ", "", 0);
	write_file(dir, ".wiki.json.tmp", "", 0);
	write_file(dir, ".wiki.json.Ab12C-", "", 0);
	write_file(dir, ".abcdef", "", 0);
	p = path_join(dir, ".dir.json.Ab12Cd");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	free(p);
	p = path_join(dir, "dead-letters");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	dl = path_join(p, "wiki");
	ck_assert_int_eq(mkdir(dl, 0700), 0);
	write_file(dl, "5.json", "{}", 2);
	write_file(dl, ".6.json.q1w2e3", "{", 1);

	/* Without the lock nothing is touched: a running daemon may be writing them. */
	ck_assert_int_eq(statedir_open(dir, 0, &d, &err), 0);
	statedir_free(d);
	ls = list_dir(dir);
	ck_assert_str_eq(ls, ".abcdef .dir.json.Ab12Cd .probe.ZZZZZZ .wiki.json.Ab12C- .wiki.json.Ab12Cd "
			     ".wiki.json.tmp dead-letters wiki.json");

	d = open_locked(dir);
	free(ls);
	ls = list_dir(dir);
	ck_assert_str_eq(ls, ".abcdef .dir.json.Ab12Cd .lock .wiki.json.Ab12C- .wiki.json.tmp dead-letters wiki.json");
	free(ls);
	ls = list_dir(dl);
	ck_assert_str_eq(ls, "5.json");
	statedir_free(d);
	rm_tree(dir);
}
END_TEST

/* ------------------------------------------------------------ failing file systems */

START_TEST(test_probe_read_only)
{
	_cleanup_free_ char *dir = make_tmpdir(), *state = NULL, *bare = NULL, *err = NULL, *want = NULL;
	struct statedir *d = NULL;
	struct listener_state *s = sample_state(), *t = NULL;
	char **names = NULL;

	if (!mount_tmpfs(dir, "size=1m,mode=0700", "test_probe_read_only")) {
		listener_state_free(s);
		rm_tree(dir);
		return;
	}
	state = path_join(dir, "state");
	bare = path_join(dir, "bare");
	ck_assert_int_eq(mkdir(bare, 0700), 0);
	d = open_locked(state);
	ck_assert_int_eq(state_save(d, s, &err), 0);
	statedir_free(d);
	d = NULL;
	ck_assert_int_eq(mount("none", dir, "none", MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL), 0);

	/* The lock file exists: it is locked, then the probe says what is wrong. */
	ck_assert_int_eq(statedir_open(state, STATEDIR_LOCK, &d, &err), -EROFS);
	ck_assert_ptr_null(d);
	ck_assert_int_ge(asprintf(&want, "cannot write to state directory %s: Read-only file system", state), 0);
	ck_assert_str_eq(err, want);

	/* No lock file yet. */
	free(err);
	free(want);
	err = NULL;
	ck_assert_int_eq(statedir_open(bare, STATEDIR_LOCK | STATEDIR_CREATE, &d, &err), -EROFS);
	ck_assert_int_ge(asprintf(&want, "cannot write to state directory %s (creating .lock): Read-only file system",
				  bare), 0);
	ck_assert_str_eq(err, want);

	/* Read-only commands still work. */
	free(err);
	err = NULL;
	ck_assert_int_eq(statedir_open(state, 0, &d, &err), 0);
	ck_assert_int_eq(state_load(d, "wiki", &t, &err), 0);
	ck_assert_uint_eq(t->n_pending, 3);
	ck_assert_int_eq(statedir_list(d, &names), 0);
	ck_assert_str_eq(names[0], "wiki");
	strv_free(names);
	listener_state_free(t);
	statedir_free(d);
	listener_state_free(s);
	ck_assert_int_eq(umount2(dir, MNT_DETACH), 0);
	rm_tree(dir);
}
END_TEST

START_TEST(test_enospc)
{
	_cleanup_free_ char *dir = make_tmpdir(), *err = NULL, *want = NULL, *text = NULL, *ls = NULL, *big = NULL;
	_cleanup_close_ int dfd = -1, fill = -1;
	struct statedir *d = NULL;
	char block[4096];
	ssize_t n;

	if (!mount_tmpfs(dir, "size=64k,mode=0700", "test_enospc")) {
		rm_tree(dir);
		return;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	ck_assert_int_eq(atomic_write_at(dfd, "x.json", "old\n", 4, true, 0600), 0);

	/* Fill the file system to the last block. */
	fill = openat(dfd, "filler", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fill, 0);
	memset(block, 'f', sizeof(block));
	while ((n = write(fill, block, sizeof(block))) > 0)
		;
	ck_assert_int_eq(n, -1);
	ck_assert_int_eq(errno, ENOSPC);

	big = malloc(32768);
	memset(big, 'n', 32768);
	ck_assert_int_eq(atomic_write_at(dfd, "x.json", big, 32768, true, 0600), -ENOSPC);
	ck_assert_int_eq(atomic_write_at(dfd, "x.json", "new\n", 4, true, 0600), -ENOSPC);
	text = read_file(dir, "x.json", NULL);
	ck_assert_str_eq(text, "old\n");
	ls = list_dir(dir);
	ck_assert_str_eq(ls, "filler x.json");

	/* The probe finds it too, and leaves nothing behind either. */
	ck_assert_int_eq(statedir_open(dir, STATEDIR_LOCK, &d, &err), -ENOSPC);
	ck_assert_int_ge(asprintf(&want, "cannot write to state directory %s (writing a probe file): "
					 "No space left on device", dir), 0);
	ck_assert_str_eq(err, want);
	free(ls);
	ls = list_dir(dir);
	ck_assert_str_eq(ls, ".lock filler x.json");

	/* Room again: writes work. */
	ck_assert_int_eq(ftruncate(fill, 0), 0);
	ck_assert_int_eq(atomic_write_at(dfd, "x.json", big, 32768, true, 0600), 0);
	free(err);
	err = NULL;
	ck_assert_int_eq(statedir_open(dir, STATEDIR_LOCK, &d, &err), 0);
	statedir_free(d);
	ck_assert_int_eq(umount2(dir, MNT_DETACH), 0);
	rm_tree(dir);
}
END_TEST

/* ------------------------------------------------------------ dead letters */

static json_t *dead_record(uint64_t seq)
{
	json_t *r = json_pack("{s:s,s:I,s:{s:s},s:s,s:s,s:i,s:I}", "listener", "wiki", "seq", (json_int_t)seq,
			      "notification", "data", "x", "trigger", "triggers[1]", "error", "exit status 3",
			      "attempts", 4, "failed_usec", (json_int_t)1700000000000000);

	ck_assert_ptr_nonnull(r);
	return r;
}

START_TEST(test_dead_letters)
{
	_cleanup_free_ char *dir = make_tmpdir(), *dl = NULL, *p = NULL, *ls = NULL, *err = NULL, *want = NULL;
	struct statedir *d = open_locked(dir);
	_cleanup_free_ uint64_t *seqs = NULL;
	static const uint64_t order[] = { 10, 2, 1 };
	json_t *rec, *got = NULL;
	struct stat st;
	size_t n = 99;

	ck_assert_int_eq(deadletter_list(d, "wiki", &seqs, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(seqs);
	ck_assert_int_eq(deadletter_read(d, "wiki", 1, &got, &err), -ENOENT);

	for (size_t i = 0; i < ELEMENTSOF(order); i++) {
		rec = dead_record(order[i]);
		ck_assert_int_eq(deadletter_write(d, "wiki", order[i], rec), 0);
		json_decref(rec);
	}
	p = path_join(dir, "dead-letters");
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	dl = path_join(p, "wiki");
	ck_assert_int_eq(stat(dl, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	ls = list_dir(dl);
	ck_assert_str_eq(ls, "1.json 10.json 2.json");

	/* Not ours: ignored. */
	write_file(dl, "abc.json", "{}", 2);
	write_file(dl, "007.json", "{}", 2);
	write_file(dl, "0.json", "{}", 2);
	write_file(dl, "3.txt", "{}", 2);
	write_file(dl, "99999999999999999999.json", "{}", 2);
	write_file(dl, "9223372036854775808.json", "{}", 2);
	free(p);
	p = path_join(dl, "4.json");
	ck_assert_int_eq(mkdir(p, 0700), 0);

	ck_assert_int_eq(deadletter_list(d, "wiki", &seqs, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(seqs[0], 1);
	ck_assert_uint_eq(seqs[1], 2);
	ck_assert_uint_eq(seqs[2], 10);
	free(seqs);
	seqs = NULL;

	ck_assert_int_eq(deadletter_read(d, "wiki", 2, &got, &err), 0);
	rec = dead_record(2);
	ck_assert(json_equal(got, rec));
	json_decref(rec);
	json_decref(got);
	ck_assert_int_eq(deadletter_read(d, "wiki", 3, &got, &err), -ENOENT);
	ck_assert_ptr_null(err);

	ck_assert_int_eq(deadletter_remove(d, "wiki", 2), 0);
	ck_assert_int_eq(deadletter_remove(d, "wiki", 2), -ENOENT);
	ck_assert_int_eq(deadletter_remove(d, "other", 2), -ENOENT);
	ck_assert_int_eq(deadletter_list(d, "wiki", &seqs, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(seqs[0], 1);
	ck_assert_uint_eq(seqs[1], 10);

	/* A corrupt dead letter is reported, with its path. */
	write_file(dl, "11.json", "{\"a\":", 5);
	ck_assert_int_eq(deadletter_read(d, "wiki", 11, &got, &err), -EBADMSG);
	ck_assert_int_ge(asprintf(&want, "%s/11.json:1:5: unexpected token near end of file", dl), 0);
	ck_assert_str_eq(err, want);

	rec = dead_record(1);
	ck_assert_int_eq(deadletter_write(d, "wiki", 0, rec), -EINVAL);
	ck_assert_int_eq(deadletter_write(d, "wiki", (uint64_t)INT64_MAX + 1, rec), -EINVAL);
	ck_assert_int_eq(deadletter_write(d, "..", 1, rec), -EINVAL);
	ck_assert_int_eq(deadletter_write(d, "a/b", 1, rec), -EINVAL);
	json_decref(rec);
	rec = json_array();
	ck_assert_int_eq(deadletter_write(d, "wiki", 1, rec), -EINVAL);
	json_decref(rec);

	statedir_free(d);
	rm_tree(dir);
}
END_TEST

/* A new state's numbers begin past every dead letter of the listener. */
START_TEST(test_dead_letter_next_seq)
{
	_cleanup_free_ char *dir = make_tmpdir();
	struct statedir *d = open_locked(dir);
	uint64_t seq = 0;
	json_t *rec = dead_record(7);

	ck_assert_int_eq(deadletter_next_seq(d, "wiki", &seq), 0);
	ck_assert_uint_eq(seq, 1);
	ck_assert_int_eq(deadletter_write(d, "wiki", 7, rec), 0);
	ck_assert_int_eq(deadletter_write(d, "wiki", 3, rec), 0);
	ck_assert_int_eq(deadletter_next_seq(d, "wiki", &seq), 0);
	ck_assert_uint_eq(seq, 8);
	ck_assert_int_eq(deadletter_next_seq(d, "other", &seq), 0);
	ck_assert_uint_eq(seq, 1);
	ck_assert_int_eq(deadletter_write(d, "wiki", INT64_MAX, rec), 0);
	ck_assert_int_eq(deadletter_next_seq(d, "wiki", &seq), -EOVERFLOW);
	json_decref(rec);

	statedir_free(d);
	rm_tree(dir);
}
END_TEST

/* state_save assembles the file from cached pieces: it must be the very
 * bytes jansson writes for listener_state_to_json(), whatever the state. */
/* The numbers of a pending notification are written digit pair by digit
 * pair: every length, every boundary, the largest, as jansson writes them. */
START_TEST(test_saved_numbers_equal_the_json_dump)
{
	_cleanup_free_ char *dir = make_tmpdir(), *err = NULL, *want = NULL, *got = NULL;
	struct statedir *d = open_locked(dir);
	json_t *identity = json_pack("{s:s}", "protocol", "sse"), *j;
	struct listener_state *st = listener_state_new("n", identity);
	uint64_t p10 = 1;

	json_decref(identity);
	ck_assert_ptr_nonnull(st);
	for (int k = 0; k <= 18; k++, p10 *= 10) {
		const uint64_t values[] = { p10 - 1, p10, p10 + 1, 2 * p10 + 3, 5 * p10 - 7 };

		for (size_t v = 0; v < ELEMENTSOF(values); v++)
			if (values[v] <= INT64_MAX)	/* the limit of a received time */
				ck_assert_int_eq(listener_state_push(st, json_pack("{s:i}", "k", k), values[v], NULL),
						 0);
	}
	ck_assert_int_eq(listener_state_push(st, json_object(), INT64_MAX, NULL), 0);
	/* Runs of one time (the digits are reused) and a change between them. */
	for (int k = 0; k < 7; k++)
		ck_assert_int_eq(listener_state_push(st, json_object(), k == 3 ? 1700000000123457 : 1700000000123456,
						     NULL), 0);
	listener_state_oldest(st)->triggers_done = 999;
	ck_assert_msg(state_save(d, st, &err) == 0, "%s", err);
	j = listener_state_to_json(st);
	ck_assert_ptr_nonnull(j);
	want = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	got = read_file(dir, "n.json", NULL);
	ck_assert_ptr_nonnull(want);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(strlen(got), strlen(want) + 1);
	ck_assert_int_eq(strncmp(got, want, strlen(want)), 0);
	listener_state_free(st);
	statedir_free(d);
	rm_tree(dir);
}
END_TEST

/* "bootstrap" is written while there is no cursor, as the very bytes jansson
 * writes, read back, and dropped once a cursor is set. */
START_TEST(test_bootstrap_member)
{
	_cleanup_free_ char *dir = make_tmpdir(), *err = NULL;
	struct statedir *d = open_locked(dir);
	json_t *identity = json_pack("{s:s}", "protocol", "aviso"), *j;
	struct listener_state *st = listener_state_new("n", identity), *back = NULL;

	json_decref(identity);
	st->bootstrap = true;
	ck_assert_int_eq(listener_state_push(st, json_object(), 5, NULL), 0);
	for (int round = 0; round < 2; round++) {
		_cleanup_free_ char *want = NULL, *got = NULL;

		ck_assert_msg(state_save(d, st, &err) == 0, "%s", err);
		j = listener_state_to_json(st);
		want = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(j);
		got = read_file(dir, "n.json", NULL);
		ck_assert_uint_eq(strlen(got), strlen(want) + 1);
		ck_assert_int_eq(strncmp(got, want, strlen(want)), 0);
		ck_assert_int_eq(strncmp(got, "{\"bootstrap\":true,", 18) == 0, round == 0);
		ck_assert_int_eq(state_load(d, "n", &back, &err), 0);
		ck_assert_int_eq(back->bootstrap, round == 0);
		back = listener_state_free(back);
		ck_assert_int_eq(listener_state_set_cursor(st, json_integer(7)), 0);
	}
	listener_state_free(st);
	statedir_free(d);
	rm_tree(dir);
}
END_TEST

START_TEST(test_saved_text_equals_the_json_dump)
{
	_cleanup_free_ char *dir = make_tmpdir();
	struct statedir *d = NULL;
	struct listener_state *st;
	char *err = NULL;
	json_t *identity;
	json_t *cursors[] = { NULL, json_string(""), json_string("a\"b\\c\u00e9\u2028"), json_integer(0),
			      json_integer(INT64_MAX) };
	static const char *const notifications[] = {
		"{}",
		"{\"data\":\"line1\\nline2\\u0000nul\",\"event\":\"m\",\"id\":null}",
		"{\"z\":1,\"a\":[1,2.5,-3,true,false,null],\"m\":{\"y\":\"\\u00e9\\ud83d\\ude00\",\"b\":{}}}",
		"{\"payload\":{\"big\":123456789012345,\"neg\":-1,\"f\":0.1},\"identifier\":{\"step\":\"6\"}}",
	};

	ck_assert_int_eq(statedir_open(dir, STATEDIR_LOCK, &d, &err), 0);
	identity = json_pack("{s:s, s:{s:[i,s]}}", "protocol", "aviso", "f", "k", 1, "v");
	st = listener_state_new("l.x-1", identity);	/* takes its own reference */
	json_decref(identity);
	ck_assert_ptr_nonnull(st);
	for (size_t round = 0; round < ELEMENTSOF(cursors); round++) {
		_cleanup_free_ char *want = NULL, *got = NULL;
		json_t *j;
		size_t len;

		for (size_t i = 0; i < ELEMENTSOF(notifications); i++) {
			json_t *n = json_loads(notifications[i], JSON_ALLOW_NUL, NULL);

			ck_assert_ptr_nonnull(n);
			ck_assert_int_eq(listener_state_push(st, n, 1000 * round + i, NULL), 0);
		}
		if (round % 2)
			listener_state_pop(st);
		if (st->n_pending > 0)
			listener_state_oldest(st)->triggers_done = (uint32_t)round;
		/* A cursor changes type only through "unset". */
		if (st->cursor && cursors[round] && json_typeof(st->cursor) != json_typeof(cursors[round]))
			ck_assert_int_eq(listener_state_set_cursor(st, NULL), 0);
		ck_assert_int_eq(listener_state_set_cursor(st, json_incref(cursors[round])), 0);
		st->retry_ms = (uint32_t)(round * 1000);
		st->delivered = round;

		ck_assert_int_eq(state_save(d, st, &err), 0);
		j = listener_state_to_json(st);
		ck_assert_ptr_nonnull(j);
		want = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(j);
		got = read_file(dir, "l.x-1.json", &len);
		ck_assert_ptr_nonnull(want);
		ck_assert_ptr_nonnull(got);
		ck_assert_uint_eq(len, strlen(want) + 1);
		ck_assert(memcmp(got, want, strlen(want)) == 0);
		ck_assert_int_eq(got[len - 1], '\n');
	}
	for (size_t i = 0; i < ELEMENTSOF(cursors); i++)
		json_decref(cursors[i]);
	listener_state_free(st);
	statedir_free(d);
	rm_tree(dir);
}
END_TEST

Suite *state_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc;

	tc = tcase_create("vectors");
	tcase_add_loop_test(tc, test_vectors, 0, (int)ELEMENTSOF(vectors));
	tcase_add_test(tc, test_expected_name_null);
	tcase_add_test(tc, test_from_bytes_size_bound);
	tcase_add_test(tc, test_json_values);
	tcase_add_test(tc, test_too_many_values_are_refused_unparsed);
	tcase_add_test(tc, test_identity_without_secrets);
	tcase_add_test(tc, test_bootstrap_member);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("serialisation");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_to_json_exact_format);
	tcase_add_test(tc, test_saved_text_equals_the_json_dump);
	tcase_add_test(tc, test_saved_numbers_equal_the_json_dump);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_to_json_refuses_what_cannot_be_read);
	tcase_add_test(tc, test_truncate_at_every_point);
	tcase_add_test(tc, test_split_variants);
	suite_add_tcase(s, tc);

	tc = tcase_create("memory");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_cursor_rules);
	tcase_add_test(tc, test_push_rules);
	tcase_add_test(tc, test_oldest_and_rollback);
	tcase_add_test(tc, test_cursor_string);
	tcase_add_test(tc, test_fifo_many);
	tcase_add_test(tc, test_push_copy_blocks);
	suite_add_tcase(s, tc);

	tc = tcase_create("directory");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_atomic_write);
	tcase_add_test(tc, test_atomic_write_in_pieces);
	tcase_add_test(tc, test_open_create_and_list);
	tcase_add_test(tc, test_save_load_remove);
	tcase_add_loop_test(tc, test_save_in_two_halves, 0, 2);
	tcase_add_test(tc, test_save_with_a_ring);
	tcase_add_test(tc, test_ring_save_short_write);
	tcase_add_test(tc, test_commits_recycle);
	tcase_add_test(tc, test_commit_without_exchange);
	tcase_add_test(tc, test_load_waits_for_a_writer_and_rereads);
	tcase_add_test(tc, test_load_refuses_odd_files);
	tcase_add_test(tc, test_saved_file_truncated_at_every_point);
	tcase_add_test(tc, test_lock_in_process);
	tcase_add_test(tc, test_lock_other_process);
	tcase_add_test(tc, test_lock_holder_without_pid);
	tcase_add_test(tc, test_leftover_temp_files);
	tcase_add_test(tc, test_probe_read_only);
	tcase_add_test(tc, test_enospc);
	tcase_add_test(tc, test_dead_letters);
	tcase_add_test(tc, test_dead_letter_next_seq);
	suite_add_tcase(s, tc);
	return s;
}
