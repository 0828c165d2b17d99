// ModelStreamInfer: Triton's streaming inference over one bidirectional stream.
//
// Every request read from the stream starts at once (the next read is posted right
// away, so a client may pipeline), but responses are written in the order the requests
// came, one write at a time: a slot per request is queued when it is read and written
// when it is first in the queue and finished. A request that fails (bad input, unknown
// model, full queue) gets a response with `error_message` set and the stream stays open.
//
// The stream ends when the client half-closes and every response owed has been written
// (status OK), or when the client cancels (or the deadline passes, or the server shuts
// down): OnCancel cancels every request still running, and the stream finishes with
// CANCELLED once their callbacks have all come back, so nothing touches the reactor after
// OnDone deletes it. Reads pause while kMaxInFlight requests are unanswered, which bounds
// what one stream can make the server hold.
#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "api/grpc/grpc_service.h"

namespace ferry {
namespace grpc_api {
namespace {

constexpr int kMaxInFlight = 64;

using StreamReactor =
    grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>;

}  // namespace

class InferStream final : public StreamReactor {
 public:
  InferStream(InferenceService* service, grpc::CallbackServerContext* ctx) : service_(service) {
    if (auto key = InferenceService::MetadataValue(*ctx, service_->routing_key_header_)) {
      routing_key_ = std::string(*key);
    }
    deadline_ns_ = service_->DeadlineOf(*ctx);
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // Half-close (or cancel): no more requests; finish once the owed responses are out.
      Next next;
      {
        absl::MutexLock lock(&mu_);
        reads_done_ = true;
        next = Advance();
      }
      return Do(next);
    }
    Slot* slot = nullptr;
    auto context = std::make_shared<RequestContext>();
    {
      absl::MutexLock lock(&mu_);
      slots_.push_back(std::make_unique<Slot>());
      slot = slots_.back().get();
      slot->context = context;
      ++outstanding_;
    }
    Start(slot, std::move(context));
    bool read_more = false;
    Next next;
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) {
        reads_done_ = true;  // no read is posted after a cancel
        next = Advance();
      } else {
        read_more = outstanding_ < kMaxInFlight;
        read_paused_ = !read_more;
      }
    }
    if (read_more) StartRead(&request_);
    Do(next);
  }

  void OnWriteDone(bool ok) override {
    Next next;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (ok) {
        slots_.pop_front();
      } else {
        cancelled_ = true;  // the stream is broken (client gone); OnCancel follows
      }
      next = Advance();
    }
    Do(next);
  }

  void OnCancel() override {
    Next next;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      for (const auto& slot : slots_) {
        if (slot->context) slot->context->Cancel();
      }
      if (read_paused_) {
        read_paused_ = false;
        reads_done_ = true;  // no read is posted, so none will come back
      }
      next = Advance();
    }
    Do(next);
  }

  void OnDone() override { delete this; }

 private:
  struct Slot {
    inference::ModelStreamInferResponse response;
    std::shared_ptr<RequestContext> context;  // for OnCancel; reset once answered
    bool ready = false;
  };

  // What to do once the lock is released: gRPC may run a reaction on the calling thread,
  // and the reaction takes the lock.
  struct Next {
    inference::ModelStreamInferResponse* write = nullptr;
    bool finish = false;
    grpc::Status status;
  };

  void Do(const Next& next) {
    if (next.write != nullptr) StartWrite(next.write);
    if (next.finish) Finish(next.status);
  }

  // Starts `request_` (which the next read may overwrite once this returns).
  void Start(Slot* slot, std::shared_ptr<RequestContext> context) {
    const inference::ModelInferRequest& req = request_;
    absl::StatusOr<DecodedInfer> decoded;
    try {
      decoded = service_->Decode(req);
    } catch (const std::exception& e) {
      decoded = absl::InternalError(e.what());
    }
    // What the answer needs of the request, copied: `req` is the read buffer.
    Header header{req.model_name(), req.model_version(), req.id()};
    absl::StatusOr<std::string> id = ChooseRequestId(std::nullopt, "", req.id());
    context->id = id.ok() ? *id : NewRequestId();
    if (!decoded.ok() || !id.ok()) {
      return Answer(slot, header, ToGrpcStatus(decoded.ok() ? id.status() : decoded.status()));
    }
    context->routing_key = routing_key_;
    if (deadline_ns_ != 0) context->TightenDeadline(deadline_ns_);
    service_->RunInfer(std::move(context), *std::move(decoded), req.model_name(),
                       req.model_version(), slot->response.mutable_infer_response(),
                       [this, slot, header = std::move(header)](grpc::Status status) {
                         Answer(slot, header, std::move(status));
                       });
  }

  struct Header {
    std::string model_name;
    std::string model_version;
    std::string id;
  };

  // Records the answer of `slot`'s request (from any thread) and writes what is ready.
  // Slots are freed only once written, or with the reactor, so `slot` is alive here.
  void Answer(Slot* slot, const Header& header, grpc::Status status) {
    bool resume_reading = false;
    Next next;
    {
      absl::MutexLock lock(&mu_);
      --outstanding_;
      slot->context.reset();
      if (!cancelled_) {
        if (!status.ok()) {
          slot->response.set_error_message(status.error_message());
          // Enough of the response for the client to match the error to its request.
          inference::ModelInferResponse* r = slot->response.mutable_infer_response();
          r->Clear();
          r->set_model_name(header.model_name);
          r->set_model_version(header.model_version);
          r->set_id(header.id);
        }
        slot->ready = true;
        if (read_paused_ && outstanding_ < kMaxInFlight) {
          read_paused_ = false;
          resume_reading = true;
        }
      }
      next = Advance();
    }
    if (resume_reading) StartRead(&request_);
    Do(next);
  }

  // The first response to write if it is ready and nothing is being written; the end of
  // the stream when nothing more can come.
  Next Advance() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Next next;
    if (finished_ || writing_) return next;
    if (cancelled_) {
      if (outstanding_ == 0 && reads_done_) {
        finished_ = true;
        next.finish = true;
        next.status = grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled");
      }
      return next;
    }
    if (!slots_.empty() && slots_.front()->ready) {
      writing_ = true;
      next.write = &slots_.front()->response;
      return next;
    }
    if (slots_.empty() && reads_done_ && outstanding_ == 0) {
      finished_ = true;
      next.finish = true;
    }
    return next;
  }

  InferenceService* const service_;
  std::string routing_key_;
  int64_t deadline_ns_ = 0;  // 0: none
  inference::ModelInferRequest request_;  // the read buffer

  absl::Mutex mu_;
  std::deque<std::unique_ptr<Slot>> slots_ ABSL_GUARDED_BY(mu_);
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;  // requests started and not yet answered
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
InferenceService::ModelStreamInfer(grpc::CallbackServerContext* ctx) {
  return new InferStream(this, ctx);
}

}  // namespace grpc_api
}  // namespace ferry
