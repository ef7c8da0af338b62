#include "cmuduo/base/countdown_latch.h"

void mu_countdown_latch_init(mu_countdown_latch_t *latch, int count) {
  pthread_mutex_init(&latch->mutex, NULL);
  pthread_cond_init(&latch->cond, NULL);
  latch->count = count;
}

void mu_countdown_latch_destroy(mu_countdown_latch_t *latch) {
  pthread_cond_destroy(&latch->cond);
  pthread_mutex_destroy(&latch->mutex);
}

void mu_countdown_latch_wait(mu_countdown_latch_t *latch) {
  pthread_mutex_lock(&latch->mutex);
  while (latch->count > 0)
    pthread_cond_wait(&latch->cond, &latch->mutex);
  pthread_mutex_unlock(&latch->mutex);
}

void mu_countdown_latch_count_down(mu_countdown_latch_t *latch) {
  pthread_mutex_lock(&latch->mutex);
  if (latch->count > 0 && --latch->count == 0)
    pthread_cond_broadcast(&latch->cond);
  pthread_mutex_unlock(&latch->mutex);
}

int mu_countdown_latch_get_count(mu_countdown_latch_t *latch) {
  pthread_mutex_lock(&latch->mutex);
  int n = latch->count;
  pthread_mutex_unlock(&latch->mutex);
  return n;
}
