/* AsyncLogging in one process: 4 threads x 100,000 lines through the front end
 * into rolling files (each exactly once, whole, in per-thread order), stop while
 * other threads still log, flush, the fallback before start and after stop, the
 * drop path (count and bytes reported in place of the dropped lines), and a
 * steady state that allocates nothing. The exit and FATAL paths, which end the
 * process, are in test_async_logging_death.c. */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/base/async_logging.h"
#include "cmuduo/base/current_thread.h"
#include "cmuduo/base/logging.h"
#include "test_util.h"

#if defined(__SANITIZE_THREAD__)
#define SLOW_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SLOW_BUILD 1
#endif
#endif
#ifndef SLOW_BUILD
#define SLOW_BUILD 0
#endif

/* ---- counting allocator: the steady state must not allocate -------------- */

static _Atomic long g_allocs;

static void *count_malloc(size_t n) {
  atomic_fetch_add(&g_allocs, 1);
  return malloc(n);
}

static void *count_realloc(void *p, size_t n) {
  atomic_fetch_add(&g_allocs, 1);
  return realloc(p, n);
}

/* ---- files -------------------------------------------------------------- */

static char g_dir[64];

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* All files of g_dir, concatenated in name (= opening time) order; removes them. */
static char *slurp_dir(size_t *total, int *nfiles) {
  DIR *d = opendir(g_dir);
  CHECK(d != NULL);
  char *names[1024];
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    CHECK(n < 1024);
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof names[0], cmp_str);
  char *all = NULL;
  size_t len = 0;
  for (int i = 0; i < n; ++i) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, names[i]);
    FILE *fp = fopen(path, "rb");
    CHECK(fp != NULL);
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    all = realloc(all, len + (size_t)sz + 1);
    CHECK(all != NULL);
    CHECK(fread(all + len, 1, (size_t)sz, fp) == (size_t)sz);
    fclose(fp);
    /* Every file ends at a line end: no line is split across files. */
    CHECK(sz == 0 || all[len + (size_t)sz - 1] == '\n');
    len += (size_t)sz;
    CHECK(unlink(path) == 0);
    free(names[i]);
  }
  if (all == NULL)
    all = calloc(1, 1);
  all[len] = '\0';
  *total = len;
  if (nfiles)
    *nfiles = n;
  return all;
}

/* ---- 4 threads x 100,000 lines ------------------------------------------ */

enum { k_threads = 4, k_lines = 100000 };

static pid_t g_tids[k_threads];

static void *mt_worker(void *arg) {
  int t = (int)(intptr_t)arg;
  g_tids[t] = mu_current_thread_tid();
  for (int i = 0; i < k_lines; ++i) {
    MU_LOG_INFO("mt t=%d seq=%d abcdefghijklmnopqrstuvwxyz", t, i);
  }
  return NULL;
}

/* Checks one line "<date> <time>Z <tid> INFO  mt t=T seq=S abc...z - file:N". */
static void check_mt_line(const char *p, const char *nl, int *next) {
  int t = -1, seq = -1, consumed = 0;
  const char *m = strstr(p, " INFO  mt t=");
  CHECK(m != NULL && m < nl);
  CHECK(p[8] == ' ' && p[24] == 'Z' && m - p == 32);
  CHECK(sscanf(m, " INFO  mt t=%d seq=%d %n", &t, &seq, &consumed) == 2);
  CHECK(t >= 0 && t < k_threads);
  if (seq != next[t]) {
    fprintf(stderr, "thread %d: seq %d where %d was due\n", t, seq, next[t]);
    abort();
  }
  CHECK(strtol(p + 26, NULL, 10) == g_tids[t]);
  const char *tail = m + consumed;
  static const char k_tail[] = "abcdefghijklmnopqrstuvwxyz - test_async_logging.c:";
  CHECK(strncmp(tail, k_tail, sizeof k_tail - 1) == 0);
  next[t]++;
}

static void test_threads_exactly_once(void) {
  mu_async_logging_options_t o;
  mu_async_logging_options_init(&o);
  o.roll_size = 8u << 20; /* ~45 MB of lines: several files */
  char base[128];
  snprintf(base, sizeof base, "%s/mt", g_dir);
  mu_async_logging_t *al = mu_async_logging_setup(base, &o);
  CHECK(al != NULL);
  pthread_t th[k_threads];
  for (int t = 0; t < k_threads; ++t) {
    CHECK(pthread_create(&th[t], NULL, mt_worker, (void *)(intptr_t)t) == 0);
  }
  for (int t = 0; t < k_threads; ++t)
    CHECK(pthread_join(th[t], NULL) == 0);
  /* 16 queued 4 MiB buffers hold more than all the lines: nothing may drop. */
  CHECK_EQ(mu_async_logging_dropped_lines(al), 0);
  mu_async_logging_free(al);
  size_t len;
  int files;
  char *all = slurp_dir(&len, &files);
  int next[k_threads] = {0};
  long lines = 0;
  for (char *p = all, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
    *nl = '\0'; /* sscanf and strstr must not scan the whole 45 MB */
    check_mt_line(p, nl, next);
    lines++;
  }
  CHECK_EQ(lines, (long)k_threads * k_lines);
  for (int t = 0; t < k_threads; ++t)
    CHECK_EQ(next[t], k_lines);
  free(all);
  printf("threads: %ld lines in %d files, each once, in order\n", lines, files);
}

/* ---- memory sink -------------------------------------------------------- */

typedef struct mem_sink {
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  char *data;
  size_t len, cap;
  long writes, flushes;
  bool block_first; /* the first write waits for `released` */
  bool entered, released;
  bool count_only; /* keep no data (allocation-free) */
} mem_sink_t;

static void mem_sink_init(mem_sink_t *s) {
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->mutex, NULL);
  pthread_cond_init(&s->cond, NULL);
}

static void mem_sink_destroy(mem_sink_t *s) {
  free(s->data);
  pthread_mutex_destroy(&s->mutex);
  pthread_cond_destroy(&s->cond);
}

static void mem_write(const char *data, size_t len, void *arg) {
  mem_sink_t *s = arg;
  pthread_mutex_lock(&s->mutex);
  if (s->block_first && !s->entered) {
    s->entered = true;
    pthread_cond_broadcast(&s->cond);
    while (!s->released)
      pthread_cond_wait(&s->cond, &s->mutex);
  }
  s->writes++;
  if (!s->count_only) {
    if (s->len + len + 1 > s->cap) {
      s->cap = (s->len + len + 1) * 2;
      s->data = realloc(s->data, s->cap);
      CHECK(s->data != NULL);
    }
    memcpy(s->data + s->len, data, len);
    s->data[s->len + len] = '\0';
  }
  s->len += len;
  pthread_mutex_unlock(&s->mutex);
}

static void mem_flush(void *arg) {
  mem_sink_t *s = arg;
  pthread_mutex_lock(&s->mutex);
  s->flushes++;
  pthread_mutex_unlock(&s->mutex);
}

static size_t mem_len(mem_sink_t *s) {
  pthread_mutex_lock(&s->mutex);
  size_t n = s->len;
  pthread_mutex_unlock(&s->mutex);
  return n;
}

static mu_async_logging_t *new_mem_logger(mem_sink_t *s, size_t buffer,
                                          size_t max_queued) {
  mu_async_logging_options_t o;
  mu_async_logging_options_init(&o);
  o.buffer_size = buffer;
  o.max_queued_buffers = max_queued;
  o.flush_interval = 3600; /* only full buffers, flush and stop write */
  o.sink_write = mem_write;
  o.sink_flush = mem_flush;
  o.sink_arg = s;
  mu_async_logging_t *al = mu_async_logging_new(NULL, &o);
  CHECK(al != NULL);
  return al;
}

static void append_str(mu_async_logging_t *al, const char *s) {
  mu_async_logging_append(al, s, strlen(s));
}

/* ---- flush and the fallback --------------------------------------------- */

static void test_flush_and_fallback(void) {
  mem_sink_t s;
  mem_sink_init(&s);
  mu_async_logging_t *al = new_mem_logger(&s, 1 << 20, 4);
  /* Not started: straight through. */
  append_str(al, "before start\n");
  CHECK_STREQ(s.data, "before start\n");
  CHECK_EQ(mu_async_logging_start(al), 0);
  CHECK_EQ(mu_async_logging_start(al), -EALREADY);
  for (int i = 0; i < 100; ++i)
    append_str(al, "buffered line\n");
  sleep_ms(50);
  CHECK_EQ(mem_len(&s), 13); /* the back end waits for a full buffer or flush */
  long flushes = s.flushes;
  CHECK_EQ(mu_async_logging_flush(al), 0);
  CHECK_EQ(mem_len(&s), 13 + 100 * 14);
  pthread_mutex_lock(&s.mutex);
  CHECK(s.flushes > flushes);
  pthread_mutex_unlock(&s.mutex);
  CHECK_EQ(mu_async_logging_flush(al), 0); /* nothing new: returns all the same */
  append_str(al, "at stop\n");
  mu_async_logging_stop(al);
  CHECK_EQ(mem_len(&s), 13 + 100 * 14 + 8);
  mu_async_logging_stop(al); /* idempotent */
  append_str(al, "after stop\n");
  CHECK_EQ(mem_len(&s), 13 + 100 * 14 + 8 + 11);
  CHECK(strstr(s.data, "at stop\nafter stop\n") != NULL);
  CHECK_EQ(mu_async_logging_flush(al), 0);
  mu_async_logging_free(al);
  mem_sink_destroy(&s);
}

/* ---- stop while other threads log --------------------------------------- */

enum { k_stop_threads = 3, k_stop_lines = 30000 };

typedef struct stop_ctx {
  mu_async_logging_t *al;
  _Atomic long logged;
} stop_ctx_t;

static stop_ctx_t g_stop;

static void *stop_worker(void *arg) {
  int t = (int)(intptr_t)arg;
  char line[64];
  for (int i = 0; i < k_stop_lines; ++i) {
    int n = snprintf(line, sizeof line, "s t=%d seq=%d\n", t, i);
    mu_async_logging_append(g_stop.al, line, (size_t)n);
    atomic_fetch_add(&g_stop.logged, 1);
  }
  return NULL;
}

static void test_stop_while_logging(void) {
  mem_sink_t s;
  mem_sink_init(&s);
  g_stop.al = new_mem_logger(&s, 16 << 10, 128); /* room for every line */
  atomic_store(&g_stop.logged, 0);
  CHECK_EQ(mu_async_logging_start(g_stop.al), 0);
  pthread_t th[k_stop_threads];
  for (int t = 0; t < k_stop_threads; ++t) {
    CHECK(pthread_create(&th[t], NULL, stop_worker, (void *)(intptr_t)t) == 0);
  }
  for (int i = 0; i < 10000 && atomic_load(&g_stop.logged) < 5000; ++i)
    sleep_ms(1);
  mu_async_logging_stop(g_stop.al); /* the others go on logging: the fallback */
  long at_stop = atomic_load(&g_stop.logged);
  for (int t = 0; t < k_stop_threads; ++t)
    CHECK(pthread_join(th[t], NULL) == 0);
  CHECK_EQ(mu_async_logging_dropped_lines(g_stop.al), 0);
  mu_async_logging_free(g_stop.al);
  int next[k_stop_threads] = {0};
  long lines = 0;
  for (char *p = s.data, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
    *nl = '\0';
    int t = -1, seq = -1;
    CHECK(sscanf(p, "s t=%d seq=%d", &t, &seq) == 2);
    CHECK(t >= 0 && t < k_stop_threads && seq == next[t]);
    next[t]++;
    lines++;
  }
  CHECK_EQ(lines, (long)k_stop_threads * k_stop_lines);
  printf("stop while logging: stopped after %ld of %ld lines; all arrived\n", at_stop,
         lines);
  mem_sink_destroy(&s);
}

/* ---- the drop path ------------------------------------------------------ */

enum { k_drop_line = 100 };

static void drop_line(mu_async_logging_t *al, const char *tag, int seq) {
  char line[k_drop_line + 1];
  int n = snprintf(line, sizeof line, "%s seq=%06d ", tag, seq);
  memset(line + n, 'd', k_drop_line - 1 - (size_t)n);
  line[k_drop_line - 1] = '\n';
  mu_async_logging_append(al, line, k_drop_line);
}

static void test_drop_reports_count(void) {
  mem_sink_t s;
  mem_sink_init(&s);
  s.block_first = true;
  mu_async_logging_t *al = new_mem_logger(&s, 8 << 10, 4);
  CHECK_EQ(mu_async_logging_start(al), 0);
  int seq = 0;
  /* Fill one buffer and start the next (81 lines fit in 8 KiB), which wakes
   * the back end, then wait until it is stuck in its first write. Appending on
   * meanwhile could fill the queue and drop lines before the back end ran (a
   * loaded machine), and the checks below expect one drop episode. */
  for (int i = 0; i < 100; ++i)
    drop_line(al, "line", seq++);
  pthread_mutex_lock(&s.mutex);
  for (int i = 0; i < 30000 && !s.entered; ++i) { /* up to 30 s */
    pthread_mutex_unlock(&s.mutex);
    sleep_ms(1);
    pthread_mutex_lock(&s.mutex);
  }
  CHECK(s.entered);
  pthread_mutex_unlock(&s.mutex);
  CHECK_EQ(mu_async_logging_dropped_lines(al), 0);
  /* Now the queue fills (4 buffers of 81 lines) and then lines drop. */
  for (int i = 0; i < 20000 && mu_async_logging_dropped_lines(al) == 0; ++i) {
    drop_line(al, "line", seq++);
  }
  CHECK(mu_async_logging_dropped_lines(al) > 0);
  for (int i = 0; i < 500; ++i)
    drop_line(al, "line", seq++);
  uint64_t dropped = mu_async_logging_dropped_lines(al);
  CHECK_EQ(mu_async_logging_dropped_bytes(al), dropped * k_drop_line);
  CHECK(dropped >= 500);
  pthread_mutex_lock(&s.mutex);
  s.released = true;
  pthread_cond_broadcast(&s.cond);
  pthread_mutex_unlock(&s.mutex);
  CHECK_EQ(mu_async_logging_flush(al), 0);
  for (int i = 0; i < 10; ++i)
    drop_line(al, "after", i);
  mu_async_logging_stop(al);
  CHECK_EQ(mu_async_logging_dropped_lines(al), dropped); /* nothing more dropped */

  /* The sink got lines 0..kept-1, then the note, then the later lines. */
  long kept = seq - (long)dropped;
  char *p = s.data;
  for (long i = 0; i < kept; ++i) {
    char want[32];
    snprintf(want, sizeof want, "line seq=%06ld ", i);
    CHECK(strncmp(p, want, strlen(want)) == 0);
    p += k_drop_line;
  }
  char note[160];
  snprintf(note, sizeof note,
           " ERROR async logging dropped %llu lines (%llu bytes): the back end fell "
           "behind - async_logging.c:",
           (unsigned long long)dropped, (unsigned long long)(dropped * k_drop_line));
  char *nl = strchr(p, '\n');
  CHECK(nl != NULL);
  *nl = '\0';
  if (strstr(p, note) == NULL) {
    fprintf(stderr, "want the note \"%s\", got \"%s\"\n", note, p);
    abort();
  }
  p = nl + 1;
  for (int i = 0; i < 10; ++i) {
    char want[32];
    snprintf(want, sizeof want, "after seq=%06d ", i);
    CHECK(strncmp(p, want, strlen(want)) == 0);
    p += k_drop_line;
  }
  CHECK(*p == '\0');
  printf("drop: %ld lines kept, %llu dropped and reported\n", kept,
         (unsigned long long)dropped);
  mu_async_logging_free(al);
  mem_sink_destroy(&s);
}

/* ---- the steady state allocates nothing --------------------------------- */

static void test_steady_state_no_alloc(void) {
  mem_sink_t s;
  mem_sink_init(&s);
  s.count_only = true;
  mu_async_logging_t *al = new_mem_logger(&s, 64 << 10, 4);
  CHECK_EQ(mu_async_logging_start(al), 0);
  mu_async_logging_install(al);
  for (int round = 0; round < 3; ++round) { /* warm up: the spares get made */
    for (int i = 0; i < 300; ++i)
      MU_LOG_INFO("warm %d", i);
    CHECK_EQ(mu_async_logging_flush(al), 0);
  }
  long before = atomic_load(&g_allocs);
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 300; ++i)
      MU_LOG_INFO("steady %d round %d", i, round);
    CHECK_EQ(mu_async_logging_flush(al), 0);
  }
  CHECK_EQ(atomic_load(&g_allocs) - before, 0);
  mu_async_logging_free(al); /* uninstalls */
  pthread_mutex_lock(&s.mutex);
  CHECK(s.writes >= 53);
  pthread_mutex_unlock(&s.mutex);
  mem_sink_destroy(&s);
}

/* ---- setup, the flush hook, free restores the default -------------------- */

static void test_setup_and_hooks(void) {
  mu_async_logging_options_t o;
  mu_async_logging_options_init(&o);
  o.flush_interval = 3600;
  char base[128];
  snprintf(base, sizeof base, "%s/hook", g_dir);
  mu_async_logging_t *al = mu_async_logging_setup(base, &o);
  CHECK(al != NULL);
  MU_LOG_WARN("through the hook %d", 42);
  mu_log_flush(); /* the front end's flush reaches the back end */
  size_t len;
  char *all = slurp_dir(&len, NULL); /* unlinks the open file: the rest is lost */
  CHECK(strstr(all, " WARN  through the hook 42 - test_async_logging.c:") != NULL);
  free(all);
  mu_async_logging_free(al);
  /* setup failure leaves the front end alone */
  snprintf(base, sizeof base, "%s/missing/dir/x", g_dir);
  errno = 0;
  CHECK(mu_async_logging_setup(base, NULL) == NULL);
  CHECK_EQ(errno, ENOENT);
}

int main(void) {
  /* Before any other cmuduo call, as alloc.h requires. */
  mu_allocator_t counting = {count_malloc, count_realloc, free};
  mu_set_allocator(&counting);
  test_time_limit(SLOW_BUILD ? 280 : 240);
  snprintf(g_dir, sizeof g_dir, "/tmp/mu_async_log_XXXXXX");
  CHECK(mkdtemp(g_dir) != NULL);
  mu_log_set_level(MU_LOG_LEVEL_INFO);
  test_flush_and_fallback();
  test_steady_state_no_alloc();
  test_drop_reports_count();
  test_stop_while_logging();
  test_setup_and_hooks();
  test_threads_exactly_once();
  CHECK(rmdir(g_dir) == 0);
  TEST_PASS("async_logging");
}
