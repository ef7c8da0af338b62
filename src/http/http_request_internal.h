/* The request object's layout, shared by the parser (which builds requests)
 * and http_request.c (which reads and frees them). Never leaves src/. */
#ifndef CMUDUO_SRC_HTTP_HTTP_REQUEST_INTERNAL_H
#define CMUDUO_SRC_HTTP_HTTP_REQUEST_INTERNAL_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>

#include "cmuduo/http/http_request.h"

/* The object sits at the start of the head block, followed by the head bytes
 * (NUL-terminated in place), the header array and a copy of the path when the
 * path is not the whole target: one allocation (see http_parser.c). */
struct mu_http_request {
  const char *method_str;
  const char *target;
  const char *path;
  const char *query;
  mu_http_header_t *headers;
  mu_http_header_t *trailers; /* inside trailer_block */
  void *trailer_block;        /* owned; NULL without trailers */
  char *body;                 /* owned, body_len bytes + NUL; NULL without a body */
  size_t header_count;
  size_t trailer_count;
  size_t body_len;
  mu_http_method_t method;
  unsigned char major;
  unsigned char minor;
  bool keep_alive;
  bool expect_continue;
  bool chunked;
  bool has_query;
};

/* Bytes reserved for the object at the head block's start, so that what
 * follows stays aligned. */
#define MU_HTTP_REQUEST_RESERVE                                                         \
  ((sizeof(struct mu_http_request) + alignof(max_align_t) - 1) / alignof(max_align_t) * \
   alignof(max_align_t))

/* Token characters (RFC 9110 §5.6.2) and uri-host [":" port] characters
 * (reg-name, IP-literal, IPv4), as tables shared with the parser. */
extern const bool mu_http_tchar_table[256];
extern const bool mu_http_host_char_table[256];

static inline bool mu_http_is_tchar(unsigned char c) {
  return mu_http_tchar_table[c];
}

static inline bool mu_http_is_host_char(unsigned char c) {
  return mu_http_host_char_table[c];
}

#endif
