// HttpClient: HTTPS client for node-to-node calls, with pooled keep-alive connections
// per (I/O context, peer). Each call has a deadline covering connect, handshake, write
// and read. The server's certificate must chain to a trusted CA, not be denied, and
// carry the expected peer name. Failures map to peer_unavailable (cannot connect, or
// closed before answering), peer_refused (certificate rejected either way),
// bad_peer_response (not HTTP, cut short, or over `max_response`) or deadline_exceeded.
// Thread-safe: calls may run concurrently from any I/O thread. Pooled connections
// belong to the io_context of the call that opened them: every context used with a
// client must outlive it, or clear() must run before such a context is destroyed.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "core/error.hpp"
#include "net/http_types.hpp"
#include "net/tls.hpp"

namespace fedmesh::net {

struct ClientTarget {
  std::string host;
  std::uint16_t port = 0;
  std::string expected_name;  // certificate CN the server must present
};

struct ClientRequest {
  std::string method = "GET";
  std::string target = "/";
  std::string body;
  std::string content_type = "application/json";
  Headers headers;
  // Safe to send twice: a call on a pooled connection that turns out stale is retried.
  bool idempotent = false;
};

struct ClientResponse {
  int status = 0;
  std::string body;
  Headers headers;
  std::string peer_organization;  // the organization (O) of the server's certificate (mutual TLS)
  std::string peer_name;          // the node name (CN) of the server's certificate
  std::string_view header(std::string_view name) const;
};

struct ClientOptions {
  std::size_t max_idle_per_peer = 8;
  std::chrono::milliseconds idle_expiry{30'000};  // below the servers' idle timeout
  std::size_t max_response = 8 << 20;
};

// One plain-HTTP request on its own connection (Connection: close), for peers that speak
// no TLS (Kodo v1 registries). The deadline covers connect, write and read; the answer is
// bounded by `max_response`. Failures map as HttpClient's do.
boost::asio::awaitable<Result<ClientResponse>> plain_request(std::string host, std::uint16_t port,
                                                             ClientRequest request,
                                                             std::chrono::steady_clock::time_point deadline,
                                                             std::size_t max_response = 8 << 20);

class HttpClient {
 public:
  HttpClient(TlsContext tls, ClientOptions options);
  ~HttpClient();

  boost::asio::awaitable<Result<ClientResponse>> send(ClientTarget target, ClientRequest request,
                                                      std::chrono::steady_clock::time_point deadline);

  std::size_t idle_connections() const;
  std::uint64_t connections_opened() const;
  // Drops every pooled connection (used at shutdown).
  void clear();

  struct Pool;

 private:
  std::shared_ptr<Pool> pool_;
};

}  // namespace fedmesh::net
