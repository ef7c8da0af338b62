/* mu_buffer: muduo's Buffer unit test scenarios, storage on first write, the
 * 4 GiB limit, borrowed storage, allocation failures, fatal misuse, and a
 * randomised comparison against a plain byte-array model. */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/net/buffer.h"
#include "test_util.h"

/* ---- an allocator that counts, records sizes and fails on demand ---------- */

static long g_allocs;          /* successful malloc/realloc calls */
static long g_attempts;        /* all malloc/realloc calls */
static long g_frees;           /* free calls with a non-NULL pointer */
static long g_fail_after = -1; /* fail every call once g_allocs reaches this */
static size_t g_last_size;

static bool should_fail(size_t n) {
  g_attempts++;
  g_last_size = n;
  return g_fail_after >= 0 && g_allocs >= g_fail_after;
}

static void *t_malloc(size_t n) {
  if (should_fail(n))
    return NULL;
  g_allocs++;
  return malloc(n);
}

/* A 4 GiB reserved (never touched) mapping standing in for a buffer at the
 * size limit; "reallocating" it within its size keeps it in place. */
static char *g_huge;
static const size_t g_huge_size = (size_t)UINT32_MAX + 1;

static void *t_realloc(void *p, size_t n) {
  if (should_fail(n))
    return NULL;
  g_allocs++;
  if (p != NULL && p == g_huge)
    return n <= g_huge_size ? p : NULL;
  return realloc(p, n);
}

static void t_free(void *p) {
  if (p != NULL)
    g_frees++;
  free(p);
}

/* Every allocation from now on fails. */
static void fail_from_now(void) {
  g_fail_after = g_allocs;
}

static void stop_failing(void) {
  g_fail_after = -1;
}

/* ---- helpers ---------------------------------------------------------------- */

static void append_fill(mu_buffer_t *b, char c, size_t n) {
  char *tmp = malloc(n);
  CHECK(tmp != NULL);
  memset(tmp, c, n);
  CHECK_EQ(mu_buffer_append(b, tmp, n), 0);
  free(tmp);
}

static bool all_bytes_are(const char *p, char c, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != c)
      return false;
  return true;
}

static void check_sizes(const mu_buffer_t *b, size_t readable, size_t writable,
                        size_t prependable) {
  CHECK_EQ(mu_buffer_readable_bytes(b), readable);
  CHECK_EQ(mu_buffer_writable_bytes(b), writable);
  CHECK_EQ(mu_buffer_prependable_bytes(b), prependable);
}

static void check_no_storage(const mu_buffer_t *b) {
  CHECK(b->data == NULL);
  CHECK_EQ(b->cap, 0);
  CHECK_EQ(b->reader, 0);
  CHECK_EQ(b->writer, 0);
  CHECK_EQ(b->flags, 0);
  CHECK_EQ(mu_buffer_internal_capacity(b), 0);
}

static bool same_struct(const mu_buffer_t *a, const mu_buffer_t *b) {
  return a->data == b->data && a->cap == b->cap && a->reader == b->reader &&
         a->writer == b->writer && a->flags == b->flags;
}

/* ---- no storage until the first write --------------------------------------- */

static void test_no_storage_until_write(void) {
  long allocs = g_allocs;
  mu_buffer_t a = MU_BUFFER_INIT;
  check_no_storage(&a);
  mu_buffer_t b;
  memset(&b, 0x5a, sizeof b);
  mu_buffer_init(&b);
  check_no_storage(&b);
  check_sizes(&b, 0, 0, 0);
  CHECK(mu_buffer_peek(&b) != NULL);
  CHECK_EQ(mu_buffer_peek(&b)[0], '\0');
  CHECK(mu_buffer_find_crlf(&b) == NULL);
  CHECK(mu_buffer_find_eol(&b) == NULL);
  CHECK(mu_buffer_find_crlf_from(&b, mu_buffer_peek(&b)) == NULL);
  CHECK(mu_buffer_find_eol_from(&b, mu_buffer_peek(&b)) == NULL);
  /* Operations that write nothing leave it without storage. */
  mu_buffer_retrieve(&b, 10);
  mu_buffer_retrieve_all(&b);
  mu_buffer_retrieve_until(&b, mu_buffer_peek(&b));
  char out[4];
  CHECK_EQ(mu_buffer_retrieve_into(&b, out, sizeof out), 0);
  CHECK_EQ(mu_buffer_retrieve_into(&b, NULL, 0), 0);
  CHECK_EQ(mu_buffer_append(&b, NULL, 0), 0);
  CHECK_EQ(mu_buffer_append_str(&b, ""), 0);
  CHECK_EQ(mu_buffer_prepend(&b, NULL, 0), 0);
  CHECK_EQ(mu_buffer_ensure_writable(&b, 0), 0);
  mu_buffer_has_written(&b, 0);
  mu_buffer_unwrite(&b, 0);
  CHECK_EQ(mu_buffer_shrink(&b, 0), 0);
  mu_buffer_release_if_empty(&b);
  CHECK_EQ(mu_buffer_end_borrow(&b), 0);
  check_no_storage(&b);
  CHECK_EQ(g_allocs, allocs);

  /* The first write allocates cheap prepend + initial size. */
  CHECK_EQ(mu_buffer_append(&b, "x", 1), 0);
  CHECK(b.data != NULL);
  CHECK_EQ(g_allocs, allocs + 1);
  CHECK_EQ(mu_buffer_internal_capacity(&b),
           MU_BUFFER_CHEAP_PREPEND + MU_BUFFER_INITIAL_SIZE);
  check_sizes(&b, 1, MU_BUFFER_INITIAL_SIZE - 1, MU_BUFFER_CHEAP_PREPEND);
  mu_buffer_destroy(&b);
  check_no_storage(&b);

  /* A first write larger than the initial size gets exactly what it needs. */
  CHECK_EQ(mu_buffer_ensure_writable(&b, 5000), 0);
  CHECK_EQ(mu_buffer_internal_capacity(&b), MU_BUFFER_CHEAP_PREPEND + 5000);
  check_sizes(&b, 0, 5000, MU_BUFFER_CHEAP_PREPEND);
  mu_buffer_destroy(&b);
  /* Destroyed buffers are reusable. */
  CHECK_EQ(mu_buffer_append_str(&b, "again"), 0);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 5);
  CHECK(memcmp(mu_buffer_peek(&b), "again", 5) == 0);
  mu_buffer_destroy(&b);
  mu_buffer_destroy(&b); /* twice is harmless */
  check_no_storage(&b);

  mu_buffer_t *h = mu_buffer_new();
  CHECK(h != NULL);
  check_no_storage(h);
  CHECK_EQ(mu_buffer_append_str(h, "heap"), 0);
  CHECK_EQ(mu_buffer_readable_bytes(h), 4);
  mu_buffer_free(h);
  mu_buffer_free(NULL);
}

/* ---- muduo's Buffer unit test scenarios ---------------------------------------- */

static void test_append_retrieve(void) {
  mu_buffer_t b = MU_BUFFER_INIT;
  append_fill(&b, 'x', 200);
  check_sizes(&b, 200, MU_BUFFER_INITIAL_SIZE - 200, MU_BUFFER_CHEAP_PREPEND);

  char got[50];
  CHECK_EQ(mu_buffer_retrieve_into(&b, got, 50), 50);
  CHECK(all_bytes_are(got, 'x', 50));
  check_sizes(&b, 150, MU_BUFFER_INITIAL_SIZE - 200, MU_BUFFER_CHEAP_PREPEND + 50);

  append_fill(&b, 'y', 200);
  check_sizes(&b, 350, MU_BUFFER_INITIAL_SIZE - 400, MU_BUFFER_CHEAP_PREPEND + 50);

  size_t len = 0;
  char *s = mu_buffer_retrieve_all_as_string(&b, &len);
  CHECK(s != NULL);
  CHECK_EQ(len, 350);
  CHECK_EQ(strlen(s), 350);
  CHECK(all_bytes_are(s, 'x', 150));
  CHECK(all_bytes_are(s + 150, 'y', 200));
  mu_free(s);
  check_sizes(&b, 0, MU_BUFFER_INITIAL_SIZE, MU_BUFFER_CHEAP_PREPEND);

  /* Retrieving everything, by count or beyond, rewinds to the cheap prepend. */
  append_fill(&b, 'z', 100);
  mu_buffer_retrieve(&b, 30);
  CHECK_EQ(mu_buffer_prependable_bytes(&b), MU_BUFFER_CHEAP_PREPEND + 30);
  mu_buffer_retrieve(&b, 70);
  check_sizes(&b, 0, MU_BUFFER_INITIAL_SIZE, MU_BUFFER_CHEAP_PREPEND);
  append_fill(&b, 'z', 100);
  mu_buffer_retrieve(&b, 1000);
  check_sizes(&b, 0, MU_BUFFER_INITIAL_SIZE, MU_BUFFER_CHEAP_PREPEND);

  /* retrieve_into with more room than content copies only the content. */
  CHECK_EQ(mu_buffer_append_str(&b, "abc"), 0);
  char big[16];
  memset(big, '#', sizeof big);
  CHECK_EQ(mu_buffer_retrieve_into(&b, big, sizeof big), 3);
  CHECK(memcmp(big, "abc###", 6) == 0);
  check_sizes(&b, 0, MU_BUFFER_INITIAL_SIZE, MU_BUFFER_CHEAP_PREPEND);
  mu_buffer_destroy(&b);
}

static void test_grow(void) {
  mu_buffer_t b = MU_BUFFER_INIT;
  append_fill(&b, 'y', 400);
  check_sizes(&b, 400, MU_BUFFER_INITIAL_SIZE - 400, MU_BUFFER_CHEAP_PREPEND);
  mu_buffer_retrieve(&b, 50);
  check_sizes(&b, 350, MU_BUFFER_INITIAL_SIZE - 400, MU_BUFFER_CHEAP_PREPEND + 50);
  append_fill(&b, 'z', 1000);
  /* The prependable 50 cannot make room for 1000, so the storage grows: to
   * twice the old size, which is more than writer + 1000, keeping the layout. */
  size_t cap = 2 * (MU_BUFFER_CHEAP_PREPEND + MU_BUFFER_INITIAL_SIZE);
  CHECK_EQ(mu_buffer_internal_capacity(&b), cap);
  check_sizes(&b, 1350, cap - (MU_BUFFER_CHEAP_PREPEND + 50 + 1350),
              MU_BUFFER_CHEAP_PREPEND + 50);
  CHECK(all_bytes_are(mu_buffer_peek(&b), 'y', 350));
  CHECK(all_bytes_are(mu_buffer_peek(&b) + 350, 'z', 1000));
  mu_buffer_retrieve_all(&b);
  check_sizes(&b, 0, cap - MU_BUFFER_CHEAP_PREPEND, MU_BUFFER_CHEAP_PREPEND);

  /* A write bigger than double gets exactly what it needs. */
  append_fill(&b, 'w', cap - MU_BUFFER_CHEAP_PREPEND);
  CHECK_EQ(mu_buffer_writable_bytes(&b), 0);
  append_fill(&b, 'v', 10 * cap);
  CHECK_EQ(mu_buffer_internal_capacity(&b), 11 * cap);
  CHECK_EQ(mu_buffer_writable_bytes(&b), 0);
  mu_buffer_destroy(&b);
}

static void test_inside_grow(void) {
  mu_buffer_t b = MU_BUFFER_INIT;
  append_fill(&b, 'y', 800);
  check_sizes(&b, 800, MU_BUFFER_INITIAL_SIZE - 800, MU_BUFFER_CHEAP_PREPEND);
  mu_buffer_retrieve(&b, 500);
  check_sizes(&b, 300, MU_BUFFER_INITIAL_SIZE - 800, MU_BUFFER_CHEAP_PREPEND + 500);
  const char *data = b.data;
  long allocs = g_allocs;
  append_fill(&b, 'z', 300);
  /* Moving the content to the front made the room: no allocation. */
  CHECK(b.data == data);
  CHECK_EQ(g_allocs, allocs);
  CHECK_EQ(mu_buffer_internal_capacity(&b),
           MU_BUFFER_CHEAP_PREPEND + MU_BUFFER_INITIAL_SIZE);
  check_sizes(&b, 600, MU_BUFFER_INITIAL_SIZE - 600, MU_BUFFER_CHEAP_PREPEND);
  CHECK(all_bytes_are(mu_buffer_peek(&b), 'y', 300));
  CHECK(all_bytes_are(mu_buffer_peek(&b) + 300, 'z', 300));
  mu_buffer_destroy(&b);
}

static void test_shrink(void) {
  mu_buffer_t b = MU_BUFFER_INIT;
  append_fill(&b, 'y', 2000);
  check_sizes(&b, 2000, 0, MU_BUFFER_CHEAP_PREPEND);
  mu_buffer_retrieve(&b, 1500);
  check_sizes(&b, 500, 0, MU_BUFFER_CHEAP_PREPEND + 1500);
  CHECK_EQ(mu_buffer_shrink(&b, 0), 0);
  check_sizes(&b, 500, 0, MU_BUFFER_CHEAP_PREPEND);
  CHECK_EQ(mu_buffer_internal_capacity(&b), MU_BUFFER_CHEAP_PREPEND + 500);
  CHECK(all_bytes_are(mu_buffer_peek(&b), 'y', 500));

  CHECK_EQ(mu_buffer_shrink(&b, 77), 0);
  check_sizes(&b, 500, 77, MU_BUFFER_CHEAP_PREPEND);
  CHECK_EQ(mu_buffer_internal_capacity(&b), MU_BUFFER_CHEAP_PREPEND + 577);
  CHECK(all_bytes_are(mu_buffer_peek(&b), 'y', 500));

  /* An empty buffer with a reserve keeps exactly that much. */
  mu_buffer_retrieve_all(&b);
  CHECK_EQ(mu_buffer_shrink(&b, 10), 0);
  CHECK_EQ(mu_buffer_internal_capacity(&b), MU_BUFFER_CHEAP_PREPEND + 10);
  check_sizes(&b, 0, 10, MU_BUFFER_CHEAP_PREPEND);
  /* ...and without one holds no memory at all. */
  long frees = g_frees;
  CHECK_EQ(mu_buffer_shrink(&b, 0), 0);
  check_no_storage(&b);
  CHECK_EQ(g_frees, frees + 1);
  mu_buffer_destroy(&b);
}

static void test_prepend(void) {
  mu_buffer_t b = MU_BUFFER_INIT;
  append_fill(&b, 'y', 200);
  check_sizes(&b, 200, MU_BUFFER_INITIAL_SIZE - 200, MU_BUFFER_CHEAP_PREPEND);
  CHECK_EQ(mu_buffer_prepend_int32(&b, 0x41424344), 0);
  check_sizes(&b, 204, MU_BUFFER_INITIAL_SIZE - 200, MU_BUFFER_CHEAP_PREPEND - 4);
  CHECK(memcmp(mu_buffer_peek(&b), "ABCD", 4) == 0);
  CHECK_EQ(mu_buffer_prepend(&b, "1234", 4), 0);
  check_sizes(&b, 208, MU_BUFFER_INITIAL_SIZE - 200, 0);
  CHECK(memcmp(mu_buffer_peek(&b), "1234ABCDyy", 10) == 0);
  /* No room in front: refused, nothing changed. */
  mu_buffer_t before = b;
  CHECK_EQ(mu_buffer_prepend(&b, "z", 1), -ENOSPC);
  CHECK(same_struct(&b, &before));
  mu_buffer_retrieve(&b, 3);
  CHECK_EQ(mu_buffer_prepend(&b, "abcd", 4), -ENOSPC);
  CHECK_EQ(mu_buffer_prepend(&b, "abc", 3), 0);
  CHECK(memcmp(mu_buffer_peek(&b), "abc4ABCD", 8) == 0);
  mu_buffer_destroy(&b);

  /* An empty buffer without storage gets the cheap prepend. */
  CHECK_EQ(mu_buffer_prepend(&b, "123456789", 9), -ENOSPC);
  check_no_storage(&b);
  CHECK_EQ(mu_buffer_prepend(&b, "12345678", 8), 0);
  check_sizes(&b, 8, MU_BUFFER_INITIAL_SIZE, 0);
  CHECK(memcmp(mu_buffer_peek(&b), "12345678", 8) == 0);
  mu_buffer_destroy(&b);
  CHECK_EQ(mu_buffer_prepend_int16(&b, -2), 0);
  check_sizes(&b, 2, MU_BUFFER_INITIAL_SIZE, MU_BUFFER_CHEAP_PREPEND - 2);
  CHECK_EQ(mu_buffer_read_int16(&b), -2);
  mu_buffer_destroy(&b);
}

static void check_raw(const mu_buffer_t *b, const unsigned char *raw, size_t n) {
  CHECK(mu_buffer_readable_bytes(b) >= n);
  CHECK(memcmp(mu_buffer_peek(b), raw, n) == 0);
}

static void test_ints(void) {
  mu_buffer_t b = MU_BUFFER_INIT;
  /* muduo's testBufferReadInt. */
  CHECK_EQ(mu_buffer_append_str(&b, "HTTP"), 0);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 4);
  CHECK_EQ(mu_buffer_peek_int8(&b), 'H');
  CHECK_EQ(mu_buffer_peek_int16(&b), 'H' * 256 + 'T');
  CHECK_EQ(mu_buffer_peek_int32(&b), ('H' << 24) | ('T' << 16) | ('T' << 8) | 'P');
  CHECK_EQ(mu_buffer_readable_bytes(&b), 4);
  CHECK_EQ(mu_buffer_read_int8(&b), 'H');
  CHECK_EQ(mu_buffer_read_int16(&b), 'T' * 256 + 'T');
  CHECK_EQ(mu_buffer_read_int8(&b), 'P');
  CHECK_EQ(mu_buffer_readable_bytes(&b), 0);
  CHECK_EQ(mu_buffer_writable_bytes(&b), MU_BUFFER_INITIAL_SIZE);

  CHECK_EQ(mu_buffer_append_int8(&b, -1), 0);
  CHECK_EQ(mu_buffer_append_int16(&b, -2), 0);
  CHECK_EQ(mu_buffer_append_int32(&b, -3), 0);
  CHECK_EQ(mu_buffer_append_int64(&b, -4), 0);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 15);
  static const unsigned char neg[15] = {0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xfd, 0xff,
                                        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfc};
  check_raw(&b, neg, sizeof neg);
  CHECK_EQ(mu_buffer_read_int8(&b), -1);
  CHECK_EQ(mu_buffer_read_int16(&b), -2);
  CHECK_EQ(mu_buffer_read_int32(&b), -3);
  CHECK_EQ(mu_buffer_read_int64(&b), -4);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 0);

  /* Byte order against raw bytes, at an odd (unaligned) offset. */
  CHECK_EQ(mu_buffer_append_int8(&b, 0x7f), 0);
  CHECK_EQ(mu_buffer_append_int16(&b, 0x0102), 0);
  CHECK_EQ(mu_buffer_append_int32(&b, 0x03040506), 0);
  CHECK_EQ(mu_buffer_append_int64(&b, INT64_C(0x0708090a0b0c0d0e)), 0);
  CHECK_EQ(mu_buffer_read_int8(&b), 0x7f);
  static const unsigned char pos[14] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
  check_raw(&b, pos, sizeof pos);
  CHECK(((uintptr_t)mu_buffer_peek(&b) & 1) == 1);
  CHECK_EQ(mu_buffer_peek_int16(&b), 0x0102);
  CHECK_EQ(mu_buffer_read_int16(&b), 0x0102);
  CHECK_EQ(mu_buffer_peek_int32(&b), 0x03040506);
  CHECK_EQ(mu_buffer_read_int32(&b), 0x03040506);
  CHECK_EQ(mu_buffer_peek_int64(&b), INT64_C(0x0708090a0b0c0d0e));
  CHECK_EQ(mu_buffer_read_int64(&b), INT64_C(0x0708090a0b0c0d0e));

  /* Extremes. */
  CHECK_EQ(mu_buffer_append_int8(&b, INT8_MIN), 0);
  CHECK_EQ(mu_buffer_append_int16(&b, INT16_MIN), 0);
  CHECK_EQ(mu_buffer_append_int32(&b, INT32_MIN), 0);
  CHECK_EQ(mu_buffer_append_int64(&b, INT64_MIN), 0);
  static const unsigned char mins[15] = {0x80, 0x80, 0, 0x80, 0, 0, 0, 0x80,
                                         0,    0,    0, 0,    0, 0, 0};
  check_raw(&b, mins, sizeof mins);
  CHECK_EQ(mu_buffer_read_int8(&b), INT8_MIN);
  CHECK_EQ(mu_buffer_read_int16(&b), INT16_MIN);
  CHECK_EQ(mu_buffer_read_int32(&b), INT32_MIN);
  CHECK_EQ(mu_buffer_read_int64(&b), INT64_MIN);
  CHECK_EQ(mu_buffer_append_int16(&b, INT16_MAX), 0);
  CHECK_EQ(mu_buffer_append_int64(&b, INT64_MAX), 0);
  CHECK_EQ(mu_buffer_read_int16(&b), INT16_MAX);
  CHECK_EQ(mu_buffer_read_int64(&b), INT64_MAX);

  /* Prepended integers, in network order, in front of the content. */
  CHECK_EQ(mu_buffer_append_str(&b, "x"), 0);
  CHECK_EQ(mu_buffer_prepend_int64(&b, INT64_C(-0x0102030405060708)), 0);
  CHECK_EQ(mu_buffer_prependable_bytes(&b), 0);
  static const unsigned char p64[9] = {0xfe, 0xfd, 0xfc, 0xfb, 0xfa,
                                       0xf9, 0xf8, 0xf8, 'x'};
  check_raw(&b, p64, sizeof p64);
  CHECK_EQ(mu_buffer_read_int64(&b), INT64_C(-0x0102030405060708));
  mu_buffer_retrieve_all(&b);
  CHECK_EQ(mu_buffer_append_str(&b, "body"), 0);
  CHECK_EQ(mu_buffer_prepend_int8(&b, -5), 0);
  CHECK_EQ(mu_buffer_prepend_int16(&b, 0x1234), 0);
  CHECK_EQ(mu_buffer_prepend_int32(&b, -6), 0);
  static const unsigned char pre[11] = {0xff, 0xff, 0xff, 0xfa, 0x12, 0x34,
                                        0xfb, 'b',  'o',  'd',  'y'};
  check_raw(&b, pre, sizeof pre);
  CHECK_EQ(mu_buffer_read_int32(&b), -6);
  CHECK_EQ(mu_buffer_read_int16(&b), 0x1234);
  CHECK_EQ(mu_buffer_read_int8(&b), -5);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 4);
  /* A prepend that does not fit in the 8-byte cheap prepend. */
  CHECK_EQ(mu_buffer_prepend_int64(&b, 1), 0);
  CHECK_EQ(mu_buffer_prepend_int8(&b, 1), -ENOSPC);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 12);
  mu_buffer_destroy(&b);
}

static void test_find(void) {
  /* muduo's testBufferFindEOL. */
  mu_buffer_t b = MU_BUFFER_INIT;
  append_fill(&b, 'x', 100000);
  CHECK(mu_buffer_find_eol(&b) == NULL);
  CHECK(mu_buffer_find_eol_from(&b, mu_buffer_peek(&b) + 90000) == NULL);
  CHECK(mu_buffer_find_crlf(&b) == NULL);
  mu_buffer_destroy(&b);

  const char *req = "GET / HTTP/1.1\r\nHost: a\r\n\r\nrest\n";
  CHECK_EQ(mu_buffer_append_str(&b, req), 0);
  const char *p = mu_buffer_peek(&b);
  CHECK(mu_buffer_find_crlf(&b) == p + 14);
  CHECK(mu_buffer_find_eol(&b) == p + 15);
  CHECK(mu_buffer_find_crlf_from(&b, p + 14) == p + 14);
  CHECK(mu_buffer_find_crlf_from(&b, p + 15) == p + 23);
  CHECK(mu_buffer_find_crlf_from(&b, p + 24) == p + 25);
  CHECK(mu_buffer_find_crlf_from(&b, p + 26) == NULL);
  CHECK(mu_buffer_find_eol_from(&b, p + 16) == p + 24);
  CHECK(mu_buffer_find_eol_from(&b, p + 27) == p + 31);
  CHECK(mu_buffer_find_eol_from(&b, p + 32) == NULL); /* == begin_write */
  /* Out-of-range starts find nothing rather than reading outside the content. */
  CHECK(mu_buffer_find_crlf_from(&b, p - 1) == NULL);
  CHECK(mu_buffer_find_eol_from(&b, p - 1) == NULL);
  CHECK(mu_buffer_find_crlf_from(&b, p + 33) == NULL);
  CHECK(mu_buffer_find_eol_from(&b, p + 33) == NULL);
  CHECK(mu_buffer_find_crlf_from(&b, NULL) == NULL);
  CHECK(mu_buffer_find_eol_from(&b, req) == NULL);
  /* After consuming the first line the search starts at the new peek. */
  mu_buffer_retrieve_until(&b, mu_buffer_find_crlf(&b) + 2);
  CHECK_EQ(mu_buffer_readable_bytes(&b), strlen(req) - 16);
  CHECK(mu_buffer_find_crlf(&b) == mu_buffer_peek(&b) + 7);
  CHECK(mu_buffer_find_crlf_from(&b, p) == NULL); /* now before peek */
  /* Bytes past the writer are not content, even if they are still in memory. */
  mu_buffer_retrieve_all(&b);
  CHECK_EQ(mu_buffer_append_str(&b, "ab\r\n"), 0);
  mu_buffer_unwrite(&b, 1);
  CHECK(mu_buffer_find_crlf(&b) == NULL);
  CHECK(mu_buffer_find_eol(&b) == NULL);
  mu_buffer_unwrite(&b, 1);
  CHECK_EQ(mu_buffer_append_str(&b, "\n"), 0);
  CHECK(mu_buffer_find_eol(&b) == mu_buffer_peek(&b) + 2);
  CHECK(mu_buffer_find_crlf(&b) == NULL);
  mu_buffer_destroy(&b);
}

/* ---- the smaller functions ------------------------------------------------------- */

static void test_write_in_place(void) {
  mu_buffer_t b = MU_BUFFER_INIT;
  CHECK_EQ(mu_buffer_ensure_writable(&b, 10), 0);
  CHECK(mu_buffer_writable_bytes(&b) >= 10);
  memcpy(mu_buffer_begin_write(&b), "0123456789", 10);
  mu_buffer_has_written(&b, 6);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 6);
  CHECK(memcmp(mu_buffer_peek(&b), "012345", 6) == 0);
  mu_buffer_unwrite(&b, 2);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 4);
  CHECK_EQ(mu_buffer_append_str(&b, "xy"), 0);
  CHECK(memcmp(mu_buffer_peek(&b), "0123xy", 6) == 0);
  mu_buffer_unwrite(&b, 6);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 0);

  /* ensure_writable that needs growth keeps the content. */
  CHECK_EQ(mu_buffer_append_str(&b, "keep"), 0);
  CHECK_EQ(mu_buffer_ensure_writable(&b, 100000), 0);
  CHECK(mu_buffer_writable_bytes(&b) >= 100000);
  CHECK(memcmp(mu_buffer_peek(&b), "keep", 4) == 0);
  memset(mu_buffer_begin_write(&b), 'q', 100000);
  mu_buffer_has_written(&b, 100000);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 100004);
  CHECK(all_bytes_are(mu_buffer_peek(&b) + 4, 'q', 100000));
  mu_buffer_destroy(&b);
}

static void test_retrieve_variants(void) {
  mu_buffer_t b = MU_BUFFER_INIT;
  CHECK_EQ(mu_buffer_append_str(&b, "hello world"), 0);
  mu_buffer_retrieve_until(&b, mu_buffer_peek(&b) + 6);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 5);
  CHECK(memcmp(mu_buffer_peek(&b), "world", 5) == 0);
  mu_buffer_retrieve_until(&b, mu_buffer_peek(&b)); /* nothing */
  CHECK_EQ(mu_buffer_readable_bytes(&b), 5);
  mu_buffer_retrieve_until(&b, mu_buffer_peek(&b) + 5);
  check_sizes(&b, 0, MU_BUFFER_INITIAL_SIZE, MU_BUFFER_CHEAP_PREPEND);

  /* The string is NUL-terminated, holds embedded NULs, and len_out is optional. */
  CHECK_EQ(mu_buffer_append(&b, "a\0b", 3), 0);
  /* Poison the byte after the content so a missing terminator shows. */
  CHECK_EQ(mu_buffer_append_str(&b, "Z"), 0);
  mu_buffer_unwrite(&b, 1);
  size_t len = 99;
  char *s = mu_buffer_retrieve_all_as_string(&b, &len);
  CHECK(s != NULL);
  CHECK_EQ(len, 3);
  CHECK(memcmp(s, "a\0b\0", 4) == 0);
  mu_free(s);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 0);
  CHECK_EQ(mu_buffer_append_str(&b, "xyz"), 0);
  s = mu_buffer_retrieve_all_as_string(&b, NULL);
  CHECK_STREQ(s, "xyz");
  mu_free(s);
  s = mu_buffer_retrieve_all_as_string(&b, &len);
  CHECK_STREQ(s, "");
  CHECK_EQ(len, 0);
  mu_free(s);
  mu_buffer_destroy(&b);
  s = mu_buffer_retrieve_all_as_string(&b, &len); /* no storage at all */
  CHECK(s != NULL);
  CHECK_STREQ(s, "");
  mu_free(s);
}

static void test_swap_release(void) {
  mu_buffer_t a = MU_BUFFER_INIT, b = MU_BUFFER_INIT;
  CHECK_EQ(mu_buffer_append_str(&a, "aaa"), 0);
  append_fill(&b, 'b', 3000);
  const char *da = a.data, *db = b.data;
  mu_buffer_swap(&a, &b);
  CHECK(a.data == db && b.data == da);
  CHECK_EQ(mu_buffer_readable_bytes(&a), 3000);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 3);
  CHECK(memcmp(mu_buffer_peek(&b), "aaa", 3) == 0);

  /* Non-empty buffers keep their storage; empty ones give it back. */
  long frees = g_frees;
  mu_buffer_release_if_empty(&a);
  CHECK(a.data == db);
  mu_buffer_retrieve(&a, 2999);
  mu_buffer_release_if_empty(&a);
  CHECK(a.data == db);
  mu_buffer_retrieve(&a, 1);
  mu_buffer_release_if_empty(&a);
  check_no_storage(&a);
  CHECK_EQ(g_frees, frees + 1);
  mu_buffer_release_if_empty(&a);
  CHECK_EQ(g_frees, frees + 1);
  mu_buffer_destroy(&a);
  mu_buffer_destroy(&b);
}

/* Appending the buffer's own content must survive the storage moving. */
static void test_self_append(void) {
  mu_buffer_t b = MU_BUFFER_INIT;
  append_fill(&b, 's', MU_BUFFER_INITIAL_SIZE - 10);
  CHECK_EQ(mu_buffer_append(&b, mu_buffer_peek(&b), mu_buffer_readable_bytes(&b)), 0);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 2 * (MU_BUFFER_INITIAL_SIZE - 10));
  CHECK(all_bytes_are(mu_buffer_peek(&b), 's', 2 * (MU_BUFFER_INITIAL_SIZE - 10)));
  mu_buffer_destroy(&b);

  /* By moving: the source slides down with the content. */
  append_fill(&b, 'a', 500);
  append_fill(&b, 'b', 500);
  mu_buffer_retrieve(&b, 600); /* 400 'b' left, 608 bytes in, 24 writable */
  const char *data = b.data;
  CHECK_EQ(mu_buffer_append(&b, mu_buffer_peek(&b) + 100, 300), 0);
  CHECK(b.data == data);
  CHECK_EQ(mu_buffer_prependable_bytes(&b), MU_BUFFER_CHEAP_PREPEND);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 700);
  CHECK(all_bytes_are(mu_buffer_peek(&b), 'b', 700));
  mu_buffer_destroy(&b);

  CHECK_EQ(mu_buffer_append_str(&b, "0123456789"), 0);
  mu_buffer_retrieve(&b, 2);
  CHECK_EQ(mu_buffer_append(&b, mu_buffer_peek(&b) + 3, 4), 0);
  CHECK(memcmp(mu_buffer_peek(&b), "234567895678", 12) == 0);
  mu_buffer_destroy(&b);
}

/* Amortised O(1) appends: the storage at least doubles when it grows. */
static void test_growth_is_geometric(void) {
  mu_buffer_t b = MU_BUFFER_INIT;
  long allocs = g_allocs;
  for (int i = 0; i < 1000000; i++)
    CHECK_EQ(mu_buffer_append(&b, "g", 1), 0);
  /* 1032 doubled ten times is 1056768 >= 1000008: one malloc, ten reallocs. */
  CHECK_EQ(g_allocs - allocs, 11);
  CHECK_EQ(mu_buffer_internal_capacity(&b), 1032u << 10);
  CHECK(all_bytes_are(mu_buffer_peek(&b), 'g', 1000000));
  mu_buffer_destroy(&b);
}

/* ---- the 4 GiB limit, with faked sizes ----------------------------------------------
 */

static void test_overflow(void) {
  mu_buffer_t b = MU_BUFFER_INIT;
  fail_from_now();
  long attempts = g_attempts;
  CHECK_EQ(mu_buffer_ensure_writable(&b, SIZE_MAX), -EMSGSIZE);
  CHECK_EQ(mu_buffer_ensure_writable(&b, UINT32_MAX), -EMSGSIZE);
  CHECK_EQ(mu_buffer_ensure_writable(&b, UINT32_MAX - 7), -EMSGSIZE);
  CHECK_EQ(mu_buffer_shrink(&b, SIZE_MAX), -EMSGSIZE);
  CHECK_EQ(mu_buffer_shrink(&b, UINT32_MAX - 7), -EMSGSIZE);
  CHECK_EQ(g_attempts, attempts); /* refused before asking for memory */
  check_no_storage(&b);
  /* The largest first allocation asks for exactly 4 GiB - 1. */
  CHECK_EQ(mu_buffer_ensure_writable(&b, UINT32_MAX - 8), -ENOMEM);
  CHECK_EQ(g_last_size, UINT32_MAX);
  check_no_storage(&b);
  stop_failing();

  /* A length whose low 32 bits are small must not pass as small. */
  CHECK_EQ(mu_buffer_append_str(&b, "abc"), 0);
  mu_buffer_t before = b;
  if (SIZE_MAX > UINT32_MAX) {
    size_t wrapped = (size_t)((uint64_t)UINT32_MAX + 6);
    CHECK_EQ(mu_buffer_append(&b, "x", (size_t)((uint64_t)UINT32_MAX + 1)), -EMSGSIZE);
    CHECK_EQ(mu_buffer_ensure_writable(&b, wrapped), -EMSGSIZE);
    CHECK_EQ(mu_buffer_append(&b, "x", wrapped), -EMSGSIZE);
    CHECK(same_struct(&b, &before));
  }
  mu_buffer_destroy(&b);

  /* Faked near-limit buffers over a small block: no byte beyond the block may be
   * touched, and every allocation fails so any attempt shows. */
  char *small = malloc(64);
  CHECK(small != NULL);
  fail_from_now();
  attempts = g_attempts;
  mu_buffer_t f = {small, UINT32_MAX, 8, UINT32_MAX - 10, 0};
  before = f;
  CHECK_EQ(mu_buffer_append(&f, small, 20), -EMSGSIZE);
  CHECK_EQ(mu_buffer_ensure_writable(&f, 11), -EMSGSIZE);
  CHECK_EQ(mu_buffer_shrink(&f, 11), -EMSGSIZE);
  CHECK(same_struct(&f, &before));
  CHECK_EQ(g_attempts, attempts);
  f.flags = MU_BUFFER_BORROWED; /* the same for borrowed storage */
  before = f;
  CHECK_EQ(mu_buffer_append(&f, small, 20), -EMSGSIZE);
  CHECK(same_struct(&f, &before));
  CHECK_EQ(g_attempts, attempts);

  /* Growth that cannot double clamps to the limit instead of wrapping. */
  mu_buffer_t g = {small, 0xC0000000u, 8, 0xC0000000u, 0};
  before = g;
  CHECK_EQ(mu_buffer_append(&g, "x", 1), -ENOMEM);
  CHECK_EQ(g_last_size, UINT32_MAX);
  CHECK(same_struct(&g, &before));

  /* Growing in place would pass the limit, but the content moved to the front
   * still fits: that is an allocation, not EMSGSIZE. */
  uint32_t reader = 1u << 20;
  mu_buffer_t h = {small, UINT32_MAX - 4, reader, UINT32_MAX - 4, 0};
  before = h;
  CHECK_EQ(mu_buffer_ensure_writable(&h, reader - 5), -ENOMEM);
  CHECK_EQ(g_last_size, UINT32_MAX);
  CHECK_EQ(mu_buffer_ensure_writable(&h, reader - 3), -EMSGSIZE);
  CHECK(same_struct(&h, &before));
  /* shrink asks for exactly prepend + readable + reserve. */
  CHECK_EQ(mu_buffer_shrink(&h, 3), -ENOMEM);
  CHECK_EQ(g_last_size, (size_t)UINT32_MAX - reader + 3 + 8 - 4);
  CHECK(same_struct(&h, &before));
  stop_failing();
  free(small);
}

/* Real operations at the limit, on 4 GiB of address space of which only the
 * touched pages become memory. */
static void test_at_the_limit(void) {
  if (SIZE_MAX <= UINT32_MAX) {
    printf("at the limit: skipped (32-bit size_t)\n");
    return;
  }
  void *m = mmap(NULL, g_huge_size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) {
    printf("at the limit: skipped (no 4 GiB of address space: %s)\n", strerror(errno));
    return;
  }
  g_huge = m;

  /* The last bytes below 4 GiB can be written; one more cannot. */
  mu_buffer_t b = {g_huge, UINT32_MAX, 8, UINT32_MAX - 10, 0};
  CHECK_EQ(mu_buffer_append(&b, "0123456789", 10), 0);
  CHECK_EQ(b.writer, UINT32_MAX);
  CHECK(memcmp(g_huge + UINT32_MAX - 10, "0123456789", 10) == 0);
  mu_buffer_t before = b;
  CHECK_EQ(mu_buffer_append(&b, "x", 1), -EMSGSIZE);
  CHECK_EQ(mu_buffer_ensure_writable(&b, 1), -EMSGSIZE);
  CHECK(same_struct(&b, &before));
  CHECK_EQ(mu_buffer_prepend_int64(&b, 42), 0);
  CHECK_EQ(mu_buffer_peek_int64(&b), 42);

  /* Growing in place would pass the limit; the storage grows to the limit and
   * the content moves to the front so the write fits. */
  mu_buffer_t g = {g_huge, 0xC0000000u, 0xBFFFFF00u, 0xBFFFFF10u, 0};
  memcpy(g_huge + g.reader, "sixteen bytes!!!", 16);
  CHECK_EQ(mu_buffer_ensure_writable(&g, 0xBFFFFFF0u), 0);
  CHECK_EQ(g.cap, UINT32_MAX);
  CHECK_EQ(g.reader, MU_BUFFER_CHEAP_PREPEND);
  CHECK_EQ(mu_buffer_readable_bytes(&g), 16);
  CHECK(memcmp(mu_buffer_peek(&g), "sixteen bytes!!!", 16) == 0);
  CHECK(mu_buffer_writable_bytes(&g) >= 0xBFFFFFF0u);
  /* The storage is not ours to free here: forget it. */
  CHECK(munmap(g_huge, g_huge_size) == 0);
  g_huge = NULL;
  printf("at the limit: checked on a 4 GiB reserved mapping\n");
}

/* ---- a failing allocator leaves the buffer unchanged ---------------------------------
 */

static void test_allocation_failure(void) {
  /* First write. */
  mu_buffer_t b = MU_BUFFER_INIT;
  fail_from_now();
  CHECK_EQ(mu_buffer_append_str(&b, "x"), -ENOMEM);
  check_no_storage(&b);
  CHECK_EQ(mu_buffer_prepend(&b, "x", 1), -ENOMEM);
  check_no_storage(&b);
  CHECK_EQ(mu_buffer_append_int32(&b, 7), -ENOMEM);
  check_no_storage(&b);
  errno = 0;
  CHECK(mu_buffer_new() == NULL);
  CHECK_EQ(errno, ENOMEM);
  stop_failing();

  /* Growth fails after N successful allocations: the buffer is untouched. */
  g_fail_after = g_allocs + 3;
  int rc = 0;
  size_t appended = 0;
  char chunk[700];
  for (int i = 0; i < 100 && rc == 0; i++) {
    memset(chunk, 'a' + i % 26, sizeof chunk);
    mu_buffer_t snap = b;
    rc = mu_buffer_append(&b, chunk, sizeof chunk);
    if (rc == 0) {
      appended += sizeof chunk;
    } else {
      CHECK_EQ(rc, -ENOMEM);
      CHECK(same_struct(&b, &snap));
    }
  }
  CHECK_EQ(rc, -ENOMEM);
  CHECK_EQ(mu_buffer_readable_bytes(&b), appended);
  for (size_t i = 0; i < appended; i++)
    CHECK_EQ(mu_buffer_peek(&b)[i], 'a' + (int)(i / sizeof chunk) % 26);

  /* Everything else that allocates fails cleanly too. */
  mu_buffer_t snap = b;
  errno = 0;
  CHECK(mu_buffer_retrieve_all_as_string(&b, NULL) == NULL);
  CHECK_EQ(errno, ENOMEM);
  CHECK(same_struct(&b, &snap)); /* nothing consumed */
  mu_buffer_retrieve(&b, 100);
  snap = b;
  CHECK_EQ(mu_buffer_shrink(&b, 0), -ENOMEM);
  CHECK(same_struct(&b, &snap));
  CHECK_EQ(mu_buffer_ensure_writable(&b, 1u << 20), -ENOMEM);
  CHECK(same_struct(&b, &snap));
  /* Moving the content needs no memory, so it still works. */
  size_t room = mu_buffer_writable_bytes(&b) + 100;
  CHECK_EQ(mu_buffer_ensure_writable(&b, room), 0);
  CHECK_EQ(mu_buffer_prependable_bytes(&b), MU_BUFFER_CHEAP_PREPEND);
  stop_failing();
  CHECK_EQ(mu_buffer_readable_bytes(&b), appended - 100);
  CHECK_EQ(mu_buffer_peek(&b)[0], 'a');
  mu_buffer_destroy(&b);
}

/* ---- borrowed storage -----------------------------------------------------------------
 */

static void test_borrow(void) {
  char mem[256];
  long frees = g_frees;
  long allocs = g_allocs;

  /* Empty at the end of the loan: back to no storage, nothing allocated. */
  mu_buffer_t b = MU_BUFFER_INIT;
  mu_buffer_borrow(&b, mem, sizeof mem);
  CHECK(b.data == mem);
  CHECK_EQ(b.flags, MU_BUFFER_BORROWED);
  check_sizes(&b, 0, sizeof mem - MU_BUFFER_CHEAP_PREPEND, MU_BUFFER_CHEAP_PREPEND);
  CHECK_EQ(mu_buffer_end_borrow(&b), 0);
  check_no_storage(&b);
  mu_buffer_borrow(&b, mem, sizeof mem);
  CHECK_EQ(mu_buffer_append_str(&b, "abc"), 0);
  mu_buffer_retrieve_all(&b);
  CHECK_EQ(mu_buffer_end_borrow(&b), 0);
  check_no_storage(&b);
  CHECK_EQ(g_allocs, allocs);

  /* Writes land in the lent memory; the unread rest is copied out at the end. */
  mu_buffer_borrow(&b, mem, sizeof mem);
  CHECK_EQ(mu_buffer_append_str(&b, "hello, borrowed world"), 0);
  CHECK(memcmp(mem + MU_BUFFER_CHEAP_PREPEND, "hello, borrowed world", 21) == 0);
  mu_buffer_retrieve(&b, 7);
  CHECK_EQ(mu_buffer_end_borrow(&b), 0);
  CHECK(b.data != NULL && b.data != mem);
  CHECK_EQ(b.flags, 0);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 14);
  CHECK(memcmp(mu_buffer_peek(&b), "borrowed world", 14) == 0);
  CHECK_EQ(mu_buffer_prependable_bytes(&b), MU_BUFFER_CHEAP_PREPEND);
  CHECK_EQ(mu_buffer_internal_capacity(&b),
           MU_BUFFER_CHEAP_PREPEND + MU_BUFFER_INITIAL_SIZE);
  memset(mem, 0, sizeof mem); /* the copy does not depend on the lent memory */
  CHECK(memcmp(mu_buffer_peek(&b), "borrowed world", 14) == 0);
  CHECK_EQ(mu_buffer_end_borrow(&b), 0); /* not borrowed any more: no-op */
  CHECK_EQ(mu_buffer_readable_bytes(&b), 14);
  mu_buffer_destroy(&b);
  CHECK_EQ(g_frees, frees + 1);

  /* Making room inside the lent memory moves, without copying out. */
  frees = g_frees;
  mu_buffer_borrow(&b, mem, 64);
  append_fill(&b, 'm', 50);
  mu_buffer_retrieve(&b, 40);
  append_fill(&b, 'n', 40);
  CHECK(b.data == mem);
  CHECK_EQ(b.flags, MU_BUFFER_BORROWED);
  CHECK(all_bytes_are(mu_buffer_peek(&b), 'm', 10));
  CHECK(all_bytes_are(mu_buffer_peek(&b) + 10, 'n', 40));

  /* Growing a borrowed buffer copies into owned storage and never frees the
   * lent memory (a stack array: freeing it would crash under ASan, and the
   * counter would show it). */
  append_fill(&b, 'o', 100);
  CHECK(b.data != mem);
  CHECK_EQ(b.flags, 0);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 150);
  CHECK(all_bytes_are(mu_buffer_peek(&b), 'm', 10));
  CHECK(all_bytes_are(mu_buffer_peek(&b) + 10, 'n', 40));
  CHECK(all_bytes_are(mu_buffer_peek(&b) + 50, 'o', 100));
  CHECK_EQ(g_frees, frees);
  const char *owned = b.data;
  CHECK_EQ(mu_buffer_end_borrow(&b), 0);
  CHECK(b.data == owned);
  mu_buffer_destroy(&b);

  /* destroy, release_if_empty and shrink only forget lent memory. */
  frees = g_frees;
  mu_buffer_borrow(&b, mem, sizeof mem);
  CHECK_EQ(mu_buffer_append_str(&b, "x"), 0);
  mu_buffer_destroy(&b);
  check_no_storage(&b);
  mu_buffer_borrow(&b, mem, sizeof mem);
  mu_buffer_release_if_empty(&b);
  check_no_storage(&b);
  mu_buffer_borrow(&b, mem, sizeof mem);
  CHECK_EQ(mu_buffer_shrink(&b, 0), 0);
  check_no_storage(&b);
  CHECK_EQ(g_frees, frees);
  mu_buffer_borrow(&b, mem, sizeof mem);
  CHECK_EQ(mu_buffer_append_str(&b, "shrunk"), 0);
  CHECK_EQ(mu_buffer_shrink(&b, 2), 0);
  CHECK(b.data != mem);
  CHECK_EQ(b.flags, 0);
  CHECK_EQ(mu_buffer_internal_capacity(&b), MU_BUFFER_CHEAP_PREPEND + 8);
  CHECK(memcmp(mu_buffer_peek(&b), "shrunk", 6) == 0);
  mu_buffer_destroy(&b);

  /* A block too small for the cheap prepend is used from its start. */
  mu_buffer_borrow(&b, mem, 4);
  check_sizes(&b, 0, 4, 0);
  CHECK_EQ(mu_buffer_append_str(&b, "abc"), 0);
  CHECK(b.data == mem);
  CHECK_EQ(mu_buffer_prepend(&b, "z", 1), -ENOSPC);
  mu_buffer_retrieve(&b, 3);
  check_sizes(&b, 0, 4, 0);
  CHECK_EQ(mu_buffer_append_str(&b, "abcde"), 0);
  CHECK(b.data != mem);
  CHECK(memcmp(mu_buffer_peek(&b), "abcde", 5) == 0);
  mu_buffer_destroy(&b);

  /* Nothing to lend leaves the buffer without storage. */
  mu_buffer_borrow(&b, NULL, 100);
  check_no_storage(&b);
  mu_buffer_borrow(&b, mem, 0);
  check_no_storage(&b);

  /* end_borrow out of memory: empty, no storage, lent memory not freed. */
  frees = g_frees;
  mu_buffer_borrow(&b, mem, sizeof mem);
  CHECK_EQ(mu_buffer_append_str(&b, "lost"), 0);
  fail_from_now();
  CHECK_EQ(mu_buffer_end_borrow(&b), -ENOMEM);
  stop_failing();
  check_no_storage(&b);
  CHECK_EQ(g_frees, frees);

  /* Growing a borrowed buffer out of memory leaves it as it was. */
  mu_buffer_borrow(&b, mem, 64);
  CHECK_EQ(mu_buffer_append_str(&b, "keep"), 0);
  mu_buffer_t snap = b;
  fail_from_now();
  char big[200];
  memset(big, 'B', sizeof big);
  CHECK_EQ(mu_buffer_append(&b, big, sizeof big), -ENOMEM);
  stop_failing();
  CHECK(same_struct(&b, &snap));
  CHECK(memcmp(mu_buffer_peek(&b), "keep", 4) == 0);
  CHECK_EQ(mu_buffer_end_borrow(&b), 0);
  CHECK(memcmp(mu_buffer_peek(&b), "keep", 4) == 0);
  mu_buffer_destroy(&b);
}

/* ---- fatal misuse
 * ---------------------------------------------------------------------- */

typedef struct death_case {
  int what;
  size_t fill;
} death_case_t;

static void die(void *arg) {
  const death_case_t *c = arg;
  mu_buffer_t b = MU_BUFFER_INIT;
  for (size_t i = 0; i < c->fill; i++)
    (void)mu_buffer_append_str(&b, "7");
  switch (c->what) {
    case 0:
      (void)mu_buffer_peek_int8(&b);
      break;
    case 1:
      (void)mu_buffer_peek_int16(&b);
      break;
    case 2:
      (void)mu_buffer_peek_int32(&b);
      break;
    case 3:
      (void)mu_buffer_peek_int64(&b);
      break;
    case 4:
      (void)mu_buffer_read_int8(&b);
      break;
    case 5:
      (void)mu_buffer_read_int16(&b);
      break;
    case 6:
      (void)mu_buffer_read_int32(&b);
      break;
    case 7:
      (void)mu_buffer_read_int64(&b);
      break;
    case 8:
      mu_buffer_has_written(&b, mu_buffer_writable_bytes(&b) + 1);
      break;
    case 9:
      mu_buffer_unwrite(&b, c->fill + 1);
      break;
    case 10:
      mu_buffer_retrieve_until(&b, mu_buffer_peek(&b) + c->fill + 1);
      break;
    case 11: {
      char mem[32];
      mu_buffer_borrow(&b, mem, sizeof mem);
      break;
    }
  }
  /* Reaching here means no abort: the parent sees a clean exit and fails. */
}

static void test_fatal_misuse(void) {
  static const struct {
    death_case_t c;
    const char *needle;
  } cases[] = {
      {{0, 0}, "mu_buffer_peek_int8"},       {{1, 1}, "mu_buffer_peek_int16"},
      {{2, 3}, "mu_buffer_peek_int32"},      {{3, 7}, "mu_buffer_peek_int64"},
      {{4, 0}, "mu_buffer_read_int8"},       {{5, 1}, "mu_buffer_read_int16"},
      {{6, 3}, "mu_buffer_read_int32"},      {{7, 7}, "mu_buffer_read_int64"},
      {{8, 2}, "mu_buffer_has_written"},     {{9, 2}, "mu_buffer_unwrite"},
      {{10, 2}, "mu_buffer_retrieve_until"}, {{11, 1}, "mu_buffer_borrow"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    test_expect_death(die, (void *)&cases[i].c, cases[i].needle);
  /* One byte more is enough: the same reads succeed. */
  mu_buffer_t b = MU_BUFFER_INIT;
  CHECK_EQ(mu_buffer_append(&b, "\1\2\3\4\5\6\7\10", 8), 0);
  CHECK_EQ(mu_buffer_peek_int64(&b), INT64_C(0x0102030405060708));
  mu_buffer_destroy(&b);
}

/* ---- randomised comparison with a byte-array model -----------------------------------
 */

static uint64_t g_rng;

static uint64_t rnd(void) { /* splitmix64: the same sequence on every libc */
  uint64_t z = (g_rng += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

static size_t rnd_below(size_t n) {
  return n == 0 ? 0 : (size_t)(rnd() % n);
}

typedef struct model {
  unsigned char *bytes;
  size_t len;
  size_t cap;
} model_t;

static void model_insert(model_t *m, size_t at, const void *p, size_t n) {
  if (m->len + n > m->cap) {
    m->cap = (m->len + n) * 2;
    m->bytes = realloc(m->bytes, m->cap);
    CHECK(m->bytes != NULL);
  }
  memmove(m->bytes + at + n, m->bytes + at, m->len - at);
  memcpy(m->bytes + at, p, n);
  m->len += n;
}

static void model_drop_front(model_t *m, size_t n) {
  if (n > m->len)
    n = m->len;
  memmove(m->bytes, m->bytes + n, m->len - n);
  m->len -= n;
}

static uint64_t model_be(const model_t *m, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; i++)
    v = (v << 8) | m->bytes[i];
  return v;
}

static void check_against_model(const mu_buffer_t *b, const model_t *m, long step) {
  if (mu_buffer_readable_bytes(b) != m->len ||
      (m->len > 0 && memcmp(mu_buffer_peek(b), m->bytes, m->len) != 0)) {
    fprintf(stderr, "model mismatch at step %ld: readable %zu, model %zu\n", step,
            mu_buffer_readable_bytes(b), m->len);
    abort();
  }
  CHECK(b->reader <= b->writer && b->writer <= b->cap);
  CHECK((b->data == NULL) == (b->cap == 0));
  if (b->data == NULL)
    CHECK(b->reader == 0 && b->writer == 0);
  if (b->data != NULL)
    CHECK(b->cap >= MU_BUFFER_CHEAP_PREPEND);
  CHECK_EQ(b->flags, 0);
}

static void fill_random(unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    p[i] = (unsigned char)rnd();
}

#define SCRATCH_SIZE 8000

/* At most SCRATCH_SIZE. */
static size_t random_len(void) {
  switch (rnd_below(10)) {
    case 0:
      return 0;
    case 1:
      return rnd_below(SCRATCH_SIZE + 1);
    default:
      return rnd_below(300);
  }
}

/* How often each kind of step ran, so a walk that skips one shows. */
enum {
  OP_APPEND,
  OP_WRITE,
  OP_RETRIEVE,
  OP_RETRIEVE_INTO,
  OP_PREPEND,
  OP_PREPEND_FULL,
  OP_UNWRITE,
  OP_READ_INT,
  OP_APPEND_INT,
  OP_RETRIEVE_ALL,
  OP_SHRINK,
  OP_RELEASE,
  OP_COUNT
};
static const char *const g_op_names[OP_COUNT] = {
    "append",  "write",    "retrieve",   "retrieve_into", "prepend", "prepend_enospc",
    "unwrite", "read_int", "append_int", "retrieve_all",  "shrink",  "release_if_empty"};
static long g_op_count[OP_COUNT];

static void model_step(mu_buffer_t *b, model_t *m, unsigned char *scratch, long step) {
  /* Keep the content moderate so the per-step comparison stays cheap. */
  bool big = m->len > 32768;
  unsigned op = (unsigned)rnd_below(100);
  if (big && op < 40)
    op += 40;
  if (op < 30) { /* append */
    size_t n = random_len();
    fill_random(scratch, n);
    CHECK_EQ(mu_buffer_append(b, scratch, n), 0);
    model_insert(m, m->len, scratch, n);
    g_op_count[OP_APPEND]++;
  } else if (op < 40) { /* ensure_writable + has_written of part of it */
    size_t want = random_len();
    CHECK_EQ(mu_buffer_ensure_writable(b, want), 0);
    CHECK(mu_buffer_writable_bytes(b) >= want);
    size_t n = rnd_below(want + 1);
    fill_random(scratch, n);
    if (n > 0)
      memcpy(mu_buffer_begin_write(b), scratch, n);
    mu_buffer_has_written(b, n);
    model_insert(m, m->len, scratch, n);
    g_op_count[OP_WRITE]++;
  } else if (op < 62) { /* retrieve, sometimes past the end */
    size_t n = rnd_below(m->len + 20);
    mu_buffer_retrieve(b, n);
    model_drop_front(m, n);
    if (m->len == 0 && b->data != NULL)
      CHECK_EQ(mu_buffer_prependable_bytes(b), MU_BUFFER_CHEAP_PREPEND);
    g_op_count[OP_RETRIEVE]++;
  } else if (op < 70) { /* retrieve_into, bounded by the scratch block */
    size_t n = rnd_below(m->len + 20);
    if (n > SCRATCH_SIZE)
      n = SCRATCH_SIZE;
    size_t got = mu_buffer_retrieve_into(b, scratch, n);
    CHECK_EQ(got, n < m->len ? n : m->len);
    CHECK(got == 0 || memcmp(scratch, m->bytes, got) == 0);
    model_drop_front(m, got);
    g_op_count[OP_RETRIEVE_INTO]++;
  } else if (op < 78) { /* prepend, when it can */
    size_t n = rnd_below(12);
    fill_random(scratch, n);
    size_t room =
        b->data == NULL ? MU_BUFFER_CHEAP_PREPEND : mu_buffer_prependable_bytes(b);
    int rc = mu_buffer_prepend(b, scratch, n);
    if (n <= room) {
      CHECK_EQ(rc, 0);
      model_insert(m, 0, scratch, n);
      g_op_count[OP_PREPEND]++;
    } else {
      CHECK_EQ(rc, -ENOSPC);
      g_op_count[OP_PREPEND_FULL]++;
    }
  } else if (op < 84) { /* unwrite */
    size_t n = rnd_below(m->len + 1);
    mu_buffer_unwrite(b, n);
    m->len -= n;
    g_op_count[OP_UNWRITE]++;
  } else if (op < 90) { /* integers */
    size_t width = (size_t)1 << rnd_below(4);
    uint64_t v = rnd();
    if (m->len >= width && rnd_below(2) == 0) {
      uint64_t expect = model_be(m, width);
      int64_t got = width == 1   ? mu_buffer_read_int8(b)
                    : width == 2 ? mu_buffer_read_int16(b)
                    : width == 4 ? mu_buffer_read_int32(b)
                                 : mu_buffer_read_int64(b);
      uint64_t mask = width == 8 ? UINT64_MAX : (UINT64_C(1) << (8 * width)) - 1;
      CHECK(((uint64_t)got & mask) == expect);
      model_drop_front(m, width);
      g_op_count[OP_READ_INT]++;
    } else {
      int rc = width == 1   ? mu_buffer_append_int8(b, (int8_t)v)
               : width == 2 ? mu_buffer_append_int16(b, (int16_t)v)
               : width == 4 ? mu_buffer_append_int32(b, (int32_t)v)
                            : mu_buffer_append_int64(b, (int64_t)v);
      CHECK_EQ(rc, 0);
      unsigned char raw[8];
      for (size_t i = 0; i < width; i++)
        raw[i] = (unsigned char)(v >> (8 * (width - 1 - i)));
      model_insert(m, m->len, raw, width);
      g_op_count[OP_APPEND_INT]++;
    }
  } else if (op < 94) { /* retrieve_all */
    mu_buffer_retrieve_all(b);
    m->len = 0;
    if (b->data != NULL)
      CHECK_EQ(mu_buffer_prependable_bytes(b), MU_BUFFER_CHEAP_PREPEND);
    g_op_count[OP_RETRIEVE_ALL]++;
  } else if (op < 97) { /* shrink */
    size_t reserve = rnd_below(3) == 0 ? 0 : rnd_below(500);
    CHECK_EQ(mu_buffer_shrink(b, reserve), 0);
    if (m->len + reserve == 0) {
      CHECK(b->data == NULL);
    } else {
      CHECK_EQ(mu_buffer_internal_capacity(b),
               MU_BUFFER_CHEAP_PREPEND + m->len + reserve);
    }
    g_op_count[OP_SHRINK]++;
  } else { /* release_if_empty */
    const char *data = b->data;
    mu_buffer_release_if_empty(b);
    if (m->len == 0) {
      CHECK(b->data == NULL);
    } else {
      CHECK(b->data == data);
    }
    g_op_count[OP_RELEASE]++;
  }
  check_against_model(b, m, step);
}

static void test_random_model(void) {
  uint64_t seed = UINT64_C(0x6d75647542756621);
  const char *env = getenv("BUFFER_SEED");
  if (env != NULL)
    seed = strtoull(env, NULL, 0);
  printf("random model: seed %" PRIu64 " (set BUFFER_SEED to replay)\n", seed);
  g_rng = seed;
  mu_buffer_t b = MU_BUFFER_INIT;
  model_t m = {malloc(64), 0, 64}; /* never NULL: memmove wants a pointer */
  CHECK(m.bytes != NULL);
  unsigned char *scratch = malloc(SCRATCH_SIZE);
  CHECK(scratch != NULL);
  size_t max_len = 0;
  for (long step = 0; step < 100000; step++) {
    model_step(&b, &m, scratch, step);
    if (m.len > max_len)
      max_len = m.len;
  }
  printf("random model: 100000 steps, largest content %zu bytes; steps:", max_len);
  for (int i = 0; i < OP_COUNT; i++) {
    printf(" %s %ld", g_op_names[i], g_op_count[i]);
    CHECK(g_op_count[i] > 100); /* every kind of step really ran */
  }
  printf("\n");
  CHECK(max_len > 10000); /* the walk really exercised growth */
  mu_buffer_destroy(&b);
  free(m.bytes);
  free(scratch);
}

int main(void) {
  test_time_limit(120);
  mu_allocator_t counting = {t_malloc, t_realloc, t_free};
  mu_set_allocator(&counting);
  test_no_storage_until_write();
  test_append_retrieve();
  test_grow();
  test_inside_grow();
  test_shrink();
  test_prepend();
  test_ints();
  test_find();
  test_write_in_place();
  test_retrieve_variants();
  test_swap_release();
  test_self_append();
  test_growth_is_geometric();
  test_overflow();
  test_at_the_limit();
  test_allocation_failure();
  test_borrow();
  test_fatal_misuse();
  test_random_model();
  mu_set_allocator(NULL);
  TEST_PASS("buffer");
}
