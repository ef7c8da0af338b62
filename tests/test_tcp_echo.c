/* Echo, byte-exact: 1 connection (several rounds) and 100 concurrent
 * connections, against a server with 0 and with 2 I/O threads. Payloads are
 * log-uniform in [1 B, 1 MiB], written in random chunks, checked byte by byte;
 * each connection then half-closes and must see the server close with nothing
 * extra. Some rounds read fast with the kernel's default buffers; in the
 * others the client reads in small random pieces through a small fixed window
 * and the server's sockets get a small send buffer, so the echo backs up in
 * the server (partial writes, queued output, write-readiness events).
 * Afterwards the server has no connection left, and saw exactly one up and one
 * down per connection. */
#include "tcp_test_util.h"

static void setup_echo(mu_tcp_server_t *server, void *arg) {
  mu_tcp_server_set_connection_callback(server, tt_count_connection, arg);
  mu_tcp_server_set_message_callback(server, tt_echo_on_message, NULL);
}

/* Runs `plan` (port filled in here) against a fresh echo server. */
static void run_round(int io_threads, tt_echo_plan_t plan) {
  tt_conn_counters_t counters = {0};
  tt_server_t srv;
  tt_server_start(&srv, "EchoTest", io_threads, setup_echo, &counters);
  /* Slow-reader rounds: small kernel buffers on both ends, so the echo really
   * queues in the server instead of in the kernel. */
  if (plan.rcvbuf != 0)
    tt_server_shrink_sndbuf(&srv, 8 * 1024);
  plan.port = srv.port;
  plan.connect_all_first = true;
  plan.verify_eof = true;
  tt_echo_result_t res;
  tt_echo_clients_run(&plan, &res);
  CHECK_EQ(res.max_open, plan.conns);
  CHECK_EQ(tt_server_wait_connections(&srv, 0, 20), 0);
  CHECK_EQ(atomic_load(&counters.up), plan.conns);
  CHECK_EQ(atomic_load(&counters.down), plan.conns);
  printf("  io_threads=%d conns=%d seed=%" PRIu64 " %s: %.1f MiB echoed in %.2f s\n",
         io_threads, plan.conns, plan.seed, plan.rcvbuf ? "slow reader" : "fast reader",
         (double)res.bytes / 1048576.0, res.seconds);
  tt_server_stop(&srv);
}

static void one_connection_rounds(int io_threads, uint64_t seed) {
  for (int round = 0; round < 8; ++round) {
    /* The extremes (1 B, 1 MiB) first, then random sizes; every other round
     * with a slow reader. */
    tt_rng_t r = tt_rng_make(seed + (uint64_t)round);
    bool slow = round % 2 == 1;
    tt_echo_plan_t plan = {
        .conns = 1,
        .seed = seed + (uint64_t)round * 131,
        .min_size = round == 1 || round == 3 ? 1024 * 1024 : 1,
        .max_size = round == 0 ? 1 : 1024 * 1024,
        .max_chunk = tt_rng_log_size(&r, 1024, 256 * 1024),
        .rcvbuf = slow ? 16 * 1024 : 0,
        .max_read = slow ? 8 * 1024 : 0,
    };
    run_round(io_threads, plan);
  }
}

static void hundred_connection_rounds(int io_threads, uint64_t seed) {
  tt_echo_plan_t spread = {.conns = 100,
                           .seed = seed,
                           .min_size = 1,
                           .max_size = 1024 * 1024,
                           .max_chunk = 200 * 1024};
  run_round(io_threads, spread);
  /* Mostly large payloads and slow readers: every output queue backs up. */
  tt_echo_plan_t large = {.conns = 100,
                          .seed = seed + 1,
                          .min_size = 64 * 1024,
                          .max_size = 1024 * 1024,
                          .max_chunk = 256 * 1024,
                          .rcvbuf = 32 * 1024,
                          .max_read = 16 * 1024};
  run_round(io_threads, large);
}

int main(void) {
  tt_init("tcp_echo", 240);
  uint64_t seed = tt_seed(0x7c9e11);
  for (int io_threads = 0; io_threads <= 2; io_threads += 2) {
    one_connection_rounds(io_threads, seed);
    hundred_connection_rounds(io_threads, seed + 1000 + (uint64_t)io_threads);
  }
  TEST_PASS("tcp_echo");
}
