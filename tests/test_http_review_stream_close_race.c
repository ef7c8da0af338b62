/* Review: streams written from other threads (begin, write, the drain
 * callback handing the response back, end) while their clients go away at
 * random points: after reading some of the body, with a plain close or a
 * reset, or before the head. Every stream must reach its end() exactly once
 * (its drain callback comes when it waits and the connection closes; its
 * write fails from then on), every connection must go, and nothing may leak
 * (ASan) or race (TSan). 0 and 2 I/O threads. */
#include <pthread.h>

#include "test_http_server_util.h"

#define ROUNDS 60
#define PIECE (8 * 1024)
#define STREAM_BYTES (4u << 20)

typedef struct stream {
  mu_http_response_t *resp;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool drained;
  struct stream *next;
} stream_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static stream_t *g_streams;
static _Atomic int g_started, g_ended, g_drains;

/* Loop thread: hands the response back to the stream's thread. */
static void on_drain(mu_http_response_t *resp, void *arg) {
  (void)resp;
  stream_t *st = arg;
  atomic_fetch_add(&g_drains, 1);
  pthread_mutex_lock(&st->mu);
  CHECK(!st->drained);
  st->drained = true;
  pthread_cond_signal(&st->cv);
  pthread_mutex_unlock(&st->mu);
}

static void wait_drain(stream_t *st) {
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += 60;
  pthread_mutex_lock(&st->mu);
  while (!st->drained) {
    if (pthread_cond_timedwait(&st->cv, &st->mu, &dl) != 0) {
      fprintf(stderr, "a stream waited 60 s for its drain callback\n");
      abort();
    }
  }
  st->drained = false;
  pthread_mutex_unlock(&st->mu);
}

static void *stream_main(void *p) {
  stream_t *st = p;
  static char piece[PIECE];
  memset(piece, 's', sizeof piece);
  mu_http_response_t *resp = st->resp;
  CHECK_EQ(mu_http_response_begin(resp, on_drain, st), 0);
  for (size_t sent = 0; sent < STREAM_BYTES; sent += PIECE) {
    int rc = mu_http_response_write(resp, piece, sizeof piece);
    if (rc < 0) {
      CHECK_EQ(rc, -ECONNRESET);
      break;
    }
    if (rc == 1)
      wait_drain(st); /* the loop hands it back */
  }
  int rc = mu_http_response_end(resp);
  CHECK(rc == 0 || rc == -ECONNRESET);
  atomic_fetch_add(&g_ended, 1);
  return NULL;
}

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)req;
  (void)arg;
  stream_t *st = calloc(1, sizeof *st);
  CHECK(st != NULL);
  st->resp = resp;
  pthread_mutex_init(&st->mu, NULL);
  pthread_cond_init(&st->cv, NULL);
  pthread_mutex_lock(&g_mu);
  st->next = g_streams;
  g_streams = st;
  pthread_mutex_unlock(&g_mu);
  atomic_fetch_add(&g_started, 1);
  CHECK_EQ(pthread_create(&st->thread, NULL, stream_main, st), 0);
}

static void setup(mu_http_server_t *server, void *arg) {
  (void)arg;
  mu_http_server_set_high_water_mark(server, 32 * 1024);
}

static void join_streams(void) {
  pthread_mutex_lock(&g_mu);
  stream_t *st = g_streams;
  g_streams = NULL;
  pthread_mutex_unlock(&g_mu);
  while (st != NULL) {
    stream_t *next = st->next;
    pthread_join(st->thread, NULL);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st);
    st = next;
  }
}

static void one_client(uint16_t port, tt_rng_t *rng) {
  int fd = tt_connect_timeout(port, TT_IO_TIMEOUT_S, 8 * 1024);
  static const char k_req[] = "GET /s HTTP/1.1\r\nHost: x\r\n\r\n";
  tt_write_all(fd, k_req, sizeof k_req - 1);
  uint64_t want = tt_rng_range(rng, 0, 512 * 1024);
  char buf[16384];
  uint64_t got = 0;
  while (got < want) {
    ssize_t n = tt_read_some(fd, buf, sizeof buf);
    CHECK(n > 0);
    got += (uint64_t)n;
  }
  if (tt_rng_range(rng, 0, 1) == 0) {
    struct linger lg = {1, 0}; /* a reset */
    CHECK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
  }
  close(fd);
}

int main(void) {
  tt_init("test_http_review_stream_close_race", 240);
  tt_rng_t rng = tt_rng_make(tt_seed(42));
  int threads[] = {0, 2};
  for (int k = 0; k < 2; ++k) {
    ht_server_t s;
    ht_server_start(&s, threads[k], on_request, NULL, setup, NULL);
    for (int i = 0; i < ROUNDS; ++i)
      one_client(s.port, &rng);
    /* Every stream ends, and every connection goes. */
    double deadline = tt_now() + 60;
    while (atomic_load(&g_ended) != atomic_load(&g_started) && tt_now() < deadline)
      tt_sleep_ms(10);
    printf("io_threads=%d: %d streams started, %d ended, %d drains\n", threads[k],
           atomic_load(&g_started), atomic_load(&g_ended), atomic_load(&g_drains));
    CHECK_EQ(atomic_load(&g_ended), atomic_load(&g_started));
    CHECK_EQ(ht_server_wait_connections(&s, 0, 60), 0);
    join_streams();
    ht_server_stop(&s);
  }
  CHECK_EQ(atomic_load(&g_started), 2 * ROUNDS);
  printf("ok\n");
  return 0;
}
