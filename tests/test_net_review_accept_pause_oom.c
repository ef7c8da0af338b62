/* The acceptor's EMFILE policy when memory is short at the same moment. Out of
 * descriptors, the acceptor stops watching the listener and sets a timer to
 * watch it again (DESIGN.md: "pause the listener on a timer"). If that timer
 * cannot be allocated, the listener was left unwatched for good: once
 * descriptors and memory are back, the server never accepts again.
 *
 * The server runs in its own loop thread, which has never made a timer, so the
 * pause's timer is the first and must allocate its queue's arrays; the test
 * makes every cmuduo allocation fail (a global switch in the allocator) while
 * the process has no free descriptor and one client connects. When the pause
 * has been logged, memory and descriptors come back; the pending connection
 * must then be accepted and echo (bounded waits, no timing assert). */
#include "cmuduo/base/alloc.h"
#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"

static _Atomic bool g_fail_all;
static _Atomic long g_failed;

static void *oom_malloc(size_t n) {
  if (atomic_load(&g_fail_all)) {
    atomic_fetch_add(&g_failed, 1);
    return NULL;
  }
  return malloc(n);
}
static void *oom_realloc(void *p, size_t n) {
  if (atomic_load(&g_fail_all)) {
    atomic_fetch_add(&g_failed, 1);
    return NULL;
  }
  return realloc(p, n);
}

static const mu_allocator_t k_oom = {oom_malloc, oom_realloc, free};

static tt_log_counter_t g_log;

int main(void) {
  mu_set_allocator(&k_oom);
  tt_init("net_review_accept_pause_oom", 120);
  tt_log_capture(&g_log, "pausing the listener");
  tt_server_t s;
  tt_server_start(&s, "Echo", 0, NULL, NULL);

  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct rlimit saved;
  tt_lower_fd_limit(&saved, 0); /* accept(2) now fails with EMFILE */
  atomic_store(&g_fail_all, true);
  struct sockaddr_in sa = tt_loopback(s.port);
  CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 || errno == EINPROGRESS);
  double deadline = tt_now() + 20.0;
  /* The pause is logged first, then its timer is asked for: wait for both
   * (that timer is the only allocation the server thread makes here). */
  while ((atomic_load(&g_log.hits) == 0 || atomic_load(&g_failed) == 0) &&
         tt_now() < deadline)
    tt_sleep_ms(5);
  CHECK(atomic_load(&g_log.hits) >= 1); /* the listener was paused */
  CHECK(atomic_load(&g_failed) >= 1);   /* and its resume timer refused */
  atomic_store(&g_fail_all, false);
  CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
  printf("paused with %ld allocation(s) refused; memory and descriptors are back\n",
         atomic_load(&g_failed));

  size_t n = tt_server_wait_connections(&s, 1, 20.0);
  printf("connections accepted afterwards: %zu\n", n);
  CHECK_EQ(n, 1);
  int flags = fcntl(fd, F_GETFL);
  CHECK(fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0);
  tt_set_timeouts(fd, TT_IO_TIMEOUT_S);
  tt_write_all(fd, "ping", 4);
  char got[4];
  tt_read_exactly(fd, got, sizeof got);
  CHECK(memcmp(got, "ping", 4) == 0);
  close(fd);
  tt_server_stop(&s);
  tt_log_restore();
  TEST_PASS("net_review_accept_pause_oom");
}
