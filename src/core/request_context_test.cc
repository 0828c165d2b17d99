#include "core/request_context.h"

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace ferry {
namespace {

bool IsLowerHex(const std::string& s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

TEST(RequestIdTest, FreshIdsAre32HexDigitsAndDoNotRepeatAcrossThreads) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::vector<std::string>> made(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&made, t] {
      for (int i = 0; i < kPerThread; ++i) made[t].push_back(NewRequestId());
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> all;
  for (const auto& ids : made) {
    for (const std::string& id : ids) {
      EXPECT_EQ(id.size(), 32u) << id;
      EXPECT_TRUE(IsLowerHex(id)) << id;
      all.insert(id);
    }
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST(RequestIdTest, ClientIdsMustBePrintableAsciiOfBoundedLength) {
  EXPECT_TRUE(CheckClientRequestId("a", "X").ok());
  EXPECT_TRUE(CheckClientRequestId("order 17/b-c_d.e:f", "X").ok());
  EXPECT_TRUE(CheckClientRequestId(std::string(kMaxRequestIdBytes, 'x'), "X").ok());

  const absl::Status empty = CheckClientRequestId("", "X-Request-Id header");
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(empty.message(), "the X-Request-Id header is empty");
  const absl::Status long_id = CheckClientRequestId(std::string(kMaxRequestIdBytes + 1, 'x'), "H");
  EXPECT_EQ(long_id.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(long_id.message().find("129 bytes long; at most 128"), absl::string_view::npos)
      << long_id.message();
  for (std::string bad : {std::string("a\nb"), std::string("tab\there"), std::string("\x7f"),
                          std::string("caf\xc3\xa9"), std::string("nul\0x", 5)}) {
    const absl::Status s = CheckClientRequestId(bad, "H");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("printable ASCII"), absl::string_view::npos) << s.message();
  }
}

// Every combination of (no header, good header, bad header) x (no body id, header-safe
// body id, body id that cannot go in a header).
TEST(RequestIdTest, ChooseRequestIdOverEveryCombination) {
  const std::optional<std::string_view> headers[] = {std::nullopt, std::string_view("from-header"),
                                                     std::string_view("bad\nheader")};
  const std::string_view bodies[] = {"", "from-body", "ünïcødé\n"};
  for (size_t h = 0; h < 3; ++h) {
    for (size_t b = 0; b < 3; ++b) {
      absl::StatusOr<std::string> id = ChooseRequestId(headers[h], "X-Request-Id header", bodies[b]);
      SCOPED_TRACE(testing::Message() << "header " << h << ", body " << b);
      if (h == 2) {
        ASSERT_FALSE(id.ok());
        EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
        EXPECT_NE(id.status().message().find("X-Request-Id header"), absl::string_view::npos);
        continue;
      }
      ASSERT_TRUE(id.ok()) << id.status();
      if (h == 1) {
        EXPECT_EQ(*id, "from-header");  // the header wins over the body
      } else if (b == 1) {
        EXPECT_EQ(*id, "from-body");
      } else {
        EXPECT_EQ(id->size(), 32u);  // made fresh
        EXPECT_TRUE(IsLowerHex(*id));
      }
    }
  }
}

TEST(RequestContextTest, DeadlinesOnlyTightenAndExpireAtTheirInstant) {
  RequestContext context;
  EXPECT_FALSE(context.Expired(0));
  EXPECT_FALSE(context.Expired(RequestContext::kNoDeadline - 1));
  context.TightenDeadline(1000);
  EXPECT_EQ(context.deadline_ns, 1000);
  context.TightenDeadline(5000);  // later: ignored
  EXPECT_EQ(context.deadline_ns, 1000);
  context.TightenDeadline(400);
  EXPECT_EQ(context.deadline_ns, 400);
  EXPECT_FALSE(context.Expired(399));
  EXPECT_TRUE(context.Expired(400));
  EXPECT_TRUE(context.Expired(401));
}

TEST(RequestContextTest, CancelIsSeenFromAnotherThread) {
  auto context = std::make_shared<RequestContext>();
  EXPECT_FALSE(context->cancelled());
  std::thread([context] { context->Cancel(); }).join();
  EXPECT_TRUE(context->cancelled());
}

std::shared_ptr<RequestContext> Parent(std::string id, int64_t deadline_ns) {
  auto context = std::make_shared<RequestContext>();
  context->id = std::move(id);
  context->principal = "p-" + context->id;
  context->routing_key = "k-" + context->id;
  context->deadline_ns = deadline_ns;
  return context;
}

TEST(RequestContextTest, ABatchContextLivesAsLongAsItsLatestParent) {
  auto a = Parent("a", 1000), b = Parent("b", 3000);
  std::shared_ptr<RequestContext> batch = RequestContext::ForBatch({a, b});
  EXPECT_EQ(batch->deadline_ns, 3000);
  EXPECT_TRUE(batch->may_run_inline);
  EXPECT_NE(batch->id, "a");
  EXPECT_EQ(batch->id.size(), 32u);  // a fresh one: the batch is neither request
  EXPECT_EQ(batch->principal, "");
  EXPECT_EQ(batch->routing_key, "");
  // One parent without a deadline: the batch has none.
  auto open = Parent("c", RequestContext::kNoDeadline);
  EXPECT_EQ(RequestContext::ForBatch({a, open})->deadline_ns, RequestContext::kNoDeadline);
  // No parents at all (warm-up): no deadline, a fresh id, never cancelled by anyone.
  std::shared_ptr<RequestContext> none = RequestContext::ForBatch({});
  EXPECT_EQ(none->deadline_ns, RequestContext::kNoDeadline);
  EXPECT_EQ(none->id.size(), 32u);
  EXPECT_FALSE(none->cancelled());
}

TEST(RequestContextTest, ALoneParentLendsTheBatchItsNames) {
  auto a = Parent("a", 1000);
  a->may_run_inline = false;
  std::shared_ptr<RequestContext> batch = RequestContext::ForBatch({a});
  EXPECT_EQ(batch->id, "a");
  EXPECT_EQ(batch->principal, "p-a");
  EXPECT_EQ(batch->routing_key, "k-a");
  EXPECT_EQ(batch->deadline_ns, 1000);
  EXPECT_TRUE(batch->may_run_inline);  // made on a worker, whatever the parent's thread
}

TEST(RequestContextTest, ABatchIsCancelledOnlyWhenEveryParentIs) {
  auto a = Parent("a", 1000), b = Parent("b", 1000);
  std::shared_ptr<RequestContext> batch = RequestContext::ForBatch({a, b});
  std::shared_ptr<RequestContext> nested = RequestContext::ForBatch({batch});
  EXPECT_FALSE(batch->cancelled());
  a->Cancel();
  EXPECT_FALSE(batch->cancelled());  // b still waits
  EXPECT_FALSE(nested->cancelled());
  std::thread([b] { b->Cancel(); }).join();
  EXPECT_TRUE(batch->cancelled());
  EXPECT_TRUE(nested->cancelled());
  // A null parent (work nobody waits on) never cancels.
  auto c = Parent("c", 1000);
  std::shared_ptr<RequestContext> with_null = RequestContext::ForBatch({c, nullptr});
  c->Cancel();
  EXPECT_FALSE(with_null->cancelled());
  EXPECT_EQ(with_null->deadline_ns, RequestContext::kNoDeadline);
  // Cancel() on the batch itself still works.
  with_null->Cancel();
  EXPECT_TRUE(with_null->cancelled());
}

}  // namespace
}  // namespace ferry
