#include "net/bearer.hpp"

namespace fedmesh::net {

std::function<std::optional<Response>(const Request&)> bearer_authorizer(const std::string& token) {
  std::string expected = "Bearer " + token;
  return [expected](const Request& r) -> std::optional<Response> {
    if (!r.path.starts_with("/api/") && r.path != "/metrics") return std::nullopt;
    auto got = r.header("authorization");
    // Constant-time comparison: no early exit on the first differing byte.
    unsigned char diff = got.size() == expected.size() ? 0 : 1;
    for (std::size_t i = 0; i < got.size() && i < expected.size(); ++i)
      diff |= static_cast<unsigned char>(got[i] ^ expected[i]);
    if (diff == 0) return std::nullopt;
    auto res = Response::error(make_error(ErrorCode::unauthorized, "missing or wrong bearer token"));
    res.headers.emplace_back("WWW-Authenticate", "Bearer");
    return res;
  };
}

}  // namespace fedmesh::net
