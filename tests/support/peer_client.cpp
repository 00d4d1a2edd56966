#include "support/peer_client.hpp"

#include <filesystem>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace fedmesh::testing {

PeerClient::PeerClient(const TempDir& dir, const std::string& name) {
  auto tls = net::make_client_context(
      {dir / ("certs/" + name + ".crt"), dir / ("certs/" + name + ".key"), {dir / "ca/ca.crt"}, {}});
  if (!tls) throw std::runtime_error(tls.error().message());
  client_ = std::make_unique<net::HttpClient>(std::move(*tls), net::ClientOptions{});
}

Result<net::ClientResponse> PeerClient::request(int port, const std::string& expected, const std::string& method,
                                                const std::string& target, const std::string& body,
                                                net::Headers headers) {
  io_.restart();
  net::ClientRequest req;
  req.method = method;
  req.target = target;
  req.body = body;
  req.headers = std::move(headers);
  net::ClientTarget t{"127.0.0.1", static_cast<std::uint16_t>(port), expected};
  std::optional<Result<net::ClientResponse>> out;
  auto run = [&]() -> boost::asio::awaitable<void> {
    out.emplace(co_await client_->send(t, req, std::chrono::steady_clock::now() + std::chrono::seconds(5)));
  };
  boost::asio::co_spawn(io_, run(), boost::asio::detached);
  io_.run();
  return std::move(*out);
}

}  // namespace fedmesh::testing
