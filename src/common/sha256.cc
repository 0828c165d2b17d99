#include "common/sha256.h"

#include <openssl/evp.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ferry {
namespace {

struct CtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using Ctx = std::unique_ptr<EVP_MD_CTX, CtxFree>;

// EVP calls fail only when OpenSSL is out of memory or misconfigured (e.g. a FIPS provider
// that refuses the digest); the digest then cannot be trusted, so the caller gets a status.
absl::Status EvpError(const char* call) {
  return absl::InternalError(absl::StrCat("OpenSSL ", call, " failed for SHA-256"));
}

absl::StatusOr<Ctx> NewSha256() {
  Ctx ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) return EvpError("EVP_MD_CTX_new");
  if (EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return EvpError("EVP_DigestInit_ex");
  }
  return ctx;
}

absl::StatusOr<std::string> FinishHex(EVP_MD_CTX* ctx) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(ctx, digest, &size) != 1) return EvpError("EVP_DigestFinal_ex");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * size);
  for (unsigned int i = 0; i < size; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 15]);
  }
  return hex;
}

}  // namespace

absl::StatusOr<std::string> Sha256Hex(absl::string_view data) {
  absl::StatusOr<Ctx> ctx = NewSha256();
  if (!ctx.ok()) return ctx.status();
  if (EVP_DigestUpdate(ctx->get(), data.data(), data.size()) != 1) {
    return EvpError("EVP_DigestUpdate");
  }
  return FinishHex(ctx->get());
}

absl::StatusOr<std::string> Sha256FileHex(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (file == nullptr) return absl::NotFoundError(absl::StrCat(path, ": cannot open the file"));
  absl::StatusOr<Ctx> ctx = NewSha256();
  if (!ctx.ok()) return ctx.status();
  std::vector<unsigned char> chunk(1 << 16);
  while (true) {
    const size_t n = std::fread(chunk.data(), 1, chunk.size(), file.get());
    if (n > 0 && EVP_DigestUpdate(ctx->get(), chunk.data(), n) != 1) {
      return EvpError("EVP_DigestUpdate");
    }
    if (n < chunk.size()) break;
  }
  if (std::ferror(file.get())) return absl::InternalError(absl::StrCat(path, ": read failed"));
  return FinishHex(ctx->get());
}

}  // namespace ferry
