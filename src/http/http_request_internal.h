/* The request object's layout, shared by the parser (which builds requests)
 * and http_request.c (which reads and frees them). Never leaves src/. */
#ifndef CMUDUO_SRC_HTTP_HTTP_REQUEST_INTERNAL_H
#define CMUDUO_SRC_HTTP_HTTP_REQUEST_INTERNAL_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>

#include "cmuduo/http/http_parser.h"
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
  size_t block_cap; /* bytes allocated for the head block */
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

/* Frees r's body and trailers and hands back its head block (r is gone),
 * *cap bytes allocated with mu_malloc: for mu_http_parser_lend. */
void *mu_http_request_release(mu_http_request_t *r, size_t *cap);

/* Recycling head blocks (a server keeps a few per loop): an idle parser with
 * no scratch takes `block` (cap bytes, from mu_malloc) as the scratch of its
 * next request head, saving that head's allocation; returns false (block
 * still the caller's) otherwise. reclaim hands the scratch of an idle parser
 * back (NULL if it has none), so that an idle parser keeps holding nothing. */
bool mu_http_parser_lend(mu_http_parser_t *p, void *block, size_t cap);
void *mu_http_parser_reclaim(mu_http_parser_t *p, size_t *cap);

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
