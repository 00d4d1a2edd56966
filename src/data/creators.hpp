// Creators: whose signatures this node accepts on deltas. A creator is a node; its key
// is the one in its federation certificate, which must chain to a CA this node trusts,
// carry the creator's name as its CN, be a node's (not a joined jobs client's: see
// crypto/cert_role.hpp) and not be denied ([federation] trust and deny).
// Certificates arrive with the deltas (relays pass them on) and are remembered in the
// DeltaStore. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "crypto/sign.hpp"
#include "store/delta_store.hpp"

namespace fedmesh::data {

enum class CreatorProblem { none, unknown, untrusted, denied, not_a_node };
std::string_view to_string(CreatorProblem p);

class Creators {
 public:
  // `self_cert` may be empty (a node without [federation]): its own deltas are then
  // checked against `self_key` alone.
  Creators(DeltaStore& store, std::vector<std::string> trusted_ca_pems, const std::vector<std::string>& deny,
           std::string self, std::string self_cert, crypto::VerifyingKey self_key);
  // Reads remembered certificates (those no longer trusted are skipped).
  Status load();

  struct Verdict {
    CreatorProblem problem = CreatorProblem::none;
    std::shared_ptr<const crypto::VerifyingKey> key;
    std::string why;  // for the log, when problem != none
    // A certificate not remembered yet: confirm() remembers it once deltas verified under it.
    std::string new_cert;
    std::string new_fingerprint;
  };
  // The key for `name`'s deltas. `cert` (may be empty) is the certificate that came with
  // them: a new or changed one is checked and, when good, remembered.
  Verdict check(const std::string& name, const std::string& cert);
  // Remembers a verdict's new certificate (after the deltas that came with it verified),
  // so that a certificate nobody's signature vouched for never replaces a known one.
  void confirm(const std::string& name, const Verdict& verdict);
  // The certificate to send along with `name`'s deltas ("" when unknown).
  std::string cert_of(const std::string& name) const;

 private:
  struct Known {
    std::string cert;
    std::string fingerprint;
    std::shared_ptr<const crypto::VerifyingKey> key;
  };
  Verdict admit(const std::string& name, const std::string& cert, Known& out) const;
  bool denied(const std::string& name, const std::string& fingerprint) const;

  DeltaStore& store_;
  std::vector<std::string> cas_;
  std::vector<std::string> deny_;  // names, and fingerprints normalised
  std::string self_;
  mutable std::mutex mu_;  // guards known_
  std::map<std::string, Known> known_;
};

}  // namespace fedmesh::data
