#include "json/writer.h"

#include <array>
#include <cstdint>
#include <cstring>

namespace ferry {
namespace json_writer {
namespace {

// Bytes that end a plain run: controls, '"', '\' and every byte of a multi-byte sequence.
constexpr std::array<bool, 256> SpecialBytes() {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = c < 0x20 || c >= 0x80 || c == '"' || c == '\\';
  return t;
}
constexpr std::array<bool, 256> kSpecial = SpecialBytes();

// True if any of the eight bytes in `v` may be special. The subtraction tricks flag every
// byte below 0x20 or equal to '"' or '\' (a borrow can also flag a clean byte above a hit,
// which only sends the caller to the byte loop); bytes with the top bit set are flagged
// directly.
inline bool MayHoldSpecial(uint64_t v) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  const uint64_t quote = v ^ (kOnes * '"');
  const uint64_t backslash = v ^ (kOnes * '\\');
  const uint64_t below_space = (v - kOnes * 0x20) & ~v;
  const uint64_t is_quote = (quote - kOnes) & ~quote;
  const uint64_t is_backslash = (backslash - kOnes) & ~backslash;
  return ((below_space | is_quote | is_backslash | v) & kHigh) != 0;
}

// Advances `p` past plain ASCII: to the first special byte, or to `end`.
inline const unsigned char* SkipPlain(const unsigned char* p, const unsigned char* end) {
  while (true) {
    while (end - p >= 8) {
      uint64_t v;
      std::memcpy(&v, p, sizeof(v));
      if (MayHoldSpecial(v)) break;
      p += 8;
    }
    const unsigned char* stop = end - p >= 8 ? p + 8 : end;
    while (p < stop && !kSpecial[*p]) ++p;
    if (p != stop || p == end) return p;
    // A false alarm from MayHoldSpecial: back to eight at a time.
  }
}

// The sequence that starts at `p` (whose first byte is >= 0x80), after Table 3-7 of the
// Unicode Standard: its length if well formed, else minus the length of its maximal
// ill-formed subpart (at least 1), which becomes one U+FFFD. The second byte's range is
// what excludes overlongs (E0, F0), surrogates (ED) and code points past U+10FFFF (F4).
inline int Utf8Sequence(const unsigned char* p, const unsigned char* end) {
  const unsigned char c = p[0];
  int len;
  unsigned char lo = 0x80;
  unsigned char hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return -1;  // a continuation byte, or C0, C1, F5..FF, which never start a sequence
  }
  for (int k = 1; k < len; ++k) {
    if (end - p == k || p[k] < lo || p[k] > hi) return -k;
    lo = 0x80;
    hi = 0xbf;
  }
  return len;
}

void AppendEscape(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  char short_form = 0;
  switch (c) {
    case '"': short_form = '"'; break;
    case '\\': short_form = '\\'; break;
    case '\b': short_form = 'b'; break;
    case '\f': short_form = 'f'; break;
    case '\n': short_form = 'n'; break;
    case '\r': short_form = 'r'; break;
    case '\t': short_form = 't'; break;
  }
  if (short_form != 0) {
    const char escape[2] = {'\\', short_form};
    out.append(escape, 2);
    return;
  }
  const char escape[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
  out.append(escape, 6);
}

}  // namespace

void AppendString(std::string& out, absl::string_view s) {
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  // Bytes that pass through unchanged (ASCII and well-formed sequences) accumulate in
  // [run, p) and are appended in one piece when something must be rewritten, or at the end.
  const unsigned char* run = p;
  while (true) {
    p = SkipPlain(p, end);
    if (p == end) break;
    const unsigned char c = *p;
    int length = 1;
    if (c >= 0x80) {
      length = Utf8Sequence(p, end);
      if (length > 0) {
        p += length;
        continue;
      }
      length = -length;
    }
    out.append(reinterpret_cast<const char*>(run), p - run);
    if (c < 0x80) {
      AppendEscape(out, c);
    } else {
      out.append("\xef\xbf\xbd");  // U+FFFD REPLACEMENT CHARACTER
    }
    p += length;
    run = p;
  }
  out.append(reinterpret_cast<const char*>(run), p - run);
  out.push_back('"');
}

}  // namespace json_writer
}  // namespace ferry
