/* The pure steps of http_static.c, apart so that tests reach them without a
 * network or a file system. Never leaves src/. */
#ifndef CMUDUO_SRC_HTTP_HTTP_STATIC_INTERNAL_H
#define CMUDUO_SRC_HTTP_HTTP_STATIC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmuduo/http/http_static.h"

/* What mu_http_static_clean_path found besides the path. */
typedef struct mu_http_clean_path {
  size_t len;    /* of the relative path written to out */
  bool dir_form; /* the URL path ended in '/' (or was "/") */
  bool hidden;   /* some segment starts with '.' */
} mu_http_clean_path_t;

/* Decodes the URL path raw[0, raw_len) (which must start with '/') and writes
 * it to out as a path relative to the docroot: segments joined by single
 * '/', no leading or trailing '/', "" for the root; "." and empty segments
 * dropped. Returns 0, -EINVAL (no leading '/', a bad escape, %00: 400),
 * -EACCES (a ".." segment: 403) or -ENAMETOOLONG (out_size too small). */
int mu_http_static_clean_path(const char *raw, size_t raw_len, char *out, size_t out_size,
                              mu_http_clean_path_t *info);

typedef enum mu_http_range_result {
  MU_HTTP_RANGE_NONE = 0,      /* no usable single range: send the whole file */
  MU_HTTP_RANGE_OK,            /* *first and *len are the bytes to send (206) */
  MU_HTTP_RANGE_UNSATISFIABLE, /* 416 */
} mu_http_range_result_t;

/* Interprets a Range field value (NULL: none) against a file of `size` bytes:
 * one "bytes=" range (unit case-insensitive, spaces around it and empty list
 * elements allowed). Several ranges, another unit or bad syntax give NONE. */
mu_http_range_result_t mu_http_static_parse_range(const char *value, uint64_t size,
                                                  uint64_t *first, uint64_t *len);

/* Whether the ETag list of If-None-Match (or If-Match) `list` has an entity
 * tag equal to `etag` (itself quoted, maybe W/-prefixed): weak comparison
 * ignores W/ on both sides, strong comparison needs both strong. "*" matches
 * any. A malformed list matches nothing. */
bool mu_http_static_etag_match(const char *list, const char *etag, bool weak);

/* Writes the strong ETag for a file's mtime and size ("\"<hex>-<hex>\"") into
 * buf (at least 48 bytes). Returns the length. */
size_t mu_http_static_format_etag(int64_t mtime_sec, long mtime_nsec, uint64_t size,
                                  char *buf, size_t buf_size);

/* For tests: whether the object uses openat2 (true when the kernel has it)
 * and a way to force the component-by-component fallback. */
bool mu_http_static_uses_openat2(const mu_http_static_t *s);
void mu_http_static_force_fallback(mu_http_static_t *s);

#endif
