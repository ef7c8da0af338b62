/* A byte buffer for non-blocking I/O (muduo's Buffer).
 *
 *   +-------------------+------------------+------------------+
 *   | prependable bytes |  readable bytes  |  writable bytes  |
 *   |                   |     (CONTENT)    |                  |
 *   +-------------------+------------------+------------------+
 *   0      <=      reader      <=       writer      <=       cap
 *
 * Storage is allocated on the first write (MU_BUFFER_CHEAP_PREPEND +
 * MU_BUFFER_INITIAL_SIZE bytes, or more if the write needs it), so an empty
 * buffer costs only this struct. Making space first moves the content to the
 * front if that frees enough room, otherwise grows the storage.
 *
 * A buffer may also borrow storage it does not own (mu_buffer_borrow), the way a
 * connection lends the block it has just read into (on its loop thread's stack)
 * to a message callback without copying; if a borrowed buffer must grow, it
 * copies into storage of its own.
 *
 * One buffer holds less than 4 GiB; an operation that would pass that fails
 * with -EMSGSIZE. Not thread-safe: a buffer belongs to one thread at a time.
 */
#ifndef CMUDUO_NET_BUFFER_H
#define CMUDUO_NET_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MU_BUFFER_CHEAP_PREPEND 8u
#define MU_BUFFER_INITIAL_SIZE 1024u
/* The stack buffer read_fd adds to one readv. */
#define MU_BUFFER_EXTRA_READ 65536u

typedef struct mu_buffer {
  char *data; /* NULL until the first write */
  uint32_t cap;
  uint32_t reader;
  uint32_t writer;
  uint32_t flags; /* MU_BUFFER_BORROWED: data is not ours to free or grow */
} mu_buffer_t;

#define MU_BUFFER_BORROWED 1u
#define MU_BUFFER_INIT \
  { NULL, 0, 0, 0, 0 }

/* An empty buffer with no storage (same as MU_BUFFER_INIT). */
void mu_buffer_init(mu_buffer_t *b);
/* Frees owned storage; the buffer is empty afterwards and may be reused. */
void mu_buffer_destroy(mu_buffer_t *b);
/* A heap buffer; NULL (errno ENOMEM) on failure. */
mu_buffer_t *mu_buffer_new(void);
void mu_buffer_free(mu_buffer_t *b);

static inline size_t mu_buffer_readable_bytes(const mu_buffer_t *b) {
  return b->writer - b->reader;
}
static inline size_t mu_buffer_writable_bytes(const mu_buffer_t *b) {
  return b->cap - b->writer;
}
static inline size_t mu_buffer_prependable_bytes(const mu_buffer_t *b) {
  return b->reader;
}
/* The first readable byte (a valid pointer to "" when the buffer has no storage). */
static inline const char *mu_buffer_peek(const mu_buffer_t *b) {
  return b->data ? b->data + b->reader : "";
}
/* Where the next write goes; call ensure_writable first. */
static inline char *mu_buffer_begin_write(mu_buffer_t *b) {
  return b->data + b->writer;
}
size_t mu_buffer_internal_capacity(const mu_buffer_t *b);

/* Makes room for len more bytes. 0, -ENOMEM or -EMSGSIZE. */
int mu_buffer_ensure_writable(mu_buffer_t *b, size_t len);
/* After writing len bytes at begin_write() (len <= writable; fatal otherwise). */
void mu_buffer_has_written(mu_buffer_t *b, size_t len);
/* Takes back the last len written bytes (len <= readable; fatal otherwise). */
void mu_buffer_unwrite(mu_buffer_t *b, size_t len);

/* Appends len bytes. 0, -ENOMEM or -EMSGSIZE (nothing appended on error). data
 * may point into this buffer's own readable bytes. */
int mu_buffer_append(mu_buffer_t *b, const void *data, size_t len);
int mu_buffer_append_str(mu_buffer_t *b, const char *s);
/* Puts len bytes in front of the readable bytes: 0, or -ENOSPC if fewer than len
 * bytes are prependable (an empty buffer with no storage gets the cheap prepend,
 * allocating its storage: -ENOMEM if that fails). */
int mu_buffer_prepend(mu_buffer_t *b, const void *data, size_t len);

/* Consumes all readable bytes. Back to the start, as muduo's retrieveAll: the
 * whole storage is free again without moving a byte (reader and writer rest
 * at the cheap prepend, or at 0 in a borrowed block too small for one). */
static inline void mu_buffer_retrieve_all(mu_buffer_t *b) {
  b->reader = b->cap >= MU_BUFFER_CHEAP_PREPEND ? MU_BUFFER_CHEAP_PREPEND : 0;
  b->writer = b->reader;
}
/* Consumes len readable bytes (all of them if len >= readable). */
static inline void mu_buffer_retrieve(mu_buffer_t *b, size_t len) {
  if (len < mu_buffer_readable_bytes(b)) {
    b->reader += (uint32_t)len;
  } else {
    mu_buffer_retrieve_all(b);
  }
}
/* Consumes up to `end`, a pointer into [peek, peek + readable] (fatal otherwise). */
void mu_buffer_retrieve_until(mu_buffer_t *b, const char *end);
/* Copies up to len readable bytes to out, consumes them, returns the count. */
size_t mu_buffer_retrieve_into(mu_buffer_t *b, void *out, size_t len);
/* A NUL-terminated copy of all readable bytes, consumed; free with mu_free.
 * NULL (errno ENOMEM) on failure, and then nothing is consumed. */
char *mu_buffer_retrieve_all_as_string(mu_buffer_t *b, size_t *len_out);

/* Search the readable bytes; NULL when not found. The _from variants start at
 * `start`, which should lie in [peek, peek + readable]; outside it finds nothing. */
const char *mu_buffer_find_crlf(const mu_buffer_t *b);
const char *mu_buffer_find_crlf_from(const mu_buffer_t *b, const char *start);
const char *mu_buffer_find_eol(const mu_buffer_t *b);
const char *mu_buffer_find_eol_from(const mu_buffer_t *b, const char *start);

/* Integers in network byte order. append/prepend return 0 or a negative errno;
 * peek/read require at least sizeof(x) readable bytes (fatal otherwise: a
 * protocol codec checks readable_bytes first). */
int mu_buffer_append_int8(mu_buffer_t *b, int8_t x);
int mu_buffer_append_int16(mu_buffer_t *b, int16_t x);
int mu_buffer_append_int32(mu_buffer_t *b, int32_t x);
int mu_buffer_append_int64(mu_buffer_t *b, int64_t x);
int mu_buffer_prepend_int8(mu_buffer_t *b, int8_t x);
int mu_buffer_prepend_int16(mu_buffer_t *b, int16_t x);
int mu_buffer_prepend_int32(mu_buffer_t *b, int32_t x);
int mu_buffer_prepend_int64(mu_buffer_t *b, int64_t x);
int8_t mu_buffer_peek_int8(const mu_buffer_t *b);
int16_t mu_buffer_peek_int16(const mu_buffer_t *b);
int32_t mu_buffer_peek_int32(const mu_buffer_t *b);
int64_t mu_buffer_peek_int64(const mu_buffer_t *b);
int8_t mu_buffer_read_int8(mu_buffer_t *b);
int16_t mu_buffer_read_int16(mu_buffer_t *b);
int32_t mu_buffer_read_int32(mu_buffer_t *b);
int64_t mu_buffer_read_int64(mu_buffer_t *b);

/* Reallocates to exactly prepend + readable + reserve bytes (frees the storage
 * when that is an empty buffer with reserve 0). 0, -ENOMEM or -EMSGSIZE
 * (unchanged). A borrowed buffer ends up with owned storage (the loan ends). */
int mu_buffer_shrink(mu_buffer_t *b, size_t reserve);
void mu_buffer_swap(mu_buffer_t *a, mu_buffer_t *b);

/* Lends `mem` (cap bytes, not owned) to an empty buffer with no storage (fatal
 * if it has storage). mem NULL or cap 0 lends nothing; of a larger block only the
 * first 4 GiB - 1 bytes are used. The cheap prepend is kept when cap allows. */
void mu_buffer_borrow(mu_buffer_t *b, char *mem, size_t cap);
/* Ends a loan: an empty buffer returns to no storage; otherwise the readable
 * bytes are copied into owned storage. 0, or -ENOMEM (the buffer is then left
 * empty with no storage and the unread bytes are lost; the caller reports it).
 * A buffer that is not borrowed (never lent, or grown out of its loan) is left
 * as it is and 0 returned. */
int mu_buffer_end_borrow(mu_buffer_t *b);
/* Frees the storage if the buffer is empty: idle buffers hold no memory.
 * Borrowed storage is only forgotten. */
void mu_buffer_release_if_empty(mu_buffer_t *b);

/* Reads from fd with one readv into the writable space plus a 64 KiB stack
 * buffer, appending what landed in the stack buffer. Returns the bytes read,
 * 0 at end of file, or -1 with *saved_errno set (EAGAIN and EINTR included: the
 * caller decides). If memory runs out for the overflow, returns -1 with
 * *saved_errno = ENOMEM (EMSGSIZE past the 4 GiB limit), the bytes that fitted
 * are kept and the overflow is lost. One call reads at most writable + 64 KiB
 * (only writable once that is 64 KiB or more). */
ssize_t mu_buffer_read_fd(mu_buffer_t *b, int fd, int *saved_errno);

#ifdef __cplusplus
}
#endif
#endif
