/* muduo's HttpServer test: GET /hello answers "hello, world!\n" as text/plain,
 * "/" a small HTML page, anything else 404.
 *   ./build/bin/http_server [-p 8000] [-t THREADS] [-a ADDR]
 * (-p 0: any free port, logged) */
#include <stdio.h>
#include <string.h>

#include "../common/example_args.h"
#include "../common/example_main.h"
#include "cmuduo/cmuduo.h"
#include "cmuduo/http/http_server.h"

static const char k_index[] =
    "<!DOCTYPE html>\n<html><head><title>cmuduo</title></head>\n"
    "<body><h1>Hello from cmuduo</h1><p>Try <a href=\"/hello\">/hello</a>.</p></body>"
    "</html>\n";

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)arg;
  const char *path = mu_http_request_path(req);
  if (strcmp(path, "/hello") == 0) {
    mu_http_response_send_text(resp, 200, "hello, world!\n");
  } else if (strcmp(path, "/") == 0) {
    mu_http_response_set_content_type(resp, "text/html; charset=utf-8");
    mu_http_response_append_body(resp, k_index, sizeof k_index - 1);
    mu_http_response_send(resp);
  } else {
    mu_http_response_send_text(resp, 404, "Not Found\n");
  }
}

int main(int argc, char **argv) {
  example_args_t args = example_parse_args(argc, argv, 8000, "HTTP hello server");
  example_init(args.log_dir, "http_server");
  mu_event_loop_t *loop = mu_event_loop_new();
  mu_inet_address_t addr = example_listen_address(&args);
  mu_http_server_t *server = mu_http_server_new(loop, &addr, "HttpServer", 0);
  if (server == NULL) {
    MU_LOG_SYSERR("cannot listen on port %d", args.port);
    return 1;
  }
  mu_http_server_set_thread_num(server, args.threads);
  mu_http_server_set_handler(server, on_request, NULL);
  if (mu_http_server_start(server) != 0)
    return 1;
  mu_inet_address_t bound; /* -p 0: the port the kernel picked */
  int port = args.port;
  if (mu_tcp_server_listen_address(mu_http_server_tcp_server(server), &bound) == 0)
    port = mu_inet_address_port(&bound);
  MU_LOG_INFO("HttpServer listening on port %d with %d I/O threads", port, args.threads);
  example_run(loop); /* until SIGINT or SIGTERM */
  mu_http_server_free(server);
  mu_event_loop_free(loop);
  example_finish();
  return 0;
}
