#include "api/adapter.hpp"

namespace fedmesh::api {

net::Response answer(const Result<nlohmann::json>& result, int ok_status) {
  if (result) return net::Response::json(ok_status, *result);
  return net::Response::error(result.error());
}

}  // namespace fedmesh::api
