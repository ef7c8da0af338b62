/* LogFile: names (local time, host, pid), rolling by size at line ends (line by
 * line and in big chunks alike), the same-second postponement, rolling on the
 * local day (not the UTC day), the flush interval, thread safety, errors, and
 * synchronous use through the front end's hooks. The clock is injected. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>

#include "cmuduo/base/log_file.h"
#include "cmuduo/base/logging.h"
#include "test_util.h"

/* ---- helpers ------------------------------------------------------------ */

typedef struct fake_clock {
  _Atomic long long now;
  _Atomic long long step; /* added after every reading */
} fake_clock_t;

static time_t fake_now(void *arg) {
  fake_clock_t *c = arg;
  return (time_t)atomic_fetch_add(&c->now, atomic_load(&c->step));
}

static char g_dir[64];

static void make_dir(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/mu_log_file_XXXXXX");
  CHECK(mkdtemp(g_dir) != NULL);
}

typedef struct file_list {
  int n;
  char names[2048][256];
} file_list_t;

static int cmp_names(const void *a, const void *b) {
  return strcmp(a, b);
}

/* The directory's files, sorted by name (= by opening time). */
static void list_files(file_list_t *fl) {
  fl->n = 0;
  DIR *d = opendir(g_dir);
  CHECK(d != NULL);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    CHECK(fl->n < 2048);
    snprintf(fl->names[fl->n++], sizeof fl->names[0], "%s", e->d_name);
  }
  closedir(d);
  qsort(fl->names, (size_t)fl->n, sizeof fl->names[0], cmp_names);
}

/* Reads a file of the directory into a malloc'd, NUL-terminated buffer. */
static char *read_file(const char *name, size_t *len) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  FILE *fp = fopen(path, "rb");
  CHECK(fp != NULL);
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  CHECK(n >= 0);
  fseek(fp, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  CHECK(buf != NULL);
  CHECK(fread(buf, 1, (size_t)n, fp) == (size_t)n);
  buf[n] = '\0';
  fclose(fp);
  *len = (size_t)n;
  return buf;
}

static void clear_dir(void) {
  static file_list_t fl;
  list_files(&fl);
  for (int i = 0; i < fl.n; ++i) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, fl.names[i]);
    CHECK(unlink(path) == 0);
  }
}

static void remove_dir(void) {
  clear_dir();
  CHECK(rmdir(g_dir) == 0);
}

static const char *basename_path(void) {
  static char path[128];
  snprintf(path, sizeof path, "%s/app", g_dir);
  return path;
}

/* A local time in the test's zone, as time_t. */
static time_t local_time(int y, int mon, int d, int h, int min, int s) {
  struct tm tm = {.tm_year = y - 1900,
                  .tm_mon = mon - 1,
                  .tm_mday = d,
                  .tm_hour = h,
                  .tm_min = min,
                  .tm_sec = s,
                  .tm_isdst = -1};
  return mktime(&tm);
}

/* ---- names -------------------------------------------------------------- */

static void test_name(void) {
  char host[256];
  CHECK(gethostname(host, sizeof host) == 0);
  char want[512], got[512];
  time_t t = local_time(2026, 3, 7, 9, 5, 2);
  snprintf(want, sizeof want, "/x/app.20260307-090502.%s.%d.log", host, (int)getpid());
  int n = mu_log_file_make_name("/x/app", t, got, sizeof got);
  CHECK_STREQ(got, want);
  CHECK_EQ(n, strlen(want));
  /* The zone is UTC+3 here: 00:30 local is still the previous day in UTC, and the
   * name says the local day. */
  t = local_time(2026, 1, 1, 0, 30, 0);
  mu_log_file_make_name("a", t, got, sizeof got);
  CHECK(strncmp(got, "a.20260101-003000.", 18) == 0);
  /* Too small a buffer: cut, NUL-terminated, full length returned. */
  char small[8];
  CHECK_EQ(mu_log_file_make_name("/x/app", t, small, sizeof small), n);
  CHECK_EQ(strlen(small), 7);
}

/* ---- rolling by size ---------------------------------------------------- */

enum { k_roll = 1000 };

/* Deterministic lines of 1..299 bytes, each "<seq> xxxx...\n". */
static size_t make_line(int seq, char *buf) {
  unsigned h = (unsigned)seq * 2654435761u;
  size_t len = 12 + (h >> 8) % 288;
  int n = snprintf(buf, 16, "%06d ", seq);
  memset(buf + n, 'a' + seq % 26, len - (size_t)n - 1);
  buf[len - 1] = '\n';
  return len;
}

/* What a correct roll produces: files filled greedily with whole lines up to
 * k_roll bytes; returns the number of files. */
static int expected_files(int lines) {
  char buf[400];
  int files = 1;
  size_t in_file = 0;
  for (int i = 0; i < lines; ++i) {
    size_t len = make_line(i, buf);
    if (in_file > 0 && in_file + len > k_roll) {
      files++;
      in_file = 0;
    }
    in_file += len;
  }
  return files;
}

/* Checks the files hold lines 0..lines-1 in order, whole, none over k_roll. */
static void check_rolled(int lines, int want_files) {
  static file_list_t fl;
  list_files(&fl);
  CHECK_EQ(fl.n, want_files);
  int seq = 0;
  char line[400];
  for (int f = 0; f < fl.n; ++f) {
    size_t len;
    char *data = read_file(fl.names[f], &len);
    CHECK(len > 0 && len <= k_roll);
    CHECK(data[len - 1] == '\n'); /* no line split across files */
    for (size_t off = 0; off < len;) {
      size_t want = make_line(seq, line);
      CHECK(off + want <= len);
      CHECK(memcmp(data + off, line, want) == 0);
      off += want;
      seq++;
    }
    free(data);
  }
  CHECK_EQ(seq, lines);
}

static mu_log_file_t *open_with_clock(fake_clock_t *clk, size_t roll, int check_every) {
  mu_log_file_options_t o;
  mu_log_file_options_init(&o);
  o.roll_size = roll;
  o.check_every_n = check_every;
  o.clock = fake_now;
  o.clock_arg = clk;
  mu_log_file_t *f = mu_log_file_new(basename_path(), &o);
  CHECK(f != NULL);
  return f;
}

static void test_roll_by_size_lines(void) {
  enum { k_lines = 3000 };
  fake_clock_t clk = {.now = local_time(2026, 5, 1, 10, 0, 0), .step = 1};
  mu_log_file_t *f = open_with_clock(&clk, k_roll, 1 << 30);
  char line[400];
  for (int i = 0; i < k_lines; ++i) {
    size_t len = make_line(i, line);
    CHECK_EQ(mu_log_file_append(f, line, len), 0);
  }
  mu_log_file_free(f);
  int want = expected_files(k_lines);
  CHECK(want > 100);
  check_rolled(k_lines, want);
  clear_dir();
}

/* The async back end appends many lines at once: the cut lands at line ends and
 * the files are the same as line by line. */
static void test_roll_by_size_chunks(void) {
  enum { k_lines = 3000 };
  fake_clock_t clk = {.now = local_time(2026, 5, 1, 10, 0, 0), .step = 1};
  mu_log_file_t *f = open_with_clock(&clk, k_roll, 1 << 30);
  static char chunk[400 * 100];
  size_t used = 0;
  for (int i = 0; i < k_lines; ++i) {
    used += make_line(i, chunk + used);
    if ((i + 1) % 97 == 0 || i == k_lines - 1) { /* chunks of many sizes */
      CHECK_EQ(mu_log_file_append(f, chunk, used), 0);
      used = 0;
    }
  }
  mu_log_file_free(f);
  check_rolled(k_lines, expected_files(k_lines));
  clear_dir();
}

/* A line longer than the roll size gets a file to itself. */
static void test_long_line(void) {
  fake_clock_t clk = {.now = local_time(2026, 5, 1, 10, 0, 0), .step = 1};
  mu_log_file_t *f = open_with_clock(&clk, 100, 1 << 30);
  char big[301];
  memset(big, 'b', 300);
  big[300] = '\n';
  CHECK_EQ(mu_log_file_append(f, "short\n", 6), 0);
  CHECK_EQ(mu_log_file_append(f, big, sizeof big), 0);
  CHECK_EQ(mu_log_file_append(f, "after\n", 6), 0);
  mu_log_file_free(f);
  static file_list_t fl;
  list_files(&fl);
  CHECK_EQ(fl.n, 3);
  size_t len;
  char *d = read_file(fl.names[0], &len);
  CHECK(len == 6 && memcmp(d, "short\n", 6) == 0);
  free(d);
  d = read_file(fl.names[1], &len);
  CHECK(len == sizeof big && memcmp(d, big, sizeof big) == 0);
  free(d);
  d = read_file(fl.names[2], &len);
  CHECK(len == 6 && memcmp(d, "after\n", 6) == 0);
  free(d);
  clear_dir();
}

/* Two files cannot share a name: within one second the file grows past the
 * roll size; the next second rolls. */
static void test_same_second(void) {
  fake_clock_t clk = {.now = local_time(2026, 5, 1, 10, 0, 0), .step = 0};
  mu_log_file_t *f = open_with_clock(&clk, 100, 1 << 30);
  char line[50];
  memset(line, 'c', 49);
  line[49] = '\n';
  for (int i = 0; i < 10; ++i)
    CHECK_EQ(mu_log_file_append(f, line, 50), 0);
  CHECK_EQ(mu_log_file_roll(f), -EAGAIN);
  static file_list_t fl;
  list_files(&fl);
  CHECK_EQ(fl.n, 1);
  atomic_fetch_add(&clk.now, 1);
  CHECK_EQ(mu_log_file_append(f, line, 50), 0); /* rolls first: the file is over */
  mu_log_file_free(f);
  list_files(&fl);
  CHECK_EQ(fl.n, 2);
  size_t len;
  char *d = read_file(fl.names[0], &len);
  CHECK_EQ(len, 500);
  free(d);
  d = read_file(fl.names[1], &len);
  CHECK_EQ(len, 50);
  free(d);
  clear_dir();
}

/* ---- rolling by day ----------------------------------------------------- */

static void test_roll_by_local_day(void) {
  /* UTC+3: local midnight is 21:00 UTC of the same UTC day. */
  fake_clock_t clk = {.now = local_time(2026, 6, 10, 23, 59, 58), .step = 0};
  mu_log_file_t *f = open_with_clock(&clk, (size_t)1 << 30, 1);
  CHECK_EQ(mu_log_file_append(f, "day one\n", 8), 0);
  atomic_store(&clk.now, local_time(2026, 6, 11, 0, 0, 1));
  CHECK_EQ(mu_log_file_append(f, "day two\n", 8), 0); /* the day rolls first */
  CHECK_EQ(mu_log_file_append(f, "day two b\n", 10), 0);
  /* 03:00 local = midnight UTC: no roll, the UTC day means nothing here. */
  atomic_store(&clk.now, local_time(2026, 6, 11, 2, 59, 59));
  CHECK_EQ(mu_log_file_append(f, "x\n", 2), 0);
  atomic_store(&clk.now, local_time(2026, 6, 11, 3, 0, 1));
  CHECK_EQ(mu_log_file_append(f, "y\n", 2), 0);
  mu_log_file_free(f);
  static file_list_t fl;
  list_files(&fl);
  CHECK_EQ(fl.n, 2);
  CHECK(strncmp(fl.names[0], "app.20260610-235958.", 20) == 0);
  CHECK(strncmp(fl.names[1], "app.20260611-000001.", 20) == 0);
  size_t len;
  char *d = read_file(fl.names[0], &len);
  CHECK_STREQ(d, "day one\n");
  free(d);
  d = read_file(fl.names[1], &len);
  CHECK_STREQ(d, "day two\nday two b\nx\ny\n");
  free(d);
  clear_dir();
}

/* ---- flushing ----------------------------------------------------------- */

static size_t file_size(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  struct stat st;
  CHECK(stat(path, &st) == 0);
  return (size_t)st.st_size;
}

static void test_flush_interval(void) {
  fake_clock_t clk = {.now = local_time(2026, 7, 1, 12, 0, 0), .step = 0};
  mu_log_file_options_t o;
  mu_log_file_options_init(&o);
  o.flush_interval = 3;
  o.check_every_n = 1;
  o.clock = fake_now;
  o.clock_arg = &clk;
  mu_log_file_t *f = mu_log_file_new(basename_path(), &o);
  CHECK(f != NULL);
  static file_list_t fl;
  list_files(&fl);
  CHECK_EQ(fl.n, 1);
  CHECK_EQ(mu_log_file_append(f, "one\n", 4), 0);
  atomic_fetch_add(&clk.now, 2);
  CHECK_EQ(mu_log_file_append(f, "two\n", 4), 0);
  CHECK_EQ(file_size(fl.names[0]), 0); /* still buffered */
  atomic_fetch_add(&clk.now, 1);
  CHECK_EQ(mu_log_file_append(f, "three\n", 6), 0);
  CHECK_EQ(file_size(fl.names[0]), 14); /* the interval passed: flushed */
  CHECK_EQ(mu_log_file_append(f, "four\n", 5), 0);
  CHECK_EQ(file_size(fl.names[0]), 14);
  CHECK_EQ(mu_log_file_flush(f), 0);
  CHECK_EQ(file_size(fl.names[0]), 19);
  char path[512];
  mu_log_file_path(f, path, sizeof path);
  CHECK(strstr(path, fl.names[0]) != NULL);
  /* Bigger than the user-space buffer: written at once, in order. */
  static char big[100000];
  memset(big, 'z', sizeof big - 1);
  big[sizeof big - 1] = '\n';
  CHECK_EQ(mu_log_file_append(f, "five\n", 5), 0);
  CHECK_EQ(mu_log_file_append(f, big, sizeof big), 0);
  CHECK_EQ(file_size(fl.names[0]), 24 + sizeof big);
  mu_log_file_free(f);
  size_t len;
  char *d = read_file(fl.names[0], &len);
  CHECK(strncmp(d, "one\ntwo\nthree\nfour\nfive\nzzz", 27) == 0);
  free(d);
  clear_dir();
}

/* ---- threads ------------------------------------------------------------ */

enum { k_threads = 4, k_thread_lines = 20000 };

typedef struct mt_arg {
  mu_log_file_t *f;
  int t;
} mt_arg_t;

static void *mt_writer(void *p) {
  mt_arg_t *a = p;
  char line[64];
  for (int i = 0; i < k_thread_lines; ++i) {
    int n = snprintf(line, sizeof line, "t%d %08d %.*s\n", a->t, i, a->t * 7 + 3,
                     "----------------------------------------");
    CHECK_EQ(mu_log_file_append(a->f, line, (size_t)n), 0);
  }
  return NULL;
}

static void test_thread_safe(void) {
  fake_clock_t clk = {.now = local_time(2026, 8, 1, 8, 0, 0), .step = 1};
  mu_log_file_options_t o;
  mu_log_file_options_init(&o);
  o.roll_size = 100000;
  o.thread_safe = true;
  o.check_every_n = 100;
  o.clock = fake_now;
  o.clock_arg = &clk;
  mu_log_file_t *f = mu_log_file_new(basename_path(), &o);
  CHECK(f != NULL);
  pthread_t th[k_threads];
  mt_arg_t args[k_threads];
  for (int t = 0; t < k_threads; ++t) {
    args[t] = (mt_arg_t){f, t};
    CHECK(pthread_create(&th[t], NULL, mt_writer, &args[t]) == 0);
  }
  for (int t = 0; t < k_threads; ++t)
    CHECK(pthread_join(th[t], NULL) == 0);
  mu_log_file_free(f);
  static file_list_t fl;
  list_files(&fl);
  CHECK(fl.n > 5);
  int next[k_threads] = {0};
  for (int i = 0; i < fl.n; ++i) {
    size_t len;
    char *d = read_file(fl.names[i], &len);
    CHECK(len <= 100000 && d[len - 1] == '\n');
    for (char *p = d, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
      int t = -1, seq = -1, n = 0;
      CHECK(sscanf(p, "t%d %d %n", &t, &seq, &n) == 2);
      CHECK(t >= 0 && t < k_threads && seq == next[t]);
      CHECK(nl - (p + n) == t * 7 + 3); /* whole, not interleaved */
      next[t]++;
    }
    free(d);
  }
  for (int t = 0; t < k_threads; ++t)
    CHECK_EQ(next[t], k_thread_lines);
  clear_dir();
}

/* ---- errors and the front end ------------------------------------------- */

static void test_errors(void) {
  char path[256];
  snprintf(path, sizeof path, "%s/no/such/dir/app", g_dir);
  errno = 0;
  CHECK(mu_log_file_new(path, NULL) == NULL);
  CHECK_EQ(errno, ENOENT);
  errno = 0;
  CHECK(mu_log_file_new("", NULL) == NULL);
  CHECK_EQ(errno, EINVAL);
}

static void test_front_end(void) {
  mu_log_file_options_t o;
  mu_log_file_options_init(&o);
  o.thread_safe = true;
  mu_log_file_t *f = mu_log_file_new(basename_path(), &o);
  CHECK(f != NULL);
  mu_log_set_output(mu_log_file_output, f);
  mu_log_set_flush(mu_log_file_flush_output, f);
  MU_LOG_INFO("sync line %d", 1);
  MU_LOG_WARN("sync line %d", 2);
  mu_log_flush();
  mu_log_set_output(NULL, NULL);
  mu_log_set_flush(NULL, NULL);
  static file_list_t fl;
  list_files(&fl);
  CHECK_EQ(fl.n, 1);
  size_t len;
  char *d = read_file(fl.names[0], &len); /* flushed: the file is still open */
  CHECK(strstr(d, " INFO  sync line 1 - test_log_file.c:") != NULL);
  CHECK(strstr(d, " WARN  sync line 2 - test_log_file.c:") != NULL);
  free(d);
  mu_log_file_free(f);
  clear_dir();
}

int main(void) {
  test_time_limit(120);
  setenv("TZ", "UTC-3", 1); /* POSIX sign: three hours east of UTC */
  tzset();
  make_dir();
  test_name();
  test_roll_by_size_lines();
  test_roll_by_size_chunks();
  test_long_line();
  test_same_second();
  test_roll_by_local_day();
  test_flush_interval();
  test_thread_safe();
  test_errors();
  test_front_end();
  remove_dir();
  TEST_PASS("log_file");
}
