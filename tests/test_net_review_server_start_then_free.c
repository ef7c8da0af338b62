/* mu_tcp_server_start from another thread, then mu_tcp_server_free in the base
 * loop before the loop has run the queued start. tcp_server.h says start() is
 * thread-safe and, from another thread, "listening happens in the base loop";
 * free() is base-loop-only and may run in any base loop callback. The queued
 * start held only the server's raw pointer and ran on the freed server. A
 * TcpClient handles the same case (a connect() queued from another thread
 * finds the client gone: tests/test_tcp_client_free.c); the server must too.
 *
 * Deterministic: the loop runs in this thread and is idle while the other
 * thread queues the start; the quarantining allocator keeps the freed server
 * poisoned, so the queued start crashes or writes into it in every build. */
#include <pthread.h>

#include "cmuduo/cmuduo.h"
#include "net_review_quarantine.h"
#include "tcp_test_util.h"
#include "test_util.h"

static void *start_from_thread(void *server) {
  CHECK_EQ(mu_tcp_server_start(server), 0); /* queued: the loop is idle */
  return NULL;
}

int main(void) {
  nr_quarantine_install();
  tt_init("net_review_server_start_then_free", 60);
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  for (int threads = 0; threads <= 1; ++threads) {
    uint16_t port;
    mu_tcp_server_t *server = tt_server_new_loopback(loop, threads, "Early", &port);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, start_from_thread, server) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(mu_event_loop_queue_size(loop) >= 1); /* the start waits in the loop */
    mu_tcp_server_free(server);
    tt_loop_run_for(loop, 0.05); /* the queued start runs now */
    /* Nobody listens on the freed server's port. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_in sa = tt_loopback(port);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0);
    CHECK_EQ(errno, ECONNREFUSED);
    close(fd);
    printf("ok: %d I/O thread(s): free before the queued start ran\n", threads);
  }
  mu_event_loop_free(loop);
  CHECK_EQ(nr_quarantine_check(), 0);
  TEST_PASS("net_review_server_start_then_free");
}
