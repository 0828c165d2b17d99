#include "common/thread_name.h"

#include <pthread.h>

namespace ferry {

void SetCurrentThreadName(std::string_view name) {
  // pthread_setname_np refuses (ERANGE) a name longer than the kernel keeps.
  const std::string cut(name.substr(0, kMaxThreadNameBytes));
  pthread_setname_np(pthread_self(), cut.c_str());
}

std::string CurrentThreadName() {
  char buffer[kMaxThreadNameBytes + 1] = {};
  if (pthread_getname_np(pthread_self(), buffer, sizeof(buffer)) != 0) return "";
  return buffer;
}

}  // namespace ferry
