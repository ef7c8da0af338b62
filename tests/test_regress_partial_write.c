/* Regression (classic reactor bug): partial writes and more queued pieces
 * than IOV_MAX. A writer that gathers queued pieces into one writev breaks
 * when there are more pieces than IOV_MAX (EINVAL, or a silent cap that
 * loses the rest), or when it resumes after a partial write at the wrong
 * piece or offset. cmuduo keeps one contiguous output buffer and a list of
 * file regions; this checks the stream that comes out either way.
 *
 * The server, asked by the client, makes 3 x IOV_MAX separate sends of 1 to
 * 300 bytes in one callback, with file regions (mu_tcp_connection_send_file,
 * from a temporary file at a non-zero offset) between them, then more sends,
 * then shutdown. Its socket has a 4 KiB send buffer and the client reads
 * through a 4 KiB window in small random pieces, so almost every write is
 * partial. The client checks every byte at its offset of one position-keyed
 * stream and the exact length (end of file right after the last byte). Each
 * round also repeats with the sends made from another thread (queued to the
 * loop, in order per thread). */
#include "tcp_test_util.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/uio.h>

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif
#define PIECES (3 * IOV_MAX)
#define FILE_EVERY 400
#define FILE_LEN 20000
#define FILE_SKIP 123

static uint64_t g_stream;
static _Atomic uint64_t g_total; /* bytes the server queued */
static _Atomic int g_files;
static atomic_bool g_from_thread;
static tt_conn_counters_t g_counts;
static pthread_t g_producer;
static atomic_bool g_producer_started;

/* A temporary file holding `len` stream bytes from `off` after FILE_SKIP
 * bytes of junk; the descriptor is read from offset FILE_SKIP. */
static int stream_file(uint64_t off, size_t len) {
  char path[] = "/tmp/mu_regress_pw_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  CHECK(unlink(path) == 0);
  char junk[FILE_SKIP];
  memset(junk, 'J', sizeof junk);
  CHECK(write(fd, junk, sizeof junk) == (ssize_t)sizeof junk);
  char *buf = malloc(len);
  CHECK(buf != NULL);
  tt_pattern_fill(g_stream, off, buf, len);
  CHECK(write(fd, buf, len) == (ssize_t)len);
  free(buf);
  return fd;
}

/* The sends: PIECES pieces, a file region every FILE_EVERY (loop thread
 * only), then shutdown. */
static void produce(mu_tcp_connection_t *conn, bool files) {
  tt_rng_t rng = tt_rng_make(g_stream);
  uint64_t off = 0;
  char piece[300];
  for (int i = 0; i < PIECES; ++i) {
    size_t n = (size_t)tt_rng_range(&rng, 1, sizeof piece);
    tt_pattern_fill(g_stream, off, piece, n);
    CHECK_EQ(mu_tcp_connection_send(conn, piece, n), 0);
    off += n;
    if (files && i % FILE_EVERY == FILE_EVERY - 1) {
      int fd = stream_file(off, FILE_LEN);
      CHECK_EQ(mu_tcp_connection_send_file(conn, fd, FILE_SKIP, FILE_LEN), 0);
      off += FILE_LEN;
      atomic_fetch_add(&g_files, 1);
    }
  }
  atomic_store(&g_total, off);
  mu_tcp_connection_shutdown(conn);
}

static void *producer_thread(void *arg) {
  mu_tcp_connection_t *conn = arg;
  produce(conn, false);
  mu_tcp_connection_unref(conn);
  return NULL;
}

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t t,
                       void *arg) {
  (void)t;
  (void)arg;
  mu_buffer_retrieve_all(buf);
  if (atomic_load(&g_from_thread)) {
    mu_tcp_connection_ref(conn);
    CHECK(pthread_create(&g_producer, NULL, producer_thread, conn) == 0);
    atomic_store(&g_producer_started, true);
  } else {
    produce(conn, true);
  }
}

static void setup(mu_tcp_server_t *server, void *arg) {
  (void)arg;
  mu_tcp_server_set_message_callback(server, on_message, NULL);
  mu_tcp_server_set_connection_callback(server, tt_count_connection, &g_counts);
}

static void one_round(tt_server_t *s, uint64_t seed, bool from_thread) {
  g_stream = seed;
  atomic_store(&g_total, 0);
  atomic_store(&g_files, 0);
  atomic_store(&g_from_thread, from_thread);
  int fd = tt_connect_timeout(s->port, TT_IO_TIMEOUT_S, 4096);
  tt_write_all(fd, "go", 2);
  tt_rng_t rng = tt_rng_make(seed ^ 0xabcULL);
  char buf[4096];
  uint64_t got = 0;
  for (;;) {
    size_t want = (size_t)tt_rng_range(&rng, 1, sizeof buf);
    ssize_t n = tt_read_some(fd, buf, want);
    if (n == 0)
      break;
    size_t bad = tt_pattern_check(g_stream, got, buf, (size_t)n);
    if (bad != (size_t)n) {
      fprintf(stderr, "wrong byte at offset %" PRIu64 " (from_thread=%d)\n", got + bad,
              from_thread);
      abort();
    }
    got += (uint64_t)n;
  }
  close(fd);
  if (atomic_exchange(&g_producer_started, false))
    CHECK(pthread_join(g_producer, NULL) == 0);
  printf("round seed=%" PRIu64 " from_thread=%d: %d sends + %d file regions, %" PRIu64
         " bytes, all in order\n",
         seed, from_thread, PIECES, atomic_load(&g_files), got);
  CHECK_EQ(got, atomic_load(&g_total));
  CHECK(from_thread || atomic_load(&g_files) == PIECES / FILE_EVERY);
}

int main(void) {
  tt_init("regress_partial_write", 240);
  uint64_t seed = tt_seed(20261206);
  tt_server_t s;
  tt_server_start(&s, "partial", 1, setup, NULL);
  tt_server_shrink_sndbuf(&s, 4096);
  for (int r = 0; r < 4; ++r)
    one_round(&s, seed + (uint64_t)r, r % 2 == 1);
  CHECK_EQ(tt_server_wait_connections(&s, 0, 30), 0);
  CHECK_EQ(atomic_load(&g_counts.up), 4);
  CHECK_EQ(atomic_load(&g_counts.down), 4);
  tt_server_stop(&s);
  printf("regress_partial_write: ok\n");
  return 0;
}
