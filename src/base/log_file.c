#include "cmuduo/base/log_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmuduo/base/alloc.h"

#define MU_LOG_FILE_BUFFER (64 * 1024)
#define MU_LOG_FILE_DEFAULT_ROLL ((size_t)1 << 30)

struct mu_log_file {
  pthread_mutex_t mutex; /* used only when thread_safe */
  mu_log_file_options_t opts;
  int fd;
  size_t written;   /* bytes in the current file, buffered ones included */
  time_t last_roll; /* the second the current file was opened */
  time_t next_day;  /* local midnight that ends the current file's day */
  time_t last_flush;
  int appends; /* since the last time check */
  /* errno last reported, so a full disk is said once: writes and opens apart,
   * else the write that succeeds between two failed rolls makes every roll
   * (each line, past roll_size) say its error again. */
  int last_error;
  int last_open_error;
  /* A roll whose open failed: its error and the second it was tried in. The
   * rolls the file starts itself (size, day) wait for a later second, so a
   * disk that stays full costs one failing open() a second, not one a line. */
  int roll_failed;
  time_t roll_failed_at;
  size_t buffered;
  char *buffer; /* MU_LOG_FILE_BUFFER bytes */
  char *path;
  char basename[];
};

void mu_log_file_options_init(mu_log_file_options_t *o) {
  *o = (mu_log_file_options_t){
      .roll_size = MU_LOG_FILE_DEFAULT_ROLL,
      .flush_interval = 3,
      .check_every_n = 1024,
  };
}

static time_t file_now(const mu_log_file_t *f) {
  return f->opts.clock ? f->opts.clock(f->opts.clock_arg) : time(NULL);
}

/* Said once per kind of error in a row: a full disk must not flood stderr. */
static void report_error(int *last, const char *what, const char *path, int err) {
  if (err == *last)
    return;
  *last = err;
  char msg[512];
  char text[128];
  int n = snprintf(msg, sizeof msg, "cmuduo log_file: %s %s: %s\n", what, path,
                   strerror_r(err, text, sizeof text));
  if (n > 0) {
    ssize_t w =
        write(STDERR_FILENO, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg);
    (void)w;
  }
}

static int write_fully(mu_log_file_t *f, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(f->fd, data, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      int err = errno;
      report_error(&f->last_error, "cannot write", f->path, err);
      return -err;
    }
    data += n;
    len -= (size_t)n;
  }
  f->last_error = 0;
  return 0;
}

static int flush_locked(mu_log_file_t *f) {
  size_t n = f->buffered;
  f->buffered = 0;
  return n ? write_fully(f, f->buffer, n) : 0;
}

static int put(mu_log_file_t *f, const char *data, size_t len) {
  f->written += len;
  if (f->buffered + len <= MU_LOG_FILE_BUFFER) {
    memcpy(f->buffer + f->buffered, data, len);
    f->buffered += len;
    return 0;
  }
  int rc = flush_locked(f);
  if (len >= MU_LOG_FILE_BUFFER) {
    int rc2 =
        write_fully(f, data, len); /* big chunks (the async back end's) skip the copy */
    return rc ? rc : rc2;
  }
  memcpy(f->buffer, data, len);
  f->buffered = len;
  return rc;
}

int mu_log_file_make_name(const char *basename, time_t when, char *buf, size_t len) {
  struct tm tm;
  localtime_r(&when, &tm);
  char host[256];
  if (gethostname(host, sizeof host) != 0)
    snprintf(host, sizeof host, "unknownhost");
  host[sizeof host - 1] = '\0';
  return snprintf(buf, len, "%s.%04d%02d%02d-%02d%02d%02d.%s.%d.log", basename,
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                  tm.tm_sec, host, (int)getpid());
}

/* The next local midnight after `now`; mktime copes with month ends and DST. */
static time_t next_local_midnight(time_t now) {
  struct tm tm;
  localtime_r(&now, &tm);
  tm.tm_mday += 1;
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  tm.tm_isdst = -1;
  time_t t = mktime(&tm);
  return t > now ? t : now + 24 * 3600;
}

/* Opens the file for `now`; keeps the current one if that fails. */
static int open_file(mu_log_file_t *f, time_t now) {
  int need = mu_log_file_make_name(f->basename, now, NULL, 0);
  if (need < 0)
    return -EINVAL;
  char *path = mu_malloc((size_t)need + 1);
  if (path == NULL)
    return -ENOMEM;
  mu_log_file_make_name(f->basename, now, path, (size_t)need + 1);
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    int err = errno;
    report_error(&f->last_open_error, "cannot open", path, err);
    mu_free(path);
    return -err;
  }
  f->last_open_error = 0;
  if (f->fd >= 0)
    close(f->fd);
  mu_free(f->path);
  f->fd = fd;
  f->path = path;
  f->written = 0;
  f->last_roll = now;
  f->last_flush = now;
  f->next_day = next_local_midnight(now);
  return 0;
}

/* Returns 0, -EAGAIN or open's error (the current file kept). The flush of
 * the old file is another matter: its write error goes to *wrc if given, so
 * that a caller can tell a roll that failed from one that lost data. Unless
 * `forced` (mu_log_file_roll), a roll that already failed in this second is
 * not tried again: the earlier error comes back, with no flush and no open. */
static int roll_locked(mu_log_file_t *f, time_t now, int *wrc, bool forced) {
  if (now == f->last_roll)
    return -EAGAIN;
  if (!forced && f->roll_failed && now == f->roll_failed_at)
    return f->roll_failed;
  int rc = flush_locked(f);
  if (rc && wrc)
    *wrc = rc;
  rc = open_file(f, now);
  f->roll_failed = rc;
  f->roll_failed_at = now;
  return rc;
}

mu_log_file_t *mu_log_file_new(const char *basename, const mu_log_file_options_t *opts) {
  if (basename == NULL || basename[0] == '\0') {
    errno = EINVAL;
    return NULL;
  }
  size_t blen = strlen(basename);
  mu_log_file_t *f = mu_calloc(1, sizeof *f + blen + 1);
  if (f == NULL)
    return NULL;
  if (opts) {
    f->opts = *opts;
  } else {
    mu_log_file_options_init(&f->opts);
  }
  if (f->opts.roll_size == 0)
    f->opts.roll_size = 1;
  if (f->opts.check_every_n < 1)
    f->opts.check_every_n = 1;
  if (f->opts.flush_interval < 0)
    f->opts.flush_interval = 0;
  memcpy(f->basename, basename, blen + 1);
  f->fd = -1;
  f->buffer = mu_malloc(MU_LOG_FILE_BUFFER);
  pthread_mutexattr_t mattr; /* short sections: spin a little before sleeping */
  pthread_mutexattr_init(&mattr);
  pthread_mutexattr_settype(&mattr, PTHREAD_MUTEX_ADAPTIVE_NP);
  pthread_mutex_init(&f->mutex, &mattr);
  pthread_mutexattr_destroy(&mattr);
  int rc = f->buffer ? open_file(f, file_now(f)) : -ENOMEM;
  if (rc != 0) {
    mu_log_file_free(f);
    errno = -rc;
    return NULL;
  }
  return f;
}

void mu_log_file_free(mu_log_file_t *f) {
  if (f == NULL)
    return;
  if (f->fd >= 0) {
    flush_locked(f);
    close(f->fd);
  }
  pthread_mutex_destroy(&f->mutex);
  mu_free(f->buffer);
  mu_free(f->path);
  mu_free(f);
}

static void lock(mu_log_file_t *f) {
  if (f->opts.thread_safe)
    pthread_mutex_lock(&f->mutex);
}

static void unlock(mu_log_file_t *f) {
  if (f->opts.thread_safe)
    pthread_mutex_unlock(&f->mutex);
}

/* How much of data[0..len) goes into the current file: all of it if it fits,
 * else up to the last line end that fits, and *roll says a new file takes the
 * rest. A file that is still empty takes at least its first line whole. */
static size_t fitting_part(const mu_log_file_t *f, const char *data, size_t len,
                           bool *roll) {
  size_t room = f->written < f->opts.roll_size ? f->opts.roll_size - f->written : 0;
  *roll = false;
  if (len <= room)
    return len;
  const char *nl = room ? memrchr(data, '\n', room) : NULL;
  *roll = true;
  if (nl)
    return (size_t)(nl + 1 - data);
  if (f->written > 0)
    return 0;
  nl = memchr(data + room, '\n', len - room);
  size_t n = nl ? (size_t)(nl + 1 - data) : len;
  *roll = n < len;
  return n;
}

static int append_locked(mu_log_file_t *f, const char *data, size_t len) {
  int rc = 0;
  while (len > 0) {
    bool roll;
    size_t n = fitting_part(f, data, len, &roll);
    if (n > 0) {
      int prc = put(f, data, n);
      if (prc)
        rc = prc;
      data += n;
      len -= n;
    }
    if (roll && roll_locked(f, file_now(f), &rc, false) != 0 && len > 0) {
      /* The roll is postponed (same second) or failed: the rest goes on here. */
      int prc = put(f, data, len);
      if (prc)
        rc = prc;
      break;
    }
  }
  return rc;
}

/* Every check_every_n appends the clock is read: a new local day rolls before
 * the data is written (so a line lands in its own day's file), an elapsed
 * flush interval flushes after. */
int mu_log_file_append(mu_log_file_t *f, const char *data, size_t len) {
  lock(f);
  int rc = 0;
  time_t now = 0;
  bool check = ++f->appends >= f->opts.check_every_n;
  if (check) {
    f->appends = 0;
    now = file_now(f);
    if (now >= f->next_day)
      roll_locked(f, now, &rc, false); /* a failed open was said on stderr; the data
                                   goes on into the current file */
  }
  int arc = append_locked(f, data, len);
  if (arc)
    rc = arc;
  if (check && now - f->last_flush >= f->opts.flush_interval) {
    f->last_flush = now;
    int frc = flush_locked(f);
    if (frc)
      rc = frc;
  }
  unlock(f);
  return rc;
}

int mu_log_file_flush(mu_log_file_t *f) {
  lock(f);
  int rc = flush_locked(f);
  unlock(f);
  return rc;
}

int mu_log_file_roll(mu_log_file_t *f) {
  lock(f);
  int rc = roll_locked(f, file_now(f), NULL, true);
  unlock(f);
  return rc;
}

char *mu_log_file_path(mu_log_file_t *f, char *buf, size_t len) {
  lock(f);
  snprintf(buf, len, "%s", f->path);
  unlock(f);
  return buf;
}

void mu_log_file_output(const char *line, size_t len, void *f) {
  mu_log_file_append(f, line, len);
}

void mu_log_file_flush_output(void *f) {
  mu_log_file_flush(f);
}
