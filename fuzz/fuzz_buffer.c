/* libFuzzer target: mu_buffer_t driven by the input, checked against a model.
 *
 * The input is a program: each step takes an opcode byte and the operands it
 * needs from the following bytes (zeros once the input runs out). The steps
 * are the whole public API: append (bytes, a slice of the buffer itself, a
 * string, integers), prepend, peek, every retrieve, ensure_writable and
 * writing at begin_write, unwrite, shrink, swap, the searches, the integer
 * reads, read_fd from a pipe filled with the fuzz bytes, borrowed storage of
 * any size (malloc'd to the byte, so ASan sees a step past it), destroy and
 * release_if_empty.
 *
 * The model is a plain byte array (the readable bytes) plus the prependable
 * count it expects. After every step the buffer must hold exactly the model's
 * bytes, prependable + readable + writable must be the capacity, owned storage
 * must keep room for the cheap prepend, an empty buffer must rest with the
 * cheap prepend in front, and find_crlf/find_eol must agree with a naive
 * search. Any mismatch aborts. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/net/buffer.h"
#include "buffer_int_by_width.h"

#define FAIL(...)                                                            \
  do {                                                                       \
    fprintf(stderr, "fuzz_buffer: mismatch at %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__);                                            \
    fputc('\n', stderr);                                                     \
    abort();                                                                 \
  } while (0)
#define EXPECT(cond)     \
  do {                   \
    if (!(cond))         \
      FAIL("%s", #cond); \
  } while (0)

/* The model never holds more than this, so one input stays fast: every step
 * checks the whole content. 256 KiB is four times the 64 KiB read spill block
 * and the pipe's capacity, past every size the buffer treats differently;
 * with 1 MiB the grown corpus ran four times slower for the same edges. */
#define MODEL_MAX (1u << 18)
#define MAX_STEPS 512

typedef struct input {
  const uint8_t *p;
  size_t n;
} input_t;

typedef struct model {
  uint8_t *bytes; /* the readable bytes */
  size_t len;
  size_t pre; /* expected prependable bytes */
} model_t;

typedef struct world {
  mu_buffer_t buf;
  model_t m;
  char *lent;      /* the block lent with mu_buffer_borrow, if any */
  size_t lent_cap; /* its size */
  int rfd, wfd;    /* a pipe for read_fd */
  size_t pipe_cap;
} world_t;

static uint8_t take_u8(input_t *in) {
  if (in->n == 0)
    return 0;
  in->n--;
  return *in->p++;
}

static uint16_t take_u16(input_t *in) {
  uint16_t hi = take_u8(in);
  return (uint16_t)(hi << 8 | take_u8(in));
}

static uint64_t take_u64(input_t *in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | take_u8(in);
  return v;
}

/* n bytes for an operand: from the input while it lasts, then a pattern, so a
 * short input can still ask for large writes. */
static void take_bytes(input_t *in, uint8_t *out, size_t n) {
  size_t k = n < in->n ? n : in->n;
  memcpy(out, in->p, k);
  in->p += k;
  in->n -= k;
  for (size_t i = k; i < n; i++)
    out[i] = (uint8_t)(i * 131u + 7u);
}

/* memcmp that allows NULL when there is nothing to compare. */
static bool same(const void *a, const void *b, size_t n) {
  return n == 0 || memcmp(a, b, n) == 0;
}

/* ---- the model ----------------------------------------------------------- */

static void model_append(model_t *m, const void *p, size_t n) {
  if (n == 0)
    return;
  uint8_t *grown = realloc(m->bytes, m->len + n);
  EXPECT(grown != NULL);
  m->bytes = grown;
  memcpy(m->bytes + m->len, p, n);
  m->len += n;
}

static void model_prepend(model_t *m, const void *p, size_t n) {
  uint8_t *grown = realloc(m->bytes, m->len + n + 1);
  EXPECT(grown != NULL);
  m->bytes = grown;
  memmove(m->bytes + n, m->bytes, m->len);
  memcpy(m->bytes, p, n);
  m->len += n;
  m->pre -= n;
}

static void model_consume(model_t *m, size_t n) {
  memmove(m->bytes, m->bytes + n, m->len - n);
  m->len -= n;
}

/* Where an empty buffer's reader rests: the cheap prepend, unless a borrowed
 * block is too small for it. */
static size_t home(const mu_buffer_t *b) {
  return b->cap >= MU_BUFFER_CHEAP_PREPEND ? MU_BUFFER_CHEAP_PREPEND : 0;
}

static void model_retrieve(world_t *w, size_t n) {
  if (n >= w->m.len) {
    w->m.len = 0;
    w->m.pre = home(&w->buf);
  } else {
    model_consume(&w->m, n);
    w->m.pre += n;
  }
}

/* The first CRLF (or LF) at or after `from`, by memchr: the searches are
 * checked after every step over the whole content (up to MODEL_MAX bytes), and
 * a byte-at-a-time loop there made the target thirty times slower once the
 * corpus grew large buffers. */
static ptrdiff_t model_find(const model_t *m, size_t from, bool crlf) {
  const uint8_t *p = m->bytes + (from < m->len ? from : m->len);
  const uint8_t *end = m->bytes + m->len;
  while (p < end) {
    const uint8_t *hit = memchr(p, crlf ? '\r' : '\n', (size_t)(end - p));
    if (hit == NULL)
      return -1;
    if (!crlf || (hit + 1 < end && hit[1] == '\n'))
      return hit - m->bytes;
    p = hit + 1;
  }
  return -1;
}

/* ---- the checks ------------------------------------------------------------ */

static bool borrowed(const mu_buffer_t *b) {
  return (b->flags & MU_BUFFER_BORROWED) != 0;
}

static void check_found(const world_t *w, const char *got, size_t from, bool crlf) {
  ptrdiff_t want = model_find(&w->m, from, crlf);
  const char *base = mu_buffer_peek(&w->buf);
  if (want < 0 && got != NULL)
    FAIL("%s from %zu found %td, the model nothing", crlf ? "crlf" : "eol", from,
         got - base);
  if (want >= 0 && got != base + want)
    FAIL("%s from %zu: %td, the model %td", crlf ? "crlf" : "eol", from,
         got ? got - base : -1, want);
}

static void check_searches(const world_t *w) {
  const mu_buffer_t *b = &w->buf;
  check_found(w, mu_buffer_find_crlf(b), 0, true);
  check_found(w, mu_buffer_find_eol(b), 0, false);
}

static void check_world(const world_t *w) {
  const mu_buffer_t *b = &w->buf;
  const model_t *m = &w->m;
  EXPECT(b->reader <= b->writer && b->writer <= b->cap);
  if (mu_buffer_readable_bytes(b) != m->len)
    FAIL("readable %zu, model %zu", mu_buffer_readable_bytes(b), m->len);
  if (!same(mu_buffer_peek(b), m->bytes, m->len))
    FAIL("content differs from the model (%zu bytes)", m->len);
  if (mu_buffer_prependable_bytes(b) != m->pre)
    FAIL("prependable %zu, model %zu", mu_buffer_prependable_bytes(b), m->pre);
  EXPECT(mu_buffer_prependable_bytes(b) + mu_buffer_readable_bytes(b) +
             mu_buffer_writable_bytes(b) ==
         mu_buffer_internal_capacity(b));
  EXPECT((b->data == NULL) == (b->cap == 0));
  if (b->data == NULL)
    EXPECT(b->reader == 0 && b->writer == 0 && b->flags == 0);
  if (borrowed(b))
    EXPECT(b->data == w->lent && b->cap == w->lent_cap);
  else if (b->data != NULL)
    EXPECT(b->cap >= MU_BUFFER_CHEAP_PREPEND); /* owned storage keeps the prepend */
  check_searches(w);
}

/* After an operation that may make space: the prependable count is unchanged,
 * or the content moved to the cheap prepend (compaction, first allocation,
 * leaving a loan). The first allocation and leaving a loan always move it. */
static void settle_pre(world_t *w, const mu_buffer_t *before) {
  size_t pre = mu_buffer_prependable_bytes(&w->buf);
  bool fresh = before->data == NULL && w->buf.data != NULL;
  bool left_loan = borrowed(before) && !borrowed(&w->buf);
  if (fresh || left_loan) {
    if (pre != MU_BUFFER_CHEAP_PREPEND)
      FAIL("new storage with prependable %zu", pre);
  } else if (pre != w->m.pre && pre != MU_BUFFER_CHEAP_PREPEND) {
    FAIL("prependable %zu after making space, was %zu", pre, w->m.pre);
  }
  w->m.pre = pre;
}

/* ---- steps --------------------------------------------------------------- */

static bool room_for(const world_t *w, size_t n) {
  return w->m.len + n <= MODEL_MAX;
}

static void step_append(world_t *w, input_t *in, size_t n) {
  if (!room_for(w, n))
    return;
  uint8_t *tmp = malloc(n + 1);
  EXPECT(tmp != NULL);
  take_bytes(in, tmp, n);
  mu_buffer_t before = w->buf;
  EXPECT(mu_buffer_append(&w->buf, tmp, n) == 0);
  if (n > 0)
    settle_pre(w, &before);
  model_append(&w->m, tmp, n);
  free(tmp);
}

/* Appending a slice of the buffer's own content must survive a reallocation. */
static void step_append_self(world_t *w, input_t *in) {
  size_t off = take_u16(in) % (w->m.len + 1);
  size_t n = take_u16(in) % (w->m.len - off + 1);
  if (!room_for(w, n))
    return;
  uint8_t *copy = malloc(n + 1);
  EXPECT(copy != NULL);
  memcpy(copy, w->m.bytes + off, n);
  mu_buffer_t before = w->buf;
  EXPECT(mu_buffer_append(&w->buf, mu_buffer_peek(&w->buf) + off, n) == 0);
  if (n > 0)
    settle_pre(w, &before);
  model_append(&w->m, copy, n);
  free(copy);
}

static void step_append_str(world_t *w, input_t *in) {
  char s[257];
  size_t n = take_u8(in);
  take_bytes(in, (uint8_t *)s, n);
  s[n] = '\0';
  n = strlen(s);
  mu_buffer_t before = w->buf;
  EXPECT(mu_buffer_append_str(&w->buf, s) == 0);
  if (n > 0)
    settle_pre(w, &before);
  model_append(&w->m, s, n);
}

/* Succeeds exactly when len bytes are prependable; a buffer without storage
 * counts as having the cheap prepend. */
static void step_prepend(world_t *w, input_t *in) {
  uint8_t tmp[32];
  size_t n = take_u8(in) % 20;
  take_bytes(in, tmp, n);
  bool bare = w->buf.data == NULL;
  size_t room = bare ? MU_BUFFER_CHEAP_PREPEND : w->m.pre;
  int rc = mu_buffer_prepend(&w->buf, tmp, n);
  if (n > room) {
    if (rc != -ENOSPC)
      FAIL("prepend %zu with %zu prependable: %d", n, room, rc);
    return;
  }
  if (rc != 0)
    FAIL("prepend %zu with %zu prependable: %d", n, room, rc);
  if (bare && n > 0)
    w->m.pre = MU_BUFFER_CHEAP_PREPEND;
  model_prepend(&w->m, tmp, n);
}

static void step_retrieve(world_t *w, input_t *in) {
  size_t n = take_u16(in);
  mu_buffer_retrieve(&w->buf, n);
  model_retrieve(w, n);
}

static void step_retrieve_until(world_t *w, input_t *in) {
  size_t k = take_u16(in) % (w->m.len + 1);
  mu_buffer_retrieve_until(&w->buf, mu_buffer_peek(&w->buf) + k);
  model_retrieve(w, k);
}

static void step_retrieve_all(world_t *w) {
  mu_buffer_retrieve_all(&w->buf);
  model_retrieve(w, w->m.len);
}

static void step_retrieve_into(world_t *w, input_t *in) {
  size_t len = take_u16(in);
  char *out = malloc(len ? len : 1); /* exactly len: ASan sees an overrun */
  EXPECT(out != NULL);
  size_t want = len < w->m.len ? len : w->m.len;
  size_t got = mu_buffer_retrieve_into(&w->buf, out, len);
  if (got != want)
    FAIL("retrieve_into %zu gave %zu, model %zu", len, got, want);
  EXPECT(same(out, w->m.bytes, got));
  model_retrieve(w, got);
  free(out);
}

static void step_retrieve_string(world_t *w) {
  size_t len = 12345;
  char *s = mu_buffer_retrieve_all_as_string(&w->buf, &len);
  EXPECT(s != NULL);
  EXPECT(len == w->m.len);
  EXPECT(same(s, w->m.bytes, len) && s[len] == '\0');
  mu_free(s);
  model_retrieve(w, w->m.len);
}

static void step_ensure(world_t *w, input_t *in) {
  size_t n = (size_t)take_u16(in) * (1 + take_u8(in) % 3);
  mu_buffer_t before = w->buf;
  EXPECT(mu_buffer_ensure_writable(&w->buf, n) == 0);
  EXPECT(mu_buffer_writable_bytes(&w->buf) >= n);
  settle_pre(w, &before);
}

/* Writes n bytes at begin_write but reports only `used` of them. */
static void step_write_direct(world_t *w, input_t *in) {
  size_t n = take_u16(in) % 5000;
  size_t used = n ? take_u16(in) % (n + 1) : 0;
  if (!room_for(w, n))
    return;
  mu_buffer_t before = w->buf;
  EXPECT(mu_buffer_ensure_writable(&w->buf, n) == 0);
  settle_pre(w, &before);
  uint8_t *tmp = malloc(n + 1);
  EXPECT(tmp != NULL);
  take_bytes(in, tmp, n);
  if (n > 0)
    memcpy(mu_buffer_begin_write(&w->buf), tmp, n);
  mu_buffer_has_written(&w->buf, used);
  model_append(&w->m, tmp, used);
  free(tmp);
}

static void step_unwrite(world_t *w, input_t *in) {
  size_t n = take_u16(in) % (w->m.len + 1);
  mu_buffer_unwrite(&w->buf, n);
  w->m.len -= n;
}

/* Exactly prepend + readable + reserve bytes, owned, content at the prepend;
 * an empty buffer with no reserve gives its storage up. */
static void step_shrink(world_t *w, input_t *in) {
  size_t reserve = take_u16(in) % 3000;
  EXPECT(mu_buffer_shrink(&w->buf, reserve) == 0);
  const mu_buffer_t *b = &w->buf;
  EXPECT(!borrowed(b));
  if (w->m.len == 0 && reserve == 0) {
    EXPECT(b->data == NULL);
    w->m.pre = 0;
    return;
  }
  EXPECT(mu_buffer_internal_capacity(b) == MU_BUFFER_CHEAP_PREPEND + w->m.len + reserve);
  EXPECT(mu_buffer_writable_bytes(b) == reserve);
  w->m.pre = MU_BUFFER_CHEAP_PREPEND;
}

static void step_swap(world_t *w) {
  mu_buffer_t *other = mu_buffer_new();
  EXPECT(other != NULL && other->data == NULL);
  mu_buffer_swap(&w->buf, other);
  EXPECT(w->buf.data == NULL && mu_buffer_readable_bytes(&w->buf) == 0);
  EXPECT(mu_buffer_readable_bytes(other) == w->m.len);
  EXPECT(same(mu_buffer_peek(other), w->m.bytes, w->m.len));
  mu_buffer_swap(&w->buf, other);
  EXPECT(other->data == NULL);
  mu_buffer_free(other);
}

/* The _from searches from any offset, and from starts outside the readable
 * bytes (still inside the storage) that must find nothing. */
static void step_find_from(world_t *w, input_t *in) {
  const mu_buffer_t *b = &w->buf;
  size_t k = take_u16(in) % (w->m.len + 1);
  const char *start = mu_buffer_peek(b) + k;
  check_found(w, mu_buffer_find_crlf_from(b, start), k, true);
  check_found(w, mu_buffer_find_eol_from(b, start), k, false);
  EXPECT(mu_buffer_find_crlf_from(b, NULL) == NULL);
  EXPECT(mu_buffer_find_eol_from(b, NULL) == NULL);
  if (b->data != NULL && mu_buffer_prependable_bytes(b) > 0) {
    const char *before = mu_buffer_peek(b) - 1;
    EXPECT(mu_buffer_find_crlf_from(b, before) == NULL);
    EXPECT(mu_buffer_find_eol_from(b, before) == NULL);
  }
  if (b->data != NULL && mu_buffer_writable_bytes(b) > 0) {
    const char *past = mu_buffer_peek(b) + w->m.len + 1;
    EXPECT(mu_buffer_find_crlf_from(b, past) == NULL);
    EXPECT(mu_buffer_find_eol_from(b, past) == NULL);
  }
}

static void be_bytes(uint64_t v, unsigned size, uint8_t *out) {
  for (unsigned i = 0; i < size; i++)
    out[i] = (uint8_t)(v >> (8 * (size - 1 - i)));
}

static int64_t be_value(const uint8_t *p, unsigned size) {
  uint64_t v = 0;
  for (unsigned i = 0; i < size; i++)
    v = v << 8 | p[i];
  switch (size) {
    case 1:
      return (int8_t)v;
    case 2:
      return (int16_t)v;
    case 4:
      return (int32_t)v;
    default:
      return (int64_t)v;
  }
}

static void step_int(world_t *w, input_t *in) {
  uint8_t how = take_u8(in);
  unsigned size = 1u << (how & 3);
  uint64_t v = take_u64(in);
  uint8_t be[8];
  be_bytes(v, size, be);
  switch ((how >> 2) % 4) {
    case 0: {
      mu_buffer_t before = w->buf;
      EXPECT(append_int(&w->buf, size, v) == 0);
      settle_pre(w, &before);
      model_append(&w->m, be, size);
      break;
    }
    case 1: {
      bool bare = w->buf.data == NULL;
      size_t room = bare ? MU_BUFFER_CHEAP_PREPEND : w->m.pre;
      int rc = prepend_int(&w->buf, size, v);
      if (size > room) {
        EXPECT(rc == -ENOSPC);
        break;
      }
      EXPECT(rc == 0);
      if (bare)
        w->m.pre = MU_BUFFER_CHEAP_PREPEND;
      model_prepend(&w->m, be, size);
      break;
    }
    case 2:
      if (w->m.len >= size && peek_int(&w->buf, size) != be_value(w->m.bytes, size))
        FAIL("peek_int%u differs", size * 8);
      break;
    default:
      if (w->m.len >= size) {
        int64_t want = be_value(w->m.bytes, size);
        if (read_int(&w->buf, size) != want)
          FAIL("read_int%u differs", size * 8);
        model_retrieve(w, size);
      }
      break;
  }
}

/* ---- read_fd ---------------------------------------------------------------- */

static void open_pipe(world_t *w) {
  int fds[2];
  EXPECT(pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
  w->rfd = fds[0];
  w->wfd = fds[1];
  int cap = fcntl(w->wfd, F_GETPIPE_SZ);
  w->pipe_cap = cap > 0 ? (size_t)cap : 4096;
}

static void close_pipe(world_t *w) {
  if (w->rfd >= 0)
    close(w->rfd);
  if (w->wfd >= 0)
    close(w->wfd);
  w->rfd = w->wfd = -1;
}

/* What one read_fd may take: the writable space, plus the 64 KiB stack block
 * while the writable space is smaller than it. */
static size_t read_fd_limit(const mu_buffer_t *b) {
  size_t writable = mu_buffer_writable_bytes(b);
  return writable < MU_BUFFER_EXTRA_READ ? writable + MU_BUFFER_EXTRA_READ : writable;
}

/* Fills the pipe with n bytes and reads them back with read_fd until it is
 * drained; every call must take exactly as much as the rule above allows. */
static void step_read_fd(world_t *w, input_t *in) {
  size_t n = take_u16(in) * (size_t)(1 + take_u8(in) % 2);
  if (n > w->pipe_cap)
    n = w->pipe_cap;
  if (!room_for(w, n))
    return;
  uint8_t *tmp = malloc(n + 1);
  EXPECT(tmp != NULL);
  take_bytes(in, tmp, n);
  EXPECT(n == 0 || write(w->wfd, tmp, n) == (ssize_t)n);
  size_t done = 0;
  for (int round = 0; done < n; round++) {
    EXPECT(round < 8);
    size_t want = n - done < read_fd_limit(&w->buf) ? n - done : read_fd_limit(&w->buf);
    mu_buffer_t before = w->buf;
    int err = 0;
    ssize_t got = mu_buffer_read_fd(&w->buf, w->rfd, &err);
    if (got != (ssize_t)want)
      FAIL("read_fd gave %zd (errno %d), want %zu", got, err, want);
    settle_pre(w, &before);
    model_append(&w->m, tmp + done, want);
    done += want;
    check_world(w);
  }
  int err = 0;
  EXPECT(mu_buffer_read_fd(&w->buf, w->rfd, &err) == -1 && err == EAGAIN);
  free(tmp);
}

static void step_read_eof(world_t *w) {
  close(w->wfd);
  w->wfd = -1;
  int err = 0;
  EXPECT(mu_buffer_read_fd(&w->buf, w->rfd, &err) == 0);
  close_pipe(w);
  open_pipe(w);
}

/* ---- storage ------------------------------------------------------------------ */

static void step_destroy(world_t *w) {
  mu_buffer_destroy(&w->buf);
  w->m.len = 0;
  w->m.pre = 0;
}

static void step_release(world_t *w) {
  mu_buffer_release_if_empty(&w->buf);
  if (w->m.len == 0)
    w->m.pre = 0;
}

/* Lends a block of any size (below the cheap prepend too) to a buffer without
 * storage. */
static void step_borrow(world_t *w, input_t *in) {
  size_t cap = take_u8(in) % 200;
  if (w->buf.data != NULL)
    return;
  free(w->lent); /* no buffer refers to it any more */
  w->lent = cap ? malloc(cap) : NULL;
  w->lent_cap = cap;
  mu_buffer_borrow(&w->buf, w->lent, cap);
  if (cap == 0) {
    EXPECT(w->buf.data == NULL);
    return;
  }
  EXPECT(borrowed(&w->buf));
  w->m.pre = home(&w->buf);
}

static void step_end_borrow(world_t *w) {
  bool was = borrowed(&w->buf);
  mu_buffer_t before = w->buf;
  EXPECT(mu_buffer_end_borrow(&w->buf) == 0);
  EXPECT(!borrowed(&w->buf));
  if (!was) {
    EXPECT(memcmp(&before, &w->buf, sizeof before) == 0);
    return;
  }
  if (w->m.len == 0) {
    EXPECT(w->buf.data == NULL);
    w->m.pre = 0;
    return;
  }
  EXPECT(w->buf.data != w->lent);
  w->m.pre = MU_BUFFER_CHEAP_PREPEND;
}

static void step(world_t *w, input_t *in) {
  uint8_t op = take_u8(in);
  switch (op % 27) {
    case 0:
      step_append(w, in, take_u8(in));
      break;
    case 1:
      step_append(w, in, take_u16(in) % 20000);
      break;
    case 2:
      step_append_self(w, in);
      break;
    case 3:
      step_append_str(w, in);
      break;
    case 4:
      step_prepend(w, in);
      break;
    case 5:
      step_retrieve(w, in);
      break;
    case 6:
      step_retrieve_until(w, in);
      break;
    case 7:
      step_retrieve_all(w);
      break;
    case 8:
      step_retrieve_into(w, in);
      break;
    case 9:
      step_retrieve_string(w);
      break;
    case 10:
      step_ensure(w, in);
      break;
    case 11:
      step_write_direct(w, in);
      break;
    case 12:
      step_unwrite(w, in);
      break;
    case 13:
      step_shrink(w, in);
      break;
    case 14:
      step_swap(w);
      break;
    case 15:
      step_find_from(w, in);
      break;
    case 16:
    case 17:
    case 18:
      step_int(w, in);
      break;
    case 19:
      step_read_fd(w, in);
      break;
    case 20:
      step_read_eof(w);
      break;
    case 21:
      step_destroy(w);
      break;
    case 22:
      step_release(w);
      break;
    case 23:
    case 24:
      step_borrow(w, in);
      break;
    case 25:
      step_end_borrow(w);
      break;
    default:
      step_append(w, in, take_u8(in) % 8);
      break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  input_t in = {data, size};
  world_t w;
  memset(&w, 0, sizeof w);
  mu_buffer_init(&w.buf);
  w.rfd = w.wfd = -1;
  w.m.bytes = malloc(1); /* never NULL, so offsets into it are defined */
  EXPECT(w.m.bytes != NULL);
  open_pipe(&w);
  check_world(&w);
  for (int i = 0; i < MAX_STEPS && in.n > 0; i++) {
    step(&w, &in);
    check_world(&w);
  }
  mu_buffer_destroy(&w.buf);
  close_pipe(&w);
  free(w.lent);
  free(w.m.bytes);
  return 0;
}
