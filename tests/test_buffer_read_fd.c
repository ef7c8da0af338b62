/* mu_buffer_read_fd over a pipe and over a socketpair: small reads, spill into
 * the 64 KiB stack block, reads capped at writable + 64 KiB, end of file,
 * EAGAIN, borrowed storage, and running out of memory for the spill. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/net/buffer.h"
#include "test_util.h"

static long g_allocs;
static long g_frees;
static long g_fail_after = -1;

static void *t_malloc(size_t n) {
  if (g_fail_after >= 0 && g_allocs >= g_fail_after)
    return NULL;
  g_allocs++;
  return malloc(n);
}

static void *t_realloc(void *p, size_t n) {
  if (g_fail_after >= 0 && g_allocs >= g_fail_after)
    return NULL;
  g_allocs++;
  return realloc(p, n);
}

static void t_free(void *p) {
  if (p != NULL)
    g_frees++;
  free(p);
}

/* Byte i of the stream: a pattern that shows any loss, duplication or reordering. */
static unsigned char pattern(uint64_t i) {
  return (unsigned char)((i * 131 + (i >> 9) * 7 + 3) & 0xff);
}

typedef struct channel {
  const char *name;
  int rfd;           /* non-blocking */
  int wfd;           /* non-blocking */
  uint64_t written;  /* stream offset of the next byte to write */
  uint64_t consumed; /* stream offset of the next byte to check */
} channel_t;

static void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  CHECK(fl >= 0);
  CHECK(fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0);
}

static channel_t open_channel(bool use_socket) {
  channel_t c = {use_socket ? "socketpair" : "pipe", -1, -1, 0, 0};
  int fds[2];
  if (use_socket) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    /* Room to queue several hundred KiB before anyone reads (the kernel clamps
     * the request to its maximum, which is still far above what we queue). */
    int size = 1 << 20;
    CHECK(setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof size) == 0);
    CHECK(setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &size, sizeof size) == 0);
  } else {
    CHECK(pipe(fds) == 0);
    /* 1 MiB is the default unprivileged maximum (fs.pipe-max-size). */
    if (fcntl(fds[1], F_SETPIPE_SZ, 1 << 20) < 0)
      fprintf(stderr, "F_SETPIPE_SZ failed: %s\n", strerror(errno));
  }
  c.rfd = fds[0];
  c.wfd = fds[1];
  set_nonblock(c.rfd);
  set_nonblock(c.wfd);
  return c;
}

/* Queues exactly n more pattern bytes without blocking; the test relies on the
 * kernel holding them all, so failing to is a failure, not a skip. */
static void queue_bytes(channel_t *c, size_t n) {
  static unsigned char chunk[16384];
  while (n > 0) {
    size_t k = n < sizeof chunk ? n : sizeof chunk;
    for (size_t i = 0; i < k; i++)
      chunk[i] = pattern(c->written + i);
    ssize_t w = write(c->wfd, chunk, k);
    if (w < 0) {
      fprintf(stderr, "%s: write: %s with %zu bytes still to queue\n", c->name,
              strerror(errno), n);
      abort();
    }
    c->written += (uint64_t)w;
    n -= (size_t)w;
  }
}

/* The buffer holds the next `readable` bytes of the stream: check and consume. */
static void check_and_consume(mu_buffer_t *b, channel_t *c) {
  const unsigned char *p = (const unsigned char *)mu_buffer_peek(b);
  size_t n = mu_buffer_readable_bytes(b);
  for (size_t i = 0; i < n; i++) {
    if (p[i] != pattern(c->consumed + i)) {
      fprintf(stderr, "%s: byte %" PRIu64 " wrong\n", c->name, c->consumed + i);
      abort();
    }
  }
  c->consumed += n;
  mu_buffer_retrieve_all(b);
}

/* What one read_fd may take: the writable space, plus the stack block only
 * while the writable space is smaller than it. */
static size_t read_limit(const mu_buffer_t *b) {
  size_t w = mu_buffer_writable_bytes(b);
  return w < MU_BUFFER_EXTRA_READ ? w + MU_BUFFER_EXTRA_READ : w;
}

static ssize_t read_once(mu_buffer_t *b, channel_t *c, int *err) {
  *err = 0;
  return mu_buffer_read_fd(b, c->rfd, err);
}

static void test_channel(bool use_socket) {
  channel_t c = open_channel(use_socket);
  mu_buffer_t b = MU_BUFFER_INIT;
  int err = 0;

  /* Nothing queued: EAGAIN, and still no storage. */
  CHECK_EQ(read_once(&b, &c, &err), -1);
  CHECK_EQ(err, EAGAIN);
  CHECK(b.data == NULL);

  /* A small read into a buffer without storage goes through the stack block and
   * gives the buffer its first storage. */
  queue_bytes(&c, 5);
  CHECK_EQ(read_once(&b, &c, &err), 5);
  CHECK(b.data != NULL);
  CHECK_EQ(mu_buffer_internal_capacity(&b),
           MU_BUFFER_CHEAP_PREPEND + MU_BUFFER_INITIAL_SIZE);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 5);

  /* A small read that fits lands in place, after what is there. */
  const char *data = b.data;
  long allocs = g_allocs;
  queue_bytes(&c, 100);
  CHECK_EQ(read_once(&b, &c, &err), 100);
  CHECK(b.data == data);
  CHECK_EQ(g_allocs, allocs);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 105);
  check_and_consume(&b, &c);

  /* Larger than writable: the rest spills into the stack block and is appended. */
  size_t writable = mu_buffer_writable_bytes(&b);
  CHECK(writable < 5000);
  queue_bytes(&c, 5000);
  CHECK_EQ(read_once(&b, &c, &err), 5000);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 5000);
  CHECK(mu_buffer_internal_capacity(&b) >= MU_BUFFER_CHEAP_PREPEND + 5000);
  check_and_consume(&b, &c);

  /* More than writable + 64 KiB queued: each call takes exactly its limit, so it
   * takes several calls; the content is exact across them. */
  mu_buffer_destroy(&b);
  CHECK_EQ(mu_buffer_append(&b, "x", 1), 0);
  mu_buffer_retrieve_all(&b);
  const size_t total = 200 * 1024;
  queue_bytes(&c, total);
  size_t got = 0;
  int calls = 0;
  bool spilled = false;
  while (got < total) {
    size_t limit = read_limit(&b);
    size_t remaining = total - got;
    size_t before = mu_buffer_readable_bytes(&b);
    size_t room = mu_buffer_writable_bytes(&b);
    ssize_t n = read_once(&b, &c, &err);
    CHECK_EQ(n, remaining < limit ? remaining : limit);
    CHECK_EQ(mu_buffer_readable_bytes(&b), before + (size_t)n);
    if ((size_t)n > room)
      spilled = true;
    got += (size_t)n;
    calls++;
    CHECK(calls < 100);
  }
  CHECK(spilled);
  CHECK(calls >= 3);
  printf("%s: %zu bytes in %d read_fd calls\n", c.name, got, calls);
  check_and_consume(&b, &c);

  /* With >= 64 KiB writable, one call reads exactly the writable space. */
  mu_buffer_destroy(&b);
  CHECK_EQ(mu_buffer_ensure_writable(&b, 100000), 0);
  writable = mu_buffer_writable_bytes(&b);
  CHECK_EQ(writable, 100000);
  queue_bytes(&c, writable + 1000);
  CHECK_EQ(read_once(&b, &c, &err), (ssize_t)writable);
  CHECK_EQ(mu_buffer_writable_bytes(&b), 0);
  CHECK_EQ(read_once(&b, &c, &err), 1000);
  check_and_consume(&b, &c);

  /* Drained: EAGAIN again, buffer unchanged. */
  mu_buffer_t snap = b;
  CHECK_EQ(read_once(&b, &c, &err), -1);
  CHECK_EQ(err, EAGAIN);
  CHECK(b.data == snap.data && b.reader == snap.reader && b.writer == snap.writer);

  /* End of file: 0, buffer unchanged, and again on the next call. */
  queue_bytes(&c, 10);
  close(c.wfd);
  CHECK_EQ(read_once(&b, &c, &err), 10);
  check_and_consume(&b, &c);
  snap = b;
  CHECK_EQ(read_once(&b, &c, &err), 0);
  CHECK_EQ(read_once(&b, &c, &err), 0);
  CHECK(b.data == snap.data && b.reader == snap.reader && b.writer == snap.writer);
  CHECK_EQ(c.consumed, c.written);

  /* A closed descriptor: -1 with its errno. */
  close(c.rfd);
  CHECK_EQ(read_once(&b, &c, &err), -1);
  CHECK_EQ(err, EBADF);
  mu_buffer_destroy(&b);
}

/* A borrowed block is read into in place; a read past it copies out and never
 * frees the lent memory. */
static void test_borrowed(void) {
  channel_t c = open_channel(false);
  static char lent[4096];
  mu_buffer_t b = MU_BUFFER_INIT;
  int err;
  long frees = g_frees;
  mu_buffer_borrow(&b, lent, sizeof lent);
  queue_bytes(&c, 1000);
  CHECK_EQ(read_once(&b, &c, &err), 1000);
  CHECK(b.data == lent);
  CHECK(memcmp(lent + MU_BUFFER_CHEAP_PREPEND, mu_buffer_peek(&b), 1000) == 0);
  queue_bytes(&c, 20000);
  CHECK_EQ(read_once(&b, &c, &err), 20000);
  CHECK(b.data != lent);
  CHECK_EQ(b.flags, 0);
  CHECK_EQ(mu_buffer_readable_bytes(&b), 21000);
  CHECK_EQ(g_frees, frees);
  check_and_consume(&b, &c);
  CHECK_EQ(mu_buffer_end_borrow(&b), 0);
  mu_buffer_destroy(&b);

  /* Borrowed and ended empty: back to no storage. */
  mu_buffer_borrow(&b, lent, sizeof lent);
  queue_bytes(&c, 300);
  CHECK_EQ(read_once(&b, &c, &err), 300);
  check_and_consume(&b, &c);
  CHECK_EQ(mu_buffer_end_borrow(&b), 0);
  CHECK(b.data == NULL);
  CHECK_EQ(g_frees, frees + 1);
  close(c.rfd);
  close(c.wfd);
}

/* No memory for the spill: -1/ENOMEM, and the bytes that fitted stay. */
static void test_out_of_memory(void) {
  channel_t c = open_channel(false);
  mu_buffer_t b = MU_BUFFER_INIT;
  int err;
  CHECK_EQ(mu_buffer_append(&b, "x", 1), 0);
  mu_buffer_retrieve_all(&b);
  size_t writable = mu_buffer_writable_bytes(&b);
  queue_bytes(&c, writable + 500);
  g_fail_after = g_allocs;
  CHECK_EQ(read_once(&b, &c, &err), -1);
  CHECK_EQ(err, ENOMEM);
  CHECK_EQ(mu_buffer_readable_bytes(&b), writable);
  check_and_consume(&b, &c); /* the first `writable` bytes, exact */

  /* Without storage nothing fits in place, so nothing is kept. */
  mu_buffer_destroy(&b);
  c.consumed += 500; /* the spilled bytes above were lost */
  queue_bytes(&c, 10);
  CHECK_EQ(read_once(&b, &c, &err), -1);
  CHECK_EQ(err, ENOMEM);
  CHECK(b.data == NULL);
  g_fail_after = -1;
  c.consumed += 10;
  queue_bytes(&c, 10);
  CHECK_EQ(read_once(&b, &c, &err), 10);
  check_and_consume(&b, &c);
  mu_buffer_destroy(&b);
  close(c.rfd);
  close(c.wfd);
}

int main(void) {
  test_time_limit(60);
  mu_allocator_t counting = {t_malloc, t_realloc, t_free};
  mu_set_allocator(&counting);
  test_channel(false);
  test_channel(true);
  test_borrowed();
  test_out_of_memory();
  mu_set_allocator(NULL);
  TEST_PASS("buffer_read_fd");
}
