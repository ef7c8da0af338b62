/* A countdown latch: wait() blocks until count_down() has been called `count`
 * times. A value type so it can live on the stack; every function but
 * init/destroy is thread-safe. */
#ifndef CMUDUO_BASE_COUNTDOWN_LATCH_H
#define CMUDUO_BASE_COUNTDOWN_LATCH_H

#include <pthread.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mu_countdown_latch {
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  int count;
} mu_countdown_latch_t;

void mu_countdown_latch_init(mu_countdown_latch_t *latch, int count);
void mu_countdown_latch_destroy(mu_countdown_latch_t *latch);
void mu_countdown_latch_wait(mu_countdown_latch_t *latch);
void mu_countdown_latch_count_down(mu_countdown_latch_t *latch);
int mu_countdown_latch_get_count(mu_countdown_latch_t *latch);

#ifdef __cplusplus
}
#endif
#endif
