// A small blocking HTTP/1.1 client: one request per connection, a deadline on connect
// and on the whole exchange, a bounded answer; plain HTTP or HTTPS. Used by the CLI to
// reach a node's operator API and by a registry to feed Kodo registries. Callers on I/O
// threads must offload it to the blocking pool.
//
// HTTPS verifies the server's chain against `ca_file` (the system's roots when empty)
// and then its name: `server_name` against the certificate's node name (CN), as
// fedmesh certificates carry no host names; otherwise the URL's host against the
// certificate's DNS or IP names.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace fedmesh::net {

struct BlockingResponse {
  int status = 0;
  std::string body;
  std::string server_cert;  // HTTPS: the server's certificate (PEM)
};

struct BlockingOptions {
  std::chrono::milliseconds timeout{5000};
  std::vector<std::pair<std::string, std::string>> headers;
  std::string ca_file;      // HTTPS: PEM roots to verify the server with
  std::string server_name;  // HTTPS: expected certificate node name (CN)
  // HTTPS without verifying the server: only to fetch what is checked afterwards against
  // a pinned fingerprint (`fedmesh join` reading the aggregator's CA). Never send secrets.
  bool unverified = false;
};

// `base_url` is "http(s)://host:port"; `path` starts with '/'.
Result<BlockingResponse> blocking_http_request(const std::string& base_url, const std::string& method,
                                               const std::string& path, const std::string& body,
                                               const BlockingOptions& options = {});

}  // namespace fedmesh::net
