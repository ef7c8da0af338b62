/* mu_tcp_connection_send from another thread with a length no allocation can
 * hold (SIZE_MAX and just below). The cross-thread path copies the bytes into
 * one block of header + len: that size wrapped around to a few bytes, the
 * malloc succeeded and the memcpy of len bytes ran off the heap (a crash). The
 * header promises 0, -ENOTCONN or -ENOMEM: such a length must be refused with
 * -ENOMEM before any byte is read, and the connection must go on working (a
 * normal send after it arrives intact). */
#include <pthread.h>
#include <stdint.h>

#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"

static _Atomic(mu_tcp_connection_t *) g_conn;

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (mu_tcp_connection_connected(conn)) {
    mu_tcp_connection_ref(conn);
    atomic_store(&g_conn, conn);
  }
}

static void setup(mu_tcp_server_t *server, void *arg) {
  (void)arg;
  mu_tcp_server_set_connection_callback(server, on_connection, NULL);
}

int main(void) {
  tt_init("net_review_send_huge_len", 60);
  tt_server_t s;
  tt_server_start(&s, "Huge", 1, setup, NULL);
  int fd = tt_connect(s.port);
  double deadline = tt_now() + 20.0;
  while (atomic_load(&g_conn) == NULL && tt_now() < deadline)
    tt_sleep_ms(5);
  mu_tcp_connection_t *conn = atomic_load(&g_conn);
  CHECK(conn != NULL);
  CHECK(!mu_event_loop_is_in_loop_thread(mu_tcp_connection_get_loop(conn)));

  static const char small[16] = "0123456789abcdef";
  /* Lengths whose header + len wraps (no larger ones: ASan aborts on a huge
   * malloc instead of returning NULL, unless told otherwise). */
  const size_t lens[] = {SIZE_MAX, SIZE_MAX - 7, SIZE_MAX - 15};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; ++i) {
    /* `small` is not that long: a correct library never reads past it. */
    int rc = mu_tcp_connection_send(conn, small, lens[i]);
    printf("send of %zu bytes from another thread: %d\n", lens[i], rc);
    CHECK_EQ(rc, -ENOMEM);
  }
  CHECK(mu_tcp_connection_connected(conn));
  CHECK_EQ(mu_tcp_connection_send_str(conn, "still fine"), 0);
  char got[10];
  tt_read_exactly(fd, got, sizeof got);
  CHECK(memcmp(got, "still fine", sizeof got) == 0);

  mu_tcp_connection_unref(conn);
  close(fd);
  tt_server_stop(&s);
  TEST_PASS("net_review_send_huge_len");
}
