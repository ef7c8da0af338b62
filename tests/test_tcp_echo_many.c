/* Echo, byte-exact, with 1000 concurrent connections (all connected before
 * the first byte), against a server with 0 and with 2 I/O threads, with fast
 * readers and with slow ones (small fixed window, small reads, and small
 * kernel send buffers on the server's sockets: the echo queues in the server). Payloads
 * log-uniform in [1 B, 1 MiB] in random chunks; each connection half-closes after its
 * echo and must then see the server's end of file. Needs about 2100 descriptors:
 * RLIMIT_NOFILE is raised, and the test skips only if the hard limit does not allow it.
 */
#include "tcp_test_util.h"

enum { k_conns = 1000 };

static void setup_echo(mu_tcp_server_t *server, void *arg) {
  mu_tcp_server_set_connection_callback(server, tt_count_connection, arg);
  mu_tcp_server_set_message_callback(server, tt_echo_on_message, NULL);
}

static void run_round(int io_threads, uint64_t seed, bool slow) {
  tt_conn_counters_t counters = {0};
  tt_server_t srv;
  tt_server_start(&srv, "EchoMany", io_threads, setup_echo, &counters);
  if (slow)
    tt_server_shrink_sndbuf(&srv, 8 * 1024); /* the echo queues in the server */
  tt_echo_plan_t plan = {
      .port = srv.port,
      .conns = k_conns,
      .seed = seed,
      .min_size = 1,
      .max_size = 1024 * 1024,
      .max_chunk = 128 * 1024,
      .connect_all_first = true,
      .verify_eof = true,
      .rcvbuf = slow ? 16 * 1024 : 0,
      .max_read = slow ? 16 * 1024 : 0,
  };
  tt_echo_result_t res;
  tt_echo_clients_run(&plan, &res);
  CHECK_EQ(res.max_open, k_conns);
  CHECK_EQ(tt_server_wait_connections(&srv, 0, 30), 0);
  CHECK_EQ(atomic_load(&counters.up), k_conns);
  CHECK_EQ(atomic_load(&counters.down), k_conns);
  printf("  io_threads=%d conns=%d seed=%" PRIu64 " %s: %.1f MiB echoed in %.2f s\n",
         io_threads, k_conns, seed, slow ? "slow readers" : "fast readers",
         (double)res.bytes / 1048576.0, res.seconds);
  tt_server_stop(&srv);
}

int main(void) {
  tt_init("tcp_echo_many", 240);
  rlim_t want = 2 * k_conns + 100;
  rlim_t got = tt_raise_nofile(want);
  if (got < want) {
    printf("SKIP: RLIMIT_NOFILE allows %llu descriptors, %llu needed\n",
           (unsigned long long)got, (unsigned long long)want);
    return 0;
  }
  uint64_t seed = tt_seed(0xe40a7);
  run_round(0, seed, false);
  run_round(2, seed + 1, false);
  run_round(0, seed + 2, true);
  run_round(2, seed + 3, true);
  TEST_PASS("tcp_echo_many");
}
