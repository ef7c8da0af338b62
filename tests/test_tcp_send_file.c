/* mu_tcp_connection_send_file: file regions in a connection's output stream.
 *
 * The client sends a command line; the server's message callback (in its I/O
 * thread) answers with a "plan": a list of pieces, each either bytes given to
 * send() or a region of a test file given to send_file() (on a dup of the
 * file's descriptor, which the connection then owns). Both sides build the
 * plan from the command alone, so the client checks every byte it receives
 * against it, piece by piece. The file is FILE_SIZE bytes of a position-keyed
 * pattern. The server's sockets have a 16 KiB send buffer and the clients a
 * small receive buffer, so big regions meet partial sendfile writes and
 * write-readiness waits.
 *
 *   order     send / file / send / file / file / send: exact order
 *   mix       8 big regions (random offsets and lengths, seeded) between
 *             small sends, two of them back to back: megabytes through a
 *             16 KiB socket buffer
 *   zero      a zero-length region is nothing (and its fd is closed)
 *   headed    send_file_with_head: on an idle connection, behind a queued
 *             region, with an empty region (the head alone)
 *   glued     (default socket buffers) send_file_with_head's head arrives in
 *             one read with the region's first bytes
 *   short     a region past the file's end: the bytes the file has, then the
 *             connection closes (the later send never arrives), logged
 *   past      a region starting past the end: closed with no byte of it
 *   shutdown  shutdown() right after a big region waits for it: all, then EOF
 *   halfclose the client half-closes right after its command: the server
 *             still writes the whole region, then closes
 *   drop      the client reads 64 KiB of three queued whole-file regions and
 *             closes (plain close, then with RST): the server closes, with
 *             SIGPIPE at its default action (a sendfile to the gone peer must
 *             not raise it)
 *   force     force_close() with three regions queued
 *   reset     (a second server, default socket buffers) the client resets
 *             after a random part of an 8 MiB region, 300 times: sendfile
 *             then meets the reset in the middle of a call
 *   free      the server freed while regions are queued to a client that
 *             reads nothing
 *
 * After every scenario the process's descriptor count (/proc/self/fd) must
 * come back to what it was: every region's fd is closed when sent, on error
 * and on close. A down callback's send_file gets -ENOTCONN and closes its fd.
 * write-complete runs only once the last region is out. */
#include <fcntl.h>

#include "tcp_test_util.h"

#define FILE_STREAM 42u
#define FILE_SIZE (8u * 1024 * 1024)
#define SERVER_SNDBUF 16384
#define CLIENT_RCVBUF 65536
#define MAX_PIECES 64

typedef struct piece {
  bool file;
  bool head;         /* bytes sent with the next piece, a region, in one
                      * mu_tcp_connection_send_file_with_head call */
  uint64_t off, len; /* file region */
  char mem[24];      /* or these bytes (len of them) */
} piece_t;

typedef struct plan {
  piece_t p[MAX_PIECES];
  int n;
  uint64_t total;
  /* what the server does after the pieces */
  bool then_shutdown;
  bool then_force_close;
} plan_t;

static int g_file_fd = -1; /* set before the server starts; read-only after */

static void add_mem(plan_t *pl, const char *s) {
  CHECK(pl->n < MAX_PIECES);
  piece_t *p = &pl->p[pl->n++];
  memset(p, 0, sizeof *p);
  p->len = strlen(s);
  CHECK(p->len < sizeof p->mem);
  memcpy(p->mem, s, p->len);
  pl->total += p->len;
}

/* Bytes that go out as the head of the region added next. */
static void add_head(plan_t *pl, const char *s) {
  add_mem(pl, s);
  pl->p[pl->n - 1].head = true;
}

static void add_file(plan_t *pl, uint64_t off, uint64_t len) {
  CHECK(pl->n < MAX_PIECES);
  piece_t *p = &pl->p[pl->n++];
  memset(p, 0, sizeof *p);
  p->file = true;
  p->off = off;
  p->len = len;
  pl->total += len;
}

/* The plan of a command; both sides call it. */
static void make_plan(const char *cmd, plan_t *pl) {
  memset(pl, 0, sizeof *pl);
  if (strcmp(cmd, "order") == 0) {
    add_mem(pl, "head:");
    add_file(pl, 0, 1000);
    add_mem(pl, ":mid:");
    add_file(pl, 5000, 3000);
    add_file(pl, 123, 1);
    add_file(pl, FILE_SIZE - 7, 7);
    add_mem(pl, ":tail");
  } else if (strcmp(cmd, "mix") == 0) {
    tt_rng_t rng = tt_rng_make(20261206);
    for (int i = 0; i < 8; ++i) {
      char hdr[16];
      snprintf(hdr, sizeof hdr, "[%d]", i);
      if (i != 4)
        add_mem(pl, hdr); /* regions 3 and 4 are back to back */
      uint64_t off = tt_rng_range(&rng, 0, FILE_SIZE - 1);
      uint64_t max = FILE_SIZE - off < (3u << 20) ? FILE_SIZE - off : (3u << 20);
      add_file(pl, off, tt_rng_range(&rng, 1, max));
    }
    add_mem(pl, "[end]");
  } else if (strcmp(cmd, "headed") == 0) {
    add_head(pl, "H1:"); /* idle: MSG_MORE, then sendfile */
    add_file(pl, 0, 3u << 20);
    add_head(pl, "H2:"); /* behind a queued region: queued too */
    add_file(pl, 100, 5000);
    add_mem(pl, "-");
    add_head(pl, "H3:"); /* an empty region: the head alone */
    add_file(pl, 7, 0);
    add_head(pl, "H4:");
    add_file(pl, FILE_SIZE - 10, 10);
  } else if (strcmp(cmd, "glued") == 0) {
    add_head(pl, "HTTP/1.1 200 OK\r\n\r\n");
    add_file(pl, 0, 4096);
  } else if (strcmp(cmd, "zero") == 0) {
    add_file(pl, 0, 0);
    add_mem(pl, "z");
    add_file(pl, 10, 10);
  } else if (strcmp(cmd, "short") == 0) {
    add_mem(pl, "s");
    add_file(pl, FILE_SIZE - 100, 1000); /* 900 bytes short */
    add_mem(pl, "never");
  } else if (strcmp(cmd, "past") == 0) {
    add_mem(pl, "p");
    add_file(pl, FILE_SIZE + 10, 5);
    add_mem(pl, "never");
  } else if (strcmp(cmd, "shutdown") == 0) {
    add_mem(pl, "<");
    add_file(pl, 0, FILE_SIZE);
    add_mem(pl, ">");
    pl->then_shutdown = true;
  } else if (strcmp(cmd, "reset") == 0) {
    add_file(pl, 0, FILE_SIZE);
  } else if (strcmp(cmd, "halfclose") == 0) {
    add_file(pl, 1, FILE_SIZE - 1);
  } else if (strcmp(cmd, "drop") == 0 || strcmp(cmd, "hold") == 0 ||
             strcmp(cmd, "force") == 0) {
    for (int i = 0; i < 3; ++i)
      add_file(pl, 0, FILE_SIZE);
    add_mem(pl, "end");
    pl->then_force_close = strcmp(cmd, "force") == 0;
  } else {
    fprintf(stderr, "unknown command \"%s\"\n", cmd);
    abort();
  }
}

/* ---- server ---------------------------------------------------------------- */

typedef struct server_state {
  tt_conn_counters_t counters;
  _Atomic int send_errors;          /* send / send_file calls that failed */
  _Atomic int down_rc;              /* send_file's answer in the down callback */
  _Atomic long write_complete;      /* write-complete calls */
  _Atomic long files_only_complete; /* ... on connections given regions only */
  _Atomic int early_complete;       /* ... of those, before the regions were out */
} server_state_t;

static server_state_t g_srv;

/* A connection's context: the total of its plan when it sends regions only
 * (then any write-complete must come after all of it), else 0. */
static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  server_state_t *st = arg;
  tt_count_connection(conn, &st->counters);
  if (!mu_tcp_connection_connected(conn)) {
    int fd = fcntl(g_file_fd, F_DUPFD_CLOEXEC, 0);
    CHECK(fd >= 0);
    atomic_store(&st->down_rc, mu_tcp_connection_send_file(conn, fd, 0, 10));
  }
}

static void on_write_complete(mu_tcp_connection_t *conn, void *arg) {
  server_state_t *st = arg;
  atomic_fetch_add(&st->write_complete, 1);
  const uint64_t *files_only_total = mu_tcp_connection_get_context(conn);
  if (files_only_total != NULL) {
    atomic_fetch_add(&st->files_only_complete, 1);
    if (mu_tcp_connection_bytes_sent(conn) < *files_only_total)
      atomic_fetch_add(&st->early_complete, 1);
  }
}

static void run_plan(mu_tcp_connection_t *conn, const plan_t *pl) {
  for (int i = 0; i < pl->n; ++i) {
    const piece_t *p = &pl->p[i];
    int rc;
    if (p->head) {
      const piece_t *f = &pl->p[++i];
      CHECK(f->file);
      int fd = fcntl(g_file_fd, F_DUPFD_CLOEXEC, 0);
      CHECK(fd >= 0);
      rc = mu_tcp_connection_send_file_with_head(conn, p->mem, (size_t)p->len, fd, f->off,
                                                 f->len);
    } else if (p->file) {
      int fd = fcntl(g_file_fd, F_DUPFD_CLOEXEC, 0);
      CHECK(fd >= 0);
      rc = mu_tcp_connection_send_file(conn, fd, p->off, p->len);
    } else {
      rc = mu_tcp_connection_send(conn, p->mem, (size_t)p->len);
    }
    if (rc != 0)
      atomic_fetch_add(&g_srv.send_errors, 1);
  }
  if (pl->then_shutdown)
    mu_tcp_connection_shutdown(conn);
  if (pl->then_force_close)
    mu_tcp_connection_force_close(conn);
}

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t t,
                       void *arg) {
  (void)t;
  (void)arg;
  for (const char *eol; (eol = mu_buffer_find_eol(buf)) != NULL;) {
    char cmd[32];
    size_t n = (size_t)(eol - mu_buffer_peek(buf));
    CHECK(n < sizeof cmd);
    memcpy(cmd, mu_buffer_peek(buf), n);
    cmd[n] = '\0';
    mu_buffer_retrieve_until(buf, eol + 1);
    plan_t pl;
    make_plan(cmd, &pl);
    bool files_only = true;
    for (int i = 0; i < pl.n; ++i)
      files_only = files_only && pl.p[i].file;
    if (files_only) {
      uint64_t *total = malloc(sizeof *total);
      CHECK(total != NULL);
      *total = pl.total;
      CHECK_EQ(mu_tcp_connection_set_context(conn, total, free), 0);
    }
    run_plan(conn, &pl);
  }
}

static void setup_server(mu_tcp_server_t *server, void *arg) {
  mu_tcp_server_set_connection_callback(server, on_connection, arg);
  mu_tcp_server_set_message_callback(server, on_message, arg);
  mu_tcp_server_set_write_complete_callback(server, on_write_complete, arg);
}

/* ---- client ---------------------------------------------------------------- */

/* Checks the received stream against a plan, piece by piece. */
typedef struct checker {
  const plan_t *pl;
  int piece;
  uint64_t in_piece; /* bytes of the current piece already seen */
  uint64_t seen;
} checker_t;

static void check_bytes(checker_t *c, const char *buf, size_t n) {
  while (n > 0) {
    while (c->piece < c->pl->n && c->in_piece == c->pl->p[c->piece].len) {
      c->piece++;
      c->in_piece = 0;
    }
    if (c->piece == c->pl->n) {
      fprintf(stderr, "%zu bytes past the end of the plan (%" PRIu64 ")\n", n,
              c->pl->total);
      abort();
    }
    const piece_t *p = &c->pl->p[c->piece];
    size_t take = p->len - c->in_piece < n ? (size_t)(p->len - c->in_piece) : n;
    size_t bad = p->file ? tt_pattern_check(FILE_STREAM, p->off + c->in_piece, buf, take)
                         : (memcmp(buf, p->mem + c->in_piece, take) == 0 ? take : 0);
    if (bad != take) {
      fprintf(stderr, "wrong byte at stream offset %" PRIu64 " (piece %d, %s)\n",
              c->seen + bad, c->piece, p->file ? "file" : "send");
      abort();
    }
    c->in_piece += take;
    c->seen += take;
    buf += take;
    n -= take;
  }
}

/* Reads until end of file (or an error), checking every byte. Returns the
 * byte count; *err gets 0 or the error that ended it. */
static uint64_t read_checked_from(int fd, checker_t *c, uint64_t limit, int *err) {
  static char buf[65536];
  uint64_t start = c->seen;
  *err = 0;
  while (c->seen < limit) {
    size_t want = limit - c->seen < sizeof buf ? (size_t)(limit - c->seen) : sizeof buf;
    ssize_t n = tt_read_some(fd, buf, want);
    if (n <= 0) {
      *err = n == 0 ? 0 : (int)-n;
      break;
    }
    check_bytes(c, buf, (size_t)n);
  }
  return c->seen - start;
}

static uint64_t read_checked(int fd, const plan_t *pl, uint64_t limit, int *err) {
  checker_t c = {pl, 0, 0, 0};
  return read_checked_from(fd, &c, limit, err);
}

static int client_command(uint16_t port, const char *cmd, plan_t *pl) {
  int fd = tt_connect_timeout(port, TT_IO_TIMEOUT_S, CLIENT_RCVBUF);
  char line[40];
  snprintf(line, sizeof line, "%s\n", cmd);
  tt_write_all(fd, line, strlen(line));
  make_plan(cmd, pl);
  return fd;
}

/* Waits (bounded) until the server has no connection and the process's
 * descriptors are back to `base`. */
static void expect_fds_back(tt_server_t *s, int base, const char *what) {
  CHECK_EQ(tt_server_wait_connections(s, 0, 20), 0);
  double deadline = tt_now() + 20;
  int n;
  while ((n = tt_count_open_fds()) != base && tt_now() < deadline)
    tt_sleep_ms(5);
  if (n != base) {
    fprintf(stderr, "%s: %d descriptors open, %d before\n", what, n, base);
    abort();
  }
}

/* A scenario whose whole plan arrives, then end of file. */
static void expect_whole(tt_server_t *s, int base, const char *cmd, bool half_close) {
  plan_t pl;
  int fd = client_command(s->port, cmd, &pl);
  if (half_close)
    CHECK(shutdown(fd, SHUT_WR) == 0);
  int err;
  uint64_t got = read_checked(fd, &pl, pl.total, &err);
  CHECK_EQ(err, 0);
  CHECK_EQ(got, pl.total);
  if (pl.then_shutdown || half_close)
    tt_expect_eof(fd);
  CHECK(close(fd) == 0);
  expect_fds_back(s, base, cmd);
  printf("%-9s %" PRIu64 " bytes in %d pieces, in order\n", cmd, pl.total, pl.n);
}

/* A head sent with its region on an idle connection arrives with the
 * region's first bytes: the first read returns more than the head. The
 * client is usually blocked in that read before the server has the command,
 * so a head sent as a write of its own would wake it alone and fail this. */
static void expect_glued(tt_server_t *s, int base) {
  plan_t pl;
  int fd = client_command(s->port, "glued", &pl);
  static char buf[8192];
  ssize_t n = tt_read_some(fd, buf, sizeof buf);
  if (n <= (ssize_t)pl.p[0].len) {
    fprintf(stderr, "glued: the first read returned %zd bytes: the head left alone\n", n);
    abort();
  }
  checker_t c = {&pl, 0, 0, 0};
  check_bytes(&c, buf, (size_t)n);
  int err;
  uint64_t got = (uint64_t)n + read_checked_from(fd, &c, pl.total, &err);
  CHECK_EQ(err, 0);
  CHECK_EQ(got, pl.total);
  CHECK(close(fd) == 0);
  expect_fds_back(s, base, "glued");
  printf("glued     head and region in one read (%zd of %" PRIu64 " bytes)\n", n,
         pl.total);
}

/* The file ends before the region: the bytes before the end, then EOF. */
static void expect_cut(tt_server_t *s, int base, const char *cmd, uint64_t want,
                       tt_log_counter_t *log, int hits) {
  plan_t pl;
  int fd = client_command(s->port, cmd, &pl);
  int err;
  uint64_t got = read_checked(fd, &pl, pl.total, &err);
  CHECK_EQ(err, 0);
  CHECK_EQ(got, want);
  CHECK(close(fd) == 0);
  expect_fds_back(s, base, cmd);
  CHECK_EQ(atomic_load(&log->hits), hits);
  printf("%-9s %" PRIu64 " of %" PRIu64 " bytes, then closed\n", cmd, got, pl.total);
}

/* The client reads a little of three queued whole-file regions and goes. */
static void drop_mid_file(tt_server_t *s, int base, bool rst) {
  plan_t pl;
  int fd = client_command(s->port, "drop", &pl);
  int err;
  uint64_t got = read_checked(fd, &pl, 65536, &err);
  CHECK_EQ(err, 0);
  CHECK_EQ(got, 65536);
  if (rst) {
    tt_close_with_rst(fd);
  } else {
    CHECK(close(fd) == 0);
  }
  expect_fds_back(s, base, rst ? "drop (rst)" : "drop");
  printf("drop      peer %s after 64 KiB of %" PRIu64 ": closed, fds released\n",
         rst ? "reset" : "closed", pl.total);
}

/* A peer that resets while a big region goes out through large (default)
 * socket buffers: one sendfile call then moves several chunks, and the reset
 * can land between two of them, so that the call returns a partial count
 * and the kernel has raised SIGPIPE all the same. With SIGPIPE at its
 * default action here, a signal that escapes kills the test. */
static void reset_mid_sendfile(uint16_t port, int rounds) {
  tt_rng_t rng = tt_rng_make(77);
  for (int i = 0; i < rounds; ++i) {
    plan_t pl;
    int fd = client_command(port, "reset", &pl);
    int err;
    uint64_t want = tt_rng_range(&rng, 1, 256 * 1024);
    CHECK_EQ(read_checked(fd, &pl, want, &err), want);
    tt_close_with_rst(fd);
  }
  printf("reset     %d resets in the middle of 8 MiB regions: the server lives\n",
         rounds);
}

/* force_close with regions queued: a prefix of the plan, then the end. */
static void force_mid_file(tt_server_t *s, int base) {
  plan_t pl;
  int fd = client_command(s->port, "force", &pl);
  int err;
  uint64_t got = read_checked(fd, &pl, pl.total, &err);
  CHECK(err == 0 || err == ECONNRESET);
  CHECK(got < pl.total);
  CHECK(close(fd) == 0);
  expect_fds_back(s, base, "force");
  printf("force     %" PRIu64 " of %" PRIu64 " bytes before the close\n", got, pl.total);
}

static void write_file_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    CHECK(n > 0);
    p += n;
    len -= (size_t)n;
  }
}

static int make_file(void) {
  char path[] = "/tmp/cmuduo-send-file-XXXXXX";
  int fd = mkostemp(path, O_CLOEXEC);
  CHECK(fd >= 0);
  CHECK(unlink(path) == 0);
  static char chunk[1 << 16];
  for (uint64_t off = 0; off < FILE_SIZE; off += sizeof chunk) {
    tt_pattern_fill(FILE_STREAM, off, chunk, sizeof chunk);
    write_file_all(fd, chunk, sizeof chunk);
  }
  return fd;
}

int main(void) {
  tt_init("tcp_send_file", 240);
  tt_log_counter_t log;
  tt_log_capture(&log, "bytes early");
  int base0 = tt_count_open_fds();
  g_file_fd = make_file();

  tt_server_t s;
  tt_server_start(&s, "SendFile", 1, setup_server, &g_srv);
  tt_server_shrink_sndbuf(&s, SERVER_SNDBUF);
  int base = tt_count_open_fds();

  expect_whole(&s, base, "order", false);
  expect_whole(&s, base, "mix", false);
  expect_whole(&s, base, "zero", false);
  expect_whole(&s, base, "headed", false);
  CHECK_EQ(atomic_load(&g_srv.send_errors), 0);
  expect_cut(&s, base, "short", 1 + 100, &log, 1);
  expect_cut(&s, base, "past", 1, &log, 2);
  expect_whole(&s, base, "shutdown", false);
  expect_whole(&s, base, "halfclose", true);
  drop_mid_file(&s, base, false);
  drop_mid_file(&s, base, true);
  force_mid_file(&s, base);

  /* Default-sized socket buffers for the reset rounds. */
  tt_server_t big;
  tt_server_start(&big, "SendFileBig", 1, setup_server, &g_srv);
  int base_big = tt_count_open_fds();
  expect_glued(&big, base_big);
  reset_mid_sendfile(big.port, TT_SANITIZED ? 100 : 300);
  expect_fds_back(&big, base_big, "reset");
  tt_server_stop(&big);

  /* Every connection's down callback tried a send_file. */
  CHECK_EQ(atomic_load(&g_srv.down_rc), -ENOTCONN);
  long conns = atomic_load(&g_srv.counters.up);
  CHECK_EQ(atomic_load(&g_srv.counters.down), conns);
  /* write-complete ran, and on the connection given only a region
   * (halfclose) only after all of it was written. */
  CHECK(atomic_load(&g_srv.files_only_complete) > 0);
  CHECK_EQ(atomic_load(&g_srv.early_complete), 0);
  printf("connections %ld, write-complete calls %ld (%ld after regions only)\n", conns,
         atomic_load(&g_srv.write_complete), atomic_load(&g_srv.files_only_complete));

  /* Freeing the server with regions queued closes their descriptors. */
  plan_t pl;
  int fd = client_command(s.port, "hold", &pl);
  char c;
  CHECK_EQ(recv(fd, &c, 1, MSG_PEEK), 1); /* the regions are queued by now */
  tt_server_stop(&s);
  CHECK(close(fd) == 0);
  CHECK(close(g_file_fd) == 0);
  double deadline = tt_now() + 20;
  int n;
  while ((n = tt_count_open_fds()) != base0 && tt_now() < deadline)
    tt_sleep_ms(5);
  CHECK_EQ(n, base0);
  printf("free      server freed with regions queued: fds released\n");
  tt_log_restore();
  printf("tcp_send_file: OK\n");
  return 0;
}
