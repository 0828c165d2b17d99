// The registry's REST API: JSON under /api/v1 (docs/registry.md has the endpoints, their
// fields and errors). The router hands every target under /api/v1 here; the calls go to
// the AdminService's RegistryService, and a registration then loads the new version
// through AdminService::LoadModel, so it serves once the answer is 201.
#ifndef FERRY_API_HTTP_ADMIN_API_H_
#define FERRY_API_HTTP_ADMIN_API_H_

#include <string_view>

#include "api/http/router.h"
#include "core/request_context.h"
#include "server/admin_service.h"

namespace ferry {

// True for "/api/v1" and every target under it.
bool IsAdminApiTarget(std::string_view target);

// Answers one /api/v1 request through `respond`, exactly once: before returning, except a
// registration, which answers from an admin thread once its load is done (201 when the
// version is ready in `server`, else 422 naming the load error; the version is then
// archived so that no alias can name it).
void HandleAdminApi(const HttpRequest& request, const RequestContext& context,
                    InferenceServer* server, AdminService* admin, Responder respond);

}  // namespace ferry

#endif  // FERRY_API_HTTP_ADMIN_API_H_
