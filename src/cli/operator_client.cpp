#include "cli/operator_client.hpp"

#include <cstdlib>

#include "net/plain_http.hpp"

namespace fedmesh::cli {

Result<OperatorResponse> operator_request(const std::string& base_url, const std::string& method,
                                          const std::string& path, const std::string& body,
                                          std::chrono::milliseconds timeout) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (const char* token = std::getenv("FEDMESH_TOKEN"); token && *token)
    headers.emplace_back("Authorization", std::string("Bearer ") + token);
  auto r = net::plain_http_request(base_url, method, path, body, timeout, headers);
  if (!r) {
    if (r.error().code() == ErrorCode::peer_unavailable && r.error().message().ends_with("cannot connect"))
      return make_error(ErrorCode::peer_unavailable, r.error().message() + " (is the node running?)");
    return std::move(r).error();
  }
  return OperatorResponse{r->status, std::move(r->body)};
}

}  // namespace fedmesh::cli
