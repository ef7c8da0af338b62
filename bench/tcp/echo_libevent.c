/* The TCP benchmark's echo server on libevent, written the way libevent's own
 * samples write one: an evconnlistener, a bufferevent per connection, and a read
 * callback that moves the whole input evbuffer to the output evbuffer
 * (evbuffer_add_buffer moves chains, it copies no bytes).
 *
 *   echo_libevent [-p PORT]       single-threaded, listens on 127.0.0.1 */
#define _GNU_SOURCE
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "peer_util.h"

static void read_cb(struct bufferevent *bev, void *arg) {
  (void)arg;
  evbuffer_add_buffer(bufferevent_get_output(bev), bufferevent_get_input(bev));
}

static void event_cb(struct bufferevent *bev, short events, void *arg) {
  (void)arg;
  if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
    bufferevent_free(bev);
}

static void accept_cb(struct evconnlistener *listener, evutil_socket_t fd,
                      struct sockaddr *addr, int socklen, void *arg) {
  (void)addr;
  (void)socklen;
  (void)arg;
  peer_set_nodelay(fd);
  struct event_base *base = evconnlistener_get_base(listener);
  struct bufferevent *bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
  if (bev == NULL) {
    evutil_closesocket(fd);
    return;
  }
  bufferevent_setcb(bev, read_cb, NULL, event_cb, NULL);
  bufferevent_enable(bev, EV_READ);
}

static void accept_error_cb(struct evconnlistener *listener, void *arg) {
  (void)listener;
  (void)arg;
  perror("accept (raise ulimit -n?)");
  exit(1);
}

int main(int argc, char **argv) {
  struct sockaddr_in a = peer_loopback(peer_parse_port(argc, argv));
  struct event_base *base = event_base_new();
  if (base == NULL)
    return 1;
  struct evconnlistener *l = evconnlistener_new_bind(
      base, accept_cb, NULL,
      LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, SOMAXCONN,
      (struct sockaddr *)&a, sizeof a);
  if (l == NULL) {
    perror("evconnlistener_new_bind");
    return 1;
  }
  evconnlistener_set_error_cb(l, accept_error_cb);
  event_base_dispatch(base);
  evconnlistener_free(l);
  event_base_free(base);
  return 0;
}
