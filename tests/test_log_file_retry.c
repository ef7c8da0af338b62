/* LogFile rolls that keep failing (log_file.h): the file retries a failed roll
 * at most once a second of its clock, so a disk that stays full or a directory
 * that is gone costs one failing open(2) a second, not one per line; every
 * line still lands, in order, in the file that was open; mu_log_file_roll
 * always tries; and once the cause goes away the roll happens in the next
 * second (fake clock) or within a generous bound (the real clock).
 *
 * open(2) is counted by defining open() here: the library's calls resolve to
 * this one, which counts the paths under the test's directory and then makes
 * the system call itself. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "cmuduo/base/log_file.h"
#include "test_util.h"

static char g_dir[64];
static _Atomic long g_opens; /* open() calls on paths under g_dir */

static int counted_open(const char *path, int flags, va_list ap) {
  bool has_mode = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
  mode_t mode = has_mode ? va_arg(ap, mode_t) : 0;
  if (g_dir[0] != '\0' && strncmp(path, g_dir, strlen(g_dir)) == 0)
    atomic_fetch_add(&g_opens, 1);
  return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

int open(const char *path, int flags, ...);
int open64(const char *path, int flags, ...);

int open(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  int fd = counted_open(path, flags, ap);
  va_end(ap);
  return fd;
}

int open64(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  int fd = counted_open(path, flags, ap);
  va_end(ap);
  return fd;
}

/* ---- helpers ------------------------------------------------------------ */

typedef struct fake_clock {
  _Atomic long long now;
} fake_clock_t;

static time_t fake_now(void *arg) {
  return (time_t)atomic_load(&((fake_clock_t *)arg)->now);
}

static const time_t k_t0 = 1700000000;

static void name_for(const char *base, time_t t, char *buf, size_t len) {
  int n = mu_log_file_make_name(base, t, buf, len);
  CHECK(n > 0 && (size_t)n < len);
}

/* "T<t> <seq> xxx\n", 20..59 bytes. */
static size_t make_line(char *buf, int t, int seq) {
  int n = snprintf(buf, 32, "T%d %d ", t, seq);
  size_t len = (size_t)n + 8 + (size_t)(seq % 32);
  memset(buf + n, 'a' + seq % 26, len - 1 - (size_t)n);
  buf[len - 1] = '\n';
  return len;
}

static void append_line(mu_log_file_t *f, int t, int seq) {
  char line[64];
  size_t len = make_line(line, t, seq);
  CHECK_EQ(mu_log_file_append(f, line, len), 0);
}

typedef struct file_list {
  int n;
  char names[64][256];
} file_list_t;

static int cmp_names(const void *a, const void *b) {
  return strcmp(a, b);
}

/* The regular files of `dir` whose names start with "app.", sorted (by the
 * time in the name, so by opening time). */
static void list_logs(const char *dir, file_list_t *fl) {
  fl->n = 0;
  DIR *d = opendir(dir);
  CHECK(d != NULL);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (strncmp(e->d_name, "app.", 4) != 0 || stat(path, &st) != 0 ||
        !S_ISREG(st.st_mode))
      continue;
    CHECK(fl->n < 64);
    snprintf(fl->names[fl->n++], sizeof fl->names[0], "%s", e->d_name);
  }
  closedir(d);
  qsort(fl->names, (size_t)fl->n, sizeof fl->names[0], cmp_names);
}

/* Checks that the log files of `dir`, in order, hold exactly `threads`
 * threads' lines 0..lines-1 (each thread's in order, each line whole), then
 * removes them. Returns how many files there were. */
static int check_and_remove_logs(const char *dir, int threads, int lines) {
  static file_list_t fl;
  list_logs(dir, &fl);
  int next[8] = {0};
  CHECK(threads <= 8);
  for (int i = 0; i < fl.n; ++i) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, fl.names[i]);
    size_t len;
    char *d = test_slurp(path, &len);
    CHECK(len == 0 || d[len - 1] == '\n');
    for (char *p = d; p < d + len;) {
      int t = -1, seq = -1;
      CHECK(sscanf(p, "T%d %d ", &t, &seq) == 2);
      CHECK(t >= 0 && t < threads && seq == next[t]);
      char want[64];
      size_t wlen = make_line(want, t, seq);
      CHECK(p + wlen <= d + len && memcmp(p, want, wlen) == 0);
      next[t]++;
      p += wlen;
    }
    free(d);
    CHECK(unlink(path) == 0);
  }
  for (int t = 0; t < threads; ++t)
    CHECK_EQ(next[t], lines);
  return fl.n;
}

static mu_log_file_t *new_file(const char *base, fake_clock_t *clk, size_t roll_size,
                               bool thread_safe) {
  mu_log_file_options_t o;
  mu_log_file_options_init(&o);
  o.roll_size = roll_size;
  o.check_every_n = 1; /* the day is looked at on every append */
  o.flush_interval = 1 << 30;
  o.thread_safe = thread_safe;
  if (clk) {
    o.clock = fake_now;
    o.clock_arg = clk;
  }
  long before = atomic_load(&g_opens);
  mu_log_file_t *f = mu_log_file_new(base, &o);
  CHECK(f != NULL);
  CHECK_EQ(atomic_load(&g_opens) - before, 1); /* the counting open() is the one used */
  return f;
}

static void current_path(mu_log_file_t *f, char *buf, size_t len) {
  mu_log_file_path(f, buf, len);
}

/* ---- size rolls, fake clock --------------------------------------------- */

/* The next two seconds' names are taken by directories: in each of them the
 * first append past the roll size tries one open and the other 199 none;
 * mu_log_file_roll still tries; the third second rolls. */
static void test_size_roll_blocked(void) {
  char base[128], block1[512], block2[512], p0[512], p[512];
  snprintf(base, sizeof base, "%s/app", g_dir);
  fake_clock_t clk = {k_t0};
  mu_log_file_t *f = new_file(base, &clk, 1000, false);
  current_path(f, p0, sizeof p0);
  name_for(base, k_t0 + 1, block1, sizeof block1);
  name_for(base, k_t0 + 2, block2, sizeof block2);
  CHECK(mkdir(block1, 0755) == 0 && mkdir(block2, 0755) == 0);
  int seq = 0;

  atomic_store(&clk.now, k_t0 + 1);
  long before = atomic_load(&g_opens);
  for (int i = 0; i < 200; ++i) /* ~8 KB, 1000-byte files */
    append_line(f, 0, seq++);
  CHECK_EQ(atomic_load(&g_opens) - before, 1);
  before = atomic_load(&g_opens);
  CHECK_EQ(mu_log_file_roll(f), -EISDIR); /* not held back */
  CHECK_EQ(atomic_load(&g_opens) - before, 1);
  before = atomic_load(&g_opens);
  for (int i = 0; i < 200; ++i) /* and the explicit roll did not restart them */
    append_line(f, 0, seq++);
  CHECK_EQ(atomic_load(&g_opens), before);

  atomic_store(&clk.now, k_t0 + 2);
  before = atomic_load(&g_opens);
  for (int i = 0; i < 200; ++i)
    append_line(f, 0, seq++);
  CHECK_EQ(atomic_load(&g_opens) - before, 1);
  current_path(f, p, sizeof p);
  CHECK_STREQ(p, p0);

  /* Nothing in the way in the next second: the first append rolls. */
  atomic_store(&clk.now, k_t0 + 3);
  before = atomic_load(&g_opens);
  append_line(f, 0, seq++);
  CHECK_EQ(atomic_load(&g_opens) - before, 1);
  char want[512];
  name_for(base, k_t0 + 3, want, sizeof want);
  current_path(f, p, sizeof p);
  CHECK_STREQ(p, want);
  for (int i = 0; i < 10; ++i)
    append_line(f, 0, seq++);
  mu_log_file_free(f);
  CHECK(rmdir(block1) == 0 && rmdir(block2) == 0);
  CHECK_EQ(check_and_remove_logs(g_dir, 1, seq), 2); /* all of them, in two files */
  printf("size roll blocked: one open a second over 600 lines, then it rolls\n");
}

/* ---- the day roll, fake clock ------------------------------------------- */

static void test_day_roll_blocked(void) {
  char base[128], block[512], p0[512], p[512], want[512];
  snprintf(base, sizeof base, "%s/app", g_dir);
  fake_clock_t clk = {k_t0};
  mu_log_file_t *f = new_file(base, &clk, (size_t)1 << 30, false);
  current_path(f, p0, sizeof p0);
  time_t day = k_t0 + 2 * 24 * 3600;
  name_for(base, day, block, sizeof block);
  CHECK(mkdir(block, 0755) == 0);
  int seq = 0;
  append_line(f, 0, seq++);

  atomic_store(&clk.now, day); /* every append checks the day (check_every_n 1) */
  long before = atomic_load(&g_opens);
  for (int i = 0; i < 300; ++i)
    append_line(f, 0, seq++);
  CHECK_EQ(atomic_load(&g_opens) - before, 1);
  current_path(f, p, sizeof p);
  CHECK_STREQ(p, p0);

  atomic_store(&clk.now, day + 1);
  before = atomic_load(&g_opens);
  for (int i = 0; i < 300; ++i)
    append_line(f, 0, seq++);
  CHECK_EQ(atomic_load(&g_opens) - before, 1);
  name_for(base, day + 1, want, sizeof want);
  current_path(f, p, sizeof p);
  CHECK_STREQ(p, want);
  mu_log_file_free(f);
  CHECK(rmdir(block) == 0);
  CHECK_EQ(check_and_remove_logs(g_dir, 1, seq), 2);
  printf("day roll blocked: one open in its second, then it rolls\n");
}

/* ---- threads, fake clock ------------------------------------------------ */

enum { k_threads = 4, k_thread_lines = 500 };

typedef struct writer {
  mu_log_file_t *f;
  int t;
} writer_t;

static void *writer_main(void *p) {
  writer_t *w = p;
  for (int i = 0; i < k_thread_lines; ++i)
    append_line(w->f, w->t, i);
  return NULL;
}

static void test_threads_blocked(void) {
  char base[128], block[512];
  snprintf(base, sizeof base, "%s/app", g_dir);
  fake_clock_t clk = {k_t0};
  mu_log_file_t *f = new_file(base, &clk, 1000, true);
  name_for(base, k_t0 + 1, block, sizeof block);
  CHECK(mkdir(block, 0755) == 0);
  atomic_store(&clk.now, k_t0 + 1);
  long before = atomic_load(&g_opens);
  pthread_t th[k_threads];
  writer_t w[k_threads];
  for (int t = 0; t < k_threads; ++t) {
    w[t] = (writer_t){f, t};
    CHECK(pthread_create(&th[t], NULL, writer_main, &w[t]) == 0);
  }
  for (int t = 0; t < k_threads; ++t)
    CHECK(pthread_join(th[t], NULL) == 0);
  CHECK_EQ(atomic_load(&g_opens) - before, 1);
  mu_log_file_free(f);
  CHECK(rmdir(block) == 0);
  CHECK_EQ(check_and_remove_logs(g_dir, k_threads, k_thread_lines), 1);
  printf("four threads, roll blocked: one open in the second\n");
}

/* ---- the real clock: the directory goes away and comes back ------------- */

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* Appends a line every millisecond, each past the roll size, while the
 * directory is renamed away: opens stay within one per second spanned. Back
 * in place, the file rolls within a generous 10 s (a second is enough). */
static void test_real_clock_dir_back(void) {
  char dir[128], gone[128], base[256], p0[512], p[512];
  snprintf(dir, sizeof dir, "%s/d", g_dir);
  snprintf(gone, sizeof gone, "%s/d.gone", g_dir);
  CHECK(mkdir(dir, 0755) == 0);
  snprintf(base, sizeof base, "%s/app", dir);
  mu_log_file_t *f = new_file(base, NULL, 1, false); /* roll_size 1: every line rolls */
  current_path(f, p0, sizeof p0);
  CHECK(rename(dir, gone) == 0);
  int seq = 0;
  long before = atomic_load(&g_opens);
  time_t start = time(NULL);
  while (time(NULL) < start + 2 && seq < 20000) { /* spans 2 or 3 seconds */
    append_line(f, 0, seq++);
    sleep_ms(1);
  }
  time_t end = time(NULL);
  long opens = atomic_load(&g_opens) - before;
  CHECK(opens >= 1);
  CHECK(opens <= end - start + 1);
  fprintf(stderr, "%d lines in %lds with the directory gone: %ld open() calls\n", seq,
          (long)(end - start), opens);

  CHECK(rename(gone, dir) == 0);
  start = time(NULL);
  bool rolled = false;
  while (!rolled && time(NULL) < start + 10) {
    append_line(f, 0, seq++);
    current_path(f, p, sizeof p);
    rolled = strcmp(p, p0) != 0;
    if (!rolled)
      sleep_ms(1);
  }
  CHECK(rolled);
  mu_log_file_free(f);
  CHECK(check_and_remove_logs(dir, 1, seq) == 2);
  CHECK(rmdir(dir) == 0);
  printf("real clock, directory gone then back: %ld opens while gone, then it rolls\n",
         opens);
}

int main(void) {
  test_time_limit(120);
  snprintf(g_dir, sizeof g_dir, "/tmp/mu_log_retry_XXXXXX");
  CHECK(mkdtemp(g_dir) != NULL);
  test_size_roll_blocked();
  test_day_roll_blocked();
  test_threads_blocked();
  test_real_clock_dir_back();
  CHECK(rmdir(g_dir) == 0);
  TEST_PASS("log_file_retry");
}
