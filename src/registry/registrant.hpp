// Registrant: a node's side of discovery. For each registry in [discovery] it
// registers over mTLS (POST /fed/v1/registry/register with its exported flows), then
// heartbeats every period; it registers again when its flows change or when the
// registry has forgotten it (heartbeat answers 404), and deregisters on a clean stop.
// start()/stop() from the control thread; the loops run on an I/O thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "federation/peer_manager.hpp"
#include "net/io_pool.hpp"

namespace fedmesh::registry {

struct RegistrantOptions {
  std::vector<std::string> registries;  // peer names
  std::chrono::milliseconds heartbeat{10'000};
};

class Registrant {
 public:
  // `registration` builds the register body {organization, url, flows} when called.
  Registrant(net::IoPool& pool, federation::PeerManager& peers, RegistrantOptions options,
             std::function<nlohmann::json()> registration);
  ~Registrant();
  void start();
  // Stops the loops and deregisters (bounded by a short deadline).
  void stop();

  struct State;

 private:
  net::IoPool& pool_;
  federation::PeerManager& peers_;
  RegistrantOptions options_;
  std::function<nlohmann::json()> registration_;
  std::shared_ptr<State> state_;
};

}  // namespace fedmesh::registry
