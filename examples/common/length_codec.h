/* The chat examples' wire format (muduo's LengthHeaderCodec): each message is a
 * 4-byte big-endian length followed by that many bytes. The decoder is sans-IO
 * (works on a Buffer alone) so it can be tested and fuzzed without sockets. */
#ifndef CMUDUO_EXAMPLES_COMMON_LENGTH_CODEC_H
#define CMUDUO_EXAMPLES_COMMON_LENGTH_CODEC_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cmuduo/net/buffer.h"
#include "cmuduo/net/tcp_connection.h"

#define LENGTH_CODEC_HEADER 4
#define LENGTH_CODEC_MAX_MESSAGE 65536

typedef enum {
  LENGTH_CODEC_NEED_MORE = 0,
  LENGTH_CODEC_MESSAGE = 1,
  LENGTH_CODEC_INVALID = -1,
} length_codec_result_t;

/* Looks for one whole message at the front of `buf`. On MESSAGE, *msg and *len name
 * the payload inside the buffer; consume it with length_codec_consume(). */
static inline length_codec_result_t length_codec_decode(const mu_buffer_t *buf,
                                                        const char **msg, size_t *len) {
  if (mu_buffer_readable_bytes(buf) < LENGTH_CODEC_HEADER)
    return LENGTH_CODEC_NEED_MORE;
  int32_t n = mu_buffer_peek_int32(buf);
  if (n < 0 || n > LENGTH_CODEC_MAX_MESSAGE)
    return LENGTH_CODEC_INVALID;
  if (mu_buffer_readable_bytes(buf) < LENGTH_CODEC_HEADER + (size_t)n) {
    return LENGTH_CODEC_NEED_MORE;
  }
  *msg = mu_buffer_peek(buf) + LENGTH_CODEC_HEADER;
  *len = (size_t)n;
  return LENGTH_CODEC_MESSAGE;
}

static inline void length_codec_consume(mu_buffer_t *buf, size_t len) {
  mu_buffer_retrieve(buf, LENGTH_CODEC_HEADER + len);
}

/* Appends one framed message to `out`; 0 or a negative errno. */
static inline int length_codec_encode(mu_buffer_t *out, const char *msg, size_t len) {
  if (len > LENGTH_CODEC_MAX_MESSAGE)
    return -EMSGSIZE;
  int rc = mu_buffer_append_int32(out, (int32_t)len);
  return rc ? rc : mu_buffer_append(out, msg, len);
}

#endif
