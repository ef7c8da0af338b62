/* A static web server: the files under DOCROOT, answered by
 * mu_http_static_serve (GET and HEAD, index.html for directories, Range,
 * conditional requests, sendfile). docs/web_server.md says what it does.
 *
 *   ./build/bin/web_server [-p 8000] [-t THREADS] [-r DOCROOT] [-a ADDR]
 *                          [-c MAX_AGE] [-i INDEX] [-d] [-s] [--log-dir DIR]
 *
 * With -p 0 the kernel picks a free port; the "listening on" log line names
 * it (the integration test reads it from there). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/example_args.h"
#include "../common/example_main.h"
#include "cmuduo/cmuduo.h"
#include "cmuduo/http/http_server.h"
#include "cmuduo/http/http_static.h"

typedef struct web_args {
  int port;
  int threads;
  const char *docroot;
  const char *addr; /* NULL: every IPv4 address */
  const char *log_dir;
  mu_http_static_options_t opts;
} web_args_t;

static void usage(FILE *out, const char *prog) {
  fprintf(out,
          "static web server\n"
          "usage: %s [-p PORT] [-t IO_THREADS] [-r DOCROOT] [-a ADDR] [-c MAX_AGE]\n"
          "          [-i INDEX] [-d] [-s] [--log-dir DIR]\n"
          "  -p PORT        port to listen on (default 8000; 0: any free port)\n"
          "  -t IO_THREADS  I/O threads besides the accepting loop (default 0)\n"
          "  -r DOCROOT     directory to serve (default .)\n"
          "  -a ADDR        IPv4 or IPv6 address to listen on (default 0.0.0.0)\n"
          "  -c MAX_AGE     send Cache-Control: max-age=MAX_AGE (default: none)\n"
          "  -i INDEX       file served for a directory URL (default index.html;\n"
          "                 \"\" for none: directories are 403)\n"
          "  -d             serve dot files (.git, .env: default 404)\n"
          "  -s             follow no symlink at all (default: those that stay\n"
          "                 inside DOCROOT)\n"
          "  --log-dir DIR  log to rolling files in DIR, asynchronously\n"
          "                 (default: stdout)\n",
          prog);
}

static long parse_number(const char *s, long lo, long hi, bool *ok) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  *ok = *s != '\0' && *end == '\0' && errno == 0 && v >= lo && v <= hi;
  return v;
}

static web_args_t parse_args(int argc, char **argv) {
  web_args_t a = {8000, 0, ".", NULL, NULL, mu_http_static_options_default()};
  a.log_dir = example_take_log_dir(&argc, argv);
  int opt;
  bool ok = true;
  while (ok && (opt = getopt(argc, argv, "p:t:r:a:c:i:dsh")) != -1) {
    switch (opt) {
      case 'p':
        a.port = (int)parse_number(optarg, 0, 65535, &ok);
        break;
      case 't':
        a.threads = (int)parse_number(optarg, 0, 1024, &ok);
        break;
      case 'r':
        a.docroot = optarg;
        break;
      case 'a':
        a.addr = optarg;
        break;
      case 'c':
        a.opts.max_age = (int)parse_number(optarg, 0, 0x7fffffff, &ok);
        break;
      case 'i':
        a.opts.index = optarg;
        break;
      case 'd':
        a.opts.serve_hidden = true;
        break;
      case 's':
        a.opts.follow_symlinks = false;
        break;
      case 'h':
        usage(stdout, argv[0]);
        exit(0);
      default:
        ok = false;
        break;
    }
  }
  if (!ok || optind != argc) {
    usage(stderr, argv[0]);
    exit(2);
  }
  return a;
}

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  mu_http_static_serve(arg, req, resp);
}

int main(int argc, char **argv) {
  web_args_t args = parse_args(argc, argv);
  mu_http_static_t *files = mu_http_static_new_with_options(args.docroot, &args.opts);
  if (files == NULL && errno == EINVAL) {
    fprintf(stderr, "web_server: -i %s: the index must be a single file name\n",
            args.opts.index);
    return 2;
  }
  if (files == NULL) {
    fprintf(stderr, "web_server: cannot serve %s: %s\n", args.docroot, strerror(errno));
    return 1;
  }
  mu_inet_address_t addr = mu_inet_address_any((uint16_t)args.port);
  if (args.addr != NULL &&
      mu_inet_address_from_ip_port(&addr, args.addr, (uint16_t)args.port) != 0) {
    fprintf(stderr, "web_server: bad address %s\n", args.addr);
    return 2;
  }
  example_init(args.log_dir, "web_server");
  mu_event_loop_t *loop = mu_event_loop_new();
  mu_http_server_t *server = mu_http_server_new(loop, &addr, "WebServer", 0);
  if (server == NULL) {
    MU_LOG_SYSERR("cannot listen on port %d", args.port);
    return 1;
  }
  mu_http_server_set_thread_num(server, args.threads);
  mu_http_server_set_handler(server, on_request, files);
  if (mu_http_server_start(server) != 0) {
    MU_LOG_SYSERR("cannot start the server");
    return 1;
  }
  mu_inet_address_t bound;
  char where[MU_INET_ADDRSTRLEN];
  if (mu_tcp_server_listen_address(mu_http_server_tcp_server(server), &bound) == 0)
    mu_inet_address_to_ip_port(&bound, where, sizeof where);
  else
    snprintf(where, sizeof where, "port %d", args.port);
  MU_LOG_INFO("WebServer serving %s listening on %s with %d I/O threads", args.docroot,
              where, args.threads);
  example_run(loop); /* until SIGINT or SIGTERM */
  mu_http_server_free(server);
  mu_event_loop_free(loop);
  mu_http_static_free(files);
  example_finish();
  return 0;
}
