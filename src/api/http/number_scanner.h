// A fast path for the numbers in a request's "data" array. Boost.JSON's number parsing
// plus one handler call per element dominates the cost of decoding a typical request (an
// image as a flat array of small integers), so DecodeInferHeader stops the parser just past
// the '[' of each "data" array and lets ScanNumbers convert the leading run of plain
// numbers straight into the tensor bytes; the parser then goes on from where the scan
// stopped as if it had read those elements itself.
//
// The scan never fails and never reports an error: it stops before the first element it
// cannot convert exactly as the parser and tensor_json::PutLeaf would (or whose successor
// it cannot vouch for), and the general path deals with that element, errors included.
// Internal to api/http.
#ifndef FERRY_API_HTTP_NUMBER_SCANNER_H_
#define FERRY_API_HTTP_NUMBER_SCANNER_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "api/http/tensor_json.h"
#include "core/tensor.h"

namespace ferry {
namespace number_scan {

inline constexpr size_t kNotFound = absl::string_view::npos;

// The position just past the '[' of the next `"data": [` in `body` at or after `from`, or
// kNotFound. `from` must be outside any string. Strings are told apart from the rest only as
// valid JSON would have them; that suffices because the parser validates everything before
// the returned position before anything relies on it.
size_t FindDataArray(absl::string_view body, size_t from);

struct Scanned {
  int64_t count = 0;  // elements converted and appended
  // Where the parser must continue, its state being "just past the array's '['": the
  // array's ']' when every element was converted, else the start of the first element left
  // to it (never a ']': after a ',' that would read a trailing comma as the array's end).
  size_t resume = 0;
};

// Converts the numbers at the start of the flat array whose '[' ends just before `pos`,
// appending them to `out` as `dtype` (nothing for datatypes other than the integer and
// floating point types JSON numbers can fill).
Scanned ScanNumbers(absl::string_view body, size_t pos, DataType dtype,
                    tensor_json::ByteBuffer& out);

}  // namespace number_scan
}  // namespace ferry

#endif  // FERRY_API_HTTP_NUMBER_SCANNER_H_
