#include "cli/operator_client.hpp"

#include <cstdlib>

#include "net/blocking_http.hpp"

namespace fedmesh::cli {

Result<OperatorResponse> operator_request(const std::string& base_url, const std::string& method,
                                          const std::string& path, const std::string& body,
                                          std::chrono::milliseconds timeout) {
  net::BlockingOptions options;
  options.timeout = timeout;
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  if (auto token = env("FEDMESH_TOKEN"); !token.empty())
    options.headers.emplace_back("Authorization", "Bearer " + token);
  options.ca_file = env("FEDMESH_CACERT");
  options.server_name = env("FEDMESH_SERVER_NAME");
  auto r = net::blocking_http_request(base_url, method, path, body, options);
  if (!r) {
    if (r.error().code() == ErrorCode::peer_unavailable && r.error().message().ends_with("cannot connect"))
      return make_error(ErrorCode::peer_unavailable, r.error().message() + " (is the node running?)");
    return std::move(r).error();
  }
  return OperatorResponse{r->status, std::move(r->body)};
}

}  // namespace fedmesh::cli
