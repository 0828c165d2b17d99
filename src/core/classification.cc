#include "core/classification.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ferry {
namespace {

template <typename T>
void ToDoubles(const Tensor& t, std::vector<double>& out) {
  const T* p = t.data_as<T>();
  const size_t n = t.data.size() / sizeof(T);
  out.resize(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<double>(p[i]);
}

absl::Status ScoresAsDoubles(const Tensor& t, std::vector<double>& out) {
  switch (t.dtype) {
    case DataType::kUint8: ToDoubles<uint8_t>(t, out); break;
    case DataType::kUint16: ToDoubles<uint16_t>(t, out); break;
    case DataType::kUint32: ToDoubles<uint32_t>(t, out); break;
    case DataType::kUint64: ToDoubles<uint64_t>(t, out); break;
    case DataType::kInt8: ToDoubles<int8_t>(t, out); break;
    case DataType::kInt16: ToDoubles<int16_t>(t, out); break;
    case DataType::kInt32: ToDoubles<int32_t>(t, out); break;
    case DataType::kInt64: ToDoubles<int64_t>(t, out); break;
    case DataType::kFp32: ToDoubles<float>(t, out); break;
    case DataType::kFp64: ToDoubles<double>(t, out); break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("output '", t.name,
                                                     "': classification is not supported for ",
                                                     DataTypeName(t.dtype)));
  }
  return absl::OkStatus();
}

}  // namespace

void AppendBytesElement(absl::string_view value, std::vector<uint8_t>& data) {
  const uint32_t len = static_cast<uint32_t>(value.size());
  const size_t at = data.size();
  data.resize(at + sizeof(len) + value.size());
  std::memcpy(data.data() + at, &len, sizeof(len));
  if (!value.empty()) std::memcpy(data.data() + at + sizeof(len), value.data(), value.size());
}

std::vector<std::string> BytesElements(const Tensor& t) {
  std::vector<std::string> out;
  size_t offset = 0;
  while (offset + sizeof(uint32_t) <= t.data.size()) {
    uint32_t len;
    std::memcpy(&len, t.data.data() + offset, sizeof(len));
    offset += sizeof(len);
    if (offset + len > t.data.size()) break;
    out.emplace_back(reinterpret_cast<const char*>(t.data.data() + offset), len);
    offset += len;
  }
  return out;
}

absl::StatusOr<Tensor> TopClasses(const Tensor& scores, int64_t n,
                                  const std::vector<std::string>& labels) {
  if (n <= 0) return absl::InvalidArgumentError("classification count must be positive");
  if (scores.shape.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("output '", scores.name, "': classification needs at least one dimension"));
  }
  std::vector<double> values;
  if (absl::Status s = ScoresAsDoubles(scores, values); !s.ok()) return s;
  const int64_t classes = scores.shape.back();
  const int64_t rows = classes == 0 ? 0 : static_cast<int64_t>(values.size()) / classes;
  const int64_t k = std::min(n, classes);

  Tensor out;
  out.name = scores.name;
  out.dtype = DataType::kBytes;
  out.shape = scores.shape;
  out.shape.back() = k;
  std::vector<int64_t> order(classes);
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = values.data() + r * classes;
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [row](int64_t a, int64_t b) {
      return row[a] > row[b] || (row[a] == row[b] && a < b);
    });
    for (int64_t j = 0; j < k; ++j) {
      const int64_t idx = order[j];
      std::string element = absl::StrCat(row[idx], ":", idx);
      if (idx < static_cast<int64_t>(labels.size())) absl::StrAppend(&element, ":", labels[idx]);
      AppendBytesElement(element, out.data);
    }
  }
  return out;
}

}  // namespace ferry
