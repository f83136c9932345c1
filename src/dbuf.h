/* SPDX-License-Identifier: MIT */
/*
 * dbuf: a growable byte buffer with a mandatory size cap. Every buffer that
 * holds outside input has a maximum; appending past it fails with -E2BIG and
 * leaves the contents unchanged. The contents are always NUL-terminated so
 * they can be used as C strings when they hold no NUL themselves.
 */
#ifndef SSEWATCHD_DBUF_H
#define SSEWATCHD_DBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct dbuf {
	char *buf;
	size_t len;
	size_t cap;	/* allocated bytes, including room for the terminator */
	size_t max;	/* largest len allowed */
};

void dbuf_init(struct dbuf *b, size_t max);
void dbuf_free(struct dbuf *b);

/* Forget the contents but keep the memory for reuse. */
void dbuf_reset(struct dbuf *b);

/* Forget the contents and give the memory back if more than keep bytes are held. */
void dbuf_reset_trim(struct dbuf *b, size_t keep);

/* The slow paths of the inline functions below: growing the buffer. */
int dbuf_grow_append(struct dbuf *b, const void *p, size_t n);	/* n > 0 */
int dbuf_grow(struct dbuf *b, size_t n);

/*
 * Inline, because the JSON writers append a few bytes at a time, several
 * times per notification: the common case (room already there) is a
 * compare and a copy. len + n + 1 <= cap <= max + 1 keeps the cap too.
 */
static inline int dbuf_append(struct dbuf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (n >= b->cap - b->len)
		return dbuf_grow_append(b, p, n);
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return 0;
}

/* Makes room for n more bytes (plus the terminator) without adding any. */
static inline int dbuf_reserve(struct dbuf *b, size_t n)
{
	return b->cap > b->len && n < b->cap - b->len ? 0 : dbuf_grow(b, n);
}

static inline int dbuf_putc(struct dbuf *b, char c)
{
	return dbuf_append(b, &c, 1);
}
int dbuf_set(struct dbuf *b, const void *p, size_t n);

/* Exchange contents (not limits) of two buffers. */
void dbuf_swap(struct dbuf *a, struct dbuf *b);

/* The contents as a NUL-terminated string; "" for an empty, unallocated buffer. */
const char *dbuf_str(const struct dbuf *b);

bool dbuf_eq(const struct dbuf *b, const void *p, size_t n);

#endif
