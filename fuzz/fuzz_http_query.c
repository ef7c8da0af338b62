/* libFuzzer target: form-urlencoded queries (mu_http_query_next and
 * mu_http_query_get).
 *
 * The input up to its first NUL is the query; the byte after the NUL (if any)
 * sets the buffer sizes handed in. The reference is built from independent
 * parts: the query split at every '&' (empty pieces dropped), each piece split
 * at its first '=', each half decoded by mu_http_percent_decode with '+' as
 * space and "%00" refused.
 *
 * Checked for every input:
 *  - mu_http_query_next walks exactly the reference pairs in order: 1 with the
 *    same key and value when both decode and fit, -EINVAL when either half
 *    has a bad escape, -ENOSPC when one does not fit; then 0, and the cursor
 *    ends on the query's NUL;
 *  - mu_http_query_get of each decodable key returns the value of the first
 *    reference pair with that key (or that pair's -EINVAL / -ENOSPC, with the
 *    length needed);
 *  - no call writes past the sizes it was given: every buffer is malloc'd to
 *    the byte, so ASan sees an overrun. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmuduo/http/http_request.h"

#define FAIL(...)                                                    \
  do {                                                               \
    fprintf(stderr, "fuzz_http_query: %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__);                                    \
    fputc('\n', stderr);                                             \
    abort();                                                         \
  } while (0)

#define MAX_QUERY 512
#define MAX_PAIRS 256

typedef struct ref_pair {
  int key_rc, value_rc; /* 0 or -EINVAL */
  char key[MAX_QUERY + 1], value[MAX_QUERY + 1];
  size_t key_len, value_len;
} ref_pair_t;

static ref_pair_t g_ref[MAX_PAIRS];

static int ref_decode(const char *s, size_t n, char *out, size_t *len) {
  return mu_http_percent_decode(s, n, out, len,
                                MU_HTTP_DECODE_PLUS_AS_SPACE | MU_HTTP_DECODE_REJECT_NUL);
}

/* The reference pairs of q; their count. */
static int reference(const char *q) {
  int n = 0;
  const char *s = q;
  while (*s != '\0') {
    const char *amp = strchr(s, '&');
    const char *end = amp ? amp : s + strlen(s);
    if (end > s) {
      ref_pair_t *p = &g_ref[n++];
      const char *eq = memchr(s, '=', (size_t)(end - s));
      const char *key_end = eq ? eq : end;
      const char *value = eq ? eq + 1 : end;
      p->key_rc = ref_decode(s, (size_t)(key_end - s), p->key, &p->key_len);
      p->value_rc = ref_decode(value, (size_t)(end - value), p->value, &p->value_len);
    }
    s = amp ? amp + 1 : end;
  }
  return n;
}

static void check_next(const char *q, int npairs, size_t key_cap, size_t value_cap) {
  char *key = malloc(key_cap ? key_cap : 1);
  char *value = malloc(value_cap ? value_cap : 1);
  if (key == NULL || value == NULL)
    abort();
  const char *cur = q;
  for (int i = 0; i < npairs; ++i) {
    const ref_pair_t *p = &g_ref[i];
    int rc = mu_http_query_next(&cur, key, key_cap, value, value_cap);
    int want = 1;
    if (p->key_rc != 0 || p->value_rc != 0)
      want = -EINVAL;
    else if (p->key_len + 1 > key_cap || p->value_len + 1 > value_cap)
      want = -ENOSPC;
    if (rc != want)
      FAIL("pair %d of \"%s\": next = %d, want %d", i, q, rc, want);
    if (rc == 1 && (memcmp(key, p->key, p->key_len + 1) != 0 ||
                    memcmp(value, p->value, p->value_len + 1) != 0))
      FAIL("pair %d of \"%s\": decoded differently", i, q);
  }
  if (mu_http_query_next(&cur, key, key_cap, value, value_cap) != 0)
    FAIL("\"%s\": more pairs than the reference's %d", q, npairs);
  if (*cur != '\0')
    FAIL("\"%s\": cursor not at the end", q);
  free(key);
  free(value);
}

static void check_get(const char *q, int npairs, size_t cap) {
  char *buf = malloc(cap ? cap : 1);
  if (buf == NULL)
    abort();
  for (int i = 0; i < npairs; ++i) {
    if (g_ref[i].key_rc != 0)
      continue;
    int first = 0; /* the first pair with this key wins */
    while (g_ref[first].key_rc != 0 || strcmp(g_ref[first].key, g_ref[i].key) != 0)
      first++;
    const ref_pair_t *p = &g_ref[first];
    size_t len = 0;
    int rc = mu_http_query_get(q, g_ref[i].key, buf, cap, &len);
    int want = p->value_rc != 0 ? -EINVAL : (p->value_len + 1 > cap ? -ENOSPC : 0);
    if (rc != want)
      FAIL("get(\"%s\", \"%s\") = %d, want %d", q, g_ref[i].key, rc, want);
    if (rc == 0 && (len != p->value_len || memcmp(buf, p->value, len + 1) != 0))
      FAIL("get(\"%s\", \"%s\"): another value", q, g_ref[i].key);
    if (rc == -ENOSPC && len != p->value_len)
      FAIL("get(\"%s\", \"%s\"): needs %zu, said %zu", q, g_ref[i].key, p->value_len,
           len);
  }
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char q[MAX_QUERY + 1];
  size_t n = strnlen((const char *)data, size < MAX_QUERY ? size : MAX_QUERY);
  memcpy(q, data, n);
  q[n] = '\0';
  /* More '&'-pieces than MAX_PAIRS need more than 2 * MAX_PAIRS bytes. */
  int npairs = reference(q);
  size_t sizes = n + 1 < size ? data[n + 1] : 255;
  size_t key_cap = sizes & 15, value_cap = (sizes >> 4) * 4;
  check_next(q, npairs, key_cap, value_cap);
  check_next(q, npairs, MAX_QUERY + 1, MAX_QUERY + 1);
  check_get(q, npairs, value_cap);
  check_get(q, npairs, MAX_QUERY + 1);
  return 0;
}
