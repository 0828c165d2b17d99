// The only translation unit that includes libtorch headers (they compile slowly).
#include "backends/torch/torch_backend.h"

#include <ATen/Parallel.h>
#include <torch/script.h>

#include <dlfcn.h>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace ferry {
namespace {

absl::StatusOr<c10::ScalarType> ToTorchType(DataType dtype) {
  switch (dtype) {
    case DataType::kBool: return c10::kBool;
    case DataType::kUint8: return c10::kByte;
    case DataType::kInt8: return c10::kChar;
    case DataType::kInt16: return c10::kShort;
    case DataType::kInt32: return c10::kInt;
    case DataType::kInt64: return c10::kLong;
    case DataType::kFp16: return c10::kHalf;
    case DataType::kBf16: return c10::kBFloat16;
    case DataType::kFp32: return c10::kFloat;
    case DataType::kFp64: return c10::kDouble;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("datatype ", DataTypeName(dtype), " is not supported by torchscript"));
  }
}

class TorchBackend : public Backend {
 public:
  TorchBackend(torch::jit::Module module, ModelSignature signature, int threads,
               std::string description)
      : module_(std::move(module)),
        signature_(std::move(signature)),
        threads_(threads),
        description_(std::move(description)) {}

  void PrepareWorkerThread() override {
    // With OpenMP, the thread count is per calling thread, so each worker gets its own.
    // Also called before every batch run inline on an I/O thread, so skip the call when
    // this thread is already set (it can rebuild libtorch's thread pools).
    thread_local int configured = -1;
    if (configured == threads_) return;
    at::set_num_threads(threads_);
    configured = threads_;
  }

  std::string Describe() const override { return description_; }

  absl::StatusOr<std::vector<Tensor>> Execute(std::vector<Tensor>& inputs) override {
    if (inputs.size() != signature_.inputs.size()) {
      return absl::InternalError(absl::StrCat("expected ", signature_.inputs.size(),
                                              " inputs, got ", inputs.size()));
    }
    try {
      c10::InferenceMode guard;
      std::vector<c10::IValue> args;
      args.reserve(inputs.size());
      for (Tensor& t : inputs) {
        const absl::StatusOr<c10::ScalarType> type = ToTorchType(t.dtype);
        if (!type.ok()) return type.status();
        // The Tensor outlives the call, so torch may borrow its bytes.
        args.emplace_back(torch::from_blob(t.data.data(), t.shape, torch::TensorOptions(*type)));
      }
      c10::IValue result = module_.forward(std::move(args));
      std::vector<at::Tensor> outs;
      if (result.isTensor()) {
        outs.push_back(result.toTensor());
      } else if (result.isTuple()) {
        for (const auto& e : result.toTupleRef().elements()) {
          if (!e.isTensor()) return absl::InternalError("the model returned a non-tensor");
          outs.push_back(e.toTensor());
        }
      } else if (result.isTensorList()) {
        for (const at::Tensor& e : result.toTensorVector()) outs.push_back(e);
      } else {
        return absl::InternalError(
            absl::StrCat("the model returned ", result.tagKind(), ", not tensors"));
      }
      if (outs.size() != signature_.outputs.size()) {
        return absl::InternalError(absl::StrCat("the model returned ", outs.size(),
                                                " tensors; its config lists ",
                                                signature_.outputs.size(), " outputs"));
      }
      std::vector<Tensor> outputs(outs.size());
      for (size_t i = 0; i < outs.size(); ++i) {
        const TensorSpec& spec = signature_.outputs[i];
        const absl::StatusOr<c10::ScalarType> want = ToTorchType(spec.dtype);
        if (!want.ok()) return want.status();
        if (outs[i].scalar_type() != *want) {
          return absl::InternalError(absl::StrCat("output '", spec.name, "' is ",
                                                  c10::toString(outs[i].scalar_type()),
                                                  " but its config says ", DataTypeName(spec.dtype)));
        }
        const at::Tensor out = outs[i].contiguous();
        Tensor& t = outputs[i];
        t.name = spec.name;
        t.dtype = spec.dtype;
        t.shape.assign(out.sizes().begin(), out.sizes().end());
        t.data.resize(out.nbytes());
        if (out.nbytes() > 0) std::memcpy(t.data.data(), out.data_ptr(), out.nbytes());
      }
      return outputs;
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("libtorch: ", e.what()));
    }
  }

 private:
  torch::jit::Module module_;
  const ModelSignature signature_;
  const int threads_;
  const std::string description_;
};

// Deterministic, non-trivial probe values: zeros would let a broken optimization pass.
std::vector<Tensor> ProbeInputs(const ModelSignature& signature, int64_t rows) {
  std::vector<Tensor> inputs = ZeroInputs(signature, rows);
  uint32_t state = 12345;
  for (Tensor& t : inputs) {
    const int64_t n = t.element_count();
    for (int64_t i = 0; i < n; ++i) {
      state = state * 1664525u + 1013904223u;
      const int small = static_cast<int>((state >> 24) % 7);
      switch (t.dtype) {
        case DataType::kFp32: t.mutable_data_as<float>()[i] = static_cast<float>(state >> 8) / (1 << 24) * 255.0f; break;
        case DataType::kFp64: t.mutable_data_as<double>()[i] = static_cast<double>(state >> 8) / (1 << 24) * 255.0; break;
        case DataType::kInt32: t.mutable_data_as<int32_t>()[i] = small; break;
        case DataType::kInt64: t.mutable_data_as<int64_t>()[i] = small; break;
        default: break;  // zeros are fine for the rest
      }
    }
  }
  return inputs;
}

bool SameOutputs(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].shape != b[i].shape || a[i].data.size() != b[i].data.size()) return false;
    if (a[i].dtype == DataType::kFp32) {
      const float* x = a[i].data_as<float>();
      const float* y = b[i].data_as<float>();
      for (size_t k = 0; k < a[i].data.size() / 4; ++k) {
        if (std::abs(x[k] - y[k]) > 1e-3f * (1.0f + std::abs(x[k]))) return false;
      }
    } else if (a[i].dtype != DataType::kFp16 && a[i].dtype != DataType::kBf16 &&
               a[i].dtype != DataType::kFp64) {
      if (a[i].data != b[i].data) return false;
    }
  }
  return true;
}

// Puts every dropout submodule (by its scripted class name: Dropout, Dropout2d,
// AlphaDropout, ...) of an eval-mode module back in training mode; returns how many.
// Only those: batch norm and the rest keep their inference behaviour.
int KeepDropoutActive(torch::jit::Module& module) {
  int active = 0;
  for (const auto& m : module.named_modules()) {
    const auto name = m.value.type()->name();
    if (name && name->name().find("Dropout") != std::string::npos) {
      torch::jit::Module sub = m.value;
      sub.train(true);
      ++active;
    }
  }
  return active;
}

// Logs "<label> comes from <file>", the shared object the loader bound `symbol` to.
void LogWhereSymbolComesFrom(const char* label, const char* symbol) {
  Dl_info info;
  void* address = dlsym(RTLD_DEFAULT, symbol);
  if (address != nullptr && dladdr(address, &info) != 0 && info.dli_fname != nullptr) {
    spdlog::info("{} comes from {}", label, info.dli_fname);
  }
}

}  // namespace

void ConfigureTorchProcess(int interop_threads, int intra_op_threads) {
  static std::once_flag once;
  std::call_once(once, [&] {
    // Inter-op parallelism only matters for graphs that fork; workers are our parallelism.
    at::set_num_interop_threads(interop_threads);
    // at::set_num_threads does not reach OpenBLAS, whose own pool defaults to one thread
    // per core, is shared by every caller, and spins in sched_yield between calls. Profiles
    // showed that pool burning a core beside Ferry's workers, so BLAS runs on the calling
    // worker's thread. Looked up at run time: libtorch may be linked to another BLAS.
    using SetThreads = void (*)(int);
    using GetThreads = int (*)();
    auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    auto get = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    if (set != nullptr && get != nullptr) {
      const int before = get();
      set(1);
      spdlog::info("OpenBLAS threads: {} -> {} (each worker runs its own BLAS calls)", before, get());
    }
    // Which library answers libtorch's matrix products and every allocation depends on link
    // order (CMake's FERRY_BLIS and FERRY_TCMALLOC) and the system's BLAS alternative; say
    // which one the loader bound.
    LogWhereSymbolComesFrom("BLAS: sgemm_", "sgemm_");
    LogWhereSymbolComesFrom("malloc", "malloc");
  });
  at::set_num_threads(intra_op_threads);
}

absl::Status SetQuantizedEngine(const std::string& name) {
  std::string supported;
  for (const at::QEngine engine : at::globalContext().supportedQEngines()) {
    const std::string engine_name = c10::toString(engine);
    std::string lower;
    for (char c : engine_name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == name) {
      at::globalContext().setQEngine(engine);
      return absl::OkStatus();
    }
    if (engine != at::QEngine::NoQEngine) absl::StrAppend(&supported, supported.empty() ? "" : ", ", lower);
  }
  return absl::InvalidArgumentError(absl::StrCat("quantized engine '", name,
                                                 "' is not available; this libtorch has: ", supported));
}

absl::StatusOr<std::unique_ptr<Backend>> CreateTorchBackend(const BackendOptions& options) {
  for (const TensorSpec& spec : options.signature.inputs) {
    if (absl::StatusOr<c10::ScalarType> t = ToTorchType(spec.dtype); !t.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("input '", spec.name, "': ", t.status().message()));
    }
  }
  for (const TensorSpec& spec : options.signature.outputs) {
    if (absl::StatusOr<c10::ScalarType> t = ToTorchType(spec.dtype); !t.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("output '", spec.name, "': ", t.status().message()));
    }
  }
  const std::string path = (std::filesystem::path(options.version_path) / "model.pt").string();
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(absl::StrCat(path, ": file not found"));
  }
  torch::jit::Module plain;
  try {
    plain = torch::jit::load(path, torch::kCPU);
    plain.eval();
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a loadable TorchScript file: ", what));
  }
  std::string plain_description = "plain module";
  if (options.keep_dropout_active) {
    const int active = KeepDropoutActive(plain);
    if (active == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": mc_dropout: the model has no dropout layers (nn.Dropout modules) to keep active"));
    }
    plain_description = absl::StrCat("plain module, dropout active in ", active, " module(s)");
  }
  at::set_num_threads(options.intra_op_threads);
  auto plain_backend = std::make_unique<TorchBackend>(plain, options.signature,
                                                      options.intra_op_threads, plain_description);
  // A probe through the plain module proves the signature matches the graph before
  // anything else is tried, and gives the reference answer for the optimized one.
  std::vector<Tensor> probe = ProbeInputs(options.signature, 1);
  absl::StatusOr<std::vector<Tensor>> reference = plain_backend->Execute(probe);
  if (!reference.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": the model does not run on inputs shaped like its config: ", reference.status().message()));
  }
  // Run the stochastic module as loaded: optimization passes are free to remove dropout.
  if (!options.optimize || options.keep_dropout_active) return plain_backend;

  std::string why;
  try {
    torch::jit::Module frozen = torch::jit::freeze(plain);
    torch::jit::Module optimized = torch::jit::optimize_for_inference(frozen);
    auto fast = std::make_unique<TorchBackend>(optimized, options.signature,
                                               options.intra_op_threads,
                                               "frozen + optimized for inference");
    std::vector<Tensor> again = ProbeInputs(options.signature, 1);
    absl::StatusOr<std::vector<Tensor>> answer = fast->Execute(again);
    if (!answer.ok()) {
      why = std::string(answer.status().message());
    } else if (!SameOutputs(*reference, *answer)) {
      why = "its outputs differ from the plain module's on a probe input";
    } else {
      return fast;
    }
  } catch (const std::exception& e) {
    why = e.what();
    if (auto nl = why.find('\n'); nl != std::string::npos) why.resize(nl);
  }
  spdlog::warn("{}: optimization failed ({}); serving the plain module", path, why);
  return plain_backend;
}

}  // namespace ferry
