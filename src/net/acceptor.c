#include "acceptor.h"

#include <errno.h>

#include "channel_internal.h"
#include "cmuduo/base/alloc.h"
#include "cmuduo/base/logging.h"
#include "sockets_ops.h"

struct mu_acceptor {
  mu_event_loop_t *loop;
  int fd;
  mu_channel_t channel;
  mu_new_connection_fn new_connection;
  void *arg;
  bool listening;
  bool paused;   /* out of resources: waiting for the resume timer */
  bool reported; /* the current exhaustion episode has been logged */
  int budget;
  double pause_seconds;
  mu_timer_id_t resume_timer;
};

static void mu_acceptor_handle_read(mu_channel_t *ch, mu_timestamp_t t, void *arg);
static const mu_channel_ops_t k_acceptor_ops = {.read = mu_acceptor_handle_read};

mu_acceptor_t *mu_acceptor_new(mu_event_loop_t *loop, const mu_inet_address_t *addr,
                               bool reuse_port) {
  int fd = mu_sockets_create_nonblocking(mu_inet_address_family(addr));
  if (fd < 0) {
    errno = -fd;
    return NULL;
  }
  int rc = mu_sockets_set_reuse_addr(fd, true);
  if (rc == 0 && reuse_port)
    rc = mu_sockets_set_reuse_port(fd, true);
  if (rc == 0)
    rc = mu_sockets_bind(fd, addr);
  mu_acceptor_t *a = rc == 0 ? mu_calloc(1, sizeof *a) : NULL;
  if (a == NULL) {
    mu_sockets_close(fd);
    errno = rc != 0 ? -rc : ENOMEM;
    return NULL;
  }
  a->loop = loop;
  a->fd = fd;
  a->budget = 64;
  a->pause_seconds = 0.1;
  mu_channel_init(&a->channel, loop, fd, &k_acceptor_ops, a);
  return a;
}

void mu_acceptor_free(mu_acceptor_t *a) {
  if (a == NULL)
    return;
  mu_event_loop_assert_in_loop_thread(a->loop);
  mu_event_loop_cancel(a->loop, a->resume_timer);
  mu_channel_remove(&a->channel);
  mu_sockets_close(a->fd);
  mu_free(a);
}

void mu_acceptor_set_new_connection_callback(mu_acceptor_t *a, mu_new_connection_fn fn,
                                             void *arg) {
  a->new_connection = fn;
  a->arg = arg;
}

int mu_acceptor_listen(mu_acceptor_t *a) {
  mu_event_loop_assert_in_loop_thread(a->loop);
  if (a->listening)
    return 0;
  int rc = mu_sockets_listen(a->fd);
  if (rc == 0)
    rc = mu_channel_enable_reading(&a->channel);
  if (rc == 0)
    a->listening = true;
  return rc;
}

bool mu_acceptor_listening(const mu_acceptor_t *a) {
  return a->listening;
}

int mu_acceptor_local_address(const mu_acceptor_t *a, mu_inet_address_t *out) {
  return mu_sockets_get_local_addr(a->fd, out);
}

void mu_acceptor_set_pause_on_exhaustion(mu_acceptor_t *a, double seconds) {
  a->pause_seconds = seconds > 0 ? seconds : 0.001;
}

void mu_acceptor_set_accept_budget(mu_acceptor_t *a, int budget) {
  a->budget = budget > 0 ? budget : 1;
}

static void resume(void *arg) {
  mu_acceptor_t *a = arg;
  a->resume_timer = (mu_timer_id_t){0, 0};
  a->paused = false;
  if (a->listening)
    mu_channel_enable_reading(&a->channel);
}

/* Out of descriptors or memory: a level-triggered listener would report the
 * same pending connection forever, so stop watching it for a while. */
static void mu_acceptor_pause_listener(mu_acceptor_t *a, int err) {
  if (!a->reported) {
    MU_LOG_ERROR(
        "accept on fd %d: %s; pausing the listener for %.3f s (logged once "
        "until an accept succeeds)",
        a->fd, mu_strerror_tl(err), a->pause_seconds);
    a->reported = true;
  }
  a->resume_timer = mu_event_loop_run_after(a->loop, a->pause_seconds, resume, a);
  if (!mu_timer_id_valid(a->resume_timer)) {
    /* Out of memory too: with no timer to watch the listener again, pausing
     * would stop accepting for good. Keep watching (the next wake-up tries
     * again) until memory or descriptors come back. */
    return;
  }
  a->paused = true;
  mu_channel_disable_reading(&a->channel);
}

static bool is_exhaustion(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static void mu_acceptor_handle_read(mu_channel_t *ch, mu_timestamp_t t, void *arg) {
  (void)ch;
  (void)t;
  mu_acceptor_t *a = arg;
  for (int i = 0; i < a->budget && a->listening && !a->paused; ++i) {
    mu_inet_address_t peer;
    int fd = mu_sockets_accept(a->fd, &peer);
    if (fd >= 0) {
      a->reported = false;
      if (a->new_connection) {
        a->new_connection(fd, &peer, a->arg);
      } else {
        mu_sockets_close(fd);
      }
      continue;
    }
    int err = -fd;
    if (err == EAGAIN || err == EWOULDBLOCK)
      return;
    if (is_exhaustion(err)) {
      mu_acceptor_pause_listener(a, err);
      return;
    }
    /* ECONNABORTED, EPROTO, EPERM (firewall): that connection is gone; EINTR:
     * the call took none. Either way, keep accepting the others. */
    if (err != EINTR && err != ECONNABORTED)
      MU_LOG_WARN("accept: %s", mu_strerror_tl(err));
  }
}
