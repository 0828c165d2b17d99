// The repository extension's load with a "config" parameter: Triton's ModelConfig as JSON
// (the shape GET /v2/models/{m}/config answers, server/model_configuration.h), applied to
// the model's config.toml.
//
// A field equal to what the model's configuration shows today changes nothing, so a client
// may send back what it read with one field changed. A field that differs changes the
// config.toml key it comes from (docs/api.md has the table); a field Ferry cannot honour
// (a GPU instance group, a version policy other than "all", an ensemble's steps, a field
// Ferry has no key for) is refused, naming it. The result is checked as a config.toml
// file is, so a bad override never reaches the repository.
#ifndef FERRY_SERVER_CONFIG_OVERRIDE_H_
#define FERRY_SERVER_CONFIG_OVERRIDE_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "server/model_configuration.h"

namespace ferry {

// The new config.toml text for `model`. `current` is the model's configuration as the
// extension shows it and `current_toml` its config.toml text; both null/empty for a model
// the repository does not have yet (then platform, max_batch_size, input and output are
// required). InvalidArgument naming the field ("config.input[0].data_type: ...").
absl::StatusOr<std::string> ApplyConfigOverride(const std::string& model,
                                                absl::string_view config_json,
                                                const TritonModelConfig* current,
                                                absl::string_view current_toml);

}  // namespace ferry

#endif  // FERRY_SERVER_CONFIG_OVERRIDE_H_
