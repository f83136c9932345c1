/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "cleanup.h"
#include "jsonw.h"

/* Depth as jansson's parser allows it; a deeper value is written by jansson. */
#define JSONW_MAX_DEPTH 2048

/* What a byte becomes inside a JSON string: 0 itself, 'u' \\u00XX, else \\ + that. */
static const char escape[256] = {
	['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f', ['\r'] = 'r',
	[0x00] = 'u', [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u', [0x05] = 'u', [0x06] = 'u',
	[0x07] = 'u', [0x0b] = 'u', [0x0e] = 'u', [0x0f] = 'u', [0x10] = 'u', [0x11] = 'u', [0x12] = 'u',
	[0x13] = 'u', [0x14] = 'u', [0x15] = 'u', [0x16] = 'u', [0x17] = 'u', [0x18] = 'u', [0x19] = 'u',
	[0x1a] = 'u', [0x1b] = 'u', [0x1c] = 'u', [0x1d] = 'u', [0x1e] = 'u', [0x1f] = 'u',
	['"'] = '"', ['\\'] = '\\',
};

static const char hex[] = "0123456789ABCDEF";

#define ONES  UINT64_C(0x0101010101010101)
#define ONE_PASS_MAX (64 * 1024)	/* strings up to this get worst-case room */
#define HIGHS UINT64_C(0x8080808080808080)

/*
 * The bytes of v that are below 0x20, '"' or '\\', as their top bits (the
 * classic "has a byte less than n / equal to zero" tests). Borrows can only
 * mark bytes above one that really matched, so the lowest mark is exact.
 */
static inline uint64_t special_mask(uint64_t v)
{
	uint64_t quote = v ^ (ONES * '"'), backslash = v ^ (ONES * '\\');

	return (((v - ONES * 0x20) & ~v) | ((quote - ONES) & ~quote) | ((backslash - ONES) & ~backslash)) & HIGHS;
}

/* How many bytes from s on need no escaping, 8 at a time where it can. */
static size_t plain_run(const char *s, size_t len)
{
	size_t i = 0;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	for (; i + 8 <= len; i += 8) {
		uint64_t v, m;

		memcpy(&v, s + i, 8);
		m = special_mask(v);
		if (m)
			return i + (size_t)__builtin_ctzll(m) / 8;
	}
#endif
	while (i < len && escape[(unsigned char)s[i]] == 0)
		i++;
	return i;
}

/* A string of 4 to 15 bytes that needs no escaping, copied to o with two
 * overlapping reads and stores (a zero mask means no special byte, in
 * either byte order). False, with nothing written, otherwise. */
static inline bool copy_if_plain(const char *s, size_t len, char *o)
{
	if (len >= 8) {
		uint64_t a, b;

		memcpy(&a, s, 8);
		memcpy(&b, s + len - 8, 8);
		if (special_mask(a) || special_mask(b))
			return false;
		memcpy(o, &a, 8);
		memcpy(o + len - 8, &b, 8);
		return true;
	}
	if (len >= 4) {
		uint32_t x, y;

		memcpy(&x, s, 4);
		memcpy(&y, s + len - 4, 4);
		if (special_mask((uint64_t)x << 32 | y))
			return false;
		memcpy(o, &x, 4);
		memcpy(o + len - 4, &y, 4);
		return true;
	}
	return false;
}

#ifdef __SSE2__
/* The quotes and backslashes of v, as a bit mask. */
static inline unsigned block_quotes(__m128i v)
{
	const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');

	return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
}

/* The control characters of v, as a bit mask. */
static inline unsigned block_controls(__m128i v)
{
	const __m128i high3 = _mm_set1_epi8((char)0xE0);

	return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(v, high3), _mm_setzero_si128()));
}

/* The bytes of v that need escaping, as a bit mask. */
static inline unsigned block_marks(__m128i v)
{
	return block_quotes(v) | block_controls(v);
}

/*
 * Writes the block v whose only marks m are quotes and backslashes: each
 * becomes a backslash and itself, so every mark needs one byte stored and
 * the rest of the block stored again one further on, 16 bytes that may
 * overrun what is kept. JSON in JSON is full of quotes. Returns the new end.
 */
static inline char *escape_quotes(__m128i v, unsigned m, char *o)
{
	_Alignas(16) unsigned char block[32];

	_mm_store_si128((__m128i *)(void *)block, v);
	_mm_store_si128((__m128i *)(void *)(block + 16), _mm_setzero_si128());
	_mm_storeu_si128((__m128i *)(void *)o, v);
	for (; m; m &= m - 1) {
		unsigned k = (unsigned)__builtin_ctz(m);

		o[k] = '\\';
		o++;
		_mm_storeu_si128((__m128i *)(void *)(o + k), _mm_loadu_si128((const __m128i *)(const void *)(block + k)));
	}
	return o + 16;
}

#if defined(__GNUC__) && defined(__x86_64__)
#define SHUFFLE_ESCAPING 1
/*
 * The same with SSSE3's byte shuffle, where the CPU has it: no branch per
 * quote, nor per block. Each 8-byte half becomes at most 16 bytes: for its
 * mask k, quote_shuffle[k] says which input byte goes to each output byte
 * (a marked byte twice), quote_slash[k] which output bytes are the added
 * backslashes and quote_out[k] how many bytes it makes. Data full of
 * quotes (JSON in JSON) has a differing number in every block, which the
 * loop above mispredicts; this takes about half its time on such data.
 */
#include <tmmintrin.h>

static _Alignas(16) unsigned char quote_shuffle[256][16], quote_slash[256][16], quote_out[256];
static bool shuffle_supported, shuffle_on;

/* At load time, so the tables are never written while in use. */
__attribute__((constructor)) static void shuffle_tables_init(void)
{
	__builtin_cpu_init();
	shuffle_supported = shuffle_on = __builtin_cpu_supports("ssse3");
	for (unsigned k = 0; k < 256; k++) {
		unsigned o = 0;

		memset(quote_shuffle[k], 0x80, 16);	/* 0x80: a zero byte */
		for (unsigned i = 0; i < 8; i++) {
			if (k & (1u << i)) {
				quote_shuffle[k][o] = (unsigned char)i;
				quote_slash[k][o++] = 0xFF;
			}
			quote_shuffle[k][o++] = (unsigned char)i;
		}
		quote_out[k] = (unsigned char)o;
	}
}

/* One 8-byte half (the low half of v), marks k: 16 bytes stored at o, the new end returned. */
__attribute__((target("ssse3"))) static inline char *escape_half_shuffled(__m128i v, unsigned k, char *o)
{
	__m128i slash = _mm_load_si128((const __m128i *)(const void *)quote_slash[k]);
	__m128i bytes = _mm_shuffle_epi8(v, _mm_load_si128((const __m128i *)(const void *)quote_shuffle[k]));

	_mm_storeu_si128((__m128i *)(void *)o,
			 _mm_or_si128(_mm_and_si128(slash, _mm_set1_epi8('\\')), _mm_andnot_si128(slash, bytes)));
	return o + quote_out[k];
}
#endif

/* Writes bytes from..15 of the block v, escaped (m: their marks), at o;
 * stores 16 bytes at a time, which may overrun what is kept. Returns the
 * new end. */
static inline char *escape_block(__m128i v, unsigned m, unsigned from, char *o)
{
	_Alignas(16) unsigned char block[32];
	unsigned prev = from;

	_mm_store_si128((__m128i *)(void *)block, v);
	_mm_store_si128((__m128i *)(void *)(block + 16), _mm_setzero_si128());
	while (m) {
		unsigned k = (unsigned)__builtin_ctz(m);
		unsigned char c = block[k];

		memcpy(o, block + prev, 16);
		o += k - prev;
		o[0] = '\\';
		o[1] = escape[c];
		if (escape[c] == 'u') {
			/* jansson: "\\u%04X" for the other control characters. */
			o[2] = '0';
			o[3] = '0';
			o[4] = hex[c >> 4];
			o[5] = hex[c & 15];
			o += 4;
		}
		o += 2;
		prev = k + 1;
		m &= m - 1;
	}
	memcpy(o, block + prev, 16);
	return o + 16 - prev;
}

#ifdef SHUFFLE_ESCAPING
/* escape_blocks()' loop with escape_half_shuffled(): a block without
 * control characters in two steps whatever its quotes. */
__attribute__((target("ssse3"))) static size_t escape_blocks_shuffled(const char *s, size_t len, char **po,
								       const char *end)
{
	char *o = *po;
	size_t i = 0;

	for (; i + 16 <= len && end - o >= 16 * 6 + 16; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		unsigned q = block_quotes(v), c = block_controls(v);

		if (__builtin_expect(c != 0, 0)) {
			o = escape_block(v, q | c, 0, o);
		} else {
			o = escape_half_shuffled(v, q & 0xFF, o);
			o = escape_half_shuffled(_mm_srli_si128(v, 8), q >> 8, o);
		}
	}
	*po = o;
	return i;
}
#endif

/*
 * Escapes 16 bytes at a time while the output has room for a whole block's
 * worst case plus a 16-byte store: each block is loaded once, its special
 * bytes found by one compare, and the plain bytes between them moved by
 * 16-byte stores that may overrun what is kept (never the buffer). Strings
 * of JSON are full of quotes, so this walks the marks rather than
 * rescanning after each one. The last, partial block is the string's last
 * 16 bytes with those already done skipped, so a string of 16 bytes or more
 * has no byte-by-byte tail. Returns how many bytes of s it used; *po moves.
 */
static size_t escape_blocks(const char *s, size_t len, char **po, const char *end)
{
	char *o = *po;
	size_t i = 0;

#ifdef SHUFFLE_ESCAPING
	if (shuffle_on)
		i = escape_blocks_shuffled(s, len, &o, end);
#endif
	for (; i + 16 <= len && end - o >= 16 * 6 + 16; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		unsigned q = block_quotes(v), c = block_controls(v);

		if ((q | c) == 0) {
			_mm_storeu_si128((__m128i *)(void *)o, v);
			o += 16;
		} else if (c == 0) {
			o = escape_quotes(v, q, o);
		} else {
			o = escape_block(v, q | c, 0, o);
		}
	}
	if (i < len && len >= 16 && end - o >= 16 * 6 + 16) {
		unsigned from = (unsigned)(i - (len - 16));
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + len - 16));

		o = escape_block(v, block_marks(v) >> from << from, from, o);
		i = len;
	}
	*po = o;
	return i;
}
#endif

bool jsonw_shuffle_escaping(bool on)
{
#ifdef SHUFFLE_ESCAPING
	shuffle_on = on && shuffle_supported;
	return shuffle_on == on;
#else
	return !on;
#endif
}

static size_t escaped_size(unsigned char c)
{
	return escape[c] == 'u' ? 6 : 2;
}

int jsonw_append_string(struct dbuf *out, const char *s, size_t len)
{
	size_t need = 0, i;
	char *o, *end;

	/* Plain runs (nearly everything) are found 8 bytes at a time and
	 * copied whole. Short strings get room for the worst case and one
	 * pass; long ones are measured first, so the room stays exact. */
	if (len <= ONE_PASS_MAX && 6 * len + 2 <= out->max - out->len) {
		need = 6 * len;
	} else {
		for (i = 0; i < len;) {
			size_t run = plain_run(s + i, len - i);

			need += run;
			i += run;
			if (i < len)
				need += escaped_size((unsigned char)s[i++]);
		}
	}
	if (need > out->max - out->len || need + 2 > out->max - out->len)
		return -E2BIG;
	if (dbuf_reserve(out, need + 2) < 0)
		return -ENOMEM;
	o = out->buf + out->len;
	end = out->buf + out->cap;
	*o++ = '"';
	i = 0;
#ifdef __SSE2__
	i = escape_blocks(s, len, &o, end);
#endif
	if (i == 0 && len < 16 && copy_if_plain(s, len, o)) {
		/* Ids, event names, keys: mostly nothing to escape. */
		o += len;
		i = len;
	}
	while (i < len) {
		unsigned char c;
		char e;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		/* Eight bytes are stored whole, then kept up to the first that
		 * needs escaping: no call and no copy loop per run, which
		 * matters for data full of quotes (JSON in JSON). The store may
		 * pass the string's end, never the buffer's. */
		if (i + 8 <= len && end - o >= 8) {
			uint64_t v, m;

			memcpy(&v, s + i, 8);
			memcpy(o, &v, 8);
			m = special_mask(v);
			if (!m) {
				i += 8;
				o += 8;
				continue;
			}
			m = (uint64_t)__builtin_ctzll(m) / 8;
			i += m;
			o += m;
		} else
#endif
		{
			while (i < len && escape[(unsigned char)s[i]] == 0)
				*o++ = s[i++];
			if (i >= len)
				break;
		}
		c = (unsigned char)s[i++];
		e = escape[c];
		*o++ = '\\';
		*o++ = e;
		if (e == 'u') {
			/* jansson: "\\u%04X" for the other control characters. */
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o++ = '"';
	out->len = (size_t)(o - out->buf);
	out->buf[out->len] = '\0';
	return 0;
}

struct member {
	const char *key;
	json_t *value;
};

static int compare_members(const void *a, const void *b)
{
	return strcmp(((const struct member *)a)->key, ((const struct member *)b)->key);
}

static int append(struct dbuf *out, const json_t *j, unsigned depth);

static int append_member(struct dbuf *out, bool first, const char *key, const json_t *value, unsigned depth)
{
	int r = dbuf_putc(out, first ? '{' : ',');

	if (r >= 0)
		r = jsonw_append_string(out, key, strlen(key));
	if (r >= 0)
		r = dbuf_putc(out, ':');
	return r < 0 ? r : append(out, value, depth + 1);
}

static int append_object(struct dbuf *out, const json_t *j, unsigned depth)
{
	_cleanup_free_ struct member *sorted = NULL;
	size_t count = json_object_size(j), i = 0;
	const char *key, *prev = NULL;
	bool in_order = true;
	json_t *v;
	int r = 0;

	if (count == 0)
		return dbuf_append(out, "{}", 2);
	/* Members come in the order they were added, which is mostly sorted
	 * already (servers and jansson's own dumps sort them): then they are
	 * written as they come, with nothing to allocate or look up. */
	json_object_foreach((json_t *)j, key, v) {
		if (prev && strcmp(prev, key) > 0) {
			in_order = false;
			break;
		}
		prev = key;
	}
	if (in_order) {
		json_object_foreach((json_t *)j, key, v) {
			r = append_member(out, i++ == 0, key, v, depth);
			if (r < 0)
				return r;
		}
		return dbuf_putc(out, '}');
	}
	sorted = malloc(count * sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	json_object_foreach((json_t *)j, key, v)
		sorted[i++] = (struct member){ key, v };
	qsort(sorted, count, sizeof(*sorted), compare_members);
	for (i = 0; r >= 0 && i < count; i++)
		r = append_member(out, i == 0, sorted[i].key, sorted[i].value, depth);
	return r < 0 ? r : dbuf_putc(out, '}');
}

static int append(struct dbuf *out, const json_t *j, unsigned depth)
{
	char num[64];
	int r, n;

	if (depth > JSONW_MAX_DEPTH)
		return -EINVAL;
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return append_object(out, j, depth);
	case JSON_ARRAY:
		r = dbuf_putc(out, '[');
		for (size_t i = 0; r >= 0 && i < json_array_size(j); i++) {
			if (i > 0)
				r = dbuf_putc(out, ',');
			if (r >= 0)
				r = append(out, json_array_get(j, i), depth + 1);
		}
		return r < 0 ? r : dbuf_putc(out, ']');
	case JSON_STRING:
		return jsonw_append_string(out, json_string_value(j), json_string_length(j));
	case JSON_INTEGER:
		n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
		return dbuf_append(out, num, (size_t)n);
	case JSON_REAL: {
		/* jansson's own rules for reals ("1.0", exponents): rare, so delegate. */
		_cleanup_free_ char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

		return text ? dbuf_append(out, text, strlen(text)) : -ENOMEM;
	}
	case JSON_TRUE:
		return dbuf_append(out, "true", 4);
	case JSON_FALSE:
		return dbuf_append(out, "false", 5);
	case JSON_NULL:
		return dbuf_append(out, "null", 4);
	}
	return -EINVAL;
}

int jsonw_append(struct dbuf *out, const json_t *j)
{
	return j ? append(out, j, 0) : -EINVAL;
}

char *jsonw_dumps(const json_t *j)
{
	struct dbuf out;

	dbuf_init(&out, SIZE_MAX - 1);
	if (jsonw_append(&out, j) < 0) {
		dbuf_free(&out);
		return NULL;
	}
	if (!out.buf)
		return strdup("");
	return jsonw_shrink(&out);
}

char *jsonw_shrink(struct dbuf *b)
{
	char *p = b->buf;

	/* Cached for as long as the notification waits: give back the
	 * worst-case room (in place for glibc, so cheap). */
	if (b->cap > b->len + 64) {
		p = realloc(b->buf, b->len + 1);
		if (!p)
			p = b->buf;
	}
	b->buf = NULL;
	b->len = b->cap = 0;
	return p;
}
