/* SPDX-License-Identifier: MIT */
/*
 * config: YAML (libyaml events) -> jansson tree + a side table of source
 * positions -> validated struct cfg. See config.h for the promises.
 *
 * Positions are kept per (container, key) and (container, index) rather than
 * per json_t, because jansson's true/false/null are shared singletons and
 * because YAML aliases put one node in several places.
 */
#include <ctype.h>
#include <dirent.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>
#include <yaml.h>

#include "cleanup.h"
#include "config.h"
#include "util.h"
#include "log.h"
#include "macro.h"
#include "tmpl.h"

#define CFG_MAX_NODES        500000	/* counting every alias expansion */
#define CFG_MAX_DEPTH        64
#define CFG_MAX_ERRORS       50
#define CFG_MAX_CONFD_FILES  1000
#define CFG_MAX_DURATION_USEC (7 * 24 * 3600 * USEC_PER_SEC)
#define CFG_MAX_RETRIES      1000
#define CFG_MIN_EVENT_SIZE   1024
/* An event's data escaped in the state file may take 6 times its size (\u00XX):
 * with the queue's 16 MiB besides, the largest still fits a state file's 1 GiB
 * (STATE_EVENT_SIZE_MAX says the same). */
#define CFG_MAX_EVENT_SIZE   (128 * 1024 * 1024)
#define CFG_MAX_PENDING      100000
#define SHOW_MAX             80

/* ------------------------------------------------------------ small helpers */

size_t cfg_largest_event_size(const struct cfg *c)
{
	size_t max = CFG_DEFAULT_MAX_EVENT_SIZE;

	for (size_t i = 0; i < c->n_listeners; i++)
		max = MAX(max, c->listeners[i].max_event_size);
	return max;
}

static bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static char **strv_copy(char *const *v, bool *oom)
{
	size_t n = 0;
	char **c;

	if (!v)
		return NULL;
	while (v[n])
		n++;
	c = calloc(n + 1, sizeof(char *));
	if (!c)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (!(c[i] = strdup(v[i]))) {
			strv_free(c);
			goto fail;
		}
	return c;
fail:
	*oom = true;
	return NULL;
}

static void kv_free(struct cfg_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

/*
 * User text for a one-line message: control characters escaped, cut after
 * about 60 bytes (on a UTF-8 character boundary).
 */
static const char *show(const char *s, char buf[static SHOW_MAX])
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (o >= SHOW_MAX - 12) {
			while (o > 0 && ((unsigned char)buf[o - 1] & 0xc0) == 0x80)
				o--;
			if (o > 0 && (unsigned char)buf[o - 1] >= 0xc0)
				o--;
			memcpy(buf + o, "...", 4);
			return buf;
		}
		if (*p == '\n')
			o += (size_t)sprintf(buf + o, "\\n");
		else if (*p == '\t')
			o += (size_t)sprintf(buf + o, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			o += (size_t)sprintf(buf + o, "\\x%02x", *p);
		else
			buf[o++] = (char)*p;
	}
	buf[o] = '\0';
	return buf;
}

/* ---------------------------------------------------------- position table */

struct pos {
	unsigned line, col;	/* 1-based */
};

enum pos_kind {
	POS_VALUE,	/* the value at (owner, key) or (owner, idx); owner NULL: the root */
	POS_KEY,	/* the mapping key (owner, key) */
	POS_ANCHOR,	/* an anchor by name; ref is the node */
	POS_NAME,	/* a listener name; idx is the file it was defined in */
};

struct pos_entry {
	const void *owner;
	char *key;
	size_t idx;
	enum pos_kind kind;
	bool used;
	bool bigint;		/* a plain integer too large for json_int_t, kept as a string */
	struct pos pos;
	json_t *ref;		/* anchors */
	size_t size, depth;	/* anchors: nodes and levels below, itself included; names: size is the file */
};

struct postab {
	struct pos_entry *e;
	size_t n, cap;		/* cap is 0 or a power of two */
};

static uint64_t pos_hash(const void *owner, const char *key, size_t idx, enum pos_kind kind)
{
	uint64_t h = (uint64_t)(uintptr_t)owner * UINT64_C(0x9e3779b97f4a7c15);

	h ^= ((uint64_t)idx << 2) ^ (uint64_t)kind;
	if (key)
		for (const unsigned char *p = (const unsigned char *)key; *p; p++)
			h = (h ^ *p) * UINT64_C(0x100000001b3);
	h ^= h >> 31;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	h ^= h >> 29;
	return h;
}

static bool pos_match(const struct pos_entry *e, const void *owner, const char *key, size_t idx,
		      enum pos_kind kind)
{
	if (e->owner != owner || e->kind != kind)
		return false;
	if (!key || !e->key)
		return !key && !e->key && e->idx == idx;
	return streq(e->key, key);
}

static struct pos_entry *pos_slot(const struct postab *t, const void *owner, const char *key, size_t idx,
				  enum pos_kind kind)
{
	size_t i = (size_t)pos_hash(owner, key, idx, kind) & (t->cap - 1);

	while (t->e[i].used && !pos_match(&t->e[i], owner, key, idx, kind))
		i = (i + 1) & (t->cap - 1);
	return &t->e[i];
}

static struct pos_entry *pos_find(const struct postab *t, const void *owner, const char *key, size_t idx,
				  enum pos_kind kind)
{
	struct pos_entry *e;

	if (t->cap == 0)
		return NULL;
	e = pos_slot(t, owner, key, idx, kind);
	return e->used ? e : NULL;
}

static int pos_grow(struct postab *t)
{
	struct postab n = { .cap = t->cap ? t->cap * 2 : 256 };

	n.e = calloc(n.cap, sizeof(*n.e));
	if (!n.e)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++)
		if (t->e[i].used)
			*pos_slot(&n, t->e[i].owner, t->e[i].key, t->e[i].idx, t->e[i].kind) = t->e[i];
	n.n = t->n;
	free(t->e);
	*t = n;
	return 0;
}

/* Finds or adds the entry; NULL on ENOMEM. Entries may move on the next put. */
static struct pos_entry *pos_put(struct postab *t, const void *owner, const char *key, size_t idx,
				 enum pos_kind kind)
{
	struct pos_entry *e;

	if ((t->n + 1) * 2 > t->cap && pos_grow(t) < 0)
		return NULL;
	e = pos_slot(t, owner, key, idx, kind);
	if (e->used)
		return e;
	*e = (struct pos_entry){ .owner = owner, .idx = idx, .kind = kind, .used = true };
	if (key && !(e->key = strdup(key))) {
		e->used = false;
		return NULL;
	}
	t->n++;
	return e;
}

static void postab_free(struct postab *t)
{
	for (size_t i = 0; i < t->cap; i++)
		if (t->e[i].used) {
			free(t->e[i].key);
			json_decref(t->e[i].ref);
		}
	free(t->e);
	*t = (struct postab){};
}

/* ------------------------------------------------------------------ loader */

struct err_item {
	unsigned file, line, col;
	size_t seq;
	char *text;
};

struct loader {
	struct cfg *cfg;
	struct err_item errs[CFG_MAX_ERRORS];
	size_t n_errs, n_more;
	bool oom;

	char **files;		/* display names, [0] the main file */
	size_t n_files;
	unsigned file;		/* index of the file being read */
	bool confd;
	struct postab tab;
	struct { size_t line, column; } *shifts;	/* JSON surrogate pairs rewritten before parsing:
							 * where (0-based, rewritten text), 2 columns each */
	size_t n_shifts;
	json_t *skipped;	/* values dropped while reading (a duplicate key's, a key that is
				 * not a string): kept until tab goes, whose entries name them
				 * by address, so that no new node can reuse one */
	json_t *resolved;	/* relative paths made absolute, until the values are copied */

	struct cfg_listener defs;	/* the top-level values every listener starts from */
	struct postab names;		/* listener names so far, across files */
	bool too_many_listeners;
	bool top_base_url;	/* given at top level (maybe invalid, already reported) */
	bool listeners_pos_set;
	struct pos listeners_pos;
	unsigned flags;		/* CFG_LOAD_* */
};

static const char *cur_file(const struct loader *ld)
{
	return ld->files[ld->file];
}

_printf_(4, 0) static void verr(struct loader *ld, struct pos p, const char *path, const char *fmt, va_list ap)
{
	_cleanup_free_ char *msg = NULL;
	char *line;

	if (ld->n_errs >= CFG_MAX_ERRORS) {
		ld->n_more++;
		return;
	}
	if (vasprintf(&msg, fmt, ap) < 0) {
		msg = NULL;
		ld->oom = true;
		return;
	}
	if (asprintf(&line, "%s:%u:%u: %s%s%s", cur_file(ld), p.line, p.col, path ? path : "",
		     path && *path ? ": " : "", msg) < 0) {
		ld->oom = true;
		return;
	}
	ld->errs[ld->n_errs] = (struct err_item){ ld->file, p.line, p.col, ld->n_errs, line };
	ld->n_errs++;
}

_printf_(4, 5) static void err_at(struct loader *ld, struct pos p, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(ld, p, path, fmt, ap);
	va_end(ap);
}

_printf_(3, 4) static void warn_at(struct loader *ld, struct pos p, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	struct cfg *c = ld->cfg;
	char *line, **w;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg || asprintf(&line, "%s:%u:%u: %s", cur_file(ld), p.line, p.col, msg) < 0) {
		ld->oom = true;
		return;
	}
	w = realloc(c->warnings, (c->n_warnings + 1) * sizeof(char *));
	if (!w) {
		free(line);
		ld->oom = true;
		return;
	}
	c->warnings = w;
	c->warnings[c->n_warnings++] = line;
}

static char *xstrdup(struct loader *ld, const char *s)
{
	char *c;

	if (!s)
		return NULL;
	c = strdup(s);
	if (!c)
		ld->oom = true;
	return c;
}

static void set_str(struct loader *ld, char **dst, const char *s)
{
	free(*dst);
	*dst = xstrdup(ld, s);
}

static bool plain_key(const char *k)
{
	size_t n = strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");

	return n > 0 && n <= 64 && k[n] == '\0';
}

static char *path_key(struct loader *ld, const char *base, const char *key)
{
	char b[SHOW_MAX];
	char *p;
	int r;

	if (!base)
		base = "";
	if (plain_key(key))
		r = asprintf(&p, "%s%s%s", base, *base ? "." : "", key);
	else
		r = asprintf(&p, "%s[\"%s\"]", base, show(key, b));
	if (r < 0) {
		ld->oom = true;
		return NULL;
	}
	return p;
}

static char *path_idx(struct loader *ld, const char *base, size_t i)
{
	char *p;

	if (asprintf(&p, "%s[%zu]", base ? base : "", i) < 0) {
		ld->oom = true;
		return NULL;
	}
	return p;
}

/* ------------------------------------------------------------- YAML reader */

struct rframe {
	json_t *node;
	char *anchor;
	char *key;		/* maps: the key whose value comes next */
	struct pos pos, key_pos;
	size_t idx;		/* sequences: the next index */
	size_t first_node;	/* node count when the container started */
	size_t depth_below;
	bool is_map, want_value, skip;
};

struct reader {
	struct loader *ld;
	struct rframe st[CFG_MAX_DEPTH];
	size_t depth;
	size_t nodes;
	json_t *root;
	bool fatal;
};

/* A libyaml mark as the file's line and column: each surrogate pair
 * rewritten before it on its line was 2 characters longer in the file. */
static struct pos file_pos(const struct loader *ld, size_t line, size_t column)
{
	size_t shifted = column;

	for (size_t i = 0; i < ld->n_shifts; i++)
		if (ld->shifts[i].line == line && ld->shifts[i].column < column)
			shifted += 2;
	return (struct pos){ (unsigned)MIN(line + 1, 999999999u), (unsigned)MIN(shifted + 1, 999999999u) };
}

static struct pos mark_pos(const struct loader *ld, yaml_mark_t m)
{
	return file_pos(ld, m.line, m.column);
}

/* The path of the node being read; with_key: include a pending map key. */
static char *reader_path(struct reader *r, bool with_key)
{
	struct loader *ld = r->ld;
	char *p = xstrdup(ld, "");

	for (size_t i = 0; p && i < r->depth; i++) {
		const struct rframe *f = &r->st[i];
		bool last = i + 1 == r->depth;
		char *n;

		if (f->is_map) {
			if (!f->want_value || !f->key || (last && !with_key))
				break;
			n = path_key(ld, p, f->key);
		} else
			n = path_idx(ld, p, f->idx);
		free(p);
		p = n;
	}
	return p;
}

_printf_(4, 5) static void rerr(struct reader *r, struct pos p, bool with_key, const char *fmt, ...)
{
	_cleanup_free_ char *path = reader_path(r, with_key);
	va_list ap;

	va_start(ap, fmt);
	verr(r->ld, p, path, fmt, ap);
	va_end(ap);
}

static bool count_nodes(struct reader *r, struct pos p, size_t n)
{
	if (n > CFG_MAX_NODES - r->nodes) {
		rerr(r, p, true, "too many nodes (more than %d, counting alias expansions)", CFG_MAX_NODES);
		r->fatal = true;
		return false;
	}
	r->nodes += n;
	return true;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "a mapping";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		break;
	}
	return "null";
}

/* v (a new reference) is not part of the tree: see loader.skipped. */
static void skip_value(struct loader *ld, json_t *v)
{
	if (!ld->skipped && !(ld->skipped = json_array())) {
		json_decref(v);
		ld->oom = true;
		return;
	}
	if (json_array_append_new(ld->skipped, v) < 0)
		ld->oom = true;
}

/* Hands v (a new reference) to the container being read, or makes it the root. */
static void attach(struct reader *r, json_t *v, struct pos p, size_t depth, bool bigint)
{
	struct loader *ld = r->ld;
	struct pos_entry *e;
	struct rframe *f;

	if (!v) {
		ld->oom = r->fatal = true;
		return;
	}
	if (r->depth == 0) {
		json_decref(r->root);
		r->root = v;
		if ((e = pos_put(&ld->tab, NULL, NULL, 0, POS_VALUE)))
			e->pos = p;
		else
			ld->oom = true;
		return;
	}
	f = &r->st[r->depth - 1];
	f->depth_below = MAX(f->depth_below, depth);

	if (!f->is_map) {
		if (json_array_append_new(f->node, v) < 0 ||
		    !(e = pos_put(&ld->tab, f->node, NULL, f->idx, POS_VALUE))) {
			ld->oom = r->fatal = true;
			return;
		}
		e->pos = p;
		e->bigint = bigint;
		f->idx++;
		return;
	}

	if (!f->want_value) {
		char b[SHOW_MAX];

		f->want_value = true;
		f->skip = true;
		if (!json_is_string(v) || bigint)
			rerr(r, p, false, "mapping keys must be strings, not %s", bigint ? "an integer" : type_name(v));
		else if ((e = pos_find(&ld->tab, f->node, json_string_value(v), 0, POS_KEY))) {
			_cleanup_free_ char *base = reader_path(r, false);
			_cleanup_free_ char *path = base ? path_key(ld, base, json_string_value(v)) : NULL;

			err_at(ld, p, path, "duplicate key '%s' (first at line %u)",
			       show(json_string_value(v), b), e->pos.line);
		} else if (!(f->key = xstrdup(ld, json_string_value(v))))
			r->fatal = true;
		else {
			f->key_pos = p;
			f->skip = false;
		}
		skip_value(ld, v);
		return;
	}

	f->want_value = false;
	if (f->skip) {
		skip_value(ld, v);
		return;
	}
	if (json_object_set_new(f->node, f->key, v) < 0 ||
	    !(e = pos_put(&ld->tab, f->node, f->key, 0, POS_VALUE))) {
		ld->oom = r->fatal = true;
		goto out;
	}
	e->pos = p;
	e->bigint = bigint;
	if (!(e = pos_put(&ld->tab, f->node, f->key, 0, POS_KEY))) {
		ld->oom = r->fatal = true;
		goto out;
	}
	e->pos = f->key_pos;
out:
	free(f->key);
	f->key = NULL;
}

/* A node is complete: remember its anchor, then attach it. */
static void finish_node(struct reader *r, json_t *v, struct pos p, const char *anchor, size_t size,
			size_t depth, bool bigint)
{
	struct pos_entry *e;

	if (v && anchor) {
		e = pos_put(&r->ld->tab, NULL, anchor, 0, POS_ANCHOR);
		if (!e) {
			json_decref(v);
			r->ld->oom = r->fatal = true;
			return;
		}
		json_decref(e->ref);
		*e = (struct pos_entry){ .owner = e->owner, .key = e->key, .kind = POS_ANCHOR, .used = true,
					 .bigint = bigint, .pos = p, .ref = json_incref(v),
					 .size = size, .depth = depth };
	}
	attach(r, v, p, depth, bigint);
}

enum tag_kind { TAG_NONE, TAG_STR, TAG_INT, TAG_FLOAT, TAG_BOOL, TAG_NULL, TAG_MAP, TAG_SEQ, TAG_BAD };

static enum tag_kind tag_kind(const yaml_char_t *tag)
{
	static const struct { const char *name; enum tag_kind kind; } tags[] = {
		{ "!", TAG_STR }, /* the non-specific tag: not resolved */
		{ YAML_STR_TAG, TAG_STR }, { YAML_INT_TAG, TAG_INT }, { YAML_FLOAT_TAG, TAG_FLOAT },
		{ YAML_BOOL_TAG, TAG_BOOL }, { YAML_NULL_TAG, TAG_NULL }, { YAML_MAP_TAG, TAG_MAP },
		{ YAML_SEQ_TAG, TAG_SEQ },
	};

	if (!tag)
		return TAG_NONE;
	for (size_t i = 0; i < ELEMENTSOF(tags); i++)
		if (streq((const char *)tag, tags[i].name))
			return tags[i].kind;
	return TAG_BAD;
}

static size_t span_digits(const char *s, int base)
{
	size_t n = 0;

	while ((base == 8 && s[n] >= '0' && s[n] <= '7') || (base == 10 && isdigit((unsigned char)s[n])) ||
	       (base == 16 && isxdigit((unsigned char)s[n])))
		n++;
	return n;
}

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static bool is_core_float(const char *s)
{
	size_t a, b = 0;

	if (*s == '-' || *s == '+')
		s++;
	a = span_digits(s, 10);
	s += a;
	if (*s == '.') {
		s++;
		b = span_digits(s, 10);
		s += b;
	}
	if (a == 0 && b == 0)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (span_digits(s, 10) == 0)
			return false;
		s += span_digits(s, 10);
	}
	return *s == '\0';
}

/* The YAML 1.2 core schema, for plain scalars. s holds no NUL byte. */
static json_t *resolve_plain(const char *s, size_t n, bool *bigint)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	static const char *const trues[] = { "true", "True", "TRUE" };
	static const char *const falses[] = { "false", "False", "FALSE" };
	const char *d = s;
	int base = 10;

	for (size_t i = 0; i < ELEMENTSOF(nulls); i++)
		if (streq(s, nulls[i]))
			return json_null();
	for (size_t i = 0; i < ELEMENTSOF(trues); i++) {
		if (streq(s, trues[i]))
			return json_true();
		if (streq(s, falses[i]))
			return json_false();
	}

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
		base = s[1] == 'x' ? 16 : 8;
		d = s + 2;
	} else if (*d == '-' || *d == '+')
		d++;
	if (*d && span_digits(d, base) == n - (size_t)(d - s)) {
		if (base == 10) {
			long long v;

			errno = 0;
			v = strtoll(s, NULL, 10);
			if (errno == 0)
				return json_integer(v);
		} else {
			unsigned long long v;

			errno = 0;
			v = strtoull(d, NULL, base);
			if (errno == 0 && v <= (unsigned long long)INT64_MAX)
				return json_integer((json_int_t)v);
		}
		*bigint = true;
		return json_stringn(s, n);
	}
	if (is_core_float(s)) {
		double v = strtod(s, NULL);

		if (v - v == 0) /* finite */
			return json_real(v);
	}
	return json_stringn(s, n);
}

static void on_scalar(struct reader *r, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	struct pos p = mark_pos(r->ld, ev->start_mark);
	enum tag_kind tk = tag_kind(ev->data.scalar.tag);
	bool bigint = false;
	char b[SHOW_MAX];
	json_t *v;

	if (!count_nodes(r, p, 1))
		return;
	if (memchr(s, '\0', n)) {
		rerr(r, p, true, "strings must not contain NUL characters");
		r->fatal = true;
		return;
	}
	if (tk == TAG_BAD || tk == TAG_MAP || tk == TAG_SEQ) {
		rerr(r, p, true, "unsupported tag '%s' on a scalar", show((const char *)ev->data.scalar.tag, b));
		tk = TAG_NONE;
	}
	if (tk == TAG_STR || (tk == TAG_NONE && ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE))
		v = json_stringn(s, n);
	else {
		v = resolve_plain(s, n, &bigint);
		if (v && ((tk == TAG_INT && !json_is_integer(v) && !bigint) ||
			  (tk == TAG_FLOAT && !json_is_number(v)) || (tk == TAG_BOOL && !json_is_boolean(v)) ||
			  (tk == TAG_NULL && !json_is_null(v))))
			rerr(r, p, true, "'%s' does not match its tag '%s'", show(s, b),
			     (const char *)ev->data.scalar.tag);
	}
	if (!v) {
		rerr(r, p, true, "not valid UTF-8 text");
		r->fatal = true;
		return;
	}
	finish_node(r, v, p, (const char *)ev->data.scalar.anchor, 1, 1, bigint);
}

static void on_start(struct reader *r, const yaml_event_t *ev, bool is_map)
{
	const yaml_char_t *anchor = is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
	const yaml_char_t *tag = is_map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
	enum tag_kind tk = tag_kind(tag);
	struct pos p = mark_pos(r->ld, ev->start_mark);
	struct rframe *f;
	char b[SHOW_MAX];

	if (r->depth >= CFG_MAX_DEPTH) {
		rerr(r, p, true, "nested deeper than %d levels", CFG_MAX_DEPTH);
		r->fatal = true;
		return;
	}
	if (!count_nodes(r, p, 1))
		return;
	if (tk != TAG_NONE && !(tk == TAG_STR && streq((const char *)tag, "!")) &&
	    tk != (is_map ? TAG_MAP : TAG_SEQ))
		rerr(r, p, true, "unsupported tag '%s' on a %s", show((const char *)tag, b),
		     is_map ? "mapping" : "list");
	f = &r->st[r->depth];
	*f = (struct rframe){ .node = is_map ? json_object() : json_array(), .pos = p, .is_map = is_map,
			      .first_node = r->nodes };
	if (!f->node || (anchor && !(f->anchor = strdup((const char *)anchor)))) {
		json_decref(f->node);
		r->ld->oom = r->fatal = true;
		return;
	}
	r->depth++;
}

static void on_end(struct reader *r)
{
	struct rframe f;

	if (r->depth == 0) /* libyaml never does this; be safe anyway */
		return;
	f = r->st[--r->depth];
	free(f.key);
	finish_node(r, f.node, f.pos, f.anchor, r->nodes - f.first_node + 1, f.depth_below + 1, false);
	free(f.anchor);
}

static void on_alias(struct reader *r, const yaml_event_t *ev)
{
	struct pos p = mark_pos(r->ld, ev->start_mark);
	struct pos_entry *e = pos_find(&r->ld->tab, NULL, (const char *)ev->data.alias.anchor, 0, POS_ANCHOR);
	size_t size, depth;
	char b[SHOW_MAX];
	bool bigint;
	json_t *v;

	if (!e) {
		rerr(r, p, true, "alias '*%s' does not refer to an earlier, complete anchored node",
		     show((const char *)ev->data.alias.anchor, b));
		r->fatal = true;
		return;
	}
	/* Copy out: the table may move when the alias is attached. */
	v = json_incref(e->ref);
	size = e->size;
	depth = e->depth;
	bigint = e->bigint;
	if (r->depth + depth > CFG_MAX_DEPTH) {
		rerr(r, p, true, "nested deeper than %d levels (through an alias)", CFG_MAX_DEPTH);
		r->fatal = true;
	} else if (count_nodes(r, p, size)) {
		attach(r, v, p, depth, bigint);
		return;
	}
	json_decref(v);
}

/* libyaml's reader errors carry a byte offset only. */
static struct pos offset_pos(const struct loader *ld, const char *buf, size_t len, size_t off)
{
	struct pos p = { 1, 1 };

	for (size_t i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			p.line++;
			p.col = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80)
			p.col++;
	}
	return file_pos(ld, p.line - 1, p.col - 1);
}

static void parser_error(struct reader *r, const yaml_parser_t *yp, const char *buf, size_t len)
{
	const char *problem = yp->problem ? yp->problem : "unknown error";

	switch (yp->error) {
	case YAML_MEMORY_ERROR:
		r->ld->oom = true;
		break;
	case YAML_READER_ERROR:
		if (yp->problem_value >= 0)
			err_at(r->ld, offset_pos(r->ld, buf, len, yp->problem_offset), NULL,
			       "invalid input: %s (byte 0x%02x)", problem, (unsigned)yp->problem_value & 0xff);
		else
			err_at(r->ld, offset_pos(r->ld, buf, len, yp->problem_offset), NULL, "invalid input: %s",
			       problem);
		break;
	default:
		if (yp->context)
			err_at(r->ld, mark_pos(r->ld, yp->problem_mark), NULL,
			       "YAML syntax error: %s (%s at line %u, column %u)", problem, yp->context,
			       mark_pos(r->ld, yp->context_mark).line, mark_pos(r->ld, yp->context_mark).col);
		else
			err_at(r->ld, mark_pos(r->ld, yp->problem_mark), NULL, "YAML syntax error: %s", problem);
		break;
	}
}

/*
 * Reads buf into *ret (json null for an empty stream), with positions in
 * ld->tab. Returns -EINVAL after reporting when the file cannot be read at
 * all; recoverable problems (a duplicate key, a bad tag) are reported and the
 * tree is returned without them.
 */
static int hex4(const char *p, const char *end, uint32_t *ret)
{
	uint32_t v = 0;

	if (end - p < 4)
		return -EINVAL;
	for (int i = 0; i < 4; i++) {
		char c = p[i];

		if (!isxdigit((unsigned char)c))
			return -EINVAL;
		v = v * 16 + (uint32_t)(isdigit((unsigned char)c) ? c - '0' : (tolower((unsigned char)c) - 'a' + 10));
	}
	*ret = v;
	return 0;
}

/*
 * JSON writes a character beyond U+FFFF as a surrogate pair of escapes
 * (\uD83D\uDE00: Python's json.dumps does by default), which YAML does not
 * have and libyaml refuses. In a file that looks like JSON, each such pair
 * inside a double-quoted string becomes YAML's \U0001F600. Returns 1 and a
 * rewritten copy, 0 if there was nothing to rewrite, or -ENOMEM. (Columns
 * after a pair on the same line are 2 fewer per pair.)
 */
static int json_surrogates_to_yaml(struct loader *ld, const char *buf, size_t len, char **ret, size_t *ret_len)
{
	const char *p = buf, *end = buf + len;
	char *out = NULL;
	size_t o = 0, line = 0, column = 0;	/* of p, in the rewritten text */
	bool in_string = false;

	while (p < end && strchr(" \t\r\n", *p))
		p++;
	if (p == end || (*p != '{' && *p != '['))
		return 0;
	for (p = buf; p < end; p++) {
		uint32_t hi, lo;

		if (*p == '\n')
			line++, column = 0;
		else if (((unsigned char)*p & 0xc0) != 0x80)
			column++;
		if (*p == '"') {
			in_string = !in_string;
		} else if (in_string && *p == '\\' && p + 1 < end) {
			if (p[1] == 'u' && hex4(p + 2, end, &hi) == 0 && hi >= 0xd800 && hi <= 0xdbff &&
			    end - p >= 12 && p[6] == '\\' && p[7] == 'u' && hex4(p + 8, end, &lo) == 0 &&
			    lo >= 0xdc00 && lo <= 0xdfff) {
				void *grown = reallocarray(ld->shifts, ld->n_shifts + 1, sizeof(*ld->shifts));

				if (grown)
					ld->shifts = grown;
				if (!grown || (!out && !(out = malloc(len + 1)))) {
					free(out);
					return -ENOMEM;
				}
				/* column counted the backslash already */
				ld->shifts[ld->n_shifts].line = line;
				ld->shifts[ld->n_shifts++].column = column - 1;
				column += 9;	/* the rest of \UXXXXXXXX */
				if (o == 0 && p > buf) {
					memcpy(out, buf, (size_t)(p - buf));
					o = (size_t)(p - buf);
				}
				o += (size_t)snprintf(out + o, 11, "\\U%08X",
						      0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00));
				p += 11;
				continue;
			}
			if (out)
				out[o++] = *p;
			p++;	/* the escaped character: a quote does not end the string */
			column++;
		}
		if (out)
			out[o++] = *p;
	}
	if (!out)
		return 0;
	*ret = out;
	*ret_len = o;
	return 1;
}

static int read_yaml(struct loader *ld, const char *buf, size_t len, json_t **ret)
{
	struct reader r = { .ld = ld };
	_cleanup_free_ char *rewritten = NULL;
	yaml_parser_t yp;
	int docs = 0;
	bool done = false;
	size_t n;
	int k = json_surrogates_to_yaml(ld, buf, len, &rewritten, &n);

	if (k < 0) {
		ld->oom = true;
		return k;
	}
	if (k > 0) {
		buf = rewritten;
		len = n;
	}
	if (!yaml_parser_initialize(&yp)) {
		ld->oom = true;
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&yp, (const unsigned char *)buf, len);
	while (!done && !r.fatal) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&yp, &ev)) {
			parser_error(&r, &yp, buf, len);
			r.fatal = true;
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				err_at(ld, mark_pos(ld, ev.start_mark), NULL,
				       "only one YAML document is allowed; a second one starts here");
				r.fatal = true;
			}
			break;
		case YAML_SCALAR_EVENT:
			on_scalar(&r, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
			on_start(&r, &ev, false);
			break;
		case YAML_MAPPING_START_EVENT:
			on_start(&r, &ev, true);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			on_end(&r);
			break;
		case YAML_ALIAS_EVENT:
			on_alias(&r, &ev);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&yp);

	while (r.depth > 0) {
		struct rframe *f = &r.st[--r.depth];

		json_decref(f->node);
		free(f->key);
		free(f->anchor);
	}
	if (r.fatal) {
		json_decref(r.root);
		return ld->oom ? -ENOMEM : -EINVAL;
	}
	*ret = r.root ? r.root : json_null();
	return 0;
}

/* -------------------------------------------------------------- durations */

/* Reads the decimal digits at *s (at least one) into *ret; -ERANGE past UINT64_MAX. */
static int parse_digits(const char **s, uint64_t *ret)
{
	uint64_t n = 0;

	if (!isdigit((unsigned char)**s))
		return -EINVAL;
	for (; isdigit((unsigned char)**s); (*s)++) {
		unsigned d = (unsigned)(**s - '0');

		if (n > UINT64_MAX / 10 || (n == UINT64_MAX / 10 && d > UINT64_MAX % 10))
			return -ERANGE;
		n = n * 10 + d;
	}
	*ret = n;
	return 0;
}

int cfg_parse_duration(const char *s, uint64_t *ret_usec)
{
	/* humantime's units (aviso's durations), in nanoseconds. */
	static const uint64_t NS = 1, US = 1000, MS = 1000 * US, S = 1000 * MS, M = 60 * S, H = 60 * M,
			      D = 24 * H;
	static const struct { const char *unit; uint64_t ns; } units[] = {
		{ "ns", NS }, { "nsec", NS }, { "nanos", NS }, { "us", US }, { "usec", US }, { "\xc2\xb5s", US },
		{ "ms", MS }, { "msec", MS }, { "millis", MS },
		{ "s", S }, { "sec", S }, { "secs", S }, { "second", S }, { "seconds", S },
		{ "m", M }, { "min", M }, { "mins", M }, { "minute", M }, { "minutes", M },
		{ "h", H }, { "hr", H }, { "hrs", H }, { "hour", H }, { "hours", H },
		{ "d", D }, { "day", D }, { "days", D }, { "w", 7 * D }, { "week", 7 * D }, { "weeks", 7 * D },
		{ "M", 2630016 * S }, { "month", 2630016 * S }, { "months", 2630016 * S },
		{ "y", 31557600 * S }, { "year", 31557600 * S }, { "years", 31557600 * S },
	};
	uint64_t total = 0, nanos = 0;
	bool bare = true;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p))
			bare = false;

	while (*s) {
		uint64_t n, mult = 0;
		size_t ulen;
		int r = parse_digits(&s, &n);

		if (r < 0)
			return r;
		if (!bare)
			s += strspn(s, " ");	/* "10 min", as humantime reads it */
		ulen = strspn(s, "abcdefghijklmnopqrstuvwxyzM\xc2\xb5");
		if (ulen == 0) {
			if (!bare)
				return -EINVAL;
			mult = S;
		}
		for (size_t i = 0; ulen > 0 && i < ELEMENTSOF(units); i++)
			if (strlen(units[i].unit) == ulen && strncmp(s, units[i].unit, ulen) == 0)
				mult = units[i].ns;
		if (mult == 0)
			return -EINVAL;
		/* Whole microseconds in total, nanoseconds apart: the range
		 * is microseconds', up to UINT64_MAX of them. */
		if (mult < US) {
			if (n > UINT64_MAX - nanos)
				return -ERANGE;
			nanos += n;
		} else {
			mult /= US;
			if (n > UINT64_MAX / mult || n * mult > UINT64_MAX - total)
				return -ERANGE;
			total += n * mult;
		}
		s += ulen;
		/* Components may be separated by spaces, and end with some. */
		s += strspn(s, " ");
	}
	/* Rounded up: 1ns is not "none". */
	nanos = nanos / US + (nanos % US != 0);
	if (nanos > UINT64_MAX - total)
		return -ERANGE;
	*ret_usec = total + nanos;
	return 0;
}

/* The shortest form cfg_parse_duration() reads back to the same value. */
static void format_duration(uint64_t usec, char buf[static 64])
{
	static const struct { const char *unit; uint64_t usec; } units[] = {
		{ "d", 86400 * USEC_PER_SEC }, { "h", 3600 * USEC_PER_SEC }, { "m", 60 * USEC_PER_SEC },
		{ "s", USEC_PER_SEC }, { "ms", USEC_PER_MSEC }, { "us", 1 },
	};
	size_t o = 0;

	if (usec == 0) {
		strcpy(buf, "0s");
		return;
	}
	for (size_t i = 0; i < ELEMENTSOF(units); i++)
		if (usec >= units[i].usec) {
			o += (size_t)snprintf(buf + o, 64 - o, "%" PRIu64 "%s", usec / units[i].usec,
					      units[i].unit);
			usec %= units[i].usec;
		}
}

/* Sizes: bytes, or a number with k/K/KiB, M/MiB, G/GiB (powers of 1024). */
static int parse_size(const char *s, uint64_t *ret)
{
	static const struct { const char *suffix; uint64_t mult; } sfx[] = {
		{ "", 1 }, { "B", 1 }, { "k", 1024 }, { "K", 1024 }, { "KiB", 1024 },
		{ "M", 1024 * 1024 }, { "MiB", 1024 * 1024 }, { "G", 1024 * 1024 * 1024 },
		{ "GiB", 1024 * 1024 * 1024 },
	};
	uint64_t n;
	int r = parse_digits(&s, &n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(sfx); i++)
		if (streq(s, sfx[i].suffix)) {
			if (n > UINT64_MAX / sfx[i].mult)
				return -ERANGE;
			*ret = n * sfx[i].mult;
			return 0;
		}
	return -EINVAL;
}

/* ------------------------------------------------------- validation basics */

/* A value in the tree together with where it sits, for messages. */
struct node {
	json_t *v;		/* NULL: absent */
	const json_t *parent;	/* NULL for the root */
	const char *key;	/* its key in parent, NULL in a list */
	size_t idx;
	char *path;		/* "listeners[1].triggers[0]"; "" for the root */
};

static void node_done(struct node *n)
{
	free(n->path);
	n->path = NULL;
}

#define _cleanup_node_ _cleanup_(node_done)

/* Fills c with obj's member key; true if it is there and not null. */
static bool node_get(struct loader *ld, const struct node *obj, const char *key, struct node *c)
{
	*c = (struct node){ .v = json_object_get(obj->v, key), .parent = obj->v, .key = key,
			    .path = path_key(ld, obj->path, key) };
	return c->v && !json_is_null(c->v);
}

static void node_elem(struct loader *ld, const struct node *arr, size_t i, struct node *c)
{
	*c = (struct node){ .v = json_array_get(arr->v, i), .parent = arr->v, .idx = i,
			    .path = path_idx(ld, arr->path, i) };
}

static const struct pos_entry *node_entry(const struct loader *ld, const struct node *n)
{
	return pos_find(&ld->tab, n->parent, n->key, n->key ? 0 : n->idx, POS_VALUE);
}

static struct pos node_pos(const struct loader *ld, const struct node *n)
{
	const struct pos_entry *e = node_entry(ld, n);

	return e ? e->pos : (struct pos){ 1, 1 };
}

static struct pos key_pos(const struct loader *ld, const struct node *obj, const char *key)
{
	const struct pos_entry *e = pos_find(&ld->tab, obj->v, key, 0, POS_KEY);

	return e ? e->pos : node_pos(ld, obj);
}

_printf_(3, 4) static void err_node(struct loader *ld, const struct node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(ld, node_pos(ld, n), n->path, fmt, ap);
	va_end(ap);
}

/* At the key itself, e.g. an unknown key. */
_printf_(4, 5) static void err_key(struct loader *ld, const struct node *obj, const char *key, const char *fmt, ...)
{
	_cleanup_free_ char *path = path_key(ld, obj->path, key);
	va_list ap;

	va_start(ap, fmt);
	verr(ld, key_pos(ld, obj, key), path, fmt, ap);
	va_end(ap);
}

/* A key that must be there: true if it is, with a value. */
static bool require(struct loader *ld, const struct node *obj, const char *key, const char *hint)
{
	_cleanup_node_ struct node c = {};

	if (node_get(ld, obj, key, &c))
		return true;
	if (c.v)
		err_node(ld, &c, "'%s' needs a value%s", key, hint);
	else
		err_node(ld, obj, "missing required key '%s'%s", key, hint);
	return false;
}

static bool want(struct loader *ld, const struct node *n, bool ok, const char *what)
{
	if (!ok)
		err_node(ld, n, "expected %s, got %s", what, type_name(n->v));
	return ok;
}

static const char *get_str(struct loader *ld, const struct node *n)
{
	const char *hint = json_is_number(n->v) || json_is_boolean(n->v) ? " (quote it)" : "";

	if (json_is_string(n->v))
		return json_string_value(n->v);
	err_node(ld, n, "expected a string, got %s%s", type_name(n->v), hint);
	return NULL;
}

static const char *get_nonempty_str(struct loader *ld, const struct node *n)
{
	const char *s = get_str(ld, n);

	if (s && !*s) {
		err_node(ld, n, "must not be empty");
		return NULL;
	}
	return s;
}

static bool get_bool(struct loader *ld, const struct node *n, bool *out)
{
	if (!want(ld, n, json_is_boolean(n->v), "true or false"))
		return false;
	*out = json_is_true(n->v);
	return true;
}

static bool is_bigint(const struct loader *ld, const struct node *n)
{
	const struct pos_entry *e = node_entry(ld, n);

	return e && e->bigint;
}

static bool get_uint(struct loader *ld, const struct node *n, uint64_t min, uint64_t max, uint64_t *out)
{
	json_int_t v;

	if (json_is_string(n->v) && is_bigint(ld, n)) {
		err_node(ld, n, "out of range (%" PRIu64 " to %" PRIu64 ")", min, max);
		return false;
	}
	if (!want(ld, n, json_is_integer(n->v), "an integer"))
		return false;
	v = json_integer_value(n->v);
	if (v < 0 || (uint64_t)v < min || (uint64_t)v > max) {
		err_node(ld, n, "out of range (%" PRIu64 " to %" PRIu64 ")", min, max);
		return false;
	}
	*out = (uint64_t)v;
	return true;
}

static bool get_duration(struct loader *ld, const struct node *n, uint64_t min, uint64_t *out)
{
	char b[SHOW_MAX], f[64];
	uint64_t v;
	int r;

	if (json_is_integer(n->v)) {
		json_int_t i = json_integer_value(n->v);

		if (i < 0) {
			err_node(ld, n, "a duration must not be negative");
			return false;
		}
		if ((uint64_t)i > CFG_MAX_DURATION_USEC / USEC_PER_SEC) {
			err_node(ld, n, "duration too long (at most 7d)");
			return false;
		}
		v = (uint64_t)i * USEC_PER_SEC;
	} else if (json_is_string(n->v)) {
		r = cfg_parse_duration(json_string_value(n->v), &v);
		if (r == -ERANGE || (r == 0 && v > CFG_MAX_DURATION_USEC)) {
			err_node(ld, n, "duration too long (at most 7d)");
			return false;
		}
		if (r < 0) {
			err_node(ld, n, "invalid duration '%s' (use e.g. 500ms, 30s, 5m, 1h30m)",
				 show(json_string_value(n->v), b));
			return false;
		}
	} else {
		err_node(ld, n, "expected a duration (e.g. 30s), got %s", type_name(n->v));
		return false;
	}
	if (v < min) {
		format_duration(min, f);
		if (min == 1)
			err_node(ld, n, "must be greater than 0");
		else
			err_node(ld, n, "duration too short (at least %s)", f);
		return false;
	}
	*out = v;
	return true;
}

static bool get_size(struct loader *ld, const struct node *n, uint64_t min, uint64_t max, uint64_t *out)
{
	char b[SHOW_MAX];
	uint64_t v;
	int r;

	if (json_is_integer(n->v) && json_integer_value(n->v) >= 0)
		v = (uint64_t)json_integer_value(n->v);
	else if (json_is_string(n->v) && !is_bigint(ld, n)) {
		r = parse_size(json_string_value(n->v), &v);
		if (r == -EINVAL) {
			err_node(ld, n, "invalid size '%s' (bytes, or a number with k, K, KiB, M, MiB, G or GiB)",
				 show(json_string_value(n->v), b));
			return false;
		}
		if (r < 0)
			v = UINT64_MAX;
	} else if (json_is_integer(n->v) || json_is_string(n->v))
		v = UINT64_MAX; /* negative or huge: out of range below */
	else {
		err_node(ld, n, "expected a size (e.g. 64KiB), got %s", type_name(n->v));
		return false;
	}
	if (v < min || v > max) {
		err_node(ld, n, "out of range (%" PRIu64 "KiB to %" PRIu64 "MiB)", min / 1024, max / 1024 / 1024);
		return false;
	}
	*out = v;
	return true;
}

static bool get_enum(struct loader *ld, const struct node *n, const char *const *names, size_t count, int *out)
{
	const char *s = get_str(ld, n);
	char b[SHOW_MAX], list[256] = "";

	if (!s)
		return false;
	for (size_t i = 0; i < count; i++) {
		if (streq(s, names[i])) {
			*out = (int)i;
			return true;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", names[i]);
	}
	err_node(ld, n, "invalid value '%s' (expected one of: %s)", show(s, b), list);
	return false;
}

static const char *get_abs_path(struct loader *ld, const struct node *n)
{
	const char *s = get_nonempty_str(ld, n);
	char b[SHOW_MAX];

	if (s && s[0] != '/') {
		err_node(ld, n, "'%s' is not an absolute path", show(s, b));
		return NULL;
	}
	return s;
}

/* aviso takes a relative path from its working directory, and an aviso
 * configuration must mean the same here. The daemon's may not be the one
 * check runs in (/ under systemd), so each is resolved at load and shown. */
static const char *get_path(struct loader *ld, const struct node *n)
{
	const char *s = get_nonempty_str(ld, n), *rel;
	_cleanup_free_ char *cwd = NULL;
	char b[SHOW_MAX], b2[SHOW_MAX], *abs;
	json_t *v;

	if (!s || s[0] == '/')
		return s;
	cwd = getcwd(NULL, 0);
	if (!cwd) {
		int e = errno;

		err_node(ld, n, "'%s' is a relative path, and the working directory is unknown: %s", show(s, b),
			 strerror(e));
		return NULL;
	}
	for (rel = s; rel[0] == '.' && rel[1] == '/';)
		rel += strspn(rel + 1, "/") + 1;
	if (streq(rel, "."))
		rel = "";
	if (asprintf(&abs, "%s%s%s", cwd, streq(cwd, "/") || !*rel ? "" : "/", rel) < 0) {
		ld->oom = true;
		return NULL;
	}
	v = json_string_nocheck(abs);
	free(abs);
	if (!ld->resolved)
		ld->resolved = json_array();
	/* json_array_append_new() takes v even when it fails. */
	if (!v || !ld->resolved || json_array_append_new(ld->resolved, v) < 0) {
		if (!ld->resolved)
			json_decref(v);
		ld->oom = true;
		return NULL;
	}
	warn_at(ld, node_pos(ld, n), "%s: relative path '%s' taken from the working directory: %s",
		n->path ? n->path : "", show(s, b), show(json_string_value(v), b2));
	return json_string_value(v);
}

/* Spaces inside "{{ placeholders }}" count only if !templated. */
static bool has_space_or_ctl(const char *s, bool templated)
{
	for (; *s; s++) {
		if (templated && s[0] == '{' && s[1] == '{') {
			const char *end = strstr(s + 2, "}}");

			if (end) {
				for (; s < end; s++)
					if ((unsigned char)*s < 0x20 || *s == 0x7f)
						return true;
				s++;
				continue;
			}
			templated = false; /* no placeholder closes from here on */
		}
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

/* What curl finds wrong with the URL s (up to its first placeholder, if
 * templated): NULL if nothing, "" if out of memory. */
static const char *url_problem(const char *s, bool templated)
{
	const char *mark = templated ? strstr(s, "{{") : NULL;
	_cleanup_free_ char *prefix = mark ? strndup(s, (size_t)(mark - s)) : NULL;
	_cleanup_free_ char *host = NULL, *port = NULL;
	const char *problem = NULL;
	CURLU *u = curl_url();
	CURLUcode rc;

	if (!u || (mark && !prefix)) {
		curl_url_cleanup(u);
		return "";
	}
	/* A placeholder in the host is check_template()'s to report. */
	if (mark && !strpbrk(strstr(prefix, "://") + 3, "/?#")) {
		curl_url_cleanup(u);
		return NULL;
	}
	rc = curl_url_set(u, CURLUPART_URL, prefix ? prefix : s, 0);
	if (rc != CURLUE_OK)
		problem = curl_url_strerror(rc);
	else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !host[0])
		problem = "no host";
	else if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port && strcmp(port, "0") == 0)
		problem = "port 0";
	curl_free(host);
	curl_free(port);
	host = port = NULL;
	curl_url_cleanup(u);
	return problem;
}

/* The host of a URL as curl reads it, lowercase; NULL if it has none. */
static char *url_host(const char *s)
{
	CURLU *u = curl_url();
	char *host = NULL, *copy = NULL;

	if (u && curl_url_set(u, CURLUPART_URL, s, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host) {
		copy = strdup(host);
		for (char *c = copy; c && *c; c++)
			*c = (char)tolower((unsigned char)*c);
	}
	curl_free(host);
	curl_url_cleanup(u);
	return copy;
}

static const char *get_http_url(struct loader *ld, const struct node *n, bool templated)
{
	const char *s = get_nonempty_str(ld, n), *problem;
	size_t scheme;
	char b[SHOW_MAX];

	if (!s)
		return NULL;
	scheme = strncasecmp(s, "http://", 7) == 0 ? 7 : strncasecmp(s, "https://", 8) == 0 ? 8 : 0;
	if (scheme == 0 || !s[scheme] || s[scheme] == '/' || has_space_or_ctl(s, templated)) {
		err_node(ld, n, "'%s' is not an http:// or https:// URL", show(s, b));
		return NULL;
	}
	problem = url_problem(s, templated);
	if (problem && !problem[0]) {
		ld->oom = true;
		return NULL;
	}
	if (problem) {
		err_node(ld, n, "'%s' is not a usable URL: %s", show(s, b), problem);
		return NULL;
	}
	return s;
}

/* aviso requests go to BASE/api/v1/...: a query or fragment would swallow that. */
static const char *get_base_url(struct loader *ld, const struct node *n)
{
	const char *s = get_http_url(ld, n, false);

	if (s && strpbrk(s, "?#")) {
		err_node(ld, n, "a base_url has no query or fragment ('?', '#'): /api/v1/... is appended to it");
		return NULL;
	}
	return s;
}

/* The file exists and is readable (want_dir: is a directory we may enter). */
static bool check_path(struct loader *ld, const struct node *n, const char *path, bool want_dir)
{
	struct stat st;
	char b[SHOW_MAX];

	if (stat(path, &st) < 0)
		goto fail;
	if (want_dir && !S_ISDIR(st.st_mode))
		err_node(ld, n, "'%s' is not a directory", show(path, b));
	else if (!want_dir && S_ISDIR(st.st_mode))
		err_node(ld, n, "'%s' is a directory, not a file", show(path, b));
	else if (access(path, want_dir ? X_OK : R_OK) < 0)
		goto fail;
	else
		return true;
	return false;
fail:
	err_node(ld, n, "cannot %s '%s': %s", want_dir ? "use" : "read", show(path, b), strerror(errno));
	return false;
}

static const char *get_readable(struct loader *ld, const struct node *n, bool want_dir)
{
	const char *s = get_path(ld, n);

	return s && check_path(ld, n, s, want_dir) ? s : NULL;
}

/* A credentials file: readable, unless the command will not use it. */
static const char *get_secret_path(struct loader *ld, const struct node *n)
{
	if (ld->flags & CFG_LOAD_UNCHECKED_SECRETS)
		return get_path(ld, n);
	return get_readable(ld, n, false);
}

/* A non-empty list of strings whose first is not empty. NULL after reporting. */
static char **get_argv(struct loader *ld, const struct node *n, size_t *ret_argc)
{
	size_t argc;
	char **argv;
	bool ok = true;

	if (!want(ld, n, json_is_array(n->v), "a list of strings"))
		return NULL;
	argc = json_array_size(n->v);
	if (argc == 0) {
		err_node(ld, n, "must not be empty");
		return NULL;
	}
	for (size_t i = 0; i < argc; i++) {
		_cleanup_node_ struct node c = {};

		node_elem(ld, n, i, &c);
		if (!(i == 0 ? get_nonempty_str(ld, &c) : get_str(ld, &c)))
			ok = false;
	}
	if (!ok)
		return NULL;
	argv = calloc(argc + 1, sizeof(char *));
	if (!argv) {
		ld->oom = true;
		return NULL;
	}
	for (size_t i = 0; i < argc; i++)
		if (!(argv[i] = xstrdup(ld, json_string_value(json_array_get(n->v, i))))) {
			strv_free(argv);
			return NULL;
		}
	if (ret_argc)
		*ret_argc = argc;
	return argv;
}

/* s, the value of n, as a template for dest (see tmpl.h); NULL after reporting. */
static const char *check_template(struct loader *ld, const struct node *n, const char *s, enum tmpl_dest dest)
{
	_cleanup_free_ char *msg = NULL;
	int r;

	if (!s)
		return NULL;
	r = tmpl_check(s, dest, &msg);
	if (r < 0 && !msg)
		ld->oom = true;
	else if (r < 0)
		err_node(ld, n, "%s", msg);
	return r < 0 ? NULL : s;
}

/* Each element of the list n (already read by get_argv) as an argv template. */
static bool check_argv_templates(struct loader *ld, const struct node *n)
{
	bool ok = true;

	for (size_t i = 0; i < json_array_size(n->v); i++) {
		_cleanup_node_ struct node c = {};

		node_elem(ld, n, i, &c);
		ok &= check_template(ld, &c, json_string_value(c.v), TMPL_DEST_ARGV) != NULL;
	}
	return ok;
}

/* ------------------------------------------------------------------ keys */

struct keydef {
	const char *name;
	unsigned scope;		/* bits: where the key applies */
};

/* Optimal string alignment distance, ignoring case; large for long strings. */
static unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned d[65][65];

	if (la > 64 || lb > 64)
		return 99;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			unsigned cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);

			d[i][j] = MIN(MIN(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
			if (i > 1 && j > 1 && tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == tolower((unsigned char)b[j - 1]))
				d[i][j] = MIN(d[i][j], d[i - 2][j - 2] + 1);
		}
	return d[la][lb];
}

static const char *suggest(const char *key, const struct keydef *defs, size_t n, unsigned scope)
{
	const char *best = NULL;
	unsigned best_d = 99;

	for (size_t i = 0; i < n; i++) {
		unsigned d, limit = strlen(defs[i].name) <= 4 ? 1 : 2;

		if (scope && !(defs[i].scope & scope))
			continue;
		d = edit_distance(key, defs[i].name);
		if (d <= limit && d < best_d) {
			best = defs[i].name;
			best_d = d;
		}
	}
	return best;
}

/* The keys of one kind of mapping, and what to say about one that is known but not here. */
struct keyset {
	const struct keydef *defs;
	size_t n;
	void (*wrong_scope)(struct loader *ld, const struct node *obj, const char *key, unsigned key_scope,
			    unsigned scope);
};

#define KEYSET(table, fn) { (table), ELEMENTSOF(table), (fn) }

/*
 * Whether key may appear in obj here (scope; 0: anywhere it is known).
 * Reports and returns false otherwise.
 */
static bool check_key(struct loader *ld, const struct node *obj, const char *key, const struct keyset *ks,
		      unsigned scope)
{
	char b[SHOW_MAX];
	const char *s;

	for (size_t i = 0; i < ks->n; i++)
		if (streq(ks->defs[i].name, key)) {
			if (scope == 0 || (ks->defs[i].scope & scope))
				return true;
			ks->wrong_scope(ld, obj, key, ks->defs[i].scope, scope);
			return false;
		}
	if (ld->n_errs >= CFG_MAX_ERRORS) { /* not shown anyway: spare the suggestion */
		ld->n_more++;
		return false;
	}
	s = suggest(key, ks->defs, ks->n, scope);
	if (s)
		err_key(ld, obj, key, "unknown key '%s'; did you mean '%s'?", show(key, b), s);
	else
		err_key(ld, obj, key, "unknown key '%s'", show(key, b));
	return false;
}

typedef void (*member_fn)(struct loader *ld, const struct node *c, const char *key, void *userdata);

/*
 * Calls fn for each member of the mapping n that may appear here and is not
 * null. False (after reporting) if n is not a mapping.
 */
static bool for_members(struct loader *ld, const struct node *n, const char *what, const struct keyset *ks,
			unsigned scope, member_fn fn, void *userdata)
{
	const char *key;
	json_t *v;

	if (!want(ld, n, json_is_object(n->v), what))
		return false;
	json_object_foreach(n->v, key, v) {
		_cleanup_node_ struct node c = {};

		if (check_key(ld, n, key, ks, scope) && node_get(ld, n, key, &c))
			fn(ld, &c, key, userdata);
	}
	return true;
}

/*
 * Which of the keys a and b obj sets (bit 0: a, bit 1: b). Both is an error,
 * reported at b's value with msg, or a plain "set only one" without.
 */
static unsigned one_of(struct loader *ld, const struct node *obj, const char *a, const char *b, const char *msg)
{
	_cleanup_node_ struct node x = {}, y = {};
	unsigned has = (unsigned)node_get(ld, obj, a, &x) | (unsigned)node_get(ld, obj, b, &y) << 1;

	if (has == 3 && msg)
		err_node(ld, &y, "%s", msg);
	else if (has == 3)
		err_node(ld, &y, "set only one of '%s' and '%s'", a, b);
	return has;
}

/* Where the key of the member c is. */
static struct pos member_key_pos(const struct loader *ld, const struct node *c)
{
	const struct pos_entry *e = pos_find(&ld->tab, c->parent, c->key, 0, POS_KEY);

	return e ? e->pos : node_pos(ld, c);
}

/* ------------------------------------------------------------------- auth */

static void auth_done(struct cfg_auth *a)
{
	free(a->bearer_token);
	free(a->bearer_token_file);
	strv_free(a->refresh_command);
	free(a->basic_username);
	free(a->basic_password);
	free(a->basic_password_file);
	*a = (struct cfg_auth){ .refresh_timeout_usec = CFG_DEFAULT_REFRESH_TIMEOUT_USEC };
}

static void auth_copy(struct loader *ld, struct cfg_auth *dst, const struct cfg_auth *src)
{
	*dst = (struct cfg_auth){
		.bearer_token = xstrdup(ld, src->bearer_token),
		.bearer_token_file = xstrdup(ld, src->bearer_token_file),
		.refresh_command = strv_copy(src->refresh_command, &ld->oom),
		.refresh_timeout_usec = src->refresh_timeout_usec,
		.basic_username = xstrdup(ld, src->basic_username),
		.basic_password = xstrdup(ld, src->basic_password),
		.basic_password_file = xstrdup(ld, src->basic_password_file),
	};
}

static void tls_done(struct cfg_tls *t)
{
	for (size_t i = 0; i < t->n_ca_bundle; i++)
		free(t->ca_bundle[i]);
	free(t->ca_bundle);
	*t = (struct cfg_tls){};
}

static void tls_copy(struct loader *ld, struct cfg_tls *dst, const struct cfg_tls *src)
{
	*dst = (struct cfg_tls){ .insecure = src->insecure };
	if (src->n_ca_bundle == 0)
		return;
	dst->ca_bundle = calloc(src->n_ca_bundle, sizeof(char *));
	if (!dst->ca_bundle) {
		ld->oom = true;
		return;
	}
	dst->n_ca_bundle = src->n_ca_bundle;
	for (size_t i = 0; i < src->n_ca_bundle; i++)
		dst->ca_bundle[i] = xstrdup(ld, src->ca_bundle[i]);
}

static void no_scope(struct loader *ld, const struct node *obj, const char *key, unsigned ks, unsigned s)
{
	(void)ld, (void)obj, (void)key, (void)ks, (void)s; /* single-scope tables never get here */
}

static const struct keydef auth_keys[] = {
	{ "bearer_token", 1 }, { "bearer_token_file", 1 }, { "refresh_command", 1 }, { "basic", 1 },
};
static const struct keydef basic_keys[] = { { "username", 1 }, { "password", 1 }, { "password_file", 1 } };
static const struct keydef refresh_keys[] = { { "argv", 1 }, { "timeout", 1 } };
static const struct keydef tls_keys[] = { { "ca_bundle", 1 }, { "insecure", 1 }, { "danger_accept_invalid_certs", 1 } };
static const struct keyset auth_keyset = KEYSET(auth_keys, no_scope);
static const struct keyset basic_keyset = KEYSET(basic_keys, no_scope);
static const struct keyset refresh_keyset = KEYSET(refresh_keys, no_scope);
static const struct keyset tls_keyset = KEYSET(tls_keys, no_scope);

/* Secrets end up in HTTP headers: no line breaks. */
static const char *get_secret(struct loader *ld, const struct node *n, bool nonempty)
{
	const char *s = nonempty ? get_nonempty_str(ld, n) : get_str(ld, n);

	if (s && strpbrk(s, "\r\n")) {
		err_node(ld, n, "must not contain line breaks");
		return NULL;
	}
	return s;
}

static void basic_member(struct loader *ld, const struct node *c, const char *key, void *userdata)
{
	struct cfg_auth *a = userdata;
	const char *s;

	if (streq(key, "username")) {
		if ((s = get_secret(ld, c, true)) && strchr(s, ':'))
			err_node(ld, c, "a basic-auth username must not contain ':'");
		else
			set_str(ld, &a->basic_username, s);
	} else if (streq(key, "password"))
		set_str(ld, &a->basic_password, get_secret(ld, c, false));
	else
		set_str(ld, &a->basic_password_file, get_secret_path(ld, c));
}

/* A program named by a relative path with a '/' (bin/fetch) would be
 * looked up from the daemon's working directory (/ under systemd), not
 * from where `check` runs: refused, unless the program has a directory
 * of its own. A bare name is looked up in PATH. */
static void check_program_path(struct loader *ld, const struct node *n, char **argv, const char *or_else)
{
	char b[SHOW_MAX];

	if (argv && argv[0] && argv[0][0] != '/' && strchr(argv[0], '/'))
		err_node(ld, n, "'%s' is a relative path, which the daemon would look up from its own working "
			 "directory: give an absolute path or a name to find in PATH%s", show(argv[0], b), or_else);
}

static void refresh_member(struct loader *ld, const struct node *c, const char *key, void *userdata)
{
	struct cfg_auth *a = userdata;

	if (streq(key, "argv")) {
		strv_free(a->refresh_command);
		a->refresh_command = get_argv(ld, c, NULL);
		check_program_path(ld, c, a->refresh_command, "");
	} else
		(void)get_duration(ld, c, 1, &a->refresh_timeout_usec);
}

static void auth_member(struct loader *ld, const struct node *c, const char *key, void *userdata)
{
	struct cfg_auth *a = userdata;

	if (streq(key, "bearer_token"))
		set_str(ld, &a->bearer_token, get_secret(ld, c, true));
	else if (streq(key, "bearer_token_file"))
		set_str(ld, &a->bearer_token_file, get_secret_path(ld, c));
	else if (streq(key, "refresh_command")) {
		if (!json_is_array(c->v)) {
			if (for_members(ld, c, "a list (argv) or a mapping (argv, timeout)", &refresh_keyset, 0,
					refresh_member, a))
				require(ld, c, "argv", "");
		} else
			refresh_member(ld, c, "argv", a);
	} else if (for_members(ld, c, "a mapping (username, password or password_file)", &basic_keyset, 0,
			       basic_member, a)) {
		require(ld, c, "username", "");
		if (one_of(ld, c, "password", "password_file", NULL) == 0)
			err_node(ld, c, "basic auth needs 'password' or 'password_file'");
	}
}

static void parse_auth(struct loader *ld, const struct node *n, struct cfg_auth *out)
{
	_cleanup_node_ struct node basic = {}, refresh = {};
	struct cfg_auth a = { .refresh_timeout_usec = CFG_DEFAULT_REFRESH_TIMEOUT_USEC };
	unsigned bearer;

	if (!for_members(ld, n, "a mapping", &auth_keyset, 0, auth_member, &a))
		return;
	bearer = one_of(ld, n, "bearer_token", "bearer_token_file", NULL);
	if (node_get(ld, n, "basic", &basic) && (bearer || node_get(ld, n, "refresh_command", &refresh)))
		err_node(ld, &basic, "'basic' cannot be combined with bearer_token, bearer_token_file or refresh_command");
	auth_done(out);
	*out = a;
}

static void tls_member(struct loader *ld, const struct node *c, const char *key, void *userdata)
{
	struct cfg_tls *t = userdata;
	size_t count = json_is_array(c->v) ? json_array_size(c->v) : 1;

	if (!streq(key, "ca_bundle")) {
		(void)get_bool(ld, c, &t->insecure);
		return;
	}
	if (!json_is_array(c->v) && !want(ld, c, json_is_string(c->v), "a file name or a list of them"))
		return;
	if (t->n_ca_bundle > 0 || t->ca_bundle)
		return;	/* a duplicate key, reported already */
	if (count > 0 && !(t->ca_bundle = calloc(count, sizeof(char *)))) {
		ld->oom = true;
		return;
	}
	for (size_t i = 0; i < count; i++) {
		_cleanup_node_ struct node e = {};
		char *s;

		if (json_is_array(c->v))
			node_elem(ld, c, i, &e);
		s = xstrdup(ld, get_readable(ld, json_is_array(c->v) ? &e : c, false));
		if (s)
			t->ca_bundle[t->n_ca_bundle++] = s;
	}
}

static void parse_tls(struct loader *ld, const struct node *n, struct cfg_tls *out)
{
	struct cfg_tls t = {};

	if (!for_members(ld, n, "a mapping", &tls_keyset, 0, tls_member, &t))
		return;
	(void)one_of(ld, n, "insecure", "danger_accept_invalid_certs",
		     "'danger_accept_invalid_certs' is another name for 'insecure'; set only one");
	tls_done(out);
	*out = t;
}

/* ------------------------------------------------------------ string maps */

enum kv_kind { KV_ENV, KV_HEADER };

static bool valid_env_name(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

static bool valid_token(const char *s)
{
	return *s && strspn(s, "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") ==
			     strlen(s);
}

static void parse_kv(struct loader *ld, const struct node *n, enum kv_kind kind, struct cfg_kv **out, size_t *n_out)
{
	struct cfg_kv *kv;
	size_t count = 0;
	const char *key;
	char b[SHOW_MAX];
	json_t *v;

	if (!want(ld, n, json_is_object(n->v), "a mapping"))
		return;
	kv = calloc(json_object_size(n->v) + 1, sizeof(*kv));
	if (!kv) {
		ld->oom = true;
		return;
	}
	json_object_foreach(n->v, key, v) {
		_cleanup_node_ struct node c = {};
		const char *s;
		bool ok = true;

		if (kind == KV_ENV && !valid_env_name(key)) {
			err_key(ld, n, key, "invalid environment variable name '%s'", show(key, b));
			ok = false;
		} else if (kind == KV_ENV && (strncmp(key, "SSEWATCHD_", 10) == 0 || strncmp(key, "AVISO_", 6) == 0)) {
			err_key(ld, n, key, "'%s' is reserved: ssewatchd sets the SSEWATCHD_* and AVISO_* variables",
				show(key, b));
			ok = false;
		} else if (kind == KV_HEADER && !valid_token(key)) {
			err_key(ld, n, key, "invalid header name '%s'", show(key, b));
			ok = false;
		} else if (kind == KV_HEADER) {
			for (size_t i = 0; i < count; i++)
				if (kv[i].key && strcasecmp(kv[i].key, key) == 0) {
					err_key(ld, n, key, "duplicate header '%s' (header names ignore case)",
						show(key, b));
					ok = false;
				}
		}
		node_get(ld, n, key, &c);
		s = get_str(ld, &c);
		if (s && kind == KV_HEADER && strpbrk(s, "\r\n")) {
			err_node(ld, &c, "a header value must not contain CR or LF");
			s = NULL;
		}
		if (!ok || !s)
			continue;
		kv[count].key = xstrdup(ld, key);
		kv[count++].value = xstrdup(ld, s);
	}
	kv_free(*out, *n_out);
	*out = kv;
	*n_out = count;
}

/* -------------------------------------------------------- shared settings */

static const char *const commit_names[] = { "per_event", "batch" };
static const char *const on_failure_names[] = { "dead_letter", "stop" };
static const char *const on_gap_names[] = { "continue", "stop" };
static const char *const protocol_names[] = { "aviso", "sse" };
static const char *const trigger_names[] = { "echo", "log", "command", "post" };

/* Starts a listener from the top-level values. */
static void copy_defaults(struct loader *ld, struct cfg_listener *dst, const struct cfg_listener *src)
{
	*dst = (struct cfg_listener){
		.base_url = xstrdup(ld, src->base_url),
		.proxy = xstrdup(ld, src->proxy),
		.heartbeat_interval_usec = src->heartbeat_interval_usec,
		.idle_timeout_usec = src->idle_timeout_usec,
		.connect_timeout_usec = src->connect_timeout_usec,
		.commit = src->commit,
		.on_failure = src->on_failure,
		.max_event_size = src->max_event_size,
		.max_pending = src->max_pending,
	};
	auth_copy(ld, &dst->auth, &src->auth);
	tls_copy(ld, &dst->tls, &src->tls);
}

/* The keys allowed at top level and in a listener alike. True if key is one. */
static bool parse_shared_key(struct loader *ld, const struct node *c, const char *key, struct cfg_listener *l)
{
	uint64_t u;
	int e;

	if (streq(key, "base_url"))
		set_str(ld, &l->base_url, get_base_url(ld, c));
	else if (streq(key, "auth"))
		parse_auth(ld, c, &l->auth);
	else if (streq(key, "tls"))
		parse_tls(ld, c, &l->tls);
	else if (streq(key, "heartbeat_interval"))
		(void)get_duration(ld, c, 0, &l->heartbeat_interval_usec);
	else if (streq(key, "idle_timeout"))
		(void)get_duration(ld, c, 1, &l->idle_timeout_usec);
	else if (streq(key, "connect_timeout"))
		(void)get_duration(ld, c, 1, &l->connect_timeout_usec);
	else if (streq(key, "proxy")) {
		const char *s = get_str(ld, c);

		if (s && has_space_or_ctl(s, false))
			err_node(ld, c, "a proxy URL must not contain spaces or control characters");
		else
			set_str(ld, &l->proxy, s);
	} else if (streq(key, "commit")) {
		if (get_enum(ld, c, commit_names, ELEMENTSOF(commit_names), &e))
			l->commit = (enum cfg_commit)e;
	} else if (streq(key, "on_failure")) {
		if (get_enum(ld, c, on_failure_names, ELEMENTSOF(on_failure_names), &e))
			l->on_failure = (enum cfg_on_failure)e;
	} else if (streq(key, "max_event_size")) {
		if (get_size(ld, c, CFG_MIN_EVENT_SIZE, CFG_MAX_EVENT_SIZE, &u))
			l->max_event_size = (size_t)u;
	} else if (streq(key, "max_pending")) {
		if (get_uint(ld, c, 1, CFG_MAX_PENDING, &u))
			l->max_pending = (size_t)u;
	} else
		return false;
	return true;
}

/* --------------------------------------------------------------- triggers */

enum {
	T_ECHO = 1 << CFG_TRIGGER_ECHO,
	T_LOG = 1 << CFG_TRIGGER_LOG,
	T_COMMAND = 1 << CFG_TRIGGER_COMMAND,
	T_POST = 1 << CFG_TRIGGER_POST,
	T_ALL = T_ECHO | T_LOG | T_COMMAND | T_POST,
};

static const struct keydef trigger_keys[] = {
	{ "type", T_ALL }, { "retries", T_ALL }, { "required", T_ALL }, { "retry_delay", T_ALL },
	{ "on_failure", T_ALL }, { "timeout", T_COMMAND | T_POST }, { "fail_fast", T_COMMAND | T_POST },
	{ "argv", T_COMMAND }, { "command", T_COMMAND }, { "env", T_COMMAND }, { "working_dir", T_COMMAND },
	{ "kill_grace", T_COMMAND }, { "url", T_POST }, { "headers", T_POST }, { "path", T_LOG },
	{ "fsync", T_LOG },
};

static void trigger_wrong_scope(struct loader *ld, const struct node *obj, const char *key, unsigned ks,
				unsigned scope)
{
	(void)ks;
	err_key(ld, obj, key, "'%s' does not apply to %s triggers", key,
		trigger_names[__builtin_ctz(scope)]);
}

static void trigger_done(struct cfg_trigger *t)
{
	free(t->where);
	strv_free(t->argv);
	free(t->shell);
	kv_free(t->env, t->n_env);
	free(t->working_dir);
	free(t->url);
	kv_free(t->headers, t->n_headers);
	free(t->path);
}

static const struct keyset trigger_keyset = KEYSET(trigger_keys, trigger_wrong_scope);

static void trigger_member(struct loader *ld, const struct node *c, const char *key, void *userdata)
{
	struct cfg_trigger *t = userdata;
	uint64_t u;
	bool b;
	int e;

	if (streq(key, "type"))
		return; /* read first */
	if (streq(key, "retries")) {
		if (get_uint(ld, c, 0, CFG_MAX_RETRIES, &u))
			t->retries = (unsigned)u;
	} else if (streq(key, "required"))
		(void)get_bool(ld, c, &t->required);
	else if (streq(key, "retry_delay"))
		(void)get_duration(ld, c, 0, &t->retry_delay_usec);
	else if (streq(key, "on_failure")) {
		if (get_enum(ld, c, on_failure_names, ELEMENTSOF(on_failure_names), &e)) {
			t->on_failure = (enum cfg_on_failure)e;
			t->on_failure_set = true;
		}
	} else if (streq(key, "timeout"))
		(void)get_duration(ld, c, 0, &t->timeout_usec);
	else if (streq(key, "fail_fast")) {
		if (get_bool(ld, c, &b))
			t->fail_fast = b;
	} else if (streq(key, "argv")) {
		strv_free(t->argv);
		t->argc = 0;
		t->argv = get_argv(ld, c, &t->argc);
		if (t->argv && !check_argv_templates(ld, c)) {
			strv_free(t->argv);
			t->argv = NULL;
			t->argc = 0;
		}
	} else if (streq(key, "command"))
		set_str(ld, &t->shell, check_template(ld, c, get_nonempty_str(ld, c), TMPL_DEST_SHELL));
	else if (streq(key, "env"))
		parse_kv(ld, c, KV_ENV, &t->env, &t->n_env);
	else if (streq(key, "working_dir"))
		set_str(ld, &t->working_dir, get_readable(ld, c, true));
	else if (streq(key, "kill_grace"))
		(void)get_duration(ld, c, 0, &t->kill_grace_usec);
	else if (streq(key, "url"))
		set_str(ld, &t->url, check_template(ld, c, get_http_url(ld, c, true), TMPL_DEST_URL));
	else if (streq(key, "headers")) {
		parse_kv(ld, c, KV_HEADER, &t->headers, &t->n_headers);
		for (size_t i = 0; i < t->n_headers; i++) {
			_cleanup_node_ struct node h = {};

			if (t->headers[i].key && node_get(ld, c, t->headers[i].key, &h))
				(void)check_template(ld, &h, t->headers[i].value, TMPL_DEST_HEADER);
		}
	}
	else if (streq(key, "path"))
		set_str(ld, &t->path, get_path(ld, c));
	else if (streq(key, "fsync"))
		(void)get_bool(ld, c, &t->fsync);
}

static void parse_trigger(struct loader *ld, const struct node *n, struct cfg_trigger *t, const char *where)
{
	_cleanup_node_ struct node type = {};
	unsigned scope = 0;
	char b[SHOW_MAX];

	*t = (struct cfg_trigger){
		.where = xstrdup(ld, where),
		.required = true,
		.fail_fast = -1,
		.retry_delay_usec = CFG_DEFAULT_RETRY_DELAY_USEC,
		.kill_grace_usec = CFG_DEFAULT_KILL_GRACE_USEC,
	};
	if (!want(ld, n, json_is_object(n->v), "a mapping (a trigger)"))
		return;

	if (require(ld, n, "type", " (echo, log, command or post)") && node_get(ld, n, "type", &type)) {
		const char *s = get_str(ld, &type);

		for (size_t i = 0; s && i < ELEMENTSOF(trigger_names); i++)
			if (streq(s, trigger_names[i])) {
				t->type = (enum cfg_trigger_type)i;
				scope = 1u << i;
			}
		if (s && scope == 0 && (streq(s, "webhook") || streq(s, "teams")))
			err_node(ld, &type, "trigger type '%s' is not supported by ssewatchd; use a post trigger", s);
		else if (s && scope == 0)
			err_node(ld, &type, "unknown trigger type '%s' (expected echo, log, command or post)",
				 show(s, b));
	}
	if (t->type == CFG_TRIGGER_POST)
		t->timeout_usec = CFG_DEFAULT_POST_TIMEOUT_USEC;

	(void)for_members(ld, n, "a mapping (a trigger)", &trigger_keyset, scope, trigger_member, t);

	switch (scope) {
	case T_COMMAND: {
		_cleanup_node_ struct node argv = {};

		if (one_of(ld, n, "argv", "command",
			   "set only one of 'argv' (a list, run directly) and 'command' (a shell string)") == 0)
			err_node(ld, n, "a command trigger needs 'argv' (a list, run directly) or 'command' (a shell string)");
		else if (!t->working_dir && node_get(ld, n, "argv", &argv))
			check_program_path(ld, &argv, t->argv, ", or set working_dir");
		break;
	}
	case T_POST:
		require(ld, n, "url", "");
		break;
	case T_LOG:
		require(ld, n, "path", "");
		break;
	default:
		break;
	}
}

/* -------------------------------------------------------------- listeners */

enum { L_AVISO = 1 << CFG_PROTOCOL_AVISO, L_SSE = 1 << CFG_PROTOCOL_SSE, L_BOTH = L_AVISO | L_SSE, L_TOP = 4 };

/* One table for the top level and listeners: the shared keys are in both. */
static const struct keydef listener_keys[] = {
	{ "name", L_BOTH }, { "protocol", L_BOTH }, { "triggers", L_BOTH },
	{ "url", L_SSE }, { "headers", L_SSE },
	{ "event", L_AVISO }, { "identifiers", L_AVISO }, { "from_id", L_AVISO }, { "from_date", L_AVISO },
	{ "on_gap", L_AVISO }, { "base_url", L_AVISO | L_TOP },
	{ "auth", L_BOTH | L_TOP }, { "tls", L_BOTH | L_TOP }, { "heartbeat_interval", L_BOTH | L_TOP },
	{ "idle_timeout", L_BOTH | L_TOP }, { "proxy", L_BOTH | L_TOP }, { "connect_timeout", L_BOTH | L_TOP }, { "commit", L_BOTH | L_TOP },
	{ "on_failure", L_BOTH | L_TOP }, { "max_event_size", L_BOTH | L_TOP }, { "max_pending", L_BOTH | L_TOP },
	{ "state_dir", L_TOP }, { "runtime_dir", L_TOP }, { "log_level", L_TOP }, { "state_file", L_TOP }, { "timeout", L_TOP },
	{ "listeners", L_TOP },
};

static void listener_wrong_scope(struct loader *ld, const struct node *obj, const char *key, unsigned ks,
				 unsigned scope);
static const struct keyset listener_keyset = KEYSET(listener_keys, listener_wrong_scope);

static void listener_wrong_scope(struct loader *ld, const struct node *obj, const char *key, unsigned ks,
				 unsigned scope)
{
	if (scope == L_TOP)
		err_key(ld, obj, key, "'%s' belongs in a listener, not at top level", key);
	else if (ks == L_TOP)
		err_key(ld, obj, key, "'%s' may only be set at top level", key);
	else if (streq(key, "url"))
		err_key(ld, obj, key, "'url' is only for sse listeners; aviso listeners use 'base_url'");
	else if (streq(key, "base_url"))
		err_key(ld, obj, key, "'base_url' is only for aviso listeners; sse listeners use 'url'");
	else
		err_key(ld, obj, key, "'%s' is only for %s listeners", key, (ks & L_SSE) ? "sse" : "aviso");
}

static void listener_done(struct cfg_listener *l)
{
	free(l->name);
	free(l->where);
	free(l->url);
	kv_free(l->headers, l->n_headers);
	free(l->base_url);
	free(l->event);
	json_decref(l->identifiers);
	free(l->from_date);
	auth_done(&l->auth);
	tls_done(&l->tls);
	free(l->proxy);
	for (size_t i = 0; i < l->n_triggers; i++)
		trigger_done(&l->triggers[i]);
	free(l->triggers);
}

static bool valid_name(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");

	/* "." and ".." would name directories, not files, in the state directory. */
	return n >= 1 && n <= CFG_NAME_MAX && s[n] == '\0' && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static void parse_name(struct loader *ld, const struct node *c, struct cfg_listener *l)
{
	const char *s = get_str(ld, c);
	const struct pos_entry *o;
	struct pos_entry *e;
	char b[SHOW_MAX];

	if (!s)
		return;
	if (!valid_name(s)) {
		err_node(ld, c, "invalid listener name '%s' (1 to %d of A-Z a-z 0-9 _ . -, not . or ..)", show(s, b),
			 CFG_NAME_MAX);
		return;
	}
	if ((o = pos_find(&ld->names, NULL, s, 0, POS_NAME))) {
		if (o->size == ld->file)
			err_node(ld, c, "duplicate listener name '%s' (first defined at line %u)", s, o->pos.line);
		else
			err_node(ld, c, "duplicate listener name '%s' (first defined at %s:%u)", s,
				 ld->files[o->size], o->pos.line);
		return;
	}
	if (!(e = pos_put(&ld->names, NULL, s, 0, POS_NAME))) {
		ld->oom = true;
		return;
	}
	e->pos = node_pos(ld, c);
	e->size = ld->file;
	set_str(ld, &l->name, s);
}

static bool is_scalar(const json_t *v)
{
	return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

static bool want_scalar(struct loader *ld, const struct node *n)
{
	return want(ld, n, is_scalar(n->v), "a string, number or boolean");
}

static const struct keydef op_keys[] = {
	{ "eq", 1 }, { "in", 1 }, { "gt", 1 }, { "gte", 1 }, { "lt", 1 }, { "lte", 1 }, { "between", 1 },
};
static const struct keyset op_keyset = KEYSET(op_keys, no_scope);

static bool check_constraint(struct loader *ld, const struct node *n)
{
	_cleanup_node_ struct node c = {};
	const char *op;
	bool ok = true;
	size_t len;

	if (json_object_size(n->v) != 1) {
		err_node(ld, n, "a constraint has exactly one operator (eq, in, gt, gte, lt, lte or between), not %zu",
			 json_object_size(n->v));
		return false;
	}
	op = json_object_iter_key(json_object_iter(n->v));
	if (!check_key(ld, n, op, &op_keyset, 0))
		return false;
	node_get(ld, n, op, &c);
	if (!streq(op, "in") && !streq(op, "between"))
		return want_scalar(ld, &c);
	if (!want(ld, &c, json_is_array(c.v), "a list"))
		return false;
	len = json_array_size(c.v);
	if (streq(op, "in") && len == 0) {
		err_node(ld, &c, "'in' needs at least one value");
		return false;
	}
	if (streq(op, "between") && len != 2) {
		err_node(ld, &c, "'between' needs exactly two values [low, high], not %zu", len);
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		_cleanup_node_ struct node e = {};

		node_elem(ld, &c, i, &e);
		ok = want_scalar(ld, &e) && ok;
	}
	return ok;
}

/*
 * aviso's spatial filters: `point: [lat, lon]`, `polygon: [[lat, lon], ...]`
 * (or a flat list of numbers). The server checks the geometry.
 */
static bool check_spatial(struct loader *ld, const struct node *n)
{
	for (size_t i = 0; i < json_array_size(n->v); i++) {
		_cleanup_node_ struct node e = {};

		node_elem(ld, n, i, &e);
		if (json_is_number(e.v))
			continue;
		if (!want(ld, &e, json_is_array(e.v), "a number or a [latitude, longitude] pair"))
			return false;
		for (size_t j = 0; j < json_array_size(e.v); j++) {
			_cleanup_node_ struct node x = {};

			node_elem(ld, &e, j, &x);
			if (!want(ld, &x, json_is_number(x.v), "a number"))
				return false;
		}
	}
	return true;
}

static void parse_identifiers(struct loader *ld, const struct node *n, struct cfg_listener *l)
{
	const char *key;
	bool ok = true;
	json_t *v;

	if (!want(ld, n, json_is_object(n->v), "a mapping"))
		return;
	json_object_foreach(n->v, key, v) {
		_cleanup_node_ struct node c = {};

		node_get(ld, n, key, &c);
		if (!*key) {
			err_key(ld, n, key, "identifier names must not be empty");
			ok = false;
		} else if (json_is_array(v) && (streq(key, "polygon") || streq(key, "point")))
			ok = check_spatial(ld, &c) && ok;
		else if (json_is_array(v)) {
			err_node(ld, &c, "a list is not a value; use {in: [...]} to match any of several");
			ok = false;
		} else if (json_is_object(v))
			ok = check_constraint(ld, &c) && ok;
		else
			ok = want_scalar(ld, &c) && ok;
	}
	if (!ok)
		return;
	json_decref(l->identifiers);
	l->identifiers = json_deep_copy(n->v);
	if (!l->identifiers)
		ld->oom = true;
}

static void parse_from_id(struct loader *ld, const struct node *n, struct cfg_listener *l)
{
	const char *s = json_string_value(n->v);
	unsigned long long u;
	char b[SHOW_MAX];

	if (json_is_integer(n->v)) {
		if (json_integer_value(n->v) < 0) {
			err_node(ld, n, "must not be negative");
			return;
		}
		l->from_id = (uint64_t)json_integer_value(n->v);
	} else if (s) {
		if (!*s || strspn(s, "0123456789") != strlen(s)) {
			err_node(ld, n, "'%s' is not a sequence number (decimal digits)", show(s, b));
			return;
		}
		errno = 0;
		u = strtoull(s, NULL, 10);
		if (errno != 0) {
			err_node(ld, n, "out of range (at most %llu)", (unsigned long long)UINT64_MAX);
			return;
		}
		l->from_id = u;
	} else {
		err_node(ld, n, "expected a sequence number (an integer or a string of digits), got %s",
			 type_name(n->v));
		return;
	}
	l->from_id_set = true;
}

static void parse_triggers(struct loader *ld, const struct node *n, struct cfg_listener *l);

static void listener_member(struct loader *ld, const struct node *c, const char *key, void *userdata)
{
	struct cfg_listener *l = userdata;
	int e;

	if (streq(key, "protocol") || parse_shared_key(ld, c, key, l))
		return; /* the protocol is read first */
	if (streq(key, "triggers"))
		parse_triggers(ld, c, l);
	else if (streq(key, "name"))
		parse_name(ld, c, l);
	else if (streq(key, "url"))
		set_str(ld, &l->url, get_http_url(ld, c, false));
	else if (streq(key, "headers")) {
		parse_kv(ld, c, KV_HEADER, &l->headers, &l->n_headers);
		for (size_t i = 0; i < l->n_headers; i++)
			if (strcasecmp(l->headers[i].key, "Last-Event-ID") == 0)
				err_key(ld, c, l->headers[i].key, "'Last-Event-ID' is set by ssewatchd when it resumes");
	} else if (streq(key, "event"))
		set_str(ld, &l->event, get_nonempty_str(ld, c));
	else if (streq(key, "identifiers"))
		parse_identifiers(ld, c, l);
	else if (streq(key, "from_id"))
		parse_from_id(ld, c, l);
	else if (streq(key, "from_date"))
		set_str(ld, &l->from_date, get_nonempty_str(ld, c));
	else if (streq(key, "on_gap")) {
		if (get_enum(ld, c, on_gap_names, ELEMENTSOF(on_gap_names), &e))
			l->on_gap = (enum cfg_on_gap)e;
	}
}

static void parse_triggers(struct loader *ld, const struct node *n, struct cfg_listener *l)
{
	size_t count;

	if (!want(ld, n, json_is_array(n->v), "a list of triggers"))
		return;
	count = json_array_size(n->v);
	if (count == 0) {
		err_node(ld, n, "a listener needs at least one trigger");
		return;
	}
	if (count > CFG_MAX_TRIGGERS) {
		err_node(ld, n, "too many triggers (at most %d)", CFG_MAX_TRIGGERS);
		return;
	}
	l->triggers = calloc(count, sizeof(*l->triggers));
	if (!l->triggers) {
		ld->oom = true;
		return;
	}
	l->n_triggers = count;
	for (size_t i = 0; i < count; i++) {
		_cleanup_node_ struct node c = {};
		_cleanup_free_ char *where = NULL;

		node_elem(ld, n, i, &c);
		if (ld->confd && asprintf(&where, "%s: %s", cur_file(ld), c.path ? c.path : "") < 0)
			where = NULL;
		parse_trigger(ld, &c, &l->triggers[i], ld->confd ? where : c.path);
	}
}

static struct cfg_listener *add_listener(struct loader *ld, const struct node *n)
{
	struct cfg *cfg = ld->cfg;
	struct cfg_listener *ls;

	if (cfg->n_listeners >= CFG_MAX_LISTENERS) {
		if (!ld->too_many_listeners)
			err_node(ld, n, "too many listeners (at most %d)", CFG_MAX_LISTENERS);
		ld->too_many_listeners = true;
		return NULL;
	}
	/* Grow geometrically: a file may hold thousands. */
	if ((cfg->n_listeners & (cfg->n_listeners - 1)) == 0) {
		ls = realloc(cfg->listeners, MAX(cfg->n_listeners * 2, (size_t)4) * sizeof(*ls));
		if (!ls) {
			ld->oom = true;
			return NULL;
		}
		cfg->listeners = ls;
	}
	return &cfg->listeners[cfg->n_listeners++];
}

/* The top-level auth is meant for base_url's server above all: an sse
 * listener elsewhere that inherits it hands that server's credentials over. */
static void warn_inherited_auth(struct loader *ld, const struct node *n, const struct cfg_listener *l)
{
	const struct cfg_auth *a = &ld->defs.auth;
	_cleanup_free_ char *host = NULL, *base_host = NULL;

	if (!l->url || !(a->bearer_token || a->bearer_token_file || a->refresh_command || a->basic_username))
		return;
	host = url_host(l->url);
	base_host = ld->defs.base_url ? url_host(ld->defs.base_url) : NULL;
	if (!host || (base_host && streq(host, base_host)))
		return;
	warn_at(ld, node_pos(ld, n),
		"%s: the top-level auth applies to this listener too, so its credentials are sent to %s%s%s: "
		"give the listener 'auth: {}' if they are not meant for that server",
		n->path ? n->path : "listener", host, base_host ? " as well as to " : "", base_host ? base_host : "");
}

static void parse_listener(struct loader *ld, const struct node *n)
{
	_cleanup_node_ struct node proto = {};
	struct cfg_listener *l;
	unsigned scope = L_AVISO;
	int p;

	if (!want(ld, n, json_is_object(n->v), "a mapping (a listener)") || !(l = add_listener(ld, n)))
		return;
	copy_defaults(ld, l, &ld->defs);
	if (ld->confd) {
		if (asprintf(&l->where, "%s: %s", cur_file(ld), n->path ? n->path : "") < 0) {
			l->where = NULL;
			ld->oom = true;
		}
	} else
		l->where = xstrdup(ld, n->path);

	if (node_get(ld, n, "protocol", &proto)) {
		if (get_enum(ld, &proto, protocol_names, ELEMENTSOF(protocol_names), &p)) {
			l->protocol = (enum cfg_protocol)p;
			scope = 1u << p;
		} else
			scope = 0;
	}
	(void)for_members(ld, n, "a mapping (a listener)", &listener_keyset, scope, listener_member, l);

	require(ld, n, "name", " (ssewatchd names the listener's state file after it)");
	require(ld, n, "triggers", " (a listener needs at least one trigger)");
	if (scope == L_SSE)
		require(ld, n, "url", "");
	if (scope == L_AVISO) {
		require(ld, n, "event", "");
		if (!l->base_url && !json_object_get(n->v, "base_url") && !ld->top_base_url)
			err_node(ld, n, "no base_url: set one in the listener or at top level");
	}
	(void)one_of(ld, n, "from_id", "from_date", NULL);
	if (l->protocol == CFG_PROTOCOL_SSE) {
		if (!json_object_get(n->v, "auth"))
			warn_inherited_auth(ld, n, l);
		free(l->base_url);
		l->base_url = NULL;
	}
}

static void parse_listeners(struct loader *ld, const struct node *n)
{
	if (!want(ld, n, json_is_array(n->v), "a list of listeners"))
		return;
	for (size_t i = 0; i < json_array_size(n->v); i++) {
		_cleanup_node_ struct node c = {};

		node_elem(ld, n, i, &c);
		parse_listener(ld, &c);
	}
}

/* -------------------------------------------------------------- top level */

static const struct keydef confd_keys[] = { { "listeners", 1 } };
static const struct keyset confd_keyset = KEYSET(confd_keys, no_scope);

static void top_member(struct loader *ld, const struct node *c, const char *key, void *userdata)
{
	const bool *skip_timeout = userdata;
	const char *s;
	int e;

	if (streq(key, "listeners") || parse_shared_key(ld, c, key, &ld->defs))
		return; /* listeners come last, with every default known */
	if (streq(key, "state_dir"))
		set_str(ld, &ld->cfg->state_dir, get_abs_path(ld, c));
	else if (streq(key, "runtime_dir"))
		set_str(ld, &ld->cfg->runtime_dir, get_abs_path(ld, c));
	else if (streq(key, "log_level")) {
		if ((s = get_str(ld, c)) && (e = log_level_from_string(s)) >= 0)
			ld->cfg->log_level = e;
		else if (s)
			err_node(ld, c, "invalid log level (expected one of: debug, info, notice, warning, error)");
	} else if (streq(key, "state_file")) {
		if (get_str(ld, c))
			warn_at(ld, member_key_pos(ld, c),
				"state_file is ignored: ssewatchd keeps one state file per listener in state_dir");
	} else if (streq(key, "timeout") && !*skip_timeout)
		(void)get_duration(ld, c, 1, &ld->defs.connect_timeout_usec);
}

static void parse_top(struct loader *ld, const struct node *root)
{
	_cleanup_node_ struct node listeners = {}, base_url = {};
	bool skip_timeout = one_of(ld, root, "connect_timeout", "timeout",
				   "'timeout' is aviso's name for 'connect_timeout'; set only one") == 3;

	ld->top_base_url = node_get(ld, root, "base_url", &base_url);
	(void)for_members(ld, root, "a mapping", &listener_keyset, L_TOP, top_member, &skip_timeout);

	if (node_get(ld, root, "listeners", &listeners) || listeners.v) {
		ld->listeners_pos = node_pos(ld, &listeners);
		ld->listeners_pos_set = true;
	}
	if (listeners.v && !json_is_null(listeners.v))
		parse_listeners(ld, &listeners);
}

static void confd_wrong_key(struct loader *ld, const struct node *root, const char *key)
{
	for (size_t i = 0; i < ELEMENTSOF(listener_keys); i++)
		if (streq(listener_keys[i].name, key) && (listener_keys[i].scope & L_TOP)) {
			err_key(ld, root, key, "'%s' cannot be set in a conf.d file; only 'listeners' may appear here", key);
			return;
		}
	(void)check_key(ld, root, key, &confd_keyset, 0);
}

static void parse_confd_top(struct loader *ld, const struct node *root)
{
	_cleanup_node_ struct node listeners = {};
	const char *key;
	json_t *v;

	json_object_foreach(root->v, key, v)
		if (!streq(key, "listeners"))
			confd_wrong_key(ld, root, key);
	if (node_get(ld, root, "listeners", &listeners))
		parse_listeners(ld, &listeners);
}

/* ------------------------------------------------------------------ files */

static int read_file(const char *path, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	buf = malloc(CFG_MAX_FILE_SIZE + 1);
	if (!buf)
		return -ENOMEM;
	while (len <= CFG_MAX_FILE_SIZE) {
		ssize_t n = read(fd, buf + len, CFG_MAX_FILE_SIZE + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CFG_MAX_FILE_SIZE)
		return -EFBIG;
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

static int add_file(struct loader *ld, const char *name)
{
	char b[SHOW_MAX * 4], **f;
	size_t o = 0;

	/* Escape control characters; keep the name whole. */
	for (const unsigned char *p = (const unsigned char *)name; *p && o < sizeof(b) - 5; p++)
		if (*p < 0x20 || *p == 0x7f)
			o += (size_t)sprintf(b + o, "\\x%02x", *p);
		else
			b[o++] = (char)*p;
	b[o] = '\0';
	f = realloc(ld->files, (ld->n_files + 1) * sizeof(char *));
	if (!f)
		return -ENOMEM;
	ld->files = f;
	if (!(ld->files[ld->n_files] = strdup(b)))
		return -ENOMEM;
	ld->file = (unsigned)ld->n_files++;
	return 0;
}

/* Reads one file's bytes (already the current file) and validates them. */
static void load_buffer(struct loader *ld, const char *buf, size_t len, bool confd)
{
	_cleanup_node_ struct node root = {};
	json_t *tree = NULL;

	ld->confd = confd;
	if (read_yaml(ld, buf, len, &tree) == 0) {
		root = (struct node){ .v = tree, .path = xstrdup(ld, "") };
		if (json_is_object(tree))
			(confd ? parse_confd_top : parse_top)(ld, &root);
		else if (!json_is_null(tree))
			err_node(ld, &root, "the top level must be a mapping, not %s", type_name(tree));
	}
	json_decref(tree);
	postab_free(&ld->tab);
	json_decref(ld->skipped);
	ld->skipped = NULL;
	json_decref(ld->resolved);
	ld->resolved = NULL;
	free(ld->shifts);
	ld->shifts = NULL;
	ld->n_shifts = 0;
}

/* Reads and validates the file path (already the current file); -errno if unreadable. */
static int load_path(struct loader *ld, const char *path, bool confd)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = read_file(path, &buf, &len);

	if (r == -EFBIG)
		err_at(ld, (struct pos){ 1, 1 }, NULL, "file is larger than %d bytes", CFG_MAX_FILE_SIZE);
	else if (r < 0)
		err_at(ld, (struct pos){ 1, 1 }, NULL, "cannot read: %s", strerror(-r));
	else
		load_buffer(ld, buf, len, confd);
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_confd(struct loader *ld, const char *main_path)
{
	const char *slash = strrchr(main_path, '/');
	_cleanup_free_ char *dir = NULL;
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	if ((slash ? asprintf(&dir, "%.*s/conf.d", (int)(slash - main_path), main_path)
		   : asprintf(&dir, "conf.d")) < 0) {
		dir = NULL;
		ld->oom = true;
		return;
	}
	d = opendir(dir);
	if (!d) {
		if (errno != ENOENT && errno != ENOTDIR) {
			ld->file = 0;
			err_at(ld, (struct pos){ 1, 1 }, NULL, "cannot read %s: %s", dir, strerror(errno));
		}
		return;
	}
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		char **nn;

		if (de->d_name[0] == '.' || l <= 5 || !streq(de->d_name + l - 5, ".yaml"))
			continue;
		if (n >= CFG_MAX_CONFD_FILES) {
			ld->file = 0;
			err_at(ld, (struct pos){ 1, 1 }, NULL, "too many files in %s (at most %d)", dir,
			       CFG_MAX_CONFD_FILES);
			break;
		}
		nn = realloc(names, (n + 1) * sizeof(char *));
		if (!nn || !(nn[n] = strdup(de->d_name))) {
			names = nn ? nn : names;
			ld->oom = true;
			break;
		}
		names = nn;
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(char *), cmp_str);

	for (size_t i = 0; i < n && !ld->oom; i++) {
		_cleanup_free_ char *path = NULL;

		if (asprintf(&path, "%s/%s", dir, names[i]) < 0 || add_file(ld, path) < 0) {
			ld->oom = true;
			break;
		}
		(void)load_path(ld, path, true);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* ----------------------------------------------------------- resolved JSON */

static int jset(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v);
}

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *jduration(uint64_t usec)
{
	char b[64];

	format_duration(usec, b);
	return json_string(b);
}

static json_t *jstrv(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && v && (n == SIZE_MAX ? v[i] != NULL : i < n); i++)
		if (json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* Values under names like Authorization, X-Api-Key or DB_PASSWORD are not shown. */
static json_t *jkv(const struct cfg_kv *kv, size_t n, bool redact)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < n; i++) {
		bool secret = redact && name_looks_secret(kv[i].key, strlen(kv[i].key));

		if (jset(o, kv[i].key, json_string(secret ? "(secret)" : kv[i].value)) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* A URL with its credentials (userinfo, token query values) replaced. */
static json_t *jurl(const char *url, bool redact)
{
	_cleanup_free_ char *s = NULL;

	if (!url || !redact)
		return jstr(url);
	s = url_hide_secrets(url);
	return s ? json_string(s) : NULL;
}

static json_t *auth_json(const struct cfg_auth *a, bool redact)
{
	json_t *o = json_object(), *basic;
	int r = 0;

	if (!o)
		return NULL;
	if (a->bearer_token)
		r |= jset(o, "bearer_token", json_string(redact ? "(secret)" : a->bearer_token));
	if (a->bearer_token_file)
		r |= jset(o, "bearer_token_file", json_string(a->bearer_token_file));
	if (a->refresh_command)
		r |= jset(o, "refresh_command", json_pack("{s:o, s:o}", "argv", jstrv(a->refresh_command, SIZE_MAX),
							  "timeout", jduration(a->refresh_timeout_usec)));
	if (a->basic_username) {
		basic = json_pack("{s:s}", "username", a->basic_username);
		if (basic && a->basic_password)
			r |= jset(basic, "password", json_string(redact ? "(secret)" : a->basic_password));
		if (basic && a->basic_password_file)
			r |= jset(basic, "password_file", json_string(a->basic_password_file));
		r |= jset(o, "basic", basic);
	}
	if (r < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

bool cfg_trigger_fail_fast(const struct cfg_trigger *t)
{
	if (t->fail_fast >= 0)
		return t->fail_fast;
	return t->type == CFG_TRIGGER_POST || t->shell;
}

/* As it applies: defaults resolved, the listener's on_failure included. */
static json_t *trigger_json(const struct cfg_trigger *t, enum cfg_on_failure listener_on_failure, bool redact)
{
	json_t *o = json_object();
	int r = 0;

	if (!o)
		return NULL;
	r |= jset(o, "type", json_string(cfg_trigger_type_to_string(t->type)));
	r |= jset(o, "retries", json_integer(t->retries));
	r |= jset(o, "required", json_boolean(t->required));
	r |= jset(o, "retry_delay", jduration(t->retry_delay_usec));
	r |= jset(o, "on_failure", json_string(on_failure_names[t->on_failure_set ? t->on_failure : listener_on_failure]));
	switch (t->type) {
	case CFG_TRIGGER_COMMAND:
		if (t->argv)
			r |= jset(o, "argv", jstrv(t->argv, t->argc));
		else
			r |= jset(o, "command", jstr(t->shell));
		r |= jset(o, "env", jkv(t->env, t->n_env, redact));
		r |= jset(o, "working_dir", jstr(t->working_dir));
		r |= jset(o, "kill_grace", jduration(t->kill_grace_usec));
		break;
	case CFG_TRIGGER_POST:
		r |= jset(o, "url", jurl(t->url, redact));
		r |= jset(o, "headers", jkv(t->headers, t->n_headers, redact));
		break;
	case CFG_TRIGGER_LOG:
		r |= jset(o, "path", jstr(t->path));
		r |= jset(o, "fsync", json_boolean(t->fsync));
		break;
	case CFG_TRIGGER_ECHO:
		break;
	}
	if (t->type == CFG_TRIGGER_COMMAND || t->type == CFG_TRIGGER_POST) {
		r |= jset(o, "timeout", t->timeout_usec ? jduration(t->timeout_usec) : json_null());
		r |= jset(o, "fail_fast", json_boolean(cfg_trigger_fail_fast(t)));
	}
	if (r < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *listener_json(const struct cfg_listener *l, bool redact)
{
	json_t *o = json_object(), *triggers = json_array();
	int r = 0;

	if (!o || !triggers)
		goto fail;
	r |= jset(o, "name", jstr(l->name));
	r |= jset(o, "protocol", json_string(cfg_protocol_to_string(l->protocol)));
	if (l->protocol == CFG_PROTOCOL_AVISO) {
		r |= jset(o, "base_url", jurl(l->base_url, redact));
		r |= jset(o, "event", jstr(l->event));
		r |= jset(o, "identifiers", l->identifiers ? json_deep_copy(l->identifiers) : json_object());
		if (!l->from_id_set)
			r |= jset(o, "from_id", json_null());
		else if (l->from_id <= INT64_MAX)
			r |= jset(o, "from_id", json_integer((json_int_t)l->from_id));
		else
			r |= jset(o, "from_id", json_sprintf("%" PRIu64, l->from_id));
		r |= jset(o, "from_date", jstr(l->from_date));
		r |= jset(o, "on_gap", json_string(on_gap_names[l->on_gap]));
	} else {
		r |= jset(o, "url", jurl(l->url, redact));
		r |= jset(o, "headers", jkv(l->headers, l->n_headers, redact));
	}
	r |= jset(o, "auth", auth_json(&l->auth, redact));
	r |= jset(o, "tls", json_pack("{s:o, s:b}", "ca_bundle", jstrv(l->tls.ca_bundle, l->tls.n_ca_bundle),
				      "insecure", l->tls.insecure));
	r |= jset(o, "proxy", jurl(l->proxy, redact));
	r |= jset(o, "heartbeat_interval", jduration(l->heartbeat_interval_usec));
	if (l->idle_timeout_usec)
		r |= jset(o, "idle_timeout", jduration(l->idle_timeout_usec));
	r |= jset(o, "connect_timeout", jduration(l->connect_timeout_usec));
	r |= jset(o, "commit", json_string(commit_names[l->commit]));
	r |= jset(o, "on_failure", json_string(on_failure_names[l->on_failure]));
	r |= jset(o, "max_event_size", json_integer((json_int_t)l->max_event_size));
	r |= jset(o, "max_pending", json_integer((json_int_t)l->max_pending));
	for (size_t i = 0; i < l->n_triggers; i++)
		r |= json_array_append_new(triggers, trigger_json(&l->triggers[i], l->on_failure, redact));
	r |= jset(o, "triggers", triggers);
	if (r < 0)
		goto fail_o;
	return o;
fail:
	json_decref(triggers);
fail_o:
	json_decref(o);
	return NULL;
}

json_t *cfg_listener_to_json(const struct cfg_listener *l)
{
	return listener_json(l, true);
}

/* Built when asked, not kept: 10,000 listeners would each hold their text. */
bool cfg_listener_same(const struct cfg_listener *a, const struct cfg_listener *b)
{
	_cleanup_(json_decrefp) json_t *ja = listener_json(a, false);
	_cleanup_(json_decrefp) json_t *jb = listener_json(b, false);

	return ja && jb && json_equal(ja, jb);
}

/* ------------------------------------------------------------------- load */

static int cmp_err(const void *a, const void *b)
{
	const struct err_item *x = a, *y = b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void push_line(struct cfg_errors *out, char *line)
{
	char **l;

	if (!line)
		return;
	l = realloc(out->lines, (out->n + 1) * sizeof(char *));
	if (!l) {
		free(line);
		return;
	}
	out->lines = l;
	out->lines[out->n++] = line;
}

static int loader_init(struct loader *ld, const char *name)
{
	*ld = (struct loader){};
	ld->defs = (struct cfg_listener){
		.heartbeat_interval_usec = CFG_DEFAULT_HEARTBEAT_USEC,
		.connect_timeout_usec = CFG_DEFAULT_CONNECT_TIMEOUT_USEC,
		.max_event_size = CFG_DEFAULT_MAX_EVENT_SIZE,
		/* max_pending: 0 until the end, where the commit mode picks it. */
		.auth.refresh_timeout_usec = CFG_DEFAULT_REFRESH_TIMEOUT_USEC,
	};
	ld->cfg = calloc(1, sizeof(*ld->cfg));
	if (!ld->cfg || add_file(ld, name) < 0 || !(ld->cfg->path = strdup(name)))
		return -ENOMEM;
	ld->cfg->log_level = LOG_INFO;
	return 0;
}

/* Resolves what is left, hands out the result or the errors, frees ld. */
static int loader_finish(struct loader *ld, int r, struct cfg **ret, struct cfg_errors *errors)
{
	struct cfg *c = ld->cfg;
	const char *e;
	char *line;

	ld->file = 0;
	if (c && r >= 0 && ld->n_errs == 0 && !ld->oom && c->n_listeners == 0)
		err_at(ld, ld->listeners_pos_set ? ld->listeners_pos : (struct pos){ 1, 1 },
		       ld->listeners_pos_set ? "listeners" : NULL,
		       "no listeners: add some under 'listeners:', here or in conf.d/*.yaml");
	if (c && !c->state_dir) {
		/* systemd's StateDirectory=; anything else that is not absolute
		 * would depend on the working directory, as for the file's paths. */
		e = getenv("STATE_DIRECTORY");
		if (e && *e == '/')
			c->state_dir = strndup(e, strcspn(e, ":"));
		else
			c->state_dir = strdup(CFG_DEFAULT_STATE_DIR);
		if (!c->state_dir)
			ld->oom = true;
	}
	if (c && !c->runtime_dir) {
		/* Where the status file goes: systemd's RuntimeDirectory=, else
		 * /run/ssewatchd for root, else the user's runtime directory. */
		const char *xdg = getenv("XDG_RUNTIME_DIR");

		e = getenv("RUNTIME_DIRECTORY");
		if (e && *e == '/')
			c->runtime_dir = strndup(e, strcspn(e, ":"));
		else if (geteuid() == 0 || !xdg || *xdg != '/')
			c->runtime_dir = strdup(CFG_DEFAULT_RUNTIME_DIR);
		else
			c->runtime_dir = strdupf("%s/ssewatchd", xdg);
		if (!c->runtime_dir)
			ld->oom = true;
	}
	/* per_event commits write every waiting notification, so its queue
	 * stays short; batch fills one commit from one read. */
	for (size_t i = 0; c && i < c->n_listeners; i++)
		if (c->listeners[i].max_pending == 0)
			c->listeners[i].max_pending = c->listeners[i].commit == CFG_COMMIT_BATCH
							      ? CFG_DEFAULT_MAX_PENDING_BATCH
							      : CFG_DEFAULT_MAX_PENDING;

	if (ld->oom && r >= 0)
		r = -ENOMEM;
	else if (ld->n_errs > 0 && r >= 0)
		r = -EINVAL;
	if (r < 0) {
		qsort(ld->errs, ld->n_errs, sizeof(ld->errs[0]), cmp_err);
		for (size_t i = 0; i < ld->n_errs; i++)
			push_line(errors, TAKE_PTR(ld->errs[i].text));
		if (ld->n_more > 0 && asprintf(&line, "%s:1:1: %zu more errors not shown", ld->files ? ld->files[0] : "?",
					       ld->n_more) >= 0)
			push_line(errors, line);
		if (ld->oom && asprintf(&line, "%s:1:1: out of memory", ld->files ? ld->files[0] : "?") >= 0)
			push_line(errors, line);
		if (errors->n == 0) /* even the message could not be allocated */
			push_line(errors, strdup("?:1:1: out of memory"));
		cfg_free(c);
		c = NULL;
	}

	for (size_t i = 0; i < ld->n_errs; i++)
		free(ld->errs[i].text);
	for (size_t i = 0; i < ld->n_files; i++)
		free(ld->files[i]);
	free(ld->files);
	postab_free(&ld->names);
	postab_free(&ld->tab);
	json_decref(ld->skipped);
	json_decref(ld->resolved);
	free(ld->shifts);
	listener_done(&ld->defs);
	*ret = c;
	return r < 0 ? r : 0;
}

int cfg_load_buffer(const char *name, const void *data, size_t size, struct cfg **ret, struct cfg_errors *errors)
{
	struct loader ld;
	int r = loader_init(&ld, name);

	if (r == 0 && size > CFG_MAX_FILE_SIZE)
		err_at(&ld, (struct pos){ 1, 1 }, NULL, "file is larger than %d bytes", CFG_MAX_FILE_SIZE);
	else if (r == 0)
		load_buffer(&ld, data, size, false);
	return loader_finish(&ld, r, ret, errors);
}

int cfg_load(const char *path, struct cfg **ret, struct cfg_errors *errors)
{
	return cfg_load_flags(path, 0, ret, errors);
}

int cfg_load_flags(const char *path, unsigned flags, struct cfg **ret, struct cfg_errors *errors)
{
	struct loader ld;
	int r = loader_init(&ld, path);

	ld.flags = flags;
	if (r == 0)
		r = load_path(&ld, path, false);
	if (r == 0)
		load_confd(&ld, path);
	return loader_finish(&ld, r == -EFBIG ? -EINVAL : r, ret, errors);
}

struct cfg *cfg_free(struct cfg *c)
{
	if (!c)
		return NULL;
	free(c->path);
	free(c->state_dir);
	free(c->runtime_dir);
	for (size_t i = 0; i < c->n_listeners; i++)
		listener_done(&c->listeners[i]);
	free(c->listeners);
	for (size_t i = 0; i < c->n_warnings; i++)
		free(c->warnings[i]);
	free(c->warnings);
	free(c);
	return NULL;
}

void cfg_errors_clear(struct cfg_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->lines[i]);
	free(e->lines);
	*e = (struct cfg_errors){};
}

const char *cfg_default_path(const char *explicit_path)
{
	const char *e;

	if (explicit_path)
		return explicit_path;
	e = getenv("SSEWATCHD_CONFIG");
	return e && *e ? e : CFG_DEFAULT_PATH;
}

const struct cfg_listener *cfg_find_listener(const struct cfg *c, const char *name)
{
	for (size_t i = 0; c && name && i < c->n_listeners; i++)
		if (c->listeners[i].name && streq(c->listeners[i].name, name))
			return &c->listeners[i];
	return NULL;
}

const char *cfg_protocol_to_string(enum cfg_protocol p)
{
	return (size_t)p < ELEMENTSOF(protocol_names) ? protocol_names[p] : "?";
}

const char *cfg_trigger_type_to_string(enum cfg_trigger_type t)
{
	return (size_t)t < ELEMENTSOF(trigger_names) ? trigger_names[t] : "?";
}
