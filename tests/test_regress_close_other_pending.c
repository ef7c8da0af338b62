/* Regression (classic reactor bug): connection B's callback closes connection
 * A while A has an event pending in the same poll result. A reactor that
 * frees A's channel, or closes and reuses A's descriptor, before it has
 * dispatched the rest of that result hands the stale event to freed memory
 * or to the wrong connection.
 *
 * Each round opens two connections to a server whose loop runs in this thread
 * (so neither event can be handled before both are pending), makes both
 * readable while the loop is stopped, then runs it. Whichever connection's
 * message callback runs first force-closes the other (and sends to it, shuts
 * it down, closes it again); A's pending event is, by round, data, end of
 * file (the client half-closed) or a reset, and half the rounds make B ready
 * first, so that B's callback closes A with A's event still undispatched. Checked: each
 * connection goes down exactly once, no callback of a connection runs after
 * its down callback, calls on a down connection are harmless, the server
 * forgets both, and the peers see the close. The clients' sockets sit at high
 * descriptor numbers, so the server's next accept reuses the numbers the
 * closed connections had: stale state tied to a number would show in the
 * next round. Under both pollers (MU_POLLER) and ASan. */
#include "tcp_test_util.h"

#include <fcntl.h>

#define ROUNDS 300
#define CLIENT_FD_BASE 700

typedef struct slot {
  mu_tcp_connection_t *conn; /* our reference */
  uint16_t port;
  int down;
  int messages_after_down;
  int messages;
} slot_t;

static struct {
  slot_t s[2];
  int ups;
  int closer; /* index whose callback closed the other, or -1 */
  int closes_done;
} g;

static slot_t *slot_of(mu_tcp_connection_t *conn) {
  for (int i = 0; i < 2; ++i) {
    if (g.s[i].conn == conn)
      return &g.s[i];
  }
  return NULL;
}

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  uint16_t port = mu_inet_address_port(mu_tcp_connection_peer_address(conn));
  if (mu_tcp_connection_connected(conn)) {
    for (int i = 0; i < 2; ++i) {
      if (g.s[i].port == port && g.s[i].conn == NULL) {
        mu_tcp_connection_ref(conn);
        g.s[i].conn = conn;
        g.ups++;
        return;
      }
    }
    CHECK(!"an unknown connection came up");
  }
  slot_t *s = slot_of(conn);
  CHECK(s != NULL);
  s->down++;
}

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t t,
                       void *arg) {
  (void)t;
  (void)arg;
  slot_t *s = slot_of(conn);
  CHECK(s != NULL);
  if (s->down)
    s->messages_after_down++;
  s->messages++;
  mu_buffer_retrieve_all(buf);
  int me = (int)(s - g.s);
  if (g.closer < 0) {
    g.closer = me;
    mu_tcp_connection_t *other = g.s[1 - me].conn;
    mu_tcp_connection_force_close(other);
    /* More calls on the doomed connection in the same callback: harmless. */
    mu_tcp_connection_send(other, "x", 1);
    mu_tcp_connection_shutdown(other);
    mu_tcp_connection_force_close(other);
  }
}

/* A blocking client socket moved to a high descriptor number. */
static int connect_high(uint16_t port) {
  int fd = tt_connect(port);
  int high = fcntl(fd, F_DUPFD_CLOEXEC, CLIENT_FD_BASE);
  CHECK(high >= CLIENT_FD_BASE);
  CHECK(close(fd) == 0);
  return high;
}

static uint16_t local_port(int fd) {
  struct sockaddr_in me;
  socklen_t len = sizeof me;
  CHECK(getsockname(fd, (struct sockaddr *)&me, &len) == 0);
  return ntohs(me.sin_port);
}

static bool both_up(void *arg) {
  (void)arg;
  return g.ups == 2;
}

static bool closed_one(void *arg) {
  (void)arg;
  return g.closer >= 0 && g.s[1 - g.closer].down == 1;
}

typedef struct wait_count {
  mu_tcp_server_t *server;
  size_t want;
} wait_count_t;

static bool server_has(void *arg) {
  wait_count_t *w = arg;
  return mu_tcp_server_connection_count(w->server) == w->want;
}

/* kind 0: A's pending event is data; 1: end of file; 2: a reset. A is the
 * connection opened first, B the second. */
static void one_round(mu_event_loop_t *loop, mu_tcp_server_t *server, uint16_t port,
                      int kind, bool closer_first) {
  memset(&g, 0, sizeof g);
  g.closer = -1;
  int fd[2];
  for (int i = 0; i < 2; ++i) {
    fd[i] = connect_high(port);
    g.s[i].port = local_port(fd[i]);
  }
  CHECK(tt_loop_run_until(loop, both_up, NULL, 30));

  /* Both pending before the loop runs again. epoll reports ready descriptors
   * in the order they became ready: with closer_first, B's data comes first,
   * so B's callback closes A while A's event still waits in the same result;
   * otherwise A's event is handled first. */
  if (closer_first)
    tt_write_all(fd[1], "b", 1);
  switch (kind) {
    case 0:
      tt_write_all(fd[0], "a", 1);
      break;
    case 1:
      CHECK(shutdown(fd[0], SHUT_WR) == 0);
      break;
    default: {
      struct linger lg = {1, 0};
      CHECK(setsockopt(fd[0], SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
      CHECK(close(fd[0]) == 0); /* RST */
      fd[0] = -1;
      break;
    }
  }
  if (!closer_first)
    tt_write_all(fd[1], "b", 1);
  tt_sleep_ms(1);
  CHECK(tt_loop_run_until(loop, closed_one, NULL, 30));

  /* End the survivor from the client side, then expect both gone. */
  for (int i = 0; i < 2; ++i) {
    if (fd[i] >= 0) {
      close(fd[i]);
    }
  }
  wait_count_t w = {server, 0};
  CHECK(tt_loop_run_until(loop, server_has, &w, 30));
  for (int i = 0; i < 2; ++i) {
    CHECK_EQ(g.s[i].down, 1);
    CHECK_EQ(g.s[i].messages_after_down, 0);
    /* Calls through a reference to a connection that is down: no-ops. */
    CHECK(mu_tcp_connection_send(g.s[i].conn, "y", 1) != 0);
    mu_tcp_connection_force_close(g.s[i].conn);
    mu_tcp_connection_shutdown(g.s[i].conn);
    mu_tcp_connection_unref(g.s[i].conn);
  }
  /* Nothing may have run after the close (the loop drained its functors
   * while waiting above); run once more to be sure nothing stale fires. */
  tt_loop_run_for(loop, 0.002);
}

int main(void) {
  tt_count_allocations();
  tt_init("regress_close_other_pending", 240);
  tt_raise_nofile(CLIENT_FD_BASE + 64);
  long blocks0 = tt_live_blocks();
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  uint16_t port;
  mu_tcp_server_t *server = tt_server_new_loopback(loop, 0, "pending", &port);
  mu_tcp_server_set_connection_callback(server, on_connection, NULL);
  mu_tcp_server_set_message_callback(server, on_message, NULL);
  CHECK_EQ(mu_tcp_server_start(server), 0);

  int closer_first = 0;
  for (int r = 0; r < ROUNDS; ++r) {
    one_round(loop, server, port, r % 3, (r / 3) % 2 == 0);
    if (g.closer == 0)
      closer_first++;
  }
  printf(
      "%d rounds: the first connection's callback closed the second in %d, the "
      "second closed the first in %d\n",
      ROUNDS, closer_first, ROUNDS - closer_first);
  mu_tcp_server_free(server);
  mu_event_loop_free(loop);
  CHECK_EQ(tt_live_blocks(), blocks0);
  printf("regress_close_other_pending: ok\n");
  return 0;
}
