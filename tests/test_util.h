/* A tiny test harness: CHECK macros that abort with file:line, a time limit,
 * and death tests in a child process. Header-only; one per test executable. */
#ifndef CMUDUO_TESTS_TEST_UTIL_H
#define CMUDUO_TESTS_TEST_UTIL_H

#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      fflush(NULL);                                                            \
      abort();                                                                 \
    }                                                                          \
  } while (0)

#define CHECK_EQ(a, b)                                                               \
  do {                                                                               \
    long long a_ = (long long)(a), b_ = (long long)(b);                              \
    if (a_ != b_) {                                                                  \
      fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld vs %lld)\n", __FILE__, \
              __LINE__, #a, #b, a_, b_);                                             \
      fflush(NULL);                                                                  \
      abort();                                                                       \
    }                                                                                \
  } while (0)

#define CHECK_STREQ(a, b)                                                        \
  do {                                                                           \
    const char *a_ = (a), *b_ = (b);                                             \
    if (strcmp(a_, b_) != 0) {                                                   \
      fprintf(stderr, "%s:%d: CHECK_STREQ failed: \"%s\" vs \"%s\"\n", __FILE__, \
              __LINE__, a_, b_);                                                 \
      fflush(NULL);                                                              \
      abort();                                                                   \
    }                                                                            \
  } while (0)

/* Kills the test (SIGALRM) if it runs longer than `seconds`: a hang fails. */
static inline void test_time_limit(unsigned seconds) {
  alarm(seconds);
}

/* True when the poll(2) backend is selected (the suite runs with both). */
static inline bool test_using_poll(void) {
  const char *p = getenv("MU_POLLER");
  return p != NULL && strcmp(p, "poll") == 0;
}

/* Runs fn(arg) in a child process with its stdout and stderr captured into
 * `out` (NUL-terminated, truncated to len). Returns the raw wait status. */
static inline int test_run_in_child(void (*fn)(void *), void *arg, char *out,
                                    size_t len) {
  int fds[2];
  CHECK(pipe(fds) == 0);
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    fn(arg);
    fflush(NULL);
    _exit(0);
  }
  close(fds[1]);
  size_t n = 0;
  ssize_t r;
  char sink[256];
  while ((r = read(fds[0], n + 1 < len ? out + n : sink,
                   n + 1 < len ? len - 1 - n : sizeof sink)) > 0) {
    if (n + 1 < len)
      n += (size_t)r;
  }
  out[n] = '\0';
  close(fds[0]);
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  return status;
}

/* Checks that fn(arg) aborts in a child and that its output contains `needle`. */
static inline void test_expect_death(void (*fn)(void *), void *arg, const char *needle) {
  char out[8192];
  int status = test_run_in_child(fn, arg, out, sizeof out);
  if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT)) {
    fprintf(stderr, "expected the child to abort; status %d, output:\n%s\n", status, out);
    abort();
  }
  if (needle != NULL && strstr(out, needle) == NULL) {
    fprintf(stderr, "child output lacks \"%s\":\n%s\n", needle, out);
    abort();
  }
}

/* The path of program `name` in this test's own directory (bin/ of its
 * build), into buf; the tests that run the example servers find them there. */
/* The whole file at PATH, NUL-terminated, in a malloc'd buffer; its length
 * in *len when len is not NULL. Any failure fails the test. */
static inline char *test_slurp(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  CHECK(fp != NULL);
  CHECK(fseek(fp, 0, SEEK_END) == 0);
  long n = ftell(fp);
  CHECK(n >= 0);
  CHECK(fseek(fp, 0, SEEK_SET) == 0);
  char *buf = malloc((size_t)n + 1);
  CHECK(buf != NULL);
  CHECK(fread(buf, 1, (size_t)n, fp) == (size_t)n);
  buf[n] = '\0';
  fclose(fp);
  if (len)
    *len = (size_t)n;
  return buf;
}

static inline void test_sibling_path(char *buf, size_t size, const char *name) {
  ssize_t n = readlink("/proc/self/exe", buf, size);
  CHECK(n > 0 && (size_t)n < size);
  buf[n] = '\0';
  char *slash = strrchr(buf, '/');
  CHECK(slash != NULL);
  CHECK((size_t)(slash + 1 - buf) + strlen(name) < size);
  strcpy(slash + 1, name);
}

#define TEST_PASS(name)                      \
  do {                                       \
    printf("%s: all checks passed\n", name); \
    return 0;                                \
  } while (0)

#endif
