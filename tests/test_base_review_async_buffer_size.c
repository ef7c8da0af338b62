/* Review of async_logging.h: options.buffer_size is "bytes per buffer; default
 * 4 MiB, at least 8 KiB", and mu_async_logging_new "returns NULL and sets errno
 * if ... memory is short". A buffer size near SIZE_MAX made the allocation size
 * (header + buffer_size) wrap to a few bytes: malloc succeeded, and the logger
 * then wrote the header past that small block and cleared buffer_size bytes
 * from it (a crash). No buffer that size can exist: new must fail with ENOMEM,
 * as mu_calloc does for a size that overflows. Sizes that do not wrap still
 * work (a large-but-possible one fails cleanly or succeeds; an ordinary one
 * logs). */
#include <errno.h>

#include "cmuduo/cmuduo.h"
#include "test_util.h"

static char g_out[256];
static size_t g_out_len;

static void sink(const char *data, size_t len, void *arg) {
  (void)arg;
  size_t n = len < sizeof g_out - 1 - g_out_len ? len : sizeof g_out - 1 - g_out_len;
  memcpy(g_out + g_out_len, data, n);
  g_out_len += n;
}

static void check_refused(size_t buffer_size) {
  mu_async_logging_options_t o;
  mu_async_logging_options_init(&o);
  o.buffer_size = buffer_size;
  o.sink_write = sink;
  errno = 0;
  mu_async_logging_t *al = mu_async_logging_new(NULL, &o);
  printf("  buffer_size=%zu: %s (errno %d)\n", buffer_size, al ? "made" : "refused",
         errno);
  CHECK(al == NULL);
  CHECK_EQ(errno, ENOMEM);
}

int main(void) {
  test_time_limit(30);
  check_refused(SIZE_MAX);
  check_refused(SIZE_MAX - 4);
  check_refused(SIZE_MAX - sizeof(size_t) + 1);

  /* An ordinary size still makes a working logger. */
  mu_async_logging_options_t o;
  mu_async_logging_options_init(&o);
  o.buffer_size = 8 << 10;
  o.sink_write = sink;
  mu_async_logging_t *al = mu_async_logging_new(NULL, &o);
  CHECK(al != NULL);
  CHECK_EQ(mu_async_logging_start(al), 0);
  mu_async_logging_append(al, "one line\n", 9);
  CHECK_EQ(mu_async_logging_flush(al), 0);
  mu_async_logging_free(al);
  CHECK_EQ(g_out_len, 9);
  CHECK(memcmp(g_out, "one line\n", 9) == 0);
  TEST_PASS("base_review_async_buffer_size");
}
