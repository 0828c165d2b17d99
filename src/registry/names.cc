#include "registry/names.h"

#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "json/writer.h"

namespace ferry {
namespace {

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsLower(c) || IsDigit(c) || (c >= 'A' && c <= 'Z'); }

}  // namespace

absl::Status ValidateAliasName(absl::string_view alias) {
  bool ok = !alias.empty() && alias.size() <= 63 && IsLower(alias[0]);
  for (char c : alias) ok = ok && (IsLower(c) || IsDigit(c) || c == '_' || c == '-');
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "alias: ", JsonString(alias),
      " is not an alias name; expected a lowercase letter, then up to 62 of a-z, 0-9, _ and -"));
}

absl::Status ValidateModelName(absl::string_view model) {
  bool ok = !model.empty() && model.size() <= 128 && IsAlnum(model[0]);
  for (char c : model) ok = ok && (IsAlnum(c) || c == '_' || c == '.' || c == '-');
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "model: ", JsonString(model),
      " is not a model name; expected 1 to 128 of A-Z, a-z, 0-9, _, . and -, starting with a "
      "letter or digit"));
}

absl::Status ValidateTag(absl::string_view key, absl::string_view value) {
  bool ok = !key.empty() && key.size() <= 128;
  for (char c : key) {
    ok = ok && (IsAlnum(c) || c == '_' || c == '.' || c == ':' || c == '/' || c == '-');
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("tags: key ", JsonString(key),
                     " is not a tag key; expected 1 to 128 of A-Z, a-z, "
                     "0-9, _, ., :, / and -"));
  }
  if (value.size() > 4096) {
    return absl::InvalidArgumentError(absl::StrCat("tags: the value of ", JsonString(key), " is ",
                                                   value.size(),
                                                   " bytes; at most 4096 are allowed"));
  }
  return absl::OkStatus();
}

std::string LocalUserName() {
  const uid_t uid = geteuid();
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::string buffer(size > 0 ? static_cast<size_t>(size) : 16384, '\0');
  passwd entry;
  passwd* found = nullptr;
  if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr &&
      found->pw_name != nullptr && found->pw_name[0] != '\0') {
    return found->pw_name;
  }
  const char* user = getenv("USER");
  if (user != nullptr && user[0] != '\0') return user;
  return absl::StrCat("uid:", uid);
}

}  // namespace ferry
