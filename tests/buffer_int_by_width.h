/* mu_buffer_t's network-order integer calls picked by width in bytes (1, 2, 4,
 * anything else 8), for the tests and fuzz targets that drive a buffer with
 * random widths against a byte-array model (test_buffer_model.c,
 * fuzz/fuzz_buffer.c). Header-only. */
#ifndef CMUDUO_TESTS_BUFFER_INT_BY_WIDTH_H
#define CMUDUO_TESTS_BUFFER_INT_BY_WIDTH_H

#include <stdint.h>

#include "cmuduo/net/buffer.h"

static inline int append_int(mu_buffer_t *b, size_t width, uint64_t v) {
  switch (width) {
    case 1:
      return mu_buffer_append_int8(b, (int8_t)v);
    case 2:
      return mu_buffer_append_int16(b, (int16_t)v);
    case 4:
      return mu_buffer_append_int32(b, (int32_t)v);
    default:
      return mu_buffer_append_int64(b, (int64_t)v);
  }
}

static inline int prepend_int(mu_buffer_t *b, size_t width, uint64_t v) {
  switch (width) {
    case 1:
      return mu_buffer_prepend_int8(b, (int8_t)v);
    case 2:
      return mu_buffer_prepend_int16(b, (int16_t)v);
    case 4:
      return mu_buffer_prepend_int32(b, (int32_t)v);
    default:
      return mu_buffer_prepend_int64(b, (int64_t)v);
  }
}

static inline int64_t peek_int(const mu_buffer_t *b, size_t width) {
  switch (width) {
    case 1:
      return mu_buffer_peek_int8(b);
    case 2:
      return mu_buffer_peek_int16(b);
    case 4:
      return mu_buffer_peek_int32(b);
    default:
      return mu_buffer_peek_int64(b);
  }
}

static inline int64_t read_int(mu_buffer_t *b, size_t width) {
  switch (width) {
    case 1:
      return mu_buffer_read_int8(b);
    case 2:
      return mu_buffer_read_int16(b);
    case 4:
      return mu_buffer_read_int32(b);
    default:
      return mu_buffer_read_int64(b);
  }
}

#endif
