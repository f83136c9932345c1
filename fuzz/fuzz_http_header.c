/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for http_header: any bytes as one header line. Beyond
 * "stays within the line" (ASan), it checks what each reader promises: a
 * status is 0 or three digits, a value lies inside the line with no white
 * space at its ends, a request id is printable and bounded.
 */
// fuzz-sources: src/http_header.c
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_header.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "Content-Type", "Retry-After", "Location", "X-Request-ID" };
	const char *line = (const char *)data, *v;
	char id[64];
	size_t vlen;
	int status = http_status_line(line, size);

	if (status != 0 && (status < 100 || status > 999))
		abort();
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		if (!http_header_value(line, size, names[i], &v, &vlen))
			continue;
		if (v < line || v + vlen > line + size)
			abort();
		if (vlen > 0 && (v[0] == ' ' || v[0] == '\t' || memchr(" \t\r\n", v[vlen - 1], 4)))
			abort();
		(void)http_media_type_is_event_stream(v, vlen);
		(void)http_retry_after_usec(v, vlen, UINT64_C(1700000000) * USEC_PER_SEC);
	}
	http_request_id(line, size, id, sizeof(id));
	if (strlen(id) >= sizeof(id))
		abort();
	for (const char *p = id; *p; p++)
		if (!isgraph((unsigned char)*p))
			abort();
	return 0;
}
