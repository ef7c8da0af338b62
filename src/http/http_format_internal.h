/* Number formatting for response heads, shared by http_response.c and
 * http_static.c: no snprintf on the per-request path. Never leaves src/. */
#ifndef CMUDUO_SRC_HTTP_HTTP_FORMAT_INTERNAL_H
#define CMUDUO_SRC_HTTP_HTTP_FORMAT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Writes v in decimal at p (no NUL) and returns the end. Digits are counted
 * first, then written backwards in place: no copy loop. */
static inline char *mu_http_put_u64(char *p, uint64_t v) {
  if (v < 100) { /* small bodies: no loops */
    if (v >= 10)
      *p++ = (char)('0' + v / 10);
    *p++ = (char)('0' + v % 10);
    return p;
  }
  size_t n = 1;
  for (uint64_t x = v; x >= 10; x /= 10)
    n++;
  char *end = p + n;
  do {
    *--end = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  return p + n;
}

/* Writes v in lower-case hex at p (no NUL) and returns the end. */
static inline char *mu_http_put_hex(char *p, uint64_t v) {
  size_t n = 1;
  for (uint64_t x = v; x >= 16; x >>= 4)
    n++;
  char *end = p + n;
  do {
    *--end = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v != 0);
  return p + n;
}

#endif
