/* mu_http_server_free racing async handlers' threads: a server with 2 I/O
 * threads hands every response to worker threads, which hold them until the
 * base loop thread starts mu_http_server_free, then finish them (send_text,
 * send, send_file, and streams that begin, write in a tight loop, end) WHILE
 * the server is being freed, and keep going after it returned.
 *
 * The server frees its I/O loops inside mu_http_server_free (it joins their
 * threads). A cross-thread call landing then must not read or queue into a
 * loop that is gone or has run its last functors (ASan: use after free; TSan:
 * a race with the free; LeakSanitizer: a finish queued after the loop's last
 * drain never runs, and the connection it holds leaks). And every response
 * must be released exactly once whatever the timing (and every descriptor
 * given to send_file closed: the test counts its open descriptors).
 *
 * What each call may return: write 0 or -ECONNRESET (never 1: the high-water
 * mark is out of reach), send_text, send and send_file 0, begin 0, end 0 or
 * -ECONNRESET.
 *
 * Every fourth round runs the server without I/O threads: its connections
 * live in the base loop, which outlives the server, so work queued for them
 * before the free still runs after it returned.
 *
 * Rounds: $MU_FREE_RACE_ROUNDS (default 100); seed: $TT_SEED. */
#include <dirent.h>
#include <stdatomic.h>

#include "test_http_server_util.h"

enum {
  NWORKERS = 3,
  NCLIENTS = 15, /* one request each */
  MAX_HELD = NCLIENTS,
  WRITES_CAP = 20000 /* per worker per round: bounds the memory queued */
};

/* A response the handler gave away, and how it is to be finished. */
typedef struct held {
  mu_http_response_t *resp;
  int kind; /* K_TEXT, K_SEND, K_FILE, K_STREAM (begun in the handler),
               K_STREAM_LATE */
  bool begun;
  bool done;
} held_t;

enum { K_TEXT, K_SEND, K_FILE, K_STREAM, K_STREAM_LATE, K_COUNT };
static const char *const k_paths[K_COUNT] = {"/text", "/send", "/file", "/stream",
                                             "/stream-late"};
static int g_file_fd = -1; /* send_file gets a dup of it */

typedef struct worker {
  pthread_t thread;
  tt_rng_t rng;
  held_t held[MAX_HELD];
  int nheld; /* guarded by g_mu until go */
} worker_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static worker_t g_workers[NWORKERS];
static int g_handed;         /* guarded by g_mu: responses handed over this round */
static bool g_go;            /* guarded by g_mu: the free is starting */
static _Atomic bool g_freed; /* mu_http_server_free has returned */
static _Atomic long g_calls_during_free; /* calls that started before g_freed */

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)arg;
  const char *path = mu_http_request_path(req);
  int kind = 0;
  while (kind < K_COUNT - 1 && strcmp(path, k_paths[kind]) != 0)
    ++kind;
  if (kind == K_STREAM) /* in the loop thread: the head goes out now */
    CHECK_EQ(mu_http_response_begin(resp, NULL, NULL), 0);
  pthread_mutex_lock(&g_mu);
  worker_t *w = &g_workers[g_handed % NWORKERS];
  CHECK(w->nheld < MAX_HELD);
  w->held[w->nheld++] = (held_t){resp, kind, kind == K_STREAM, false};
  ++g_handed;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
}

static void count_call(void) {
  if (!atomic_load_explicit(&g_freed, memory_order_relaxed))
    atomic_fetch_add_explicit(&g_calls_during_free, 1, memory_order_relaxed);
}

/* One step on h: a write, or the finishing call. */
static void step(held_t *h, bool finish) {
  count_call();
  if (h->kind == K_TEXT || h->kind == K_SEND || h->kind == K_FILE) {
    int rc;
    if (h->kind == K_TEXT) {
      rc = mu_http_response_send_text(h->resp, 200, "late\n");
    } else if (h->kind == K_SEND) {
      CHECK_EQ(mu_http_response_append_body(h->resp, "sent\n", 5), 0);
      rc = mu_http_response_send(h->resp);
    } else {
      int fd = dup(g_file_fd);
      CHECK(fd >= 0);
      rc = mu_http_response_send_file(h->resp, fd, 0, 4096);
    }
    CHECK_EQ(rc, 0);
    h->done = true;
    return;
  }
  if (!h->begun) {
    CHECK_EQ(mu_http_response_begin(h->resp, NULL, NULL), 0);
    h->begun = true;
    return;
  }
  if (finish) {
    int rc = mu_http_response_end(h->resp);
    CHECK(rc == 0 || rc == -ECONNRESET);
    h->done = true;
    return;
  }
  int rc = mu_http_response_write(h->resp, "chunk\n", 6);
  CHECK(rc == 0 || rc == -ECONNRESET);
}

static void *worker_main(void *p) {
  worker_t *w = p;
  pthread_mutex_lock(&g_mu);
  while (!g_go)
    pthread_cond_wait(&g_cv, &g_mu);
  int n = w->nheld;
  pthread_mutex_unlock(&g_mu);
  /* While the free runs: write to every stream over and over, and finish a
   * text response or a stream now and then, at a random point. */
  int writes = 0;
  int left = n;
  while (left > 0 && !atomic_load(&g_freed) && writes < WRITES_CAP) {
    held_t *h = &w->held[tt_rng_range(&w->rng, 0, (uint64_t)n - 1)];
    if (h->done)
      continue;
    bool finish = tt_rng_range(&w->rng, 0, 199) == 0;
    if (h->kind != K_STREAM && h->kind != K_STREAM_LATE && !finish)
      continue;
    step(h, finish);
    ++writes;
    if (h->done)
      --left;
  }
  /* The rest after the free (or once the cap is reached): every response
   * must still be finished. */
  for (int i = 0; i < n; ++i) {
    held_t *h = &w->held[i];
    while (!h->done)
      step(h, true);
  }
  return NULL;
}

static void setup(mu_http_server_t *server, void *arg) {
  (void)arg;
  /* write() never returns 1: the workers never wait for a drain. */
  mu_http_server_set_high_water_mark(server, (size_t)1 << 40);
}

/* In the base loop thread: release the workers, then free at once. */
static void free_in_loop(void *p) {
  ht_server_t *s = p;
  pthread_mutex_lock(&g_mu);
  g_go = true;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  mu_http_server_free(s->server);
  s->server = NULL;
  atomic_store(&g_freed, true);
}

static void run_round(uint64_t seed, int io_threads) {
  pthread_mutex_lock(&g_mu);
  g_handed = 0;
  g_go = false;
  pthread_mutex_unlock(&g_mu);
  atomic_store(&g_freed, false);
  for (int i = 0; i < NWORKERS; ++i) {
    g_workers[i].nheld = 0;
    g_workers[i].rng = tt_rng_make(seed * 131 + (uint64_t)i);
    CHECK_EQ(pthread_create(&g_workers[i].thread, NULL, worker_main, &g_workers[i]), 0);
  }
  ht_server_t s;
  ht_server_start(&s, io_threads, on_request, NULL, setup, NULL);
  ht_client_t *c[NCLIENTS];
  for (int i = 0; i < NCLIENTS; ++i) {
    c[i] = ht_connect(s.port);
    char req[96];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", k_paths[i % K_COUNT]);
    ht_send(c[i], req);
  }
  /* Every response is held by a worker before the free starts. */
  pthread_mutex_lock(&g_mu);
  while (g_handed < NCLIENTS)
    pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
  tt_run_sync(s.loop, free_in_loop, &s);
  for (int i = 0; i < NWORKERS; ++i)
    CHECK_EQ(pthread_join(g_workers[i].thread, NULL), 0);
  mu_event_loop_thread_free(s.thread);
  for (int i = 0; i < NCLIENTS; ++i)
    ht_close(c[i]);
}

/* Open descriptors of the process. */
static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  CHECK(d != NULL);
  int n = 0;
  while (readdir(d) != NULL)
    ++n;
  closedir(d);
  return n;
}

int main(void) {
  tt_init("http_server_free_race", 120);
  char path[] = "/tmp/free_race_XXXXXX";
  g_file_fd = mkstemp(path);
  CHECK(g_file_fd >= 0);
  CHECK_EQ(unlink(path), 0);
  char block[4096];
  memset(block, 'f', sizeof block);
  CHECK_EQ(pwrite(g_file_fd, block, sizeof block, 0), (ssize_t)sizeof block);
  int fds_before = count_fds();
  uint64_t seed = tt_seed(20261207);
  const char *env = getenv("MU_FREE_RACE_ROUNDS");
  int rounds = env ? atoi(env) : 100;
  if (rounds < 1)
    rounds = 1;
  for (int r = 0; r < rounds; ++r)
    run_round(seed + (uint64_t)r, r % 4 == 3 ? 0 : 2);
  printf("%d rounds, %ld response calls started before the free returned\n", rounds,
         atomic_load(&g_calls_during_free));
  CHECK_EQ(count_fds(), fds_before);
  close(g_file_fd);
  /* The calls must have overlapped the free for the test to mean anything. */
  CHECK(atomic_load(&g_calls_during_free) > 0);
  printf("http_server_free_race: OK\n");
  return 0;
}
