// The [uncertainty] table of a model's config.toml (docs/repository.md documents each
// key): where the logits are, which conformal score the served prediction sets use,
// the alpha levels `ferry calibrate` computes and the threshold for `uncertain`.
#ifndef FERRY_UNCERTAINTY_UNCERTAINTY_CONFIG_H_
#define FERRY_UNCERTAINTY_UNCERTAINTY_CONFIG_H_

#include <string>
#include <vector>

#include "uncertainty/conformal.h"

namespace ferry {

struct UncertaintyConfig {
  // The model output that holds unnormalized class scores, FP32 or FP64 [-1, C].
  std::string logits = "logits";
  // The score behind the `prediction_set` output.
  ConformalScore score = ConformalScore::kLac;
  // The miscoverage level a request gets when it sets no "alpha" parameter. Must be one
  // of `alphas`.
  double alpha = 0.1;
  // The levels `ferry calibrate` computes thresholds for; a request may pick any of them.
  // Ascending, distinct, each in (0, 1).
  std::vector<double> alphas = {0.05, 0.1, 0.2};
  // `uncertain` is also true when the top calibrated probability is below this, even if
  // the set holds one class: such an answer is wrong about one time in three or more.
  // 0 turns this part off.
  double min_confidence = 0.7;
};

}  // namespace ferry

#endif  // FERRY_UNCERTAINTY_UNCERTAINTY_CONFIG_H_
