// The HTTP/1.1 transport for the V2 REST API: Boost.Beast on an Asio io_context run by a
// few threads, each running its own io_context. A connection lives on one thread and uses
// that thread's executor directly (no strand is needed: one thread per io_context), with
// read and write timeouts, so a slow or vanished client never holds up the others;
// inference runs on the server's workers and its response is posted back to the
// connection's thread.
//
// Connections are kept alive; requests on one connection are answered in order, one at a
// time (the next request is read after the previous response is written). While a request
// waits for inference the connection watches its socket, and a client that hangs up has its
// request cancelled (RequestContext::Cancel) so the workers skip it.
#ifndef FERRY_API_HTTP_HTTP_SERVER_H_
#define FERRY_API_HTTP_HTTP_SERVER_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/admin_service.h"
#include "server/inference_server.h"

namespace ferry {

struct HttpOptions {
  std::string host = "0.0.0.0";      // address (or host name) to bind
  int port = 8000;                   // 0 picks a free port (see port())
  int threads = 2;                   // I/O threads; each runs its own connections
  size_t max_body_bytes = 64 << 20;  // larger bodies get 413
  int idle_timeout_seconds = 60;     // keep-alive connections idle longer are closed;
                                     // also bounds reading one request and writing one
                                     // response
  int drain_timeout_seconds = 10;    // Stop waits this long for responses still being
                                     // computed or written before closing connections
  int idle_poll_us = 100;            // after the last response, one thread polls this
                                     // long before sleeping (idle_poll.h); 0 turns it off
  // The request header whose value keeps one user on one side of a traffic split
  // (RequestContext::routing_key). Empty reads none.
  std::string routing_key_header = "X-User-Id";
};

class HttpServer {
 public:
  // Binds and listens, but serves nothing until Start. `server` and `admin` (which runs
  // the model repository routes; GrpcServer shares it, and with it the bound on admin
  // work) are not owned and must outlive this object. Fails (naming the address) if the
  // address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(HttpOptions options,
                                                            InferenceServer* server,
                                                            AdminService* admin);
  // Calls Stop.
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (useful with port 0).
  int port() const;

  // Starts the threads and accepting; returns at once.
  void Start();
  // Closes the listener: new connections are refused, while open connections, and the
  // requests in flight on them, carry on. For a graceful shutdown call this, then
  // InferenceServer::Drain, then Stop.
  void StopAccepting();
  // First waits, up to drain_timeout_seconds, until no connection has a request whose
  // response is still being computed or written (idle keep-alive connections do not
  // count). Then closes every connection (requests still waiting for inference are
  // cancelled and get no response) and joins the threads. Waits for the inference
  // callbacks that still refer to connections to finish. Idempotent.
  void Stop();

 private:
  class Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry

#endif  // FERRY_API_HTTP_HTTP_SERVER_H_
