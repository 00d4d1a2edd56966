// A federation peer that misbehaves on purpose, for fault tests with real node
// processes. It holds a certificate the federation's CA issued (so a node takes it for
// the peer it names), listens on loopback with mutual TLS, answers every hello politely
// (so the node thinks the peer is up) and answers every other request as its current
// behaviour says. One thread per connection; the destructor closes every socket and
// joins every thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.hpp"

namespace fedmesh::testing {

class HostilePeer {
 public:
  enum class Behaviour {
    polite,    // a 200 with a small JSON body
    mute_tcp,  // gone silent: new connections never start TLS, open ones answer nothing, hellos included
    mute,      // completes TLS, reads the request, never answers
    garbage,   // answers bytes that are not HTTP, then closes
    cut,       // starts a 200 whose body is shorter than its Content-Length, then closes
    trickle,   // a valid answer, one byte a second
    huge,      // a 200 announcing 1 GB and sending it as fast as the node reads
  };

  // Uses DIR/certs/NAME.{crt,key} and trusts DIR/ca/ca.crt; listens on 127.0.0.1:PORT.
  HostilePeer(const TempDir& dir, const std::string& name, int port, std::vector<std::string> skills);
  ~HostilePeer();
  HostilePeer(const HostilePeer&) = delete;
  HostilePeer& operator=(const HostilePeer&) = delete;

  void set(Behaviour b) { behaviour_.store(b); }
  // Requests other than hellos received so far, and body bytes sent by `huge`.
  int requests() const { return requests_.load(); }
  std::uint64_t bytes_sent() const { return bytes_sent_.load(); }

 private:
  void accept_loop();
  void serve(int fd);

  std::string name_;
  std::vector<std::string> skills_;
  void* ctx_ = nullptr;  // SSL_CTX
  int listener_ = -1;
  std::atomic<Behaviour> behaviour_{Behaviour::polite};
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::atomic<std::uint64_t> bytes_sent_{0};
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace fedmesh::testing
