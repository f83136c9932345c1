/* SPDX-License-Identifier: MIT */
/*
 * state: the durable state directory (see state.h for the layout, the file
 * format and the write recipe). Nothing here logs: errors are negative errno
 * values, with a message in *reterr where words are needed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "dbuf.h"
#include "jsonw.h"
#include "macro.h"
#include "state.h"
#include "strv.h"
#include "util.h"

#define LISTENER_NAME_MAX	64
#define TRIGGERS_DONE_MAX	1000
#define TEMP_SUFFIX_LEN		6	/* ".NAME.XXXXXX" */
#define TEMP_ATTEMPTS		100
#define STATE_READ_ATTEMPTS	100	/* a state file changed between open and lock: read again */
#define STATE_SPARE_MIN		(16 * 1024)	/* a replaced file this large is kept as the spare */
#define STATE_SPARE_BUSY_USEC	USEC_PER_SEC	/* so is any, if the commit before came this soon */
#define LOCK_FILE		".lock"
#define PROBE_NAME		"probe"
#define READ_CHUNK		(64 * 1024)
#define QUOTE_MAX		64	/* bytes of a file's string quoted in a message */
#define QUOTE_BUF		(QUOTE_MAX * 4 + 8)
#define PENDING_MIN_CAP		8
#define PENDING_KEEP_CAP	8192	/* an emptied FIFO keeps at most this many slots (a batch) */

struct statedir {
	char *path;
	int fd;
	int lock_fd;	/* >= 0 while we hold the lock */
	size_t max_values;	/* in a file read: state_max_values() */
	struct dbuf text;	/* state file text, reused from commit to commit */
	struct uring *uring;	/* begun saves' writes and syncs; not ours; NULL: none */
};

/* Larger than this, the text buffer is given back after a commit. */
#define TEXT_KEEP (4u * 1024 * 1024)
#define TEXT_SLAB_SIZE (64u * 1024)

/* ------------------------------------------------------------ helpers */

_printf_(3, 4) static int errmsg(char **reterr, int r, const char *fmt, ...)
{
	va_list ap;

	if (reterr) {
		va_start(ap, fmt);
		if (vasprintf(reterr, fmt, ap) < 0)
			*reterr = NULL;
		va_end(ap);
	}
	return r;
}

/* Quotes untrusted bytes for a message: printable ASCII as is, the rest escaped, cut at QUOTE_MAX. */
static const char *quote(const char *s, size_t len, char buf[static QUOTE_BUF])
{
	size_t o = 0;

	buf[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c >= 0x20 && c < 0x7f) {
			buf[o++] = (char)c;
		} else {
			o += (size_t)snprintf(buf + o, 5, "\\x%02x", c);
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

bool state_name_valid(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strlen(name);
	if (n < 1 || n > LISTENER_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static int fsync_dirfd(int dirfd)
{
	_cleanup_close_ int fd = -1;

	if (dirfd == AT_FDCWD) {
		fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		dirfd = fd;
	}
	return fsync(dirfd) < 0 ? -errno : 0;
}

/* Opens a subdirectory without following a symlink. */
static int open_subdir(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* A plain file name in a directory: no slash, not "." or "..", room for the temp affixes. */
static bool file_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	return n > 0 && n + 2 + TEMP_SUFFIX_LEN <= NAME_MAX && !strchr(name, '/') &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static const char temp_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

static void random_suffix(char *p)
{
	static uint64_t counter;
	uint8_t rnd[TEMP_SUFFIX_LEN];

	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
		/* No entropy yet (early boot): uniqueness is all O_EXCL needs. */
		struct timespec ts;
		uint64_t x;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = ((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 40)) +
		    ++counter * UINT64_C(0x9e3779b97f4a7c15);
		for (size_t i = 0; i < sizeof(rnd); i++, x >>= 8)
			rnd[i] = (uint8_t)x;
	}
	for (size_t i = 0; i < TEMP_SUFFIX_LEN; i++)
		p[i] = temp_chars[rnd[i] % STRLEN(temp_chars)];
}

/* Creates ".target.XXXXXX" in dirfd (O_EXCL, mode 0600). Returns the fd and the name. */
static int temp_create_at(int dirfd, const char *target, char **ret_name)
{
	size_t n = strlen(target);
	_cleanup_free_ char *name = malloc(n + 3 + TEMP_SUFFIX_LEN);

	if (!name)
		return -ENOMEM;
	name[0] = '.';
	memcpy(name + 1, target, n);
	name[n + 1] = '.';
	name[n + 2 + TEMP_SUFFIX_LEN] = '\0';
	for (int i = 0; i < TEMP_ATTEMPTS; i++) {
		int fd;

		random_suffix(name + n + 2);
		fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
		if (fd >= 0) {
			*ret_name = TAKE_PTR(name);
			return fd;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* Whether name has the shape temp_create_at() gives: "." + something + "." + 6 of temp_chars. */
static bool is_temp_name(const char *name)
{
	size_t n = strlen(name);

	if (n < 3 + TEMP_SUFFIX_LEN || name[0] != '.' || name[n - TEMP_SUFFIX_LEN - 1] != '.')
		return false;
	return strspn(name + n - TEMP_SUFFIX_LEN, temp_chars) == TEMP_SUFFIX_LEN;
}

/*
 * Opens the spare (the file a commit before last was, see state.h) to be
 * written over: only if it is still a regular file of ours that no reader
 * holds (the lock is kept until the fd is closed, after the rename).
 * Returns the fd and its size, or negative.
 */
static int spare_open(int dirfd, const char *spare, off_t *ret_size)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	fd = openat(dirfd, spare, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 || fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != geteuid())
		return -EBADF;
	*ret_size = st.st_size;
	return TAKE_FD(fd);
}

#define AW_WRITEBACK	1u	/* start the writeback */
#define AW_SIZE_ONLY	2u	/* the caller writes data (len bytes at 0) */

/*
 * The first half of atomic_write_at(): data in a temp file next to name
 * (its name in *ret_tmp), its writeback started if asked. The temp file is
 * *spare, written over, when one is given and usable (it is then moved to
 * *ret_tmp), else a new one (a spare that cannot be used is removed, or
 * left in *spare if even that fails).
 * Returns the open temp file; on failure nothing is left behind.
 */
static int atomic_write_begin(int dirfd, const char *name, const void *data, size_t len, unsigned mode,
			      unsigned flags, char **spare, char **ret_tmp)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	off_t old_size = 0;
	int r;

	if (!file_name_ok(name) || (!data && len > 0))
		return -EINVAL;
	if (spare && *spare) {
		fd = spare_open(dirfd, *spare, &old_size);
		if (fd >= 0)
			tmp = TAKE_PTR(*spare);
		else if (unlinkat(dirfd, *spare, 0) == 0 || errno == ENOENT)
			free(TAKE_PTR(*spare));
		/* else (a read-only file system) it is kept, to be removed later */
	}
	if (fd < 0) {
		fd = temp_create_at(dirfd, name, &tmp);
		if (fd < 0)
			return fd;
	}
	/* Written over in place: the pages and blocks are reused, and only a
	 * longer old text needs cutting (first, so that a text written later,
	 * AW_SIZE_ONLY, lands in a file of its size). */
	r = old_size > (off_t)len && ftruncate(fd, (off_t)len) < 0 ? -errno : 0;
	if (r >= 0 && !(flags & AW_SIZE_ONLY))
		r = write_all(fd, data, len);
	if (r >= 0 && fchmod(fd, mode & 07777) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	/* Only a start: the disk writes while the caller goes on. Where this
	 * is not supported, the fsync in the second half does all of it. */
	if (flags & AW_WRITEBACK)
		(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	*ret_tmp = TAKE_PTR(tmp);
	return TAKE_FD(fd);
}

/*
 * The second half's middle, after the temp file fd was synced (r < 0: it
 * was not): renamed to name, fd closed in any case. With with_spare, the
 * rename is an exchange where the file system allows it and the file it
 * replaces is large, or any size if busy (*ret_exchanged).
 */
static int atomic_write_place(int dirfd, int fd, const char *tmp, const char *name, int r, bool with_spare, bool busy,
			      bool *ret_exchanged)
{
	struct stat st;

	*ret_exchanged = false;
	/* Only a regular file is exchanged: anything else in its place makes
	 * the rename fail (a directory) or is replaced (a symlink), as before.
	 * And only a large one, or for a listener that commits often: making
	 * even a small file anew costs a third more than writing over one,
	 * but a listener that commits now and then keeps no spare. */
	if (r >= 0 && with_spare && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	    (busy || st.st_size >= STATE_SPARE_MIN)) {
		/* Where the file system or a system call filter refuses an
		 * exchange, the plain rename below does it (or says why not). */
		if (renameat2(dirfd, tmp, dirfd, name, RENAME_EXCHANGE) == 0)
			*ret_exchanged = true;
		else if (errno != ENOENT && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP &&
			 errno != EPERM)
			r = -errno;
	}
	if (r >= 0 && !*ret_exchanged && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	/* Closed only now: a spare's lock keeps readers out until it is in place. */
	if (close(fd) < 0 && r >= 0)
		r = -errno;
	return r;
}

/*
 * The second half's end, after the directory was synced (r < 0: something
 * failed): on failure the temp name is removed (our text, or after an
 * exchange the file it replaced); after an exchange, the replaced file
 * stays, under the temp name, in *ret_spare. *tmp is taken in any case.
 */
static int atomic_write_settle(int dirfd, char **tmp, int r, bool exchanged, char **ret_spare)
{
	if (r < 0) {
		(void)unlinkat(dirfd, *tmp, 0);
	} else if (exchanged) {
		if (*ret_spare) {
			/* one that could not be removed before */
			(void)unlinkat(dirfd, *ret_spare, 0);
			free(*ret_spare);
		}
		*ret_spare = TAKE_PTR(*tmp);
		return 0;
	}
	free(TAKE_PTR(*tmp));
	return r;
}

/*
 * The second half: the temp file fd (closed here in any case) synced and
 * renamed to name, then the directory synced; on failure it is removed.
 * With ret_spare, see atomic_write_place() and atomic_write_settle().
 */
static int atomic_write_finish(int dirfd, int fd, char **tmp, const char *name, bool sync, char **ret_spare,
			       bool busy)
{
	bool exchanged;
	int r = 0;

	/* A failed fsync is never retried: the pages may already be dropped. */
	if (sync && fsync(fd) < 0)
		r = -errno;
	r = atomic_write_place(dirfd, fd, *tmp, name, r, ret_spare != NULL, busy, &exchanged);
	if (r >= 0 && sync)
		r = fsync_dirfd(dirfd);
	return atomic_write_settle(dirfd, tmp, r, exchanged, ret_spare);
}

int atomic_write_at(int dirfd, const char *name, const void *data, size_t len, bool sync, unsigned mode)
{
	char *tmp = NULL;
	int fd = atomic_write_begin(dirfd, name, data, len, mode, 0, NULL, &tmp);

	return fd < 0 ? fd : atomic_write_finish(dirfd, fd, &tmp, name, sync, NULL, false);
}

int atomic_write_open(int dirfd, const char *name, unsigned mode, char **ret_tmp)
{
	return atomic_write_begin(dirfd, name, NULL, 0, mode, 0, NULL, ret_tmp);
}

int atomic_write_close(int dirfd, int fd, char **tmp, const char *name, bool sync)
{
	return atomic_write_finish(dirfd, fd, tmp, name, sync, NULL, false);
}

void atomic_write_abandon(int dirfd, int fd, char **tmp)
{
	(void)close(fd);
	(void)unlinkat(dirfd, *tmp, 0);
	free(TAKE_PTR(*tmp));
}

/*
 * Reads the regular file name in dirfd, not following a symlink, into out
 * (whose max bounds the size). path names the file in messages.
 * -ENOENT without a message; -EBADMSG if it is not a regular file or too large.
 * With shared, the file is read under a shared flock() and only if it is
 * still name once locked (a writer may recycle it, see state.h); else
 * -EAGAIN without a message.
 */
static int read_file_at(int dirfd, const char *name, const char *path, bool shared, struct dbuf *out,
			char **reterr)
{
	_cleanup_close_ int fd = -1;
	char chunk[READ_CHUNK];
	struct stat st;
	int r;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		if (errno == ELOOP)
			return errmsg(reterr, -ELOOP, "%s: is a symbolic link, not following it", path);
		return errmsg(reterr, -errno, "%s: cannot open: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) < 0)
		return errmsg(reterr, -errno, "%s: cannot stat: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return errmsg(reterr, -EBADMSG, "%s: not a regular file", path);
	if (shared) {
		struct stat now;

		while (flock(fd, LOCK_SH) < 0)
			if (errno != EINTR)
				return errmsg(reterr, -errno, "%s: cannot lock: %s", path, strerror(errno));
		if (fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0 || now.st_dev != st.st_dev ||
		    now.st_ino != st.st_ino)
			return -EAGAIN;
		if (fstat(fd, &st) < 0)
			return errmsg(reterr, -errno, "%s: cannot stat: %s", path, strerror(errno));
	}
	if ((uint64_t)st.st_size > out->max)
		return errmsg(reterr, -EBADMSG, "%s: too large (%jd bytes, the limit is %zu)", path,
			      (intmax_t)st.st_size, out->max);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errmsg(reterr, -errno, "%s: cannot read: %s", path, strerror(errno));
		}
		if (n == 0)
			return 0;
		r = dbuf_append(out, chunk, (size_t)n);
		if (r == -E2BIG)
			return errmsg(reterr, -EBADMSG, "%s: too large (more than %zu bytes)", path, out->max);
		if (r < 0)
			return r;
	}
}

/* Opens a directory stream on dirfd's directory without disturbing dirfd. */
static int opendir_at(int dirfd, DIR **ret)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir;

	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		int r = -errno;

		close(fd);
		return r;
	}
	*ret = dir;
	return 0;
}

/* The next entry in *ret: 1, or 0 at the end, or -errno. */
static int readdir_next(DIR *dir, struct dirent **ret)
{
	errno = 0;
	*ret = readdir(dir);
	if (*ret)
		return 1;
	return errno ? -errno : 0;
}

/* Whether the entry is of the given type (S_IFREG, S_IFDIR), not following a symlink. */
static bool dirent_is(int dirfd, const struct dirent *de, mode_t type)
{
	struct stat st;

	if (de->d_type != DT_UNKNOWN)
		return (type == S_IFREG && de->d_type == DT_REG) || (type == S_IFDIR && de->d_type == DT_DIR);
	if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	return (st.st_mode & S_IFMT) == type;
}

/* ------------------------------------------------------------ the directory */

/* Removes regular files named like our temporary files from dirfd. */
static int remove_temp_files_at(int dirfd, const char *path, char **reterr)
{
	DIR *dir = NULL;
	struct dirent *de;
	bool removed = false;
	int r;

	r = opendir_at(dirfd, &dir);
	if (r < 0)
		return errmsg(reterr, r, "cannot read directory %s: %s", path, strerror(-r));
	while ((r = readdir_next(dir, &de)) > 0) {
		if (!is_temp_name(de->d_name) || !dirent_is(dirfd, de, S_IFREG))
			continue;
		if (unlinkat(dirfd, de->d_name, 0) < 0 && errno != ENOENT) {
			r = errmsg(reterr, -errno, "cannot remove leftover temporary file %s/%s: %s", path,
				   de->d_name, strerror(errno));
			closedir(dir);
			return r;
		}
		removed = true;
	}
	closedir(dir);
	if (r < 0)
		return errmsg(reterr, r, "cannot read directory %s: %s", path, strerror(-r));
	if (removed) {
		r = fsync_dirfd(dirfd);
		if (r < 0)
			return errmsg(reterr, r, "cannot fsync directory %s: %s", path, strerror(-r));
	}
	return 0;
}

/* The same in the state directory and in each dead-letters/NAME/. */
static int statedir_remove_temp_files(struct statedir *d, char **reterr)
{
	_cleanup_free_ char *dlpath = NULL;
	_cleanup_close_ int dlfd = -1;
	DIR *dir = NULL;
	struct dirent *de;
	int r;

	r = remove_temp_files_at(d->fd, d->path, reterr);
	if (r < 0)
		return r;

	dlfd = open_subdir(d->fd, DEADLETTER_DIR);
	if (dlfd == -ENOENT)
		return 0;
	if (asprintf(&dlpath, "%s/" DEADLETTER_DIR, d->path) < 0)
		return -ENOMEM;
	if (dlfd < 0)
		return errmsg(reterr, dlfd, "cannot open %s: %s", dlpath, strerror(-dlfd));
	r = opendir_at(dlfd, &dir);
	if (r < 0)
		return errmsg(reterr, r, "cannot read directory %s: %s", dlpath, strerror(-r));
	while ((r = readdir_next(dir, &de)) > 0) {
		_cleanup_free_ char *sub = NULL;
		_cleanup_close_ int fd = -1;
		int k;

		if (!state_name_valid(de->d_name) || !dirent_is(dlfd, de, S_IFDIR))
			continue;
		fd = open_subdir(dlfd, de->d_name);
		if (fd < 0)
			continue;	/* raced away, or a symlink: not ours to clean */
		if (asprintf(&sub, "%s/%s", dlpath, de->d_name) < 0) {
			closedir(dir);
			return -ENOMEM;
		}
		k = remove_temp_files_at(fd, sub, reterr);
		if (k < 0) {
			closedir(dir);
			return k;
		}
	}
	closedir(dir);
	if (r < 0)
		return errmsg(reterr, r, "cannot read directory %s: %s", dlpath, strerror(-r));
	return 0;
}

static int fsync_parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	_cleanup_free_ char *parent = NULL;
	_cleanup_close_ int fd = -1;

	if (!slash)
		parent = strdup(".");
	else if (slash == path)
		parent = strdup("/");
	else
		parent = strndup(path, (size_t)(slash - path));
	if (!parent)
		return -ENOMEM;
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fsync(fd) < 0 ? -errno : 0;
}

/* mkdir -p with mode 0700, each new directory made durable in its parent. */
static int mkdir_parents(const char *path)
{
	_cleanup_free_ char *p = strdup(path);
	char *s;

	if (!p)
		return -ENOMEM;
	for (s = p + 1;; s++) {
		char c = *s;

		if (c != '/' && c != '\0')
			continue;
		if (s[-1] != '/') {
			*s = '\0';
			if (mkdir(p, 0700) == 0) {
				int r = fsync_parent_of(p);

				if (r < 0)
					return r;
			} else if (errno != EEXIST) {
				struct stat st;
				int r = -errno;

				/* Some file systems say EROFS or EACCES for an existing directory. */
				if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
					return r;
			}
			*s = c;
		}
		if (c == '\0')
			return 0;
	}
}

static void lock_holder_pid(int fd, char *buf, size_t size)
{
	char text[32];
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	char *end;
	long pid;

	snprintf(buf, size, "pid unknown");
	if (n <= 0)
		return;
	text[n] = '\0';
	errno = 0;
	pid = strtol(text, &end, 10);
	if (errno || end == text || pid <= 0 || pid > INT_MAX || (*end != '\n' && *end != '\0'))
		return;
	snprintf(buf, size, "pid %ld", pid);
}

static int statedir_lock(struct statedir *d, char **reterr)
{
	_cleanup_close_ int fd = -1, wfd = -1;
	char pid[32];
	int n;

	/* The lock is held on a read-only descriptor: the daemon keeps no file
	 * open for writing, so the file system can still be remounted
	 * read-only under it (and is then reported as such by the commits). */
	fd = openat(d->fd, LOCK_FILE, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0 && (errno == EROFS || errno == EACCES)) {
		/* An existing lock file can still be locked; the probe then says what is wrong. */
		int saved = errno;

		fd = openat(d->fd, LOCK_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
		if (fd < 0)
			errno = saved;
	}
	if (fd < 0)
		return errmsg(reterr, -errno, "cannot write to state directory %s (creating " LOCK_FILE "): %s",
			      d->path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			return errmsg(reterr, -errno, "cannot lock %s/" LOCK_FILE ": %s", d->path, strerror(errno));
		lock_holder_pid(fd, pid, sizeof(pid));
		return errmsg(reterr, -EBUSY, "state directory %s is locked by another ssewatchd (%s)", d->path, pid);
	}
	/* The pid is only for the message above: failing to record it is harmless. */
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	wfd = openat(d->fd, LOCK_FILE, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (wfd >= 0 && ftruncate(wfd, 0) == 0)
		(void)!pwrite(wfd, pid, (size_t)n, 0);
	d->lock_fd = TAKE_FD(fd);
	return 0;
}

/* Can a file be created, written, fsync()ed and removed here? */
static int statedir_probe(struct statedir *d, char **reterr)
{
	static const char data[] = "ssewatchd write probe\n";
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	const char *step;
	int r;

	fd = temp_create_at(d->fd, PROBE_NAME, &tmp);
	if (fd < 0)
		return errmsg(reterr, fd, "cannot write to state directory %s: %s", d->path, strerror(-fd));

	step = "writing a probe file";
	r = write_all(fd, data, STRLEN(data));
	if (r >= 0) {
		step = "fsync of a probe file";
		r = fsync(fd) < 0 ? -errno : 0;
	}
	if (r >= 0) {
		step = "closing a probe file";
		r = close(TAKE_FD(fd)) < 0 ? -errno : 0;
	}
	if (r >= 0) {
		step = "removing a probe file";
		if (unlinkat(d->fd, tmp, 0) < 0)
			r = -errno;
		else {
			step = "fsync of the directory";
			r = fsync_dirfd(d->fd);
			if (r < 0)
				return errmsg(reterr, r, "cannot write to state directory %s (%s): %s", d->path, step,
					      strerror(-r));
		}
	}
	if (r < 0) {
		(void)unlinkat(d->fd, tmp, 0);
		return errmsg(reterr, r, "cannot write to state directory %s (%s): %s", d->path, step, strerror(-r));
	}
	return 0;
}

int statedir_open(const char *path, unsigned flags, struct statedir **ret, char **reterr)
{
	struct statedir *d;
	size_t n;
	int r;

	if (!path || !*path || strlen(path) >= PATH_MAX || !ret)
		return errmsg(reterr, -EINVAL, "invalid state directory path");

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fd = d->lock_fd = -1;
	d->max_values = state_max_values(STATE_EVENT_SIZE_DEFAULT);
	dbuf_init(&d->text, STATE_MAX_FILE_SIZE);
	d->path = strdup(path);
	if (!d->path) {
		r = -ENOMEM;
		goto fail;
	}
	/* No trailing slashes, so path + "/" + name reads well. */
	for (n = strlen(d->path); n > 1 && d->path[n - 1] == '/'; n--)
		d->path[n - 1] = '\0';

	if (flags & STATEDIR_CREATE) {
		r = mkdir_parents(d->path);
		if (r < 0) {
			r = errmsg(reterr, r, "cannot create state directory %s: %s", d->path, strerror(-r));
			goto fail;
		}
	}
	d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->fd < 0) {
		r = errmsg(reterr, -errno, "cannot open state directory %s: %s", d->path, strerror(errno));
		goto fail;
	}
	if (flags & STATEDIR_LOCK) {
		r = statedir_lock(d, reterr);
		if (r >= 0)
			r = statedir_probe(d, reterr);
		if (r >= 0)
			r = statedir_remove_temp_files(d, reterr);
		if (r < 0)
			goto fail;
	}
	*ret = d;
	return 0;
fail:
	statedir_free(d);
	return r;
}

void statedir_allow_event_size(struct statedir *d, size_t max_event_size)
{
	d->max_values = MAX(d->max_values, state_max_values(max_event_size));
}

struct statedir *statedir_free(struct statedir *d)
{
	if (!d)
		return NULL;
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	if (d->fd >= 0)
		close(d->fd);
	dbuf_free(&d->text);
	free(d->path);
	free(d);
	return NULL;
}

const char *statedir_path(const struct statedir *d)
{
	return d->path;
}

bool statedir_locked(const struct statedir *d)
{
	return d->lock_fd >= 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int statedir_list(struct statedir *d, char ***ret_names)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	DIR *dir = NULL;
	struct dirent *de;
	int r;

	r = opendir_at(d->fd, &dir);
	if (r < 0)
		return r;
	while ((r = readdir_next(dir, &de)) > 0) {
		size_t len = strlen(de->d_name);
		char *name;

		if (len <= STRLEN(".json") || strcmp(de->d_name + len - STRLEN(".json"), ".json") != 0)
			continue;
		name = strndup(de->d_name, len - STRLEN(".json"));
		if (!name) {
			r = -ENOMEM;
			break;
		}
		if (!state_name_valid(name) || !dirent_is(d->fd, de, S_IFREG)) {
			free(name);
			continue;
		}
		if (n + 2 > cap) {
			size_t ncap = MAX(cap * 2, (size_t)16);
			char **nv = reallocarray(names, ncap, sizeof(*names));

			if (!nv) {
				free(name);
				r = -ENOMEM;
				break;
			}
			names = nv;
			cap = ncap;
		}
		names[n++] = name;
		names[n] = NULL;
	}
	closedir(dir);
	if (r >= 0 && !names) {
		names = calloc(1, sizeof(*names));
		if (!names)
			r = -ENOMEM;
	}
	if (r < 0) {
		strv_free(names);
		return r;
	}
	qsort(names, n, sizeof(*names), cmp_str);
	*ret_names = names;
	return 0;
}

/* ------------------------------------------------------------ listener state */

static struct state_pending *pending_base(const struct listener_state *s)
{
	return s->pending ? s->pending - s->pending_head : NULL;
}

/*
 * Makes room for extra more entries at the tail. The live entries slide to
 * the front of the allocation only when the dead prefix is at least as long
 * as they are (so the n moves were paid for by n pops), or just before the
 * allocation doubles: push and pop stay amortised O(1), and the allocation
 * stays within about four times the most entries ever live at once.
 */
static int pending_reserve(struct listener_state *s, size_t extra)
{
	struct state_pending *base = pending_base(s), *nb;
	size_t need, cap;

	if (extra > SIZE_MAX / 4 / sizeof(*base) - s->n_pending)
		return -ENOMEM;
	need = s->n_pending + extra;
	if (s->pending_head + need <= s->cap_pending)
		return 0;
	if (s->pending_head > 0 && (s->pending_head >= s->n_pending || need > s->cap_pending)) {
		memmove(base, s->pending, s->n_pending * sizeof(*base));
		s->pending = base;
		s->pending_head = 0;
		if (need <= s->cap_pending)
			return 0;
	}
	cap = MAX(MAX(need, s->cap_pending * 2), (size_t)PENDING_MIN_CAP);
	nb = reallocarray(base, cap, sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	s->pending = nb + s->pending_head;
	s->cap_pending = cap;
	return 0;
}

struct listener_state *listener_state_new(const char *name, json_t *identity)
{
	struct listener_state *s;

	if (!name || (identity && !json_is_object(identity)))
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->name = strdup(name);
	s->identity = identity ? json_incref(identity) : json_object();
	s->next_seq = 1;
	if (!s->name || !s->identity)
		return listener_state_free(s);
	return s;
}

/*
 * Copied texts are packed into blocks of TEXT_SLAB_SIZE. Notifications leave
 * in the order they came, so blocks empty in order too; an empty block is
 * freed at once (also the current one), so an idle listener holds none.
 */
struct text_slab {
	size_t live;	/* texts in it still pending */
	size_t used;
	char data[];
};

static void slab_release(struct listener_state *s, struct text_slab *b)
{
	if (--b->live > 0)
		return;
	if (s->slab == b)
		s->slab = NULL;
	free(b);
}

static char *slab_copy(struct listener_state *s, const char *text, size_t len, struct text_slab **ret_slab)
{
	struct text_slab *b = s->slab;
	char *t;

	if (len >= TEXT_SLAB_SIZE / 4) {
		/* A big one gets its own allocation: no block is pinned by it. */
		t = malloc(len + 1);
		if (t) {
			memcpy(t, text, len);
			t[len] = '\0';
		}
		*ret_slab = NULL;
		return t;
	}
	if (!b || TEXT_SLAB_SIZE - b->used < len + 1) {
		b = malloc(sizeof(*b) + TEXT_SLAB_SIZE);
		if (!b)
			return NULL;
		*b = (struct text_slab){ 0 };
		s->slab = b;	/* the old one is freed by its last text */
	}
	t = b->data + b->used;
	memcpy(t, text, len);
	t[len] = '\0';
	b->used += len + 1;
	b->live++;
	*ret_slab = b;
	return t;
}

static void pending_clear(struct listener_state *s, struct state_pending *p)
{
	json_decref(p->notification);
	if (p->slab)
		slab_release(s, p->slab);
	else
		free(p->text);
	p->notification = NULL;
	p->text = NULL;
	p->slab = NULL;
}

/*
 * The notification as the state file holds it (compact, sorted keys),
 * serialised once: a commit writes every pending notification, and the same
 * ones are written again and again while they wait.
 */
static const char *pending_text(const struct state_pending *p)
{
	struct state_pending *mp = (struct state_pending *)p;	/* a cache, not state */

	if (!mp->text && p->notification)
		mp->text = jsonw_dumps(p->notification);
	return mp->text;
}

const char *state_pending_text(const struct state_pending *p)
{
	return pending_text(p);
}

const char *state_pending_text_len(const struct state_pending *p, size_t *ret_len)
{
	const char *text = pending_text(p);

	*ret_len = !text ? 0 : p->text_bytes ? p->text_bytes : strlen(text);
	return text;
}

json_t *state_pending_notification(const struct state_pending *p)
{
	struct state_pending *mp = (struct state_pending *)p;	/* a cache, not state */
	json_t *j;

	if (mp->notification || !mp->text)
		return mp->notification;
	/* The text came from our own writer: it parses unless memory is short. */
	j = json_loadb(mp->text, mp->text_bytes, JSON_ALLOW_NUL, NULL);
	if (json_is_object(j))
		mp->notification = j;
	else
		json_decref(j);
	return mp->notification;
}

struct listener_state *listener_state_free(struct listener_state *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_pending; i++)
		pending_clear(s, &s->pending[i]);
	free(pending_base(s));
	json_decref(s->identity);
	json_decref(s->cursor);
	free(s->name);
	free(s);
	return NULL;
}

/* The next slot, numbered; NULL with *ret_r set if there is none. */
static struct state_pending *push_slot(struct listener_state *s, bool valid, uint64_t received_usec, int *ret_r)
{
	struct state_pending *p;

	if (!valid)
		*ret_r = -EINVAL;
	else if (received_usec > INT64_MAX)
		*ret_r = -ERANGE;
	else if (s->next_seq < 1 || s->next_seq >= INT64_MAX)
		*ret_r = -EOVERFLOW;
	else
		*ret_r = pending_reserve(s, 1);
	if (*ret_r < 0)
		return NULL;
	p = &s->pending[s->n_pending++];
	*p = (struct state_pending){ .seq = s->next_seq++, .received_usec = received_usec };
	return p;
}

int listener_state_push_copy(struct listener_state *s, const char *text, size_t len, uint64_t received_usec,
			     uint64_t *ret_seq)
{
	struct state_pending *p;
	struct text_slab *slab;
	char *t;
	int r;

	p = push_slot(s, text && len > 0 && text[0] == '{', received_usec, &r);
	if (!p)
		return r;
	t = slab_copy(s, text, len, &slab);
	if (!t) {
		s->n_pending--;
		s->next_seq--;
		return -ENOMEM;
	}
	p->text = t;
	p->slab = slab;
	p->text_bytes = len;
	s->pending_bytes += len;
	if (ret_seq)
		*ret_seq = p->seq;
	return 0;
}

int listener_state_push(struct listener_state *s, json_t *notification, uint64_t received_usec,
			uint64_t *ret_seq)
{
	struct state_pending *p;
	int r;

	p = push_slot(s, json_is_object(notification), received_usec, &r);
	if (!p) {
		json_decref(notification);
		return r;
	}
	p->notification = notification;
	/* Now, while it is in the cache anyway (NULL is retried later). */
	if (pending_text(p)) {
		p->text_bytes = strlen(p->text);
		s->pending_bytes += p->text_bytes;
	}
	if (ret_seq)
		*ret_seq = p->seq;
	return 0;
}

void listener_state_pop(struct listener_state *s)
{
	if (s->n_pending == 0)
		return;
	s->pending_bytes -= s->pending[0].text_bytes;
	pending_clear(s, &s->pending[0]);
	if (--s->n_pending == 0) {
		struct state_pending *base = pending_base(s);

		if (s->cap_pending > PENDING_KEEP_CAP) {
			free(base);
			base = NULL;
			s->cap_pending = 0;
		}
		s->pending = base;
		s->pending_head = 0;
	} else {
		s->pending++;
		s->pending_head++;
	}
	if (s->delivered < INT64_MAX)
		s->delivered++;
}

struct state_pending *listener_state_oldest(struct listener_state *s)
{
	return s->n_pending > 0 ? &s->pending[0] : NULL;
}

void listener_state_rollback(struct listener_state *s, uint64_t next_seq, json_t *cursor)
{
	if (next_seq < 1)
		return;
	while (s->n_pending > 0 && s->pending[s->n_pending - 1].seq >= next_seq) {
		s->pending_bytes -= s->pending[s->n_pending - 1].text_bytes;
		pending_clear(s, &s->pending[--s->n_pending]);
	}
	s->next_seq = next_seq;
	json_incref(cursor);
	json_decref(s->cursor);
	s->cursor = cursor;
}

/* A cursor as we store it: a string without NUL, CR or LF (it becomes a header), or an integer >= 0. */
static bool cursor_bytes_ok(const char *v, size_t n)
{
	return strnlen(v, n) == n && !memchr(v, '\r', n) && !memchr(v, '\n', n);
}

static bool cursor_string_ok(const json_t *c)
{
	return cursor_bytes_ok(json_string_value(c), json_string_length(c));
}

int listener_state_set_cursor(struct listener_state *s, json_t *cursor)
{
	int r = 0;

	if (!cursor) {
		json_decref(s->cursor);
		s->cursor = NULL;
		return 0;
	}
	if (json_is_string(cursor)) {
		if (!cursor_string_ok(cursor) || json_is_integer(s->cursor))
			r = -EINVAL;
	} else if (json_is_integer(cursor)) {
		if (json_integer_value(cursor) < 0 || json_is_string(s->cursor))
			r = -EINVAL;
		else if (json_is_integer(s->cursor) && json_integer_value(cursor) < json_integer_value(s->cursor))
			r = -ERANGE;
	} else
		r = -EINVAL;
	if (r < 0) {
		json_decref(cursor);
		return r;
	}
	json_decref(s->cursor);
	s->cursor = cursor;
	return 0;
}

int listener_state_set_cursor_string(struct listener_state *s, const char *v, size_t n)
{
	json_t *c = s->cursor;

	if (!cursor_bytes_ok(v, n) || !utf8_valid(v, n) || json_is_integer(c))
		return -EINVAL;
	if (json_is_string(c) && c->refcount == 1)
		return json_string_setn_nocheck(c, v, n) < 0 ? -ENOMEM : 0;
	c = json_stringn_nocheck(v, n);
	if (!c)
		return -ENOMEM;
	json_decref(s->cursor);
	s->cursor = c;
	return 0;
}

static bool cursor_valid(const json_t *c)
{
	return !c || (json_is_string(c) && cursor_string_ok(c)) ||
	       (json_is_integer(c) && json_integer_value(c) >= 0);
}

/* Sets key to a new value (stolen); false if either is NULL or on OOM. */
static bool set_new(json_t *o, const char *key, json_t *v)
{
	return v && json_object_set_new(o, key, v) == 0;
}

/* -EINVAL if the state breaks a rule listener_state_from_json() enforces, so we never write what we cannot read. */
static int state_to_json(const struct listener_state *s, json_t **ret)
{
	json_t *j = NULL, *pending = NULL;
	uint64_t prev = 0;

	if (!s->name || !json_is_object(s->identity) || !cursor_valid(s->cursor) || s->next_seq < 1 ||
	    s->next_seq > INT64_MAX || s->delivered > INT64_MAX)
		return -EINVAL;
	pending = json_array();
	if (!pending)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_pending; i++) {
		const struct state_pending *p = &s->pending[i];
		json_t *e;

		if (p->seq <= prev || p->seq >= s->next_seq || p->triggers_done > TRIGGERS_DONE_MAX ||
		    p->received_usec > INT64_MAX) {
			json_decref(pending);
			return -EINVAL;
		}
		if (!state_pending_notification(p)) {
			json_decref(pending);
			return p->text ? -ENOMEM : -EINVAL;
		}
		prev = p->seq;
		e = json_object();
		if (!e || json_array_append_new(pending, e) < 0 ||
		    !set_new(e, "seq", json_integer((json_int_t)p->seq)) ||
		    !set_new(e, "received_usec", json_integer((json_int_t)p->received_usec)) ||
		    !set_new(e, "triggers_done", json_integer((json_int_t)p->triggers_done)) ||
		    json_object_set(e, "notification", p->notification) < 0) {
			json_decref(pending);
			return -ENOMEM;
		}
	}
	j = json_object();
	if (j && s->bootstrap && !s->cursor && !set_new(j, "bootstrap", json_true())) {
		json_decref(j);
		j = NULL;
	}
	if (!j || !set_new(j, "format", json_string(STATE_FORMAT)) ||
	    !set_new(j, "version", json_integer(STATE_VERSION)) ||
	    !set_new(j, "listener", json_string(s->name)) ||
	    json_object_set(j, "identity", s->identity) < 0 ||
	    json_object_set(j, "cursor", s->cursor ? s->cursor : json_null()) < 0 ||
	    !set_new(j, "next_seq", json_integer((json_int_t)s->next_seq)) ||
	    !set_new(j, "delivered", json_integer((json_int_t)s->delivered)) ||
	    !set_new(j, "retry_ms", json_integer((json_int_t)s->retry_ms)) ||
	    !set_new(j, "pending", TAKE_PTR(pending))) {
		json_decref(pending);
		json_decref(j);
		return -ENOMEM;
	}
	*ret = j;
	return 0;
}

json_t *listener_state_to_json(const struct listener_state *s)
{
	json_t *j = NULL;

	return state_to_json(s, &j) < 0 ? NULL : j;
}

/* ---- validation of a parsed file */

struct vctx {
	const char *source;
	char **reterr;
};

_printf_(3, 4) static int bad(const struct vctx *v, const char *member, const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		text = NULL;
	if (member)
		return errmsg(v->reterr, -EBADMSG, "%s: %s: %s", v->source, member, text ? text : "invalid");
	return errmsg(v->reterr, -EBADMSG, "%s: %s", v->source, text ? text : "invalid");
}

/* An integer member in [min, max]. */
static int get_int(const struct vctx *v, const json_t *o, const char *key, const char *member,
		   json_int_t min, json_int_t max, json_int_t *ret)
{
	const json_t *m = json_object_get(o, key);
	json_int_t x;

	if (!m)
		return bad(v, member, "missing");
	if (!json_is_integer(m))
		return bad(v, member, "expected an integer");
	x = json_integer_value(m);
	if (x < min || x > max)
		return bad(v, member, "%" JSON_INTEGER_FORMAT " is out of range (%" JSON_INTEGER_FORMAT
			   "..%" JSON_INTEGER_FORMAT ")", x, min, max);
	*ret = x;
	return 0;
}

/* A member that must be present, of the given type (json_is_object and the like). */
static int get_typed(const struct vctx *v, const json_t *o, const char *key, const char *member, json_type type,
		     const char *what, json_t **ret)
{
	json_t *m = json_object_get(o, key);

	if (!m)
		return bad(v, member, "missing");
	if (json_typeof(m) != type)
		return bad(v, member, "expected %s", what);
	*ret = m;
	return 0;
}

static int check_keys(const struct vctx *v, const json_t *o, const char *const *known, const char *prefix)
{
	const char *key;
	json_t *val;

	json_object_foreach((json_t *)o, key, val) {
		bool ok = false;

		for (const char *const *k = known; *k && !ok; k++)
			ok = strcmp(*k, key) == 0;
		if (!ok) {
			size_t n = strlen(key);
			char q[QUOTE_BUF];

			/* A plain name as is, anything else quoted and escaped. */
			if (n > 0 && n <= QUOTE_MAX &&
			    strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n)
				return bad(v, NULL, "%s%s: unknown member", prefix, key);
			return bad(v, NULL, "%s%s: unknown member", prefix, quote(key, n, q));
		}
	}
	return 0;
}

static const char *const top_keys[] = {
	"format", "version", "listener", "identity", "cursor", "next_seq", "delivered", "retry_ms", "pending",
	"bootstrap", NULL,
};

static const char *const pending_keys[] = {
	"seq", "received_usec", "triggers_done", "notification", NULL,
};

static int parse_pending_entry(const struct vctx *v, const json_t *e, size_t i, uint64_t prev,
			       struct state_pending *p)
{
	char member[64], prefix[48];
	json_int_t x;
	int r;

	snprintf(prefix, sizeof(prefix), "pending[%zu].", i);
	if (!json_is_object(e)) {
		snprintf(member, sizeof(member), "pending[%zu]", i);
		return bad(v, member, "expected an object");
	}
	r = check_keys(v, e, pending_keys, prefix);
	if (r < 0)
		return r;

	snprintf(member, sizeof(member), "%sseq", prefix);
	r = get_int(v, e, "seq", member, 1, INT64_MAX, &x);
	if (r < 0)
		return r;
	if ((uint64_t)x <= prev)
		return bad(v, member, "not greater than pending[%zu].seq", i - 1);
	p->seq = (uint64_t)x;

	snprintf(member, sizeof(member), "%sreceived_usec", prefix);
	r = get_int(v, e, "received_usec", member, 0, INT64_MAX, &x);
	if (r < 0)
		return r;
	p->received_usec = (uint64_t)x;

	snprintf(member, sizeof(member), "%striggers_done", prefix);
	r = get_int(v, e, "triggers_done", member, 0, TRIGGERS_DONE_MAX, &x);
	if (r < 0)
		return r;
	p->triggers_done = (uint32_t)x;

	snprintf(member, sizeof(member), "%snotification", prefix);
	return get_typed(v, e, "notification", member, JSON_OBJECT, "an object", &p->notification);
}

json_t *state_identity_without_secrets(const json_t *identity)
{
	static const char *const keys[] = { "url", "base_url" };
	json_t *copy = json_deep_copy(identity);

	for (size_t i = 0; copy && i < ELEMENTSOF(keys); i++) {
		const char *url = json_string_value(json_object_get(copy, keys[i]));
		_cleanup_free_ char *hidden = NULL;

		if (!url)
			continue;
		hidden = url_hide_secrets(url);
		if (!hidden || json_object_set_new(copy, keys[i], json_string(hidden)) < 0) {
			json_decref(copy);
			return NULL;
		}
	}
	return copy;
}

int listener_state_from_json(const json_t *j, const char *expected_name, const char *source,
			     struct listener_state **ret, char **reterr)
{
	const struct vctx v = { .source = source ? source : "state", .reterr = reterr };
	struct listener_state *s = NULL;
	json_t *m = NULL, *identity = NULL, *pending = NULL, *cursor;
	json_int_t version = 0, next_seq = 0, delivered = 0, retry_ms = 0;
	char q[QUOTE_BUF], q2[QUOTE_BUF];
	const char *name, *protocol;
	size_t n;
	int r;

	if (!json_is_object(j))
		return bad(&v, NULL, "not a JSON object");

	/* Format and version first: a newer file may well have members we do not know. */
	r = get_typed(&v, j, "format", "format", JSON_STRING, "a string", &m);
	if (r < 0)
		return r;
	if (strcmp(json_string_value(m), STATE_FORMAT) != 0 || json_string_length(m) != STRLEN(STATE_FORMAT))
		return bad(&v, "format", "is %s, expected \"" STATE_FORMAT "\"",
			   quote(json_string_value(m), json_string_length(m), q));
	m = json_object_get(j, "version");
	if (json_is_integer(m) && json_integer_value(m) > STATE_VERSION)
		return bad(&v, NULL, "was written by a newer ssewatchd (version %" JSON_INTEGER_FORMAT ")",
			   json_integer_value(m));
	r = get_int(&v, j, "version", "version", STATE_VERSION, STATE_VERSION, &version);
	if (r < 0)
		return r;

	r = check_keys(&v, j, top_keys, "");
	if (r < 0)
		return r;

	r = get_typed(&v, j, "listener", "listener", JSON_STRING, "a string", &m);
	if (r < 0)
		return r;
	name = json_string_value(m);
	if (expected_name) {
		if (strcmp(name, expected_name) != 0 || strlen(expected_name) != json_string_length(m))
			return bad(&v, "listener", "is %s, expected %s", quote(name, json_string_length(m), q),
				   quote(expected_name, strlen(expected_name), q2));
	} else if (!state_name_valid(name) || strlen(name) != json_string_length(m))
		return bad(&v, "listener", "%s is not a valid listener name", quote(name, json_string_length(m), q));

	r = get_typed(&v, j, "identity", "identity", JSON_OBJECT, "an object", &identity);
	if (r < 0)
		return r;

	cursor = json_object_get(j, "cursor");
	if (!cursor)
		return bad(&v, "cursor", "missing");
	if (json_is_integer(cursor)) {
		if (json_integer_value(cursor) < 0)
			return bad(&v, "cursor", "%" JSON_INTEGER_FORMAT " is negative", json_integer_value(cursor));
	} else if (json_is_string(cursor)) {
		if (!cursor_string_ok(cursor))
			return bad(&v, "cursor", "contains a NUL, CR or LF character");
	} else if (!json_is_null(cursor))
		return bad(&v, "cursor", "expected null, a string or a non-negative integer");
	/* aviso resumes from a sequence number, sse from an event id: the
	 * other kind would be sent as nothing, and the stream start afresh. */
	protocol = json_string_value(json_object_get(identity, "protocol"));
	if (protocol && strcmp(protocol, "aviso") == 0 && json_is_string(cursor))
		return bad(&v, "cursor", "is a string, but an aviso listener's cursor is a sequence number");
	if (protocol && strcmp(protocol, "sse") == 0 && json_is_integer(cursor))
		return bad(&v, "cursor", "is a number, but an sse listener's cursor is an event id (a string)");

	r = get_int(&v, j, "next_seq", "next_seq", 1, INT64_MAX, &next_seq);
	if (r < 0)
		return r;
	r = get_int(&v, j, "delivered", "delivered", 0, INT64_MAX, &delivered);
	if (r < 0)
		return r;
	r = get_int(&v, j, "retry_ms", "retry_ms", 0, UINT32_MAX, &retry_ms);
	if (r < 0)
		return r;
	r = get_typed(&v, j, "pending", "pending", JSON_ARRAY, "an array", &pending);
	if (r < 0)
		return r;
	m = json_object_get(j, "bootstrap");	/* optional, and only ever true */
	if (m && !json_is_true(m))
		return bad(&v, "bootstrap", "expected true (or no such member)");
	if (m && !json_is_null(cursor))
		return bad(&v, "bootstrap", "is true, but there is a cursor");

	s = listener_state_new(name, identity);
	if (!s)
		return -ENOMEM;
	if (!json_is_null(cursor))
		s->cursor = json_incref(cursor);
	s->next_seq = (uint64_t)next_seq;
	s->delivered = (uint64_t)delivered;
	s->retry_ms = (uint32_t)retry_ms;
	s->bootstrap = m != NULL;

	n = json_array_size(pending);
	r = pending_reserve(s, n);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct state_pending p = { 0 };

		r = parse_pending_entry(&v, json_array_get(pending, i), i,
					i ? s->pending[i - 1].seq : 0, &p);
		if (r < 0)
			goto fail;
		json_incref(p.notification);
		s->pending[s->n_pending++] = p;
	}
	if (n > 0 && s->pending[n - 1].seq >= s->next_seq) {
		r = bad(&v, "next_seq", "not greater than pending[%zu].seq", n - 1);
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	listener_state_free(s);
	return r;
}

size_t state_max_values(size_t max_event_size)
{
	/* Entries: the queue's max_pending (100,000 at most) and the events of
	 * a stash taken in when a stream ends (4 MiB of at least 8 bytes each),
	 * ten values each at most. */
	return (STATE_PENDING_BYTES_MAX + MIN(max_event_size, (size_t)STATE_EVENT_SIZE_MAX)) / 2 +
	       8u * 1024 * 1024;
}

size_t state_json_values(const char *text, size_t len, size_t stop)
{
	/* Every value but the first opens a container or follows a comma. */
	size_t values = 1;
	const char *p = text, *end = text + len;

	while (p < end && values <= stop) {
		switch (*p++) {
		case '"':
			/* A string: to its closing quote, skipping escaped characters. */
			while (p < end && *p != '"')
				p += *p == '\\' ? 2 : 1;
			p++;
			break;
		case ',':
		case '[':
		case '{':
			values++;
			break;
		default:
			break;
		}
	}
	return values;
}

/* A file with more values than the daemon writes is refused before jansson builds them. */
static int check_values(const char *data, size_t len, size_t max_values, const char *source, char **reterr)
{
	if (state_json_values(data, len, max_values) > max_values)
		return errmsg(reterr, -EBADMSG,
			      "%s: more than %zu JSON values, more than this daemon writes with the largest "
			      "max_event_size configured: not read", source, max_values);
	return 0;
}

int listener_state_from_bytes(const char *data, size_t len, const char *expected_name,
			      const char *source, struct listener_state **ret, char **reterr)
{
	return listener_state_from_bytes_max(data, len, state_max_values(STATE_EVENT_SIZE_MAX), expected_name,
					     source, ret, reterr);
}

int listener_state_from_bytes_max(const char *data, size_t len, size_t max_values, const char *expected_name,
				  const char *source, struct listener_state **ret, char **reterr)
{
	json_error_t err;
	json_t *j;
	int r;

	if (!source)
		source = "state";
	if (len > STATE_MAX_FILE_SIZE)
		return errmsg(reterr, -EBADMSG, "%s: too large (%zu bytes, the limit is %u)", source, len,
			      STATE_MAX_FILE_SIZE);
	r = check_values(data, len, max_values, source, reterr);
	if (r < 0)
		return r;
	j = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	if (!j) {
		if (json_error_code(&err) == json_error_out_of_memory)
			return -ENOMEM;
		return errmsg(reterr, -EBADMSG, "%s:%d:%d: %s", source, err.line, err.column, err.text);
	}
	r = listener_state_from_json(j, expected_name, source, ret, reterr);
	json_decref(j);
	return r;
}

/* ------------------------------------------------------------ load and save */

int state_load(struct statedir *d, const char *name, struct listener_state **ret, char **reterr)
{
	_cleanup_free_ char *file = NULL, *path = NULL;
	struct dbuf buf;
	int r;

	if (!state_name_valid(name))
		return errmsg(reterr, -EINVAL, "invalid listener name");
	if (asprintf(&file, "%s.json", name) < 0 || asprintf(&path, "%s/%s", d->path, file) < 0)
		return -ENOMEM;
	dbuf_init(&buf, STATE_MAX_FILE_SIZE);
	/* Without the lock a daemon may be committing: each retry means a
	 * commit was made meanwhile, so the next attempt reads a newer file. */
	for (int attempt = 0;; attempt++) {
		r = read_file_at(d->fd, file, path, !statedir_locked(d), &buf, reterr);
		if (r != -EAGAIN)
			break;
		if (attempt == STATE_READ_ATTEMPTS) {
			r = errmsg(reterr, -EAGAIN, "%s: replaced %d times while being read, giving up", path,
				   attempt + 1);
			break;
		}
		dbuf_reset(&buf);
	}
	if (r >= 0)
		r = listener_state_from_bytes_max(dbuf_str(&buf), buf.len, d->max_values, name, path, ret, reterr);
	dbuf_free(&buf);
	return r;
}

/* Compact, sorted keys, one trailing newline. */
static int dump_json(const json_t *j, char **ret, size_t *ret_len)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	size_t n;
	char *t;

	if (!text)
		return -ENOMEM;
	n = strlen(text);
	t = realloc(text, n + 2);
	if (!t) {
		free(text);
		return -ENOMEM;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	*ret = t;
	*ret_len = n + 1;
	return 0;
}

/*
 * The state file's text, the same bytes as dumping listener_state_to_json()
 * with JSON_COMPACT | JSON_SORT_KEYS plus a newline, but assembled from the
 * pending notifications' cached text (keys in sorted order, written here).
 */
/* Without snprintf, two digits a step: a commit writes three numbers per
 * pending notification, one of them 16 digits long. The digits of v go to
 * the end of buf[20]; returns where they begin. */
static char *u64_digits(uint64_t v, char buf[static 20])
{
	static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
				    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
				    "8081828384858687888990919293949596979899";
	char *p = buf + 20;

	while (v >= 100) {
		p -= 2;
		memcpy(p, pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	if (v >= 10) {
		p -= 2;
		memcpy(p, pairs + 2 * v, 2);
	} else {
		*--p = (char)('0' + v);
	}
	return p;
}

/* One pending entry, its size worked out first: one check for room, not one
 * per piece (a busy listener's file is thousands of them). */
static int put_entry(struct dbuf *out, bool comma, const char *text, size_t len, const char *usec, size_t usec_len,
		     uint64_t seq, uint64_t done)
{
	static const char head[] = "{\"notification\":", at[] = ",\"received_usec\":", seq_key[] = ",\"seq\":",
			  done_key[] = ",\"triggers_done\":";
	char seq_buf[20], done_buf[20], *seq_s = u64_digits(seq, seq_buf), *done_s = u64_digits(done, done_buf);
	size_t seq_len = (size_t)(seq_buf + sizeof(seq_buf) - seq_s);
	size_t done_len = (size_t)(done_buf + sizeof(done_buf) - done_s);
	size_t need = comma + STRLEN(head) + len + STRLEN(at) + usec_len + STRLEN(seq_key) + seq_len + STRLEN(done_key) +
		      done_len + 1;
	char *o;
	int r = dbuf_reserve(out, need);

	if (r < 0)
		return r;
	o = out->buf + out->len;
	if (comma)
		*o++ = ',';
	o = mempcpy(o, head, STRLEN(head));
	o = mempcpy(o, text, len);
	o = mempcpy(o, at, STRLEN(at));
	o = mempcpy(o, usec, usec_len);
	o = mempcpy(o, seq_key, STRLEN(seq_key));
	o = mempcpy(o, seq_s, seq_len);
	o = mempcpy(o, done_key, STRLEN(done_key));
	o = mempcpy(o, done_s, done_len);
	*o++ = '}';
	out->len = (size_t)(o - out->buf);
	out->buf[out->len] = '\0';
	return 0;
}

static int state_text(const struct listener_state *s, struct dbuf *out)
{
	_cleanup_free_ char *cursor = NULL, *identity = NULL;
	char num[128], usec_buf[20], *usec = NULL;
	uint64_t prev = 0, usec_of = 0;
	int r = 0;

	if (!s->name || !state_name_valid(s->name) || !json_is_object(s->identity) || !cursor_valid(s->cursor) ||
	    s->next_seq < 1 || s->next_seq > INT64_MAX || s->delivered > INT64_MAX)
		return -EINVAL;
	cursor = json_dumps(s->cursor ? s->cursor : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
	identity = json_dumps(s->identity, JSON_COMPACT | JSON_SORT_KEYS);
	if (!cursor || !identity)
		return -ENOMEM;

	/* One allocation for the usual file: the notifications and a little per entry. */
	r = dbuf_reserve(out, s->pending_bytes + s->n_pending * 96 + strlen(cursor) + strlen(identity) + 256);
	if (r == -E2BIG)
		r = 0;		/* the appends below say it precisely */
#define PUT(p, n) do { if (r >= 0) r = dbuf_append(out, (p), (n)); } while (0)
#define PUTS(str) PUT((str), strlen(str))
#define PUTF(...) do { snprintf(num, sizeof(num), __VA_ARGS__); PUTS(num); } while (0)
	PUTS(s->bootstrap && !s->cursor ? "{\"bootstrap\":true,\"cursor\":" : "{\"cursor\":");
	PUTS(cursor);
	PUTF(",\"delivered\":%" PRIu64 ",\"format\":\"" STATE_FORMAT "\",\"identity\":", s->delivered);
	PUTS(identity);
	/* Listener names are [A-Za-z0-9_.-]: nothing to escape. */
	PUTS(",\"listener\":\"");
	PUTS(s->name);
	PUTF("\",\"next_seq\":%" PRIu64 ",\"pending\":[", s->next_seq);
	for (size_t i = 0; i < s->n_pending && r >= 0; i++) {
		const struct state_pending *p = &s->pending[i];
		const char *text;

		if (p->seq <= prev || p->seq >= s->next_seq || p->triggers_done > TRIGGERS_DONE_MAX ||
		    p->received_usec > INT64_MAX || (!p->text && !json_is_object(p->notification))) {
			r = -EINVAL;
			break;
		}
		prev = p->seq;
		text = pending_text(p);
		if (!text) {
			r = -ENOMEM;
			break;
		}
		/* One read's notifications share the time they came. */
		if (!usec || p->received_usec != usec_of) {
			usec = u64_digits(p->received_usec, usec_buf);
			usec_of = p->received_usec;
		}
		if (r >= 0)
			r = put_entry(out, i > 0, text, p->text_bytes ? p->text_bytes : strlen(text), usec,
				      (size_t)(usec_buf + sizeof(usec_buf) - usec), p->seq, p->triggers_done);
	}
	PUTF("],\"retry_ms\":%" PRIu32 ",\"version\":%d}\n", s->retry_ms, STATE_VERSION);
#undef PUT
#undef PUTS
#undef PUTF
	return r;
}

void statedir_set_uring(struct statedir *d, struct uring *q)
{
	d->uring = q;
}

/* The text of a save that is done with goes back to the directory, whose
 * next save reuses the larger of the two buffers. */
static void save_text_back(struct statedir *d, struct state_save_op *op)
{
	if (!op->text.buf)
		return;	/* the op of a save that never went to a ring, or of none */
	if (op->text.cap > d->text.cap)
		dbuf_swap(&d->text, &op->text);
	dbuf_free(&op->text);
	dbuf_reset_trim(&d->text, TEXT_KEEP);
}

void state_save_abandon(struct statedir *d, struct state_save_op *op)
{
	char *spare = TAKE_PTR(op->spare);
	uint64_t finished = op->finished_usec;
	struct uring_req sync = op->sync;

	/* Neither the requests nor the text may go while the kernel may
	 * still use them: their ends are waited for, whatever they say
	 * (what they wrote is dropped anyway). */
	if (op->write.busy)
		(void)uring_wait(d->uring, &op->write);
	if (op->sync.busy)
		(void)uring_wait(d->uring, &op->sync);
	if (op->fd >= 0)
		(void)close(op->fd);
	/* Before the rename our text; after an exchange the file it replaced
	 * (the new one is in place, not yet durable: the next commit's). */
	if (op->tmp)
		(void)unlinkat(d->fd, op->tmp, 0);
	free(op->tmp);
	free(op->file);
	save_text_back(d, op);
	*op = STATE_SAVE_OP_IDLE;
	op->spare = spare;
	op->finished_usec = finished;
	op->sync.done = sync.done;
	op->sync.userdata = sync.userdata;
}

void state_save_op_done(struct statedir *d, struct state_save_op *op)
{
	state_save_abandon(d, op);
	if (op->spare)
		(void)unlinkat(d->fd, op->spare, 0);
	free(TAKE_PTR(op->spare));
}

static int save_begin(struct statedir *d, const struct listener_state *s, struct state_save_op *op,
		      bool pipelined, char **reterr)
{
	/* Pipelined, the kernel's workers write and sync where they can; a
	 * whole save (state_save_using()) is done here, as it is waited for
	 * at once anyway. */
	bool async = pipelined && d->uring;
	int r;

	if (state_save_active(op))
		return -EBUSY;
	free(TAKE_PTR(op->tmp));
	free(TAKE_PTR(op->file));
	if (!statedir_locked(d))
		return errmsg(reterr, -EPERM, "cannot write to state directory %s: not locked", d->path);
	if (!state_name_valid(s->name))
		return errmsg(reterr, -EINVAL, "invalid listener name");
	if (asprintf(&op->file, "%s.json", s->name) < 0) {
		op->file = NULL;
		return -ENOMEM;
	}
	dbuf_reset(&d->text);
	r = state_text(s, &d->text);
	if (r == -EINVAL)
		r = errmsg(reterr, r, "%s/%s: refusing to write an inconsistent state", d->path, op->file);
	else if (r == -E2BIG)
		r = errmsg(reterr, r, "%s/%s: the state would be larger than %u bytes, more than it may be read back",
			   d->path, op->file, STATE_MAX_FILE_SIZE);
	else if (r >= 0) {
		op->fd = atomic_write_begin(d->fd, op->file, d->text.buf, d->text.len, 0600,
					    async ? AW_SIZE_ONLY : pipelined ? AW_WRITEBACK : 0, &op->spare, &op->tmp);
		if (op->fd < 0)
			r = errmsg(reterr, op->fd, "cannot write state file %s/%s: %s", d->path, op->file,
				   strerror(-op->fd));
	} else
		r = errmsg(reterr, r, "cannot write state file %s/%s: %s", d->path, op->file, strerror(-r));
	if (r < 0) {
		state_save_abandon(d, op);
		return r;
	}
	op->phase = STATE_SAVE_WRITTEN;
	op->often = op->finished_usec > 0 && now_usec(CLOCK_MONOTONIC) - op->finished_usec < STATE_SPARE_BUSY_USEC;
	if (async) {
		/* The text stays with op until the write is done. */
		dbuf_swap(&d->text, &op->text);
		if (uring_write_sync(d->uring, op->fd, op->text.buf, op->text.len, &op->write, &op->sync) >= 0) {
			op->phase = STATE_SAVE_SYNCING;
			return 0;
		}
		/* The ring is full: written here, as without one. */
		r = write_all(op->fd, op->text.buf, op->text.len);
		save_text_back(d, op);
		if (r < 0) {
			r = errmsg(reterr, r, "cannot write state file %s/%s: %s", d->path, op->file, strerror(-r));
			state_save_abandon(d, op);
			return r;
		}
		(void)sync_file_range(op->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	}
	dbuf_reset_trim(&d->text, TEXT_KEEP);
	return 0;
}

int state_save_begin(struct statedir *d, const struct listener_state *s, struct state_save_op *op, char **reterr)
{
	return save_begin(d, s, op, true, reterr);
}

/* An fsync the ring would not take: kernels before 5.6 refuse the
 * IOSQE_ASYNC flag with EINVAL (a real fsync of a file or directory does
 * not fail so). It is then done here, as without a ring. */
static bool ring_refused(int res)
{
	return res == -EINVAL || res == -EOPNOTSUPP;
}

/* The kernel's write and fsync of the temp file: 0, or why not. */
static int save_written(struct state_save_op *op)
{
	size_t done;
	int r;

	/* Refused by io_uring for this file (one without the kernel's
	 * vectored write): written here instead, as without a ring. */
	if (op->write.res == -EINVAL || op->write.res == -EOPNOTSUPP)
		op->write.res = 0;
	if (op->write.res < 0)
		return op->write.res;
	done = (size_t)op->write.res;
	if (done == op->text.len)
		return ring_refused(op->sync.res) ? (fsync(op->fd) < 0 ? -errno : 0) : op->sync.res;
	/* A short write (the fsync was then not started): the rest here. */
	r = lseek(op->fd, (off_t)done, SEEK_SET) < 0 ? -errno : write_all(op->fd, op->text.buf + done, op->text.len - done);
	if (r >= 0 && fsync(op->fd) < 0)
		r = -errno;
	return r;
}

void state_save_advance(struct statedir *d, struct state_save_op *op)
{
	int r;

	if (op->phase != STATE_SAVE_SYNCING || op->write.busy || op->sync.busy)
		return;
	/* A failed fsync is never retried: the pages may already be dropped. */
	r = atomic_write_place(d->fd, op->fd, op->tmp, op->file, save_written(op), true, op->often, &op->exchanged);
	op->fd = -1;
	op->phase = STATE_SAVE_PLACED;
	/* The directory's sync, or the failure, is what poll reports next. */
	op->dir_sync_on_ring = r >= 0 && uring_sync(d->uring, d->fd, &op->sync) >= 0;
	if (op->dir_sync_on_ring)
		return;
	op->sync.res = r >= 0 ? fsync_dirfd(d->fd) : r;
}

/* The end of a save, r < 0 if it failed: op idle again. Returns 1 or r. */
static int save_end(struct statedir *d, struct state_save_op *op, int r, char **reterr)
{
	_cleanup_free_ char *file = TAKE_PTR(op->file);

	r = atomic_write_settle(d->fd, &op->tmp, r, op->exchanged, &op->spare);
	state_save_abandon(d, op);
	if (r < 0)
		return errmsg(reterr, r, "cannot write state file %s/%s: %s", d->path, file, strerror(-r));
	op->finished_usec = now_usec(CLOCK_MONOTONIC);
	return 1;
}

int state_save_poll(struct statedir *d, struct state_save_op *op, char **reterr)
{
	int r;

	switch (op->phase) {
	case STATE_SAVE_WRITTEN:
		/* Nothing in flight: all of it here and now. */
		r = fsync(op->fd) < 0 ? -errno : 0;
		r = atomic_write_place(d->fd, op->fd, op->tmp, op->file, r, true, op->often, &op->exchanged);
		op->fd = -1;
		if (r >= 0)
			r = fsync_dirfd(d->fd);
		return save_end(d, op, r, reterr);
	case STATE_SAVE_SYNCING:
	case STATE_SAVE_PLACED:
		(void)uring_reap(d->uring);	/* a peek: no system call */
		state_save_advance(d, op);
		if (op->phase == STATE_SAVE_SYNCING || op->sync.busy)
			return 0;
		if (op->dir_sync_on_ring && ring_refused(op->sync.res))
			op->sync.res = fsync_dirfd(d->fd);
		return save_end(d, op, op->sync.res, reterr);
	case STATE_SAVE_IDLE:
	default:
		return -EINVAL;
	}
}

int state_save_finish(struct statedir *d, struct state_save_op *op, char **reterr)
{
	int r;

	while ((r = state_save_poll(d, op, reterr)) == 0) {
		(void)uring_wait(d->uring, &op->write);
		(void)uring_wait(d->uring, &op->sync);
	}
	return r < 0 ? r : 0;
}

int state_save_using(struct statedir *d, const struct listener_state *s, struct state_save_op *op, char **reterr)
{
	int r = save_begin(d, s, op, false, reterr);

	return r < 0 ? r : state_save_finish(d, op, reterr);
}

int state_save(struct statedir *d, const struct listener_state *s, char **reterr)
{
	struct state_save_op op = STATE_SAVE_OP_IDLE;
	int r = state_save_using(d, s, &op, reterr);

	state_save_op_done(d, &op);
	return r;
}

int state_remove(struct statedir *d, const char *name)
{
	_cleanup_free_ char *file = NULL;

	if (!statedir_locked(d))
		return -EPERM;
	if (!state_name_valid(name))
		return -EINVAL;
	if (asprintf(&file, "%s.json", name) < 0)
		return -ENOMEM;
	if (unlinkat(d->fd, file, 0) < 0)
		return -errno;
	return fsync_dirfd(d->fd);
}

/* ------------------------------------------------------------ dead letters */

/*
 * Opens dead-letters/NAME. With create, makes the missing directories (0700)
 * and fsync()s both parents every time, so a directory made by an earlier,
 * crashed run is durable too before anything is written into it.
 */
static int deadletter_dir(struct statedir *d, const char *name, bool create)
{
	_cleanup_close_ int dlfd = -1;
	int fd, r;

	if (!state_name_valid(name))
		return -EINVAL;
	if (create && mkdirat(d->fd, DEADLETTER_DIR, 0700) < 0 && errno != EEXIST)
		return -errno;
	dlfd = open_subdir(d->fd, DEADLETTER_DIR);
	if (dlfd < 0)
		return dlfd;
	if (create && mkdirat(dlfd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = open_subdir(dlfd, name);
	if (fd < 0 || !create)
		return fd;
	r = fsync_dirfd(dlfd);
	if (r >= 0)
		r = fsync_dirfd(d->fd);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

static bool seq_valid(uint64_t seq)
{
	return seq >= 1 && seq <= INT64_MAX;
}

/* "SEQ.json" with SEQ in 1..INT64_MAX, no leading zero: the seq, else 0. */
static uint64_t deadletter_seq_of(const char *name)
{
	size_t digits = strspn(name, "0123456789");
	uint64_t seq = 0;

	if (digits < 1 || digits > 19 || name[0] == '0' || strcmp(name + digits, ".json") != 0)
		return 0;
	for (size_t i = 0; i < digits; i++)
		seq = seq * 10 + (uint64_t)(name[i] - '0');
	return seq_valid(seq) ? seq : 0;
}

int deadletter_write(struct statedir *d, const char *name, uint64_t seq, const json_t *record)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int fd = -1;
	char file[32];
	size_t len;
	int r;

	if (!statedir_locked(d))
		return -EPERM;
	if (!seq_valid(seq) || !json_is_object(record) || !state_name_valid(name))
		return -EINVAL;
	r = dump_json(record, &text, &len);
	if (r < 0)
		return r;
	fd = deadletter_dir(d, name, true);
	if (fd < 0)
		return fd;
	snprintf(file, sizeof(file), "%" PRIu64 ".json", seq);
	return atomic_write_at(fd, file, text, len, true, 0600);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int deadletter_list(struct statedir *d, const char *name, uint64_t **ret_seqs, size_t *ret_n)
{
	_cleanup_free_ uint64_t *seqs = NULL;
	_cleanup_close_ int fd = -1;
	size_t n = 0, cap = 0;
	DIR *dir = NULL;
	struct dirent *de;
	int r;

	fd = deadletter_dir(d, name, false);
	if (fd == -ENOENT) {
		*ret_seqs = NULL;
		*ret_n = 0;
		return 0;
	}
	if (fd < 0)
		return fd;
	r = opendir_at(fd, &dir);
	if (r < 0)
		return r;
	while ((r = readdir_next(dir, &de)) > 0) {
		uint64_t seq = deadletter_seq_of(de->d_name);

		if (!seq || !dirent_is(fd, de, S_IFREG))
			continue;
		if (n == cap) {
			size_t ncap = MAX(cap * 2, (size_t)16);
			uint64_t *nv = reallocarray(seqs, ncap, sizeof(*seqs));

			if (!nv) {
				r = -ENOMEM;
				break;
			}
			seqs = nv;
			cap = ncap;
		}
		seqs[n++] = seq;
	}
	closedir(dir);
	if (r < 0)
		return r;
	if (n > 1)
		qsort(seqs, n, sizeof(*seqs), cmp_u64);
	*ret_seqs = TAKE_PTR(seqs);
	*ret_n = n;
	return 0;
}

int deadletter_next_seq(struct statedir *d, const char *name, uint64_t *ret_seq)
{
	_cleanup_free_ uint64_t *seqs = NULL;
	size_t n;
	int r = deadletter_list(d, name, &seqs, &n);

	if (r < 0)
		return r;
	if (n > 0 && seqs[n - 1] >= INT64_MAX)
		return -EOVERFLOW;
	*ret_seq = n > 0 ? seqs[n - 1] + 1 : 1;
	return 0;
}

int deadletter_read(struct statedir *d, const char *name, uint64_t seq, json_t **ret, char **reterr)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;
	char file[32];
	struct dbuf buf;
	json_error_t err;
	json_t *j;
	int r;

	if (!seq_valid(seq) || !state_name_valid(name))
		return errmsg(reterr, -EINVAL, "invalid dead letter name");
	snprintf(file, sizeof(file), "%" PRIu64 ".json", seq);
	if (asprintf(&path, "%s/" DEADLETTER_DIR "/%s/%s", d->path, name, file) < 0)
		return -ENOMEM;
	fd = deadletter_dir(d, name, false);
	if (fd == -ENOENT)
		return -ENOENT;
	if (fd < 0)
		return errmsg(reterr, fd, "%s: cannot open its directory: %s", path, strerror(-fd));

	dbuf_init(&buf, STATE_MAX_FILE_SIZE);
	r = read_file_at(fd, file, path, false, &buf, reterr);
	if (r >= 0)
		r = check_values(dbuf_str(&buf), buf.len, d->max_values, path, reterr);
	if (r < 0) {
		dbuf_free(&buf);
		return r;
	}
	j = json_loadb(dbuf_str(&buf), buf.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	dbuf_free(&buf);
	if (!j) {
		if (json_error_code(&err) == json_error_out_of_memory)
			return -ENOMEM;
		return errmsg(reterr, -EBADMSG, "%s:%d:%d: %s", path, err.line, err.column, err.text);
	}
	if (!json_is_object(j)) {
		json_decref(j);
		return errmsg(reterr, -EBADMSG, "%s: not a JSON object", path);
	}
	*ret = j;
	return 0;
}

int deadletter_remove(struct statedir *d, const char *name, uint64_t seq)
{
	_cleanup_close_ int fd = -1;
	char file[32];

	if (!statedir_locked(d))
		return -EPERM;
	if (!seq_valid(seq) || !state_name_valid(name))
		return -EINVAL;
	fd = deadletter_dir(d, name, false);
	if (fd < 0)
		return fd;
	snprintf(file, sizeof(file), "%" PRIu64 ".json", seq);
	if (unlinkat(fd, file, 0) < 0)
		return -errno;
	return fsync_dirfd(fd);
}
