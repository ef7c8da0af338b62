/* mu_buffer_t against a model: two buffers, each shadowed by a plain byte array
 * holding its readable bytes, driven through random sequences of every public
 * call (appends of every size, prepends inside and past the prependable space,
 * every retrieve, the network-order integers, the searches, writing in place,
 * shrink, swap, borrowed storage, read_fd from a pipe or a socketpair, and
 * allocation failures injected into any of them). After every step the
 * readable bytes, the layout invariants the header documents and the borrowed
 * blocks' guard bytes are checked. A mismatch prints the seed, the step and the
 * last steps taken; TT_SEED=<seed> replays the same walk (MODEL_STEPS=<n>
 * changes its length). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/net/buffer.h"
#include "tcp_test_util.h"
#include "buffer_int_by_width.h"

/* ---- failure reporting: the seed, the step and the tail of the walk ---------- */

enum { k_tail = 48, k_note_len = 160 };

static uint64_t g_seed;
static long g_step;
static char g_tail[k_tail][k_note_len]; /* ring of the last steps' descriptions */
static long g_notes;

static void note(const char *fmt, ...) {
  char *line = g_tail[g_notes++ % k_tail];
  int n = snprintf(line, k_note_len, "%ld: ", g_step);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + n, k_note_len - (size_t)n, fmt, ap);
  va_end(ap);
}

static void model_fail(const char *file, int line, const char *fmt, ...) {
  fflush(stdout);
  fprintf(stderr,
          "\n%s:%d: buffer model mismatch at step %ld (seed %" PRIu64
          ", replay with TT_SEED=%" PRIu64 "): ",
          file, line, g_step, g_seed, g_seed);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nlast steps, oldest first:\n");
  long first = g_notes - k_tail < 0 ? 0 : g_notes - k_tail;
  for (long s = first; s < g_notes; ++s)
    fprintf(stderr, "  %s\n", g_tail[s % k_tail]);
  fflush(NULL);
  abort();
}

#define MCHECK(cond)                               \
  do {                                             \
    if (!(cond))                                   \
      model_fail(__FILE__, __LINE__, "%s", #cond); \
  } while (0)
#define MCHECK_EQ(a, b)                                                          \
  do {                                                                           \
    long long a_ = (long long)(a), b_ = (long long)(b);                          \
    if (a_ != b_)                                                                \
      model_fail(__FILE__, __LINE__, "%s == %s (%lld vs %lld)", #a, #b, a_, b_); \
  } while (0)

/* ---- an allocator that fails on demand and counts live blocks ---------------- */

static bool g_fail_allocs; /* set around one step: every allocation fails */
static long g_live_blocks;
static long g_failed_allocs;

static void *m_malloc(size_t n) {
  if (g_fail_allocs) {
    g_failed_allocs++;
    return NULL;
  }
  void *p = malloc(n);
  if (p != NULL)
    g_live_blocks++;
  return p;
}

static void *m_realloc(void *p, size_t n) {
  if (g_fail_allocs) {
    g_failed_allocs++;
    return NULL;
  }
  void *q = realloc(p, n);
  if (q != NULL && p == NULL)
    g_live_blocks++;
  return q;
}

static void m_free(void *p) {
  if (p != NULL)
    g_live_blocks--;
  free(p);
}

/* ---- randomness ---------------------------------------------------------------- */

static tt_rng_t g_rng;

static uint64_t rnd(void) {
  return tt_rng_next(&g_rng);
}
static size_t below(size_t n) { /* [0, n), 0 when n is 0 */
  return n == 0 ? 0 : (size_t)(rnd() % n);
}
static bool chance(unsigned percent) {
  return below(100) < percent;
}

/* Sizes: mostly small, some 0, some past the initial 1 KiB, a few past 64 KiB. */
static size_t random_len(void) {
  unsigned r = (unsigned)below(1000);
  if (r < 80)
    return 0;
  if (r < 600)
    return 1 + below(16);
  if (r < 900)
    return below(400);
  if (r < 992)
    return below(9000);
  return 65536 + below(200000);
}

/* Payloads are sometimes random bytes and sometimes text rich in CR and LF, so
 * the searches find something. */
static void fill(unsigned char *p, size_t n) {
  static const char k_text[] = "ab\r\n\n\rx\r";
  bool text = chance(50);
  for (size_t i = 0; i < n; ++i) {
    uint64_t r = rnd();
    p[i] = text ? (unsigned char)k_text[r % (sizeof k_text - 1)] : (unsigned char)r;
  }
}

/* ---- the model ------------------------------------------------------------------- */

typedef struct model {
  unsigned char *bytes;
  size_t len;
  size_t cap;
} model_t;

static void model_reserve(model_t *m, size_t more) {
  if (m->len + more <= m->cap)
    return;
  size_t cap = m->cap ? m->cap : 256;
  while (cap < m->len + more)
    cap *= 2;
  m->bytes = realloc(m->bytes, cap);
  CHECK(m->bytes != NULL);
  m->cap = cap;
}

static void model_append(model_t *m, const void *p, size_t n) {
  model_reserve(m, n);
  if (n > 0)
    memcpy(m->bytes + m->len, p, n);
  m->len += n;
}

static void model_prepend(model_t *m, const void *p, size_t n) {
  model_reserve(m, n);
  if (n > 0) {
    memmove(m->bytes + n, m->bytes, m->len);
    memcpy(m->bytes, p, n);
  }
  m->len += n;
}

static void model_drop(model_t *m, size_t n) {
  if (n >= m->len) {
    m->len = 0;
    return;
  }
  memmove(m->bytes, m->bytes + n, m->len - n);
  m->len -= n;
}

/* Big-endian value of the first `width` model bytes. */
static uint64_t model_be(const model_t *m, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i)
    v = v << 8 | m->bytes[i];
  return v;
}

/* ---- borrowed blocks: guard bytes after the lent part must stay untouched -------- */

enum { k_blocks = 3, k_block_max = 5000, k_guard = 32 };

typedef struct block {
  unsigned char mem[k_block_max + k_guard];
  size_t lent;   /* bytes lent (the guard follows them) */
  bool on_loan;  /* lent to a buffer that still uses it */
  uint64_t hash; /* of the whole block while it is not on loan */
} block_t;

static block_t g_blocks[k_blocks];

static uint64_t hash_bytes(const unsigned char *p, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; ++i)
    h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

static void block_check_guard(const block_t *k) {
  for (size_t i = 0; i < k_guard; ++i)
    MCHECK(k->mem[k->lent + i] == 0xA5);
}

/* ---- the subjects: a heap buffer, its model and its loan ------------------------- */

typedef struct subject {
  mu_buffer_t *b;
  model_t m;
  int loan; /* index into g_blocks, or -1 */
  char name;
} subject_t;

static subject_t g_sub[2];

/* The loan ends when the buffer no longer points into the block or stopped
 * calling it borrowed (it grew out, shrank, ended or dropped the loan). From
 * then on the library must never touch the block again. */
static void settle_loan(subject_t *s) {
  if (s->loan < 0)
    return;
  block_t *k = &g_blocks[s->loan];
  block_check_guard(k);
  if (s->b->data == (char *)k->mem && (s->b->flags & MU_BUFFER_BORROWED))
    return;
  k->on_loan = false;
  k->hash = hash_bytes(k->mem, sizeof k->mem);
  s->loan = -1;
}

static void check_idle_blocks(void) {
  for (int i = 0; i < k_blocks; ++i) {
    if (!g_blocks[i].on_loan && g_blocks[i].lent > 0)
      MCHECK(hash_bytes(g_blocks[i].mem, sizeof g_blocks[i].mem) == g_blocks[i].hash);
  }
}

/* Counts of what the walk did, so a walk that never reaches a case shows. */
enum {
  C_APPEND,
  C_APPEND_BIG,
  C_APPEND_SELF,
  C_APPEND_OTHER,
  C_APPEND_STR,
  C_WRITE,
  C_MOVE_NOT_GROW,
  C_UNWRITE,
  C_PREPEND,
  C_PREPEND_ENOSPC,
  C_INT_APPEND,
  C_INT_PREPEND,
  C_INT_PEEK,
  C_INT_READ,
  C_RETRIEVE,
  C_RETRIEVE_ALL,
  C_RETRIEVE_UNTIL,
  C_RETRIEVE_INTO,
  C_AS_STRING,
  C_FIND,
  C_FIND_HIT,
  C_FIND_OUTSIDE,
  C_SHRINK,
  C_SWAP,
  C_BORROW,
  C_END_BORROW,
  C_END_BORROW_ENOMEM,
  C_GROW_OUT_OF_LOAN,
  C_RELEASE,
  C_DESTROY,
  C_READ_FD,
  C_READ_FD_SPILL,
  C_READ_FD_EAGAIN,
  C_READ_FD_EOF,
  C_ENOMEM,
  C_EMSGSIZE,
  C_COUNT
};
static const char *const k_count_names[] = {
    "append",           "append_64k+",    "append_self",
    "append_other",     "append_str",     "write_in_place",
    "move_not_grow",    "unwrite",        "prepend",
    "prepend_enospc",   "int_append",     "int_prepend",
    "int_peek",         "int_read",       "retrieve",
    "retrieve_all",     "retrieve_until", "retrieve_into",
    "as_string",        "find",           "find_hit",
    "find_outside",     "shrink",         "swap",
    "borrow",           "end_borrow",     "end_borrow_enomem",
    "grow_out_of_loan", "release",        "destroy",
    "read_fd",          "read_fd_spill",  "read_fd_eagain",
    "read_fd_eof",      "enomem",         "emsgsize"};
_Static_assert(sizeof k_count_names / sizeof k_count_names[0] == C_COUNT,
               "a name for every count");
static long g_count[C_COUNT];

/* ---- the per-step checks -------------------------------------------------------- */

typedef struct layout {
  const char *data;
  uint32_t cap;
  uint32_t reader;
} layout_t;

static layout_t layout_of(const mu_buffer_t *b) {
  return (layout_t){b->data, b->cap, b->reader};
}

static void check_subject(subject_t *s, layout_t before) {
  const mu_buffer_t *b = s->b;
  const model_t *m = &s->m;
  MCHECK(b->reader <= b->writer && b->writer <= b->cap);
  MCHECK((b->data == NULL) == (b->cap == 0));
  if (b->data == NULL)
    MCHECK(b->reader == 0 && b->writer == 0 && b->flags == 0);
  MCHECK(b->flags == 0 || b->flags == MU_BUFFER_BORROWED);
  if (b->data != NULL && b->flags == 0)
    MCHECK(b->cap >= MU_BUFFER_CHEAP_PREPEND); /* owned storage keeps the prepend */
  MCHECK((b->flags == MU_BUFFER_BORROWED) == (s->loan >= 0));
  MCHECK_EQ(mu_buffer_readable_bytes(b), m->len);
  MCHECK_EQ(mu_buffer_writable_bytes(b), b->cap - b->writer);
  MCHECK_EQ(mu_buffer_prependable_bytes(b), b->reader);
  MCHECK_EQ(mu_buffer_internal_capacity(b), b->cap);
  const char *peek = mu_buffer_peek(b);
  MCHECK(peek != NULL);
  if (b->data == NULL)
    MCHECK(*peek == '\0');
  /* Compare everything unless the content is large and stayed in place. */
  bool moved = b->data != before.data || b->cap != before.cap ||
               b->reader + MU_BUFFER_CHEAP_PREPEND < before.reader;
  if (m->len <= 16384 || moved || g_step % 64 == 0) {
    if (m->len > 0 && memcmp(peek, m->bytes, m->len) != 0) {
      size_t i = 0;
      while (peek[i] == (char)m->bytes[i])
        ++i;
      model_fail(
          __FILE__, __LINE__,
          "buffer %c: content differs at offset %zu of %zu (0x%02x vs model 0x%02x)",
          s->name, i, m->len, (unsigned char)peek[i], m->bytes[i]);
    }
  } else {
    size_t edge = 512;
    MCHECK(memcmp(peek, m->bytes, edge) == 0);
    MCHECK(memcmp(peek + m->len - edge, m->bytes + m->len - edge, edge) == 0);
  }
}

/* ---- the operations -------------------------------------------------------------- */

#define SCRATCH_SIZE (300 * 1024)
static unsigned char *g_scratch;
static unsigned char *g_scratch2;

/* After a step that failed for lack of memory: only allowed while failures are
 * injected, and the buffer's bytes must be as they were. */
static bool failed_enomem(int rc) {
  if (rc != -ENOMEM)
    return false;
  MCHECK(g_fail_allocs);
  g_count[C_ENOMEM]++;
  return true;
}

/* The layout contract of making room for n bytes (ensure_writable, append):
 * first storage is the cheap prepend plus the initial size (or what the write
 * needs); storage that has room once the content moves to the front does not
 * grow. */
static void check_made_room(subject_t *s, layout_t before, size_t before_len,
                            size_t before_writable, size_t n, bool was_borrowed) {
  const mu_buffer_t *b = s->b;
  if (before_writable >= n)
    return;
  if (before.data == NULL) {
    MCHECK(b->cap >= MU_BUFFER_CHEAP_PREPEND + MU_BUFFER_INITIAL_SIZE);
    if (n <= MU_BUFFER_INITIAL_SIZE)
      MCHECK_EQ(b->cap, MU_BUFFER_CHEAP_PREPEND + MU_BUFFER_INITIAL_SIZE);
    MCHECK(b->cap >= MU_BUFFER_CHEAP_PREPEND + n);
    MCHECK_EQ(b->reader, MU_BUFFER_CHEAP_PREPEND);
    return;
  }
  if ((uint64_t)before.cap >= MU_BUFFER_CHEAP_PREPEND + (uint64_t)before_len + n) {
    MCHECK(b->data == before.data && b->cap == before.cap);
    MCHECK_EQ(b->reader, MU_BUFFER_CHEAP_PREPEND);
    g_count[C_MOVE_NOT_GROW]++;
  } else if (was_borrowed) {
    MCHECK(b->flags == 0); /* grew out of the loan into storage of its own */
    g_count[C_GROW_OUT_OF_LOAN]++;
  }
}

static void op_append(subject_t *s, subject_t *other) {
  mu_buffer_t *b = s->b;
  layout_t before = layout_of(b);
  size_t len0 = s->m.len, writable0 = mu_buffer_writable_bytes(b);
  bool borrowed = b->flags != 0;
  const unsigned char *src = g_scratch;
  size_t n;
  unsigned kind = (unsigned)below(10);
  if (kind == 0 && s->m.len > 0) { /* a slice of its own readable bytes */
    size_t off = below(s->m.len);
    n = 1 + below(s->m.len - off);
    n = n < SCRATCH_SIZE ? n : SCRATCH_SIZE;
    src = (const unsigned char *)mu_buffer_peek(b) + off;
    memcpy(g_scratch2, src, n); /* what the model appends */
    note("%c append own [%zu, +%zu) len %zu", s->name, off, n, len0);
    g_count[C_APPEND_SELF]++;
  } else if (kind == 1 && other->m.len > 0) { /* a slice of the other buffer */
    size_t off = below(other->m.len);
    n = 1 + below(other->m.len - off);
    n = n < SCRATCH_SIZE ? n : SCRATCH_SIZE;
    src = (const unsigned char *)mu_buffer_peek(other->b) + off;
    memcpy(g_scratch2, src, n);
    note("%c append from %c [%zu, +%zu)", s->name, other->name, off, n);
    g_count[C_APPEND_OTHER]++;
  } else {
    n = random_len();
    fill(g_scratch, n);
    memcpy(g_scratch2, g_scratch, n);
    note("%c append %zu (len %zu, writable %zu)", s->name, n, len0, writable0);
    g_count[n >= 65536 ? C_APPEND_BIG : C_APPEND]++;
  }
  int rc = mu_buffer_append(b, src, n);
  if (failed_enomem(rc))
    return;
  MCHECK_EQ(rc, 0);
  model_append(&s->m, g_scratch2, n);
  check_made_room(s, before, len0, writable0, n, borrowed);
}

static void op_append_str(subject_t *s) {
  size_t n = below(40);
  for (size_t i = 0; i < n; ++i)
    g_scratch[i] = (unsigned char)(1 + below(255)); /* no NUL inside */
  g_scratch[n] = 0;
  note("%c append_str %zu", s->name, n);
  int rc = mu_buffer_append_str(s->b, (const char *)g_scratch);
  if (failed_enomem(rc))
    return;
  MCHECK_EQ(rc, 0);
  model_append(&s->m, g_scratch, n);
  g_count[C_APPEND_STR]++;
}

/* ensure_writable, then write part of the room at begin_write. */
static void op_write_in_place(subject_t *s) {
  mu_buffer_t *b = s->b;
  layout_t before = layout_of(b);
  size_t len0 = s->m.len, writable0 = mu_buffer_writable_bytes(b);
  bool borrowed = b->flags != 0;
  size_t want = random_len();
  note("%c ensure_writable %zu (len %zu, writable %zu, prependable %u)", s->name, want,
       len0, writable0, b->reader);
  int rc = mu_buffer_ensure_writable(b, want);
  if (failed_enomem(rc))
    return;
  MCHECK_EQ(rc, 0);
  MCHECK(mu_buffer_writable_bytes(b) >= want);
  check_made_room(s, before, len0, writable0, want, borrowed);
  if (b->data == NULL) { /* want 0 on a buffer with no storage: nothing to write */
    MCHECK_EQ(want, 0);
    return;
  }
  size_t n = below(mu_buffer_writable_bytes(b) + 1);
  if (n > SCRATCH_SIZE)
    n = SCRATCH_SIZE;
  fill(g_scratch, n);
  memcpy(mu_buffer_begin_write(b), g_scratch, n);
  mu_buffer_has_written(b, n);
  model_append(&s->m, g_scratch, n);
  g_count[C_WRITE]++;
}

static void op_unwrite(subject_t *s) {
  size_t n = below(s->m.len + 1);
  note("%c unwrite %zu of %zu", s->name, n, s->m.len);
  mu_buffer_unwrite(s->b, n);
  s->m.len -= n;
  g_count[C_UNWRITE]++;
}

/* The room prepend offers: the prependable bytes, or the cheap prepend a buffer
 * without storage would get. */
static size_t prepend_room(const mu_buffer_t *b) {
  return b->data == NULL ? MU_BUFFER_CHEAP_PREPEND : mu_buffer_prependable_bytes(b);
}

static void op_prepend(subject_t *s) {
  mu_buffer_t *b = s->b;
  size_t room = prepend_room(b);
  size_t n = chance(70) ? below(room + 1) : room + 1 + below(20);
  if (chance(10))
    n = 0;
  if (n <= room && n > SCRATCH_SIZE)
    n = SCRATCH_SIZE;
  fill(g_scratch, n <= SCRATCH_SIZE ? n : SCRATCH_SIZE); /* past room: never read */
  note("%c prepend %zu (room %zu, len %zu)", s->name, n, room, s->m.len);
  int rc = mu_buffer_prepend(b, g_scratch, n);
  if (failed_enomem(rc))
    return;
  if (n > room) {
    MCHECK_EQ(rc, -ENOSPC);
    g_count[C_PREPEND_ENOSPC]++;
    return;
  }
  MCHECK_EQ(rc, 0);
  model_prepend(&s->m, g_scratch, n);
  g_count[C_PREPEND]++;
}

static void be_bytes(uint64_t v, size_t width, unsigned char *out) {
  for (size_t i = 0; i < width; ++i)
    out[i] = (unsigned char)(v >> (8 * (width - 1 - i)));
}

static uint64_t width_mask(size_t width) {
  return width == 8 ? UINT64_MAX : (UINT64_C(1) << (8 * width)) - 1;
}

/* The value a signed read of `width` bytes must give: sign-extended. */
static int64_t sign_extend(uint64_t v, size_t width) {
  if (width == 8)
    return (int64_t)v;
  uint64_t sign = UINT64_C(1) << (8 * width - 1);
  return (int64_t)((v ^ sign) - sign);
}

static void op_int(subject_t *s) {
  mu_buffer_t *b = s->b;
  size_t width = (size_t)1 << below(4);
  uint64_t v = rnd();
  if (chance(30))
    v = chance(50) ? 0 : UINT64_MAX; /* extremes */
  unsigned char raw[8];
  be_bytes(v, width, raw);
  unsigned kind = (unsigned)below(4);
  if (kind >= 2 && s->m.len < width)
    kind = (unsigned)below(2);
  if (kind == 0) {
    note("%c append_int%zu 0x%" PRIx64, s->name, 8 * width, v & width_mask(width));
    int rc = append_int(b, width, v);
    if (failed_enomem(rc))
      return;
    MCHECK_EQ(rc, 0);
    model_append(&s->m, raw, width);
    g_count[C_INT_APPEND]++;
  } else if (kind == 1) {
    size_t room = prepend_room(b);
    note("%c prepend_int%zu (room %zu)", s->name, 8 * width, room);
    int rc = prepend_int(b, width, v);
    if (failed_enomem(rc))
      return;
    if (width > room) {
      MCHECK_EQ(rc, -ENOSPC);
      g_count[C_PREPEND_ENOSPC]++;
      return;
    }
    MCHECK_EQ(rc, 0);
    model_prepend(&s->m, raw, width);
    g_count[C_INT_PREPEND]++;
  } else {
    int64_t expect = sign_extend(model_be(&s->m, width), width);
    bool consume = kind == 3;
    note("%c %s_int%zu of %zu", s->name, consume ? "read" : "peek", 8 * width, s->m.len);
    int64_t got = consume ? read_int(b, width) : peek_int(b, width);
    MCHECK_EQ(got, expect);
    if (consume)
      model_drop(&s->m, width);
    g_count[consume ? C_INT_READ : C_INT_PEEK]++;
  }
}

/* After everything was consumed: back at the cheap prepend (or 0 in a
 * borrowed block too small for it). */
static void check_reset(const mu_buffer_t *b) {
  if (b->data == NULL)
    return;
  MCHECK_EQ(b->reader, b->cap >= MU_BUFFER_CHEAP_PREPEND ? MU_BUFFER_CHEAP_PREPEND : 0);
  MCHECK_EQ(b->writer, b->reader);
}

static void op_retrieve(subject_t *s) {
  mu_buffer_t *b = s->b;
  size_t len = s->m.len;
  unsigned kind = (unsigned)below(6);
  if (kind == 0) {
    size_t n = chance(20) ? len + below(10) : below(len + 1);
    note("%c retrieve %zu of %zu", s->name, n, len);
    mu_buffer_retrieve(b, n);
    model_drop(&s->m, n);
    g_count[C_RETRIEVE]++;
  } else if (kind == 1) {
    note("%c retrieve_all of %zu", s->name, len);
    mu_buffer_retrieve_all(b);
    s->m.len = 0;
    check_reset(b);
    g_count[C_RETRIEVE_ALL]++;
  } else if (kind == 2) {
    size_t n = below(len + 1);
    note("%c retrieve_until peek+%zu of %zu", s->name, n, len);
    mu_buffer_retrieve_until(b, mu_buffer_peek(b) + n);
    model_drop(&s->m, n);
    g_count[C_RETRIEVE_UNTIL]++;
  } else if (kind == 3) {
    size_t n = chance(20) ? len + below(10) : below(len + 1);
    if (n > SCRATCH_SIZE)
      n = SCRATCH_SIZE;
    note("%c retrieve_into %zu of %zu", s->name, n, len);
    size_t got = mu_buffer_retrieve_into(b, g_scratch, n);
    MCHECK_EQ(got, n < len ? n : len);
    MCHECK(got == 0 || memcmp(g_scratch, s->m.bytes, got) == 0);
    model_drop(&s->m, got);
    g_count[C_RETRIEVE_INTO]++;
  } else {
    bool want_len = kind == 4;
    note("%c retrieve_all_as_string of %zu", s->name, len);
    size_t out_len = 12345;
    errno = 0;
    char *str = mu_buffer_retrieve_all_as_string(b, want_len ? &out_len : NULL);
    if (str == NULL) {
      MCHECK(g_fail_allocs);
      MCHECK_EQ(errno, ENOMEM);
      g_count[C_ENOMEM]++;
      return; /* nothing consumed: the per-step check compares */
    }
    if (want_len)
      MCHECK_EQ(out_len, len);
    MCHECK(str[len] == '\0');
    MCHECK(len == 0 || memcmp(str, s->m.bytes, len) == 0);
    mu_free(str);
    s->m.len = 0;
    check_reset(b);
    g_count[C_AS_STRING]++;
  }
  if (s->m.len == 0)
    check_reset(b);
}

/* Offset of the first CRLF (or LF) at or after `from` in the model, or -1. */
static long model_find(const model_t *m, size_t from, bool crlf) {
  for (size_t i = from; i < m->len; ++i) {
    if (crlf && m->bytes[i] == '\r' && i + 1 < m->len && m->bytes[i + 1] == '\n')
      return (long)i;
    if (!crlf && m->bytes[i] == '\n')
      return (long)i;
  }
  return -1;
}

static void op_find(subject_t *s) {
  mu_buffer_t *b = s->b;
  bool crlf = chance(50);
  const char *peek = mu_buffer_peek(b);
  unsigned kind = (unsigned)below(10);
  const char *start = peek;
  size_t from = 0;
  bool outside = false;
  if (kind < 4) {
    /* from the start, by the plain call */
  } else if (kind < 8) {
    from = below(s->m.len + 1);
    start = peek + from;
  } else if (kind == 8 && b->data != NULL && b->reader > 0) {
    start = peek - 1 - below(b->reader); /* in the prependable space */
    outside = true;
  } else if (kind == 9 && b->data != NULL && b->writer < b->cap) {
    start = peek + s->m.len + 1 + below(b->cap - b->writer); /* past the content */
    outside = true;
  } else {
    start = NULL;
    outside = true;
  }
  note("%c find_%s from %s%zu of %zu", s->name, crlf ? "crlf" : "eol",
       outside ? "outside " : "+", from, s->m.len);
  const char *got;
  if (kind < 4)
    got = crlf ? mu_buffer_find_crlf(b) : mu_buffer_find_eol(b);
  else
    got = crlf ? mu_buffer_find_crlf_from(b, start) : mu_buffer_find_eol_from(b, start);
  if (outside) {
    MCHECK(got == NULL);
    g_count[C_FIND_OUTSIDE]++;
    return;
  }
  long expect = model_find(&s->m, from, crlf);
  if (expect < 0) {
    MCHECK(got == NULL);
  } else {
    MCHECK(got != NULL);
    MCHECK_EQ(got - peek, expect);
    g_count[C_FIND_HIT]++;
    if (chance(50)) { /* consume the line, as a line protocol does */
      size_t n = (size_t)expect + (crlf ? 2 : 1);
      mu_buffer_retrieve_until(b, got + (crlf ? 2 : 1));
      model_drop(&s->m, n);
      if (s->m.len == 0)
        check_reset(b);
    }
  }
  g_count[C_FIND]++;
}

static void op_shrink(subject_t *s) {
  mu_buffer_t *b = s->b;
  size_t reserve = chance(30) ? 0 : below(2000);
  note("%c shrink %zu (len %zu, cap %u)", s->name, reserve, s->m.len, b->cap);
  int rc = mu_buffer_shrink(b, reserve);
  if (failed_enomem(rc))
    return;
  MCHECK_EQ(rc, 0);
  MCHECK_EQ(b->flags, 0); /* a loan ends */
  if (s->m.len == 0 && reserve == 0) {
    MCHECK(b->data == NULL);
  } else {
    MCHECK_EQ(b->cap, MU_BUFFER_CHEAP_PREPEND + s->m.len + reserve);
    MCHECK_EQ(b->reader, MU_BUFFER_CHEAP_PREPEND);
  }
  g_count[C_SHRINK]++;
}

/* Requests past the 4 GiB limit fail with -EMSGSIZE and change nothing (the
 * pointer is never read: the size is refused first). */
static void op_too_big(subject_t *s) {
  mu_buffer_t *b = s->b;
  uint64_t max = UINT32_MAX;
  uint64_t over = max - MU_BUFFER_CHEAP_PREPEND - s->m.len + 1 + below(1000);
  if (chance(20))
    over = SIZE_MAX - below(1000);
  unsigned kind = (unsigned)below(3);
  note("%c too big %u: %" PRIu64, s->name, kind, over);
  int rc = kind == 0   ? mu_buffer_append(b, g_scratch, (size_t)over)
           : kind == 1 ? mu_buffer_ensure_writable(b, (size_t)over)
                       : mu_buffer_shrink(b, (size_t)over);
  MCHECK_EQ(rc, -EMSGSIZE);
  g_count[C_EMSGSIZE]++;
}

static bool g_swapped; /* this step swapped the buffers */

static void op_swap(void) {
  g_swapped = true;
  note("swap A(%zu) B(%zu)", g_sub[0].m.len, g_sub[1].m.len);
  mu_buffer_swap(g_sub[0].b, g_sub[1].b);
  model_t m = g_sub[0].m;
  g_sub[0].m = g_sub[1].m;
  g_sub[1].m = m;
  int loan = g_sub[0].loan;
  g_sub[0].loan = g_sub[1].loan;
  g_sub[1].loan = loan;
  g_count[C_SWAP]++;
}

/* Lends a free block (of a size that may be below the cheap prepend) to a
 * buffer without storage; mem NULL or cap 0 lends nothing. */
static void op_borrow(subject_t *s) {
  mu_buffer_t *b = s->b;
  if (b->data != NULL) {
    note("%c release_if_empty before borrow (len %zu)", s->name, s->m.len);
    mu_buffer_release_if_empty(b);
    settle_loan(s);
    if (b->data != NULL)
      return;
  }
  int idx = -1;
  for (int i = 0; i < k_blocks; ++i) {
    if (!g_blocks[i].on_loan)
      idx = i;
  }
  if (idx < 0)
    return;
  block_t *k = &g_blocks[idx];
  check_idle_blocks();
  static const size_t k_sizes[] = {0, 1, 4, 7, 8, 9, 16, 64, 1000, 1032, k_block_max};
  size_t cap = k_sizes[below(sizeof k_sizes / sizeof k_sizes[0])];
  bool null_mem = chance(5);
  note("%c borrow block %d cap %zu%s", s->name, idx, cap, null_mem ? " (NULL)" : "");
  memset(k->mem, 0x5A, sizeof k->mem);
  if (cap == 0 || null_mem) {
    mu_buffer_borrow(b, null_mem ? NULL : (char *)k->mem, cap);
    MCHECK(b->data == NULL);
    k->lent = 0;
    return;
  }
  k->lent = cap;
  memset(k->mem + cap, 0xA5, k_guard);
  mu_buffer_borrow(b, (char *)k->mem, cap);
  k->on_loan = true;
  s->loan = idx;
  MCHECK(b->data == (char *)k->mem);
  MCHECK_EQ(b->cap, cap);
  MCHECK_EQ(b->flags, MU_BUFFER_BORROWED);
  check_reset(b);
  g_count[C_BORROW]++;
}

static void op_end_borrow(subject_t *s) {
  mu_buffer_t *b = s->b;
  bool borrowed = b->flags != 0;
  layout_t before = layout_of(b);
  note("%c end_borrow (borrowed %d, len %zu)", s->name, borrowed, s->m.len);
  int rc = mu_buffer_end_borrow(b);
  if (!borrowed) {
    MCHECK_EQ(rc, 0); /* never lent or already out: left as it is */
    MCHECK(b->data == before.data && b->cap == before.cap && b->reader == before.reader);
    return;
  }
  if (rc == -ENOMEM) {
    MCHECK(g_fail_allocs);
    MCHECK(b->data == NULL); /* left empty without storage; the bytes are lost */
    s->m.len = 0;
    g_count[C_ENOMEM]++;
    g_count[C_END_BORROW_ENOMEM]++;
    return;
  }
  MCHECK_EQ(rc, 0);
  MCHECK_EQ(b->flags, 0);
  if (s->m.len == 0)
    MCHECK(b->data == NULL);
  g_count[C_END_BORROW]++;
}

static void op_release_or_destroy(subject_t *s) {
  mu_buffer_t *b = s->b;
  if (chance(80)) {
    const char *data = b->data;
    note("%c release_if_empty (len %zu)", s->name, s->m.len);
    mu_buffer_release_if_empty(b);
    MCHECK(s->m.len == 0 ? b->data == NULL : b->data == data);
    g_count[C_RELEASE]++;
  } else {
    note("%c destroy (len %zu)", s->name, s->m.len);
    mu_buffer_destroy(b);
    MCHECK(b->data == NULL && b->cap == 0);
    s->m.len = 0;
    g_count[C_DESTROY]++;
  }
}

/* ---- read_fd from a pipe or a socketpair with a known byte queue ------------------ */

typedef struct source {
  int rfd;
  int wfd;
  bool is_pipe;
  model_t queued; /* written to wfd, not yet read */
} source_t;

static source_t g_src;

static void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  CHECK(fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0);
}

/* Room for well over the 64 KiB stack block in one read. */
static void source_open(void) {
  int fds[2];
  g_src.is_pipe = chance(70);
  if (g_src.is_pipe) {
    CHECK(pipe(fds) == 0);
    (void)fcntl(fds[1], F_SETPIPE_SZ, 1 << 20); /* best effort: more in one read */
  } else {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    int size = 1 << 20;
    (void)setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    (void)setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  set_nonblock(fds[0]);
  set_nonblock(fds[1]);
  g_src.rfd = fds[0];
  g_src.wfd = fds[1];
  g_src.queued.len = 0;
}

static void source_close(void) {
  if (g_src.wfd >= 0)
    close(g_src.wfd);
  close(g_src.rfd);
  g_src.wfd = -1;
}

/* Writes up to n bytes (fewer when the pipe is full) and queues what went in. */
static void source_feed(size_t n) {
  fill(g_scratch, n);
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(g_src.wfd, g_scratch + done, n - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0) {
      CHECK(errno == EAGAIN);
      break;
    }
    done += (size_t)w;
  }
  model_append(&g_src.queued, g_scratch, done);
}

/* After read_fd lost the spilled bytes: nobody knows how far it read, so the
 * source is drained and its queue forgotten. */
static void source_drain(void) {
  while (read(g_src.rfd, g_scratch, SCRATCH_SIZE) > 0) {
  }
  g_src.queued.len = 0;
}

static void op_read_fd(subject_t *s) {
  mu_buffer_t *b = s->b;
  if (g_src.queued.len == 0 && chance(5)) { /* end of file */
    close(g_src.wfd);
    g_src.wfd = -1;
    note("%c read_fd at end of file (%s)", s->name, g_src.is_pipe ? "pipe" : "socket");
    int err = 0;
    MCHECK_EQ(mu_buffer_read_fd(b, g_src.rfd, &err), 0);
    source_close();
    source_open();
    g_count[C_READ_FD_EOF]++;
    return;
  }
  size_t feed = chance(25) ? 65536 + below(140000) : below(3000);
  if (chance(10))
    feed = 0;
  if (g_src.queued.len > 400000)
    feed = 0;
  source_feed(feed);
  size_t writable = mu_buffer_writable_bytes(b);
  size_t limit =
      writable < MU_BUFFER_EXTRA_READ ? writable + MU_BUFFER_EXTRA_READ : writable;
  note("%c read_fd (%s, queued %zu, writable %zu, len %zu)", s->name,
       g_src.is_pipe ? "pipe" : "socket", g_src.queued.len, writable, s->m.len);
  int err = 0;
  ssize_t n = mu_buffer_read_fd(b, g_src.rfd, &err);
  if (n < 0 && err == ENOMEM) {
    /* The bytes that fitted the writable space stay, the overflow is lost. */
    MCHECK(g_fail_allocs);
    MCHECK(g_src.queued.len > writable);
    model_append(&s->m, g_src.queued.bytes, writable);
    source_drain();
    g_count[C_ENOMEM]++;
    return;
  }
  if (g_src.queued.len == 0) {
    MCHECK_EQ(n, -1);
    MCHECK(err == EAGAIN || err == EWOULDBLOCK);
    g_count[C_READ_FD_EAGAIN]++;
    return;
  }
  MCHECK(n > 0);
  MCHECK((size_t)n <= limit);
  MCHECK((size_t)n <= g_src.queued.len);
  model_append(&s->m, g_src.queued.bytes, (size_t)n);
  model_drop(&g_src.queued, (size_t)n);
  if ((size_t)n > writable)
    g_count[C_READ_FD_SPILL]++;
  g_count[C_READ_FD]++;
}

/* ---- the walk ------------------------------------------------------------------------
 */

/* A step picks a buffer and an operation; allocation failures are injected into
 * a few percent of steps. Large contents push the walk toward consuming. */
static void step(void) {
  int which = (int)below(2);
  subject_t *s = &g_sub[which];
  subject_t *other = &g_sub[1 - which];
  layout_t before[2] = {layout_of(g_sub[0].b), layout_of(g_sub[1].b)};
  g_fail_allocs = chance(4);
  g_swapped = false;
  unsigned op = (unsigned)below(100);
  if (s->m.len > 256 * 1024 && op < 45)
    op = 45 + (unsigned)below(20); /* retrieve or find */
  if (s->loan >= 0 && s->m.len > 0 && chance(25)) {
    /* Most loans end by growing out of them; end some holding bytes, often
     * with the copy failing. */
    op = 78;
    g_fail_allocs = chance(40);
  }
  if (op < 18)
    op_append(s, other);
  else if (op < 21)
    op_append_str(s);
  else if (op < 28)
    op_write_in_place(s);
  else if (op < 31)
    op_unwrite(s);
  else if (op < 37)
    op_prepend(s);
  else if (op < 45)
    op_int(s);
  else if (op < 58)
    op_retrieve(s);
  else if (op < 65)
    op_find(s);
  else if (op < 68)
    op_shrink(s);
  else if (op < 69)
    op_too_big(s);
  else if (op < 72)
    op_swap();
  else if (op < 78)
    op_borrow(s);
  else if (op < 81)
    op_end_borrow(s);
  else if (op < 85)
    op_release_or_destroy(s);
  else
    op_read_fd(s);
  g_fail_allocs = false;
  for (int i = 0; i < 2; ++i) {
    settle_loan(&g_sub[i]);
    /* After a swap each buffer is compared with the layout it now holds. */
    check_subject(&g_sub[i], g_swapped ? before[1 - i] : before[i]);
  }
}

static long steps_wanted(void) {
  const char *env = getenv("MODEL_STEPS");
  if (env != NULL)
    return strtol(env, NULL, 0);
  return TT_TSAN        ? 20000
         : TT_SANITIZED ? 100000
                        : 250000; /* TSan checks every byte moved */
}

int main(void) {
  tt_init("buffer_model", 240);
  static const mu_allocator_t k_alloc = {m_malloc, m_realloc, m_free};
  mu_set_allocator(&k_alloc);
  g_seed = tt_seed(tt_mix64((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32)));
  g_rng = tt_rng_make(g_seed);
  g_scratch = malloc(SCRATCH_SIZE + 1);
  g_scratch2 = malloc(SCRATCH_SIZE + 1);
  CHECK(g_scratch != NULL && g_scratch2 != NULL);
  for (int i = 0; i < 2; ++i) {
    g_sub[i].b = mu_buffer_new();
    CHECK(g_sub[i].b != NULL);
    g_sub[i].loan = -1;
    g_sub[i].name = (char)('A' + i);
  }
  source_open();
  long steps = steps_wanted();
  size_t largest = 0;
  double t0 = tt_now();
  for (g_step = 0; g_step < steps; ++g_step) {
    step();
    for (int i = 0; i < 2; ++i)
      largest = g_sub[i].m.len > largest ? g_sub[i].m.len : largest;
  }
  double secs = tt_now() - t0;
  check_idle_blocks();
  printf(
      "%ld steps in %.1f s, largest content %zu bytes, %ld allocations failed on "
      "purpose\n",
      steps, secs, largest, g_failed_allocs);
  for (int i = 0; i < C_COUNT; ++i)
    printf("  %-16s %ld\n", k_count_names[i], g_count[i]);
  if (steps >= 100000) { /* shorter walks may miss the rarest cases */
    for (int i = 0; i < C_COUNT; ++i) {
      if (g_count[i] == 0) {
        fprintf(stderr, "the walk never reached %s\n", k_count_names[i]);
        abort();
      }
    }
  }
  for (int i = 0; i < 2; ++i) {
    mu_buffer_free(g_sub[i].b);
    free(g_sub[i].m.bytes);
  }
  CHECK_EQ(g_live_blocks, 0); /* every block the buffers took went back */
  source_close();
  free(g_src.queued.bytes);
  free(g_scratch);
  free(g_scratch2);
  printf("buffer_model: OK\n");
  return 0;
}
