// Bearer-token authorization for a listener: run on the request header, before any body
// is read. The token is compared in constant time and never logged.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "net/http_types.hpp"

namespace fedmesh::net {

// An authorize function (ServerOptions::authorize) that requires `Authorization: Bearer
// <token>` on paths under /api/ and on /metrics; 401 with WWW-Authenticate otherwise.
std::function<std::optional<Response>(const Request&)> bearer_authorizer(const std::string& token);

}  // namespace fedmesh::net
