/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <curl/curl.h>
#include <string.h>
#include <strings.h>

#include "http_header.h"
#include "macro.h"

int http_status_line(const char *line, size_t len)
{
	const char *sp = len > 5 && memcmp(line, "HTTP/", 5) == 0 ? memchr(line, ' ', len) : NULL;
	size_t rest = sp ? len - (size_t)(sp + 1 - line) : 0;

	/* Three digits, 100 to 999, then the end or a space (a reason phrase, the CRLF). */
	if (rest < 3 || sp[1] < '1' || sp[1] > '9' || !isdigit((unsigned char)sp[2]) ||
	    !isdigit((unsigned char)sp[3]) || (rest > 3 && !isspace((unsigned char)sp[4])))
		return 0;
	return (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
}

bool http_header_value(const char *line, size_t len, const char *name, const char **ret_value, size_t *ret_len)
{
	size_t n = strlen(name);
	const char *v, *end = line + len;

	if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
		return false;
	v = line + n + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*ret_value = v;
	*ret_len = (size_t)(end - v);
	return true;
}

bool http_media_type_is_event_stream(const char *v, size_t len)
{
	static const char want[] = "text/event-stream";
	size_t n = 0;

	while (n < len && v[n] != ';' && v[n] != ' ' && v[n] != '\t')
		n++;
	return n == STRLEN(want) && strncasecmp(v, want, n) == 0;
}

uint64_t http_retry_after_usec(const char *v, size_t len, uint64_t now_usec)
{
	char buf[64];
	uint64_t secs = 0, when;
	time_t t;
	size_t i;

	if (len == 0 || len >= sizeof(buf))
		return 0;
	for (i = 0; i < len && isdigit((unsigned char)v[i]); i++)
		secs = secs > UINT32_MAX ? secs : secs * 10 + (uint64_t)(v[i] - '0');
	if (i == len)
		return secs * USEC_PER_SEC;
	/* The HTTP-date form. */
	memcpy(buf, v, len);
	buf[len] = '\0';
	t = curl_getdate(buf, NULL);
	if (t <= 0 || (uint64_t)t > UINT64_MAX / USEC_PER_SEC)
		return 0;
	when = (uint64_t)t * USEC_PER_SEC;
	return when > now_usec ? when - now_usec : 0;
}

void http_request_id(const char *v, size_t len, char *out, size_t size)
{
	size_t n = 0;

	if (size == 0)
		return;
	for (size_t i = 0; i < len && n + 1 < size; i++)
		if (isgraph((unsigned char)v[i]))
			out[n++] = v[i];
	out[n] = '\0';
}
