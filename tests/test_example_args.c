/* The example servers' -a ADDR option (examples/common/example_args.h):
 *   - with -a 127.0.0.1 each server listens on 127.0.0.1 and nowhere else: it
 *     accepts there, and /proc/net/tcp{,6} shows its port listening on
 *     127.0.0.1 only; SIGTERM still ends it with status 0;
 *   - a bad -a (not a numeric address, a host name, an address with a port,
 *     empty, missing) ends it at once with status 2 and the usage message,
 *     never a crash and never a listening socket;
 * IPv6 literals are not started here: tests listen on 127.0.0.1 only (the
 * parsing of "::1" and "[::1]" is inet_address's, tested there).
 * The default (every address) is not started here: tests listen on loopback
 * only. Runs the programs of the build's bin/ directory, built with the same
 * flags (sanitizers included); a program that is not built is skipped. */
#include <arpa/inet.h>
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
/* The server running now, killed if a check fails (SIGABRT) or the time limit
 * strikes (SIGALRM), so that no listener outlives the test. */
static volatile pid_t g_child;

static void kill_child_and_die(int sig) {
  if (g_child > 0)
    kill(g_child, SIGKILL);
  signal(sig, SIG_DFL);
  raise(sig);
}

static const char *const k_servers[] = {
    "echo_server",    "discard_server", "chargen_server",
    "daytime_server", "time_server",    "pingpong_server",
    "idle_server",    "chat_server",    "http_server"};
enum { k_server_count = sizeof k_servers / sizeof k_servers[0] };

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* ---- addresses ------------------------------------------------------------ */

typedef struct addr {
  int family;
  struct sockaddr_storage ss;
  socklen_t len;
} addr_t;

static addr_t loopback(int family, int port) {
  addr_t a = {.family = family};
  if (family == AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *)&a.ss;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.len = sizeof *in;
  } else {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a.ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    in6->sin6_addr = in6addr_loopback;
    a.len = sizeof *in6;
  }
  return a;
}

/* A loopback port of `family` that was free a moment ago (the server's bind
 * may still lose a race: start_server retries); -1 if the family's loopback
 * cannot be bound at all (no IPv6 on this machine). */
static int free_port(int family) {
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  addr_t a = loopback(family, 0);
  if (bind(fd, (struct sockaddr *)&a.ss, a.len) != 0) {
    close(fd);
    return -1;
  }
  socklen_t len = sizeof a.ss;
  CHECK(getsockname(fd, (struct sockaddr *)&a.ss, &len) == 0);
  close(fd);
  return family == AF_INET ? ntohs(((struct sockaddr_in *)&a.ss)->sin_port)
                           : ntohs(((struct sockaddr_in6 *)&a.ss)->sin6_port);
}

static int try_connect(int family, int port) {
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  addr_t a = loopback(family, port);
  if (connect(fd, (struct sockaddr *)&a.ss, a.len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Listening sockets on `port` in /proc/net/tcp or tcp6 (`file`): how many, and
 * in `other` how many of them are on another address than `want` (the kernel's
 * hex form of the address, e.g. "0100007F" for 127.0.0.1). */
static int listeners(const char *file, int port, const char *want, int *other) {
  FILE *fp = fopen(file, "r");
  if (fp == NULL) {
    CHECK(errno == ENOENT); /* no tcp6 without IPv6 */
    return 0;
  }
  char line[512];
  int n = 0;
  CHECK(fgets(line, sizeof line, fp) != NULL); /* the header */
  while (fgets(line, sizeof line, fp) != NULL) {
    char local[40];
    unsigned lport, state;
    if (sscanf(line, " %*d: %39[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", local, &lport,
               &state) != 3)
      continue;
    if (state != 0x0A || (int)lport != port) /* 0x0A: TCP_LISTEN */
      continue;
    n++;
    if (strcmp(local, want) != 0)
      (*other)++;
  }
  fclose(fp);
  return n;
}

/* ---- running a server ----------------------------------------------------- */

typedef struct server {
  const char *name;
  pid_t pid;
  int port;
  char out[128]; /* its stdout and stderr */
} server_t;

/* Starts bin/name with args (NULL-terminated, after the program name) and its
 * output going to s->out. */
static void spawn(server_t *s, const char *const *args) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", g_bin, s->name);
  snprintf(s->out, sizeof s->out, "%s/%s.out", g_dir, s->name);
  const char *argv[16] = {s->name};
  int argc = 1;
  for (; args[argc - 1] != NULL; ++argc) {
    CHECK(argc < 15);
    argv[argc] = args[argc - 1];
  }
  argv[argc] = NULL;
  s->pid = fork();
  CHECK(s->pid >= 0);
  g_child = s->pid;
  if (s->pid == 0) {
    int fd = open(s->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    execv(path, (char *const *)argv);
    _exit(127);
  }
}

/* The server's output so far (a static buffer). */
static const char *output(const server_t *s) {
  static char buf[16384];
  FILE *fp = fopen(s->out, "r");
  CHECK(fp != NULL);
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  fclose(fp);
  buf[n] = '\0';
  return buf;
}

/* Kills the child and reaps it (only while it is not reaped yet: its pid is
 * then still ours). */
static void reap(server_t *s) {
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  g_child = 0;
}

/* Waits up to 30 s (sanitizers) for the child to exit; its raw status. */
static int wait_exit(server_t *s) {
  int status = 0;
  for (int i = 0; i < 3000; ++i) {
    pid_t r = waitpid(s->pid, &status, WNOHANG);
    CHECK(r >= 0);
    if (r == s->pid) {
      g_child = 0;
      return status;
    }
    sleep_ms(10);
  }
  reap(s);
  fprintf(stderr, "%s did not exit:\n%s\n", s->name, output(s));
  abort();
}

/* Starts the server with -a ip on a free port of `family` and waits until it
 * accepts there. */
static void start_server(server_t *s, int family, const char *ip) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    s->port = free_port(family);
    CHECK(s->port > 0);
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    const char *args[] = {"-a", ip, "-p", port, "-t", "1", NULL};
    spawn(s, args);
    bool exited = false;
    for (int i = 0; i < 2000 && !exited; ++i) { /* up to 20 s under sanitizers */
      int status;
      exited = waitpid(s->pid, &status, WNOHANG) == s->pid; /* lost the port */
      int fd = exited ? -1 : try_connect(family, s->port);
      if (fd >= 0) {
        close(fd);
        return;
      }
      sleep_ms(10);
    }
    if (exited)
      g_child = 0;
    else
      reap(s);
  }
  fprintf(stderr, "%s -a %s did not start:\n%s\n", s->name, ip, output(s));
  abort();
}

static void stop_server(server_t *s) {
  CHECK(kill(s->pid, SIGTERM) == 0);
  int status = wait_exit(s);
  if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    fprintf(stderr, "%s: status %d after SIGTERM:\n%s\n", s->name, status, output(s));
    abort();
  }
  unlink(s->out);
}

/* ---- the checks ------------------------------------------------------------ */

static bool built(const char *name) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", g_bin, name);
  return access(path, X_OK) == 0;
}

/* -a 127.0.0.1: one listening socket on the port, on 127.0.0.1, none in tcp6. */
static void test_ipv4_loopback(const char *name) {
  server_t s = {.name = name};
  start_server(&s, AF_INET, "127.0.0.1");
  int other = 0;
  CHECK_EQ(listeners("/proc/net/tcp", s.port, "0100007F", &other), 1);
  CHECK_EQ(other, 0);
  CHECK_EQ(listeners("/proc/net/tcp6", s.port, "", &other), 0);
  stop_server(&s);
}

/* A bad -a: exit status 2 at once, with the usage message. */
static void test_bad_address(const char *name, const char *const *args) {
  server_t s = {.name = name};
  spawn(&s, args);
  int status = wait_exit(&s);
  const char *out = output(&s);
  if (!(WIFEXITED(status) && WEXITSTATUS(status) == 2) || strstr(out, "usage:") == NULL ||
      strstr(out, "-a ADDR") == NULL) {
    fprintf(stderr, "%s", name);
    for (int i = 0; args[i] != NULL; ++i)
      fprintf(stderr, " '%s'", args[i]);
    fprintf(stderr, ": status %d, output:\n%s\n", status, out);
    abort();
  }
  unlink(s.out);
}

static void test_bad_addresses(const char *name) {
  static const char *const k_bad[] = {"999.1.1.1", "::zz",       "",
                                      "localhost", "1.2.3.4:80", "[::1]:80",
                                      "1.2.3",     " 127.0.0.1", "127.0.0.1 "};
  for (size_t i = 0; i < sizeof k_bad / sizeof k_bad[0]; ++i) {
    const char *args[] = {"-a", k_bad[i], "-p", "1", NULL};
    test_bad_address(name, args);
  }
  const char *missing[] = {"-p", "1", "-a", NULL}; /* -a without its value */
  test_bad_address(name, missing);
}

int main(void) {
  test_time_limit(280);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGABRT, kill_child_and_die);
  signal(SIGALRM, kill_child_and_die);
  test_sibling_path(g_bin, sizeof g_bin, ".");
  dirname(g_bin);
  snprintf(g_dir, sizeof g_dir, "/tmp/mu_example_args_XXXXXX");
  CHECK(mkdtemp(g_dir) != NULL);
  for (int i = 0; i < k_server_count; ++i) {
    if (!built(k_servers[i])) {
      printf("%s not built: skipped\n", k_servers[i]);
      continue;
    }
    test_ipv4_loopback(k_servers[i]);
    test_bad_addresses(k_servers[i]);
    printf("%s: -a 127.0.0.1 listens there only; bad -a values exit 2 with the usage\n",
           k_servers[i]);
  }
  CHECK(rmdir(g_dir) == 0);
  TEST_PASS("example_args");
}
