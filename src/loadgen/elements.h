// Single tensor elements as numbers: how the load generator fills a core Tensor's bytes
// (little-endian, BOOL one byte; core/tensor.h) with generated or idx-file values, and
// reads them back to write JSON.
#ifndef FERRY_LOADGEN_ELEMENTS_H_
#define FERRY_LOADGEN_ELEMENTS_H_

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace ferry::loadgen {

// Appends `value`, converted to `type`, as little-endian bytes (BOOL: nonzero -> 1;
// FP16 / BF16 rounded to nearest even; integers truncated toward zero).
// REQUIRES: DataTypeByteSize(type) > 0 (not BYTES, not kInvalid).
void AppendNumber(DataType type, double value, std::vector<uint8_t>* out);
// Reads back one element written by AppendNumber, as a double (exact for every type but
// 64-bit integers beyond 2^53). REQUIRES: as AppendNumber; `p` holds DataTypeByteSize bytes.
double ReadNumber(DataType type, const uint8_t* p);

}  // namespace ferry::loadgen

#endif  // FERRY_LOADGEN_ELEMENTS_H_
