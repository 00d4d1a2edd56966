// A test client that holds a node certificate and talks mutual TLS to a node's
// federation listener (or TLS to an operator listener), through fedmesh's own client.
#pragma once

#include <boost/asio/io_context.hpp>

#include "net/http_client.hpp"
#include "support/harness.hpp"

namespace fedmesh::testing {

class PeerClient {
 public:
  // Uses DIR/certs/NAME.{crt,key} and trusts DIR/ca/ca.crt.
  PeerClient(const TempDir& dir, const std::string& name);
  Result<net::ClientResponse> request(int port, const std::string& expected, const std::string& method,
                                      const std::string& target, const std::string& body = "",
                                      net::Headers headers = {});
  Result<net::ClientResponse> post(int port, const std::string& expected, const std::string& target,
                                   const std::string& body, net::Headers headers = {}, std::string method = "POST") {
    return request(port, expected, method, target, body, std::move(headers));
  }

 private:
  boost::asio::io_context io_;  // outlives the client's pooled connections
  std::unique_ptr<net::HttpClient> client_;
};

}  // namespace fedmesh::testing
