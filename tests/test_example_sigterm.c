/* The example servers stop cleanly on SIGTERM and SIGINT and lose no log line:
 * each one is started with --log-dir on 127.0.0.1, talked to, sent the signal,
 * and must exit with status 0 leaving one log file that holds every line it
 * logged, down to the last one ("stopped cleanly", logged after the server is
 * freed). The echo server gets 2 I/O threads and 60 connections, each of which
 * must appear as one UP and one DOWN line. Runs the programs of the build's
 * bin/ directory, built with the same flags (sanitizers included). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "test_util.h"

static char g_bin[PATH_MAX];
static char g_dir[64];

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* A port that was free a moment ago (the server's bind may still lose a race:
 * start_server retries). */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
  socklen_t len = sizeof a;
  CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
  close(fd);
  return ntohs(a.sin_port);
}

static int try_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

typedef struct server {
  const char *name;
  pid_t pid;
  int port;
  char log_dir[128];
} server_t;

static void exec_server(const server_t *s, const char *threads) {
  char path[PATH_MAX + 64], port[16], out[256];
  snprintf(path, sizeof path, "%s/%s", g_bin, s->name);
  snprintf(port, sizeof port, "%d", s->port);
  snprintf(out, sizeof out, "%s/%s.out", g_dir, s->name);
  int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
  }
  execl(path, s->name, "-a", "127.0.0.1", "-p", port, "-t", threads, "--log-dir",
        s->log_dir, (char *)NULL);
  _exit(127);
}

/* Starts the server and waits until it accepts; false if the program is absent. */
static bool start_server(server_t *s, const char *threads) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", g_bin, s->name);
  if (access(path, X_OK) != 0)
    return false;
  snprintf(s->log_dir, sizeof s->log_dir, "%s/%s.logs", g_dir, s->name);
  for (int attempt = 0; attempt < 5; ++attempt) {
    s->port = free_port();
    s->pid = fork();
    CHECK(s->pid >= 0);
    if (s->pid == 0)
      exec_server(s, threads);
    bool exited = false;
    for (int i = 0; i < 2000 && !exited; ++i) { /* up to 20 s under sanitizers */
      int status;
      exited = waitpid(s->pid, &status, WNOHANG) == s->pid; /* lost the port */
      int fd = exited ? -1 : try_connect(s->port);
      if (fd >= 0) {
        close(fd);
        return true;
      }
      sleep_ms(10);
    }
    if (!exited) { /* a reaped pid is no longer ours to kill */
      kill(s->pid, SIGKILL);
      waitpid(s->pid, NULL, 0);
    }
  }
  fprintf(stderr, "%s did not start\n", s->name);
  abort();
}

/* Sends `sig` and waits for a clean exit (status 0). */
static void stop_server(server_t *s, int sig) {
  CHECK(kill(s->pid, sig) == 0);
  int status = 0;
  for (int i = 0; i < 3000; ++i) { /* 30 s */
    pid_t r = waitpid(s->pid, &status, WNOHANG);
    CHECK(r >= 0);
    if (r == s->pid) {
      if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "%s: status %d after signal %d\n", s->name, status, sig);
        abort();
      }
      return;
    }
    sleep_ms(10);
  }
  kill(s->pid, SIGKILL);
  fprintf(stderr, "%s did not exit after signal %d\n", s->name, sig);
  abort();
}

/* The one log file of the server's directory (removed with the directory). */
static char *read_log(const server_t *s) {
  DIR *d = opendir(s->log_dir);
  CHECK(d != NULL);
  char path[512] = "";
  int files = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    files++;
    CHECK(strncmp(e->d_name, s->name, strlen(s->name)) == 0);
    CHECK(strstr(e->d_name, ".log") != NULL);
    snprintf(path, sizeof path, "%s/%s", s->log_dir, e->d_name);
  }
  closedir(d);
  CHECK_EQ(files, 1);
  FILE *fp = fopen(path, "rb");
  CHECK(fp != NULL);
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  fclose(fp);
  buf[n] = '\0';
  CHECK(unlink(path) == 0);
  CHECK(rmdir(s->log_dir) == 0);
  char out[256];
  snprintf(out, sizeof out, "%s/%s.out", g_dir, s->name);
  unlink(out);
  return buf;
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
    n++;
  return n;
}

/* Every log ends with these two lines, the last one after the server is freed. */
static void check_clean_end(const char *log, const char *signame) {
  char want[64];
  snprintf(want, sizeof want, " INFO  received %s; quitting - ", signame);
  CHECK_EQ(count(log, want), 1);
  CHECK_EQ(count(log, " INFO  stopped cleanly - "), 1);
  const char *last = strstr(log, " INFO  stopped cleanly - ");
  CHECK(strchr(last, '\n') != NULL && strchr(last, '\n')[1] == '\0');
}

/* ---- echo: every connection's UP and DOWN line -------------------------- */

enum { k_echo_conns = 60 };

static void echo_round_trip(int port, int i) {
  int fd = try_connect(port);
  CHECK(fd >= 0);
  char msg[32], back[32];
  int n = snprintf(msg, sizeof msg, "hello %d\n", i);
  CHECK(write(fd, msg, (size_t)n) == n);
  int got = 0;
  while (got < n) {
    ssize_t r = read(fd, back + got, (size_t)(n - got));
    CHECK(r > 0);
    got += (int)r;
  }
  CHECK(memcmp(msg, back, (size_t)n) == 0);
  close(fd);
}

static void test_echo(int sig, const char *signame) {
  server_t s = {.name = "echo_server"};
  if (!start_server(&s, "2")) {
    printf("echo_server not built: skipped\n");
    return;
  }
  for (int i = 0; i < k_echo_conns; ++i)
    echo_round_trip(s.port, i);
  int keep = try_connect(s.port); /* still open at the signal */
  CHECK(keep >= 0);
  CHECK(write(keep, "x", 1) == 1);
  char c;
  CHECK(read(keep, &c, 1) == 1);
  stop_server(&s, sig);
  close(keep);
  const char *log = read_log(&s);
  /* The probe connection of start_server, the 60, and the one kept open. */
  CHECK_EQ(count(log, " is UP - echo_server.c:"), k_echo_conns + 2);
  CHECK_EQ(count(log, " is DOWN - echo_server.c:"), k_echo_conns + 2);
  CHECK_EQ(count(log, " INFO  EchoServer listening on port "), 1);
  check_clean_end(log, signame);
  printf("echo_server (%s): %d connections, every line in the log\n", signame,
         k_echo_conns + 2);
}

/* ---- the other servers -------------------------------------------------- */

/* Connects, reads whatever the server says (chargen: a little of its stream;
 * daytime and time: all of it), sends a line, closes. */
static void poke(int port) {
  int fd = try_connect(port);
  CHECK(fd >= 0);
  CHECK(write(fd, "ping\n", 5) == 5);
  struct timeval tv = {0, 200000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[4096];
  ssize_t r = read(fd, buf, sizeof buf);
  (void)r;
  close(fd);
}

static void test_server(const char *name, int sig, const char *signame) {
  server_t s = {.name = name};
  if (!start_server(&s, "1")) {
    printf("%s not built: skipped\n", name);
    return;
  }
  for (int i = 0; i < 3; ++i)
    poke(s.port);
  stop_server(&s, sig);
  const char *log = read_log(&s);
  check_clean_end(log, signame);
  if (strcmp(name, "chat_server") == 0) {
    CHECK_EQ(count(log, " is UP - chat_server.c:"), 4);
    CHECK_EQ(count(log, " is DOWN - chat_server.c:"), 4);
  }
  printf("%s (%s): clean stop, log complete\n", name, signame);
}

int main(void) {
  test_time_limit(280);
  signal(SIGPIPE, SIG_IGN);
  test_sibling_path(g_bin, sizeof g_bin, ".");
  dirname(g_bin);
  snprintf(g_dir, sizeof g_dir, "/tmp/mu_sigterm_XXXXXX");
  CHECK(mkdtemp(g_dir) != NULL);
  test_echo(SIGTERM, "SIGTERM");
  test_echo(SIGINT, "SIGINT");
  static const char *const k_others[] = {
      "discard_server",  "chargen_server", "daytime_server", "time_server",
      "pingpong_server", "idle_server",    "chat_server"};
  for (size_t i = 0; i < sizeof k_others / sizeof k_others[0]; ++i) {
    test_server(k_others[i], i % 2 ? SIGINT : SIGTERM, i % 2 ? "SIGINT" : "SIGTERM");
  }
  CHECK(rmdir(g_dir) == 0);
  TEST_PASS("example_sigterm");
}
