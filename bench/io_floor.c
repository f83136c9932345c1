/* SPDX-License-Identifier: MIT */
/*
 * The floor the delivery guarantees put under an sse listener with a log
 * trigger: read the stream with libcurl, and for every read make its
 * complete events durable the way the state directory must (temp file,
 * write, fsync, rename, fsync of the directory) before "running the
 * trigger" (appending the same bytes to a log file). As ssewatchd does, the
 * stream is read on while the disk writes a commit (sync_file_range starts
 * the writeback; the fsync comes when the next batch is full), and the rename
 * is an exchange, so each commit writes over the file the one before last
 * replaced (as ssewatchd does for a listener that commits often). No
 * parsing beyond finding the blank line that ends an event, no JSON, no
 * bookkeeping: any client that keeps "durable before trigger" does at least
 * this much.
 *
 *   io_floor URL DIR [BATCH]   prints: <events> <bytes> <commits> <seconds> <events per second>
 *
 * Events are committed BATCH at a time (default 4096), the rest at the end
 * of the stream.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct floor {
	int dirfd, logfd;
	char *tmp_path, *state_path;
	char *buf;		/* events not yet committed, then the start of the next */
	size_t len, cap;
	size_t scanned;		/* bytes of buf already searched for an event's end */
	size_t complete;	/* bytes of buf that are complete events */
	size_t batch, pending;	/* events per commit; complete events in buf */
	char *saving;		/* the events of the commit begun, not finished */
	size_t saving_len, saving_cap, saving_events;
	int saving_fd;		/* its temp file, -1 if none */
	size_t events, bytes, commits;
	int failed;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Ends the commit begun (fsync, rename, fsync of the directory), then "runs
 * the trigger" on its events: appends them to the log. */
static int finish(struct floor *f)
{
	int fd = f->saving_fd;

	if (fd < 0)
		return 0;
	f->saving_fd = -1;
	if (fsync(fd) < 0) {
		close(fd);
		return -1;
	}
	/* An exchange, as ssewatchd does: the file replaced stays under the
	 * temp name, to be written over by the next commit. */
	if ((renameat2(AT_FDCWD, f->tmp_path, AT_FDCWD, f->state_path, RENAME_EXCHANGE) < 0 &&
	     (errno != ENOENT || rename(f->tmp_path, f->state_path) < 0)) ||
	    close(fd) < 0 || fsync(f->dirfd) < 0 || write_all(f->logfd, f->saving, f->saving_len) < 0)
		return -1;
	f->events += f->saving_events;
	f->bytes += f->saving_len;
	f->commits++;
	return 0;
}

/* Begins the commit of the complete events in buf, as ssewatchd's batch
 * listeners do: written to the temp file, writeback started, and the
 * stream read on while the disk works. The one begun before is finished
 * first (its events are logged, so the new file holds only the new ones). */
static int flush(struct floor *f)
{
	if (f->pending == 0)
		return 0;
	if (finish(f) < 0)
		return -1;
	if (f->complete > f->saving_cap) {
		char *n = realloc(f->saving, f->complete);

		if (!n)
			return -1;
		f->saving = n;
		f->saving_cap = f->complete;
	}
	memcpy(f->saving, f->buf, f->complete);
	f->saving_len = f->complete;
	f->saving_events = f->pending;
	f->saving_fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (f->saving_fd < 0 || write_all(f->saving_fd, f->saving, f->saving_len) < 0 ||
	    ftruncate(f->saving_fd, (off_t)f->saving_len) < 0)
		return -1;
	(void)sync_file_range(f->saving_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	memmove(f->buf, f->buf + f->complete, f->len - f->complete);
	f->len -= f->complete;
	f->scanned -= f->complete;
	f->complete = f->pending = 0;
	return 0;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct floor *f = userdata;
	size_t len = size * nmemb;
	const char *p;

	if (f->len + len > f->cap) {
		size_t cap = 2 * (f->len + len);
		char *n = realloc(f->buf, cap);

		if (!n)
			goto fail;
		f->buf = n;
		f->cap = cap;
	}
	memcpy(f->buf + f->len, data, len);
	f->len += len;
	/* An event ends at a blank line; the search resumes one byte back, in
	 * case a read split the two newlines. */
	while ((p = memmem(f->buf + f->scanned, f->len - f->scanned, "\n\n", 2))) {
		f->complete = f->scanned = (size_t)(p - f->buf) + 2;
		if (++f->pending >= f->batch && flush(f) < 0)
			goto fail;
	}
	f->scanned = f->len > 0 ? f->len - 1 : 0;
	if (f->scanned < f->complete)
		f->scanned = f->complete;
	return len;
fail:
	f->failed = errno ? errno : EIO;
	return 0;
}

int main(int argc, char **argv)
{
	struct floor f = { .saving_fd = -1 };
	long batch = argc > 3 ? atol(argv[3]) : 4096;
	CURLcode rc;
	CURL *e;
	double t0, dt;

	if (argc < 3 || argc > 4 || batch < 1) {
		fprintf(stderr, "usage: io_floor URL DIR [BATCH]\n");
		return 2;
	}
	t0 = now();
	if (asprintf(&f.tmp_path, "%s/state.json.tmp", argv[2]) < 0 ||
	    asprintf(&f.state_path, "%s/state.json", argv[2]) < 0) {
		perror("io_floor");
		return 1;
	}
	f.dirfd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	f.logfd = openat(f.dirfd, "log.ndjson", O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0600);
	if (f.dirfd < 0 || f.logfd < 0) {
		perror(argv[2]);
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	e = curl_easy_init();
	if (!e)
		return 1;
	curl_easy_setopt(e, CURLOPT_URL, argv[1]);
	f.batch = (size_t)batch;
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 1024L * 1024);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &f);
	curl_easy_setopt(e, CURLOPT_FAILONERROR, 1L);
	rc = curl_easy_perform(e);
	if (rc == CURLE_OK && (flush(&f) < 0 || finish(&f) < 0)) {
		perror("io_floor");
		return 1;
	}
	dt = now() - t0;
	if (rc != CURLE_OK) {
		fprintf(stderr, "io_floor: %s%s%s\n", curl_easy_strerror(rc), f.failed ? ": " : "",
			f.failed ? strerror(f.failed) : "");
		return 1;
	}
	printf("%zu %zu %zu %.6f %.0f\n", f.events, f.bytes, f.commits, dt, (double)f.events / dt);
	curl_easy_cleanup(e);
	curl_global_cleanup();
	free(f.buf);
	free(f.saving);
	free(f.tmp_path);
	free(f.state_path);
	close(f.logfd);
	close(f.dirfd);
	return 0;
}
