/* Static files from a directory, in one call (Go's http.FileServer, nginx's
 * `root`):
 *
 *   mu_http_static_t *files = mu_http_static_new("/srv/www");
 *   static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
 *                          void *arg) {
 *     mu_http_static_serve(arg, req, resp);
 *   }
 *   mu_http_server_set_handler(server, on_request, files);
 *
 * What a request gets:
 *  - GET and HEAD only; any other method 405 with "Allow: GET, HEAD";
 *  - the path is percent-decoded once: a bad escape or %00 is 400; a ".."
 *    segment (also as %2e%2e) is 403, never resolved; "." and empty segments
 *    are dropped; a segment starting with '.' (".git", ".env") is 404 unless
 *    serve_hidden is set;
 *  - the file is opened beneath the docroot's descriptor with openat2(2)
 *    RESOLVE_BENEATH, so no symlink (nor a directory renamed in the meantime)
 *    can lead outside it: such a path is 403. Symlinks that stay inside are
 *    followed (unless follow_symlinks is false). Where openat2 is missing
 *    (Linux < 5.6, or refused by a seccomp filter) the path is walked one
 *    component at a time with O_NOFOLLOW and every symlink is 403;
 *  - the file is opened first and then fstat'ed: what is checked is what is
 *    sent. Only regular files are served (anything else 403);
 *  - a directory: "/dir" is redirected (301) to "/dir/", and "/dir/" serves
 *    its index file ("index.html"); without one, 403 (no listings);
 *  - Content-Type from the extension (mu_http_mime_type), Last-Modified,
 *    ETag ("mtime-size", strong), Accept-Ranges: bytes, and Cache-Control:
 *    max-age=N when max_age >= 0;
 *  - If-None-Match (weak comparison; "*" matches) or else If-Modified-Since
 *    (seconds) answer 304 Not Modified;
 *  - one byte range of a GET ("bytes=a-b", "a-", "-n") answers 206 with
 *    Content-Range; a range past the end 416 with "Content-Range: bytes
 *    * /size"; several ranges, another unit or a malformed header are ignored
 *    (200 with the whole file, as RFC 9110 §14.2 allows); If-Range that does
 *    not match the ETag or Last-Modified also gives the whole file;
 *  - the body goes out with mu_http_response_send_file (sendfile(2)), except
 *    that a GET body of at most 8 KiB is read (pread) and sent with the head
 *    in one write, which costs fewer system calls; a file that shrank between
 *    fstat and that read answers 500.
 *
 * Thread-safety: an mu_http_static_t is immutable once made; serve may run in
 * any number of threads at once (every loop thread of a server) on the same
 * object. free must not run concurrently with serve: free it after the server.
 */
#ifndef CMUDUO_HTTP_HTTP_STATIC_H
#define CMUDUO_HTTP_HTTP_STATIC_H

#include <stdbool.h>

#include "cmuduo/http/http_request.h"
#include "cmuduo/http/http_response.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mu_http_static mu_http_static_t;

typedef struct mu_http_static_options {
  /* The file a directory URL serves; NULL or "" for none (403). Must be a
   * single name (no '/'). Default "index.html". */
  const char *index;
  /* Only request paths under this prefix are served, with the prefix taken
   * off: "/static" serves /static/a.css from DOCROOT/a.css, and anything not
   * under it is 404. NULL or "" (default): the whole URL space. */
  const char *url_prefix;
  /* Cache-Control: max-age=N on 200/206/304 responses; -1 (default): none. */
  int max_age;
  /* Serve names starting with '.' (default false: 404). */
  bool serve_hidden;
  /* Follow symlinks that resolve inside the docroot (default true); false
   * answers 403 for every symlink on the path. */
  bool follow_symlinks;
  /* Send ETag and honour If-None-Match / an ETag in If-Range (default true). */
  bool etag;
} mu_http_static_options_t;

/* The defaults described above. */
mu_http_static_options_t mu_http_static_options_default(void);

/* Opens docroot (kept open as a directory descriptor: renaming or replacing
 * the path later does not move the server) with the default options. Returns
 * NULL and sets errno (ENOTDIR if it is not a directory, ENOENT, EACCES,
 * ENOMEM). Thread-safe. */
mu_http_static_t *mu_http_static_new(const char *docroot);
/* The same with options (copied; NULL for the defaults). EINVAL for an index
 * containing '/' or a url_prefix not starting with '/'. */
mu_http_static_t *mu_http_static_new_with_options(const char *docroot,
                                                  const mu_http_static_options_t *opts);
/* Closes the docroot descriptor and frees. NULL is a no-op. Not concurrently
 * with serve on the same object. */
void mu_http_static_free(mu_http_static_t *s);

/* Answers req from the docroot and finishes resp (always, with one of the
 * statuses above, or 500 if a descriptor cannot be opened for lack of
 * resources). Call it from the handler's thread with the handler's req and
 * resp. Thread-safe on the same object. */
void mu_http_static_serve(const mu_http_static_t *s, const mu_http_request_t *req,
                          mu_http_response_t *resp);

/* The media type for a file name by its last extension, ignoring case:
 * "a/b.HTML" -> "text/html; charset=utf-8", "x.png" -> "image/png";
 * "application/octet-stream" when unknown or without an extension. The string
 * is static. Thread-safe. */
const char *mu_http_mime_type(const char *name);

#ifdef __cplusplus
}
#endif
#endif
