/* libFuzzer target: the chat examples' length-header codec
 * (examples/common/length_codec.h), fed the way a connection feeds it.
 *
 * Input: one byte N, then N split sizes (one byte each, 0 allowed), then the
 * byte stream. The stream is decoded three ways:
 *   - reference: a plain decoder over the byte array written here (4-byte
 *     big-endian signed length; negative or above LENGTH_CODEC_MAX_MESSAGE is
 *     invalid and stops the stream);
 *   - whole: all bytes appended to one mu_buffer_t, then decoded;
 *   - split: the bytes appended in pieces of the given sizes (cycled; a
 *     zero means an empty append), decoding every whole message after each
 *     append, as a message callback does.
 * All three must give the same messages, byte for byte, the same verdict
 * (invalid or not) and, when valid, the same count of bytes left waiting.
 * Re-encoding the messages with length_codec_encode must give back exactly
 * the stream's consumed prefix, and an oversized encode must fail without
 * touching the buffer. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmuduo/net/buffer.h"
#include "length_codec.h"

#define FAIL(...)                                                      \
  do {                                                                 \
    fprintf(stderr, "fuzz_length_codec: %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__);                                      \
    fputc('\n', stderr);                                               \
    abort();                                                           \
  } while (0)

/* Messages seen, as offsets into the stream of their payloads. */
typedef struct outcome {
  size_t count;
  size_t off[4096];
  size_t len[4096];
  bool invalid;
  size_t consumed; /* bytes of whole messages */
} outcome_t;

static void record(outcome_t *o, size_t off, size_t len) {
  if (o->count == sizeof o->off / sizeof o->off[0])
    FAIL("more messages than the input can hold");
  o->off[o->count] = off;
  o->len[o->count] = len;
  o->count++;
}

static void reference(const uint8_t *s, size_t n, outcome_t *o) {
  size_t pos = 0;
  while (n - pos >= LENGTH_CODEC_HEADER) {
    uint32_t u = (uint32_t)s[pos] << 24 | (uint32_t)s[pos + 1] << 16 |
                 (uint32_t)s[pos + 2] << 8 | s[pos + 3];
    if (u > LENGTH_CODEC_MAX_MESSAGE) { /* also every negative int32 */
      o->invalid = true;
      break;
    }
    if (n - pos - LENGTH_CODEC_HEADER < u)
      break;
    record(o, pos + LENGTH_CODEC_HEADER, u);
    pos += LENGTH_CODEC_HEADER + u;
  }
  o->consumed = pos;
}

/* Decodes every whole message now in `buf`; `base` is the stream offset of
 * the buffer's first readable byte. Checks each payload against the stream.
 * Returns false once the stream is invalid. */
static bool drain(mu_buffer_t *buf, const uint8_t *s, size_t *base, outcome_t *o) {
  for (;;) {
    const char *msg = NULL;
    size_t len = 0;
    length_codec_result_t r = length_codec_decode(buf, &msg, &len);
    if (r == LENGTH_CODEC_NEED_MORE)
      return true;
    if (r == LENGTH_CODEC_INVALID) {
      o->invalid = true;
      return false;
    }
    if (r != LENGTH_CODEC_MESSAGE)
      FAIL("decode returned %d", (int)r);
    if (msg != mu_buffer_peek(buf) + LENGTH_CODEC_HEADER)
      FAIL("payload not right behind the header");
    if (len != 0 && memcmp(msg, s + *base + LENGTH_CODEC_HEADER, len) != 0)
      FAIL("payload bytes differ from the stream at %zu", *base);
    record(o, *base + LENGTH_CODEC_HEADER, len);
    length_codec_consume(buf, len);
    *base += LENGTH_CODEC_HEADER + len;
  }
}

static void decode_split(const uint8_t *s, size_t n, const uint8_t *sizes, size_t nsizes,
                         outcome_t *o) {
  mu_buffer_t buf;
  mu_buffer_init(&buf);
  size_t fed = 0, base = 0, k = 0;
  bool ok = true;
  /* Only empty pieces would never move the stream: then feed it whole. */
  bool moves = false;
  for (size_t i = 0; i < nsizes; i++)
    moves = moves || sizes[i] != 0;
  if (!moves)
    nsizes = 0;
  while (ok && fed < n) {
    size_t piece = nsizes ? sizes[k++ % nsizes] : n;
    if (piece > n - fed)
      piece = n - fed;
    if (mu_buffer_append(&buf, s + fed, piece) != 0)
      FAIL("append failed");
    fed += piece;
    ok = drain(&buf, s, &base, o);
  }
  if (ok && mu_buffer_readable_bytes(&buf) != n - base)
    FAIL("%zu bytes left in the buffer, %zu not consumed", mu_buffer_readable_bytes(&buf),
         n - base);
  o->consumed = base;
  mu_buffer_destroy(&buf);
}

static void compare(const outcome_t *a, const outcome_t *b, const char *what) {
  if (a->count != b->count)
    FAIL("%s: %zu messages, reference %zu", what, b->count, a->count);
  for (size_t i = 0; i < a->count; i++) {
    if (a->off[i] != b->off[i] || a->len[i] != b->len[i])
      FAIL("%s: message %zu at %zu+%zu, reference %zu+%zu", what, i, b->off[i], b->len[i],
           a->off[i], a->len[i]);
  }
  if (a->invalid != b->invalid)
    FAIL("%s: invalid %d, reference %d", what, b->invalid, a->invalid);
  if (a->consumed != b->consumed)
    FAIL("%s: consumed %zu, reference %zu", what, b->consumed, a->consumed);
}

/* Encoding the messages again gives exactly the consumed prefix. */
static void check_encode(const uint8_t *s, const outcome_t *o) {
  mu_buffer_t out;
  mu_buffer_init(&out);
  for (size_t i = 0; i < o->count; i++) {
    if (length_codec_encode(&out, (const char *)s + o->off[i], o->len[i]) != 0)
      FAIL("encode of %zu bytes failed", o->len[i]);
  }
  if (mu_buffer_readable_bytes(&out) != o->consumed ||
      (o->consumed && memcmp(mu_buffer_peek(&out), s, o->consumed) != 0))
    FAIL("re-encoding does not give the stream back");
  size_t before = mu_buffer_readable_bytes(&out);
  if (length_codec_encode(&out, (const char *)s, LENGTH_CODEC_MAX_MESSAGE + 1) !=
      -EMSGSIZE)
    FAIL("oversized encode accepted");
  if (mu_buffer_readable_bytes(&out) != before)
    FAIL("failed encode changed the buffer");
  mu_buffer_destroy(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0 || size > 16384) /* at most 4096 messages of 4 bytes */
    return 0;
  size_t nsizes = data[0];
  if (nsizes > size - 1)
    nsizes = size - 1;
  const uint8_t *sizes = data + 1;
  const uint8_t *s = data + 1 + nsizes;
  size_t n = size - 1 - nsizes;

  static outcome_t ref, whole, split; /* large: keep them off the stack */
  memset(&ref, 0, sizeof ref);
  memset(&whole, 0, sizeof whole);
  memset(&split, 0, sizeof split);
  reference(s, n, &ref);
  decode_split(s, n, NULL, 0, &whole);
  compare(&ref, &whole, "whole");
  decode_split(s, n, sizes, nsizes, &split);
  compare(&ref, &split, "split");
  check_encode(s, &ref);
  return 0;
}
