// FedCalls: what a script's fed.call, fed.call_all and fed.find do. A call goes to a peer
// over mutual TLS through the peer manager, carrying what is left of the caller's deadline
// (minus a margin for the answer to travel back) and one more level of depth. call_all
// runs every call at once; find asks the node's registries in turn. The answers come back
// as results or errors (core/error_json), and every outgoing call is recorded. The
// coroutines run on I/O threads; the object is immutable after construction.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "federation/peer_manager.hpp"
#include "skills/options.hpp"

namespace fedmesh::skills {

// The error with the node and skill where it arose, unless it names them already.
Error with_origin(Error e, const std::string& node, const std::string& skill);

class FedCalls {
 public:
  using Record = std::function<void(const CallContext&, const std::string& callee, const std::string& skill,
                                    const Result<nlohmann::json>&, Clock::time_point started)>;
  FedCalls(federation::PeerManager& peers, const SkillHostOptions& options, Record record);

  // call: the peer's answer; call_all: [{peer, ok, result | error}] in the order asked;
  // find: [{name, url, organization, status, registry}].
  boost::asio::awaitable<Result<nlohmann::json>> perform(FedRequest request, const CallContext& context);

  // Deadline arithmetic for a hop: what remains of `deadline`, minus a margin for the
  // answer to travel back, capped by `max`. Zero or less means no time is left.
  static std::chrono::milliseconds remaining_for_hop(Clock::time_point deadline, Clock::time_point now,
                                                     std::chrono::milliseconds max);

 private:
  boost::asio::awaitable<Result<nlohmann::json>> remote(std::string peer, std::string skill, nlohmann::json args,
                                                        const CallContext& context);
  boost::asio::awaitable<Result<nlohmann::json>> find(std::string skill, const CallContext& context);

  federation::PeerManager& peers_;
  const SkillHostOptions& options_;
  Record record_;
};

}  // namespace fedmesh::skills
