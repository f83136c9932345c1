/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "util.h"

char *vstrdupf(const char *fmt, va_list ap)
{
	char *s;

	return vasprintf(&s, fmt, ap) < 0 ? NULL : s;
}

bool name_looks_secret(const char *name, size_t n)
{
	static const char *const words[] = { "token", "secret", "password", "passwd", "auth", "key", "sig", "jwt",
					     "session", "credential", "cookie" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t w = strlen(words[i]);

		for (size_t k = 0; k + w <= n; k++)
			if (strncasecmp(name + k, words[i], w) == 0)
				return true;
	}
	return false;
}

char *url_hide_secrets(const char *url)
{
	const char *auth = strstr(url, "://"), *host = url, *query, *end;
	bool userinfo = false;
	char *out, *o;

	if (auth) {
		const char *authority_end, *at;

		auth += 3;
		authority_end = auth + strcspn(auth, "/?#");
		at = memrchr(auth, '@', (size_t)(authority_end - auth));
		host = at ? at : auth;
		userinfo = at != NULL;
	}
	/* At worst every byte of the query is a one-byte value made "(secret)". */
	out = malloc(strlen(url) * 9 + 16);
	if (!out)
		return NULL;
	o = out;
	if (auth) {
		o = mempcpy(o, url, (size_t)(auth - url));
		if (userinfo)
			o = stpcpy(o, "(secret)");
	}
	query = host + strcspn(host, "?#");
	o = mempcpy(o, host, (size_t)(query - host));
	if (*query != '?') {
		strcpy(o, query);
		return out;
	}
	end = query + strcspn(query, "#");
	*o++ = '?';
	for (const char *p = query + 1; p < end;) {
		size_t len = strcspn(p, "&#");
		const char *eq = memchr(p, '=', len);

		if (eq && name_looks_secret(p, (size_t)(eq - p))) {
			o = mempcpy(o, p, (size_t)(eq - p) + 1);
			o = stpcpy(o, "(secret)");
		} else {
			o = mempcpy(o, p, len);
		}
		p += len;
		if (p < end)
			*o++ = *p++;	/* the '&' */
	}
	strcpy(o, end);
	return out;
}

char *strdupf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vstrdupf(fmt, ap);
	va_end(ap);
	return s;
}

#define HIGH_BITS UINT64_C(0x8080808080808080)

bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	/* Short ASCII (ids, event names): two overlapping reads. */
	if (len >= 4 && len < 8) {
		uint32_t a, b;

		memcpy(&a, s, 4);
		memcpy(&b, s + len - 4, 4);
		if (!((a | b) & (uint32_t)HIGH_BITS))
			return true;
	}
	while (p < end) {
		unsigned char c = *p;
		uint32_t cp;
		size_t n;

		/* ASCII (nearly all text) 64 or 32 bytes, then 8 at a time. */
		if (c < 0x80) {
			uint64_t w[4];

#ifdef __SSE2__
			while ((size_t)(end - p) >= 64) {
				const __m128i *v = (const __m128i *)(const void *)p;
				__m128i any = _mm_or_si128(_mm_or_si128(_mm_loadu_si128(v), _mm_loadu_si128(v + 1)),
							   _mm_or_si128(_mm_loadu_si128(v + 2), _mm_loadu_si128(v + 3)));

				if (_mm_movemask_epi8(any))
					break;
				p += 64;
			}
#endif
			while ((size_t)(end - p) >= 32) {
				memcpy(w, p, 32);
				if ((w[0] | w[1] | w[2] | w[3]) & HIGH_BITS)
					break;
				p += 32;
			}
			while ((size_t)(end - p) >= 8) {
				memcpy(w, p, 8);
				if (w[0] & HIGH_BITS)
					break;
				p += 8;
			}
			/* A short ASCII tail: its last eight bytes, read once. */
			if (p < end && (size_t)(end - p) < 8 && len >= 8) {
				memcpy(w, end - 8, 8);
				if (!(w[0] & HIGH_BITS))
					break;
			}
			while (p < end && *p < 0x80)
				p++;
			continue;
		}
		if (c < 0xC2)
			return false;		/* a continuation byte, or an overlong start */
		else if (c < 0xE0)
			n = 2, cp = c & 0x1F;
		else if (c < 0xF0)
			n = 3, cp = c & 0x0F;
		else if (c < 0xF5)
			n = 4, cp = c & 0x07;
		else
			return false;
		if ((size_t)(end - p) < n)
			return false;
		for (size_t i = 1; i < n; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3F);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		p += n;
	}
	return true;
}

uint64_t now_usec(clockid_t clock)
{
	struct timespec ts;

	(void)clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;
}

const char *format_rfc3339(uint64_t usec, char buf[static 32])
{
	time_t sec = (time_t)(usec / USEC_PER_SEC);
	struct tm tm;

	if (!gmtime_r(&sec, &tm) ||
	    snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		     tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(usec % USEC_PER_SEC)) >= 32)
		buf[0] = '\0';
	return buf;
}

int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, MIN(len, (size_t)SSIZE_MAX));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
