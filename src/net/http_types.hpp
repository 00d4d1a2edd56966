// Transport-neutral HTTP request/response and the handler type. Handlers are pure
// functions of a parsed request; the server turns results into bytes. No Beast here.
// Plain values; thread-compatible.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json_fwd.hpp>

#include "core/error.hpp"
#include "crypto/cert_role.hpp"

namespace fedmesh::net {

using Headers = std::vector<std::pair<std::string, std::string>>;  // names lowercase

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path + query, as sent
  std::string path;    // percent-decoded path
  std::string query;   // raw query string without '?'
  Headers headers;
  std::string body;
  std::vector<std::pair<std::string, std::string>> params;  // from {name} route segments
  std::string peer_name;                                    // certificate name on mutual-TLS listeners, else ""
  std::string peer_organization;                            // certificate organization (O) there, else ""
  crypto::CertRole peer_role = crypto::CertRole::node;      // certificate role there (HttpServer gates on it)
  std::string remote;                                       // "ip:port"
  std::string request_id;
  // Set by the server while the handler runs: starts watching the connection and returns
  // a flag that turns true once the client has closed it or the server is closing it.
  // Handlers of long reads pass it to their budget. Empty outside a server (tests).
  std::function<std::shared_ptr<const std::atomic<bool>>()> watch_close;

  std::string_view header(std::string_view name) const;  // lowercase name; "" if absent
  std::string_view param(std::string_view name) const;
  // Decoded value of a query parameter; nullopt when absent.
  std::optional<std::string> query_param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Headers headers;

  static Response json(int status, const nlohmann::json& body);
  static Response text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
  // {"error":{"code","message", ...context}} with the code's HTTP status.
  static Response error(const Error& error);
};

using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;

// Percent-decoding for paths and query values ('+' is a space in queries only).
std::string percent_decode(std::string_view in, bool plus_is_space);
// Percent-encoding of a path segment or query value: everything but A-Z a-z 0-9 - _ . ~
std::string percent_encode(std::string_view in);

}  // namespace fedmesh::net
