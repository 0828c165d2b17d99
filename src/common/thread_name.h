// Names for Ferry's own threads, so that `top -H`, `perf report --sort comm` and
// /proc/<pid>/task/*/comm tell the HTTP I/O threads from a model's batch workers
// (bench/cpu_budget splits the server's CPU by these names).
#ifndef FERRY_COMMON_THREAD_NAME_H_
#define FERRY_COMMON_THREAD_NAME_H_

#include <string>
#include <string_view>

namespace ferry {

// Linux keeps at most this many bytes of a thread's name.
inline constexpr size_t kMaxThreadNameBytes = 15;

// Names the calling thread; a longer name is cut to kMaxThreadNameBytes. Best effort:
// a failure (not Linux, say) leaves the name as it was.
void SetCurrentThreadName(std::string_view name);

// The calling thread's name as the kernel holds it; empty if it cannot be read.
std::string CurrentThreadName();

}  // namespace ferry

#endif  // FERRY_COMMON_THREAD_NAME_H_
