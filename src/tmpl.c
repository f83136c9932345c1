/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "dbuf.h"
#include "macro.h"
#include "tmpl.h"

#define SCAN_MAX_DEPTH		32
#define SCAN_MAX_HEREDOCS	8
#define LOST_ARITH_QUOTE	"a quote, backslash or backquote inside arithmetic (shells disagree where it ends)"

/* How a SHELL placeholder is written into the script. */
enum shell_form {
	FORM_BARE,	/* "${SSEWATCHD_ARG_N}" */
	FORM_DQ,	/* ${SSEWATCHD_ARG_N} */
	FORM_SQ,	/* '"${SSEWATCHD_ARG_N}"' */
};

struct placeholder {
	size_t offset;		/* of its "{{" in the template */
	size_t end;		/* just past its "}}" */
	size_t pos;		/* where it stands in the literal text */
	const char *expr;	/* "notification", "notification.a.b" or "env.NAME", in the template */
	size_t expr_len;
	bool env;
	enum shell_form form;
};

/* A template taken apart: its literal text (\{{ resolved) and placeholders. */
struct tmpl {
	char *text;
	size_t len;
	struct placeholder ph[TMPL_MAX_PLACEHOLDERS];
	size_t n;
};

static void tmpl_done(struct tmpl *t)
{
	free(t->text);
	t->text = NULL;
}

/* Sets *reterr (if wanted) and returns r; -ENOMEM if the message cannot be made. */
_printf_(3, 4) static int fail(char **reterr, int r, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (!reterr)
		return r;
	va_start(ap, fmt);
	k = vasprintf(reterr, fmt, ap);
	va_end(ap);
	if (k < 0) {
		*reterr = NULL;
		return -ENOMEM;
	}
	return r;
}

/* ------------------------------------------------------------------ syntax */

static bool is_segment_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* A byte for a message: 'x', or \xHH when it is not printable ASCII. */
static const char *show_char(char c, char buf[static 8])
{
	unsigned char u = (unsigned char)c;

	if (u > 0x20 && u < 0x7f && u != '\'')
		snprintf(buf, 8, "'%c'", c);
	else if (u == ' ')
		snprintf(buf, 8, "a space");
	else
		snprintf(buf, 8, "\\x%02x", u);
	return buf;
}

static int syntax_error(char **reterr, size_t off, const char *what)
{
	return fail(reterr, -EINVAL, "template syntax error at offset %zu: %s", off, what);
}

/* After a path or name: the error for the byte at j, which is not a segment char. */
static int bad_char(const char *s, size_t open, size_t j, char **reterr)
{
	char b[8], msg[128];

	if (!s[j])
		return syntax_error(reterr, open, "'{{' is not closed by '}}'");
	snprintf(msg, sizeof(msg), "unexpected %s in a placeholder (no filters, indexing or logic)",
		 show_char(s[j], b));
	return syntax_error(reterr, j, msg);
}

/* The placeholder whose "{{" is at s + open. */
static int parse_placeholder(const char *s, size_t open, struct placeholder *p, char **reterr)
{
	size_t j = open + 2, root, root_len, segs = 0;
	char msg[160];

	while (is_blank(s[j]))
		j++;
	root = j;
	while (is_segment_char(s[j]))
		j++;
	root_len = j - root;
	if (root_len == 0) {
		if (s[j] == '}' && s[j + 1] == '}')
			return syntax_error(reterr, open, "empty placeholder");
		return bad_char(s, open, j, reterr);
	}
	if (!(root_len == 12 && memcmp(s + root, "notification", 12) == 0) &&
	    !(root_len == 3 && memcmp(s + root, "env", 3) == 0)) {
		snprintf(msg, sizeof(msg),
			 "unknown placeholder '%.*s' (expected notification, notification.PATH or env.NAME)",
			 (int)MIN(root_len, (size_t)32), s + root);
		return syntax_error(reterr, root, msg);
	}
	while (s[j] == '.') {
		size_t seg = ++j;

		while (is_segment_char(s[j]))
			j++;
		if (j == seg && (s[j] == '.' || s[j] == '}' || is_blank(s[j])))
			return syntax_error(reterr, j, "empty name after '.'");
		if (j == seg)
			return bad_char(s, open, j, reterr);
		if (root_len == 3 && (s[seg] >= '0' && s[seg] <= '9'))
			return syntax_error(reterr, seg, "an environment variable name cannot start with a digit");
		if (root_len == 3 && memchr(s + seg, '-', j - seg))
			return syntax_error(reterr, seg, "an environment variable name is letters, digits and _");
		segs++;
	}
	p->expr = s + root;
	p->expr_len = j - root;
	p->env = root_len == 3;
	if (p->env && segs != 1)
		return syntax_error(reterr, segs ? root : open,
				    segs ? "env takes one variable name, not a path: {{ env.NAME }}"
					 : "env needs a variable name: {{ env.NAME }}");
	while (is_blank(s[j]))
		j++;
	if (s[j] != '}' || s[j + 1] != '}')
		return bad_char(s, open, s[j] == '}' ? j + 1 : j, reterr);
	p->end = j + 2;
	return 0;
}

static int parse(const char *s, struct tmpl *t, char **reterr)
{
	size_t len = strlen(s), i = 0;

	*t = (struct tmpl){};
	if (len > TMPL_MAX_LENGTH)
		return fail(reterr, -E2BIG, "the template is %zu bytes; at most %d are allowed", len, TMPL_MAX_LENGTH);
	t->text = malloc(len + 1);
	if (!t->text)
		return -ENOMEM;
	while (i < len) {
		if (s[i] == '\\' && s[i + 1] == '{' && s[i + 2] == '{') {
			t->text[t->len++] = '{';
			t->text[t->len++] = '{';
			i += 3;
		} else if (s[i] == '{' && s[i + 1] == '{') {
			struct placeholder *p = &t->ph[t->n];
			int r;

			if (t->n == TMPL_MAX_PLACEHOLDERS)
				return fail(reterr, -E2BIG, "more than %d placeholders (the next at offset %zu)",
					    TMPL_MAX_PLACEHOLDERS, i);
			*p = (struct placeholder){ .offset = i, .pos = t->len };
			r = parse_placeholder(s, i, p, reterr);
			if (r < 0)
				return r;
			i = p->end;
			t->n++;
		} else
			t->text[t->len++] = s[i++];
	}
	t->text[t->len] = '\0';
	return 0;
}

/* -------------------------------------------------------------------- URL */

static int check_url(const char *s, const struct tmpl *t, char **reterr)
{
	size_t k = 0, auth_end = t->len;
	const char *sep = strstr(t->text, "://");

	/* Literal bytes only: offsets inside placeholders are skipped. */
	for (size_t i = 0; s[i]; i++) {
		if (k < t->n && i == t->ph[k].offset) {
			i = t->ph[k++].end - 1;
			continue;
		}
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return fail(reterr, -EINVAL, "a URL must not contain spaces or control characters (offset %zu)",
				    i);
	}
	if (sep)
		auth_end = (size_t)(sep - t->text) + 3 + strcspn(sep + 3, "/?#");
	for (size_t i = 0; i < t->n; i++)
		if (!sep || t->ph[i].pos <= auth_end)
			return fail(reterr, -EINVAL,
				    "placeholder at offset %zu is in the URL's scheme or host; a value must not choose "
				    "where the request goes (use placeholders in the path or query)",
				    t->ph[i].offset);
	return 0;
}

/* ------------------------------------------------------------------- shell */

enum frame_kind {
	FR_TOP,
	FR_SUBSHELL,		/* ( ... ), met only as the fallback of (( */
	FR_CMDSUB,		/* $( ... ) */
	FR_BACKTICK,		/* ` ... ` */
	FR_ARITH,		/* $(( ... )) */
	FR_ARITH_CMD,		/* (( ... )) */
	FR_ARITH_BRACKET,	/* $[ ... ] */
	FR_DBRACKET,		/* [[ ... ]] (bash) */
	FR_PARAM,		/* ${ ... } */
	FR_DQ,			/* " ... " */
	FR_SQ,			/* ' ... ' */
	FR_DOLLAR_SQ,		/* $' ... ' */
	FR_COMMENT,		/* # ... up to the newline */
};

struct frame {
	enum frame_kind kind;
	unsigned depth;		/* open ( or [ inside */
	bool name;		/* code: the word so far is a NAME */
	bool subscript;		/* code: the word is NAME[ and the ] has not come */
};

struct heredoc {
	size_t delim;		/* in scan.delims */
	size_t delim_len;
	bool strip_tabs;	/* <<- */
	bool quoted;		/* no expansion, no line joining in the body */
};

struct scan {
	const char *text;
	size_t len;
	struct placeholder *ph;
	size_t n, next;		/* next: the first placeholder not yet placed */
	struct frame st[SCAN_MAX_DEPTH];
	size_t sp;
	bool word_start;	/* in code, the next byte starts a word */
	bool after_dollar;	/* the last byte was a '$' that expands nothing yet */
	struct heredoc hd[SCAN_MAX_HEREDOCS];
	size_t n_hd;
	size_t hd_sp;		/* the depth of the code the pending here-documents belong to */
	char *delims;		/* the pending delimiters, quotes removed, back to back */
	size_t delims_len;
	const char *lost;	/* set: the scan stopped; later placeholders are refused for this */
	char **reterr;
};

static struct frame *top(struct scan *s)
{
	return &s->st[s->sp - 1];
}

static bool is_code(enum frame_kind k)
{
	return k == FR_TOP || k == FR_SUBSHELL || k == FR_CMDSUB;
}

static bool is_arith(enum frame_kind k)
{
	return k == FR_ARITH || k == FR_ARITH_CMD || k == FR_ARITH_BRACKET;
}

/* Whether the innermost enclosing code or arithmetic is arithmetic. */
static bool in_arith(const struct scan *s)
{
	for (size_t k = s->sp; k-- > 0;) {
		if (is_arith(s->st[k].kind))
			return true;
		if (is_code(s->st[k].kind) || s->st[k].kind == FR_BACKTICK)
			return false;
	}
	return false;
}

/* The byte at i, or -1 at the end or where a placeholder sits at or before i. */
static int peek(const struct scan *s, size_t i)
{
	size_t limit = s->next < s->n ? s->ph[s->next].pos : s->len;

	return i < limit ? (unsigned char)s->text[i] : -1;
}

static bool is_delim(int c)
{
	return c > 0 && strchr(" \t\n;&|<>()", c);
}

static bool is_name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

static void push(struct scan *s, enum frame_kind kind, size_t *i, size_t n)
{
	*i += n;
	if (s->sp == SCAN_MAX_DEPTH) {
		s->lost = "nesting deeper than 32 quotes and substitutions";
		return;
	}
	s->st[s->sp++] = (struct frame){ .kind = kind };
	s->word_start = is_code(kind) || kind == FR_DBRACKET;
}

static void pop(struct scan *s, size_t *i, size_t n)
{
	enum frame_kind k = top(s)->kind;

	if (s->n_hd > 0 && s->sp == s->hd_sp)
		s->lost = "a here-document whose $(...) or (...) ends before its body";
	*i += n;
	s->sp--;
	/* After ( ) and (( )) a new word starts; after a quote or substitution the word goes on. */
	s->word_start = k == FR_SUBSHELL || k == FR_ARITH_CMD;
}

static int refuse(struct scan *s, const struct placeholder *p, const char *why)
{
	return fail(s->reterr, -EINVAL, "placeholder at offset %zu %s", p->offset, why);
}

static int place(struct scan *s, struct placeholder *p)
{
#define SUBST_WHY(what)                                                                                       \
	"is inside " what "; placeholders are not supported in command substitutions (to keep quoting simple " \
	"and safe): assign it to a variable before, v={{ ... }}"
#define ARITH_WHY(what) "is inside " what "; use it outside arithmetic"
	static const char *const why[] = {
		[FR_CMDSUB] = SUBST_WHY("$(...)"),
		[FR_BACKTICK] = SUBST_WHY("`...`"),
		[FR_ARITH] = ARITH_WHY("$((...))"),
		[FR_ARITH_CMD] = ARITH_WHY("((...))"),
		[FR_ARITH_BRACKET] = ARITH_WHY("$[...]"),
		[FR_DBRACKET] = "is inside [[...]], whose operands bash evaluates as arithmetic (-eq and the like); "
				"use [ ... ] instead",
		[FR_PARAM] = "is inside ${...}; use it outside parameter expansions",
		[FR_DOLLAR_SQ] = "is inside $'...'; use it outside",
		[FR_COMMENT] = "is inside a comment",
	};
#undef SUBST_WHY
#undef ARITH_WHY

	if (s->lost)
		return fail(s->reterr, -EINVAL,
			    "placeholder at offset %zu comes after %s, which this check does not follow; "
			    "move the placeholder before it (e.g. into a variable)",
			    p->offset, s->lost);
	if (s->after_dollar)
		return refuse(s, p, "directly follows '$'; a value must not name a variable");
	for (size_t k = s->sp; k-- > 0;) {
		if (why[s->st[k].kind])
			return refuse(s, p, why[s->st[k].kind]);
		if (s->st[k].subscript)
			return refuse(s, p, "is inside an array subscript, NAME[...], which bash evaluates as "
					    "arithmetic");
	}
	p->form = top(s)->kind == FR_DQ ? FORM_DQ : top(s)->kind == FR_SQ ? FORM_SQ : FORM_BARE;
	top(s)->name = false;
	s->word_start = false;
	return 0;
}

/* A '$' at *i in code, "...", ${...}, [[...]] or arithmetic. */
static void dollar(struct scan *s, size_t *i)
{
	enum frame_kind k = top(s)->kind;
	int c = peek(s, *i + 1);

	s->word_start = false;
	if (c == '(' && peek(s, *i + 2) == '(')
		push(s, FR_ARITH, i, 3);
	else if (c == '(')
		push(s, FR_CMDSUB, i, 2);
	else if (c == '{')
		push(s, FR_PARAM, i, 2);
	else if (c == '[')
		push(s, FR_ARITH_BRACKET, i, 2);
	else if (c == '\'' && (is_code(k) || k == FR_PARAM || k == FR_DBRACKET))
		push(s, FR_DOLLAR_SQ, i, 2);
	else {
		*i += 1;
		s->after_dollar = true;
	}
}

/* A backslash at *i: it and the byte it escapes. */
static void escape(struct scan *s, size_t *i)
{
	*i += peek(s, *i + 1) < 0 ? 1 : 2;
}

/* The word after << or <<- (its operator is oplen bytes at *i). */
static int heredoc_op(struct scan *s, size_t *i, size_t oplen)
{
	struct heredoc h = { .delim = s->delims_len, .strip_tabs = oplen == 3 };
	size_t j = *i + oplen;
	int q = 0;

	while (peek(s, j) == ' ' || peek(s, j) == '\t')
		j++;
	for (;;) {
		int c = peek(s, j), d;

		if (c < 0) {
			if (s->next < s->n && s->ph[s->next].pos == j)
				return refuse(s, &s->ph[s->next], "is in a here-document delimiter");
			break;
		}
		if (q) {
			j++;
			if (c == q)
				q = 0;
			else if (q == '"' && c == '\\' && (d = peek(s, j)) >= 0 && strchr("$`\"\\\n", d)) {
				if (d != '\n')	/* a line continuation */
					s->delims[s->delims_len++] = (char)d;
				j++;
			} else
				s->delims[s->delims_len++] = (char)c;
			continue;
		}
		if (is_delim(c))
			break;
		j++;
		if (c == '\'' || c == '"') {
			q = c;
			h.quoted = true;
		} else if (c == '\\') {
			d = peek(s, j);
			h.quoted |= d != '\n';	/* \<newline> only joins lines */
			if (d >= 0 && d != '\n')
				s->delims[s->delims_len++] = (char)d;
			j += d >= 0;
		} else
			s->delims[s->delims_len++] = (char)c;
	}
	h.delim_len = s->delims_len - h.delim;
	if (h.delim_len == 0 && !h.quoted)
		s->lost = "a here-document operator without a delimiter";
	else if (s->n_hd == SCAN_MAX_HEREDOCS)
		s->lost = "more than 8 here-documents on one line";
	else if (s->n_hd > 0 && s->hd_sp != s->sp)
		s->lost = "here-documents opened at different depths on one line";
	else {
		s->hd_sp = s->sp;
		s->hd[s->n_hd++] = h;
	}
	s->word_start = false;
	*i = j;
	return 0;
}

/* The bodies of the pending here-documents, from *i (just past a newline). */
static int heredoc_bodies(struct scan *s, size_t *i)
{
	size_t pos = *i;

	for (size_t k = 0; k < s->n_hd; k++) {
		const struct heredoc *h = &s->hd[k];
		bool joined = false;	/* the previous line ended in \<newline> */

		for (;;) {
			const char *nl = memchr(s->text + pos, '\n', s->len - pos);
			size_t start = pos, end = nl ? (size_t)(nl - s->text) : s->len, bs = 0;

			if (s->next < s->n && s->ph[s->next].pos <= end)
				return refuse(s, &s->ph[s->next], "is inside a here-document; pass the value as an "
								  "argument or variable instead");
			if (h->strip_tabs)
				while (start < end && s->text[start] == '\t')
					start++;
			pos = nl ? end + 1 : end;
			if (end - start == h->delim_len && memcmp(s->text + start, s->delims + h->delim, h->delim_len) == 0 &&
			    (h->quoted || !joined))
				break;
			if (!nl) {
				s->lost = "an unterminated here-document";
				break;
			}
			/* In an unquoted body \\ is one backslash: an odd count joins the next line. */
			while (bs < end - start && s->text[end - 1 - bs] == '\\')
				bs++;
			joined = bs % 2 == 1;
		}
	}
	s->n_hd = 0;
	s->delims_len = 0;
	s->word_start = true;
	*i = pos;
	return 0;
}

/* One step in code: the top level, a subshell or $(...). */
static int step_code(struct scan *s, size_t *i)
{
	struct frame *f = top(s);
	char c = s->text[*i];
	bool start = s->word_start;

	/* NAME[ starts an array subscript, which bash evaluates as arithmetic;
	 * so does [KEY] in a compound assignment, a=([KEY]=VALUE). Inside any
	 * (...) a word starting with [ counts (but the [ command, or [[): a
	 * glob [...] in a subshell is refused too, which costs little. */
	if (start) {
		f->name = is_name_char(c, true);
		f->subscript |= c == '[' && f->depth > 0 && !strchr(" \t\n[", peek(s, *i + 1));
	} else if (f->name && !is_name_char(c, false)) {
		f->subscript |= c == '[';
		f->name = false;
	}
	switch (c) {
	case '\\':
		if (peek(s, *i + 1) != '\n')
			s->word_start = false;
		escape(s, i);
		return 0;
	case '\'':
		push(s, FR_SQ, i, 1);
		return 0;
	case '"':
		push(s, FR_DQ, i, 1);
		return 0;
	case '`':
		push(s, FR_BACKTICK, i, 1);
		return 0;
	case '$':
		dollar(s, i);
		return 0;
	case '#':
		if (start)
			push(s, FR_COMMENT, i, 1);
		else
			*i += 1;
		return 0;
	case '\n':
		*i += 1;
		s->word_start = true;
		f->subscript = false;
		if (s->n_hd > 0 && s->hd_sp != s->sp)
			s->lost = "a here-document whose body starts inside $(...) or (...)";
		return s->n_hd > 0 && !s->lost ? heredoc_bodies(s, i) : 0;
	case '<':
		if (peek(s, *i + 1) == '<' && peek(s, *i + 2) != '<')
			return heredoc_op(s, i, peek(s, *i + 2) == '-' ? 3 : 2);
		*i += peek(s, *i + 1) == '<' ? 3 : 1;	/* <<< is a bash here-string: a plain word follows */
		break;
	case '(':
		if (peek(s, *i + 1) == '(') {
			push(s, FR_ARITH_CMD, i, 2);
			return 0;
		}
		f->depth++;
		*i += 1;
		break;
	case ')':
		if (f->kind != FR_TOP && f->depth == 0) {
			pop(s, i, 1);
			return 0;
		}
		if (f->depth > 0)
			f->depth--;
		*i += 1;
		break;
	case ' ':
	case '\t':
	case ';':
	case '&':
	case '|':
	case '>':
		*i += 1;
		break;
	default:
		if (start && c == '[' && peek(s, *i + 1) == '[' &&
		    (peek(s, *i + 2) == ' ' || peek(s, *i + 2) == '\t' || peek(s, *i + 2) == '\n')) {
			push(s, FR_DBRACKET, i, 2);
			return 0;
		}
		if (c == ']')
			f->subscript = false;
		/* The ) of a case pattern would end $(...) or (...) too early. */
		if (start && f->kind != FR_TOP && *i + 4 < s->len && memcmp(s->text + *i, "case", 4) == 0 &&
		    is_delim(peek(s, *i + 4)))
			s->lost = "a 'case' inside $(...) or (...)";
		s->word_start = false;
		*i += 1;
		return 0;
	}
	/* An operator or blank: a new word starts. */
	s->word_start = true;
	f->subscript = false;
	return 0;
}

/* What "...", ${...} and [[...]] share: \x, $..., `...` and plain bytes. */
static void step_expanding(struct scan *s, size_t *i, char c)
{
	if (c == '\\')
		escape(s, i);
	else if (c == '$')
		dollar(s, i);
	else if (c == '`')
		push(s, FR_BACKTICK, i, 1);
	else
		*i += 1;
}

/* One step in [[...]]: words and operators, quotes and expansions, up to ]]. */
static void step_dbracket(struct scan *s, size_t *i)
{
	char c = s->text[*i];
	bool start = s->word_start;

	s->word_start = strchr(" \t\n()&|<>!", c) != NULL;
	if (start && c == ']' && peek(s, *i + 1) == ']' && (*i + 2 == s->len || is_delim(peek(s, *i + 2))))
		pop(s, i, 2);
	else if (c == '\'')
		push(s, FR_SQ, i, 1);
	else if (c == '"')
		push(s, FR_DQ, i, 1);
	else
		step_expanding(s, i, c);
}

/* One step in $((...)), ((...)) or $[...]. */
static void step_arith(struct scan *s, size_t *i)
{
	struct frame *f = top(s);
	char open = f->kind == FR_ARITH_BRACKET ? '[' : '(', close = f->kind == FR_ARITH_BRACKET ? ']' : ')';
	char c = s->text[*i];

	if (c == open) {
		f->depth++;
		*i += 1;
	} else if (c == close && f->depth > 0) {
		f->depth--;
		*i += 1;
	} else if (c == close && (f->kind == FR_ARITH_BRACKET || peek(s, *i + 1) == ')'))
		pop(s, i, f->kind == FR_ARITH_BRACKET ? 1 : 2);
	else if (c == close) {
		/* "$((a) b)" is $( (a) b ): the ) closed a subshell, the substitution goes on. */
		f->kind = f->kind == FR_ARITH ? FR_CMDSUB : FR_SUBSHELL;
		s->word_start = true;
		*i += 1;
	} else if (c == '$')
		dollar(s, i);
	else if (strchr("\\\"'`", c))
		s->lost = LOST_ARITH_QUOTE;
	else
		*i += 1;
}

static bool inside_dq(const struct scan *s)
{
	for (size_t k = 0; k < s->sp; k++)
		if (s->st[k].kind == FR_DQ)
			return true;
	return false;
}

static int step(struct scan *s, size_t *i)
{
	char c = s->text[*i];

	s->after_dollar = false;
	switch (top(s)->kind) {
	case FR_TOP:
	case FR_SUBSHELL:
	case FR_CMDSUB:
		return step_code(s, i);
	case FR_ARITH:
	case FR_ARITH_CMD:
	case FR_ARITH_BRACKET:
		step_arith(s, i);
		return 0;
	case FR_DBRACKET:
		step_dbracket(s, i);
		return 0;
	case FR_DQ:
		if (c == '"')
			pop(s, i, 1);
		else
			step_expanding(s, i, c);
		return 0;
	case FR_PARAM:
		/* Shells count no braces here: the first unquoted } ends it. */
		if (c == '}')
			pop(s, i, 1);
		else if (strchr("\\\"'`", c) && in_arith(s))
			s->lost = LOST_ARITH_QUOTE;
		else if (c == '\'' && inside_dq(s))
			s->lost = "a ' inside \"${...}\" (shells disagree where it ends)";
		else if (c == '\'')
			push(s, FR_SQ, i, 1);
		else if (c == '"')
			push(s, FR_DQ, i, 1);
		else
			step_expanding(s, i, c);
		return 0;
	case FR_SQ:
		if (c == '\'')
			pop(s, i, 1);
		else
			*i += 1;
		return 0;
	case FR_DOLLAR_SQ:
		if (c == '\'')
			pop(s, i, 1);
		else if (c == '\\')
			s->lost = "a backslash inside $'...' (shells disagree where it ends)";
		else
			*i += 1;
		return 0;
	case FR_BACKTICK:
		/* Ends at the first unescaped backquote (POSIX). */
		if (c == '`')
			pop(s, i, 1);
		else if (c == '\\')
			escape(s, i);
		else
			*i += 1;
		return 0;
	case FR_COMMENT:
		if (c == '\n')
			s->sp--;	/* the newline is code's */
		else
			*i += 1;
		return 0;
	}
	return 0;
}

/* Picks each placeholder's form, or refuses the first in a context we do not allow. */
static int check_shell(struct tmpl *t, char **reterr)
{
	struct scan s = {
		.text = t->text, .len = t->len, .ph = t->ph, .n = t->n,
		.st = { { .kind = FR_TOP } }, .sp = 1, .word_start = true, .reterr = reterr,
	};
	size_t i = 0;
	int r = 0;

	if (t->n == 0)
		return 0;
	s.delims = malloc(t->len + 1);
	if (!s.delims)
		return -ENOMEM;
	for (;;) {
		while (r == 0 && s.next < s.n && (s.ph[s.next].pos <= i || s.lost))
			if ((r = place(&s, &s.ph[s.next])) == 0)
				s.next++;
		if (r < 0 || i >= s.len || s.next == s.n)
			break;
		r = step(&s, &i);
	}
	free(s.delims);
	return r;
}

/* -------------------------------------------------------------- analysis */

static int analyze(const char *s, enum tmpl_dest dest, struct tmpl *t, char **reterr)
{
	int r;

	if (reterr)
		*reterr = NULL;
	r = parse(s, t, reterr);
	if (r < 0)
		return r;
	switch (dest) {
	case TMPL_DEST_ARGV:
		return 0;
	case TMPL_DEST_URL:
		return check_url(s, t, reterr);
	case TMPL_DEST_HEADER: {
		size_t off = strcspn(s, "\r\n");

		if (s[off])
			return fail(reterr, -EINVAL, "a header value must not contain CR or LF (offset %zu)", off);
		return 0;
	}
	case TMPL_DEST_SHELL:
		return check_shell(t, reterr);
	}
	return fail(reterr, -EINVAL, "unknown template destination %d", (int)dest);
}

int tmpl_check(const char *template, enum tmpl_dest dest, char **reterr)
{
	struct tmpl t;
	int r = analyze(template, dest, &t, reterr);

	tmpl_done(&t);
	return r;
}

bool tmpl_has_placeholders(const char *template)
{
	return strstr(template, "{{") != NULL;
}

int tmpl_env_names(const char *template, char ***ret)
{
	struct tmpl t;
	char **names;
	size_t n = 0;
	int r = analyze(template, TMPL_DEST_ARGV, &t, NULL);

	if (r < 0) {
		tmpl_done(&t);
		return r;
	}
	names = calloc(t.n + 1, sizeof(char *));
	for (size_t i = 0; names && i < t.n; i++) {
		const char *name = t.ph[i].expr + 4;
		size_t len = t.ph[i].expr_len - 4;
		bool seen = false;

		if (!t.ph[i].env)
			continue;
		for (size_t k = 0; k < n && !seen; k++)
			seen = strlen(names[k]) == len && memcmp(names[k], name, len) == 0;
		if (!seen && !(names[n++] = strndup(name, len))) {
			for (size_t k = 0; k < n; k++)
				free(names[k]);
			free(names);
			names = NULL;
		}
	}
	tmpl_done(&t);
	if (!names)
		return -ENOMEM;
	*ret = names;
	return 0;
}

/* ----------------------------------------------------------------- render */

struct dump_ctx {
	struct dbuf *out;
	int r;
};

static int dump_cb(const char *buffer, size_t size, void *data)
{
	struct dump_ctx *d = data;

	d->r = dbuf_append(d->out, buffer, size);
	return d->r < 0 ? -1 : 0;
}

/* A real in the shortest form that reads back the same. */
static int append_real(const json_t *v, struct dbuf *out)
{
	double x = json_real_value(v);

	for (int p = 1; p <= 17; p++) {
		_cleanup_free_ char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(p));

		if (!s)
			return -ENOMEM;
		if (p == 17 || strtod(s, NULL) == x)
			return dbuf_append(out, s, strlen(s));
	}
	return -EINVAL; /* not reached */
}

/* The value of p's expression, appended to val. */
static int lookup(const struct placeholder *p, const json_t *notification, tmpl_env_fn getenv_fn, void *userdata,
		  struct dbuf *val, char **reterr)
{
	const int len = (int)p->expr_len;
	const json_t *v = notification;
	char num[32];
	int r;

	if (p->env) {
		_cleanup_free_ char *name = strndup(p->expr + 4, p->expr_len - 4);
		const char *e;

		if (!name)
			return -ENOMEM;
		e = getenv_fn ? getenv_fn(name, userdata) : NULL;
		if (!e)
			return fail(reterr, -ENOENT, "%.*s: not set", len, p->expr);
		r = dbuf_append(val, e, strlen(e));
		goto done;
	}
	for (const char *seg = p->expr + 12, *end = p->expr + p->expr_len; v && seg < end;) {
		const char *next = memchr(seg + 1, '.', (size_t)(end - seg - 1));
		size_t n = (size_t)((next ? next : end) - seg - 1);

		v = json_is_object(v) ? json_object_getn(v, seg + 1, n) : NULL;
		seg += 1 + n;
	}
	if (!v)
		return fail(reterr, -ENOENT, "%.*s: not present", len, p->expr);
	switch (json_typeof(v)) {
	case JSON_STRING:
		r = dbuf_append(val, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		r = dbuf_append(val, num, strlen(num));
		break;
	case JSON_REAL:
		r = append_real(v, val);
		break;
	case JSON_TRUE:
		r = dbuf_append(val, "true", 4);
		break;
	case JSON_FALSE:
		r = dbuf_append(val, "false", 5);
		break;
	case JSON_NULL:
		r = dbuf_append(val, "null", 4);
		break;
	default: {
		struct dump_ctx d = { .out = val };

		r = json_dump_callback(v, dump_cb, &d, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) < 0
			    ? (d.r < 0 ? d.r : -ENOMEM)
			    : 0;
		break;
	}
	}
done:
	if (r == -E2BIG)
		return fail(reterr, r, "%.*s: the value is larger than %d bytes", len, p->expr, TMPL_MAX_RENDERED);
	return r;
}

static int append_percent_encoded(struct dbuf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_segment_char((char)c) || c == '.' || c == '~')	/* RFC 3986 unreserved */
			r = dbuf_putc(out, (char)c);
		else
			r = dbuf_append(out, (char[]){ '%', hex[c >> 4], hex[c & 15] }, 3);
	}
	return r;
}

static int append_reference(struct dbuf *out, size_t number, enum shell_form form)
{
	/* Around ${SSEWATCHD_ARG_N}: bare "...", in "..." nothing, in '...' close, "...", reopen. */
	static const char *const around[][2] = {
		[FORM_BARE] = { "\"", "\"" },
		[FORM_DQ] = { "", "" },
		[FORM_SQ] = { "'\"", "\"'" },
	};
	char ref[64];
	int k = snprintf(ref, sizeof(ref), "%s${" TMPL_SHELL_VAR_PREFIX "%zu}%s", around[form][0], number,
			 around[form][1]);

	return dbuf_append(out, ref, (size_t)k);
}

static void strv_done(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static bool has_byte(const struct dbuf *b, char c)
{
	return b->len > 0 && memchr(b->buf, c, b->len);
}

int tmpl_render(const char *template, enum tmpl_dest dest, const json_t *notification, tmpl_env_fn getenv_fn,
		void *userdata, char **ret, char ***ret_env, char **reterr)
{
	struct dbuf out, val;
	char **env = NULL;
	size_t at = 0, vars = 0;	/* vars: the bytes of SHELL's NAME=value strings */
	struct tmpl t;
	int r;

	*ret = NULL;
	if (ret_env)
		*ret_env = NULL;
	if (dest == TMPL_DEST_SHELL && !ret_env)
		return fail(reterr, -EINVAL, "a shell template needs somewhere to put its variables");
	r = analyze(template, dest, &t, reterr);
	if (r < 0)
		goto finish;
	dbuf_init(&out, TMPL_MAX_RENDERED);
	dbuf_init(&val, TMPL_MAX_RENDERED);
	if (dest == TMPL_DEST_SHELL && !(env = calloc(t.n + 1, sizeof(char *)))) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < t.n; i++) {
		const struct placeholder *p = &t.ph[i];
		const int len = (int)p->expr_len;
		int k;

		r = dbuf_append(&out, t.text + at, p->pos - at);
		if (r < 0)
			goto too_big;
		at = p->pos;
		dbuf_reset(&val);
		r = lookup(p, notification, getenv_fn, userdata, &val, reterr);
		if (r < 0)
			goto out;
		if (dest != TMPL_DEST_URL && has_byte(&val, '\0')) {
			r = fail(reterr, -EBADMSG, "%.*s: the value contains a NUL byte, which %s cannot hold", len,
				 p->expr, dest == TMPL_DEST_SHELL ? "an environment variable" : "a C string");
			goto out;
		}
		if (dest == TMPL_DEST_HEADER && (has_byte(&val, '\r') || has_byte(&val, '\n'))) {
			r = fail(reterr, -EBADMSG, "%.*s: the value contains CR or LF, which a header value must not",
				 len, p->expr);
			goto out;
		}
		switch (dest) {
		case TMPL_DEST_ARGV:
		case TMPL_DEST_HEADER:
			r = dbuf_append(&out, val.buf, val.len);
			break;
		case TMPL_DEST_URL:
			r = append_percent_encoded(&out, val.buf, val.len);
			break;
		case TMPL_DEST_SHELL:
			r = append_reference(&out, i + 1, p->form);
			if (r < 0)
				break;
			k = asprintf(&env[i], TMPL_SHELL_VAR_PREFIX "%zu=%s", i + 1, dbuf_str(&val));
			if (k < 0) {
				env[i] = NULL;
				r = -ENOMEM;
				goto out;
			}
			if (k > TMPL_MAX_ARG) {
				r = fail(reterr, -E2BIG, "%.*s: the value is %zu bytes; at most %d fit in a variable",
					 len, p->expr, val.len, TMPL_MAX_ARG - (k - (int)val.len));
				goto out;
			}
			vars += (size_t)k + 1;
			break;
		}
		if (r == 0 && out.len + vars > TMPL_MAX_RENDERED)
			r = -E2BIG;
		if (r == -E2BIG) {
			r = fail(reterr, r, "%.*s: the rendered template would be larger than %d bytes", len, p->expr,
				 TMPL_MAX_RENDERED);
			goto out;
		}
		if (r < 0)
			goto out;
	}
	r = dbuf_append(&out, t.text + at, t.len - at);
	if (r == 0 && out.len + vars > TMPL_MAX_RENDERED)
		r = -E2BIG;
too_big:
	if (r == -E2BIG) {
		r = fail(reterr, r, "the rendered template would be larger than %d bytes", TMPL_MAX_RENDERED);
		goto out;
	}
	if (r < 0)
		goto out;
	if ((dest == TMPL_DEST_ARGV || dest == TMPL_DEST_SHELL) && out.len > TMPL_MAX_ARG) {
		r = fail(reterr, -E2BIG, "the rendered %s is %zu bytes; at most %d fit in one argument",
			 dest == TMPL_DEST_ARGV ? "argument" : "script", out.len, TMPL_MAX_ARG);
		goto out;
	}
	*ret = out.buf ? TAKE_PTR(out.buf) : strdup("");
	if (!*ret) {
		r = -ENOMEM;
		goto out;
	}
	if (dest == TMPL_DEST_SHELL)
		*ret_env = TAKE_PTR(env);
out:
	dbuf_free(&out);
	dbuf_free(&val);
	strv_done(env);
finish:
	tmpl_done(&t);
	if (r == -ENOMEM && reterr) {
		free(*reterr);
		*reterr = NULL;
	}
	return r;
}
