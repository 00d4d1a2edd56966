#include "net/plain_http.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "core/address.hpp"

namespace fedmesh::net {

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

using Clock = std::chrono::steady_clock;

int millis_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Non-blocking connect bounded by the deadline; the socket stays non-blocking.
Status connect_by(int fd, const addrinfo* ai, Clock::time_point deadline, const std::string& who) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
  if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) return {};
  if (errno != EINPROGRESS) return make_error(ErrorCode::peer_unavailable, who + ": cannot connect");
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, millis_left(deadline)) <= 0)
    return make_error(ErrorCode::deadline_exceeded, who + ": connect timed out");
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return make_error(ErrorCode::peer_unavailable, who + ": cannot connect");
  return {};
}

}  // namespace

Result<PlainResponse> plain_http_request(const std::string& base_url, const std::string& method,
                                         const std::string& path, const std::string& body,
                                         std::chrono::milliseconds timeout,
                                         const std::vector<std::pair<std::string, std::string>>& headers) {
  auto url = parse_url(base_url);
  if (!url)
    return make_error(ErrorCode::invalid_argument, "'" + base_url + "' is not a URL like http://127.0.0.1:3026");
  if (url->scheme != "http")
    return make_error(ErrorCode::invalid_argument, base_url + ": only plain-HTTP URLs are supported here");
  auto deadline = Clock::now() + timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(url->endpoint.port);
  if (::getaddrinfo(url->endpoint.host.c_str(), port.c_str(), &hints, &res) != 0 || !res)
    return make_error(ErrorCode::peer_unavailable, base_url + ": cannot resolve host");
  Fd sock{::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  auto connected = connect_by(sock.fd, res, deadline, base_url);
  ::freeaddrinfo(res);
  if (!connected) return std::move(connected).error();

  std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + url->endpoint.to_string() +
                    "\r\nConnection: close\r\nAccept: application/json\r\n";
  for (const auto& [name, value] : headers) req += name + ": " + value + "\r\n";
  if (!body.empty() || method == "POST")
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  for (std::size_t off = 0; off < req.size();) {
    pollfd p{sock.fd, POLLOUT, 0};
    if (::poll(&p, 1, millis_left(deadline)) <= 0)
      return make_error(ErrorCode::deadline_exceeded, base_url + ": no answer in time");
    ssize_t n = ::send(sock.fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return make_error(ErrorCode::peer_unavailable, base_url + ": connection lost while sending");
    off += static_cast<std::size_t>(n);
  }
  std::string in;
  char buf[16384];
  for (;;) {
    int left = millis_left(deadline);
    if (left <= 0) return make_error(ErrorCode::deadline_exceeded, base_url + ": no answer in time");
    pollfd p{sock.fd, POLLIN, 0};
    if (::poll(&p, 1, left) <= 0) continue;
    ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
    if (in.size() > (16u << 20)) return make_error(ErrorCode::payload_too_large, base_url + ": answer too large");
  }
  auto sep = in.find("\r\n\r\n");
  if (!in.starts_with("HTTP/1.") || in.size() < 12 || sep == std::string::npos)
    return make_error(ErrorCode::peer_unavailable, base_url + ": not an HTTP answer");
  PlainResponse out;
  out.status = std::atoi(in.substr(9, 3).c_str());
  out.body = in.substr(sep + 4);
  return out;
}

}  // namespace fedmesh::net
