// Triton's extension RPCs beyond inference, statistics and the repository: the model
// configuration, log and trace settings, system shared memory, and CUDA shared memory,
// which Ferry refuses with a reason.
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/grpc/grpc_service.h"

namespace ferry {
namespace grpc_api {
namespace {

void FillTensor(const TritonTensorConfig& from, inference::ModelInput* to) {
  to->set_name(from.name);
  inference::DataType dtype = inference::TYPE_INVALID;
  inference::DataType_Parse(from.data_type, &dtype);
  to->set_data_type(dtype);
  inference::ModelInput::Format format = inference::ModelInput::FORMAT_NONE;
  inference::ModelInput::Format_Parse(from.format, &format);
  to->set_format(format);
  to->mutable_dims()->Add(from.dims.begin(), from.dims.end());
}

void FillTensor(const TritonTensorConfig& from, inference::ModelOutput* to) {
  to->set_name(from.name);
  inference::DataType dtype = inference::TYPE_INVALID;
  inference::DataType_Parse(from.data_type, &dtype);
  to->set_data_type(dtype);
  to->mutable_dims()->Add(from.dims.begin(), from.dims.end());
  to->set_label_filename(from.label_filename);
}

void FillConfig(const TritonModelConfig& from, inference::ModelConfig* to) {
  to->set_name(from.name);
  to->set_platform(from.platform);
  to->set_backend(from.backend);
  to->mutable_version_policy()->mutable_all();
  to->set_max_batch_size(from.max_batch_size);
  for (const TritonTensorConfig& t : from.inputs) FillTensor(t, to->add_input());
  for (const TritonTensorConfig& t : from.outputs) FillTensor(t, to->add_output());
  if (from.is_ensemble) {
    inference::ModelEnsembling* ensemble = to->mutable_ensemble_scheduling();
    for (const TritonEnsembleStep& s : from.ensemble_steps) {
      inference::ModelEnsembling::Step* step = ensemble->add_step();
      step->set_model_name(s.model_name);
      step->set_model_version(s.model_version);
      for (const auto& [model_input, tensor] : s.input_map) {
        (*step->mutable_input_map())[model_input] = tensor;
      }
    }
  } else {
    inference::ModelDynamicBatching* batching = to->mutable_dynamic_batching();
    batching->mutable_preferred_batch_size()->Add(from.preferred_batch_sizes.begin(),
                                                  from.preferred_batch_sizes.end());
    batching->set_max_queue_delay_microseconds(from.max_queue_delay_us);
    batching->mutable_default_queue_policy()->set_max_queue_size(from.max_queue_size);
  }
  if (from.instance_count > 0) {
    inference::ModelInstanceGroup* group = to->add_instance_group();
    group->set_name(from.name);
    group->set_count(from.instance_count);
    group->set_kind(inference::ModelInstanceGroup::KIND_CPU);
  }
  for (const auto& [key, value] : from.parameters) {
    (*to->mutable_parameters())[key].set_string_value(value);
  }
}

// FAILED_PRECONDITION rather than UNIMPLEMENTED: the RPC is understood, but the server lacks
// what it needs (a GPU), so no retry or later version of the call can succeed here; and not
// UNAVAILABLE, which retry policies retry.
grpc::Status NoCuda(const char* rpc) {
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      absl::StrCat(rpc, ": CUDA shared memory is not supported: Ferry runs on "
                                        "CPUs only; use the request body (raw contents)"));
}

}  // namespace

grpc::ServerUnaryReactor* InferenceService::ModelConfig(grpc::CallbackServerContext* ctx,
                                                        const inference::ModelConfigRequest* req,
                                                        inference::ModelConfigResponse* resp) {
  absl::StatusOr<TritonModelConfig> config = server_->GetModelConfig(req->name(), req->version());
  if (!config.ok()) return FinishNow(ctx, config.status());
  FillConfig(*config, resp->mutable_config());
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::LogSettings(grpc::CallbackServerContext* ctx,
                                                        const inference::LogSettingsRequest* req,
                                                        inference::LogSettingsResponse* resp) {
  using Value = inference::LogSettingsRequest::SettingValue;
  SettingUpdates updates;
  for (const auto& [name, value] : req->settings()) {
    switch (value.parameter_choice_case()) {
      case Value::kBoolParam: updates.emplace_back(name, value.bool_param()); break;
      case Value::kUint32Param:
        updates.emplace_back(name, static_cast<int64_t>(value.uint32_param()));
        break;
      case Value::kStringParam: updates.emplace_back(name, value.string_param()); break;
      default:
        return FinishNow(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                           absl::StrCat("log setting '", name, "' has no value")));
    }
  }
  const RequestContext context;  // no identity yet: authentication will fill the principal
  absl::StatusOr<ferry::LogSettings> now = admin_->Logging(context, updates);
  if (!now.ok()) return FinishNow(ctx, now.status());
  auto& out = *resp->mutable_settings();
  out["log_file"].set_string_param(now->log_file);
  out["log_info"].set_bool_param(now->log_info);
  out["log_warnings"].set_bool_param(now->log_warnings);
  out["log_errors"].set_bool_param(now->log_errors);
  out["log_verbose_level"].set_uint32_param(now->log_verbose_level);
  out["log_format"].set_string_param(now->log_format);
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::TraceSetting(grpc::CallbackServerContext* ctx,
                                                         const inference::TraceSettingRequest* req,
                                                         inference::TraceSettingResponse* resp) {
  ferry::TraceSettings updates;
  for (const auto& [name, value] : req->settings()) {
    updates.emplace_back(name, std::vector<std::string>(value.value().begin(), value.value().end()));
  }
  const RequestContext context;  // no identity yet: authentication will fill the principal
  absl::StatusOr<ferry::TraceSettings> now = admin_->Tracing(context, req->model_name(), updates);
  if (!now.ok()) return FinishNow(ctx, now.status());
  for (const auto& [name, values] : *now) {
    auto* out = (*resp->mutable_settings())[name].mutable_value();
    out->Add(values.begin(), values.end());
  }
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::SystemSharedMemoryStatus(
    grpc::CallbackServerContext* ctx, const inference::SystemSharedMemoryStatusRequest* req,
    inference::SystemSharedMemoryStatusResponse* resp) {
  absl::StatusOr<std::vector<SharedMemoryRegionStatus>> status =
      server_->shared_memory().Status(req->name());
  if (!status.ok()) return FinishNow(ctx, status.status());
  for (const SharedMemoryRegionStatus& s : *status) {
    auto& out = (*resp->mutable_regions())[s.name];
    out.set_name(s.name);
    out.set_key(s.key);
    out.set_offset(s.offset);
    out.set_byte_size(s.byte_size);
  }
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::SystemSharedMemoryRegister(
    grpc::CallbackServerContext* ctx, const inference::SystemSharedMemoryRegisterRequest* req,
    inference::SystemSharedMemoryRegisterResponse*) {
  // NOT_FOUND for a key no object has, INVALID_ARGUMENT for the rest (SharedMemoryRegistry).
  return FinishNow(ctx, server_->shared_memory().Register(req->name(), req->key(), req->offset(),
                                                          req->byte_size()));
}

grpc::ServerUnaryReactor* InferenceService::SystemSharedMemoryUnregister(
    grpc::CallbackServerContext* ctx, const inference::SystemSharedMemoryUnregisterRequest* req,
    inference::SystemSharedMemoryUnregisterResponse*) {
  server_->shared_memory().Unregister(req->name());  // empty: every region
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::CudaSharedMemoryStatus(
    grpc::CallbackServerContext* ctx, const inference::CudaSharedMemoryStatusRequest*,
    inference::CudaSharedMemoryStatusResponse*) {
  return FinishNow(ctx, NoCuda("CudaSharedMemoryStatus"));
}

grpc::ServerUnaryReactor* InferenceService::CudaSharedMemoryRegister(
    grpc::CallbackServerContext* ctx, const inference::CudaSharedMemoryRegisterRequest*,
    inference::CudaSharedMemoryRegisterResponse*) {
  return FinishNow(ctx, NoCuda("CudaSharedMemoryRegister"));
}

grpc::ServerUnaryReactor* InferenceService::CudaSharedMemoryUnregister(
    grpc::CallbackServerContext* ctx, const inference::CudaSharedMemoryUnregisterRequest*,
    inference::CudaSharedMemoryUnregisterResponse*) {
  return FinishNow(ctx, NoCuda("CudaSharedMemoryUnregister"));
}

}  // namespace grpc_api
}  // namespace ferry
