/* Static files (see cmuduo/http/http_static.h for what a request gets).
 *
 * A request costs one openat2 (or, without it, one openat per path
 * component), one fstat, a pread for a small file (a bigger one goes out with
 * sendfile) and the response's own calls: every header value is formatted
 * into stack buffers, nothing is allocated here. The pure steps
 * (path cleaning, Range, ETag lists) are apart at the top so that tests reach
 * them through http_static_internal.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/http/http_static.h"
#include "http_format_internal.h"
#include "http_static_internal.h"

/* ---- path cleaning ------------------------------------------------------- */

static int hex_digit(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c |= 0x20;
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* The segment being read: where it starts in out, how long it is, how many
 * of its first bytes are dots (a segment of only dots is "." or ".."), and
 * whether it did not fit (which matters only if it is kept). */
typedef struct seg_state {
  size_t begin, len, dots;
  bool overflow;
} seg_state_t;

int mu_http_static_clean_path(const char *raw, size_t raw_len, char *out, size_t out_size,
                              mu_http_clean_path_t *info) {
  if (raw_len == 0 || raw[0] != '/')
    return -EINVAL;
  size_t o = 0; /* length of the kept path in out */
  bool hidden = false, too_long = out_size == 0, last_slash = false, dot_dot = false;
  seg_state_t seg = {0, 0, 0, false};
  /* i runs one past the end: the end closes the last segment like a '/'. */
  for (size_t i = 1; i <= raw_len; ++i) {
    char c = '/';
    if (i < raw_len) {
      c = raw[i];
      if (c == '%') {
        int hi = i + 2 < raw_len ? hex_digit((unsigned char)raw[i + 1]) : -1;
        int lo = hi >= 0 ? hex_digit((unsigned char)raw[i + 2]) : -1;
        if (lo < 0)
          return -EINVAL;
        c = (char)(hi * 16 + lo);
        i += 2;
      }
      if (c == '\0')
        return -EINVAL;
      last_slash = c == '/';
    }
    if (c != '/') {
      if (seg.len == seg.dots && c == '.')
        seg.dots++;
      if (seg.begin + seg.len + 1 < out_size) {
        out[seg.begin + seg.len] = c;
      } else {
        seg.overflow = true; /* keep going: a bad escape or ".." still wins */
      }
      seg.len++;
      continue;
    }
    /* A segment ends: drop "" and ".", refuse "..", keep the rest. */
    if (seg.len == seg.dots && seg.len <= 2) {
      dot_dot = dot_dot || seg.len == 2; /* a bad escape further on still wins */
    } else {
      too_long = too_long || seg.overflow;
      if (o > 0 && o < out_size)
        out[o] = '/';
      if (seg.dots > 0)
        hidden = true;
      o = seg.begin + seg.len;
    }
    seg = (seg_state_t){o == 0 ? 0 : o + 1, 0, 0, false};
  }
  if (dot_dot)
    return -EACCES;
  if (too_long || o >= out_size)
    return -ENAMETOOLONG;
  out[o] = '\0';
  if (info != NULL) {
    info->len = o;
    info->dir_form = last_slash || raw_len == 1;
    info->hidden = hidden;
  }
  return 0;
}

/* ---- Range --------------------------------------------------------------- */

static const char *skip_ows(const char *p) {
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* Decimal digits at *p, saturating at UINT64_MAX (a huge position is still
 * a position: past any file). */
static uint64_t parse_u64(const char **p) {
  uint64_t v = 0;
  const char *s = *p;
  for (; is_digit(*s); ++s) {
    unsigned d = (unsigned)(*s - '0');
    v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
  }
  *p = s;
  return v;
}

typedef struct range_spec {
  bool suffix;   /* "-n" */
  bool has_last; /* "a-b" rather than "a-" */
  uint64_t first, last;
} range_spec_t;

/* One range-spec at *p; false when malformed. */
static bool parse_range_spec(const char **p, range_spec_t *r) {
  const char *s = *p;
  *r = (range_spec_t){0};
  if (*s == '-') {
    r->suffix = true;
    ++s;
    if (!is_digit(*s))
      return false;
    r->last = parse_u64(&s);
  } else {
    if (!is_digit(*s))
      return false;
    r->first = parse_u64(&s);
    if (*s++ != '-')
      return false;
    if (is_digit(*s)) {
      r->has_last = true;
      r->last = parse_u64(&s);
      if (r->last < r->first)
        return false; /* RFC 9110 §14.1.1: an invalid range-spec */
    }
  }
  *p = s;
  return true;
}

mu_http_range_result_t mu_http_static_parse_range(const char *value, uint64_t size,
                                                  uint64_t *first, uint64_t *len) {
  if (value == NULL)
    return MU_HTTP_RANGE_NONE;
  const char *p = skip_ows(value);
  if (strncasecmp(p, "bytes=", 6) != 0)
    return MU_HTTP_RANGE_NONE;
  p += 6;
  range_spec_t r = {0};
  int count = 0;
  for (;;) {
    p = skip_ows(p);
    if (*p == ',') {
      ++p;
      continue;
    }
    if (*p == '\0')
      break;
    if (count++ > 0 || !parse_range_spec(&p, &r))
      return MU_HTTP_RANGE_NONE; /* several ranges or bad syntax: the whole file */
    p = skip_ows(p);
    if (*p != ',' && *p != '\0')
      return MU_HTTP_RANGE_NONE;
  }
  if (count == 0)
    return MU_HTTP_RANGE_NONE;
  if (r.suffix) {
    if (r.last == 0)
      return MU_HTTP_RANGE_UNSATISFIABLE;
    if (size == 0)
      return MU_HTTP_RANGE_NONE; /* nothing to cut: the (empty) whole */
    *len = r.last < size ? r.last : size;
    *first = size - *len;
    return MU_HTTP_RANGE_OK;
  }
  if (r.first >= size)
    return MU_HTTP_RANGE_UNSATISFIABLE;
  uint64_t last = r.has_last && r.last < size ? r.last : size - 1;
  *first = r.first;
  *len = last - r.first + 1;
  return MU_HTTP_RANGE_OK;
}

/* ---- entity tags --------------------------------------------------------- */

/* One entity-tag at *p ([W/]"etagc*"): its opaque part (with the quotes) in
 * tag and tag_len. False when malformed. */
static bool parse_etag(const char **p, bool *weak, const char **tag, size_t *tag_len) {
  const char *s = *p;
  *weak = s[0] == 'W' && s[1] == '/';
  if (*weak)
    s += 2;
  if (*s != '"')
    return false;
  const char *start = s++;
  for (; *s != '"'; ++s) {
    unsigned char c = (unsigned char)*s;
    if (c < 0x21 || c == 0x7f) /* also the end of the string */
      return false;
  }
  ++s;
  *tag = start;
  *tag_len = (size_t)(s - start);
  *p = s;
  return true;
}

bool mu_http_static_etag_match(const char *list, const char *etag, bool weak) {
  if (list == NULL || etag == NULL)
    return false;
  bool our_weak;
  const char *ours, *e = etag;
  size_t ours_len;
  if (!parse_etag(&e, &our_weak, &ours, &ours_len) || *e != '\0')
    return false;
  const char *p = skip_ows(list);
  if (*p == '*')
    return *skip_ows(p + 1) == '\0'; /* "*" stands alone or is malformed */
  bool found = false;
  for (;;) {
    p = skip_ows(p);
    if (*p == ',') {
      ++p;
      continue;
    }
    if (*p == '\0')
      return found;
    bool w;
    const char *tag;
    size_t tag_len;
    if (!parse_etag(&p, &w, &tag, &tag_len))
      return false;
    if (tag_len == ours_len && memcmp(tag, ours, ours_len) == 0 &&
        (weak || (!w && !our_weak)))
      found = true; /* keep parsing: a malformed list matches nothing */
    p = skip_ows(p);
    if (*p != ',' && *p != '\0')
      return false;
  }
}

/* The modification time in nanoseconds, so that a file rewritten within the
 * same second with the same size still gets a new tag. */
size_t mu_http_static_format_etag(int64_t mtime_sec, long mtime_nsec, uint64_t size,
                                  char *buf, size_t buf_size) {
  if (buf_size < 48) {
    if (buf_size > 0)
      buf[0] = '\0';
    return 0;
  }
  uint64_t ns = (uint64_t)mtime_sec * 1000000000u + (uint64_t)mtime_nsec;
  char *p = buf;
  *p++ = '"';
  p = mu_http_put_hex(p, ns);
  *p++ = '-';
  p = mu_http_put_hex(p, size);
  *p++ = '"';
  *p = '\0';
  return (size_t)(p - buf);
}

/* ---- media types --------------------------------------------------------- */

typedef struct mime_entry {
  const char *ext;
  const char *type;
} mime_entry_t;

/* Sorted by extension (strcmp order, lower case): binary searched. */
static const mime_entry_t k_mime[] = {
    {"7z", "application/x-7z-compressed"},
    {"aac", "audio/aac"},
    {"apng", "image/apng"},
    {"atom", "application/atom+xml"},
    {"avif", "image/avif"},
    {"bin", "application/octet-stream"},
    {"bmp", "image/bmp"},
    {"bz2", "application/x-bzip2"},
    {"c", "text/plain; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"epub", "application/epub+zip"},
    {"flac", "audio/flac"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"h", "text/plain; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"html", "text/html; charset=utf-8"},
    {"ico", "image/vnd.microsoft.icon"},
    {"ics", "text/calendar; charset=utf-8"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"jsonld", "application/ld+json"},
    {"log", "text/plain; charset=utf-8"},
    {"m4a", "audio/mp4"},
    {"map", "application/json"},
    {"md", "text/markdown; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"mpeg", "video/mpeg"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"opus", "audio/opus"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"rss", "application/rss+xml"},
    {"rtf", "application/rtf"},
    {"svg", "image/svg+xml"},
    {"svgz", "image/svg+xml"},
    {"tar", "application/x-tar"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain; charset=utf-8"},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"weba", "audio/webm"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json"},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xhtml", "application/xhtml+xml"},
    {"xml", "application/xml"},
    {"xz", "application/x-xz"},
    {"yaml", "application/yaml"},
    {"yml", "application/yaml"},
    {"zip", "application/zip"},
    {"zst", "application/zstd"},
};

static const char k_octet_stream[] = "application/octet-stream";

const char *mu_http_mime_type(const char *name) {
  if (name == NULL)
    return k_octet_stream;
  const char *base = strrchr(name, '/');
  base = base != NULL ? base + 1 : name;
  const char *dot = strrchr(base, '.');
  if (dot == NULL || dot == base) /* none, or a dot file such as ".profile" */
    return k_octet_stream;
  char ext[16];
  size_t n = 0;
  for (const char *s = dot + 1; *s != '\0'; ++s) {
    if (n + 1 >= sizeof ext)
      return k_octet_stream; /* longer than any known extension */
    unsigned char c = (unsigned char)*s;
    ext[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
  ext[n] = '\0';
  size_t lo = 0, hi = sizeof k_mime / sizeof k_mime[0];
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int cmp = strcmp(ext, k_mime[mid].ext);
    if (cmp == 0)
      return k_mime[mid].type;
    if (cmp < 0) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return k_octet_stream;
}

/* ---- the object ------------------------------------------------------------ */

struct mu_http_static {
  int root_fd; /* O_PATH descriptor of the docroot */
  bool use_openat2;
  bool serve_hidden;
  bool follow_symlinks;
  bool etag;
  int max_age;
  size_t index_len;
  size_t prefix_len;
  char *prefix;             /* cleaned: "static" for "/static/"; NULL for none */
  char cache_control[32];   /* "max-age=N", or "" */
  char index[NAME_MAX + 1]; /* "" for none */
};

mu_http_static_options_t mu_http_static_options_default(void) {
  return (mu_http_static_options_t){
      .index = "index.html",
      .url_prefix = NULL,
      .max_age = -1,
      .serve_hidden = false,
      .follow_symlinks = true,
      .etag = true,
  };
}

static long sys_openat2(int dirfd, const char *path, int flags, uint64_t resolve) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)flags;
  how.resolve = resolve;
  return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* Whether this kernel (and any seccomp filter around us) lets openat2 with
 * RESOLVE_BENEATH through; anything else means the component walk. */
static bool probe_openat2(int root_fd) {
  long fd = sys_openat2(root_fd, ".", O_PATH | O_CLOEXEC, RESOLVE_BENEATH);
  if (fd < 0)
    return false;
  close((int)fd);
  return true;
}

static int set_index(mu_http_static_t *s, const char *index) {
  if (index == NULL || index[0] == '\0')
    return 0;
  size_t n = strlen(index);
  if (strchr(index, '/') != NULL || strcmp(index, ".") == 0 || strcmp(index, "..") == 0 ||
      n > NAME_MAX)
    return -EINVAL;
  memcpy(s->index, index, n + 1);
  s->index_len = n;
  return 0;
}

static int set_prefix(mu_http_static_t *s, const char *prefix) {
  if (prefix == NULL || prefix[0] == '\0')
    return 0;
  size_t n = strlen(prefix);
  char *clean = mu_malloc(n + 1);
  if (clean == NULL)
    return -ENOMEM;
  mu_http_clean_path_t info;
  if (mu_http_static_clean_path(prefix, n, clean, n + 1, &info) != 0) {
    mu_free(clean);
    return -EINVAL;
  }
  if (info.len == 0) { /* "/": the whole URL space */
    mu_free(clean);
    return 0;
  }
  s->prefix = clean;
  s->prefix_len = info.len;
  return 0;
}

mu_http_static_t *mu_http_static_new_with_options(const char *docroot,
                                                  const mu_http_static_options_t *opts) {
  mu_http_static_options_t o = opts != NULL ? *opts : mu_http_static_options_default();
  if (docroot == NULL ||
      (o.url_prefix != NULL && o.url_prefix[0] != '\0' && o.url_prefix[0] != '/')) {
    errno = EINVAL;
    return NULL;
  }
  mu_http_static_t *s = mu_calloc(1, sizeof *s);
  if (s == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  s->root_fd = -1;
  int rc = set_index(s, o.index);
  if (rc == 0)
    rc = set_prefix(s, o.url_prefix);
  if (rc == 0) {
    s->root_fd = open(docroot, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (s->root_fd < 0)
      rc = -errno;
  }
  if (rc != 0) {
    mu_http_static_free(s);
    errno = -rc;
    return NULL;
  }
  s->use_openat2 = probe_openat2(s->root_fd);
  s->serve_hidden = o.serve_hidden;
  s->follow_symlinks = o.follow_symlinks;
  s->etag = o.etag;
  s->max_age = o.max_age < 0 ? -1 : o.max_age;
  if (s->max_age >= 0) {
    memcpy(s->cache_control, "max-age=", 8);
    *mu_http_put_u64(s->cache_control + 8, (uint64_t)s->max_age) = '\0';
  }
  return s;
}

mu_http_static_t *mu_http_static_new(const char *docroot) {
  return mu_http_static_new_with_options(docroot, NULL);
}

void mu_http_static_free(mu_http_static_t *s) {
  if (s == NULL)
    return;
  if (s->root_fd >= 0)
    close(s->root_fd);
  mu_free(s->prefix);
  mu_free(s);
}

bool mu_http_static_uses_openat2(const mu_http_static_t *s) {
  return s->use_openat2;
}

void mu_http_static_force_fallback(mu_http_static_t *s) {
  s->use_openat2 = false;
}

/* ---- opening beneath the docroot ------------------------------------------- */

/* O_NONBLOCK: opening a FIFO someone left in the docroot must not block the
 * loop (it is then refused as not a regular file). */
#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

static bool is_symlink_at(int dirfd, const char *name) {
  struct stat st;
  return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

/* Without openat2: one openat per component, none following a symlink, so
 * nothing but the (already "..-free") names can be walked. Returns an fd or
 * -errno (-ELOOP for a symlink anywhere on the path). */
static int open_walk(int root_fd, const char *rel) {
  int dirfd = root_fd;
  char name[NAME_MAX + 1];
  const char *p = rel;
  int rc = 0;
  for (const char *slash; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
    size_t n = (size_t)(slash - p);
    if (n > NAME_MAX) {
      rc = -ENAMETOOLONG;
      break;
    }
    memcpy(name, p, n);
    name[n] = '\0';
    int fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      rc = -errno;
      /* O_PATH|O_NOFOLLOW on a symlink says "not a directory": tell them apart. */
      if (rc == -ENOTDIR && is_symlink_at(dirfd, name))
        rc = -ELOOP;
      break;
    }
    if (dirfd != root_fd)
      close(dirfd);
    dirfd = fd;
  }
  if (rc == 0) {
    rc = openat(dirfd, *p != '\0' ? p : ".", OPEN_FLAGS | O_NOFOLLOW);
    if (rc < 0)
      rc = -errno;
  }
  if (dirfd != root_fd)
    close(dirfd);
  return rc;
}

/* Opens rel ("" for the docroot itself) beneath the docroot. Returns an fd or
 * -errno: -EXDEV or -ELOOP for a way out or a refused symlink. */
static int open_beneath(const mu_http_static_t *s, const char *rel) {
  const char *path = rel[0] != '\0' ? rel : ".";
  if (!s->use_openat2)
    return open_walk(s->root_fd, path);
  uint64_t resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  if (!s->follow_symlinks)
    resolve |= RESOLVE_NO_SYMLINKS;
  for (int tries = 0;; ++tries) {
    long fd = sys_openat2(s->root_fd, path, OPEN_FLAGS, resolve);
    if (fd >= 0)
      return (int)fd;
    /* EAGAIN: a rename raced with the ".." check of a symlink's target. */
    if ((errno != EAGAIN && errno != EINTR) || tries == 3)
      return -errno;
  }
}

static int status_for_open_error(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
      return 404;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case EAGAIN:
    case EINTR:
    case EIO:
      return 500;
    default: /* EXDEV, ELOOP, EACCES, EPERM, ENXIO (a socket), ... */
      return 403;
  }
}

/* ---- answering ------------------------------------------------------------- */

static void send_error(mu_http_response_t *resp, int status) {
  const char *body;
  switch (status) {
    case 400:
      body = "400 Bad Request\n";
      break;
    case 403:
      body = "403 Forbidden\n";
      break;
    case 404:
      body = "404 Not Found\n";
      break;
    case 405:
      body = "405 Method Not Allowed\n";
      break;
    case 416:
      body = "416 Range Not Satisfiable\n";
      break;
    default:
      status = 500;
      body = "500 Internal Server Error\n";
      break;
  }
  mu_http_response_send_text(resp, status, body);
}

/* Out of memory while building a response: whatever was added, a 500 that
 * closes the connection (a 206 without its Content-Range, say, would be
 * worse than none). */
static void fail_500(mu_http_response_t *resp) {
  mu_http_response_set_close(resp, true);
  send_error(resp, 500);
}

/* The conditional fields of the request, found in one pass over its fields. */
typedef struct cond_fields {
  const char *if_none_match;
  const char *if_modified_since;
  const char *range;
  const char *if_range;
} cond_fields_t;

static bool name_is(const mu_http_header_t *h, const char *name, size_t len) {
  return h->name_len == len && strncasecmp(h->name, name, len) == 0;
}

static void scan_fields(const mu_http_request_t *req, cond_fields_t *c) {
  *c = (cond_fields_t){NULL, NULL, NULL, NULL};
  size_t n = mu_http_request_header_count(req);
  for (size_t i = 0; i < n; ++i) {
    const mu_http_header_t *h = mu_http_request_header_at(req, i);
    const char **slot = NULL;
    switch (h->name_len) {
      case 5:
        slot = name_is(h, "range", 5) ? &c->range : NULL;
        break;
      case 8:
        slot = name_is(h, "if-range", 8) ? &c->if_range : NULL;
        break;
      case 13:
        slot = name_is(h, "if-none-match", 13) ? &c->if_none_match : NULL;
        break;
      case 17:
        slot = name_is(h, "if-modified-since", 17) ? &c->if_modified_since : NULL;
        break;
      default:
        break;
    }
    if (slot != NULL && *slot == NULL)
      *slot = h->value;
  }
}

/* What the response says about the file, formatted once. */
typedef struct validators {
  char last_modified[32];
  char etag[48];
} validators_t;

/* Returns 0 or the first error (-ENOMEM). */
static int add_validators(const mu_http_static_t *s, mu_http_response_t *resp,
                          const validators_t *v) {
  int rc = mu_http_response_add_header(resp, "Last-Modified", v->last_modified);
  if (rc == 0 && s->etag)
    rc = mu_http_response_add_header(resp, "ETag", v->etag);
  if (rc == 0 && s->max_age >= 0)
    rc = mu_http_response_add_header(resp, "Cache-Control", s->cache_control);
  return rc;
}

static bool not_modified(const mu_http_static_t *s, const cond_fields_t *c,
                         const struct stat *st, const validators_t *v) {
  /* RFC 9110 §13.1.3: If-Modified-Since is ignored when If-None-Match is sent. */
  if (s->etag && c->if_none_match != NULL)
    return mu_http_static_etag_match(c->if_none_match, v->etag, true);
  int64_t since;
  return c->if_modified_since != NULL &&
         mu_http_parse_date(c->if_modified_since, &since) == 0 &&
         (int64_t)st->st_mtime <= since;
}

/* If-Range: a strong ETag equal to ours, or a date equal to Last-Modified. */
static bool if_range_holds(const mu_http_static_t *s, const char *if_range,
                           const struct stat *st, const validators_t *v) {
  if (if_range == NULL)
    return true;
  if (if_range[0] == '"' || (if_range[0] == 'W' && if_range[1] == '/'))
    return s->etag && mu_http_static_etag_match(if_range, v->etag, false);
  int64_t t;
  return mu_http_parse_date(if_range, &t) == 0 && t == (int64_t)st->st_mtime;
}

/* "bytes FIRST-LAST/SIZE", or the unsatisfied form with a star for the
 * range when first is UINT64_MAX. */
static void format_content_range(char *buf, uint64_t first, uint64_t len, uint64_t size) {
  char *p = buf;
  memcpy(p, "bytes ", 6);
  p += 6;
  if (first == UINT64_MAX) {
    *p++ = '*';
  } else {
    p = mu_http_put_u64(p, first);
    *p++ = '-';
    p = mu_http_put_u64(p, first + len - 1);
  }
  *p++ = '/';
  p = mu_http_put_u64(p, size);
  *p = '\0';
}

/* Bodies up to this size are read into memory (see serve_file). Small enough
 * for the loop thread's stack, and for the response's body storage to be
 * kept between requests (http_response.c keeps up to 16 KiB). */
#define SMALL_FILE_MAX (8u * 1024)

/* len bytes of fd from offset into buf; false if the file has fewer. */
static bool read_at(int fd, char *buf, size_t len, uint64_t offset) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, buf + done, len - done, (off_t)(offset + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += (size_t)n;
  }
  return true;
}

/* Answers with the open regular file fd (taken in every case). */
static void serve_file(const mu_http_static_t *s, const mu_http_request_t *req,
                       mu_http_response_t *resp, int fd, const struct stat *st,
                       const char *name) {
  cond_fields_t c;
  scan_fields(req, &c);
  validators_t v;
  mu_http_format_date((int64_t)st->st_mtime, v.last_modified, sizeof v.last_modified);
  if (s->etag)
    mu_http_static_format_etag((int64_t)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
                               (uint64_t)st->st_size, v.etag, sizeof v.etag);
  if (not_modified(s, &c, st, &v)) {
    close(fd);
    if (mu_http_response_set_status(resp, 304, NULL) != 0 ||
        add_validators(s, resp, &v) != 0) {
      fail_500(resp);
      return;
    }
    mu_http_response_send(resp);
    return;
  }
  uint64_t size = (uint64_t)st->st_size, first = 0, len = size;
  mu_http_range_result_t range = MU_HTTP_RANGE_NONE;
  if (c.range != NULL && mu_http_request_method(req) == MU_HTTP_METHOD_GET) {
    range = mu_http_static_parse_range(c.range, size, &first, &len);
    if (range != MU_HTTP_RANGE_NONE && !if_range_holds(s, c.if_range, st, &v)) {
      range = MU_HTTP_RANGE_NONE;
      first = 0;
      len = size;
    }
  }
  char content_range[80];
  if (range == MU_HTTP_RANGE_UNSATISFIABLE) {
    close(fd);
    format_content_range(content_range, UINT64_MAX, 0, size);
    if (mu_http_response_add_header(resp, "Content-Range", content_range) != 0) {
      fail_500(resp);
      return;
    }
    send_error(resp, 416);
    return;
  }
  /* A small body is read now and leaves with the head in one send: sendfile
   * would cost the head its own send, and the connection a wait for
   * writability (two epoll_ctl, a loop turn) and the SIGPIPE mask around it. */
  char small[SMALL_FILE_MAX];
  bool in_memory =
      len <= SMALL_FILE_MAX && mu_http_request_method(req) == MU_HTTP_METHOD_GET;
  if (in_memory) {
    bool whole = read_at(fd, small, (size_t)len, first);
    close(fd);
    if (!whole) { /* it shrank since fstat, or EIO: nothing is promised yet */
      send_error(resp, 500);
      return;
    }
  }
  int rc = mu_http_response_set_status(resp, range == MU_HTTP_RANGE_OK ? 206 : 200, NULL);
  if (rc == 0)
    rc = mu_http_response_set_content_type(resp, mu_http_mime_type(name));
  if (rc == 0)
    rc = add_validators(s, resp, &v);
  if (rc == 0)
    rc = mu_http_response_add_header(resp, "Accept-Ranges", "bytes");
  if (rc == 0 && range == MU_HTTP_RANGE_OK) {
    format_content_range(content_range, first, len, size);
    rc = mu_http_response_add_header(resp, "Content-Range", content_range);
  }
  /* The body last: a failed append leaves it empty for the 500. */
  if (rc == 0 && in_memory)
    rc = mu_http_response_append_body(resp, small, (size_t)len);
  if (rc != 0) {
    if (!in_memory)
      close(fd);
    fail_500(resp);
  } else if (in_memory) {
    mu_http_response_send(resp);
  } else {
    mu_http_response_send_file(resp, fd, first, len);
  }
}

/* Where "/dir" is sent: "/dir/" built from the cleaned path, escaped again, so
 * that "//evil.example/dir" cannot turn into an absolute redirect. The query
 * follows when it fits. */
static void redirect_to_dir(const mu_http_request_t *req, mu_http_response_t *resp,
                            const char *full, size_t full_len) {
  static const char k_hex[] = "0123456789ABCDEF";
  char loc[3 * PATH_MAX + 8];
  size_t n = 0;
  loc[n++] = '/';
  for (size_t i = 0; i < full_len; ++i) {
    unsigned char ch = (unsigned char)full[i];
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
        (ch >= '0' && ch <= '9') || strchr("/-._~!$&'()*+,;=:@", ch) != NULL) {
      loc[n++] = (char)ch;
    } else {
      loc[n++] = '%';
      loc[n++] = k_hex[ch >> 4];
      loc[n++] = k_hex[ch & 15];
    }
  }
  loc[n++] = '/';
  const char *query = mu_http_request_query(req);
  size_t qlen = strlen(query);
  if (mu_http_request_has_query(req) && n + 1 + qlen < sizeof loc) {
    loc[n++] = '?';
    memcpy(loc + n, query, qlen);
    n += qlen;
  }
  loc[n] = '\0';
  if (mu_http_response_add_header(resp, "Location", loc) != 0) {
    fail_500(resp);
    return;
  }
  mu_http_response_send_text(resp, 301, "301 Moved Permanently\n");
}

static bool has_hidden_segment(const char *rel) {
  for (const char *p = rel; *p != '\0'; ++p) {
    if (*p == '.' && (p == rel || p[-1] == '/'))
      return true;
  }
  return false;
}

/* The file a directory URL serves: rel + "/" + index in the same buffer
 * (which has room: see serve). */
static int open_index(const mu_http_static_t *s, char *rel, size_t rel_len, int *err) {
  char *p = rel + rel_len;
  if (rel_len > 0)
    *p++ = '/';
  memcpy(p, s->index, s->index_len + 1);
  int fd = open_beneath(s, rel);
  rel[rel_len] = '\0';
  *err = fd < 0 ? -fd : 0;
  return fd;
}

void mu_http_static_serve(const mu_http_static_t *s, const mu_http_request_t *req,
                          mu_http_response_t *resp) {
  mu_http_method_t m = mu_http_request_method(req);
  if (m != MU_HTTP_METHOD_GET && m != MU_HTTP_METHOD_HEAD) {
    mu_http_response_add_header(resp, "Allow", "GET, HEAD");
    send_error(resp, 405);
    return;
  }
  /* Room for the path, '/' and the index name. */
  char path[PATH_MAX + NAME_MAX + 2];
  const char *raw = mu_http_request_path(req);
  mu_http_clean_path_t info;
  int rc = mu_http_static_clean_path(raw, strlen(raw), path, PATH_MAX, &info);
  if (rc != 0) {
    send_error(resp, rc == -EACCES ? 403 : rc == -ENAMETOOLONG ? 404 : 400);
    return;
  }
  char *rel = path;
  size_t rel_len = info.len;
  if (s->prefix != NULL) {
    if (rel_len < s->prefix_len || memcmp(rel, s->prefix, s->prefix_len) != 0 ||
        (rel_len > s->prefix_len && rel[s->prefix_len] != '/')) {
      send_error(resp, 404);
      return;
    }
    size_t skip = rel_len > s->prefix_len ? s->prefix_len + 1 : s->prefix_len;
    rel += skip;
    rel_len -= skip;
    info.hidden = info.hidden && has_hidden_segment(rel);
  }
  if (info.hidden && !s->serve_hidden) {
    send_error(resp, 404);
    return;
  }
  if (info.len == 0)
    info.dir_form = true; /* "/." is the root, not a redirect to "//" */
  int err = 0, fd = -1;
  const char *name = rel;
  if (info.dir_form && s->index_len > 0) {
    fd = open_index(s, rel, rel_len, &err);
    name = s->index;
  }
  if (fd < 0 && (err == 0 || err == ENOENT)) {
    /* No index asked for, or none there: what is the path itself? */
    int index_err = err;
    fd = open_beneath(s, rel);
    err = fd < 0 ? -fd : 0;
    name = rel;
    if (fd >= 0 && info.dir_form) {
      struct stat st;
      bool dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
      close(fd);
      fd = -1;
      /* A directory without its index is not listed; "file/" is no file. */
      err = dir ? EACCES : (index_err != 0 ? index_err : ENOENT);
    }
  }
  if (fd < 0) {
    send_error(resp, status_for_open_error(err));
    return;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    send_error(resp, 500);
    return;
  }
  if (S_ISREG(st.st_mode)) {
    serve_file(s, req, resp, fd, &st, name);
    return;
  }
  close(fd);
  if (S_ISDIR(st.st_mode) && !info.dir_form) {
    redirect_to_dir(req, resp, path, info.len);
    return;
  }
  send_error(resp, 403);
}
