/* SPDX-License-Identifier: MIT */
/*
 * The floor under ssewatchd's latency with `commit: per_event`: what the
 * delivery guarantee demands between an event's arrival and its trigger's
 * start, and nothing else. A plain socket subscribes to an nchan channel;
 * for each event, the state text (its members as ssewatchd's, the event as
 * the one pending notification, its data escaped for JSON) is written over
 * the spare file a listener that commits often keeps, fsync'ed, exchanged
 * into place and the directory fsync'ed; then the event's line goes to a
 * FIFO, as a log trigger's does. No SSE parser beyond finding the lines,
 * no bookkeeping.
 *
 *   lat_floor HOST PORT PATH DIR FIFO N
 *
 * Creates DIR/.ready once subscribed; exits after N events.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATE "state.json"
#define SPARE ".state.json.spare"

static void die(const char *what)
{
	fprintf(stderr, "lat_floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void write_all(int fd, const char *p, size_t n, const char *what)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			die(what);
		p += k;
		n -= (size_t)k;
	}
}

/* JSON string body of s[0..n): quotes, backslashes, control characters. */
static size_t escape(char *out, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)sprintf(out + o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	return o;
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void commit(int dirfd, const char *id, size_t id_len, const char *data, size_t data_len, uint64_t seq)
{
	static char text[1 << 17], esc[6 * 16384], eid[6 * 256];
	size_t el = escape(esc, data, data_len), il = escape(eid, id, id_len);
	int n, fd;

	n = snprintf(text, sizeof(text),
		     "{\"format\":\"ssewatchd-state\",\"version\":1,\"listener\":\"lat\",\"identity\":\"%016d\","
		     "\"cursor\":\"%.*s\",\"next_seq\":%" PRIu64 ",\"delivered\":%" PRIu64 ",\"retry_ms\":0,"
		     "\"pending\":[{\"notification\":{\"data\":\"%.*s\",\"event\":\"message\",\"id\":\"%.*s\"},"
		     "\"received_usec\":%" PRIu64 ",\"seq\":%" PRIu64 ",\"triggers_done\":0}]}\n",
		     0, (int)il, eid, seq + 1, seq - 1, (int)el, esc, (int)il, eid, now_usec(), seq);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		errno = EMSGSIZE;
		die("state text");
	}
	fd = openat(dirfd, SPARE, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		die("open the spare");
	write_all(fd, text, (size_t)n, "write the state");
	if (ftruncate(fd, n) < 0 || fchmod(fd, 0600) < 0 || fsync(fd) < 0)
		die("sync the state");
	if (renameat2(dirfd, SPARE, dirfd, STATE, RENAME_EXCHANGE) < 0)
		die("exchange");
	close(fd);
	if (fsync(dirfd) < 0)
		die("fsync the directory");
}

int main(int argc, char **argv)
{
	static char buf[1 << 20], line[1 << 17];
	struct sockaddr_in sa = { .sin_family = AF_INET };
	size_t len = 0, done = 0, n;
	char data[16384], id[256];
	size_t data_len = 0, id_len = 0;
	bool head = true;
	int s, dirfd, fifo;
	char req[1024];

	if (argc != 7) {
		fprintf(stderr, "usage: lat_floor HOST PORT PATH DIR FIFO N\n");
		return 64;
	}
	n = strtoul(argv[6], NULL, 10);
	dirfd = open(argv[4], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		die(argv[4]);
	for (int i = 0; i < 2; i++) {
		int fd = openat(dirfd, i ? STATE : SPARE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd < 0 || write(fd, "{}\n", 3) != 3 || fsync(fd) < 0)
			die("make the state files");
		close(fd);
	}
	fifo = open(argv[5], O_WRONLY | O_CLOEXEC);
	if (fifo < 0)
		die(argv[5]);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	if (s < 0 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect");
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s:%s\r\nAccept: text/event-stream\r\n\r\n", argv[3],
		 argv[1], argv[2]);
	write_all(s, req, strlen(req), "send the request");
	{
		int fd = openat(dirfd, ".ready", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

		if (fd < 0)
			die(".ready");
		close(fd);
	}
	while (done < n) {
		ssize_t k = read(s, buf + len, sizeof(buf) - len);
		size_t at = 0;

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			fprintf(stderr, "lat_floor: the stream ended after %zu events\n", done);
			return 1;
		}
		len += (size_t)k;
		if (head) {
			char *end = memmem(buf, len, "\r\n\r\n", 4);

			if (!end && len == sizeof(buf)) {
				fprintf(stderr, "lat_floor: no end of the response head in %zu bytes\n", len);
				return 1;
			}
			if (!end)
				continue;
			if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || memcmp(buf + 8, " 200", 4) != 0) {
				fprintf(stderr, "lat_floor: the subscription was answered %.*s\n",
					(int)(memchr(buf, '\r', len) ? (char *)memchr(buf, '\r', len) - buf : 0), buf);
				return 1;
			}
			at = (size_t)(end + 4 - buf);
			head = false;
		}
		for (;;) {
			char *nl = memchr(buf + at, '\n', len - at);
			const char *l = buf + at;
			size_t ll;

			if (!nl)
				break;
			ll = (size_t)(nl - l);
			at += ll + 1;
			if (ll == 0 && data_len > 0) {
				int m;

				done++;
				commit(dirfd, id, id_len, data, data_len, done);
				m = snprintf(line, sizeof(line), "%.*s\n", (int)data_len, data);
				write_all(fifo, line, (size_t)m, "write the line");
				data_len = id_len = 0;
			} else if (ll >= 5 && memcmp(l, "data:", 5) == 0) {
				size_t skip = ll > 5 && l[5] == ' ' ? 6 : 5;

				if (data_len + (ll - skip) + 1 > sizeof(data)) {
					errno = EMSGSIZE;
					die("an event's data");
				}
				if (data_len > 0)
					data[data_len++] = '\n';
				memcpy(data + data_len, l + skip, ll - skip);
				data_len += ll - skip;
			} else if (ll >= 3 && memcmp(l, "id:", 3) == 0) {
				size_t skip = ll > 3 && l[3] == ' ' ? 4 : 3;

				id_len = ll - skip < sizeof(id) ? ll - skip : sizeof(id);
				memcpy(id, l + skip, id_len);
			}
		}
		if (at == 0 && len == sizeof(buf)) {
			fprintf(stderr, "lat_floor: a line longer than %zu bytes\n", sizeof(buf));
			return 1;
		}
		memmove(buf, buf + at, len - at);
		len -= at;
	}
	return 0;
}
