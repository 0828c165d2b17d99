// Routing one REST request in process, for the tests of api/http and of what shares its
// admin bound. Header-only, so that ferry_testing does not link ferry_http.
#ifndef FERRY_TESTING_ROUTE_H_
#define FERRY_TESTING_ROUTE_H_

#include <future>
#include <memory>
#include <optional>

#include "api/http/router.h"
#include "core/request_context.h"

namespace ferry {

// Hands `request` to `router` and waits for its response (an inference may answer from
// another thread). Empty when the router sent none (a cancelled request).
inline std::optional<HttpResponse> RouteAndWait(
    Router& router, const HttpRequest& request,
    std::shared_ptr<RequestContext> context = std::make_shared<RequestContext>()) {
  std::promise<std::optional<HttpResponse>> promise;
  router.Handle(request, std::move(context),
                [&promise](std::optional<HttpResponse> r) { promise.set_value(std::move(r)); });
  return promise.get_future().get();
}

}  // namespace ferry

#endif  // FERRY_TESTING_ROUTE_H_
