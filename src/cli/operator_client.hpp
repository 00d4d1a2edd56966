// A small blocking client for a node's operator API, used by CLI commands: plain HTTP on
// loopback, or HTTPS where the operator listener has TLS. One request per connection;
// bounded response size and time. The environment supplies what the URL cannot:
// FEDMESH_TOKEN (sent as a bearer token), FEDMESH_CACERT (PEM roots for HTTPS) and
// FEDMESH_SERVER_NAME (the node name the server's certificate must carry).
#pragma once

#include <chrono>
#include <string>

#include "core/error.hpp"

namespace fedmesh::cli {

struct OperatorResponse {
  int status = 0;
  std::string body;
};

// GET/POST url ("http://127.0.0.1:3026" or "https://..." + path).
Result<OperatorResponse> operator_request(const std::string& base_url, const std::string& method,
                                          const std::string& path, const std::string& body = "",
                                          std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace fedmesh::cli
