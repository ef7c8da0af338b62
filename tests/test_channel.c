/* User channels on pipes, eventfds and a UDP socket, in a real loop: callbacks
 * and receive times, dispatch order, interest bits, freeing inside callbacks
 * (own and other channels), tie, closed fds, and loop-thread enforcement. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "cmuduo/base/logging.h"
#include "cmuduo/net/channel.h"
#include "cmuduo/net/event_loop.h"
#include "test_util.h"

/* ---- fixtures ----------------------------------------------------------- */

/* Log lines, kept to look for the WARN/ERROR lines the channel must write. */
static char g_log[1 << 16];
static size_t g_log_len;

static void capture_log(const char *line, size_t len, void *arg) {
  (void)arg;
  if (g_log_len + len < sizeof g_log) {
    memcpy(g_log + g_log_len, line, len);
    g_log_len += len;
    g_log[g_log_len] = '\0';
  }
}

static void log_reset(void) {
  g_log_len = 0;
  g_log[0] = '\0';
}

static bool g_guard_fired;

static void guard_quit(void *arg) {
  g_guard_fired = true;
  mu_event_loop_quit(arg);
}

static void plain_quit(void *arg) {
  mu_event_loop_quit(arg);
}

/* Runs until a callback quits the loop; a 10 s guard turns a hang into a failure. */
static void run_until_quit(mu_event_loop_t *loop) {
  g_guard_fired = false;
  mu_timer_id_t id = mu_event_loop_run_after(loop, 10.0, guard_quit, loop);
  CHECK(mu_timer_id_valid(id));
  mu_event_loop_loop(loop);
  mu_event_loop_cancel(loop, id);
  CHECK(!g_guard_fired);
}

/* Runs for a while so that a callback that should not come gets its chance. */
static void run_for(mu_event_loop_t *loop, double seconds) {
  CHECK(mu_timer_id_valid(mu_event_loop_run_after(loop, seconds, plain_quit, loop)));
  mu_event_loop_loop(loop);
}

static void make_pipe(int fds[2]) {
  CHECK(pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
}

static mu_event_loop_t *new_loop(void) {
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  CHECK_STREQ(mu_event_loop_poller_name(loop), test_using_poll() ? "poll" : "epoll");
  return loop;
}

/* What the callbacks saw, in order: C close, E error, R read, W write. */
typedef struct probe {
  mu_event_loop_t *loop;
  mu_channel_t *ch;
  char order[64];
  int reads, writes, closes, errors;
  int revents;
  char revents_str[128];
  mu_timestamp_t receive_time;
  mu_timestamp_t poll_time;
  int64_t iteration;
  char data[64];
  int so_error;
  char stop_on; /* the callback that disables everything and quits */
} probe_t;

static void note(probe_t *p, mu_channel_t *ch, char what) {
  size_t n = strlen(p->order);
  CHECK(n + 1 < sizeof p->order);
  p->order[n] = what;
  p->order[n + 1] = '\0';
  p->revents = mu_channel_revents(ch);
  mu_channel_revents_to_string(ch, p->revents_str, sizeof p->revents_str);
  p->iteration = mu_event_loop_iteration(p->loop);
}

static void maybe_stop(probe_t *p, mu_channel_t *ch, char what) {
  if (p->stop_on == what) {
    CHECK_EQ(mu_channel_disable_all(ch), 0);
    mu_event_loop_quit(p->loop);
  }
}

static void on_read(mu_channel_t *ch, mu_timestamp_t t, void *arg) {
  probe_t *p = arg;
  note(p, ch, 'R');
  p->reads++;
  p->receive_time = t;
  p->poll_time = mu_event_loop_poll_return_time(p->loop);
  ssize_t n = read(mu_channel_fd(ch), p->data, sizeof p->data - 1);
  p->data[n > 0 ? n : 0] = '\0';
  maybe_stop(p, ch, 'R');
}

static void on_write(mu_channel_t *ch, void *arg) {
  probe_t *p = arg;
  note(p, ch, 'W');
  p->writes++;
  maybe_stop(p, ch, 'W');
}

static void on_close(mu_channel_t *ch, void *arg) {
  probe_t *p = arg;
  note(p, ch, 'C');
  p->closes++;
  maybe_stop(p, ch, 'C');
}

static void on_error(mu_channel_t *ch, void *arg) {
  probe_t *p = arg;
  note(p, ch, 'E');
  p->errors++;
  socklen_t len = sizeof p->so_error;
  /* Sockets only: reading SO_ERROR clears the pending error. */
  if (getsockopt(mu_channel_fd(ch), SOL_SOCKET, SO_ERROR, &p->so_error, &len) != 0) {
    p->so_error = -1;
  }
  maybe_stop(p, ch, 'E');
}

static mu_channel_t *probe_channel(probe_t *p, mu_event_loop_t *loop, int fd) {
  memset(p, 0, sizeof *p);
  p->loop = loop;
  p->ch = mu_channel_new(loop, fd, p);
  CHECK(p->ch != NULL);
  mu_channel_set_read_callback(p->ch, on_read);
  mu_channel_set_write_callback(p->ch, on_write);
  mu_channel_set_close_callback(p->ch, on_close);
  mu_channel_set_error_callback(p->ch, on_error);
  return p->ch;
}

/* ---- read and write callbacks, interest bits ---------------------------- */

static void test_read_callback(void) {
  mu_event_loop_t *loop = new_loop();
  int fds[2];
  make_pipe(fds);
  probe_t p;
  mu_channel_t *ch = probe_channel(&p, loop, fds[0]);
  p.stop_on = 'R';
  CHECK_EQ(mu_channel_fd(ch), fds[0]);
  CHECK(mu_channel_owner_loop(ch) == loop);
  CHECK(mu_channel_is_none_event(ch));
  CHECK(!mu_channel_is_reading(ch));
  CHECK(!mu_channel_is_writing(ch));

  CHECK_EQ(mu_channel_enable_reading(ch), 0);
  CHECK(mu_channel_is_reading(ch));
  CHECK(!mu_channel_is_writing(ch));
  CHECK(!mu_channel_is_none_event(ch));
  CHECK_EQ(mu_channel_events(ch), MU_EV_READ);
  char buf[128];
  mu_channel_events_to_string(ch, buf, sizeof buf);
  CHECK(strstr(buf, "IN") != NULL);
  CHECK(strstr(buf, "OUT") == NULL);

  CHECK(write(fds[1], "hello", 5) == 5);
  mu_timestamp_t before = mu_timestamp_mono_now();
  run_until_quit(loop);
  mu_timestamp_t after = mu_timestamp_mono_now();

  CHECK_EQ(p.reads, 1);
  CHECK_STREQ(p.order, "R");
  CHECK_STREQ(p.data, "hello");
  /* The receive time is the (monotonic) time the poll returned. */
  CHECK_EQ(p.receive_time.us, p.poll_time.us);
  CHECK(p.receive_time.us >= before.us && p.receive_time.us <= after.us);
  CHECK(p.revents & POLLIN);
  CHECK(!(p.revents & POLLOUT));
  char want_prefix[16];
  snprintf(want_prefix, sizeof want_prefix, "%d: ", fds[0]);
  CHECK(strncmp(p.revents_str, want_prefix, strlen(want_prefix)) == 0);
  CHECK(strstr(p.revents_str, "IN") != NULL);
  CHECK(mu_channel_is_none_event(ch)); /* the callback disabled it */

  mu_channel_free(ch);
  close(fds[0]);
  close(fds[1]);
  mu_event_loop_free(loop);
}

/* Fills a non-blocking pipe until the kernel refuses more. */
static size_t fill_pipe(int wfd) {
  static char chunk[4096];
  size_t total = 0;
  for (int i = 0; i < 100000; ++i) {
    ssize_t n = write(wfd, chunk, sizeof chunk);
    if (n < 0) {
      CHECK(errno == EAGAIN);
      return total;
    }
    total += (size_t)n;
  }
  CHECK(!"pipe never filled");
  return total;
}

static void drain_pipe(int rfd) {
  char buf[4096];
  while (read(rfd, buf, sizeof buf) > 0) {
  }
}

static void test_write_callback(void) {
  mu_event_loop_t *loop = new_loop();
  int fds[2];
  make_pipe(fds);
  probe_t p;
  mu_channel_t *ch = probe_channel(&p, loop, fds[1]);
  p.stop_on = 'W';

  /* A full pipe is not writable: no write callback. */
  CHECK(fill_pipe(fds[1]) > 0);
  CHECK_EQ(mu_channel_enable_writing(ch), 0);
  CHECK(mu_channel_is_writing(ch));
  CHECK(!mu_channel_is_reading(ch));
  CHECK_EQ(mu_channel_events(ch), MU_EV_WRITE);
  run_for(loop, 0.05);
  CHECK_EQ(p.writes, 0);

  drain_pipe(fds[0]);
  run_until_quit(loop);
  CHECK_EQ(p.writes, 1);
  CHECK_STREQ(p.order, "W");
  CHECK(p.revents & POLLOUT);
  CHECK(strstr(p.revents_str, "OUT") != NULL);
  CHECK(!mu_channel_is_writing(ch));
  CHECK(mu_channel_is_none_event(ch));

  /* Disabled: a writable pipe no longer calls back. */
  run_for(loop, 0.05);
  CHECK_EQ(p.writes, 1);

  /* Enable, then disable only writing: events go back to none. */
  CHECK_EQ(mu_channel_enable_writing(ch), 0);
  CHECK_EQ(mu_channel_disable_writing(ch), 0);
  CHECK(mu_channel_is_none_event(ch));
  run_for(loop, 0.05);
  CHECK_EQ(p.writes, 1);

  mu_channel_free(ch);
  close(fds[0]);
  close(fds[1]);
  mu_event_loop_free(loop);
}

static void test_read_and_write_bits(void) {
  mu_event_loop_t *loop = new_loop();
  int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  CHECK(efd >= 0);
  probe_t p;
  mu_channel_t *ch = probe_channel(&p, loop, efd);
  CHECK_EQ(mu_channel_enable_reading(ch), 0);
  CHECK_EQ(mu_channel_enable_writing(ch), 0);
  CHECK(mu_channel_is_reading(ch) && mu_channel_is_writing(ch));
  CHECK_EQ(mu_channel_events(ch), MU_EV_READ | MU_EV_WRITE);
  CHECK_EQ(mu_channel_disable_reading(ch), 0);
  CHECK(!mu_channel_is_reading(ch) && mu_channel_is_writing(ch));
  CHECK_EQ(mu_channel_enable_reading(ch), 0);
  CHECK_EQ(mu_channel_disable_all(ch), 0);
  CHECK(mu_channel_is_none_event(ch));
  CHECK(!mu_channel_is_reading(ch) && !mu_channel_is_writing(ch));
  mu_channel_free(ch);
  close(efd);
  mu_event_loop_free(loop);
}

/* ---- dispatch order ------------------------------------------------------ */

static bool log_has_hup_warning(int fd) {
  char needle[64];
  snprintf(needle, sizeof needle, " WARN  fd = %d: POLLHUP", fd);
  return strstr(g_log, needle) != NULL;
}

/* Writer gone, nothing to read: a hang-up with no data is a close, not a read. */
static void check_hup_without_data(bool log_hup) {
  mu_event_loop_t *loop = new_loop();
  int fds[2];
  make_pipe(fds);
  close(fds[1]);
  probe_t p;
  mu_channel_t *ch = probe_channel(&p, loop, fds[0]);
  if (!log_hup)
    mu_channel_do_not_log_hup(ch);
  p.stop_on = 'C';
  CHECK_EQ(mu_channel_enable_reading(ch), 0);
  log_reset();
  run_until_quit(loop);
  CHECK_STREQ(p.order, "C");
  CHECK(p.revents & POLLHUP);
  CHECK(!(p.revents & POLLIN));
  CHECK(strstr(p.revents_str, "HUP") != NULL);
  CHECK(log_has_hup_warning(fds[0]) == log_hup);
  mu_channel_free(ch);
  close(fds[0]);
  mu_event_loop_free(loop);
}

/* Writer gone, data still queued: read first; the close comes once drained. */
static void test_hup_with_data(void) {
  mu_event_loop_t *loop = new_loop();
  int fds[2];
  make_pipe(fds);
  CHECK(write(fds[1], "abc", 3) == 3);
  close(fds[1]);
  probe_t p;
  mu_channel_t *ch = probe_channel(&p, loop, fds[0]);
  p.stop_on = 'C';
  CHECK_EQ(mu_channel_enable_reading(ch), 0);
  run_until_quit(loop);
  CHECK_STREQ(p.order, "RC");
  CHECK_STREQ(p.data, "abc");
  CHECK_EQ(p.closes, 1);
  mu_channel_free(ch);
  close(fds[0]);
  mu_event_loop_free(loop);
}

/* Reader gone: the write end reports an error and stays writable: E then W;
 * an error callback that disables everything stops the dispatch. */
static void check_error_then_write(char stop_on, const char *want) {
  mu_event_loop_t *loop = new_loop();
  int fds[2];
  make_pipe(fds);
  close(fds[0]);
  probe_t p;
  mu_channel_t *ch = probe_channel(&p, loop, fds[1]);
  p.stop_on = stop_on;
  CHECK_EQ(mu_channel_enable_writing(ch), 0);
  run_until_quit(loop);
  CHECK_STREQ(p.order, want);
  CHECK(p.revents & POLLERR);
  CHECK(p.revents & POLLOUT);
  run_for(loop, 0.05);
  CHECK_STREQ(p.order, want); /* disabled: nothing more */
  mu_channel_free(ch);
  close(fds[1]);
  mu_event_loop_free(loop);
}

/* Waits (bounded) until poll(2) reports all of `want` on fd. */
static bool wait_for_revents(int fd, short want) {
  for (int i = 0; i < 100; ++i) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, 50) > 0 && (pfd.revents & want) == want)
      return true;
  }
  return false;
}

static struct sockaddr_in loopback_any_port(void) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

static int udp_socket(const struct sockaddr_in *bind_to) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  CHECK(s >= 0);
  if (bind(s, (const struct sockaddr *)bind_to, sizeof *bind_to) != 0) {
    close(s);
    return -1;
  }
  return s;
}

/* A connected UDP socket with both a pending error (ICMP port unreachable from
 * a closed peer port) and a datagram (from a new socket on that port).
 * Returns -1 if the freed port was taken by someone else meanwhile. */
static int udp_error_and_data(void) {
  struct sockaddr_in any = loopback_any_port();
  int a = udp_socket(&any);
  int b = udp_socket(&any);
  CHECK(a >= 0 && b >= 0);
  struct sockaddr_in peer;
  socklen_t len = sizeof peer;
  CHECK(getsockname(b, (struct sockaddr *)&peer, &len) == 0);
  CHECK(connect(a, (struct sockaddr *)&peer, sizeof peer) == 0);
  close(b);
  CHECK(send(a, "x", 1, 0) == 1);
  CHECK(wait_for_revents(a, POLLERR));
  int c = udp_socket(&peer);
  if (c < 0) {
    close(a);
    return -1;
  }
  struct sockaddr_in self;
  len = sizeof self;
  CHECK(getsockname(a, (struct sockaddr *)&self, &len) == 0);
  CHECK(sendto(c, "y", 1, 0, (struct sockaddr *)&self, sizeof self) == 1);
  CHECK(wait_for_revents(a, POLLIN | POLLERR));
  close(c);
  return a;
}

static void test_error_read_write_order(void) {
  int s = -1;
  for (int attempt = 0; attempt < 10 && s < 0; ++attempt)
    s = udp_error_and_data();
  CHECK(s >= 0);
  mu_event_loop_t *loop = new_loop();
  probe_t p;
  mu_channel_t *ch = probe_channel(&p, loop, s);
  p.stop_on = 'W';
  CHECK_EQ(mu_channel_enable_reading(ch), 0);
  CHECK_EQ(mu_channel_enable_writing(ch), 0);
  run_until_quit(loop);
  CHECK_STREQ(p.order, "ERW");
  CHECK_EQ(p.so_error, ECONNREFUSED);
  CHECK_STREQ(p.data, "y");
  mu_channel_free(ch);
  close(s);
  mu_event_loop_free(loop);
}

/* ---- disable_all --------------------------------------------------------- */

static void on_read_disable(mu_channel_t *ch, mu_timestamp_t t, void *arg) {
  (void)t;
  probe_t *p = arg;
  p->reads++;
  CHECK_EQ(mu_channel_disable_all(ch), 0);
  CHECK(mu_channel_is_none_event(ch));
}

static void test_disable_all_stops_callbacks(void) {
  mu_event_loop_t *loop = new_loop();
  int fds[2];
  make_pipe(fds);
  probe_t p;
  mu_channel_t *ch = probe_channel(&p, loop, fds[0]);
  mu_channel_set_read_callback(ch, on_read_disable);
  /* Never drained: level-triggered, it would call back on every iteration. */
  CHECK(write(fds[1], "z", 1) == 1);
  CHECK_EQ(mu_channel_enable_reading(ch), 0);
  int64_t start = mu_event_loop_iteration(loop);
  run_for(loop, 0.1);
  CHECK_EQ(p.reads, 1);
  CHECK(mu_event_loop_iteration(loop) - start < 20);
  /* Enabling again resumes the callbacks. */
  CHECK_EQ(mu_channel_enable_reading(ch), 0);
  run_for(loop, 0.05);
  CHECK_EQ(p.reads, 2);
  mu_channel_free(ch);
  close(fds[0]);
  close(fds[1]);
  mu_event_loop_free(loop);
}

/* ---- freeing inside callbacks ------------------------------------------- */

static void on_read_free_self(mu_channel_t *ch, mu_timestamp_t t, void *arg) {
  (void)t;
  probe_t *p = arg;
  p->reads++;
  CHECK(p->ch == ch);
  mu_channel_free(ch);
  p->ch = NULL;
}

/* Readable and writable at once: freeing in the read callback must stop the
 * write callback of the same event, and every later one. */
static void test_free_in_own_callback(void) {
  mu_event_loop_t *loop = new_loop();
  int efd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
  CHECK(efd >= 0);
  probe_t p;
  mu_channel_t *ch = probe_channel(&p, loop, efd);
  mu_channel_set_read_callback(ch, on_read_free_self);
  CHECK_EQ(mu_channel_enable_reading(ch), 0);
  CHECK_EQ(mu_channel_enable_writing(ch), 0);
  run_for(loop, 0.1);
  CHECK(p.ch == NULL);
  CHECK_EQ(p.reads, 1);
  CHECK_EQ(p.writes, 0);
  close(efd);
  mu_event_loop_free(loop);
}

/* Two channels, both readable in the same poll. */
typedef struct pair {
  mu_event_loop_t *loop;
  mu_channel_t *ch[2];
  int ran[2];
  int64_t iteration[2];
  int tie_refs[2];
  bool free_other;
} pair_t;

typedef struct side {
  pair_t *pair;
  int index;
} side_t;

static void pair_on_read(mu_channel_t *ch, mu_timestamp_t t, void *arg) {
  (void)t;
  side_t *s = arg;
  pair_t *pr = s->pair;
  CHECK(pr->ch[s->index] == ch);
  pr->ran[s->index]++;
  pr->iteration[s->index] = mu_event_loop_iteration(pr->loop);
  char buf[16];
  CHECK(read(mu_channel_fd(ch), buf, sizeof buf) > 0);
  int other = 1 - s->index;
  if (pr->free_other && pr->ch[other] != NULL) {
    mu_channel_free(pr->ch[other]);
    pr->ch[other] = NULL;
  }
}

static void side_ref(void *arg) {
  side_t *s = arg;
  s->pair->tie_refs[s->index]++;
}

static void side_unref(void *arg) {
  (void)arg;
}

static void run_pair(bool free_other, pair_t *pr) {
  mu_event_loop_t *loop = new_loop();
  memset(pr, 0, sizeof *pr);
  pr->loop = loop;
  pr->free_other = free_other;
  int fds[2][2];
  side_t sides[2];
  for (int i = 0; i < 2; ++i) {
    make_pipe(fds[i]);
    sides[i] = (side_t){pr, i};
    pr->ch[i] = mu_channel_new(loop, fds[i][0], &sides[i]);
    CHECK(pr->ch[i] != NULL);
    mu_channel_set_read_callback(pr->ch[i], pair_on_read);
    mu_channel_tie(pr->ch[i], side_ref, side_unref);
    CHECK_EQ(mu_channel_enable_reading(pr->ch[i]), 0);
  }
  /* Both readable before the loop's first poll. */
  for (int i = 0; i < 2; ++i)
    CHECK(write(fds[i][1], "d", 1) == 1);
  run_for(loop, 0.1);
  for (int i = 0; i < 2; ++i) {
    mu_channel_free(pr->ch[i]);
    close(fds[i][0]);
    close(fds[i][1]);
  }
  mu_event_loop_free(loop);
}

static void test_free_other_with_pending_event(void) {
  pair_t pr;
  /* Control: without freeing, both callbacks run in the same iteration, so the
   * scenario below really has a pending event for the freed channel. */
  run_pair(false, &pr);
  CHECK_EQ(pr.ran[0], 1);
  CHECK_EQ(pr.ran[1], 1);
  CHECK_EQ(pr.iteration[0], pr.iteration[1]);

  /* Whichever runs first frees the other: the other's stale event is dropped,
   * without even the tie's ref. */
  run_pair(true, &pr);
  CHECK_EQ(pr.ran[0] + pr.ran[1], 1);
  int survivor = pr.ran[0] == 1 ? 0 : 1;
  CHECK_EQ(pr.tie_refs[survivor], 1);
  CHECK_EQ(pr.tie_refs[1 - survivor], 0);
  CHECK(pr.ch[1 - survivor] == NULL);
}

/* ---- tie ---------------------------------------------------------------- */

typedef struct owner {
  probe_t probe; /* first: the channel's arg is the owner */
  int refs;
  int unrefs;
  int refs_seen_in_callback;
  bool free_in_read;
} owner_t;

static void owner_ref(void *arg) {
  owner_t *o = arg;
  o->refs++;
  strcat(o->probe.order, "[");
}

static void owner_unref(void *arg) {
  owner_t *o = arg;
  o->unrefs++;
  strcat(o->probe.order, "]");
}

static void owner_on_read(mu_channel_t *ch, mu_timestamp_t t, void *arg) {
  owner_t *o = arg;
  o->refs_seen_in_callback = o->refs - o->unrefs;
  on_read(ch, t, &o->probe);
  if (o->free_in_read) {
    mu_channel_free(ch);
    o->probe.ch = NULL;
    mu_event_loop_quit(o->probe.loop);
  }
}

static void check_tie(bool free_in_read, const char *want) {
  mu_event_loop_t *loop = new_loop();
  int efd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
  CHECK(efd >= 0);
  owner_t o;
  mu_channel_t *ch = probe_channel(&o.probe, loop, efd);
  o.refs = o.unrefs = o.refs_seen_in_callback = 0;
  o.free_in_read = free_in_read;
  o.probe.stop_on = 'W';
  mu_channel_set_read_callback(ch, owner_on_read);
  mu_channel_tie(ch, owner_ref, owner_unref);
  CHECK_EQ(mu_channel_enable_reading(ch), 0);
  CHECK_EQ(mu_channel_enable_writing(ch), 0);
  run_until_quit(loop);
  run_for(loop, 0.02);
  /* One ref/unref pair around all the callbacks of the event. */
  CHECK_STREQ(o.probe.order, want);
  CHECK_EQ(o.refs, 1);
  CHECK_EQ(o.unrefs, 1);
  CHECK_EQ(o.refs_seen_in_callback, 1);
  if (o.probe.ch != NULL)
    mu_channel_free(o.probe.ch);
  close(efd);
  mu_event_loop_free(loop);
}

/* ---- a closed fd --------------------------------------------------------- */

static void test_closed_fd(void) {
  mu_event_loop_t *loop = new_loop();
  int fds[2];
  make_pipe(fds);
  close(fds[0]);
  close(fds[1]);
  int fd = fds[0];
  CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
  probe_t p;
  mu_channel_t *ch = probe_channel(&p, loop, fd);
  p.stop_on = 'E';
  log_reset();
  int rc = mu_channel_enable_reading(ch);
  if (test_using_poll()) {
    /* poll(2) takes any fd and flags it POLLNVAL: an error callback. */
    CHECK_EQ(rc, 0);
    run_until_quit(loop);
    CHECK_STREQ(p.order, "E");
    CHECK(p.revents & POLLNVAL);
    CHECK(strstr(p.revents_str, "NVAL") != NULL);
    CHECK(strstr(g_log, "POLLNVAL") != NULL);
  } else {
    /* epoll refuses at once; the interest is rolled back and the error logged. */
    CHECK_EQ(rc, -EBADF);
    CHECK(mu_channel_is_none_event(ch));
    CHECK(strstr(g_log, " ERROR ") != NULL);
    run_for(loop, 0.05);
    CHECK_STREQ(p.order, "");
  }
  mu_channel_free(ch);
  mu_event_loop_free(loop);
}

/* ---- loop-thread enforcement -------------------------------------------- */

typedef enum { k_call_enable, k_call_disable_all, k_call_free } cross_call_t;

typedef struct cross {
  mu_channel_t *ch;
  cross_call_t call;
} cross_t;

static void *call_from_other_thread(void *arg) {
  cross_t *c = arg;
  switch (c->call) {
    case k_call_enable:
      mu_channel_enable_reading(c->ch);
      break;
    case k_call_disable_all:
      mu_channel_disable_all(c->ch);
      break;
    case k_call_free:
      mu_channel_free(c->ch);
      break;
  }
  return NULL;
}

/* In a child: a channel of this thread's loop, touched from another thread. */
static void die_cross_thread(void *arg) {
  mu_log_set_output(NULL, NULL);
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  int fds[2];
  make_pipe(fds);
  cross_t c = {mu_channel_new(loop, fds[0], NULL), *(cross_call_t *)arg};
  CHECK(c.ch != NULL);
  CHECK_EQ(mu_channel_enable_reading(c.ch), 0);
  pthread_t th;
  CHECK(pthread_create(&th, NULL, call_from_other_thread, &c) == 0);
  pthread_join(th, NULL);
  printf("the cross-thread call returned\n");
}

static void test_cross_thread_calls_abort(void) {
  cross_call_t call = k_call_enable;
  test_expect_death(die_cross_thread, &call, "FATAL mu_channel_enable_reading");
  call = k_call_disable_all;
  test_expect_death(die_cross_thread, &call, "FATAL mu_channel_disable_all");
  call = k_call_free;
  test_expect_death(die_cross_thread, &call, "FATAL mu_channel_free");
}

int main(void) {
  test_time_limit(120);
  /* The HUP and NVAL checks look for WARN lines, whatever MU_LOG_LEVEL says. */
  mu_log_set_level(MU_LOG_LEVEL_INFO);
  /* First, while no loop exists: the death tests' children make their own. */
  test_cross_thread_calls_abort();
  mu_log_set_output(capture_log, NULL);
  test_read_callback();
  test_write_callback();
  test_read_and_write_bits();
  check_hup_without_data(true);
  check_hup_without_data(false);
  test_hup_with_data();
  check_error_then_write('W', "EW");
  check_error_then_write('E', "E");
  test_error_read_write_order();
  test_disable_all_stops_callbacks();
  test_free_in_own_callback();
  test_free_other_with_pending_event();
  check_tie(false, "[RW]");
  check_tie(true, "[R]");
  test_closed_fd();
  mu_log_set_output(NULL, NULL);
  TEST_PASS("channel");
}
