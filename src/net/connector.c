#include "connector.h"

#include <errno.h>
#include <stdbool.h>

#include "channel_internal.h"
#include "cmuduo/base/alloc.h"
#include "cmuduo/base/logging.h"
#include "event_loop_internal.h"
#include "sockets_ops.h"

typedef enum { k_disconnected, k_connecting, k_connected } connector_state_t;

struct mu_connector {
  mu_event_loop_t *loop;
  mu_inet_address_t addr;
  mu_connector_connected_fn connected;
  void *arg;
  bool connect; /* wanted: start() and no stop() since */
  connector_state_t state;
  mu_channel_t channel; /* valid while connecting (fd >= 0) */
  int fd;
  double retry_delay;
  double init_delay;
  double max_delay;
  double timeout;
  mu_timer_id_t retry_timer;
  mu_timer_id_t timeout_timer;
  int failed;
};

static void mu_connector_handle_write(mu_channel_t *ch, void *arg);
static void mu_connector_handle_error(mu_channel_t *ch, void *arg);
/* A refused connect reports a hang-up: that, too, is a failed attempt (the
 * channel stops dispatching a hang-up nobody handles). */
static const mu_channel_ops_t k_connector_ops = {.write = mu_connector_handle_write,
                                                 .close = mu_connector_handle_error,
                                                 .error = mu_connector_handle_error};

mu_connector_t *mu_connector_new(mu_event_loop_t *loop, const mu_inet_address_t *addr,
                                 mu_connector_connected_fn fn, void *arg) {
  mu_connector_t *c = mu_calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->loop = loop;
  c->addr = *addr;
  c->connected = fn;
  c->arg = arg;
  c->fd = -1;
  c->init_delay = c->retry_delay = MU_CONNECTOR_INIT_RETRY_DELAY;
  c->max_delay = MU_CONNECTOR_MAX_RETRY_DELAY;
  return c;
}

static void cancel_timers(mu_connector_t *c) {
  mu_event_loop_cancel(c->loop, c->retry_timer);
  mu_event_loop_cancel(c->loop, c->timeout_timer);
  c->retry_timer = c->timeout_timer = (mu_timer_id_t){0, 0};
}

/* Stops watching the connecting socket and returns it (still open). */
static int release_socket(mu_connector_t *c) {
  int fd = c->fd;
  if (fd >= 0)
    mu_channel_remove(&c->channel);
  c->fd = -1;
  mu_event_loop_cancel(c->loop, c->timeout_timer);
  c->timeout_timer = (mu_timer_id_t){0, 0};
  return fd;
}

void mu_connector_free(mu_connector_t *c) {
  if (c == NULL)
    return;
  mu_event_loop_assert_in_loop_thread(c->loop);
  cancel_timers(c);
  int fd = release_socket(c);
  if (fd >= 0)
    mu_sockets_close(fd);
  mu_free(c);
}

static void mu_connector_start_in_loop(mu_connector_t *c);

static void retry_fire(void *arg) {
  mu_connector_t *c = arg;
  c->retry_timer = (mu_timer_id_t){0, 0};
  if (c->connect)
    mu_connector_start_in_loop(c);
}

/* Closes the failed socket and, if still wanted, tries again after a delay. */
static void mu_connector_retry(mu_connector_t *c, int fd) {
  if (fd >= 0)
    mu_sockets_close(fd);
  c->state = k_disconnected;
  c->failed++;
  if (!c->connect)
    return;
  char buf[MU_INET_ADDRSTRLEN];
  MU_LOG_INFO("connector: retry connecting to %s in %.3f s",
              mu_inet_address_to_ip_port(&c->addr, buf, sizeof buf), c->retry_delay);
  c->retry_timer = mu_event_loop_run_after(c->loop, c->retry_delay, retry_fire, c);
  if (!mu_timer_id_valid(c->retry_timer)) {
    MU_LOG_ERROR("connector: out of memory for the retry timer; giving up on %s", buf);
    c->connect = false;
    return;
  }
  c->retry_delay *= 2;
  if (c->retry_delay > c->max_delay)
    c->retry_delay = c->max_delay;
}

static void timeout_fire(void *arg) {
  mu_connector_t *c = arg;
  c->timeout_timer = (mu_timer_id_t){0, 0};
  if (c->state != k_connecting)
    return;
  MU_LOG_WARN("connector: connect timed out after %.3f s", c->timeout);
  mu_connector_retry(c, release_socket(c));
}

static void connecting(mu_connector_t *c, int fd) {
  c->state = k_connecting;
  c->fd = fd;
  mu_channel_init(&c->channel, c->loop, fd, &k_connector_ops, c);
  mu_channel_do_not_log_hup(&c->channel); /* a refused connect is routine here */
  if (mu_channel_enable_writing(&c->channel) != 0) {
    mu_connector_retry(c, release_socket(c));
    return;
  }
  if (c->timeout > 0) {
    c->timeout_timer = mu_event_loop_run_after(c->loop, c->timeout, timeout_fire, c);
  }
}

static void mu_connector_start_in_loop(mu_connector_t *c) {
  if (!c->connect || c->state != k_disconnected)
    return;
  int fd = mu_sockets_create_nonblocking(mu_inet_address_family(&c->addr));
  if (fd < 0) {
    MU_LOG_ERROR("connector: socket: %s", mu_strerror_tl(-fd));
    mu_connector_retry(c, -1);
    return;
  }
  int rc = mu_sockets_connect(fd, &c->addr);
  switch (-rc) {
    case 0:
    case EINPROGRESS:
    case EINTR:
    case EISCONN:
      connecting(c, fd);
      return;
    case EAGAIN:
    case EADDRINUSE:
    case EADDRNOTAVAIL:
    case ECONNREFUSED:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ETIMEDOUT:
      mu_connector_retry(c, fd);
      return;
    default: /* EACCES, EPERM, EAFNOSUPPORT, EBADF, ...: retrying cannot help */
      MU_LOG_ERROR("connector: connect: %s; giving up", mu_strerror_tl(-rc));
      mu_sockets_close(fd);
      c->state = k_disconnected;
      c->failed++;
      c->connect = false;
      return;
  }
}

static void mu_connector_handle_write(mu_channel_t *ch, void *arg) {
  (void)ch;
  mu_connector_t *c = arg;
  if (c->state != k_connecting)
    return;
  int fd = release_socket(c);
  int err = mu_sockets_get_socket_error(fd);
  if (err != 0) {
    MU_LOG_DEBUG("connector: SO_ERROR = %d %s", err, mu_strerror_tl(err));
    mu_connector_retry(c, fd);
  } else if (mu_sockets_is_self_connect(fd)) {
    MU_LOG_WARN("connector: self connect; retrying");
    mu_connector_retry(c, fd);
  } else {
    c->state = k_connected;
    c->retry_delay = c->init_delay;
    if (c->connect) {
      c->connected(fd, c->arg);
    } else {
      mu_sockets_close(fd);
    }
  }
}

static void mu_connector_handle_error(mu_channel_t *ch, void *arg) {
  (void)ch;
  mu_connector_t *c = arg;
  if (c->state != k_connecting)
    return;
  int fd = release_socket(c);
  MU_LOG_DEBUG("connector: error %s", mu_strerror_tl(mu_sockets_get_socket_error(fd)));
  mu_connector_retry(c, fd);
}

void mu_connector_handoff_failed(mu_connector_t *c) {
  mu_event_loop_assert_in_loop_thread(c->loop);
  mu_connector_retry(c, -1);
}

void mu_connector_start(mu_connector_t *c) {
  mu_event_loop_assert_in_loop_thread(c->loop);
  c->connect = true;
  /* "Connected" only means the last socket was handed off: starting again
   * connects anew (the owner calls this only when it holds no connection). */
  if (c->state == k_connected)
    c->state = k_disconnected;
  /* An attempt now replaces a retry still waiting: left pending, its timer
   * would start a second retry chain whose id nobody keeps, so stop() and
   * free() could not cancel it (it would fire on a freed connector). */
  if (c->state == k_disconnected) {
    mu_event_loop_cancel(c->loop, c->retry_timer);
    c->retry_timer = (mu_timer_id_t){0, 0};
  }
  mu_connector_start_in_loop(c);
}

void mu_connector_restart(mu_connector_t *c) {
  mu_event_loop_assert_in_loop_thread(c->loop);
  cancel_timers(c);
  int fd = release_socket(c);
  if (fd >= 0)
    mu_sockets_close(fd);
  c->state = k_disconnected;
  c->retry_delay = c->init_delay;
  c->connect = true;
  mu_connector_start_in_loop(c);
}

void mu_connector_stop(mu_connector_t *c) {
  mu_event_loop_assert_in_loop_thread(c->loop);
  c->connect = false;
  cancel_timers(c);
  int fd = release_socket(c);
  if (fd >= 0)
    mu_sockets_close(fd);
  if (c->state == k_connecting)
    c->state = k_disconnected;
}

void mu_connector_set_connect_timeout(mu_connector_t *c, double seconds) {
  c->timeout = seconds;
}

void mu_connector_set_retry_delays(mu_connector_t *c, double initial, double max) {
  c->init_delay = c->retry_delay = initial;
  c->max_delay = max;
}

int mu_connector_failed_attempts(const mu_connector_t *c) {
  return c->failed;
}
