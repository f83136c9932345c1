/* SPDX-License-Identifier: MIT */
/*
 * state: the durable state directory.
 *
 *   STATE_DIR/.lock                 flock()ed by the running daemon
 *   STATE_DIR/NAME.json             one file per listener (format below)
 *   STATE_DIR/dead-letters/NAME/SEQ.json
 *
 * Every write is atomic and durable: a temporary file in the same directory
 * (".NAME.json.XXXXXX"), written fully, fsync()ed, renamed over the target,
 * closed, then the directory fsync()ed. A failed fsync is never retried on
 * the same file: the write fails, the temporary file is removed, and the old
 * file stays as it was.
 *
 * A listener's commits recycle: when the file a commit replaces is 16 KiB
 * or more, or the listener's previous commit finished less than a second
 * before (a busy listener's), the rename is an exchange (renameat2
 * RENAME_EXCHANGE, where the file system has it), so that file stays under
 * the temporary name as the "spare", and the next commit writes over it
 * instead of creating a file. Its pages and disk blocks are reused, and the
 * rename frees nothing; for large, frequent commits that is most of the
 * cost of the file system's side, and even a small file is written over
 * in two thirds of the time it takes to make one. Other small files are
 * replaced as before, so an idle listener keeps no spare. A reader could
 * still hold the spare open from when it was NAME.json, so it is written
 * over only under an exclusive flock() taken without waiting (else a new
 * file is made) and held until it is in place; readers take a shared
 * flock() and check that what they locked is still NAME.json (state_load()
 * does). Spares are removed with
 * the other temporary files when the directory is opened with the lock.
 *
 * A listener file holds the listener's identity (what stream it resumes), its
 * resume cursor, and the notifications received but not yet fully handled
 * ("pending"), each with how many of its triggers have completed:
 *
 *   {"format":"ssewatchd-state","version":1,"listener":"wiki",
 *    "identity":{"protocol":"sse","url":"https://..."},
 *    "cursor":"abc" | 42 | null, "next_seq":18, "delivered":16, "retry_ms":0,
 *    "pending":[{"seq":17,"received_usec":...,"triggers_done":0,
 *                "notification":{...}}]}
 *
 * Functions here never log; they return negative errno and, where the reason
 * needs words, a message in *reterr (caller frees) naming the file and what is
 * wrong with it.
 */
#ifndef SSEWATCHD_STATE_H
#define SSEWATCHD_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dbuf.h"
#include "strv.h"
#include "uring.h"

#define STATE_FORMAT        "ssewatchd-state"
#define STATE_VERSION       1
#define STATE_MAX_FILE_SIZE (1024u * 1024 * 1024)	/* refuse to load anything larger */
/* A listener stops reading once its queue holds this much notification text. */
#define STATE_PENDING_BYTES_MAX (16u * 1024 * 1024)
/* The largest max_event_size a configuration may set: an event's data escaped
 * in the state file may take 6 times its size (\u00XX), and with the queue
 * besides, the largest still fits STATE_MAX_FILE_SIZE. */
#define STATE_EVENT_SIZE_MAX (128u * 1024 * 1024)
#define STATE_EVENT_SIZE_DEFAULT (1024u * 1024)	/* max_event_size when not set */

/*
 * jansson builds every JSON value of a file it reads, at tens of bytes each:
 * a file of the allowed size made of tiny values (corrupt, or not ours)
 * would take it tens of gigabytes. What a listener writes holds its queue
 * (at most STATE_PENDING_BYTES_MAX of notification text, a value taking two
 * bytes at least), one more notification of max_event_size, and a few
 * values per entry; a state or dead letter with more values than this is
 * refused before it is parsed.
 */
size_t state_max_values(size_t max_event_size);

/* An upper bound of the JSON values in text (exact for valid JSON without
 * empty containers), counting no further than stop + 1. */
size_t state_json_values(const char *text, size_t len, size_t stop);

/* ------------------------------------------------------------ the directory */

struct statedir;

enum {
	STATEDIR_LOCK = 1 << 0,		/* take the exclusive lock; fail with -EBUSY if held */
	STATEDIR_CREATE = 1 << 1,	/* create the directory (mode 0700) if missing */
};

/*
 * Opens the state directory. With STATEDIR_LOCK it also takes the lock
 * (non-blocking), checks that a file can be created, written, fsync()ed and
 * removed there, and removes temporary files left by a crash. Without it
 * (read-only commands) it only opens the directory.
 * -EBUSY: another process holds the lock. -EROFS/-EACCES/-ENOSPC...: the probe
 * failed; *reterr says what was tried.
 */
int statedir_open(const char *path, unsigned flags, struct statedir **ret, char **reterr);
struct statedir *statedir_free(struct statedir *d);	/* releases the lock */
/* Files read from now on may hold notifications of this size (the largest
 * max_event_size of the configuration; never lowered). Until the first
 * call, the default max_event_size. */
void statedir_allow_event_size(struct statedir *d, size_t max_event_size);
const char *statedir_path(const struct statedir *d);
bool statedir_locked(const struct statedir *d);

/* Names of all listeners with a state file, sorted; NULL-terminated, caller frees with strv_free() (strv.h). */
int statedir_list(struct statedir *d, char ***ret_names);

/*
 * Writes data atomically and durably as name in the directory dirfd (the
 * recipe above). sync=false skips both fsyncs (for non-durable files such as
 * the status file). mode applies to a newly created file.
 */
int atomic_write_at(int dirfd, const char *name, const void *data, size_t len, bool sync, unsigned mode);

/*
 * The same, for a text written in pieces (so that it is never whole in
 * memory): atomic_write_open() makes the temp file next to name and returns
 * it open (its name in *ret_tmp); the caller writes to it, then either
 * atomic_write_close() puts it in place as name (closing fd, freeing *tmp;
 * on failure nothing is left), or atomic_write_abandon() removes it.
 */
int atomic_write_open(int dirfd, const char *name, unsigned mode, char **ret_tmp);
int atomic_write_close(int dirfd, int fd, char **tmp, const char *name, bool sync);
void atomic_write_abandon(int dirfd, int fd, char **tmp);

/* ------------------------------------------------------------ listener state */

struct state_pending {
	uint64_t seq;			/* local delivery number, strictly increasing */
	json_t *notification;		/* private, owned; use state_pending_notification() */
	uint32_t triggers_done;		/* how many of the listener's triggers completed */
	uint64_t received_usec;		/* CLOCK_REALTIME when received */
	char *text;			/* private: notification serialised, cached for commits */
	size_t text_bytes;		/* private: strlen(text) when pushed, counted in pending_bytes */
	struct text_slab *slab;		/* private: where text lives if not its own allocation */
};

struct listener_state {
	char *name;
	json_t *identity;		/* owned object; compare with json_equal() */
	json_t *cursor;			/* owned; NULL = never set, else a JSON string or integer */
	uint64_t next_seq;		/* seq the next notification gets; starts at 1 */
	uint64_t delivered;		/* notifications fully handled (statistics) */
	uint32_t retry_ms;		/* sse: the server's last retry field, 0 = none */
	/* Without a cursor, whether the configured start (aviso from_id or
	 * from_date) still applies, as it does with no state file at all;
	 * false means "live" (state reset --live). Written only when true and
	 * the cursor null. */
	bool bootstrap;
	struct state_pending *pending;	/* oldest first */
	size_t n_pending;
	size_t pending_bytes;		/* sum of the pending notifications' JSON sizes */
	size_t cap_pending;
	/* Private: pending points this many slots into its allocation (pop
	 * advances it, so push and pop are amortised O(1)). Do not touch. */
	size_t pending_head;
	struct text_slab *slab;		/* private: where copied texts go; freed once empty */
};

/* A valid listener name: [A-Za-z0-9_.-]{1,64}, and not "." or "..". */
bool state_name_valid(const char *name);

/*
 * A copy of identity with the credentials of its "url" / "base_url" hidden
 * (url_hide_secrets()), as identities are made now; NULL on OOM. Earlier
 * builds kept them: compare and show a loaded identity through this.
 */
json_t *state_identity_without_secrets(const json_t *identity);

/* identity is borrowed (a reference is taken). */
struct listener_state *listener_state_new(const char *name, json_t *identity);
struct listener_state *listener_state_free(struct listener_state *s);

/*
 * Appends a notification (the reference is stolen, also on failure) with the
 * next seq. Returns 0 and the seq in *ret_seq.
 */
int listener_state_push(struct listener_state *s, json_t *notification, uint64_t received_usec,
			uint64_t *ret_seq);

/*
 * Appends a notification given as its text: compact JSON with sorted keys, as
 * jsonw_dumps() writes it. A copy of the len bytes is kept, packed with its
 * neighbours in shared blocks: a fast stream pays no malloc and free per
 * notification. The tree is built only if someone asks for it.
 */
int listener_state_push_copy(struct listener_state *s, const char *text, size_t len, uint64_t received_usec,
			     uint64_t *ret_seq);

/* The notification as compact JSON with sorted keys (cached); NULL on OOM.
 * The _len form also gives its length (0 with NULL), not counted again
 * when it is known. */
const char *state_pending_text(const struct state_pending *p);
const char *state_pending_text_len(const struct state_pending *p, size_t *ret_len);

/* The notification (borrowed; parsed from its text once, on first use); NULL on OOM. */
json_t *state_pending_notification(const struct state_pending *p);

/* Removes the oldest pending notification and counts it as delivered. */
void listener_state_pop(struct listener_state *s);

/* The oldest pending notification (pending[0]), NULL if there is none. */
struct state_pending *listener_state_oldest(struct listener_state *s);

/*
 * Undoes what was done since the last successful state_save(), for a commit
 * that failed: drops the pending notifications with seq >= next_seq (pushed
 * since; none of them can have been popped, as no trigger runs before its
 * commit), and puts next_seq and the cursor (borrowed, NULL = unset) back to
 * the saved values, even where that moves the cursor backwards.
 */
void listener_state_rollback(struct listener_state *s, uint64_t next_seq, json_t *cursor);

/*
 * Sets the cursor (the reference is stolen, also on failure; NULL = unset).
 * An integer cursor never moves backwards: a smaller integer than the current
 * one returns -ERANGE and changes nothing.
 */
int listener_state_set_cursor(struct listener_state *s, json_t *cursor);

/*
 * Sets a string cursor from n bytes of UTF-8 without NUL, CR or LF (else
 * -EINVAL, as for a string cursor over an integer one). A cursor no one else
 * holds a reference to is changed in place: a stream with a new id for every
 * event makes no new value for each.
 */
int listener_state_set_cursor_string(struct listener_state *s, const char *v, size_t n);

/* Serialises to the file format above. Returns a new reference, or NULL on OOM. */
json_t *listener_state_to_json(const struct listener_state *s);

/*
 * Validates a parsed file and builds the state. expected_name is the listener
 * the file is for (the "listener" member must match; NULL accepts any valid
 * listener name). source names the file in messages. -EBADMSG with *reterr on any problem: wrong format or version,
 * missing or mistyped members, seq not increasing, triggers_done or counters
 * out of range, ... Never accepts part of a file.
 */
int listener_state_from_json(const json_t *j, const char *expected_name, const char *source,
			     struct listener_state **ret, char **reterr);

/* Parses bytes (bounded by STATE_MAX_FILE_SIZE and state_max_values() of the
 * largest max_event_size) then listener_state_from_json(). */
int listener_state_from_bytes(const char *data, size_t len, const char *expected_name,
			      const char *source, struct listener_state **ret, char **reterr);
/* The same, with at most max_values JSON values. */
int listener_state_from_bytes_max(const char *data, size_t len, size_t max_values, const char *expected_name,
				  const char *source, struct listener_state **ret, char **reterr);

/*
 * Loads NAME.json. -ENOENT if there is none (a new listener). -EBADMSG with
 * *reterr if it is corrupt: the file is left untouched.
 */
int state_load(struct statedir *d, const char *name, struct listener_state **ret, char **reterr);

/* Writes NAME.json atomically and durably. Requires the lock. */
int state_save(struct statedir *d, const struct listener_state *s, char **reterr);

/*
 * state_save() in two halves, so the disk writes while the caller goes on:
 * state_save_begin() writes the temp file; then come its fsync, the rename
 * into place and the directory's fsync. With a ring (statedir_set_uring()),
 * begin hands the write and the file's fsync to the kernel's workers, and
 * state_save_poll() moves the save on as they end, without waiting: the
 * op's sync.done (the caller's) is called when one has ended and the save
 * can be polled again, and state_save_advance() does the rename and starts
 * the directory's fsync as soon as the file's has ended. Without a ring,
 * begin writes and starts the writeback (sync_file_range), and poll does
 * the rest at once. state_save_finish() waits for the end in either case.
 * Nothing is durable, and nothing has replaced the previous file, before
 * poll or finish report the end. A failure leaves no temp file and op
 * idle; state_save_abandon() drops a begun save (waiting for the kernel's
 * work on it to end).
 */
enum state_save_phase {
	STATE_SAVE_IDLE,
	STATE_SAVE_WRITTEN,	/* the temp file written; its fsync not started */
	STATE_SAVE_SYNCING,	/* the temp file's write and fsync in the kernel's hands */
	STATE_SAVE_PLACED,	/* renamed into place; the directory's fsync in flight */
};

struct state_save_op {
	enum state_save_phase phase;
	int fd;			/* the temp file until placed, else -1 */
	bool exchanged;		/* placed by an exchange: tmp names the file it replaced */
	bool often;		/* commits often: keep a spare whatever its size */
	char *tmp;		/* its name in the state directory */
	char *file;		/* the name it becomes */
	char *spare;		/* the file it replaced last time, kept to be written over next time */
	uint64_t finished_usec;	/* CLOCK_MONOTONIC when the last commit finished; 0: none yet */
	struct dbuf text;	/* the text the kernel writes, while it does */
	struct uring_req write;	/* ...its write */
	struct uring_req sync;	/* the fsync in flight; done and userdata are the caller's */
	bool dir_sync_on_ring;	/* placed: the directory's fsync went to the ring */
};
#define STATE_SAVE_OP_IDLE ((struct state_save_op){ .phase = STATE_SAVE_IDLE, .fd = -1 })

/* The ring begun saves hand their writes and syncs to (not owned; NULL:
 * none). No save may be in flight when it changes. */
void statedir_set_uring(struct statedir *d, struct uring *q);

int state_save_begin(struct statedir *d, const struct listener_state *s, struct state_save_op *op, char **reterr);
/* 1 when the save is durable and in place, 0 while a sync is in flight,
 * negative if it failed (op is then idle). */
int state_save_poll(struct statedir *d, struct state_save_op *op, char **reterr);
int state_save_finish(struct statedir *d, struct state_save_op *op, char **reterr);
/*
 * Without waiting, and without ending the save: once the file's sync has
 * ended, renames it into place and starts the directory's sync, so that
 * the syncs go on while the caller is busy before it next polls. A failure
 * is kept for poll to report.
 */
void state_save_advance(struct statedir *d, struct state_save_op *op);
/* Whether a save is begun and not yet finished or abandoned. */
static inline bool state_save_active(const struct state_save_op *op)
{
	return op->phase != STATE_SAVE_IDLE;
}
/* Both halves at once, with op's spare, synchronously. */
int state_save_using(struct statedir *d, const struct listener_state *s, struct state_save_op *op, char **reterr);
/* Drops a begun save; the spare is kept. */
void state_save_abandon(struct statedir *d, struct state_save_op *op);
/* Drops a begun save and removes the spare: op is done with. */
void state_save_op_done(struct statedir *d, struct state_save_op *op);

/* Removes NAME.json (durably). Requires the lock. -ENOENT if absent. */
int state_remove(struct statedir *d, const char *name);

/* ------------------------------------------------------------ dead letters */

/* Under the state directory: DEADLETTER_DIR/NAME/SEQ.json. */
#define DEADLETTER_DIR "dead-letters"

/*
 * A dead letter is a JSON object, written as dead-letters/NAME/SEQ.json:
 *   {"listener":NAME,"seq":SEQ,"notification":{...},"trigger":"triggers[1]",
 *    "error":"exit status 3","attempts":4,"failed_usec":...}
 * and "kept":false when the notification's content could not be kept
 * (too large, nested too deep): such a one cannot be retried.
 */
int deadletter_write(struct statedir *d, const char *name, uint64_t seq, const json_t *record);

/* The seqs of NAME's dead letters, ascending. Caller frees *ret_seqs. 0 and n=0 if none. */
int deadletter_list(struct statedir *d, const char *name, uint64_t **ret_seqs, size_t *ret_n);

/* The first seq a new state of NAME may number notifications from: past its
 * dead letters, so that a later one never takes an existing one's name. */
int deadletter_next_seq(struct statedir *d, const char *name, uint64_t *ret_seq);

int deadletter_read(struct statedir *d, const char *name, uint64_t seq, json_t **ret, char **reterr);

/* Requires the lock. -ENOENT if absent. */
int deadletter_remove(struct statedir *d, const char *name, uint64_t seq);

#endif
