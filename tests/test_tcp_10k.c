/* 10,000 concurrent connections to an echo server: each sends a small message
 * (1..100 bytes) and gets it back; all stay open until every one has its echo
 * (the server then holds exactly 10,000 connections), then all close and the
 * server's count returns to 0 with one up and one down per connection.
 *
 * Two processes, so each needs only ~10,000 descriptors: the client is forked
 * before any thread exists and drives every socket from one epoll loop
 * (tt_echo_clients_run), pacing connects so the listen backlog never
 * overflows. Skips only if RLIMIT_NOFILE cannot be raised far enough. */
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>

#include "tcp_test_util.h"

enum { k_conns = 10000, k_rounds = 2 };

typedef struct pipes {
  int to_child, from_child;
} pipes_t;

static void put_byte(int fd, char c) {
  CHECK(write(fd, &c, 1) == 1);
}

/* A byte from the other process; 0 if it went away or `seconds` passed. */
static char get_byte(int fd, int seconds) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  char c = 0;
  int n;
  while ((n = poll(&p, 1, seconds * 1000)) < 0 && errno == EINTR) {
  }
  if (n == 1 && read(fd, &c, 1) != 1)
    c = 0;
  return c;
}

/* ---- the client process ---------------------------------------------------- */

typedef struct child_ctx {
  int to_parent, from_parent;
} child_ctx_t;

/* Every connection has its echo and is still open: let the parent count. */
static void all_echoed(void *arg) {
  child_ctx_t *c = arg;
  put_byte(c->to_parent, 'A');
  CHECK_EQ(get_byte(c->from_parent, 120), 'C');
}

static void run_child(int from_parent, int to_parent, uint64_t seed) {
  child_ctx_t ctx = {to_parent, from_parent};
  for (int round = 0; round < k_rounds; ++round) {
    uint16_t port;
    CHECK(read(from_parent, &port, sizeof port) == (ssize_t)sizeof port);
    tt_echo_plan_t plan = {.port = port,
                           .conns = k_conns,
                           .seed = seed + (uint64_t)round,
                           .min_size = 1,
                           .max_size = 100,
                           .max_chunk = 100,
                           .max_pending = 512,
                           .hold_open = true,
                           .on_all_echoed = all_echoed,
                           .arg = &ctx};
    tt_echo_result_t res;
    tt_echo_clients_run(&plan, &res);
    CHECK_EQ(res.max_open, k_conns);
    printf("  client round %d: %d connections echoed %" PRIu64 " bytes, %.2f s\n", round,
           k_conns, res.bytes, res.seconds);
  }
}

/* ---- the server process ---------------------------------------------------- */

static void setup(mu_tcp_server_t *server, void *arg) {
  mu_tcp_server_set_connection_callback(server, tt_count_connection, arg);
  mu_tcp_server_set_message_callback(server, tt_echo_on_message, NULL);
}

static void serve_round(const pipes_t *p, int io_threads) {
  tt_conn_counters_t counters = {0};
  tt_server_t srv;
  tt_server_start(&srv, "TenK", io_threads, setup, &counters);
  double start = tt_now();
  CHECK(write(p->to_child, &srv.port, sizeof srv.port) == (ssize_t)sizeof srv.port);
  char c = get_byte(p->from_child, 150);
  if (c != 'A') {
    fprintf(stderr, "the client process failed or stalled before all echoes\n");
    abort();
  }
  double echoed = tt_now() - start;
  CHECK_EQ(tt_server_connection_count(&srv), k_conns);
  CHECK_EQ(atomic_load(&counters.up), k_conns);
  CHECK_EQ(atomic_load(&counters.down), 0);
  put_byte(p->to_child, 'C');
  size_t left = tt_server_wait_connections(&srv, 0, 60);
  if (left != 0) {
    fprintf(stderr, "%zu connections still open 60 s after the client closed\n", left);
    abort();
  }
  CHECK_EQ(atomic_load(&counters.down), k_conns);
  printf(
      "  server io_threads=%d: %d held at once after %.2f s; all closed %.2f s later\n",
      io_threads, k_conns, echoed, tt_now() - start - echoed);
  tt_server_stop(&srv);
}

int main(void) {
  tt_init("tcp_10k", 280);
  rlim_t want = k_conns + 200;
  rlim_t got = tt_raise_nofile(want);
  if (got < want) {
    printf("SKIP: RLIMIT_NOFILE allows %llu descriptors, %llu needed per process\n",
           (unsigned long long)got, (unsigned long long)want);
    return 0;
  }
  uint64_t seed = tt_seed(0x10000);
  int down[2], up[2];
  CHECK(pipe2(down, O_CLOEXEC) == 0 && pipe2(up, O_CLOEXEC) == 0);
  fflush(NULL);
  pid_t pid = fork(); /* before any thread: the child is a plain process */
  CHECK(pid >= 0);
  if (pid == 0) {
    close(down[1]);
    close(up[0]);
    run_child(down[0], up[1], seed);
    fflush(NULL);
    _exit(0);
  }
  close(down[0]);
  close(up[1]);
  pipes_t p = {down[1], up[0]};
  serve_round(&p, 0);
  serve_round(&p, 2);
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  TEST_PASS("tcp_10k");
}
