// A small blocking HTTP/1.1 client over plain TCP: one request per connection, a
// deadline on connect and on the whole exchange, a bounded answer. Used by the CLI to
// reach a node's operator API and by a registry to feed Kodo registries (which speak
// plain HTTP). Callers on I/O threads must offload it to the blocking pool.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace fedmesh::net {

struct PlainResponse {
  int status = 0;
  std::string body;
};

// `base_url` is "http://host:port"; `path` starts with '/'. Extra headers are sent as given.
Result<PlainResponse> plain_http_request(const std::string& base_url, const std::string& method,
                                         const std::string& path, const std::string& body,
                                         std::chrono::milliseconds timeout,
                                         const std::vector<std::pair<std::string, std::string>>& headers = {});

}  // namespace fedmesh::net
