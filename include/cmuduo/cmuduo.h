/* Everything public in cmuduo, in one include. */
#ifndef CMUDUO_CMUDUO_H
#define CMUDUO_CMUDUO_H

#include "cmuduo/base/alloc.h"
#include "cmuduo/base/async_logging.h"
#include "cmuduo/base/log_file.h"
#include "cmuduo/base/countdown_latch.h"
#include "cmuduo/base/current_thread.h"
#include "cmuduo/base/logging.h"
#include "cmuduo/base/timestamp.h"
#include "cmuduo/http/http_parser.h"
#include "cmuduo/http/http_request.h"
#include "cmuduo/http/http_response.h"
#include "cmuduo/http/http_server.h"
#include "cmuduo/http/http_static.h"
#include "cmuduo/net/buffer.h"
#include "cmuduo/net/callbacks.h"
#include "cmuduo/net/channel.h"
#include "cmuduo/net/event_loop.h"
#include "cmuduo/net/event_loop_thread.h"
#include "cmuduo/net/event_loop_thread_pool.h"
#include "cmuduo/net/inet_address.h"
#include "cmuduo/net/tcp_client.h"
#include "cmuduo/net/tcp_connection.h"
#include "cmuduo/net/tcp_server.h"

#endif
