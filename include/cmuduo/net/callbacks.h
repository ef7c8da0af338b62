/* Types shared by the reactor's public headers. */
#ifndef CMUDUO_NET_CALLBACKS_H
#define CMUDUO_NET_CALLBACKS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mu_event_loop mu_event_loop_t;
typedef struct mu_channel mu_channel_t;

/* A unit of work: a function and the argument given at registration, passed back
 * verbatim. Used for queued functors and timer callbacks. */
typedef void (*mu_functor_fn)(void *arg);

/* Names a timer for mu_event_loop_cancel(). A zeroed id names no timer.
 * Ids are never reused within a loop, so cancelling a timer that already fired
 * or was cancelled is a harmless no-op. */
typedef struct mu_timer_id {
  uint64_t seq;
  uint32_t slot;
} mu_timer_id_t;

static inline int mu_timer_id_valid(mu_timer_id_t id) {
  return id.seq != 0;
}

#ifdef __cplusplus
}
#endif
#endif
