#include "support/fake_http.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

namespace fedmesh::testing {

FakeHttpServer::FakeHttpServer(int status, std::string body) : status_(status), body_(std::move(body)) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // the kernel picks a free port
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 16) != 0)
    throw std::runtime_error("fake http server: cannot listen");
  socklen_t len = sizeof addr;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { run(); });
}

FakeHttpServer::~FakeHttpServer() {
  stop_ = true;
  thread_.join();
  ::close(fd_);
}

std::vector<RecordedRequest> FakeHttpServer::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

void FakeHttpServer::run() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    std::string in;
    char buf[8192];
    std::size_t want = std::string::npos;
    while (in.size() < want) {
      pollfd q{c, POLLIN, 0};
      if (::poll(&q, 1, 2000) <= 0) break;
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<std::size_t>(n));
      auto sep = in.find("\r\n\r\n");
      if (sep != std::string::npos && want == std::string::npos) {
        std::size_t length = 0;
        auto cl = in.find("Content-Length: ");
        if (cl != std::string::npos && cl < sep) length = std::strtoul(in.c_str() + cl + 16, nullptr, 10);
        want = sep + 4 + length;
      }
    }
    auto sep = in.find("\r\n\r\n");
    if (sep != std::string::npos) {
      RecordedRequest r;
      auto sp1 = in.find(' ');
      auto sp2 = in.find(' ', sp1 + 1);
      r.method = in.substr(0, sp1);
      r.target = in.substr(sp1 + 1, sp2 - sp1 - 1);
      r.body = in.substr(sep + 4);
      {
        std::lock_guard lock(mu_);
        requests_.push_back(std::move(r));
      }
      std::string out = "HTTP/1.1 " + std::to_string(status_) +
                        " X\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body_.size()) +
                        "\r\nConnection: close\r\n\r\n" + body_;
      (void)::send(c, out.data(), out.size(), MSG_NOSIGNAL);
    }
    ::close(c);
  }
}

}  // namespace fedmesh::testing
