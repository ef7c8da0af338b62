/* Regression: shutdown() from another thread must not half-close ahead of that
 * thread's earlier sends. shutdown() marks the connection DISCONNECTING in the
 * caller's thread at once, while the caller's sends are still queued to the
 * loop; a write event that drains the output in between used to take the
 * state as "shut down now" and send the FIN, and the queued bytes then met
 * EPIPE and were lost (muduo has the same race). Found under TSan by
 * regress_partial_write; this test makes the interleaving certain:
 *
 *   1. the loop sends until a few hundred bytes stay queued (socket full);
 *   2. the loop is held in a functor; the client reads all that reached the
 *      socket, so the next write event will drain the output at once;
 *   3. this thread sends a tail and calls shutdown (both queued);
 *   4. the loop is let go: write event (drain) first, then the queued calls.
 *
 * The client must get every byte, the tail last, then end of stream. */
#include <pthread.h>

#include "cmuduo/base/countdown_latch.h"
#include "tcp_test_util.h"

enum { k_chunk = 1000 };
static const char k_tail[] = "the tail, sent from another thread before shutdown";

typedef struct state {
  _Atomic(mu_tcp_connection_t *) conn; /* a reference of ours */
  uint64_t offered;                    /* stream bytes given to send */
  uint64_t in_kernel;                  /* of them, taken by the socket */
  mu_countdown_latch_t entered, release;
} state_t;

static state_t g;

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (mu_tcp_connection_connected(conn)) {
    mu_tcp_connection_ref(conn);
    atomic_store(&g.conn, conn);
  }
}

static void setup(mu_tcp_server_t *server, void *arg) {
  (void)arg;
  mu_tcp_server_set_connection_callback(server, on_connection, NULL);
}

/* Step 1, in the loop: send until the output buffer keeps something. */
static void fill(void *p) {
  (void)p;
  mu_tcp_connection_t *conn = atomic_load(&g.conn);
  char chunk[k_chunk];
  for (int i = 0; i < 100000; ++i) {
    tt_pattern_fill(1, g.offered, chunk, sizeof chunk);
    CHECK_EQ(mu_tcp_connection_send(conn, chunk, sizeof chunk), 0);
    g.offered += sizeof chunk;
    if (mu_buffer_readable_bytes(mu_tcp_connection_output_buffer(conn)) > 0)
      break;
  }
  g.in_kernel = mu_tcp_connection_bytes_sent(conn);
  CHECK(g.in_kernel < g.offered);
}

/* Step 2: holds the loop until step 3 is done. */
static void hold(void *p) {
  (void)p;
  mu_countdown_latch_count_down(&g.entered);
  mu_countdown_latch_wait(&g.release);
}

int main(void) {
  tt_init("regress_shutdown_order", 120);
  mu_countdown_latch_init(&g.entered, 1);
  mu_countdown_latch_init(&g.release, 1);
  tt_server_t s;
  tt_server_start(&s, "ShutdownOrder", 0, setup, NULL);
  tt_server_shrink_sndbuf(&s, 4096);
  int fd = tt_connect_timeout(s.port, TT_IO_TIMEOUT_S, 4096);
  double deadline = tt_now() + 10;
  while (atomic_load(&g.conn) == NULL && tt_now() < deadline)
    tt_sleep_ms(2);
  mu_tcp_connection_t *conn = atomic_load(&g.conn);
  CHECK(conn != NULL);

  tt_run_sync(s.loop, fill, NULL);
  CHECK_EQ(mu_event_loop_run_in_loop(s.loop, hold, NULL), 0);
  mu_countdown_latch_wait(&g.entered);

  /* Everything the socket took, so the queued rest fits at the next write. */
  char *buf = malloc(g.offered + sizeof k_tail + 1);
  CHECK(buf != NULL);
  tt_read_exactly(fd, buf, g.in_kernel);

  CHECK_EQ(mu_tcp_connection_send(conn, k_tail, sizeof k_tail - 1), 0);
  mu_tcp_connection_shutdown(conn);
  mu_countdown_latch_count_down(&g.release);

  long rest =
      tt_read_until_eof(fd, buf + g.in_kernel, g.offered + sizeof k_tail - g.in_kernel);
  CHECK(rest >= 0);
  uint64_t got = g.in_kernel + (uint64_t)rest;
  printf("offered %llu + %zu tail bytes; %llu in the socket when held; received %llu\n",
         (unsigned long long)g.offered, sizeof k_tail - 1,
         (unsigned long long)g.in_kernel, (unsigned long long)got);
  CHECK_EQ(got, g.offered + sizeof k_tail - 1);
  CHECK_EQ(tt_pattern_check(1, 0, buf, g.offered), g.offered);
  CHECK(memcmp(buf + g.offered, k_tail, sizeof k_tail - 1) == 0);

  free(buf);
  close(fd);
  mu_tcp_connection_unref(conn);
  tt_server_stop(&s);
  mu_countdown_latch_destroy(&g.entered);
  mu_countdown_latch_destroy(&g.release);
  TEST_PASS("regress_shutdown_order");
}
