// The two 16-bit float datatypes of the protocol, FP16 (IEEE binary16) and BF16 (bfloat16),
// to and from float. Tensors carry them as raw uint16_t bits; these convert at the edges
// where a value has to be made or read (JSON text, generated inputs).
#ifndef FERRY_CORE_FLOAT16_H_
#define FERRY_CORE_FLOAT16_H_

#include <cstdint>

namespace ferry {

// Round to nearest, ties to even. Out-of-range magnitudes become Inf; values below the
// smallest half subnormal become (signed) zero; NaN stays a quiet NaN.
uint16_t FloatToHalf(float f);
// Exact: every half is a float.
float HalfToFloat(uint16_t h);

// Round to nearest, ties to even; NaN stays a quiet NaN.
uint16_t FloatToBf16(float f);
// Exact: bfloat16 is the top half of a float.
float Bf16ToFloat(uint16_t b);

}  // namespace ferry

#endif  // FERRY_CORE_FLOAT16_H_
