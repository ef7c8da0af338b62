#include "cmuduo/net/buffer.h"

#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/base/logging.h"

/* Invariants: reader <= writer <= cap; data == NULL exactly when cap == 0, and
 * then reader == writer == 0 and flags == 0. Owned storage always has at least
 * MU_BUFFER_CHEAP_PREPEND bytes; only borrowed storage may be smaller. All size
 * arithmetic is done in uint64_t so that nothing wraps before it is checked
 * against UINT32_MAX. */

#define MAX_CAP ((uint64_t)UINT32_MAX)

static bool is_borrowed(const mu_buffer_t *b) {
  return (b->flags & MU_BUFFER_BORROWED) != 0;
}

static void forget_storage(mu_buffer_t *b) {
  if (!is_borrowed(b))
    mu_free(b->data);
  mu_buffer_init(b);
}

void mu_buffer_init(mu_buffer_t *b) {
  *b = (mu_buffer_t)MU_BUFFER_INIT;
}

void mu_buffer_destroy(mu_buffer_t *b) {
  forget_storage(b);
}

mu_buffer_t *mu_buffer_new(void) {
  mu_buffer_t *b = mu_malloc(sizeof *b);
  if (b != NULL)
    mu_buffer_init(b);
  return b;
}

void mu_buffer_free(mu_buffer_t *b) {
  if (b == NULL)
    return;
  mu_buffer_destroy(b);
  mu_free(b);
}

size_t mu_buffer_internal_capacity(const mu_buffer_t *b) {
  return b->cap;
}

/* ---- making space --------------------------------------------------------- */

/* Replaces the storage with a fresh owned block of new_cap bytes holding the
 * readable bytes at the cheap-prepend offset. Used for the first allocation, to
 * leave borrowed storage, and by shrink; the old block is untouched on failure. */
static int move_to_new_block(mu_buffer_t *b, uint64_t new_cap) {
  char *mem = mu_malloc((size_t)new_cap);
  if (mem == NULL)
    return -ENOMEM;
  uint32_t readable = b->writer - b->reader;
  if (readable > 0)
    memcpy(mem + MU_BUFFER_CHEAP_PREPEND, b->data + b->reader, readable);
  forget_storage(b);
  b->data = mem;
  b->cap = (uint32_t)new_cap;
  b->reader = MU_BUFFER_CHEAP_PREPEND;
  b->writer = MU_BUFFER_CHEAP_PREPEND + readable;
  return 0;
}

static uint64_t max_u64(uint64_t a, uint64_t b) {
  return a > b ? a : b;
}

/* Slides the readable bytes down to the cheap prepend, muduo's in-place case. */
static void compact(mu_buffer_t *b) {
  uint32_t readable = b->writer - b->reader;
  if (b->reader != MU_BUFFER_CHEAP_PREPEND && readable > 0)
    memmove(b->data + MU_BUFFER_CHEAP_PREPEND, b->data + b->reader, readable);
  b->reader = MU_BUFFER_CHEAP_PREPEND;
  b->writer = MU_BUFFER_CHEAP_PREPEND + readable;
}

/* Grows so that len (<= UINT32_MAX) more bytes fit. The new size at least
 * doubles (clamped to the 4 GiB limit) so a run of appends costs amortised O(1).
 * The layout is kept, as muduo's vector resize keeps it, unless that alone would
 * pass the limit while the compacted content still fits under it. */
static int grow(mu_buffer_t *b, uint64_t len) {
  uint64_t readable = b->writer - b->reader;
  uint64_t compacted = MU_BUFFER_CHEAP_PREPEND + readable + len;
  if (compacted > MAX_CAP)
    return -EMSGSIZE;
  uint64_t in_place = (uint64_t)b->writer + len;
  if (is_borrowed(b)) {
    /* Never resize memory we do not own: copy out, sized for the content. */
    return move_to_new_block(
        b, max_u64(compacted, MU_BUFFER_CHEAP_PREPEND + MU_BUFFER_INITIAL_SIZE));
  }
  uint64_t need = in_place <= MAX_CAP ? in_place : compacted;
  uint64_t doubled = 2 * (uint64_t)b->cap;
  uint64_t new_cap = max_u64(need, doubled < MAX_CAP ? doubled : MAX_CAP);
  char *mem = mu_realloc(b->data, (size_t)new_cap);
  if (mem == NULL)
    return -ENOMEM;
  b->data = mem;
  b->cap = (uint32_t)new_cap;
  if (in_place > new_cap)
    compact(b);
  return 0;
}

static int make_space(mu_buffer_t *b, uint64_t len) {
  if (b->data == NULL) {
    uint64_t body = max_u64(MU_BUFFER_INITIAL_SIZE, len);
    if (MU_BUFFER_CHEAP_PREPEND + body > MAX_CAP)
      return -EMSGSIZE;
    return move_to_new_block(b, MU_BUFFER_CHEAP_PREPEND + body);
  }
  /* Moving pays off when the prependable space beyond the cheap prepend plus the
   * writable space holds len; otherwise the storage must grow. */
  uint64_t spare = (uint64_t)b->reader + (b->cap - b->writer);
  if (spare >= MU_BUFFER_CHEAP_PREPEND + len) {
    compact(b);
    return 0;
  }
  return grow(b, len);
}

int mu_buffer_ensure_writable(mu_buffer_t *b, size_t len) {
  if (mu_buffer_writable_bytes(b) >= len)
    return 0;
  if ((uint64_t)len > MAX_CAP)
    return -EMSGSIZE;
  return make_space(b, len);
}

void mu_buffer_has_written(mu_buffer_t *b, size_t len) {
  if (len > mu_buffer_writable_bytes(b))
    MU_LOG_FATAL("mu_buffer_has_written: %zu bytes but only %zu writable", len,
                 mu_buffer_writable_bytes(b));
  b->writer += (uint32_t)len;
}

void mu_buffer_unwrite(mu_buffer_t *b, size_t len) {
  if (len > mu_buffer_readable_bytes(b))
    MU_LOG_FATAL("mu_buffer_unwrite: %zu bytes but only %zu readable", len,
                 mu_buffer_readable_bytes(b));
  b->writer -= (uint32_t)len;
}

/* ---- appending and prepending ----------------------------------------------- */

/* True when [p, p+len) lies inside the readable bytes, whose offset it returns. */
static bool within_readable(const mu_buffer_t *b, const void *p, size_t len,
                            uint32_t *offset) {
  if (b->data == NULL || p == NULL)
    return false;
  uintptr_t start = (uintptr_t)(b->data + b->reader);
  uintptr_t end = (uintptr_t)(b->data + b->writer);
  uintptr_t q = (uintptr_t)p;
  if (q < start || q > end || len > end - q)
    return false;
  *offset = (uint32_t)(q - start);
  return true;
}

int mu_buffer_append(mu_buffer_t *b, const void *data, size_t len) {
  if (len == 0)
    return 0;
  /* Appending a piece of the buffer's own content must survive the storage
   * moving under it, so remember it by offset. */
  uint32_t self_offset = 0;
  bool self = within_readable(b, data, len, &self_offset);
  int rc = mu_buffer_ensure_writable(b, len);
  if (rc != 0)
    return rc;
  if (self)
    data = b->data + b->reader + self_offset;
  memcpy(b->data + b->writer, data, len);
  b->writer += (uint32_t)len;
  return 0;
}

int mu_buffer_append_str(mu_buffer_t *b, const char *s) {
  return mu_buffer_append(b, s, strlen(s));
}

int mu_buffer_prepend(mu_buffer_t *b, const void *data, size_t len) {
  if (len == 0)
    return 0;
  if (b->data == NULL) {
    /* A buffer without storage would get the cheap prepend on its first write,
     * so it may be given it now. */
    if (len > MU_BUFFER_CHEAP_PREPEND)
      return -ENOSPC;
    int rc = make_space(b, 0);
    if (rc != 0)
      return rc;
  }
  if (len > b->reader)
    return -ENOSPC;
  b->reader -= (uint32_t)len;
  memmove(b->data + b->reader, data, len);
  return 0;
}

/* ---- consuming -------------------------------------------------------------- */

void mu_buffer_retrieve_until(mu_buffer_t *b, const char *end) {
  /* Without storage there is nothing to consume, and the "" that peek returns
   * may be a different literal in the caller's translation unit. */
  if (b->data == NULL)
    return;
  uintptr_t start = (uintptr_t)mu_buffer_peek(b);
  uintptr_t e = (uintptr_t)end;
  if (e < start || e - start > mu_buffer_readable_bytes(b))
    MU_LOG_FATAL("mu_buffer_retrieve_until: end is outside the readable bytes");
  mu_buffer_retrieve(b, e - start);
}

size_t mu_buffer_retrieve_into(mu_buffer_t *b, void *out, size_t len) {
  size_t n = mu_buffer_readable_bytes(b);
  if (n > len)
    n = len;
  if (n > 0)
    memcpy(out, mu_buffer_peek(b), n);
  mu_buffer_retrieve(b, n);
  return n;
}

char *mu_buffer_retrieve_all_as_string(mu_buffer_t *b, size_t *len_out) {
  size_t n = mu_buffer_readable_bytes(b);
  if (n == SIZE_MAX) { /* only reachable where size_t is 32 bits */
    errno = ENOMEM;
    return NULL;
  }
  char *s = mu_malloc(n + 1);
  if (s == NULL)
    return NULL;
  if (n > 0)
    memcpy(s, mu_buffer_peek(b), n);
  s[n] = '\0';
  if (len_out != NULL)
    *len_out = n;
  mu_buffer_retrieve_all(b);
  return s;
}

/* ---- searching -------------------------------------------------------------- */

/* Bytes from start to the end of the readable range, or -1 when start is not in
 * [peek, begin_write] (a caller's stale pointer finds nothing rather than
 * reading outside the buffer). */
static ptrdiff_t span_from(const mu_buffer_t *b, const char *start) {
  uintptr_t first = (uintptr_t)mu_buffer_peek(b);
  uintptr_t s = (uintptr_t)start;
  if (start == NULL || s < first || s - first > mu_buffer_readable_bytes(b))
    return -1;
  return (ptrdiff_t)(mu_buffer_readable_bytes(b) - (s - first));
}

const char *mu_buffer_find_crlf(const mu_buffer_t *b) {
  return mu_buffer_find_crlf_from(b, mu_buffer_peek(b));
}

const char *mu_buffer_find_crlf_from(const mu_buffer_t *b, const char *start) {
  ptrdiff_t n = span_from(b, start);
  if (n < 2)
    return NULL;
  return memmem(start, (size_t)n, "\r\n", 2);
}

const char *mu_buffer_find_eol(const mu_buffer_t *b) {
  return mu_buffer_find_eol_from(b, mu_buffer_peek(b));
}

const char *mu_buffer_find_eol_from(const mu_buffer_t *b, const char *start) {
  ptrdiff_t n = span_from(b, start);
  if (n < 1)
    return NULL;
  return memchr(start, '\n', (size_t)n);
}

/* ---- integers in network byte order ------------------------------------------ */

/* memcpy keeps every access byte-wise, so no alignment is assumed. */
static void peek_exact(const mu_buffer_t *b, void *out, size_t n, const char *fn) {
  if (mu_buffer_readable_bytes(b) < n)
    MU_LOG_FATAL("%s: needs %zu readable bytes, has %zu", fn, n,
                 mu_buffer_readable_bytes(b));
  memcpy(out, mu_buffer_peek(b), n);
}

int mu_buffer_append_int8(mu_buffer_t *b, int8_t x) {
  return mu_buffer_append(b, &x, sizeof x);
}

int mu_buffer_append_int16(mu_buffer_t *b, int16_t x) {
  uint16_t be = htobe16((uint16_t)x);
  return mu_buffer_append(b, &be, sizeof be);
}

int mu_buffer_append_int32(mu_buffer_t *b, int32_t x) {
  uint32_t be = htobe32((uint32_t)x);
  return mu_buffer_append(b, &be, sizeof be);
}

int mu_buffer_append_int64(mu_buffer_t *b, int64_t x) {
  uint64_t be = htobe64((uint64_t)x);
  return mu_buffer_append(b, &be, sizeof be);
}

int mu_buffer_prepend_int8(mu_buffer_t *b, int8_t x) {
  return mu_buffer_prepend(b, &x, sizeof x);
}

int mu_buffer_prepend_int16(mu_buffer_t *b, int16_t x) {
  uint16_t be = htobe16((uint16_t)x);
  return mu_buffer_prepend(b, &be, sizeof be);
}

int mu_buffer_prepend_int32(mu_buffer_t *b, int32_t x) {
  uint32_t be = htobe32((uint32_t)x);
  return mu_buffer_prepend(b, &be, sizeof be);
}

int mu_buffer_prepend_int64(mu_buffer_t *b, int64_t x) {
  uint64_t be = htobe64((uint64_t)x);
  return mu_buffer_prepend(b, &be, sizeof be);
}

static int8_t peek8(const mu_buffer_t *b, const char *fn) {
  int8_t x;
  peek_exact(b, &x, sizeof x, fn);
  return x;
}

static int16_t peek16(const mu_buffer_t *b, const char *fn) {
  uint16_t be;
  peek_exact(b, &be, sizeof be, fn);
  return (int16_t)be16toh(be);
}

static int32_t peek32(const mu_buffer_t *b, const char *fn) {
  uint32_t be;
  peek_exact(b, &be, sizeof be, fn);
  return (int32_t)be32toh(be);
}

static int64_t peek64(const mu_buffer_t *b, const char *fn) {
  uint64_t be;
  peek_exact(b, &be, sizeof be, fn);
  return (int64_t)be64toh(be);
}

int8_t mu_buffer_peek_int8(const mu_buffer_t *b) {
  return peek8(b, __func__);
}

int16_t mu_buffer_peek_int16(const mu_buffer_t *b) {
  return peek16(b, __func__);
}

int32_t mu_buffer_peek_int32(const mu_buffer_t *b) {
  return peek32(b, __func__);
}

int64_t mu_buffer_peek_int64(const mu_buffer_t *b) {
  return peek64(b, __func__);
}

int8_t mu_buffer_read_int8(mu_buffer_t *b) {
  int8_t x = peek8(b, __func__);
  mu_buffer_retrieve(b, sizeof x);
  return x;
}

int16_t mu_buffer_read_int16(mu_buffer_t *b) {
  int16_t x = peek16(b, __func__);
  mu_buffer_retrieve(b, sizeof x);
  return x;
}

int32_t mu_buffer_read_int32(mu_buffer_t *b) {
  int32_t x = peek32(b, __func__);
  mu_buffer_retrieve(b, sizeof x);
  return x;
}

int64_t mu_buffer_read_int64(mu_buffer_t *b) {
  int64_t x = peek64(b, __func__);
  mu_buffer_retrieve(b, sizeof x);
  return x;
}

/* ---- storage management ------------------------------------------------------- */

/* A fresh block rather than memmove + realloc: on failure the buffer is exactly
 * as it was, and the one copy costs the same as the memmove would. On borrowed
 * storage this also ends the loan. */
int mu_buffer_shrink(mu_buffer_t *b, size_t reserve) {
  uint64_t readable = mu_buffer_readable_bytes(b);
  if ((uint64_t)reserve > MAX_CAP)
    return -EMSGSIZE;
  uint64_t size = MU_BUFFER_CHEAP_PREPEND + readable + reserve;
  if (size > MAX_CAP)
    return -EMSGSIZE;
  if (readable == 0 && reserve == 0) {
    forget_storage(b);
    return 0;
  }
  return move_to_new_block(b, size);
}

void mu_buffer_swap(mu_buffer_t *a, mu_buffer_t *b) {
  mu_buffer_t t = *a;
  *a = *b;
  *b = t;
}

void mu_buffer_borrow(mu_buffer_t *b, char *mem, size_t cap) {
  if (b->data != NULL)
    MU_LOG_FATAL("mu_buffer_borrow: the buffer already has storage");
  if (mem == NULL || cap == 0)
    return; /* nothing to lend: stays without storage */
  b->data = mem;
  /* Only the first 4 GiB - 1 of a larger block are used, the limit of any buffer. */
  b->cap = (uint64_t)cap > MAX_CAP ? UINT32_MAX : (uint32_t)cap;
  b->flags = MU_BUFFER_BORROWED;
  mu_buffer_retrieve_all(b);
}

int mu_buffer_end_borrow(mu_buffer_t *b) {
  if (!is_borrowed(b))
    return 0; /* never lent, or already copied out by a grow */
  uint64_t readable = mu_buffer_readable_bytes(b);
  if (readable == 0) {
    mu_buffer_init(b);
    return 0;
  }
  int rc = move_to_new_block(
      b, MU_BUFFER_CHEAP_PREPEND + max_u64(MU_BUFFER_INITIAL_SIZE, readable));
  if (rc != 0)
    mu_buffer_init(b);
  return rc;
}

void mu_buffer_release_if_empty(mu_buffer_t *b) {
  if (b->data != NULL && mu_buffer_readable_bytes(b) == 0)
    forget_storage(b);
}

/* ---- reading from a file descriptor --------------------------------------------- */

/* One readv fills the writable space first and spills into a 64 KiB stack block,
 * so a buffer need not be sized for the largest read up front. As in muduo the
 * stack block is only offered while the writable space is smaller than it, so
 * one call reads at most max(writable, 64 KiB + writable) bytes; a level-triggered
 * poller reports the rest on the next round. A buffer without storage reads
 * everything into the stack block and then gets storage sized for it. EINTR is
 * returned like any other errno: the caller decides whether to retry. */
ssize_t mu_buffer_read_fd(mu_buffer_t *b, int fd, int *saved_errno) {
  char extra[MU_BUFFER_EXTRA_READ];
  size_t writable = mu_buffer_writable_bytes(b);
  struct iovec vec[2];
  vec[0].iov_base = b->data != NULL ? b->data + b->writer : NULL;
  vec[0].iov_len = writable;
  vec[1].iov_base = extra;
  vec[1].iov_len = sizeof extra;
  int iovcnt = writable < sizeof extra ? 2 : 1;
  ssize_t n = readv(fd, vec, iovcnt);
  if (n < 0) {
    if (saved_errno != NULL)
      *saved_errno = errno;
    return -1;
  }
  if ((size_t)n <= writable) {
    b->writer += (uint32_t)n;
    return n;
  }
  b->writer = b->cap;
  int rc = mu_buffer_append(b, extra, (size_t)n - writable);
  if (rc != 0) {
    /* The bytes in the writable space stay; the spilled ones are lost. */
    if (saved_errno != NULL)
      *saved_errno = -rc;
    return -1;
  }
  return n;
}
