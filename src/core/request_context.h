// RequestContext: what the server knows about one request beyond its wire content. A
// transport makes one per request, fills it from the connection and headers, and hands it
// to InferenceServer::Infer; it then travels with the request to the batcher, the backend
// and the observers (monitor/observer.h), which all read it and none of which copy it.
//
// Concurrency: everything but the cancellation flag is written by the transport before
// Infer and only read afterwards. Cancel() may be called from any thread at any time
// (the client went away); readers see it without a lock.
#ifndef FERRY_CORE_REQUEST_CONTEXT_H_
#define FERRY_CORE_REQUEST_CONTEXT_H_

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ferry {

struct RequestContext {
  // No deadline: the request may wait as long as the queue lets it.
  static constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();

  // The server's name for this request: the client's (X-Request-Id header, the V2 `id`
  // field, or x-request-id gRPC metadata) when it sent one, otherwise NewRequestId().
  // Every response carries it back, and logs and observers key on it.
  std::string id;
  // Who sent the request, once authenticated; empty when the server checks no identity.
  std::string principal;
  // The key that keeps one user on one side of a traffic split (the header the server
  // is configured to read, X-User-Id by default); empty when the client sent none.
  std::string routing_key;
  // On the server's clock (Clock::NowNanos). A request still queued at its deadline is
  // never run: it fails with DEADLINE_EXCEEDED.
  int64_t deadline_ns = kNoDeadline;
  // False when the thread that received the request also serves other clients, who
  // could not be read while it computed a batch inline (DynamicBatcher's inline rule).
  bool may_run_inline = true;

  RequestContext() = default;
  RequestContext(const RequestContext&) = delete;
  RequestContext& operator=(const RequestContext&) = delete;

  // The context of work done for other requests: a composite model's calls to its members
  // for one batch of its own requests (`parents`, in batch order; a null entry stands for
  // work that no request waits on, e.g. warm-up). Its deadline is the latest of the
  // parents' (the work is wanted while any of them still waits), it counts as cancelled
  // once every parent is (or once Cancel() is called on it), it may run inline (it is
  // made on a worker, not an I/O thread), and it takes id, principal and routing key from
  // a lone parent, or a fresh id when there are several or none.
  static std::shared_ptr<RequestContext> ForBatch(
      std::vector<std::shared_ptr<const RequestContext>> parents);

  // The client went away (or the transport gave up on it): queued work for this request
  // is dropped with CANCELLED instead of computed.
  void Cancel() { cancelled_.store(true, std::memory_order_release); }
  bool cancelled() const {
    return cancelled_.load(std::memory_order_acquire) || (!parents_.empty() && AllParentsCancelled());
  }
  bool Expired(int64_t now_ns) const { return now_ns >= deadline_ns; }
  // Moves the deadline earlier, never later: the earliest of every limit applies.
  void TightenDeadline(int64_t deadline) {
    if (deadline < deadline_ns) deadline_ns = deadline;
  }

 private:
  bool AllParentsCancelled() const;

  std::atomic<bool> cancelled_{false};
  // ForBatch's parents; empty for a request's own context. Fixed after ForBatch.
  std::vector<std::shared_ptr<const RequestContext>> parents_;
};

// Longest request id a client may send, in bytes.
inline constexpr size_t kMaxRequestIdBytes = 128;

// A fresh request id: 32 lowercase hex digits of randomness (128 bits), so ids from
// several servers or restarts do not collide. Thread-safe and cheap (no lock, no syscall
// after a thread's first call).
std::string NewRequestId();

// Checks an id a client sent in a header or gRPC metadata: 1 to kMaxRequestIdBytes bytes
// of printable ASCII (0x20 to 0x7e), so it goes back in a header and a log line unchanged.
// `source` names where it came from in the error, e.g. "X-Request-Id header".
absl::Status CheckClientRequestId(std::string_view id, std::string_view source);

// The server's request id from what the client sent: the header's (or gRPC metadata's)
// when present, which must pass CheckClientRequestId (InvalidArgument otherwise); else
// the body's V2 `id` when it would pass too; else a fresh one. The V2 `id` itself may be
// any string, and the response echoes it unchanged (the protocol says so), so the two
// differ only when the client sent two different ids, or a body id that cannot go in a
// header.
// `header_source` names the header in errors ("X-Request-Id header").
absl::StatusOr<std::string> ChooseRequestId(std::optional<std::string_view> header_id,
                                            std::string_view header_source,
                                            std::string_view body_id);

}  // namespace ferry

#endif  // FERRY_CORE_REQUEST_CONTEXT_H_
