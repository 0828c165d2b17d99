// The names the registry accepts, checked once here so the API and the CLI refuse the same
// things with the same messages (InvalidArgument naming the field and the rule).
#ifndef FERRY_REGISTRY_NAMES_H_
#define FERRY_REGISTRY_NAMES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ferry {

// An alias: [a-z][a-z0-9_-]{0,62}. Starting with a letter keeps it from ever reading as a
// version number, so `versions/production` and `versions/3` are never ambiguous.
absl::Status ValidateAliasName(absl::string_view alias);

// A model name is a folder in the repository: 1..128 of [A-Za-z0-9_.-], starting with a
// letter or digit (so never "." or "..", never hidden).
absl::Status ValidateModelName(absl::string_view model);

// A tag key: 1..128 of [A-Za-z0-9_.:/-]; values are free text up to 4096 bytes.
absl::Status ValidateTag(absl::string_view key, absl::string_view value);

// Who is acting when no principal is known: the local user's name (the password database
// entry of the effective uid, else $USER, else "uid:<n>").
std::string LocalUserName();

}  // namespace ferry

#endif  // FERRY_REGISTRY_NAMES_H_
