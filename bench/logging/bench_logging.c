/* Logging benchmark: one program, three ways of writing ~100-byte lines to a
 * file, so that bench/run_logging.sh can interleave them on the same machine.
 *
 *   --impl=async    MU_LOG_INFO through the async back end (mu_async_logging_setup)
 *   --impl=sync     MU_LOG_INFO through a thread-safe mu_log_file, synchronously
 *   --impl=fprintf  plain fprintf to a FILE (stdio's buffer and lock): a line of
 *                   the same length and shape, but with a constant date column
 *                   (no clock read) and the pid for the thread column
 *
 * Two measurements:
 *   --mode=throughput  THREADS threads log LINES lines in all as fast as they
 *       can; the clock stops when every line is in the file (async: after
 *       mu_async_logging_stop; others: after the final flush). Prints lines/s and
 *       ns per call (elapsed * threads / lines: what one call costs a thread).
 *   --mode=burst  muduo's AsyncLogging test: BURSTS bursts of 1000 lines with a
 *       pause between them, each burst timed; prints the median (and p90) of
 *       the per-burst microseconds per call, for one thread.
 *
 * Pinning: the main thread pins itself to --backend-cpu while the logger starts
 * (so the back-end thread inherits that CPU), then the producer threads pin to
 * --cpu (one thread) or --cpu and --backend-cpu (two threads).
 *
 * Output: RESULT <bench> <impl> <metric> <value> <unit>, like the other
 * benchmarks of bench/. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmuduo/base/async_logging.h"
#include "cmuduo/base/log_file.h"
#include "cmuduo/base/logging.h"

typedef struct opts {
  const char *impl;
  const char *mode;
  const char *dir;
  long lines;
  int threads;
  int bursts;
  int burst_lines;
  int pause_ms;
  int cpu;
  int backend_cpu;
  long buffer_kib; /* async buffer size; 0: the default (4 MiB) */
} opts_t;

static opts_t g_opts = {
    .impl = "async",
    .mode = "throughput",
    .dir = "/tmp",
    .lines = 2000000,
    .threads = 1,
    .bursts = 30,
    .burst_lines = 1000,
    .pause_ms = 100,
    .cpu = -1,
    .backend_cpu = -1,
};

static FILE *g_fp;               /* fprintf */
static mu_log_file_t *g_file;    /* sync */
static mu_async_logging_t *g_al; /* async */
static pthread_barrier_t g_start;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "bench_logging: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void pin(int cpu) {
  if (cpu < 0)
    return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* One log call of the chosen kind: about 100 bytes once formatted. */
static inline void log_one(long i) {
  if (g_fp) {
    fprintf(g_fp,
            "20261125 03:44:19.123456Z %6d INFO  Hello 0123456789 abcdefghijklmn %ld - "
            "bench_logging.c:%d\n",
            (int)getpid(), i, __LINE__);
  } else {
    MU_LOG_INFO("Hello 0123456789 abcdefghijklmn %ld", i);
  }
}

static void open_sink(void) {
  char base[512];
  snprintf(base, sizeof base, "%s/bench_%s", g_opts.dir, g_opts.impl);
  if (strcmp(g_opts.impl, "async") == 0) {
    pin(g_opts.backend_cpu); /* the back-end thread inherits this CPU */
    mu_async_logging_options_t o;
    mu_async_logging_options_init(&o);
    if (g_opts.buffer_kib > 0)
      o.buffer_size = (size_t)g_opts.buffer_kib << 10;
    g_al = mu_async_logging_setup(base, &o);
    if (g_al == NULL)
      die("mu_async_logging_setup");
  } else if (strcmp(g_opts.impl, "sync") == 0) {
    mu_log_file_options_t o;
    mu_log_file_options_init(&o);
    o.thread_safe = true;
    g_file = mu_log_file_new(base, &o);
    if (g_file == NULL)
      die("mu_log_file_new");
    mu_log_set_output(mu_log_file_output, g_file);
    mu_log_set_flush(mu_log_file_flush_output, g_file);
  } else if (strcmp(g_opts.impl, "fprintf") == 0) {
    strcat(base, ".log");
    g_fp = fopen(base, "w");
    if (g_fp == NULL)
      die("fopen");
  } else {
    fprintf(stderr, "bench_logging: unknown --impl=%s\n", g_opts.impl);
    exit(2);
  }
}

/* Everything into the file: the end of the timed region. */
static void drain_sink(void) {
  if (g_al)
    mu_async_logging_stop(g_al);
  if (g_file)
    mu_log_file_flush(g_file);
  if (g_fp)
    fflush(g_fp);
}

static void close_sink(void) {
  if (g_al)
    mu_async_logging_free(g_al);
  if (g_file) {
    mu_log_set_output(NULL, NULL);
    mu_log_set_flush(NULL, NULL);
    mu_log_file_free(g_file);
  }
  if (g_fp)
    fclose(g_fp);
}

/* Bytes written to the benchmark's files; removes them. */
static long long remove_files(void) {
  char prefix[64];
  snprintf(prefix, sizeof prefix, "bench_%s", g_opts.impl);
  DIR *d = opendir(g_opts.dir);
  if (d == NULL)
    die("opendir");
  long long bytes = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
      continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_opts.dir, e->d_name);
    struct stat st;
    if (stat(path, &st) == 0)
      bytes += st.st_size;
    unlink(path);
  }
  closedir(d);
  return bytes;
}

/* ---- throughput --------------------------------------------------------- */

typedef struct worker {
  pthread_t th;
  int index;
  long lines;
} worker_t;

static void *throughput_worker(void *arg) {
  worker_t *w = arg;
  pin(w->index == 0 ? g_opts.cpu : g_opts.backend_cpu);
  pthread_barrier_wait(&g_start);
  for (long i = 0; i < w->lines; ++i)
    log_one(i);
  return NULL;
}

static void run_throughput(void) {
  worker_t w[2];
  int n = g_opts.threads;
  pthread_barrier_init(&g_start, NULL, (unsigned)n + 1);
  for (int i = 0; i < n; ++i) {
    w[i] = (worker_t){.index = i, .lines = g_opts.lines / n};
    if (pthread_create(&w[i].th, NULL, throughput_worker, &w[i]) != 0)
      die("pthread_create");
  }
  pthread_barrier_wait(&g_start);
  int64_t t0 = now_ns();
  for (int i = 0; i < n; ++i)
    pthread_join(w[i].th, NULL);
  int64_t t_calls = now_ns();
  drain_sink();
  int64_t t1 = now_ns();
  long lines = (g_opts.lines / n) * n;
  double secs = (double)(t1 - t0) / 1e9;
  char bench[64];
  snprintf(bench, sizeof bench, "throughput_t%d", n);
  printf("RESULT %s %s rate %.0f lines/s\n", bench, g_opts.impl, (double)lines / secs);
  printf("RESULT %s %s ns_per_call %.1f ns\n", bench, g_opts.impl,
         (double)(t1 - t0) * n / (double)lines);
  printf("RESULT %s %s calls_rate %.0f lines/s\n", bench, g_opts.impl,
         (double)lines / ((double)(t_calls - t0) / 1e9));
  pthread_barrier_destroy(&g_start);
  close_sink();
  long long bytes = remove_files();
  printf("RESULT %s %s line_bytes %.1f bytes\n", bench, g_opts.impl,
         (double)bytes / (double)lines);
}

/* ---- bursts ------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void run_burst(void) {
  pin(g_opts.cpu);
  int nb = g_opts.bursts;
  double *us = calloc((size_t)nb, sizeof *us);
  if (us == NULL)
    die("calloc");
  long seq = 0;
  for (int b = 0; b < nb; ++b) {
    int64_t t0 = now_ns();
    for (int i = 0; i < g_opts.burst_lines; ++i)
      log_one(seq++);
    int64_t t1 = now_ns();
    us[b] = (double)(t1 - t0) / 1e3 / g_opts.burst_lines;
    struct timespec pause = {g_opts.pause_ms / 1000,
                             (long)(g_opts.pause_ms % 1000) * 1000000};
    nanosleep(&pause, NULL);
  }
  drain_sink();
  qsort(us, (size_t)nb, sizeof *us, cmp_double);
  printf("RESULT burst %s median_us %.4f us\n", g_opts.impl, us[nb / 2]);
  printf("RESULT burst %s p90_us %.4f us\n", g_opts.impl, us[(nb * 9) / 10]);
  printf("RESULT burst %s min_us %.4f us\n", g_opts.impl, us[0]);
  free(us);
  close_sink();
  remove_files();
}

/* ---- options ------------------------------------------------------------ */

static bool opt(const char *arg, const char *key, const char **val) {
  size_t n = strlen(key);
  if (strncmp(arg, key, n) != 0 || arg[n] != '=')
    return false;
  *val = arg + n + 1;
  return true;
}

static void parse(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    const char *v;
    if (opt(argv[i], "--impl", &v)) {
      g_opts.impl = v;
    } else if (opt(argv[i], "--mode", &v)) {
      g_opts.mode = v;
    } else if (opt(argv[i], "--dir", &v)) {
      g_opts.dir = v;
    } else if (opt(argv[i], "--lines", &v)) {
      g_opts.lines = atol(v);
    } else if (opt(argv[i], "--threads", &v)) {
      g_opts.threads = atoi(v);
    } else if (opt(argv[i], "--bursts", &v)) {
      g_opts.bursts = atoi(v);
    } else if (opt(argv[i], "--pause-ms", &v)) {
      g_opts.pause_ms = atoi(v);
    } else if (opt(argv[i], "--cpu", &v)) {
      g_opts.cpu = atoi(v);
    } else if (opt(argv[i], "--backend-cpu", &v)) {
      g_opts.backend_cpu = atoi(v);
    } else if (opt(argv[i], "--buffer-kib", &v)) {
      g_opts.buffer_kib = atol(v);
    } else {
      fprintf(stderr,
              "usage: %s [--impl=async|sync|fprintf] [--mode=throughput|burst]\n"
              "  [--dir=DIR] [--lines=N] [--threads=1|2] [--bursts=N] [--pause-ms=N]\n"
              "  [--cpu=N] [--backend-cpu=N] [--buffer-kib=N (async)]\n",
              argv[0]);
      exit(2);
    }
  }
  if (g_opts.threads < 1 || g_opts.threads > 2 || g_opts.lines < 1 || g_opts.bursts < 1) {
    fprintf(stderr, "bench_logging: bad numbers\n");
    exit(2);
  }
}

int main(int argc, char **argv) {
  parse(argc, argv);
  mu_log_set_level(MU_LOG_LEVEL_INFO);
  remove_files();
  open_sink();
  if (strcmp(g_opts.mode, "burst") == 0) {
    run_burst();
  } else {
    run_throughput();
  }
  return 0;
}
