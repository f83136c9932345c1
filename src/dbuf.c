/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"

#define DBUF_MIN_ALLOC 32

void dbuf_init(struct dbuf *b, size_t max)
{
	*b = (struct dbuf){ .max = max };
}

void dbuf_free(struct dbuf *b)
{
	free(b->buf);
	b->buf = NULL;
	b->len = b->cap = 0;
}

void dbuf_reset(struct dbuf *b)
{
	b->len = 0;
	if (b->buf)
		b->buf[0] = '\0';
}

void dbuf_reset_trim(struct dbuf *b, size_t keep)
{
	if (b->cap > keep)
		dbuf_free(b);
	else
		dbuf_reset(b);
}

int dbuf_grow(struct dbuf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > b->max - b->len)
		return -E2BIG;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;

	/* Grow geometrically so a long stream of appends costs O(n). */
	cap = b->cap ? b->cap : DBUF_MIN_ALLOC;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > b->max + 1)
		cap = b->max + 1;

	p = realloc(b->buf, cap);
	if (!p)
		return -ENOMEM;
	b->buf = p;
	b->cap = cap;
	return 0;
}

int dbuf_grow_append(struct dbuf *b, const void *p, size_t n)
{
	int r = dbuf_grow(b, n);

	if (r < 0)
		return r;
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return 0;
}

int dbuf_set(struct dbuf *b, const void *p, size_t n)
{
	if (n > b->max)
		return -E2BIG;
	dbuf_reset(b);
	return dbuf_append(b, p, n);
}

void dbuf_swap(struct dbuf *a, struct dbuf *b)
{
	struct dbuf t = *a;

	a->buf = b->buf;
	a->len = b->len;
	a->cap = b->cap;
	b->buf = t.buf;
	b->len = t.len;
	b->cap = t.cap;
}

const char *dbuf_str(const struct dbuf *b)
{
	return b->buf ? b->buf : "";
}

bool dbuf_eq(const struct dbuf *b, const void *p, size_t n)
{
	return b->len == n && (n == 0 || memcmp(b->buf, p, n) == 0);
}
