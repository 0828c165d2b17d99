#include "api/http/http_server.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <future>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/http/binary_framing.h"
#include "api/http/content_encoding.h"
#include "api/http/idle_poll.h"
#include "api/http/router.h"
#include "common/thread_name.h"
#include "spdlog/spdlog.h"

namespace ferry {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Strand = asio::strand<asio::io_context::executor_type>;
// A connection's handlers run on its I/O thread's executor. One thread runs each
// io_context, so they never run concurrently and need no strand; the concrete executor
// type (not any_io_executor) spares the type-erased copies on every operation.
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Stream = beast::basic_stream<tcp, Executor>;

// After an error response that ends a connection, how long to keep reading (and dropping)
// what the client still sends. Closing at once with unread bytes makes the kernel send a
// reset, and the client may then lose the response it has not read yet (e.g. the 413).
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerBufferBytes = 16 << 10;
constexpr size_t kReadBufferBytes = 16 << 10;
// Pause before accepting again after an accept error such as running out of descriptors,
// so the loop does not spin.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(50);
// Beast's default; named here for the 431 message.
constexpr size_t kHeaderLimitBytes = 8 << 10;

class Session;

// The values of every `name` header, joined with commas as HTTP says repeated headers
// mean; nullopt when there is none.
template <typename Name>
std::optional<std::string> JoinedHeader(const http::request<http::string_body>& req, Name name) {
  std::optional<std::string> joined;
  for (auto [it, end] = req.equal_range(name); it != end; ++it) {
    if (joined) {
      joined->push_back(',');
    } else {
      joined.emplace();
    }
    joined->append(it->value().data(), it->value().size());
  }
  return joined;
}

// The HTTP status for a Content-Encoding the server cannot undo.
int EncodingErrorStatus(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnimplemented: return 415;
    case absl::StatusCode::kInvalidArgument: return 400;
    case absl::StatusCode::kResourceExhausted: return 413;
    default: return 500;
  }
}

// What the connections share with the server. Declared before the io_context in Impl so it
// outlives the handlers (and the connections they hold) that the io_context destroys.
struct Shared {
  Shared(HttpOptions o, InferenceServer* s, AdminService* admin)
      : options(std::move(o)),
        metrics(&s->metrics()),
        router(s, admin),
        connections_by_thread(new std::atomic<int>[std::max(options.threads, 1)]{}) {}

  const HttpOptions options;
  MetricsRegistry* const metrics;
  Router router;

  absl::Mutex mu;
  absl::flat_hash_map<Session*, std::weak_ptr<Session>> sessions ABSL_GUARDED_BY(mu);
  bool stopping ABSL_GUARDED_BY(mu) = false;
  // The two counters below change on every request, so they are atomics, not guarded by
  // mu; whoever brings one to zero signals its condition variable under mu, and the
  // waiter (Stop) checks it under mu, so no wake-up is lost.
  // Responders handed to the router that still hold a connection; Stop waits for zero so
  // no inference worker touches the io_context after it is gone.
  std::atomic<int> in_flight{0};
  absl::CondVar in_flight_done;
  // Connections with a request handed to the router or a response being written: Stop
  // lets them finish before it closes connections. The idle poll (idle_poll.h) reads it.
  std::atomic<int> busy{0};
  absl::CondVar idle;

  // Signals `cv` under mu; for the thread that brought its counter to zero.
  void NotifyZero(absl::CondVar& cv) ABSL_LOCKS_EXCLUDED(mu) {
    absl::MutexLock lock(&mu);
    cv.SignalAll();
  }
  // Whether an I/O thread holds the one polling turn of the idle poll.
  std::atomic<bool> polling{false};
  // Connections on each I/O thread that have sent a POST (an inference, mostly), counted
  // until they close. A thread with more than one does not run inferences inline: the
  // others' requests would sit unread meanwhile, so the queue (and batching) would never
  // form (RequestContext::may_run_inline). Connections that only GET (health checks, metrics
  // scrapes) do not count.
  const std::unique_ptr<std::atomic<int>[]> connections_by_thread;
};

// Held (shared) by a Responder: keeps the connection alive while inference runs and
// counts in Shared::in_flight until the last copy of the responder is gone.
struct InFlight {
  InFlight(std::shared_ptr<Session> s, Shared* sh) : session(std::move(s)), shared(sh) {
    shared->in_flight.fetch_add(1, std::memory_order_relaxed);
  }
  ~InFlight();
  std::shared_ptr<Session> session;
  Shared* const shared;
};

// One connection. Every member is touched only on `executor_`'s thread, except in
// CloseFromStop (when no thread runs the io_context) and `executor_` itself, which is
// immutable.
class Session : public std::enable_shared_from_this<Session> {
 public:
  // `thread_connections` counts the posting connections of the I/O thread behind `executor`.
  Session(Socket socket, Executor executor, Shared* shared, std::atomic<int>* thread_connections)
      : executor_(std::move(executor)),
        shared_(shared),
        thread_connections_(thread_connections),
        stream_(std::move(socket)) {}

  ~Session() {
    if (counted_) thread_connections_->fetch_sub(1, std::memory_order_relaxed);
    SetBusy(false);
    absl::MutexLock lock(&shared_->mu);
    shared_->sessions.erase(this);
  }

  // Registers the connection and starts reading. Any thread.
  void Start() {
    {
      absl::MutexLock lock(&shared_->mu);
      if (shared_->stopping) return;  // dropped: the socket closes with this object
      shared_->sessions.emplace(this, weak_from_this());
    }
    asio::post(executor_, [self = shared_from_this()] {
      beast::error_code ec;
      // Only the synchronous peek in OnReadable depends on this; async I/O is unaffected.
      self->stream_.socket().non_blocking(true, ec);
      // Beast reads as much as the buffer has room for, at least 512 bytes. Without room a
      // 3 KiB JSON image took eight reads, each with its own epoll and timer syscalls.
      self->buffer_.reserve(kReadBufferBytes);
      self->ReadHeader();
    });
  }

  // Closes the connection and cancels its pending request. Only while no thread runs the
  // io_context (HttpServer::Stop).
  void CloseFromStop() { CloseNow(); }

  // The router's answer to the current request, on the connection's thread.
  void OnResponse(std::optional<HttpResponse> response) {
    if (!awaiting_) return;  // the connection closed meanwhile
    awaiting_ = false;
    ++seq_;
    if (watching_) {
      beast::error_code ec;
      stream_.socket().cancel(ec);
      watching_ = false;
    }
    if (!response) return CloseNow();  // cancelled: the client is gone
    Write(std::move(*response), !keep_alive_, /*linger=*/false);
  }

  const Executor& executor() const { return executor_; }

 private:
  void ReadHeader() {
    parser_.emplace();
    parser_->body_limit(shared_->options.max_body_bytes);
    parser_->header_limit(kHeaderLimitBytes);
    version_ = 11;
    keep_alive_ = true;
    head_ = false;
    stream_.expires_after(std::chrono::seconds(shared_->options.idle_timeout_seconds));
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnReadHeader, shared_from_this()));
  }

  void OnReadHeader(beast::error_code ec, size_t) {
    if (closed_) return;
    if (ec) return OnReadError(ec);
    const auto& req = parser_->get();
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    if (parser_->is_done()) return Dispatch();
    // curl and others wait (up to a second) for this before sending a large body; the
    // size was already checked against the limit, so say go.
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      continue_ = http::response<http::empty_body>(http::status::continue_, version_);
      return http::async_write(
          stream_, continue_,
          beast::bind_front_handler(&Session::OnContinueWritten, shared_from_this()));
    }
    ReadBody();
  }

  void OnContinueWritten(beast::error_code ec, size_t) {
    if (closed_) return;
    if (ec) return CloseNow();
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnReadBody, shared_from_this()));
  }

  void OnReadBody(beast::error_code ec, size_t) {
    if (closed_) return;
    if (ec) return OnReadError(ec);
    Dispatch();
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return Fail(413, absl::StrCat("request body is larger than the limit of ",
                                    shared_->options.max_body_bytes, " bytes"));
    }
    if (ec == http::error::header_limit) {
      return Fail(431, absl::StrCat("request headers are larger than the limit of ",
                                    kHeaderLimitBytes, " bytes"));
    }
    // Beast's parse errors mean garbage from the client; anything else (end of stream,
    // timeout, reset, a message cut short) means there is nobody to answer.
    if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return Fail(400, absl::StrCat("malformed HTTP request: ", ec.message()));
    }
    CloseNow();
  }

  void Dispatch() {
    const auto& req = parser_->get();
    const beast::string_view method = req.method_string();
    const beast::string_view target = req.target();
    // HEAD is answered as GET without the body, so health checks that use it work.
    head_ = req.method() == http::verb::head;
    HttpRequest request;
    request.method =
        head_ ? std::string_view("GET") : std::string_view(method.data(), method.size());
    request.target = std::string_view(target.data(), target.size());
    request.body = req.body();
    if (!counted_ && req.method() == http::verb::post) {
      thread_connections_->fetch_add(1, std::memory_order_relaxed);
      counted_ = true;
    }
    context_ = std::make_shared<RequestContext>();
    context_->may_run_inline = thread_connections_->load(std::memory_order_relaxed) <= 1;
    const std::optional<std::string> request_id = JoinedHeader(req, kRequestIdHeader);
    if (request_id) request.request_id = *request_id;
    std::optional<std::string> routing_key;
    if (!shared_->options.routing_key_header.empty()) {
      routing_key = JoinedHeader(req, shared_->options.routing_key_header);
      if (routing_key) request.routing_key = *routing_key;
    }
    // Binary tensor data extension. A repeated header joins into a list, which the router
    // then rejects as not a number.
    const std::optional<std::string> header_length = JoinedHeader(req, kInferenceHeaderContentLength);
    if (header_length) request.inference_header_length = *header_length;
    if (const std::optional<std::string> encoding = JoinedHeader(req, http::field::content_encoding)) {
      absl::StatusOr<std::string> decoded =
          DecodeContentEncoding(*encoding, req.body(), shared_->options.max_body_bytes);
      if (!decoded.ok()) {
        return Fail(EncodingErrorStatus(decoded.status()), std::string(decoded.status().message()));
      }
      decoded_body_ = std::move(*decoded);
      request.body = decoded_body_;
    }
    awaiting_ = true;
    SetBusy(true);
    // Inference takes as long as it takes; only a hang-up (see Watch) ends the wait.
    stream_.expires_never();
    auto in_flight = std::make_shared<InFlight>(shared_from_this(), shared_);
    Responder respond = [in_flight](std::optional<HttpResponse> response) {
      const std::shared_ptr<Session>& session = in_flight->session;
      if (session->executor().running_in_this_thread()) {
        session->OnResponse(std::move(response));
        return;
      }
      asio::post(session->executor(), [session, response = std::move(response)]() mutable {
        session->OnResponse(std::move(response));
      });
    };
    in_flight.reset();
    try {
      shared_->router.Handle(request, context_, std::move(respond));
    } catch (const std::exception& e) {
      if (awaiting_) {
        awaiting_ = false;
        return Fail(500, absl::StrCat("internal error: ", e.what()));
      }
    }
    if (awaiting_ && !closed_) Watch();
  }

  // Waits for the socket to become readable while a request is pending: either the client
  // hung up (cancel the request) or it sent the next request early (leave it be).
  void Watch() {
    watching_ = true;
    stream_.socket().async_wait(tcp::socket::wait_read,
                                [self = shared_from_this(), seq = seq_](beast::error_code ec) {
                                  self->OnReadable(ec, seq);
                                });
  }

  void OnReadable(beast::error_code ec, uint64_t seq) {
    if (seq != seq_ || !awaiting_ || closed_) return;  // the response came first
    watching_ = false;
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      char byte;
      beast::error_code peek;
      const size_t n =
          stream_.socket().receive(asio::buffer(&byte, 1), tcp::socket::message_peek, peek);
      if (!peek && n > 0) return;
      if (peek == asio::error::would_block || peek == asio::error::try_again) return Watch();
    }
    context_->Cancel();
    CloseNow();
  }

  // Sends a response made here (not by the router) and closes the connection after it.
  void Fail(int status, std::string message) {
    shared_->metrics->CountHttpResponse(status);
    Write(Router::ErrorResponse(status, message), /*close=*/true, /*linger=*/true);
  }

  void Write(HttpResponse response, bool close, bool linger) {
    res_ = {};
    res_.version(version_);
    res_.result(static_cast<unsigned>(response.status));
    res_.set(http::field::server, "ferry");
    res_.set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) res_.set(name, value);
    const size_t body_size = response.body.size();
    if (!head_) res_.body() = std::move(response.body);
    res_.keep_alive(!close);
    res_.prepare_payload();
    if (head_) res_.content_length(body_size);
    SetBusy(true);
    stream_.expires_after(std::chrono::seconds(shared_->options.idle_timeout_seconds));
    http::async_write(
        stream_, res_,
        beast::bind_front_handler(&Session::OnWrite, shared_from_this(), close, linger));
  }

  void OnWrite(bool close, bool linger, beast::error_code ec, size_t) {
    if (closed_) return;
    if (ec) return CloseNow();
    SetBusy(false);
    // Bodies may be large; free them now rather than when the next request arrives.
    res_ = {};
    parser_.reset();
    std::string().swap(decoded_body_);
    if (!close) return ReadHeader();
    if (!linger) return CloseNow();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    linger_buffer_ = std::make_unique<char[]>(kLingerBufferBytes);
    stream_.expires_after(kLingerTime);
    Drain();
  }

  void Drain() {
    stream_.async_read_some(asio::buffer(linger_buffer_.get(), kLingerBufferBytes),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (self->closed_) return;
                              if (ec) return self->CloseNow();
                              self->Drain();
                            });
  }

  // Counts this connection in Shared::busy while it owes a response.
  void SetBusy(bool busy) {
    if (busy == busy_) return;
    busy_ = busy;
    if (busy) {
      shared_->busy.fetch_add(1, std::memory_order_relaxed);
    } else if (shared_->busy.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      shared_->NotifyZero(shared_->idle);
    }
  }

  void CloseNow() {
    if (closed_) return;
    closed_ = true;
    SetBusy(false);
    if (awaiting_ && context_) context_->Cancel();
    awaiting_ = false;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  const Executor executor_;
  Shared* const shared_;
  std::atomic<int>* const thread_connections_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  http::response<http::empty_body> continue_;
  std::unique_ptr<char[]> linger_buffer_;
  std::string decoded_body_;  // the current request's body after its Content-Encoding
  std::shared_ptr<RequestContext> context_;  // of the current request
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_ = false;
  bool awaiting_ = false;  // a request was handed to the router and has no response yet
  bool watching_ = false;  // Watch's async_wait is pending
  bool closed_ = false;
  bool busy_ = false;  // counted in Shared::busy
  bool counted_ = false;  // has sent a POST: counted in *thread_connections_
  uint64_t seq_ = 0;  // bumped per response, so a stale OnReadable is ignored
};

InFlight::~InFlight() {
  // The last reference to a connection must go on its thread, not on an inference worker:
  // its stream's timer may have a handler queued there that touches the stream.
  if (!session->executor().running_in_this_thread()) {
    try {
      const Executor executor = session->executor();
      asio::post(executor, [s = std::move(session)] {});
    } catch (const std::exception&) {
      // Out of memory: let the reference go here rather than terminate.
    }
  }
  session.reset();  // before taking mu: destroying the connection takes it too
  if (shared->in_flight.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    shared->NotifyZero(shared->in_flight_done);
  }
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(HttpOptions options, InferenceServer* server, AdminService* admin)
      : shared_(std::move(options), server, admin),
        iocs_(MakeContexts(shared_.options.threads)),
        accept_strand_(asio::make_strand(*iocs_[0])),
        acceptor_(accept_strand_),
        backoff_(accept_strand_) {}

  ~Impl() { Stop(); }

  absl::Status Listen() {
    const HttpOptions& o = shared_.options;
    const std::string where = absl::StrCat(o.host, ":", o.port);
    beast::error_code ec;
    tcp::endpoint endpoint;
    const asio::ip::address address = asio::ip::make_address(o.host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(address, static_cast<unsigned short>(o.port));
    } else {
      tcp::resolver resolver(*iocs_[0]);
      const auto results =
          resolver.resolve(o.host, std::to_string(o.port), tcp::resolver::passive, ec);
      if (ec || results.empty()) {
        return absl::UnavailableError(
            absl::StrCat("cannot listen on ", where, ": ", ec ? ec.message() : "no such address"));
      }
      endpoint = results.begin()->endpoint();
    }
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) port_ = acceptor_.local_endpoint(ec).port();
    if (ec) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", where, ": ", ec.message()));
    }
    return absl::OkStatus();
  }

  int port() const { return port_; }

  void Start() {
    if (started_ || stopped_) return;
    started_ = true;
    for (const auto& ioc : iocs_) work_.emplace_back(ioc->get_executor());
    asio::post(accept_strand_, [this] { Accept(); });
    for (int i = 0; i < shared_.options.threads; ++i) {
      try {
        threads_.emplace_back([this, i] {
          SetCurrentThreadName(absl::StrCat("http-io-", i));
          Run(*iocs_[i], shared_);
        });
      } catch (const std::system_error& e) {
        spdlog::error("http: cannot start thread {}: {}", i, e.what());
        break;
      }
    }
  }

  void StopAccepting() {
    if (started_ && !stopped_ && !threads_.empty()) {
      // The acceptor belongs to its strand; close it there and wait.
      std::promise<void> closed;
      asio::post(accept_strand_, [this, &closed] {
        CloseAcceptor();
        closed.set_value();
      });
      closed.get_future().wait();
    } else {
      CloseAcceptor();  // no thread runs the io_context: nothing else touches it
    }
  }

  void Stop() {
    if (stopped_) return;
    StopAccepting();
    if (!threads_.empty()) {
      // Responses the drained batches produced may still be on their way to the socket.
      absl::MutexLock lock(&shared_.mu);
      const absl::Time deadline =
          absl::Now() + absl::Seconds(shared_.options.drain_timeout_seconds);
      // WaitWithDeadline returns true once the deadline has passed.
      while (shared_.busy != 0 && !shared_.idle.WaitWithDeadline(&shared_.mu, deadline)) {
      }
      if (shared_.busy != 0) {
        spdlog::warn("http: {} connection(s) still owed a response after {} s; closing them",
                     shared_.busy.load(), shared_.options.drain_timeout_seconds);
      }
    }
    stopped_ = true;
    work_.clear();
    for (const auto& ioc : iocs_) ioc->stop();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    // No handler runs now, so the connections can be closed from this thread.
    std::vector<std::shared_ptr<Session>> live;
    {
      absl::MutexLock lock(&shared_.mu);
      shared_.stopping = true;
      for (auto& [ptr, weak] : shared_.sessions) {
        if (std::shared_ptr<Session> s = weak.lock()) live.push_back(std::move(s));
      }
    }
    for (const auto& s : live) s->CloseFromStop();
    live.clear();
    absl::MutexLock lock(&shared_.mu);
    while (shared_.in_flight != 0) shared_.in_flight_done.Wait(&shared_.mu);
  }

 private:
  // One io_context per thread: a connection lives on one thread from accept to close, so
  // no context wakes another thread's epoll for its own work, and Asio takes its
  // single-thread fast paths (profiles of a shared context showed the two threads
  // interrupting each other on every read).
  static std::vector<std::unique_ptr<asio::io_context>> MakeContexts(int n) {
    std::vector<std::unique_ptr<asio::io_context>> iocs;
    for (int i = 0; i < std::max(n, 1); ++i) iocs.push_back(std::make_unique<asio::io_context>(1));
    return iocs;
  }

  static void Run(asio::io_context& ioc, Shared& shared) {
    for (;;) {
      try {
        if (shared.options.idle_poll_us > 0) {
          RunPolling(ioc, shared);
        } else {
          ioc.run();
        }
        return;
      } catch (const std::exception& e) {
        // A handler threw; its connection is dropped with it. Keep serving the others.
        spdlog::error("http: unexpected exception in a handler: {}", e.what());
      }
    }
  }

  // ioc.run(), except that when nothing is ready the thread may poll instead of
  // sleeping, as NextIdleStep decides. Returns when the io_context stops.
  static void RunPolling(asio::io_context& ioc, Shared& shared) {
    using Steady = std::chrono::steady_clock;
    const int64_t window_ns = int64_t{shared.options.idle_poll_us} * 1000;
    // Holds the polling turn while this thread polls; gives it back on every way out.
    struct Turn {
      std::atomic<bool>& polling;
      bool held = false;
      bool Take() { return held || (held = !polling.exchange(true, std::memory_order_acquire)); }
      void Release() {
        if (held) polling.store(false, std::memory_order_release);
        held = false;
      }
      ~Turn() { Release(); }
    } turn{shared.polling};
    Steady::time_point last_work = Steady::now();
    for (;;) {
      if (ioc.poll() > 0) {
        last_work = Steady::now();
        continue;
      }
      if (ioc.stopped()) return;
      IdleState state;
      state.idle_ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(Steady::now() - last_work).count();
      state.window_ns = window_ns;
      state.busy_connections = shared.busy.load(std::memory_order_relaxed);
      state.other_polling = !turn.held && shared.polling.load(std::memory_order_relaxed);
      if (NextIdleStep(state) == IdleStep::kPoll && turn.Take()) {
        // Lets a thread that shares this core (a client, the batch worker) run first.
        std::this_thread::yield();
        continue;
      }
      turn.Release();
      if (ioc.run_one() == 0) return;
      last_work = Steady::now();
    }
  }

  void Accept() {
    const size_t context = next_context_++ % iocs_.size();
    const Executor executor = iocs_[context]->get_executor();
    acceptor_.async_accept(executor, [this, executor, context](beast::error_code ec,
                                                               Socket socket) {
      if (!acceptor_.is_open()) return;
      if (ec) {
        spdlog::warn("http: accept failed: {}", ec.message());
        backoff_.expires_after(kAcceptBackoff);
        backoff_.async_wait([this](beast::error_code wait_ec) {
          if (!wait_ec && acceptor_.is_open()) Accept();
        });
        return;
      }
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);  // responses are latency-bound
      std::make_shared<Session>(std::move(socket), executor, &shared_,
                                &shared_.connections_by_thread[context])
          ->Start();
      Accept();
    });
  }

  void CloseAcceptor() {
    beast::error_code ec;
    acceptor_.close(ec);
    backoff_.cancel();
  }

  Shared shared_;  // first: see Shared
  std::vector<std::unique_ptr<asio::io_context>> iocs_;  // one per thread
  size_t next_context_ = 0;  // round-robin for new connections; on accept_strand_
  Strand accept_strand_;
  tcp::acceptor acceptor_;
  asio::steady_timer backoff_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  int port_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(HttpOptions options,
                                                               InferenceServer* server,
                                                               AdminService* admin) {
  if (server == nullptr) return absl::InvalidArgumentError("http: no inference server given");
  if (admin == nullptr) return absl::InvalidArgumentError("http: no admin service given");
  if (options.threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("http: threads must be at least 1, not ", options.threads));
  }
  if (options.idle_poll_us < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("http: idle_poll_us must be 0 (off) or more, not ", options.idle_poll_us));
  }
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("http: port ", options.port, " is not valid"));
  }
  if (options.max_body_bytes == 0 || options.idle_timeout_seconds < 1) {
    return absl::InvalidArgumentError(
        "http: max_body_bytes and idle_timeout_seconds must be positive");
  }
  try {
    auto impl = std::make_unique<Impl>(std::move(options), server, admin);
    absl::Status listening = impl->Listen();
    if (!listening.ok()) return listening;
    return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("http: cannot create the server: ", e.what()));
  }
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;

int HttpServer::port() const { return impl_->port(); }
void HttpServer::Start() { impl_->Start(); }
void HttpServer::StopAccepting() { impl_->StopAccepting(); }
void HttpServer::Stop() { impl_->Stop(); }

}  // namespace ferry
