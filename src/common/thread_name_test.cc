#include "common/thread_name.h"

#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace ferry {
namespace {

// Runs `set` on a fresh thread and returns the name that thread then reads back.
std::string NameAfter(const std::string& set) {
  std::string seen;
  std::thread t([&] {
    SetCurrentThreadName(set);
    seen = CurrentThreadName();
  });
  t.join();
  return seen;
}

TEST(ThreadNameTest, AShortNameIsKeptWhole) { EXPECT_EQ(NameAfter("http-io-0"), "http-io-0"); }

TEST(ThreadNameTest, ANameAtTheLimitIsKeptWhole) {
  EXPECT_EQ(NameAfter("w:fashion_cnn:1"), "w:fashion_cnn:1");  // 15 bytes
}

TEST(ThreadNameTest, ALongerNameIsCutRatherThanRefused) {
  EXPECT_EQ(NameAfter("w:fashion_mlp_int8:1"), "w:fashion_mlp_i");
}

TEST(ThreadNameTest, NamingOneThreadLeavesTheCallerAlone) {
  const std::string before = CurrentThreadName();
  NameAfter("somebody-else");
  EXPECT_EQ(CurrentThreadName(), before);
}

}  // namespace
}  // namespace ferry
