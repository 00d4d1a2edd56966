// A loopback TCP proxy that tests put between two nodes and control: it forwards bytes
// as they are (TLS passes through untouched), delays them, holds everything silently (a
// partition where packets vanish: after healing, held bytes flow on as TCP's would), or cuts every connection and
// refuses new ones (a partition that resets), and heals back to forwarding. One thread, non-blocking sockets; what it
// holds for a side that does not read is bounded (it stops reading the other side). The destructor closes everything.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace fedmesh::testing {

class FaultProxy {
 public:
  enum class Mode {
    pass,   // forward at once
    delay,  // forward each chunk `delay` after it arrived
    drop,   // nothing moves either way and nothing is refused (packets vanish); new
            // connections are accepted and never reach the other side
    cut,    // close every connection; accept and close new ones at once
  };

  // Listens on 127.0.0.1:listen_port (0: a free port) and forwards to 127.0.0.1:upstream.
  explicit FaultProxy(int upstream_port, int listen_port = 0);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }
  void set(Mode mode, std::chrono::milliseconds delay = std::chrono::milliseconds(0));
  void heal() { set(Mode::pass); }
  // Connections accepted so far, open now, and bytes forwarded either way.
  std::uint64_t accepted() const { return accepted_.load(); }
  std::size_t open() const { return open_.load(); }
  std::uint64_t forwarded() const { return forwarded_.load(); }

 private:
  void run();

  int upstream_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<Mode> mode_{Mode::pass};
  std::atomic<std::int64_t> delay_ms_{0};
  std::atomic<std::uint64_t> generation_{0};  // bumped by set(): the loop applies the mode to old connections
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::size_t> open_{0};
  std::atomic<std::uint64_t> forwarded_{0};
  std::thread thread_;
};

}  // namespace fedmesh::testing
