/* mu_tcp_connection_send_file when memory runs out after part of the region
 * has gone out. On an idle connection send_file first calls sendfile(2)
 * directly; if the socket fills up, it queues the rest, which allocates (the
 * connection's extension block, the region's record). When that allocation
 * failed, send_file returned -ENOMEM and left the connection open with part of
 * the region already on the wire: whatever the caller sent next (here a
 * marker) went out right after the partial file, a corrupt stream the peer
 * cannot detect, and an error return that had taken effect.
 *
 * After an error return, the peer may see either nothing of the region, or
 * the stream must end (the connection closed) where the partial region ends:
 * never a later byte behind a partial file. The failing allocation is picked
 * exactly: a per-thread countdown in the allocator fails the first allocation
 * of the loop thread inside the call. Small socket buffers make the direct
 * sendfile partial. */
#include <stdlib.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"
#include "alloc_countdown.h"

/* (tests/alloc_countdown.h: tt_fail_in, tt_failed, tt_countdown_allocator) */

enum { k_file_len = 4 << 20 };
static const char k_marker[] = "MARKER";

static int g_file = -1;          /* the test file; send_file gets a dup */
static _Atomic int g_rc = 1;     /* send_file's return */
static _Atomic long g_sent = -1; /* bytes_sent right after it */

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (!mu_tcp_connection_connected(conn))
    return;
  int fd = dup(g_file);
  CHECK(fd >= 0);
  tt_fail_in = 1;
  int rc = mu_tcp_connection_send_file(conn, fd, 0, k_file_len);
  tt_fail_in = 0;
  atomic_store(&g_sent, (long)mu_tcp_connection_bytes_sent(conn));
  atomic_store(&g_rc, rc);
  mu_tcp_connection_send(conn, k_marker, sizeof k_marker - 1);
  mu_tcp_connection_shutdown(conn);
}

static void setup(mu_tcp_server_t *server, void *arg) {
  (void)arg;
  mu_tcp_server_set_connection_callback(server, on_connection, NULL);
}

static int make_file(void) {
  char path[] = "/tmp/cmuduo_nr_send_file_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  CHECK(unlink(path) == 0);
  char *buf = malloc(k_file_len);
  CHECK(buf != NULL);
  tt_pattern_fill(7, 0, buf, k_file_len);
  for (size_t off = 0; off < k_file_len;) {
    ssize_t w = write(fd, buf + off, k_file_len - off);
    CHECK(w > 0);
    off += (size_t)w;
  }
  free(buf);
  return fd;
}

int main(void) {
  mu_set_allocator(&tt_countdown_allocator);
  tt_init("net_review_send_file_oom", 120);
  g_file = make_file();
  tt_server_t s;
  tt_server_start(&s, "Files", 0, setup, NULL);
  tt_server_shrink_sndbuf(&s, 4096);
  int fd = tt_connect_timeout(s.port, TT_IO_TIMEOUT_S, 4096);
  size_t cap = k_file_len + sizeof k_marker;
  char *got = malloc(cap);
  CHECK(got != NULL);
  long n = tt_read_until_eof(fd, got, cap);
  int rc = atomic_load(&g_rc);
  long sent = atomic_load(&g_sent);
  printf("send_file returned %d with %ld bytes sent at once; peer got %ld bytes\n", rc,
         sent, n);
  CHECK(n >= 0);
  if (rc == 0) {
    /* Queued after all: the whole file, then the marker. */
    CHECK_EQ(n, (long)(k_file_len + sizeof k_marker - 1));
    CHECK_EQ(tt_pattern_check(7, 0, got, k_file_len), k_file_len);
    CHECK(memcmp(got + k_file_len, k_marker, sizeof k_marker - 1) == 0);
  } else {
    CHECK_EQ(rc, -ENOMEM);
    CHECK(sent > 0 && sent < k_file_len); /* the scenario: partly sent */
    if (n == sent + (long)sizeof k_marker - 1 &&
        memcmp(got + sent, k_marker, sizeof k_marker - 1) == 0)
      printf("the marker came right behind the partial file\n");
    /* The stream ends where the partial region ends: no byte behind it. */
    CHECK_EQ(n, sent);
    CHECK_EQ(tt_pattern_check(7, 0, got, (size_t)n), (size_t)n);
  }
  free(got);
  close(fd);
  tt_server_stop(&s);
  close(g_file);
  TEST_PASS("net_review_send_file_oom");
}
