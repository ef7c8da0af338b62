/* Review: the stalled-stream timeout with a stream written from another
 * thread. The client sends its request and never reads; the worker writes
 * until write() returns 1 and waits for the drain callback, which hands the
 * response back. With an idle timeout of 1 s the server must close the
 * connection, call the drain callback, and the worker's next write must
 * fail, so that it ends the stream; the connection must go. */
#include <pthread.h>

#include "test_http_server_util.h"

#define PIECE (16 * 1024)

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static bool g_drained;
static _Atomic int g_last_rc = 1, g_ended;
static ht_worker_t g_worker;

static void on_drain(mu_http_response_t *resp, void *arg) {
  (void)resp;
  (void)arg;
  pthread_mutex_lock(&g_mu);
  g_drained = true;
  pthread_cond_signal(&g_cv);
  pthread_mutex_unlock(&g_mu);
}

static void stream_job(void *p) {
  mu_http_response_t *resp = p;
  static char piece[PIECE];
  memset(piece, 'w', sizeof piece);
  CHECK_EQ(mu_http_response_begin(resp, on_drain, NULL), 0);
  for (;;) {
    int rc = mu_http_response_write(resp, piece, sizeof piece);
    atomic_store(&g_last_rc, rc);
    if (rc < 0)
      break;
    if (rc == 1) {
      struct timespec dl;
      clock_gettime(CLOCK_REALTIME, &dl);
      dl.tv_sec += 60;
      pthread_mutex_lock(&g_mu);
      while (!g_drained)
        CHECK_EQ(pthread_cond_timedwait(&g_cv, &g_mu, &dl), 0); /* 60 s: hung */
      g_drained = false;
      pthread_mutex_unlock(&g_mu);
    }
  }
  CHECK_EQ(atomic_load(&g_last_rc), -ECONNRESET);
  int e = mu_http_response_end(resp);
  CHECK(e == 0 || e == -ECONNRESET);
  atomic_store(&g_ended, 1);
}

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)req;
  (void)arg;
  ht_worker_post(&g_worker, stream_job, resp);
}

static void setup(mu_http_server_t *server, void *arg) {
  (void)arg;
  mu_http_server_set_idle_timeout(server, 1.0);
  mu_http_server_set_high_water_mark(server, 64 * 1024);
}

int main(void) {
  tt_init("test_http_review_stream_stall_worker", 120);
  ht_worker_start(&g_worker);
  for (int io = 0; io <= 1; ++io) {
    ht_server_t s;
    ht_server_start(&s, io, on_request, NULL, setup, NULL);
    int fd = tt_connect_timeout(s.port, TT_IO_TIMEOUT_S, 8 * 1024);
    static const char k_req[] = "GET /s HTTP/1.1\r\nHost: x\r\n\r\n";
    tt_write_all(fd, k_req, sizeof k_req - 1);
    double deadline = tt_now() + 60;
    while (!atomic_load(&g_ended) && tt_now() < deadline)
      tt_sleep_ms(10);
    printf("io_threads=%d: stream ended=%d, last write %d\n", io, atomic_load(&g_ended),
           atomic_load(&g_last_rc));
    CHECK(atomic_load(&g_ended));
    CHECK_EQ(ht_server_wait_connections(&s, 0, 30), 0);
    close(fd);
    ht_server_stop(&s);
    atomic_store(&g_ended, 0);
    atomic_store(&g_last_rc, 1);
  }
  ht_worker_stop(&g_worker);
  printf("ok\n");
  return 0;
}
