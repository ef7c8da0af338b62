/* Helpers shared by the reactor benchmarks: clock, options, CPU pinning, the
 * timer deadline sequence, percentiles and the RESULT line.
 *
 * Every program prints its numbers as lines
 *   RESULT <bench> <impl> <metric> <value> <unit>
 * which bench/run_reactor.sh collects; anything else it prints is for people. */
#ifndef CMUDUO_BENCH_UTIL_H
#define CMUDUO_BENCH_UTIL_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#define BENCH_CPU_RELAX() __builtin_ia32_pause()
#else
#define BENCH_CPU_RELAX() atomic_signal_fence(memory_order_seq_cst)
#endif

static inline int64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CPU time of the calling thread: it stops while the thread is preempted, so
 * comparing it with the wall clock tells whether other work got in the way. */
static inline int64_t bench_thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void bench_die(const char *what) {
  fprintf(stderr, "bench: %s\n", what);
  exit(1);
}

typedef struct bench_opts {
  long n;           /* work items: functors or timers */
  int producers;    /* producer threads */
  int loop_cpu;     /* CPU of the loop thread; -1: not pinned */
  int producer_cpu; /* CPU of the other threads; -1: not pinned */
  long samples;     /* latency samples */
  long gap_us;      /* pause between latency samples, so the loop is asleep */
  int alloc;        /* timers: let the library allocate each timer */
  int rounds;       /* timers: add-then-cancel rounds in one loop */
} bench_opts_t;

static inline bench_opts_t bench_default_opts(long n) {
  return (bench_opts_t){.n = n,
                        .producers = 1,
                        .loop_cpu = -1,
                        .producer_cpu = -1,
                        .samples = 20000,
                        .gap_us = 100,
                        .alloc = 0,
                        .rounds = 3};
}

static inline int bench_match(const char *arg, const char *key, long *out) {
  size_t len = strlen(key);
  if (strncmp(arg, key, len) != 0 || arg[len] != '=')
    return 0;
  char *end;
  errno = 0;
  long v = strtol(arg + len + 1, &end, 10);
  if (errno != 0 || *end != '\0' || end == arg + len + 1) {
    fprintf(stderr, "bench: bad value in %s\n", arg);
    exit(2);
  }
  *out = v;
  return 1;
}

/* Options are --key=value; the same parser for every program so the script can
 * pass the pinning options uniformly. */
static inline void bench_parse(int argc, char **argv, bench_opts_t *o) {
  for (int i = 1; i < argc; ++i) {
    long v;
    if (bench_match(argv[i], "--n", &v)) {
      o->n = v;
    } else if (bench_match(argv[i], "--producers", &v)) {
      o->producers = (int)v;
    } else if (bench_match(argv[i], "--loop-cpu", &v)) {
      o->loop_cpu = (int)v;
    } else if (bench_match(argv[i], "--producer-cpu", &v)) {
      o->producer_cpu = (int)v;
    } else if (bench_match(argv[i], "--samples", &v)) {
      o->samples = v;
    } else if (bench_match(argv[i], "--gap-us", &v)) {
      o->gap_us = v;
    } else if (bench_match(argv[i], "--rounds", &v)) {
      o->rounds = (int)v;
    } else if (strcmp(argv[i], "--alloc") == 0) {
      o->alloc = 1;
    } else {
      fprintf(stderr,
              "usage: %s [--n=N] [--producers=P] [--loop-cpu=C] [--producer-cpu=C] "
              "[--samples=S] [--gap-us=U] [--rounds=R] [--alloc]\n",
              argv[0]);
      exit(2);
    }
  }
  if (o->n <= 0 || o->producers <= 0 || o->producers > 64 || o->samples <= 0 ||
      o->gap_us < 0 || o->rounds <= 0) {
    bench_die("option out of range");
  }
}

/* Pins the calling thread. A CPU outside the process's allowed set is an error:
 * a benchmark silently run unpinned would report a different thing. */
static inline void bench_pin(int cpu) {
  if (cpu < 0)
    return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  if (rc != 0) {
    fprintf(stderr, "bench: cannot pin to CPU %d: %s\n", cpu, strerror(rc));
    exit(1);
  }
}

static inline void bench_result(const char *bench, const char *impl, const char *metric,
                                double value, const char *unit) {
  printf("RESULT %s %s %s %.3f %s\n", bench, impl, metric, value, unit);
  fflush(stdout);
}

/* Timer delays in microseconds, uniform-ish in [1 s, 10 s], from a fixed seed:
 * every implementation gets the same sequence, and the spread makes each insert
 * and removal land at a random depth of the heap. */
static inline int64_t *bench_timer_delays_us(long n) {
  int64_t *d = malloc((size_t)n * sizeof *d);
  if (d == NULL)
    bench_die("out of memory");
  uint64_t x = UINT64_C(0x2545F4914F6CDD1D);
  for (long i = 0; i < n; ++i) {
    x ^= x >> 12; /* xorshift64* */
    x ^= x << 25;
    x ^= x >> 27;
    uint64_t r = x * UINT64_C(0x2545F4914F6CDD1D);
    d[i] = 1000000 + (int64_t)(r % 9000001);
  }
  return d;
}

/* Times of one timer round: before the adds, between, after the cancels; and
 * the thread's CPU time at t0 and t2. */
typedef struct bench_round {
  int64_t t0, t1, t2;
  int64_t cpu0, cpu2;
} bench_round_t;

static inline void bench_round_start(bench_round_t *r) {
  r->cpu0 = bench_thread_cpu_ns();
  r->t0 = bench_now_ns();
}

static inline void bench_round_mid(bench_round_t *r) {
  r->t1 = bench_now_ns();
}

static inline void bench_round_end(bench_round_t *r) {
  r->t2 = bench_now_ns();
  r->cpu2 = bench_thread_cpu_ns();
}

static inline void bench_report_timer_round(const char *impl, long n,
                                            const bench_round_t *r, const char *sfx) {
  double ops = (double)n;
  char metric[32];
  snprintf(metric, sizeof metric, "total%s", sfx);
  bench_result("timers", impl, metric, 2 * ops / ((double)(r->t2 - r->t0) / 1e9),
               "ops/s");
  snprintf(metric, sizeof metric, "add%s", sfx);
  bench_result("timers", impl, metric, ops / ((double)(r->t1 - r->t0) / 1e9), "ops/s");
  snprintf(metric, sizeof metric, "cancel%s", sfx);
  bench_result("timers", impl, metric, ops / ((double)(r->t2 - r->t1) / 1e9), "ops/s");
}

/* The first round is "cold": the library's own structures grow and fault their
 * pages in while the clock runs. The last is "warm": they are already at full
 * size, as in a server that has been running a while. */
static inline void bench_report_timer_rounds(const char *impl, long n,
                                             const bench_round_t *r, int rounds) {
  bench_report_timer_round(impl, n, &r[0], "");
  if (rounds > 1) {
    bench_report_timer_round(impl, n, &r[rounds - 1], "_warm");
  }
  /* Below 1 when the thread was preempted while timed: the run is noisy. */
  int64_t cpu = 0, wall = 0;
  for (int i = 0; i < rounds; ++i) {
    cpu += r[i].cpu2 - r[i].cpu0;
    wall += r[i].t2 - r[i].t0;
  }
  bench_result("timers", impl, "cpu_share", (double)cpu / (double)wall, "ratio");
}

static inline int bench_cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array, p in (0, 100]. */
static inline int64_t bench_percentile(const int64_t *sorted, long n, double p) {
  long rank = (long)((p / 100.0) * (double)n + 0.999999);
  if (rank < 1)
    rank = 1;
  if (rank > n)
    rank = n;
  return sorted[rank - 1];
}

/* Sorts the latency samples (ns) and prints median and p99 in microseconds. */
static inline void bench_report_latency(const char *bench, const char *impl,
                                        int64_t *samples, long n) {
  qsort(samples, (size_t)n, sizeof *samples, bench_cmp_i64);
  bench_result(bench, impl, "median", (double)bench_percentile(samples, n, 50) / 1e3,
               "us");
  bench_result(bench, impl, "p99", (double)bench_percentile(samples, n, 99) / 1e3, "us");
}

static inline void bench_sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Busy-waits until *flag reaches `want`; a reply that never comes is a bug in
 * the benchmark, so give up loudly after a few seconds instead of hanging. */
static inline void bench_wait_for(_Atomic long *flag, long want) {
  int64_t deadline = bench_now_ns() + INT64_C(10000000000);
  unsigned spins = 0;
  while (atomic_load_explicit(flag, memory_order_acquire) < want) {
    BENCH_CPU_RELAX();
    if ((++spins & 0xfff) == 0 && bench_now_ns() > deadline)
      bench_die("no reply in 10 s");
  }
}

#endif
