#include "monitor/metrics.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using testing::HasSubstr;
using testing::Not;

TEST(HistogramTest, BucketsAreUpperInclusive) {
  Histogram h({1.0, 2.0});
  h.Observe(0.5);
  h.Observe(1.0);
  h.Observe(1.5);
  h.Observe(7.0);
  EXPECT_EQ(h.BucketCounts(), (std::vector<uint64_t>{2, 1, 1}));
  EXPECT_EQ(h.Count(), 4u);
  EXPECT_DOUBLE_EQ(h.Sum(), 10.0);
}

TEST(HistogramTest, ConcurrentObservationsAreAllCounted) {
  Histogram h(LatencyBuckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h] {
      for (int i = 0; i < 10000; ++i) h.Observe(0.001);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(h.Count(), 40000u);
  EXPECT_NEAR(h.Sum(), 40.0, 1e-6);
}

TEST(MetricsRegistryTest, ForModelReturnsStablePointers) {
  MetricsRegistry registry;
  ModelMetrics* a = registry.ForModel("m", "1");
  ModelMetrics* b = registry.ForModel("m", "2");
  for (int i = 0; i < 100; ++i) registry.ForModel("other", std::to_string(i));
  EXPECT_EQ(registry.ForModel("m", "1"), a);
  EXPECT_EQ(registry.ForModel("m", "2"), b);
  EXPECT_NE(a, b);
}

TEST(MetricsRegistryTest, RecordBatchCountsInlineBatchesApart) {
  MetricsRegistry registry;
  ModelMetrics* m = registry.ForModel("fashion_cnn", "1");
  m->RecordBatch(3, 1000, /*ran_inline=*/false);
  m->RecordBatch(1, 500, /*ran_inline=*/true);
  m->RecordBatch(1, 700, /*ran_inline=*/true);
  EXPECT_EQ(m->execution_count.load(), 3u);
  EXPECT_EQ(m->inline_count.load(), 2u);
  EXPECT_EQ(m->inference_count.load(), 5u);
  const std::string text = registry.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("# TYPE ferry_inline_execution_count_total counter"));
  EXPECT_THAT(text, HasSubstr("ferry_inline_execution_count_total{model=\"fashion_cnn\",version=\"1\"} 2\n"));
}

TEST(MetricsRegistryTest, RendersEveryFamilyWithLabels) {
  MetricsRegistry registry;
  ModelMetrics* m = registry.ForModel("fashion_cnn", "1");
  m->CountRequest(Outcome::kSuccess);
  m->CountRequest(Outcome::kSuccess);
  m->CountRequest(Outcome::kInvalid);
  m->batch_size.Observe(32);
  m->request_latency.Observe(0.0003);
  m->inference_count.fetch_add(32);
  m->execution_count.fetch_add(1);
  m->queue_depth.store(7);
  registry.CountHttpResponse(200);
  registry.CountHttpResponse(404);
  const std::string text = registry.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("# TYPE ferry_requests_total counter"));
  EXPECT_THAT(text, HasSubstr("ferry_requests_total{model=\"fashion_cnn\",version=\"1\",outcome=\"success\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("ferry_requests_total{model=\"fashion_cnn\",version=\"1\",outcome=\"invalid\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("ferry_batch_size_bucket{model=\"fashion_cnn\",version=\"1\",le=\"16\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("ferry_batch_size_bucket{model=\"fashion_cnn\",version=\"1\",le=\"32\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("ferry_batch_size_bucket{model=\"fashion_cnn\",version=\"1\",le=\"+Inf\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("ferry_batch_size_sum{model=\"fashion_cnn\",version=\"1\"} 32\n"));
  EXPECT_THAT(text, HasSubstr("ferry_request_duration_seconds_bucket{model=\"fashion_cnn\",version=\"1\",le=\"0.0005\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE ferry_queue_duration_seconds histogram"));
  EXPECT_THAT(text, HasSubstr("# TYPE ferry_compute_duration_seconds histogram"));
  EXPECT_THAT(text, HasSubstr("ferry_queue_depth{model=\"fashion_cnn\",version=\"1\"} 7\n"));
  EXPECT_THAT(text, HasSubstr("ferry_inference_count_total{model=\"fashion_cnn\",version=\"1\"} 32\n"));
  EXPECT_THAT(text, HasSubstr("ferry_execution_count_total{model=\"fashion_cnn\",version=\"1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("ferry_http_responses_total{code=\"404\"} 1\n"));
}

TEST(MetricsRegistryTest, CascadeStagesRenderOnlyForCascades) {
  MetricsRegistry registry;
  registry.ForModel("fashion_cnn", "1");
  ModelMetrics* c = registry.ForModel("fashion_cascade", "1");
  c->cascade_stages.store(2);
  c->RecordStage(0, 30, 10);
  c->RecordStage(0, 5, 1);
  c->RecordStage(1, 11, 0);
  const std::string text = registry.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("# TYPE ferry_cascade_escalations_total counter"));
  EXPECT_THAT(text, HasSubstr("ferry_cascade_answers_total{model=\"fashion_cascade\",version=\"1\",stage=\"0\"} 35\n"));
  EXPECT_THAT(text, HasSubstr("ferry_cascade_answers_total{model=\"fashion_cascade\",version=\"1\",stage=\"1\"} 11\n"));
  EXPECT_THAT(text, HasSubstr("ferry_cascade_escalations_total{model=\"fashion_cascade\",version=\"1\",stage=\"0\"} 11\n"));
  EXPECT_THAT(text, HasSubstr("ferry_cascade_escalations_total{model=\"fashion_cascade\",version=\"1\",stage=\"1\"} 0\n"));
  EXPECT_THAT(text, Not(HasSubstr("ferry_cascade_answers_total{model=\"fashion_cnn\"")));
}

TEST(MetricsRegistryTest, EscapesLabelValues) {
  MetricsRegistry registry;
  registry.ForModel("we\"ird\\name", "1")->CountRequest(Outcome::kError);
  EXPECT_THAT(registry.RenderPrometheus(),
              HasSubstr("model=\"we\\\"ird\\\\name\",version=\"1\",outcome=\"error\"} 1"));
}

}  // namespace
}  // namespace ferry
