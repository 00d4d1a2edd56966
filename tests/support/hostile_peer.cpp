#include "support/hostile_peer.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <nlohmann/json.hpp>
#include "support/sockets.hpp"

namespace fedmesh::testing {

namespace {

SSL_CTX* as_ctx(void* p) {
  return static_cast<SSL_CTX*>(p);
}

bool write_all(SSL* ssl, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    int n = SSL_write(ssl, bytes.data() + done, static_cast<int>(bytes.size() - done));
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads one request (head and Content-Length body); its target, or "" when the
// connection ended first.
std::string read_request(SSL* ssl, std::string& buffer) {
  char chunk[16384];
  std::size_t end = 0;
  while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
    int n = SSL_read(ssl, chunk, sizeof chunk);
    if (n <= 0) return "";
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
  std::string head = buffer.substr(0, end);
  std::size_t length = 0;
  for (std::string key : {"Content-Length: ", "content-length: "}) {
    auto at = head.find(key);
    if (at != std::string::npos) length = std::stoul(head.substr(at + key.size()));
  }
  while (buffer.size() < end + 4 + length) {
    int n = SSL_read(ssl, chunk, sizeof chunk);
    if (n <= 0) return "";
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
  buffer.erase(0, end + 4 + length);
  auto sp1 = head.find(' ');
  auto sp2 = head.find(' ', sp1 + 1);
  return head.substr(sp1 + 1, sp2 - sp1 - 1);
}

std::string response(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

}  // namespace

HostilePeer::HostilePeer(const TempDir& dir, const std::string& name, int port, std::vector<std::string> skills)
    : name_(name), skills_(std::move(skills)) {
  ::signal(SIGPIPE, SIG_IGN);  // a node that hangs up mid-answer is what these tests expect
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, (dir / ("certs/" + name + ".crt")).c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, (dir / ("certs/" + name + ".key")).c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_load_verify_locations(ctx, (dir / "ca/ca.crt").c_str(), nullptr) != 1) {
    SSL_CTX_free(ctx);
    throw std::runtime_error("hostile peer: cannot load the certificate of " + name);
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  ctx_ = ctx;
  listener_ = listen_loopback(port, 128);
  if (listener_ < 0) {
    SSL_CTX_free(ctx);
    throw std::runtime_error("hostile peer: cannot listen on port " + std::to_string(port));
  }
  acceptor_ = std::thread([this] { accept_loop(); });
}

HostilePeer::~HostilePeer() {
  stop_ = true;
  acceptor_.join();
  {
    std::lock_guard lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : threads_) t.join();
  for (int fd : fds_) ::close(fd);
  ::close(listener_);
  SSL_CTX_free(as_ctx(ctx_));
}

void HostilePeer::accept_loop() {
  while (!stop_) {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept(listener_, nullptr, nullptr);
    if (fd < 0) continue;
    std::lock_guard lock(mu_);
    fds_.push_back(fd);
    threads_.emplace_back([this, fd] { serve(fd); });
  }
}

void HostilePeer::serve(int fd) {
  if (behaviour_.load() == Behaviour::mute_tcp) {
    // Holds the connection, reads nothing, until the node gives up or the test ends.
    while (!stop_) {
      pollfd p{fd, POLLRDHUP, 0};
      if (::poll(&p, 1, 50) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) return;
    }
    return;
  }
  SSL* ssl = SSL_new(as_ctx(ctx_));
  SSL_set_fd(ssl, fd);
  std::string buffer;
  if (SSL_accept(ssl) != 1) {
    SSL_free(ssl);
    return;
  }
  while (!stop_) {
    std::string target = read_request(ssl, buffer);
    if (target.empty()) break;
    // A peer gone silent answers nothing more, hellos included, on any connection.
    if (target == "/fed/v1/hello" && behaviour_.load() != Behaviour::mute_tcp) {
      nlohmann::json hello = {{"name", name_},
                              {"organization", "Org " + name_},
                              {"advertise", "https://127.0.0.1:1"},
                              {"version", "0.0.0-hostile"},
                              {"roles", {"node"}},
                              {"bidirectional", false},
                              {"skills", skills_}};
      if (!write_all(ssl, response(hello.dump()))) break;
      continue;
    }
    ++requests_;
    auto b = behaviour_.load();
    if (b == Behaviour::polite) {
      if (!write_all(ssl, response("\"ok\""))) break;
      continue;
    }
    if (b == Behaviour::mute || b == Behaviour::mute_tcp) {
      char scratch[4096];
      while (!stop_ && SSL_read(ssl, scratch, sizeof scratch) > 0) {
      }
      break;
    }
    if (b == Behaviour::garbage) {
      write_all(ssl, std::string("\x7f\x45LF\x00\xff not http at all\r\n\r\n", 24));
      break;
    }
    if (b == Behaviour::cut) {
      write_all(ssl, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"half\": ");
      break;
    }
    if (b == Behaviour::trickle) {
      std::string answer = response("\"" + std::string(200, 'x') + "\"");
      for (char c : answer) {
        if (stop_ || !write_all(ssl, std::string(1, c))) break;
        for (int i = 0; i < 20 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      break;
    }
    // huge: as fast as the node reads, until it hangs up.
    if (!write_all(ssl, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n"))
      break;
    std::string chunk(64 << 10, ' ');
    for (std::uint64_t sent = 0; sent < 1'000'000'000 && !stop_; sent += chunk.size()) {
      if (!write_all(ssl, chunk)) break;
      bytes_sent_ += chunk.size();
    }
    break;
  }
  SSL_shutdown(ssl);
  SSL_free(ssl);
  ::shutdown(fd, SHUT_RDWR);
}

}  // namespace fedmesh::testing
