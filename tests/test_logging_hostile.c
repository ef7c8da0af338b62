/* The logging back ends in a hostile environment.
 *
 * Log file (log_file.h): writes that fail (a file that is a symlink to
 * /dev/full; a file size limit, later lifted, on the very same file), files
 * that cannot be created at start or at a roll (missing directory, a directory
 * in the file's place, the directory renamed away), the day roll failing, and
 * allocation failures in new and roll. Each error is said once on stderr, the
 * process goes on, and logging resumes when the cause goes away.
 *
 * Async logger (async_logging.h): a sink stuck in a write while five threads
 * log (lines dropped, never more buffers than the bound, dropped counters equal
 * to exactly what the sink did not get, the note in the sink and on stderr,
 * everything flowing again after), lines longer than a buffer, a sink that logs
 * or flushes from inside (before start, running, in stop's final pass, after
 * stop), flush timing out and stop waiting on a stuck sink, start after stop,
 * flush while stopped, a log file on /dev/full and one whose directory goes
 * away, buffer allocation failing while running, and the stop that races an
 * allocation failure. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/base/async_logging.h"
#include "cmuduo/base/current_thread.h"
#include "cmuduo/base/log_file.h"
#include "cmuduo/base/logging.h"
#include "test_util.h"

enum { k_buf = 8 << 10 }; /* every async logger here has 8 KiB buffers */

/* ---- an allocator that fails on demand and counts async buffers --------- */

enum { k_hdr = 16 }; /* keeps the caller's pointer 16-aligned */

static _Atomic long g_countdown;          /* > 0: the countdown-th allocation fails */
static _Atomic bool g_fail_buffers;       /* async buffer allocations fail */
static _Atomic pid_t g_fail_tid;          /* ... only in this thread, if not 0 */
static _Atomic long g_failed;             /* failures so far */
static _Atomic long g_live_buffers;       /* async buffers allocated and not freed */
static _Atomic long g_peak_buffers;       /* the most that lived at once */
static _Atomic(void (*)(void)) g_on_fail; /* called at the next failure, once */

/* An async buffer: a small header plus 8 KiB (log file buffers are 64 KiB). */
static bool is_buffer_size(size_t n) {
  return n > k_buf && n <= k_buf + 64;
}

static bool should_fail(size_t n) {
  long c = atomic_load(&g_countdown);
  while (c > 0 && !atomic_compare_exchange_weak(&g_countdown, &c, c - 1)) {
  }
  bool fail = c == 1;
  if (!fail && is_buffer_size(n) && atomic_load(&g_fail_buffers)) {
    pid_t tid = atomic_load(&g_fail_tid);
    fail = tid == 0 || tid == mu_current_thread_tid();
  }
  if (fail) {
    atomic_fetch_add(&g_failed, 1);
    void (*hook)(void) = atomic_exchange(&g_on_fail, NULL);
    if (hook)
      hook();
  }
  return fail;
}

static void *track(char *base, size_t n) {
  memcpy(base, &n, sizeof n);
  if (is_buffer_size(n)) {
    long live = atomic_fetch_add(&g_live_buffers, 1) + 1;
    long peak = atomic_load(&g_peak_buffers);
    while (live > peak && !atomic_compare_exchange_weak(&g_peak_buffers, &peak, live)) {
    }
  }
  return base + k_hdr;
}

static void untrack(char *base) {
  size_t n;
  memcpy(&n, base, sizeof n);
  if (is_buffer_size(n))
    atomic_fetch_sub(&g_live_buffers, 1);
}

static void *hostile_malloc(size_t n) {
  if (should_fail(n))
    return NULL;
  char *base = malloc(n + k_hdr);
  return base ? track(base, n) : NULL;
}

static void *hostile_realloc(void *p, size_t n) {
  if (p == NULL)
    return hostile_malloc(n);
  if (should_fail(n))
    return NULL;
  char *base = (char *)p - k_hdr;
  size_t old;
  memcpy(&old, base, sizeof old);
  char *nb = realloc(base, n + k_hdr);
  if (nb == NULL)
    return NULL;
  if (is_buffer_size(old))
    atomic_fetch_sub(&g_live_buffers, 1);
  return track(nb, n);
}

static void hostile_free(void *p) {
  if (p == NULL)
    return;
  char *base = (char *)p - k_hdr;
  untrack(base);
  free(base);
}

/* ---- files and stderr --------------------------------------------------- */

static char g_dir[64];

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

static int count_of(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
    n++;
  return n;
}

static int g_saved_stderr = -1;
static char g_capture_path[128];

/* Sends stderr to a file until capture_end: what the library says there. */
static void capture_begin(void) {
  snprintf(g_capture_path, sizeof g_capture_path, "%s/stderr.txt", g_dir);
  int fd = open(g_capture_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CHECK(fd >= 0);
  fflush(stderr);
  g_saved_stderr = dup(STDERR_FILENO);
  CHECK(g_saved_stderr >= 0);
  CHECK(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
  close(fd);
}

/* Restores stderr; returns what was written to it (malloc'd), echoing its
 * beginning so that a failing run shows it. */
static char *capture_end(const char *what) {
  fflush(stderr);
  CHECK(dup2(g_saved_stderr, STDERR_FILENO) == STDERR_FILENO);
  close(g_saved_stderr);
  g_saved_stderr = -1;
  size_t len;
  char *text = test_slurp(g_capture_path, &len);
  CHECK(unlink(g_capture_path) == 0);
  fprintf(stderr, "[%s: %zu bytes on stderr]\n%.600s%s", what, len, text,
          len > 600 ? "...\n" : "");
  return text;
}

/* A line "TAG t=T seq=S xxx...\n" whose length varies with seq. */
static size_t make_line(char *buf, size_t cap, const char *tag, int t, int seq) {
  int n = snprintf(buf, cap, "%s t=%d seq=%d ", tag, t, seq);
  CHECK(n > 0);
  size_t len = (size_t)n + 20 + (size_t)(seq % 41);
  CHECK(len < cap);
  memset(buf + n, 'a' + seq % 26, len - 1 - (size_t)n);
  buf[len - 1] = '\n';
  return len;
}

/* ---- a fake clock for the log file -------------------------------------- */

static const time_t k_t0 = 1700000000; /* 2023-11-14 */

typedef struct test_clock {
  _Atomic long long now;
  _Atomic long long step; /* added after every reading */
} test_clock_t;

static time_t read_clock(void *arg) {
  test_clock_t *c = arg;
  return (time_t)atomic_fetch_add(&c->now, atomic_load(&c->step));
}

static void name_for(const char *base, time_t t, char *buf, size_t len) {
  int n = mu_log_file_make_name(base, t, buf, len);
  CHECK(n > 0 && (size_t)n < len);
}

static mu_log_file_t *new_file(const char *base, test_clock_t *clk, size_t roll_size) {
  mu_log_file_options_t o;
  mu_log_file_options_init(&o);
  o.roll_size = roll_size;
  o.clock = read_clock;
  o.clock_arg = clk;
  return mu_log_file_new(base, &o);
}

static size_t file_size(const char *path) {
  struct stat st;
  CHECK(stat(path, &st) == 0);
  return (size_t)st.st_size;
}

/* ---- log file: every write fails (/dev/full), then room again ----------- */

/* Appends `n` lines (tag, seq from..from+n-1) to f and to `expect` if given;
 * returns how many appends failed with -err; any other error fails the test. */
static int append_lines(mu_log_file_t *f, const char *tag, int from, int n, int err,
                        char *expect, size_t *elen) {
  int failed = 0;
  char line[128];
  for (int i = from; i < from + n; ++i) {
    size_t len = make_line(line, sizeof line, tag, 0, i);
    int rc = mu_log_file_append(f, line, len);
    if (rc == -err && err != 0) {
      failed++;
    } else if (rc != 0) {
      fprintf(stderr, "append: unexpected %d\n", rc);
      abort();
    }
    if (expect) {
      memcpy(expect + *elen, line, len);
      *elen += len;
    }
  }
  return failed;
}

static void test_file_full_disk(void) {
  test_clock_t clk = {k_t0, 0};
  char base[128], full0[512], good[512], full2[512], cur[512];
  snprintf(base, sizeof base, "%s/full", g_dir);
  name_for(base, k_t0, full0, sizeof full0);
  CHECK(symlink("/dev/full", full0) == 0);

  capture_begin();
  mu_log_file_t *f = new_file(base, &clk, 1u << 30);
  CHECK(f != NULL); /* opening /dev/full works; writing does not */
  /* ~250 KB: the 64 KiB buffer fills and is written (and lost) a few times. */
  int failed = append_lines(f, "full", 0, 3000, ENOSPC, NULL, NULL);
  int frc = mu_log_file_flush(f);
  size_t big_len = 100000; /* past the buffer: written directly */
  char *big = malloc(big_len);
  CHECK(big != NULL);
  memset(big, 'B', big_len);
  big[big_len - 1] = '\n';
  int brc = mu_log_file_append(f, big, big_len);
  char *err = capture_end("full disk");
  CHECK(failed >= 1);
  CHECK_EQ(frc, -ENOSPC);
  CHECK_EQ(brc, -ENOSPC);
  CHECK_EQ(count_of(err, "cmuduo log_file: cannot write"), 1); /* once, not per line */
  CHECK_EQ(count_of(err, strerror(ENOSPC)), 1);
  CHECK(strstr(err, full0) != NULL);
  free(err);

  /* Room again: a roll (the next second) opens a real file, and lines flow. */
  atomic_store(&clk.now, k_t0 + 1);
  name_for(base, k_t0 + 1, good, sizeof good);
  char *expect = malloc(64 * 1024);
  size_t elen = 0;
  capture_begin();
  append_lines(f, "lost", 0, 10, ENOSPC, NULL, NULL); /* buffered, then lost */
  int rrc = mu_log_file_roll(f); /* its flush fails again: said already */
  int failed_good = append_lines(f, "good", 0, 200, 0, expect, &elen);
  int grc = mu_log_file_flush(f);
  err = capture_end("room again");
  CHECK_EQ(rrc, 0);
  CHECK_EQ(failed_good, 0);
  CHECK_EQ(grc, 0);
  CHECK_STREQ(err, "");
  free(err);
  CHECK_STREQ(mu_log_file_path(f, cur, sizeof cur), good);
  size_t glen;
  char *got = test_slurp(good, &glen);
  CHECK_EQ(glen, elen);
  CHECK(memcmp(got, expect, elen) == 0);
  free(got);

  /* Full again after a success: said again, once. */
  atomic_store(&clk.now, k_t0 + 2);
  name_for(base, k_t0 + 2, full2, sizeof full2);
  CHECK(symlink("/dev/full", full2) == 0);
  capture_begin();
  rrc = mu_log_file_roll(f);
  failed = append_lines(f, "full2", 0, 3000, ENOSPC, NULL, NULL);
  frc = mu_log_file_flush(f);
  brc = mu_log_file_append(f, big, big_len);
  mu_log_file_free(f); /* its last flush fails: said already */
  err = capture_end("full again");
  CHECK_EQ(rrc, 0);
  CHECK(failed >= 1);
  CHECK_EQ(frc, -ENOSPC);
  CHECK_EQ(brc, -ENOSPC);
  CHECK_EQ(count_of(err, "cmuduo log_file: cannot write"), 1);
  CHECK(strstr(err, full2) != NULL);
  free(err);
  free(big);
  free(expect);
  CHECK(unlink(full0) == 0 && unlink(good) == 0 && unlink(full2) == 0);
  printf("log file on /dev/full: errors said once per episode, lines flow in between\n");
}

/* Every append flushes (interval 0), and a roll that cannot happen sends a
 * big chunk straight to the full disk: each loss comes back from the append
 * that suffered it, and each error kind is said once. */
static void test_file_full_disk_paths(void) {
  test_clock_t clk = {k_t0 + 40, 0};
  char base[128], full[512], blocker[512];
  snprintf(base, sizeof base, "%s/fullp", g_dir);
  name_for(base, k_t0 + 40, full, sizeof full);
  name_for(base, k_t0 + 41, blocker, sizeof blocker);
  CHECK(symlink("/dev/full", full) == 0);
  CHECK(mkdir(blocker, 0755) == 0);
  mu_log_file_options_t o;
  mu_log_file_options_init(&o);
  o.roll_size = 1000;
  o.flush_interval = 0;
  o.check_every_n = 1;
  o.clock = read_clock;
  o.clock_arg = &clk;
  mu_log_file_t *f = mu_log_file_new(base, &o);
  CHECK(f != NULL);
  atomic_store(&clk.now, k_t0 + 41);
  size_t chunk_len = 0;
  char *chunk = malloc(128 * 1024);
  CHECK(chunk != NULL);
  for (int i = 0; chunk_len < 100 * 1024; ++i)
    chunk_len += make_line(chunk + chunk_len, 128, "chunk", 0, i);
  capture_begin();
  int rc1 = mu_log_file_append(f, "one line\n", 9); /* its flush fails */
  /* 1000 bytes go to the buffer; the roll's flush fails, so does its open; the
   * rest (past the buffer's size) is written directly and fails too. */
  int rc2 = mu_log_file_append(f, chunk, chunk_len);
  mu_log_file_free(f);
  char *err = capture_end("full disk, every path");
  CHECK_EQ(rc1, -ENOSPC);
  CHECK_EQ(rc2, -ENOSPC);
  CHECK_EQ(count_of(err, "cmuduo log_file: cannot write"), 1);
  CHECK_EQ(count_of(err, "cmuduo log_file: cannot open"), 1);
  free(err);
  free(chunk);
  CHECK(unlink(full) == 0 && rmdir(blocker) == 0);
  printf("log file on /dev/full: interval flush and failed roll report the loss\n");
}

/* ---- log file: a size limit reached, then lifted (the same file) -------- */

static void test_file_size_limit_lifted(void) {
  signal(SIGXFSZ, SIG_IGN); /* the write fails with EFBIG instead */
  test_clock_t clk = {k_t0 + 10, 0};
  char base[128], path[512];
  snprintf(base, sizeof base, "%s/fsize", g_dir);
  mu_log_file_t *f = new_file(base, &clk, 1u << 30);
  CHECK(f != NULL);
  mu_log_file_path(f, path, sizeof path);
  char *expect = malloc(64 * 1024);
  size_t elen = 0;
  append_lines(f, "before", 0, 200, 0, expect, &elen);
  CHECK_EQ(mu_log_file_flush(f), 0);
  CHECK_EQ(file_size(path), elen);

  struct rlimit old, lim;
  CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
  lim = old;
  lim.rlim_cur = (rlim_t)elen; /* the file may not grow; the capture file is smaller */
  capture_begin();
  int lrc = setrlimit(RLIMIT_FSIZE, &lim);
  append_lines(f, "lost", 0, 100, 0, NULL, NULL); /* buffered: no write yet */
  int frc1 = mu_log_file_flush(f);
  append_lines(f, "lost", 100, 100, 0, NULL, NULL);
  int frc2 = mu_log_file_flush(f);
  int rrc = setrlimit(RLIMIT_FSIZE, &old);
  append_lines(f, "after", 0, 200, 0, expect, &elen);
  int frc3 = mu_log_file_flush(f);
  char *err = capture_end("size limit");
  CHECK_EQ(lrc, 0);
  CHECK_EQ(rrc, 0);
  CHECK_EQ(frc1, -EFBIG);
  CHECK_EQ(frc2, -EFBIG);
  CHECK_EQ(frc3, 0);
  CHECK_EQ(count_of(err, "cmuduo log_file: cannot write"), 1);
  CHECK(strstr(err, strerror(EFBIG)) != NULL);
  free(err);
  /* The lines written while the limit held are lost; the rest is whole. */
  size_t glen;
  char *got = test_slurp(path, &glen);
  CHECK_EQ(glen, elen);
  CHECK(memcmp(got, expect, elen) == 0);
  free(got);

  /* And a second episode is said again. */
  CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
  lim = old;
  lim.rlim_cur = (rlim_t)elen;
  capture_begin();
  lrc = setrlimit(RLIMIT_FSIZE, &lim);
  append_lines(f, "lost2", 0, 100, 0, NULL, NULL);
  frc1 = mu_log_file_flush(f);
  rrc = setrlimit(RLIMIT_FSIZE, &old);
  err = capture_end("size limit again");
  CHECK_EQ(lrc, 0);
  CHECK_EQ(rrc, 0);
  CHECK_EQ(frc1, -EFBIG);
  CHECK_EQ(count_of(err, "cmuduo log_file: cannot write"), 1);
  free(err);
  mu_log_file_free(f);
  CHECK_EQ(file_size(path), elen);
  CHECK(unlink(path) == 0);
  free(expect);
  signal(SIGXFSZ, SIG_DFL);
  printf("log file over a size limit: EFBIG said once, the same file resumes whole\n");
}

/* ---- log file: cannot be created ---------------------------------------- */

static void test_file_create_errors(void) {
  char base[256], path[512];
  errno = 0;
  CHECK(mu_log_file_new(NULL, NULL) == NULL);
  CHECK_EQ(errno, EINVAL);
  errno = 0;
  CHECK(mu_log_file_new("", NULL) == NULL);
  CHECK_EQ(errno, EINVAL);

  capture_begin();
  snprintf(base, sizeof base, "%s/missing/app", g_dir);
  errno = 0;
  mu_log_file_t *f1 = mu_log_file_new(base, NULL);
  int e1 = errno;
  snprintf(path, sizeof path, "%s/plain", g_dir); /* a file where a directory is due */
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  close(fd);
  snprintf(base, sizeof base, "%s/plain/app", g_dir);
  errno = 0;
  mu_log_file_t *f2 = mu_log_file_new(base, NULL);
  int e2 = errno;
  test_clock_t clk = {k_t0 + 20, 0};
  char blocked[512];
  snprintf(base, sizeof base, "%s/isdir", g_dir);
  name_for(base, k_t0 + 20, blocked, sizeof blocked);
  CHECK(mkdir(blocked, 0755) == 0); /* a directory where the file is due */
  errno = 0;
  mu_log_file_t *f3 = new_file(base, &clk, 1u << 30);
  int e3 = errno;
  char *err = capture_end("cannot create");
  CHECK(f1 == NULL && f2 == NULL && f3 == NULL);
  CHECK_EQ(e1, ENOENT);
  CHECK_EQ(e2, ENOTDIR);
  CHECK_EQ(e3, EISDIR);
  CHECK_EQ(count_of(err, "cmuduo log_file: cannot open"), 3);
  free(err);
  CHECK(rmdir(blocked) == 0);
  CHECK(unlink(path) == 0);

  /* Out-of-range options are made sane: roll_size 0 is 1 (a file per line),
   * check_every_n 0 is 1 and a negative flush interval is 0 (every append is
   * on disk at once). */
  mu_log_file_options_t o;
  mu_log_file_options_init(&o);
  test_clock_t step = {k_t0 + 30, 0};
  o.roll_size = 0;
  o.check_every_n = 0;
  o.flush_interval = -5;
  o.clock = read_clock;
  o.clock_arg = &step;
  snprintf(base, sizeof base, "%s/sane", g_dir);
  mu_log_file_t *f = mu_log_file_new(base, &o);
  CHECK(f != NULL);
  char paths[3][512];
  for (int i = 0; i < 3; ++i) {
    atomic_store(&step.now, k_t0 + 31 + i); /* a new second: the roll is not postponed */
    CHECK_EQ(mu_log_file_append(f, "xy\n", 3), 0);
    mu_log_file_path(f, paths[i], sizeof paths[i]);
    CHECK_EQ(file_size(paths[i]), 3); /* no flush called */
  }
  CHECK(strcmp(paths[0], paths[1]) != 0 && strcmp(paths[1], paths[2]) != 0);
  mu_log_file_free(f);
  for (int i = 0; i < 3; ++i)
    CHECK(unlink(paths[i]) == 0);
  printf("log file creation: ENOENT, ENOTDIR, EISDIR, EINVAL; options made sane\n");
}

/* ---- log file: a roll that cannot create the next file ------------------ */

static void read_lines_check(const char *path, const char *tag, int from, int to) {
  char *got = test_slurp(path, NULL);
  char line[128];
  const char *p = got;
  for (int i = from; i < to; ++i) {
    size_t len = make_line(line, sizeof line, tag, 0, i);
    if (strncmp(p, line, len) != 0) {
      fprintf(stderr, "%s: line %d of %s missing or out of place\n", path, i, tag);
      abort();
    }
    p += len;
  }
  CHECK(*p == '\0');
  free(got);
}

static void test_file_roll_errors(void) {
  char dir[128], gone[128], base[256], p0[512], blocker[512], p1[512], cur[512];
  snprintf(dir, sizeof dir, "%s/roll", g_dir);
  snprintf(gone, sizeof gone, "%s/roll.gone", g_dir);
  CHECK(mkdir(dir, 0755) == 0);
  snprintf(base, sizeof base, "%s/app", dir);
  test_clock_t clk = {k_t0 + 100, 0};
  mu_log_file_t *f = new_file(base, &clk, 1000);
  CHECK(f != NULL);
  mu_log_file_path(f, p0, sizeof p0);

  /* The next file's name is taken by a directory: every append past the roll
   * size tries to roll and fails; the lines go on in the current file. */
  atomic_store(&clk.now, k_t0 + 101);
  name_for(base, k_t0 + 101, blocker, sizeof blocker);
  CHECK(mkdir(blocker, 0755) == 0);
  capture_begin();
  int failed = append_lines(f, "roll", 0, 50, 0, NULL, NULL); /* ~3.5 KB */
  int rrc = mu_log_file_roll(f);
  char *err = capture_end("roll blocked");
  CHECK_EQ(failed, 0);
  CHECK_EQ(rrc, -EISDIR); /* and the current file is kept */
  CHECK_STREQ(mu_log_file_path(f, cur, sizeof cur), p0);
  CHECK_EQ(count_of(err, "cmuduo log_file: cannot open"), 1); /* once, not per line */
  CHECK(strstr(err, strerror(EISDIR)) != NULL);
  CHECK(strstr(err, blocker) != NULL); /* names the file it could not open */
  free(err);

  /* The directory goes away: ENOENT, said once; the open file still takes lines. */
  CHECK(rename(dir, gone) == 0);
  atomic_store(&clk.now, k_t0 + 102);
  capture_begin();
  failed = append_lines(f, "roll", 50, 50, 0, NULL, NULL);
  rrc = mu_log_file_flush(f);
  err = capture_end("directory gone");
  CHECK_EQ(failed, 0);
  CHECK_EQ(rrc, 0);
  CHECK_EQ(count_of(err, "cmuduo log_file: cannot open"), 1);
  CHECK(strstr(err, strerror(ENOENT)) != NULL);
  free(err);
  CHECK(rename(gone, dir) == 0);

  /* The day changes, and that roll fails too: the append still succeeds (its
   * line is written, to the current file). */
  time_t day = k_t0 + 102 + 2 * 24 * 3600;
  char day_blocker[512];
  name_for(base, day, day_blocker, sizeof day_blocker);
  CHECK(mkdir(day_blocker, 0755) == 0);
  atomic_store(&clk.now, day);
  capture_begin();
  char line[128];
  size_t len = make_line(line, sizeof line, "roll", 0, 100);
  int arc = mu_log_file_append(f, line, len);
  for (int i = 101; i < 1200; ++i) { /* past check_every_n (1024) appends */
    len = make_line(line, sizeof line, "roll", 0, i);
    int rc = mu_log_file_append(f, line, len);
    if (rc != 0 && arc == 0)
      arc = rc;
  }
  err = capture_end("day roll blocked");
  CHECK_EQ(arc, 0);
  CHECK(strstr(err, strerror(EISDIR)) != NULL);
  free(err);
  CHECK(rmdir(day_blocker) == 0);
  CHECK(rmdir(blocker) == 0);

  /* Nothing in the way: the next append rolls, in a new second. */
  atomic_store(&clk.now, day + 1);
  append_lines(f, "roll", 1200, 10, 0, NULL, NULL);
  mu_log_file_path(f, p1, sizeof p1);
  CHECK(strcmp(p1, p0) != 0);
  mu_log_file_free(f);
  read_lines_check(p0, "roll", 0, 1200);
  read_lines_check(p1, "roll", 1200, 1210);
  CHECK(unlink(p0) == 0 && unlink(p1) == 0);
  CHECK(rmdir(dir) == 0);
  printf("log file rolls that fail: said once, lines kept in the current file\n");
}

/* ---- a sink that can hold the back end and act from inside -------------- */

typedef enum action { ACT_NONE, ACT_LOG, ACT_FLUSH, ACT_STOP } action_t;

typedef struct sink {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char *data;
  size_t len, cap;
  long writes, flushes;
  bool hold;       /* writes wait while set */
  bool waiting;    /* a write is waiting */
  action_t action; /* done once, by the next write, outside the sink's lock */
  int logged;      /* ACT_LOG lines so far */
  int inner_rc;    /* what ACT_FLUSH's flush returned */
  mu_async_logging_t *al;
} sink_t;

static void sink_init(sink_t *s) {
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  s->inner_rc = 1;
}

static void sink_destroy(sink_t *s) {
  free(s->data);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
}

static void sink_write(const char *data, size_t len, void *arg) {
  sink_t *s = arg;
  pthread_mutex_lock(&s->mu);
  while (s->hold) {
    s->waiting = true;
    pthread_cond_broadcast(&s->cv);
    pthread_cond_wait(&s->cv, &s->mu);
  }
  s->waiting = false;
  s->writes++;
  if (s->len + len + 1 > s->cap) {
    s->cap = (s->len + len + 1) * 2;
    s->data = realloc(s->data, s->cap);
    CHECK(s->data != NULL);
  }
  memcpy(s->data + s->len, data, len);
  s->len += len;
  s->data[s->len] = '\0';
  action_t act = s->action;
  s->action = ACT_NONE;
  int k = act == ACT_LOG ? ++s->logged : 0;
  pthread_mutex_unlock(&s->mu);
  /* Outside the sink's lock: these may come straight back into the sink. */
  if (act == ACT_LOG) {
    MU_LOG_WARN("from inside the sink %d", k);
  } else if (act == ACT_FLUSH) {
    int rc = mu_async_logging_flush(s->al);
    pthread_mutex_lock(&s->mu);
    s->inner_rc = rc;
    pthread_mutex_unlock(&s->mu);
  } else if (act == ACT_STOP) {
    mu_async_logging_stop(s->al);
  }
}

static void sink_flush(void *arg) {
  sink_t *s = arg;
  pthread_mutex_lock(&s->mu);
  s->flushes++;
  pthread_mutex_unlock(&s->mu);
}

static void sink_set_hold(sink_t *s, bool hold) {
  pthread_mutex_lock(&s->mu);
  s->hold = hold;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static bool sink_waiting(sink_t *s) {
  pthread_mutex_lock(&s->mu);
  bool w = s->waiting;
  pthread_mutex_unlock(&s->mu);
  return w;
}

static void sink_set_action(sink_t *s, action_t a) {
  pthread_mutex_lock(&s->mu);
  s->action = a;
  pthread_mutex_unlock(&s->mu);
}

/* The sink's text so far (malloc'd copy). */
static char *sink_text(sink_t *s) {
  pthread_mutex_lock(&s->mu);
  char *t = strdup(s->data ? s->data : "");
  pthread_mutex_unlock(&s->mu);
  CHECK(t != NULL);
  return t;
}

static void sink_counts(sink_t *s, long *writes, long *flushes) {
  pthread_mutex_lock(&s->mu);
  *writes = s->writes;
  *flushes = s->flushes;
  pthread_mutex_unlock(&s->mu);
}

static mu_async_logging_t *new_sink_logger(sink_t *s, size_t max_queued) {
  mu_async_logging_options_t o;
  mu_async_logging_options_init(&o);
  o.buffer_size = k_buf;
  o.max_queued_buffers = max_queued;
  o.flush_interval = 3600; /* only full buffers, flush and stop write */
  o.sink_write = sink_write;
  o.sink_flush = sink_flush;
  o.sink_arg = s;
  mu_async_logging_t *al = mu_async_logging_new(NULL, &o);
  CHECK(al != NULL);
  s->al = al;
  return al;
}

/* Appends lines (tag, thread 0) until the back end is stuck in the sink;
 * returns how many. */
static int fill_until_stuck(mu_async_logging_t *al, sink_t *s, const char *tag,
                            uint64_t *bytes) {
  char line[128];
  int seq = 0;
  for (; seq < 200000 && !sink_waiting(s); ++seq) {
    size_t len = make_line(line, sizeof line, tag, 0, seq);
    mu_async_logging_append(al, line, len);
    if (bytes)
      *bytes += len;
    if (seq % 64 == 63)
      sleep_ms(1);
  }
  for (int i = 0; i < 60000 && !sink_waiting(s); ++i)
    sleep_ms(1);
  CHECK(sink_waiting(s));
  return seq;
}

/* What the sink got: lines of `tag` (per thread strictly increasing seq: none
 * twice, none out of order) and drop notes (their counts summed). */
typedef struct tally {
  uint64_t lines, bytes;
  uint64_t notes, note_lines, note_bytes;
  int per_thread[8]; /* lines of each thread */
} tally_t;

static void tally_sink(const char *text, const char *tag, tally_t *t) {
  memset(t, 0, sizeof *t);
  int last[8];
  for (int i = 0; i < 8; ++i)
    last[i] = -1;
  size_t taglen = strlen(tag);
  for (const char *p = text, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
    const char *note = strstr(p, " ERROR async logging dropped ");
    if (note && note < nl) {
      unsigned long long l, b;
      CHECK(sscanf(note, " ERROR async logging dropped %llu lines (%llu bytes)", &l,
                   &b) == 2);
      t->notes++;
      t->note_lines += l;
      t->note_bytes += b;
      continue;
    }
    if (strncmp(p, tag, taglen) != 0 || p[taglen] != ' ')
      continue;
    int th, seq;
    CHECK(sscanf(p + taglen, " t=%d seq=%d", &th, &seq) == 2);
    CHECK(th >= 0 && th < 8);
    if (seq <= last[th]) {
      fprintf(stderr, "%s t=%d: seq %d after %d\n", tag, th, seq, last[th]);
      abort();
    }
    last[th] = seq;
    t->per_thread[th]++;
    t->lines++;
    t->bytes += (uint64_t)(nl + 1 - p);
  }
}

/* ---- async: the back end stuck while five threads log ------------------- */

enum { k_over_threads = 4, k_over_lines = 20000, k_max_queued = 4 };

typedef struct over_arg {
  mu_async_logging_t *al;
  const char *tag;
  int t, lines;
  int flush_every; /* 0: never */
  uint64_t bytes;
} over_arg_t;

static void *over_worker(void *p) {
  over_arg_t *a = p;
  char line[128];
  for (int i = 0; i < a->lines; ++i) {
    size_t len = make_line(line, sizeof line, a->tag, a->t, i);
    mu_async_logging_append(a->al, line, len);
    a->bytes += len;
    if (a->flush_every && i % a->flush_every == a->flush_every - 1)
      CHECK_EQ(mu_async_logging_flush(a->al), 0);
  }
  return NULL;
}

/* Runs `lines` lines of `tag` from each of k_over_threads threads (1..n),
 * each flushing every `flush_every` lines if not 0; returns the bytes. With
 * 4 threads x 40 lines (< 4 KB each) at most 3 buffers are ever outstanding:
 * a queue of 4 never fills, whatever the scheduling. */
static uint64_t run_workers(mu_async_logging_t *al, const char *tag, int lines,
                            int flush_every) {
  pthread_t th[k_over_threads];
  over_arg_t args[k_over_threads];
  for (int t = 0; t < k_over_threads; ++t) {
    args[t] = (over_arg_t){al, tag, t + 1, lines, flush_every, 0};
    CHECK(pthread_create(&th[t], NULL, over_worker, &args[t]) == 0);
  }
  uint64_t bytes = 0;
  for (int t = 0; t < k_over_threads; ++t) {
    CHECK(pthread_join(th[t], NULL) == 0);
    bytes += args[t].bytes;
  }
  return bytes;
}

/* The back end makes no call into the sink while nothing happens. */
static void check_idle(sink_t *s) {
  long w0, f0, w1, f1;
  sink_counts(s, &w0, &f0);
  sleep_ms(300);
  sink_counts(s, &w1, &f1);
  CHECK_EQ(w1, w0);
  CHECK_EQ(f1, f0);
}

static void test_async_overload(void) {
  sink_t s;
  sink_init(&s);
  mu_async_logging_t *al = new_sink_logger(&s, k_max_queued);
  CHECK_EQ(mu_async_logging_start(al), 0);
  sink_set_hold(&s, true);
  uint64_t bytes = 0;
  uint64_t lines = (uint64_t)fill_until_stuck(al, &s, "over", &bytes);
  atomic_store(&g_peak_buffers, atomic_load(&g_live_buffers));
  bytes += run_workers(al, "over", k_over_lines, 0);
  lines += (uint64_t)k_over_threads * k_over_lines;
  uint64_t dropped = mu_async_logging_dropped_lines(al);
  uint64_t dropped_bytes = mu_async_logging_dropped_bytes(al);
  long peak = atomic_load(&g_peak_buffers);
  CHECK(dropped > 0);
  /* Bounded: the queue, the current buffer, the back end's batch (a queue and
   * a buffer), the pool (2), the back end's spare, and one being allocated by
   * each appending thread. */
  CHECK(peak <= 2 * (k_max_queued + 1) + 3 + k_over_threads + 1);

  capture_begin();
  sink_set_hold(&s, false);
  int frc = mu_async_logging_flush(al);
  char *err = capture_end("overload");
  CHECK_EQ(frc, 0);
  char *text = sink_text(&s);
  tally_t t;
  tally_sink(text, "over", &t);
  CHECK_EQ(t.lines + dropped, lines); /* written + dropped == produced */
  CHECK_EQ(t.bytes + dropped_bytes, bytes);
  CHECK_EQ(t.note_lines, dropped); /* and the notes say exactly that */
  CHECK_EQ(t.note_bytes, dropped_bytes);
  CHECK(t.notes >= 1);
  CHECK_EQ(count_of(err, " ERROR async logging dropped "), (int)t.notes);
  free(text);
  free(err);

  /* Everything flows again: nothing more dropped, every line there. */
  uint64_t notes = t.notes;
  run_workers(al, "again", 3000, 40);
  CHECK_EQ(mu_async_logging_flush(al), 0);
  CHECK_EQ(mu_async_logging_dropped_lines(al), dropped);
  text = sink_text(&s);
  tally_sink(text, "again", &t);
  for (int i = 1; i <= k_over_threads; ++i)
    CHECK_EQ(t.per_thread[i], 3000);
  CHECK_EQ(t.notes, notes); /* no new note */
  free(text);
  check_idle(&s);
  mu_async_logging_free(al);
  printf(
      "async overload: %llu of %llu lines dropped, counted and reported; peak %ld "
      "buffers\n",
      (unsigned long long)dropped, (unsigned long long)lines, peak);
  sink_destroy(&s);
}

/* ---- async: lines longer than a buffer ---------------------------------- */

static void test_async_long_line(void) {
  sink_t s;
  sink_init(&s);
  mu_async_logging_options_t o;
  mu_async_logging_options_init(&o);
  o.buffer_size = 1000;      /* raised to the 8 KiB minimum */
  o.flush_interval = 0.999;  /* sub-second sleeps work */
  o.sink_write = sink_write; /* no flush function: allowed */
  o.sink_arg = &s;
  mu_async_logging_t *al = mu_async_logging_new(NULL, &o);
  CHECK(al != NULL);
  size_t big_len = 3 * k_buf;
  char *big = malloc(big_len);
  CHECK(big != NULL);
  for (size_t i = 0; i < big_len; ++i)
    big[i] = (char)('A' + i % 26);
  big[big_len - 1] = '\n';
  mu_async_logging_append(al, big, big_len); /* the fallback cuts it too */
  CHECK_EQ(s.len, k_buf);
  CHECK(memcmp(s.data, big, k_buf) == 0);
  CHECK_EQ(mu_async_logging_start(al), 0);
  mu_async_logging_append(al, "short\n", 6);
  mu_async_logging_append(al, big, big_len);
  mu_async_logging_append(al, big, k_buf); /* exactly a buffer */
  CHECK_EQ(mu_async_logging_flush(al), 0);
  char *text = sink_text(&s);
  CHECK_EQ(strlen(text), 3 * k_buf + 6);
  CHECK(memcmp(text + k_buf, "short\n", 6) == 0);
  CHECK(memcmp(text + k_buf + 6, big, k_buf) == 0);
  CHECK(memcmp(text + 2 * k_buf + 6, big, k_buf) == 0);
  CHECK_EQ(mu_async_logging_dropped_lines(al), 0);
  free(text);
  mu_async_logging_free(al);
  free(big);
  sink_destroy(&s);
  printf("async long lines: cut to the buffer size, never dropped\n");
}

/* ---- async: a sink that logs or flushes from inside --------------------- */

static void test_async_reentrant_sink(void) {
  sink_t s;
  sink_init(&s);
  mu_async_logging_t *al = new_sink_logger(&s, k_max_queued);
  mu_async_logging_install(al);

  /* Before start the sink runs under the logger's lock: its line goes to
   * stderr; a flush from there returns at once. */
  capture_begin();
  sink_set_action(&s, ACT_LOG);
  MU_LOG_INFO("outer before start");
  sink_set_action(&s, ACT_FLUSH);
  MU_LOG_INFO("outer flush before start");
  char *err = capture_end("sink logs before start");
  CHECK_EQ(count_of(err, "from inside the sink 1"), 1);
  CHECK_EQ(s.inner_rc, 0);
  free(err);

  /* Running, the back end writes without the lock: the line is logged like
   * any other and comes out in a later batch. */
  CHECK_EQ(mu_async_logging_start(al), 0);
  capture_begin();
  sink_set_action(&s, ACT_LOG);
  MU_LOG_INFO("outer running");
  int rc1 = mu_async_logging_flush(al);
  mu_log_flush(); /* the front end's hook: the same flush */
  err = capture_end("sink logs while running");
  CHECK_EQ(rc1, 0);
  CHECK_EQ(count_of(err, "from inside the sink"), 0);
  free(err);

  /* In stop's final pass (under the lock again): stderr. */
  sink_set_action(&s, ACT_LOG);
  MU_LOG_INFO("outer at stop");
  capture_begin();
  mu_async_logging_stop(al);
  err = capture_end("sink logs in stop");
  CHECK_EQ(count_of(err, "from inside the sink 3"), 1);
  free(err);

  /* After stop, the fallback: stderr. */
  capture_begin();
  sink_set_action(&s, ACT_LOG);
  MU_LOG_INFO("outer after stop");
  err = capture_end("sink logs after stop");
  CHECK_EQ(count_of(err, "from inside the sink 4"), 1);
  free(err);

  /* stderr itself full: that line is lost, nothing hangs or spins. */
  int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
  CHECK(full >= 0);
  fflush(stderr);
  int saved = dup(STDERR_FILENO);
  CHECK(saved >= 0 && dup2(full, STDERR_FILENO) == STDERR_FILENO);
  sink_set_action(&s, ACT_LOG);
  MU_LOG_INFO("outer, stderr full");
  CHECK(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
  close(saved);
  close(full);
  CHECK_EQ(s.logged, 5);

  char *text = sink_text(&s);
  const char *order[] = {"outer before start", "outer flush before start",
                         "outer running",      "from inside the sink 2",
                         "outer at stop",      "outer after stop",
                         "outer, stderr full"};
  const char *p = text;
  for (size_t i = 0; i < sizeof order / sizeof order[0]; ++i) {
    const char *q = strstr(p, order[i]);
    if (q == NULL) {
      fprintf(stderr, "sink: \"%s\" missing or out of order in:\n%s", order[i], text);
      abort();
    }
    p = q;
  }
  CHECK_EQ(count_of(text, "from inside the sink"), 1);
  free(text);
  mu_async_logging_free(al); /* uninstalls */
  sink_destroy(&s);

  /* A flush from the back end's own write: writes the rest itself (the batch,
   * the queue, the current buffer), each line once. */
  sink_init(&s);
  al = new_sink_logger(&s, 8);
  CHECK_EQ(mu_async_logging_start(al), 0);
  sink_set_hold(&s, true);
  int n = fill_until_stuck(al, &s, "inner", NULL);
  char line[128];
  for (int i = n; i < n + 300; ++i) { /* ~3 full buffers queue up */
    size_t len = make_line(line, sizeof line, "inner", 0, i);
    mu_async_logging_append(al, line, len);
  }
  sink_set_action(&s, ACT_FLUSH);
  sink_set_hold(&s, false);
  CHECK_EQ(mu_async_logging_flush(al), 0);
  mu_async_logging_stop(al);
  CHECK_EQ(s.inner_rc, 0);
  CHECK_EQ(mu_async_logging_dropped_lines(al), 0);
  tally_t t;
  tally_sink(s.data, "inner", &t);
  CHECK_EQ(t.lines, n + 300);
  mu_async_logging_free(al);
  sink_destroy(&s);

  /* The sink stops the logger from the back end's own write: no waiting for
   * itself; the line is written, later ones take the fallback, free joins. */
  sink_init(&s);
  al = new_sink_logger(&s, k_max_queued);
  CHECK_EQ(mu_async_logging_start(al), 0);
  sink_set_action(&s, ACT_STOP);
  mu_async_logging_append(al, "the sink stops it\n", 18);
  CHECK_EQ(mu_async_logging_flush(al), 0);
  mu_async_logging_append(al, "then the fallback\n", 18);
  text = sink_text(&s);
  CHECK_STREQ(text, "the sink stops it\nthen the fallback\n");
  free(text);
  CHECK_EQ(mu_async_logging_start(al), -EALREADY);
  mu_async_logging_free(al);
  sink_destroy(&s);
  printf("async sink re-entered: stderr under the lock, buffered otherwise\n");
}

/* ---- async: one thread at a time in the sink, even after it stops ------- */

/* Notices a second thread entering while one is inside (the same thread
 * re-entering, as the final pass does from inside a write, is fine). */
typedef struct ov_sink {
  pthread_mutex_t mu;
  int depth;
  pid_t owner;
  _Atomic bool overlap;
  _Atomic bool stop_now;        /* the next write stops the logger */
  _Atomic bool hold_here;       /* the next write is the main thread's */
  _Atomic bool left;            /* the stopping write has left the sink */
  _Atomic bool fallback_inside; /* the main thread's fallback write is in */
  mu_async_logging_t *al;
} ov_sink_t;

static void ov_enter(ov_sink_t *o) {
  pid_t me = mu_current_thread_tid();
  pthread_mutex_lock(&o->mu);
  if (o->depth > 0 && o->owner != me)
    atomic_store(&o->overlap, true);
  if (o->depth++ == 0)
    o->owner = me;
  pthread_mutex_unlock(&o->mu);
}

static void ov_leave(ov_sink_t *o) {
  pthread_mutex_lock(&o->mu);
  if (--o->depth == 0)
    o->owner = 0;
  pthread_mutex_unlock(&o->mu);
}

static void ov_write(const char *data, size_t len, void *arg) {
  (void)data;
  (void)len;
  ov_sink_t *o = arg;
  ov_enter(o);
  if (atomic_exchange(&o->stop_now, false)) {
    mu_async_logging_stop(o->al); /* from the back end's own write */
    ov_leave(o); /* what the sink does after its stop is its own business */
    atomic_store(&o->left, true);
    for (int i = 0; i < 5000 && !atomic_load(&o->fallback_inside); ++i)
      sleep_ms(1);
    return; /* the back end is on its own again */
  }
  if (atomic_exchange(&o->hold_here, false)) {
    /* The main thread's fallback write: stays in for a while, so that a
     * back end that comes back into the sink is seen. */
    atomic_store(&o->fallback_inside, true);
    for (int i = 0; i < 2000 && !atomic_load(&o->overlap); ++i)
      sleep_ms(1);
  }
  ov_leave(o);
}

static void ov_flush(void *arg) {
  ov_sink_t *o = arg;
  ov_enter(o);
  ov_leave(o);
}

/* The sink stops the logger from the back end's write, then another thread
 * logs (the fallback, into the sink). The back end, back from that write,
 * must not call into the sink again: the sink is promised one thread at a
 * time, and a log file sink is not thread-safe. */
static void test_async_sink_stops_one_at_a_time(void) {
  ov_sink_t o;
  memset(&o, 0, sizeof o);
  pthread_mutex_init(&o.mu, NULL);
  mu_async_logging_options_t opt;
  mu_async_logging_options_init(&opt);
  opt.buffer_size = k_buf;
  opt.flush_interval = 3600;
  opt.sink_write = ov_write;
  opt.sink_flush = ov_flush;
  opt.sink_arg = &o;
  o.al = mu_async_logging_new(NULL, &opt);
  CHECK(o.al != NULL);
  CHECK_EQ(mu_async_logging_start(o.al), 0);
  atomic_store(&o.stop_now, true);
  mu_async_logging_append(o.al, "stop\n", 5);
  CHECK_EQ(mu_async_logging_flush(o.al), 0); /* returns once stopped */
  for (int i = 0; i < 10000 && !atomic_load(&o.left); ++i)
    sleep_ms(1);
  CHECK(atomic_load(&o.left));
  atomic_store(&o.hold_here, true);
  mu_async_logging_append(o.al, "fallback\n", 9);
  CHECK(atomic_load(&o.fallback_inside));
  mu_async_logging_free(o.al);
  CHECK(!atomic_load(&o.overlap));
  pthread_mutex_destroy(&o.mu);
  printf("async sink that stops the logger: still one thread at a time in it\n");
}

/* ---- async: flush and stop against a stuck sink ------------------------- */

typedef struct stopper {
  mu_async_logging_t *al;
  _Atomic bool returned;
} stopper_t;

static void *stop_thread(void *p) {
  stopper_t *st = p;
  mu_async_logging_stop(st->al);
  atomic_store(&st->returned, true);
  return NULL;
}

static void test_async_stuck_sink(void) {
  sink_t s;
  sink_init(&s);
  mu_async_logging_t *al = new_sink_logger(&s, k_max_queued);
  CHECK_EQ(mu_async_logging_start(al), 0);
  sink_set_hold(&s, true);
  int n = fill_until_stuck(al, &s, "stuck", NULL);
  char line[128];
  for (int i = n; i < n + 150; ++i) { /* a buffer or two queue up: ~11 KB */
    size_t len = make_line(line, sizeof line, "stuck", 0, i);
    mu_async_logging_append(al, line, len);
  }
  n += 145;
  CHECK_EQ(mu_async_logging_flush(al), -ETIMEDOUT); /* gives up after 10 s */

  stopper_t st = {al, false};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, stop_thread, &st) == 0);
  sleep_ms(200);
  /* stop writes everything before it returns: it cannot while the sink holds. */
  CHECK(!atomic_load(&st.returned));
  for (int i = n + 5; i < n + 10; ++i) { /* logged while stop waits */
    size_t len = make_line(line, sizeof line, "stuck", 0, i);
    mu_async_logging_append(al, line, len);
  }
  sink_set_hold(&s, false);
  CHECK(pthread_join(th, NULL) == 0);
  CHECK(atomic_load(&st.returned));
  tally_t t;
  tally_sink(s.data, "stuck", &t);
  CHECK_EQ(t.lines, n + 10);
  CHECK_EQ(mu_async_logging_dropped_lines(al), 0);

  CHECK_EQ(mu_async_logging_start(al), -EALREADY); /* a stopped logger stays so */
  long w0, f0, w1, f1;
  sink_counts(&s, &w0, &f0);
  CHECK_EQ(mu_async_logging_flush(al), 0); /* stopped: flushes the sink */
  sink_counts(&s, &w1, &f1);
  CHECK_EQ(f1, f0 + 1);
  mu_async_logging_append(al, "after stop\n", 11); /* the fallback */
  CHECK(strstr(s.data, "after stop\n") != NULL);
  mu_async_logging_stop(al);
  mu_async_logging_free(al);
  sink_destroy(&s);

  /* Stopped before it was started. */
  sink_init(&s);
  al = new_sink_logger(&s, k_max_queued);
  mu_async_logging_stop(al);
  CHECK_EQ(mu_async_logging_start(al), -EALREADY);
  mu_async_logging_append(al, "never started\n", 14);
  CHECK_STREQ(s.data, "never started\n");
  mu_async_logging_free(al);
  sink_destroy(&s);

  /* A forked child leaves the parent's logger alone: flush and stop return. */
  sink_init(&s);
  al = new_sink_logger(&s, k_max_queued);
  CHECK_EQ(mu_async_logging_start(al), 0);
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    int rc = mu_async_logging_flush(al);
    mu_async_logging_stop(al);
    _exit(rc == 0 ? 0 : 1);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  mu_async_logging_append(al, "parent goes on\n", 15);
  CHECK_EQ(mu_async_logging_flush(al), 0);
  CHECK(strstr(s.data, "parent goes on\n") != NULL);
  mu_async_logging_free(al);
  sink_destroy(&s);

  /* The hooks with no logger write to stdout. */
  mu_async_logging_output("hostile: the hook's stdout default\n", 35, NULL);
  mu_async_logging_flush_output(NULL);
  printf("async stuck sink: flush times out, stop waits and loses nothing\n");
}

/* ---- async: its log file on /dev/full, its directory gone ---------------- */

static void test_async_file_full(void) {
  char base[128];
  snprintf(base, sizeof base, "%s/afull", g_dir);
  enum { k_span = 120 };
  time_t now = time(NULL);
  char names[k_span][512];
  for (int i = 0; i < k_span; ++i) { /* whatever second the file opens in */
    name_for(base, now - 2 + i, names[i], sizeof names[i]);
    CHECK(symlink("/dev/full", names[i]) == 0);
  }
  mu_async_logging_options_t o;
  mu_async_logging_options_init(&o);
  o.buffer_size = k_buf;
  o.flush_interval = 3600;
  capture_begin();
  mu_async_logging_t *al = mu_async_logging_new(base, &o);
  bool in_span = time(NULL) < now - 2 + k_span;
  int src = al ? mu_async_logging_start(al) : -1;
  char line[128];
  for (int i = 0; al && i < 3000; ++i) {
    size_t len = make_line(line, sizeof line, "afull", 0, i);
    mu_async_logging_append(al, line, len);
    if (i % 100 == 99) /* under a buffer at a time: nothing may drop */
      CHECK_EQ(mu_async_logging_flush(al), 0);
  }
  int frc = al ? mu_async_logging_flush(al) : -1;
  uint64_t dropped = al ? mu_async_logging_dropped_lines(al) : 1;
  mu_async_logging_free(al);
  char *err = capture_end("async on /dev/full");
  CHECK(al != NULL);
  CHECK_EQ(src, 0);
  CHECK_EQ(frc, 0); /* the logger did its part; the file said what failed */
  CHECK_EQ(dropped, 0);
  if (in_span) {
    CHECK_EQ(count_of(err, "cmuduo log_file: cannot write"), 1);
  }
  free(err);
  for (int i = 0; i < k_span; ++i)
    CHECK(unlink(names[i]) == 0);
  printf("async on /dev/full: said once, no crash\n");
}

static int count_lines_in_dir(const char *dir, const char *tag, int *files) {
  DIR *d = opendir(dir);
  CHECK(d != NULL);
  struct dirent *e;
  int lines = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    char *text = test_slurp(path, NULL);
    tally_t t;
    tally_sink(text, tag, &t);
    lines += (int)t.lines;
    free(text);
    CHECK(unlink(path) == 0);
    (*files)++;
  }
  closedir(d);
  return lines;
}

static void wait_next_second(void) {
  time_t t = time(NULL);
  for (int i = 0; i < 300 && time(NULL) == t; ++i)
    sleep_ms(10);
}

static void test_async_dir_gone(void) {
  char dir[128], gone[128], base[256];
  snprintf(dir, sizeof dir, "%s/adir", g_dir);
  snprintf(gone, sizeof gone, "%s/adir.gone", g_dir);
  CHECK(mkdir(dir, 0755) == 0);
  snprintf(base, sizeof base, "%s/app", dir);
  mu_async_logging_options_t o;
  mu_async_logging_options_init(&o);
  o.buffer_size = k_buf;
  o.flush_interval = 3600;
  o.roll_size = 2048;
  mu_async_logging_t *al = mu_async_logging_new(base, &o);
  CHECK(al != NULL);
  CHECK_EQ(mu_async_logging_start(al), 0);
  char line[128];
  int seq = 0;
  for (; seq < 20; ++seq) {
    size_t len = make_line(line, sizeof line, "adir", 0, seq);
    mu_async_logging_append(al, line, len);
  }
  CHECK_EQ(mu_async_logging_flush(al), 0);
  CHECK(rename(dir, gone) == 0);
  wait_next_second(); /* so that a roll is due, not postponed */
  capture_begin();
  for (int round = 0; round < 5; ++round) { /* 5 batches, each past roll_size */
    for (int i = 0; i < 60; ++i, ++seq) {
      size_t len = make_line(line, sizeof line, "adir", 0, seq);
      mu_async_logging_append(al, line, len);
    }
    mu_async_logging_flush(al);
  }
  char *err = capture_end("async directory gone");
  CHECK_EQ(count_of(err, "cmuduo log_file: cannot open"), 1);
  CHECK(strstr(err, strerror(ENOENT)) != NULL);
  free(err);
  CHECK(rename(gone, dir) == 0);
  wait_next_second();
  for (int i = 0; i < 20; ++i, ++seq) {
    size_t len = make_line(line, sizeof line, "adir", 0, seq);
    mu_async_logging_append(al, line, len);
  }
  mu_async_logging_free(al);
  int files = 0;
  CHECK_EQ(count_lines_in_dir(dir, "adir", &files), seq);
  CHECK(files >= 2); /* rolled once the directory was back */
  CHECK(rmdir(dir) == 0);
  printf("async, directory gone at a roll: said once, %d lines all kept\n", seq);
}

/* ---- allocation failures ------------------------------------------------ */

typedef enum new_kind { NEW_FILE, NEW_ASYNC_FILE, NEW_ASYNC_SINK } new_kind_t;

/* Creates one object with the k-th allocation failing, for k = 1, 2, ... until
 * none fails; each failure is NULL with ENOMEM (ASan checks for leaks). A
 * logger made despite a failure (a spare buffer is optional) must still work. */
static void new_until_success(new_kind_t kind) {
  char base[128];
  snprintf(base, sizeof base, "%s/anew/app", g_dir);
  sink_t s;
  sink_init(&s);
  mu_async_logging_options_t o;
  mu_async_logging_options_init(&o);
  o.buffer_size = k_buf;
  o.flush_interval = 1e9; /* taken as an hour */
  if (kind == NEW_ASYNC_SINK) {
    o.sink_write = sink_write;
    o.sink_arg = &s;
  }
  int nulls = 0;
  long k;
  for (k = 1; k < 1000; ++k) {
    atomic_store(&g_countdown, k);
    errno = 0;
    void *obj = kind == NEW_FILE ? (void *)mu_log_file_new(base, NULL)
                                 : (void *)mu_async_logging_new(base, &o);
    int err = errno;
    bool reached = atomic_exchange(&g_countdown, 0) == 0;
    if (obj == NULL) {
      CHECK(reached);
      CHECK_EQ(err, ENOMEM);
      nulls++;
      continue;
    }
    if (kind == NEW_FILE) {
      CHECK_EQ(mu_log_file_append(obj, "x\n", 2), 0);
      mu_log_file_free(obj);
    } else {
      mu_async_logging_t *al = obj;
      CHECK_EQ(mu_async_logging_start(al), 0);
      for (int i = 0; i < 500; ++i)
        mu_async_logging_append(al, "a line that fills a few buffers in time\n", 40);
      CHECK_EQ(mu_async_logging_flush(al), 0);
      CHECK_EQ(mu_async_logging_dropped_lines(al), 0);
      mu_async_logging_free(al);
    }
    if (!reached)
      break;
  }
  CHECK(k < 1000 && nulls >= 2);
  sink_destroy(&s);
  char dir[128];
  snprintf(dir, sizeof dir, "%s/anew", g_dir);
  int files = 0;
  count_lines_in_dir(dir, "none", &files);
}

static void test_new_alloc_failures(void) {
  char dir[128];
  snprintf(dir, sizeof dir, "%s/anew", g_dir);
  CHECK(mkdir(dir, 0755) == 0);
  new_until_success(NEW_FILE);
  new_until_success(NEW_ASYNC_FILE);
  new_until_success(NEW_ASYNC_SINK);

  /* A roll whose name cannot be allocated keeps the current file. */
  char base[256], p0[512], p1[512];
  snprintf(base, sizeof base, "%s/app", dir);
  test_clock_t clk = {k_t0 + 500, 0};
  mu_log_file_t *f = new_file(base, &clk, 1u << 30);
  CHECK(f != NULL);
  mu_log_file_path(f, p0, sizeof p0);
  atomic_store(&clk.now, k_t0 + 501);
  atomic_store(&g_countdown, 1);
  CHECK_EQ(mu_log_file_roll(f), -ENOMEM);
  CHECK_STREQ(mu_log_file_path(f, p1, sizeof p1), p0);
  CHECK_EQ(mu_log_file_append(f, "still here\n", 11), 0);
  CHECK_EQ(mu_log_file_roll(f), 0);
  mu_log_file_free(f);
  char *kept = test_slurp(p0, NULL);
  CHECK_STREQ(kept, "still here\n");
  free(kept);
  int files = 0;
  count_lines_in_dir(dir, "none", &files);
  CHECK_EQ(files, 2);
  CHECK(rmdir(dir) == 0);
  printf("allocation failures in new and roll: ENOMEM, nothing leaked\n");
}

/* Buffers cannot be had while the back end is stuck and threads log. */
static void test_async_buffer_alloc_fails(void) {
  sink_t s;
  sink_init(&s);
  mu_async_logging_t *al = new_sink_logger(&s, k_max_queued);
  CHECK_EQ(mu_async_logging_start(al), 0);
  mu_async_logging_append(al, "warm\n", 5);
  CHECK_EQ(mu_async_logging_flush(al), 0); /* the back end has made its spare */
  long failed0 = atomic_load(&g_failed);
  atomic_store(&g_fail_tid, 0);
  atomic_store(&g_fail_buffers, true);
  sink_set_hold(&s, true);
  uint64_t bytes = 0;
  uint64_t lines = (uint64_t)fill_until_stuck(al, &s, "nomem", &bytes);
  bytes += run_workers(al, "nomem", 5000, 0);
  lines += (uint64_t)k_over_threads * 5000;
  /* Released, with allocations still failing: the back end recycles what it
   * has, and lines flow or drop, counted either way. */
  sink_set_hold(&s, false);
  bytes += run_workers(al, "nomem2", 5000, 0);
  uint64_t lines2 = (uint64_t)k_over_threads * 5000;
  CHECK_EQ(mu_async_logging_flush(al), 0);
  atomic_store(&g_fail_buffers, false);
  CHECK(atomic_load(&g_failed) > failed0);
  uint64_t dropped = mu_async_logging_dropped_lines(al);
  uint64_t dropped_bytes = mu_async_logging_dropped_bytes(al);
  CHECK(dropped > 0);
  char *text = sink_text(&s);
  tally_t t1, t2;
  tally_sink(text, "nomem", &t1);
  tally_sink(text, "nomem2", &t2);
  CHECK_EQ(t1.lines + t2.lines + dropped, lines + lines2);
  CHECK_EQ(t1.bytes + t2.bytes + dropped_bytes, bytes);
  CHECK_EQ(t1.note_lines, dropped);
  CHECK_EQ(t1.note_bytes, dropped_bytes);
  free(text);

  run_workers(al, "fine", 2000, 40); /* memory again: nothing more drops */
  CHECK_EQ(mu_async_logging_flush(al), 0);
  CHECK_EQ(mu_async_logging_dropped_lines(al), dropped);
  text = sink_text(&s);
  tally_sink(text, "fine", &t1);
  CHECK_EQ(t1.lines, (uint64_t)k_over_threads * 2000);
  free(text);
  check_idle(&s);
  mu_async_logging_free(al);
  sink_destroy(&s);
  printf("async buffers unavailable: %llu lines dropped, all counted and reported\n",
         (unsigned long long)dropped);
}

/* A logger made without its pool buffer whose back end cannot get a spare
 * either: a batch leaves it with no current buffer, and the next wake (a
 * flush, nothing appended) must give it one back. Lines keep flowing. */
static void test_async_no_spare_buffers(void) {
  sink_t s;
  sink_init(&s);
  atomic_store(&g_countdown, 5); /* new: the logger, queue, batch, current, pool */
  mu_async_logging_t *al = new_sink_logger(&s, k_max_queued);
  CHECK_EQ(atomic_exchange(&g_countdown, 0), 0); /* the pool's buffer failed */
  atomic_store(&g_fail_tid, 0);
  atomic_store(&g_fail_buffers, true); /* the back end's spare fails */
  CHECK_EQ(mu_async_logging_start(al), 0);
  mu_async_logging_append(al, "first\n", 6);
  CHECK_EQ(mu_async_logging_flush(al), 0); /* takes the only current buffer */
  CHECK_EQ(mu_async_logging_flush(al), 0); /* gets it back, recycled */
  mu_async_logging_append(al, "second\n", 7);
  CHECK_EQ(mu_async_logging_flush(al), 0);
  atomic_store(&g_fail_buffers, false);
  mu_async_logging_append(al, "third\n", 6);
  mu_async_logging_stop(al);
  CHECK_STREQ(s.data, "first\nsecond\nthird\n");
  CHECK_EQ(mu_async_logging_dropped_lines(al), 0);
  mu_async_logging_free(al);
  sink_destroy(&s);
  printf("async without spare buffers: lines flow\n");
}

/* An appender whose buffer allocation fails while another thread stops the
 * logger: its line must not vanish unreported. */
static sink_t g_race_sink;
static mu_async_logging_t *g_race_al;

static void *race_stopper(void *arg) {
  (void)arg;
  sink_set_hold(&g_race_sink, false);
  mu_async_logging_stop(g_race_al);
  return NULL;
}

/* Runs in the appender's failing allocation: the stop happens "meanwhile". */
static void stop_during_allocation(void) {
  pthread_t th;
  CHECK(pthread_create(&th, NULL, race_stopper, NULL) == 0);
  CHECK(pthread_join(th, NULL) == 0);
}

static void test_async_stop_races_alloc_failure(void) {
  sink_init(&g_race_sink);
  g_race_al = new_sink_logger(&g_race_sink, k_max_queued);
  CHECK_EQ(mu_async_logging_start(g_race_al), 0);
  sink_set_hold(&g_race_sink, true);
  uint64_t lines = (uint64_t)fill_until_stuck(g_race_al, &g_race_sink, "race", NULL);
  long failed0 = atomic_load(&g_failed);
  atomic_store(&g_fail_tid, mu_current_thread_tid());
  atomic_store(&g_on_fail, stop_during_allocation);
  atomic_store(&g_fail_buffers, true);
  char line[128];
  for (int i = (int)lines; i < 100000 && atomic_load(&g_failed) == failed0; ++i) {
    size_t len = make_line(line, sizeof line, "race", 0, i);
    mu_async_logging_append(g_race_al, line, len);
    lines++;
  }
  atomic_store(&g_fail_buffers, false);
  atomic_store(&g_fail_tid, 0);
  CHECK(atomic_load(&g_failed) > failed0);
  CHECK(atomic_load(&g_on_fail) == NULL);
  tally_t t;
  tally_sink(g_race_sink.data, "race", &t);
  uint64_t dropped = mu_async_logging_dropped_lines(g_race_al);
  CHECK_EQ(t.lines + dropped, lines);
  CHECK_EQ(t.note_lines, dropped); /* a drop is never silent */
  mu_async_logging_free(g_race_al);
  sink_destroy(&g_race_sink);
  printf("async stop racing an allocation failure: %llu dropped, %llu reported\n",
         (unsigned long long)dropped, (unsigned long long)t.note_lines);
}

int main(void) {
  /* Before any other cmuduo call, as alloc.h requires. */
  mu_allocator_t hostile = {hostile_malloc, hostile_realloc, hostile_free};
  mu_set_allocator(&hostile);
  test_time_limit(240);
  snprintf(g_dir, sizeof g_dir, "/tmp/mu_log_hostile_XXXXXX");
  CHECK(mkdtemp(g_dir) != NULL);
  mu_log_set_level(MU_LOG_LEVEL_INFO);
  test_file_full_disk();
  test_file_full_disk_paths();
  test_file_size_limit_lifted();
  test_file_create_errors();
  test_file_roll_errors();
  test_new_alloc_failures();
  test_async_long_line();
  test_async_reentrant_sink();
  test_async_overload();
  test_async_buffer_alloc_fails();
  test_async_stop_races_alloc_failure();
  test_async_no_spare_buffers();
  test_async_file_full();
  test_async_dir_gone();
  test_async_stuck_sink();
  test_async_sink_stops_one_at_a_time();
  CHECK(rmdir(g_dir) == 0);
  TEST_PASS("logging_hostile");
}
