#include "cli/operator_client.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "core/address.hpp"

namespace fedmesh::cli {

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Result<OperatorResponse> operator_request(const std::string& base_url, const std::string& method,
                                          const std::string& path, const std::string& body,
                                          std::chrono::milliseconds timeout) {
  auto url = parse_url(base_url);
  if (!url)
    return make_error(ErrorCode::invalid_argument, "'" + base_url + "' is not a URL like http://127.0.0.1:3026");
  if (url->scheme != "http")
    return make_error(ErrorCode::invalid_argument,
                      base_url + ": only plain-HTTP operator URLs are supported by the CLI yet");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(url->endpoint.port);
  if (::getaddrinfo(url->endpoint.host.c_str(), port.c_str(), &hints, &res) != 0 || !res)
    return make_error(ErrorCode::peer_unavailable, base_url + ": cannot resolve host");
  Fd sock{::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  int rc = ::connect(sock.fd, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  if (rc != 0) return make_error(ErrorCode::peer_unavailable, base_url + ": cannot connect (is the node running?)");

  std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + url->endpoint.to_string() +
                    "\r\nConnection: close\r\nAccept: application/json\r\n";
  if (const char* token = std::getenv("FEDMESH_TOKEN"); token && *token)
    req += std::string("Authorization: Bearer ") + token + "\r\n";
  if (!body.empty() || method == "POST")
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  for (std::size_t off = 0; off < req.size();) {
    ssize_t n = ::send(sock.fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return make_error(ErrorCode::peer_unavailable, base_url + ": connection lost while sending");
    off += static_cast<std::size_t>(n);
  }
  std::string in;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[16384];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return make_error(ErrorCode::deadline_exceeded, base_url + ": no answer in time");
    pollfd p{sock.fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
    if (in.size() > (16u << 20)) return make_error(ErrorCode::payload_too_large, base_url + ": answer too large");
  }
  auto sep = in.find("\r\n\r\n");
  if (!in.starts_with("HTTP/1.") || in.size() < 12 || sep == std::string::npos)
    return make_error(ErrorCode::peer_unavailable, base_url + ": not an HTTP answer");
  OperatorResponse out;
  out.status = std::atoi(in.substr(9, 3).c_str());
  out.body = in.substr(sep + 4);
  return out;
}

}  // namespace fedmesh::cli
