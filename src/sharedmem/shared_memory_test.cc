#include "sharedmem/shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::testing::HasSubstr;

// A POSIX shared-memory object made for one test, unlinked at the end.
class ShmObject {
 public:
  explicit ShmObject(size_t size, const std::string& tag = "t")
      : key_(absl::StrCat("/ferry_shm_test_", getpid(), "_", tag, "_", counter_++)) {
    fd_ = shm_open(key_.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    EXPECT_GE(fd_, 0) << std::strerror(errno);
    EXPECT_EQ(ftruncate(fd_, static_cast<off_t>(size)), 0);
    base_ = static_cast<uint8_t*>(
        mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0));
    size_ = size;
  }
  ~ShmObject() {
    munmap(base_, size_);
    close(fd_);
    shm_unlink(key_.c_str());
  }
  const std::string& key() const { return key_; }
  uint8_t* data() { return base_; }
  void Shrink(size_t size) { ASSERT_EQ(ftruncate(fd_, static_cast<off_t>(size)), 0); }

 private:
  static inline int counter_ = 0;
  std::string key_;
  int fd_ = -1;
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
};

// How many mappings of `key` this process has (/proc/self/maps names /dev/shm files).
int Mappings(const std::string& key) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int n = 0;
  while (std::getline(maps, line)) {
    if (line.find("/dev/shm" + key) != std::string::npos) ++n;
  }
  return n;
}

Tensor Fp32(const std::string& name, std::vector<int64_t> shape) {
  Tensor t;
  t.name = name;
  t.dtype = DataType::kFp32;
  t.shape = std::move(shape);
  return t;
}

TEST(SharedMemoryRegistryTest, RegisterStatusAndUnregister) {
  ShmObject obj(8192);
  SharedMemoryRegistry registry;
  ASSERT_TRUE(registry.Register("b", obj.key(), 100, 4000).ok());
  ASSERT_TRUE(registry.Register("a", obj.key(), 0, 8192).ok());
  absl::StatusOr<std::vector<SharedMemoryRegionStatus>> all = registry.Status("");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "a");
  EXPECT_EQ((*all)[1].name, "b");
  EXPECT_EQ((*all)[1].key, obj.key());
  EXPECT_EQ((*all)[1].offset, 100u);
  EXPECT_EQ((*all)[1].byte_size, 4000u);
  absl::StatusOr<std::vector<SharedMemoryRegionStatus>> one = registry.Status("b");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
  absl::Status missing = registry.Status("zz").status();
  EXPECT_TRUE(absl::IsNotFound(missing));
  EXPECT_THAT(missing.message(), HasSubstr("'zz' is not registered"));

  registry.Unregister("b");
  EXPECT_EQ(registry.size(), 1u);
  registry.Unregister("never-registered");  // no error, as Triton
  registry.Unregister("");
  EXPECT_EQ(registry.size(), 0u);
  EXPECT_EQ(Mappings(obj.key()), 1);  // only the test's own mapping is left
}

TEST(SharedMemoryRegistryTest, RefusesBadRegistrations) {
  ShmObject obj(4096);
  SharedMemoryRegistry registry;
  auto fails = [&](const std::string& name, const std::string& key, uint64_t offset,
                   uint64_t size) { return registry.Register(name, key, offset, size); };
  absl::Status s = fails("", obj.key(), 0, 16);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("name must be set"));
  s = fails("r", "", 0, 16);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("'key'"));
  s = fails("r", "/a/b", 0, 16);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("not a shared memory name"));
  s = fails("r", obj.key(), 0, 0);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("'byte_size' must be positive"));
  s = fails("r", "/ferry_shm_test_no_such_key", 0, 16);
  EXPECT_TRUE(absl::IsNotFound(s));
  EXPECT_THAT(s.message(), HasSubstr("cannot open key '/ferry_shm_test_no_such_key'"));
  // Too small, offset past the end, and a size whose sum with the offset wraps.
  s = fails("r", obj.key(), 0, 4097);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("offset 0 + byte_size 4097 is past the end"));
  EXPECT_THAT(s.message(), HasSubstr("holds 4096 bytes"));
  s = fails("r", obj.key(), 5000, 1);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("offset 5000"));
  s = fails("r", obj.key(), 16, ~uint64_t{0});
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_EQ(registry.size(), 0u);
  EXPECT_EQ(Mappings(obj.key()), 1);  // failed registrations leave nothing mapped

  ASSERT_TRUE(fails("r", obj.key(), 0, 16).ok());
  s = fails("r", obj.key(), 0, 16);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("'r' is already registered"));
}

TEST(SharedMemoryRegistryTest, SliceChecksEveryOffsetAndSize) {
  ShmObject obj(8192);
  std::memset(obj.data(), 7, 8192);
  obj.data()[5000] = 42;
  SharedMemoryRegistry registry;
  // An unaligned offset: the region starts mid-page.
  ASSERT_TRUE(registry.Register("r", obj.key(), 4000, 2000).ok());
  auto region = registry.Find("r", "input 'x'");
  ASSERT_TRUE(region.ok());
  absl::StatusOr<absl::Span<uint8_t>> s = (*region)->Slice(1000, 1, "input 'x'");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)[0], 42);
  EXPECT_TRUE((*region)->Slice(0, 2000, "x").ok());
  EXPECT_TRUE((*region)->Slice(2000, 0, "x").ok());
  for (auto [offset, size] : std::vector<std::pair<uint64_t, uint64_t>>{
           {0, 2001}, {1999, 2}, {2001, 0}, {~uint64_t{0}, 2}, {8, ~uint64_t{0}}}) {
    absl::Status st = (*region)->Slice(offset, size, "input 'x'").status();
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << offset << " " << size;
    EXPECT_THAT(st.message(), HasSubstr("input 'x': shared memory offset"));
    EXPECT_THAT(st.message(), HasSubstr("past the end of region 'r', which holds 2000 bytes"));
  }
  absl::Status missing = registry.Find("q", "input 'x'").status();
  EXPECT_TRUE(absl::IsInvalidArgument(missing));
  EXPECT_THAT(missing.message(), HasSubstr("input 'x': shared memory region 'q' is not registered"));
  // A client that shrinks the object gets an error, not the server a SIGBUS.
  obj.Shrink(4096);
  absl::Status shrunk = (*region)->Slice(0, 4, "input 'x'").status();
  EXPECT_TRUE(absl::IsInvalidArgument(shrunk));
  EXPECT_THAT(shrunk.message(), HasSubstr("has shrunk to 4096 bytes"));
}

TEST(SharedMemoryRegistryTest, AHeldRegionOutlivesUnregisterAndIsUnmappedAfter) {
  ShmObject obj(4096);
  obj.data()[10] = 9;
  SharedMemoryRegistry registry;
  ASSERT_TRUE(registry.Register("r", obj.key(), 0, 4096).ok());
  EXPECT_EQ(Mappings(obj.key()), 2);
  auto held = registry.Find("r", "x");
  ASSERT_TRUE(held.ok());
  registry.Unregister("r");
  EXPECT_EQ(Mappings(obj.key()), 2);  // the request's hold keeps it mapped
  auto s = (*held)->Slice(10, 1, "x");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)[0], 9);
  // The name is free again at once.
  ASSERT_TRUE(registry.Register("r", obj.key(), 0, 16).ok());
  EXPECT_EQ(Mappings(obj.key()), 3);
  held->reset();
  EXPECT_EQ(Mappings(obj.key()), 2);
}

TEST(SharedMemoryRegistryTest, DestructorUnmapsEverything) {
  ShmObject obj(4096);
  {
    SharedMemoryRegistry registry;
    ASSERT_TRUE(registry.Register("a", obj.key(), 0, 100).ok());
    ASSERT_TRUE(registry.Register("b", obj.key(), 100, 100).ok());
    EXPECT_EQ(Mappings(obj.key()), 3);
  }
  EXPECT_EQ(Mappings(obj.key()), 1);
}

class SharedMemoryResolveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(registry_.Register("in", obj_.key(), 0, 1024).ok());
    ASSERT_TRUE(registry_.Register("out", obj_.key(), 1024, 1024).ok());
  }
  ShmObject obj_{4096};
  SharedMemoryRegistry registry_;
};

TEST_F(SharedMemoryResolveTest, ReadsInputsAndWritesOutputs) {
  const float values[4] = {1.5f, -2, 3, 4};
  std::memcpy(obj_.data() + 64, values, sizeof(values));
  InferRequest request;
  request.inputs.push_back(Fp32("x", {2, 2}));
  request.inputs.push_back(Fp32("y", {1}));
  request.inputs[1].data.assign(4, 0);
  SharedMemoryTensors tensors;
  tensors.inputs.push_back({0, {"in", 64, 16}});
  tensors.outputs.push_back({"z", {"out", 8, 100}});
  absl::StatusOr<SharedMemoryOutputs> outputs = ResolveSharedMemory(registry_, tensors, request);
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  ASSERT_EQ(request.inputs[0].data.size(), 16u);
  EXPECT_EQ(request.inputs[0].data_as<float>()[0], 1.5f);
  EXPECT_EQ(request.inputs[0].data_as<float>()[3], 4.0f);

  InferResponse response;
  response.outputs.push_back(Fp32("w", {1}));
  response.outputs[0].data.assign(4, 1);
  response.outputs.push_back(Fp32("z", {3}));
  const float z[3] = {7, 8, 9};
  response.outputs[1].data.assign(reinterpret_cast<const uint8_t*>(z),
                                  reinterpret_cast<const uint8_t*>(z) + sizeof(z));
  auto where = outputs->Write(response);
  ASSERT_TRUE(where.ok()) << where.status();
  ASSERT_EQ(where->size(), 2u);
  EXPECT_FALSE((*where)[0].has_value());
  EXPECT_EQ((*where)[1], (SharedMemoryRef{"out", 8, 12}));
  EXPECT_EQ(response.outputs[0].data.size(), 4u);
  EXPECT_TRUE(response.outputs[1].data.empty());
  float got[3];
  std::memcpy(got, obj_.data() + 1024 + 8, sizeof(got));
  EXPECT_EQ(got[0], 7);
  EXPECT_EQ(got[2], 9);
}

TEST_F(SharedMemoryResolveTest, RefusesEveryBadInputReference) {
  struct Case {
    const char* region;
    uint64_t offset;
    uint64_t size;
    const char* error;
  };
  const Case cases[] = {
      {"nope", 0, 16, "input 'x': shared memory region 'nope' is not registered"},
      {"in", 0, 12, "'shared_memory_byte_size' is 12 but shape [2, 2] of FP32 needs 16 bytes"},
      {"in", 0, 20, "is 20 but shape [2, 2] of FP32 needs 16"},
      {"in", 1016, 16, "input 'x': shared memory offset 1016 + byte size 16 is past the end"},
      {"in", 5000, 16, "offset 5000"},
  };
  for (const Case& c : cases) {
    InferRequest request;
    request.inputs.push_back(Fp32("x", {2, 2}));
    SharedMemoryTensors tensors;
    tensors.inputs.push_back({0, SharedMemoryRef{c.region, c.offset, c.size}});
    absl::Status s = ResolveSharedMemory(registry_, tensors, request).status();
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << c.error;
    EXPECT_THAT(s.message(), HasSubstr(c.error));
  }
}

TEST_F(SharedMemoryResolveTest, BytesInputsMustBeWellFormed) {
  // One element of length 3 ("abc"), then garbage where a second length would be.
  const uint8_t bytes[] = {3, 0, 0, 0, 'a', 'b', 'c', 1};
  std::memcpy(obj_.data(), bytes, sizeof(bytes));
  InferRequest request;
  Tensor t;
  t.name = "s";
  t.dtype = DataType::kBytes;
  t.shape = {1};
  request.inputs.push_back(t);
  SharedMemoryTensors tensors;
  tensors.inputs.push_back({0, {"in", 0, 7}});
  ASSERT_TRUE(ResolveSharedMemory(registry_, tensors, request).ok());
  EXPECT_EQ(request.inputs[0].data.size(), 7u);
  tensors.inputs[0].second.byte_size = 8;
  absl::Status s = ResolveSharedMemory(registry_, tensors, request).status();
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("input 's' in shared memory region 'in'"));
}

TEST_F(SharedMemoryResolveTest, RefusesBadOutputReferences) {
  InferRequest request;
  SharedMemoryTensors tensors;
  tensors.outputs.push_back({"z", {"gone", 0, 16}});
  absl::Status s = ResolveSharedMemory(registry_, tensors, request).status();
  EXPECT_THAT(s.message(), HasSubstr("output 'z': shared memory region 'gone' is not registered"));
  tensors.outputs[0].second = {"out", 1000, 100};
  s = ResolveSharedMemory(registry_, tensors, request).status();
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("output 'z': shared memory offset 1000 + byte size 100"));
  tensors.outputs[0].second = {"out", 0, 100};
  tensors.outputs.push_back({"z", {"out", 100, 100}});
  s = ResolveSharedMemory(registry_, tensors, request).status();
  EXPECT_THAT(s.message(), HasSubstr("output 'z' is requested more than once"));
}

TEST_F(SharedMemoryResolveTest, AnOutputLargerThanItsByteSizeFailsAndWritesNothing) {
  std::memset(obj_.data() + 1024, 0, 64);
  InferRequest request;
  SharedMemoryTensors tensors;
  tensors.outputs.push_back({"a", {"out", 0, 8}});
  tensors.outputs.push_back({"b", {"out", 8, 4}});
  auto outputs = ResolveSharedMemory(registry_, tensors, request);
  ASSERT_TRUE(outputs.ok());
  InferResponse response;
  response.outputs.push_back(Fp32("a", {2}));
  response.outputs[0].data.assign(8, 5);
  response.outputs.push_back(Fp32("b", {2}));
  response.outputs[1].data.assign(8, 6);
  absl::Status s = outputs->Write(response).status();
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("output 'b' has 8 bytes (shape [2] of FP32), more than its "
                                     "'shared_memory_byte_size' of 4"));
  EXPECT_EQ(obj_.data()[1024], 0);  // 'a' was not written either
}

TEST_F(SharedMemoryResolveTest, UnregisteringDuringARequestKeepsItsOutputRegion) {
  InferRequest request;
  SharedMemoryTensors tensors;
  tensors.outputs.push_back({"a", {"out", 0, 8}});
  auto outputs = ResolveSharedMemory(registry_, tensors, request);
  ASSERT_TRUE(outputs.ok());
  registry_.Unregister("");
  InferResponse response;
  response.outputs.push_back(Fp32("a", {2}));
  response.outputs[0].data.assign(8, 3);
  ASSERT_TRUE(outputs->Write(response).ok());
  EXPECT_EQ(obj_.data()[1024], 3);
}

}  // namespace
}  // namespace ferry
