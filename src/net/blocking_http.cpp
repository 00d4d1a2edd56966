#include "net/blocking_http.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <memory>

#include "core/address.hpp"
#include "net/tls.hpp"

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

// Moves bytes over a connected socket, plain or TLS, within the deadline.
class Channel {
 public:
  virtual ~Channel() = default;
  virtual Status send_all(const std::string& bytes) = 0;
  // Appends what arrives until the peer closes; false once the deadline passes.
  virtual Status read_all(std::string& in, std::size_t max) = 0;
  // The server's certificate (PEM) on TLS, else "".
  virtual std::string server_cert() const { return ""; }
};

class PlainChannel final : public Channel {
 public:
  PlainChannel(int fd, Clock::time_point deadline, std::string who)
      : fd_(fd), deadline_(deadline), who_(std::move(who)) {}
  Status send_all(const std::string& bytes) override {
    for (std::size_t off = 0; off < bytes.size();) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, millis_left(deadline_)) <= 0)
        return make_error(ErrorCode::deadline_exceeded, who_ + ": no answer in time");
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) return make_error(ErrorCode::peer_unavailable, who_ + ": connection lost while sending");
      off += static_cast<std::size_t>(n);
    }
    return {};
  }
  Status read_all(std::string& in, std::size_t max) override {
    char buf[16384];
    for (;;) {
      int left = millis_left(deadline_);
      if (left <= 0) return make_error(ErrorCode::deadline_exceeded, who_ + ": no answer in time");
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, left) <= 0) continue;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) return {};
      in.append(buf, static_cast<std::size_t>(n));
      if (in.size() > max) return make_error(ErrorCode::payload_too_large, who_ + ": answer too large");
    }
  }

 private:
  int fd_;
  Clock::time_point deadline_;
  std::string who_;
};

std::string ssl_error_text() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

// TLS over a socket made blocking with per-call timeouts bounded by the deadline.
class TlsChannel final : public Channel {
 public:
  static Result<std::unique_ptr<TlsChannel>> open(int fd, Clock::time_point deadline, const std::string& who,
                                                  const std::string& host, const BlockingOptions& o) {
    std::unique_ptr<TlsChannel> ch(new TlsChannel(fd, deadline, who));
    ch->ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ch->ctx_) return make_error(ErrorCode::internal, who + ": " + ssl_error_text());
    SSL_CTX_set_min_proto_version(ch->ctx_, TLS1_2_VERSION);
    int loaded = o.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ch->ctx_)
                                   : SSL_CTX_load_verify_locations(ch->ctx_, o.ca_file.c_str(), nullptr);
    if (loaded != 1) return make_error(ErrorCode::invalid_argument, who + ": cannot read CA file '" + o.ca_file + "'");
    SSL_CTX_set_verify(ch->ctx_, o.unverified ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
    ch->ssl_ = SSL_new(ch->ctx_);
    SSL_set_fd(ch->ssl_, fd);
    bool ip = parse_ip(host);
    if (!ip) SSL_set_tlsext_host_name(ch->ssl_, host.c_str());
    if (o.server_name.empty() && !o.unverified) {
      // No node name to expect: the URL's host must be one of the certificate's names.
      auto* param = SSL_get0_param(ch->ssl_);
      if (ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1
             : X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0) != 1)
        return make_error(ErrorCode::internal, who + ": cannot set the expected host");
    }
    ch->set_timeouts();
    if (SSL_connect(ch->ssl_) != 1) {
      auto reason = verify_failure_reason(ch->ssl_);
      std::string hint = o.server_name.empty() && reason.find("mismatch") != std::string::npos
                             ? " (fedmesh certificates name nodes, not hosts: set FEDMESH_SERVER_NAME)"
                             : "";
      return make_error(ErrorCode::peer_unavailable,
                        who + ": TLS handshake failed: " + (reason.empty() ? ssl_error_text() : reason) + hint);
    }
    if (X509* cert = SSL_get1_peer_certificate(ch->ssl_)) {
      BIO* bio = BIO_new(BIO_s_mem());
      PEM_write_bio_X509(bio, cert);
      char* data = nullptr;
      long len = BIO_get_mem_data(bio, &data);
      ch->server_cert_.assign(data, static_cast<std::size_t>(len));
      BIO_free(bio);
      X509_free(cert);
    }
    if (!o.server_name.empty()) {
      std::string name = peer_certificate_name(ch->ssl_);
      if (name != o.server_name)
        return make_error(ErrorCode::peer_unavailable,
                          who + ": certificate name '" + name + "' is not the expected '" + o.server_name + "'");
    }
    return ch;
  }
  ~TlsChannel() override {
    if (ssl_) {
      SSL_shutdown(ssl_);
      SSL_free(ssl_);
    }
    if (ctx_) SSL_CTX_free(ctx_);
  }
  Status send_all(const std::string& bytes) override {
    set_timeouts();
    if (bytes.empty()) return {};
    std::size_t written = 0;
    if (SSL_write_ex(ssl_, bytes.data(), bytes.size(), &written) != 1 || written != bytes.size())
      return make_error(ErrorCode::peer_unavailable, who_ + ": connection lost while sending");
    return {};
  }
  Status read_all(std::string& in, std::size_t max) override {
    char buf[16384];
    for (;;) {
      if (millis_left(deadline_) <= 0) return make_error(ErrorCode::deadline_exceeded, who_ + ": no answer in time");
      set_timeouts();
      std::size_t n = 0;
      if (SSL_read_ex(ssl_, buf, sizeof buf, &n) != 1) {
        int err = SSL_get_error(ssl_, 0);
        if (err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL) return {};  // closed
        if (errno == EAGAIN || errno == EWOULDBLOCK)
          return make_error(ErrorCode::deadline_exceeded, who_ + ": no answer in time");
        return {};
      }
      in.append(buf, n);
      if (in.size() > max) return make_error(ErrorCode::payload_too_large, who_ + ": answer too large");
    }
  }

 private:
  TlsChannel(int fd, Clock::time_point deadline, std::string who) : fd_(fd), deadline_(deadline), who_(std::move(who)) {
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL, 0) & ~O_NONBLOCK);
  }
  static bool parse_ip(const std::string& host) {
    unsigned char buf[16];
    return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
  }
  void set_timeouts() {
    int ms = std::max(1, millis_left(deadline_));
    timeval tv{ms / 1000, static_cast<suseconds_t>(ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  std::string server_cert() const override { return server_cert_; }

  int fd_;
  Clock::time_point deadline_;
  std::string who_;
  std::string server_cert_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

}  // namespace

Result<BlockingResponse> blocking_http_request(const std::string& base_url, const std::string& method,
                                               const std::string& path, const std::string& body,
                                               const BlockingOptions& options) {
  auto url = parse_url(base_url);
  if (!url)
    return make_error(ErrorCode::invalid_argument, "'" + base_url + "' is not a URL like http://127.0.0.1:3026");
  auto deadline = Clock::now() + options.timeout;
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

  std::unique_ptr<Channel> channel;
  if (url->scheme == "https") {
    auto tls = TlsChannel::open(sock.fd, deadline, base_url, url->endpoint.host, options);
    if (!tls) return std::move(tls).error();
    channel = std::move(*tls);
  } else {
    channel = std::make_unique<PlainChannel>(sock.fd, deadline, base_url);
  }

  std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + url->endpoint.to_string() +
                    "\r\nConnection: close\r\nAccept: application/json\r\n";
  for (const auto& [name, value] : options.headers) req += name + ": " + value + "\r\n";
  if (!body.empty() || method == "POST")
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  if (auto s = channel->send_all(req); !s) return std::move(s).error();
  std::string in;
  if (auto s = channel->read_all(in, 16u << 20); !s) return std::move(s).error();
  std::string server_cert = channel->server_cert();
  channel.reset();  // close TLS before the socket
  auto sep = in.find("\r\n\r\n");
  if (!in.starts_with("HTTP/1.") || in.size() < 12 || sep == std::string::npos)
    return make_error(ErrorCode::peer_unavailable, base_url + ": not an HTTP answer");
  BlockingResponse out;
  out.status = std::atoi(in.substr(9, 3).c_str());
  out.body = in.substr(sep + 4);
  out.server_cert = std::move(server_cert);
  return out;
}

}  // namespace fedmesh::net
