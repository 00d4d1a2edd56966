#include "data/creators.hpp"

#include "crypto/certs.hpp"

namespace fedmesh::data {

std::string_view to_string(CreatorProblem p) {
  switch (p) {
    case CreatorProblem::none: return "ok";
    case CreatorProblem::unknown: return "unknown_creator";
    case CreatorProblem::untrusted: return "untrusted_creator";
    case CreatorProblem::denied: return "denied_creator";
    case CreatorProblem::not_a_node: return "jobs_client_creator";
  }
  return "?";
}

Creators::Creators(DeltaStore& store, std::vector<std::string> trusted_ca_pems, const std::vector<std::string>& deny,
                   std::string self, std::string self_cert, crypto::VerifyingKey self_key)
    : store_(store), cas_(std::move(trusted_ca_pems)), self_(std::move(self)) {
  for (auto& d : deny) {
    deny_.push_back(d);
    deny_.push_back(crypto::normalize_fingerprint(d));
  }
  Known me;
  me.cert = std::move(self_cert);
  if (!me.cert.empty()) {
    if (auto info = crypto::inspect_cert(me.cert)) me.fingerprint = crypto::normalize_fingerprint(info->fingerprint);
  }
  me.key = std::make_shared<const crypto::VerifyingKey>(std::move(self_key));
  known_[self_] = std::move(me);
}

bool Creators::denied(const std::string& name, const std::string& fingerprint) const {
  for (const auto& d : deny_)
    if (d == name || (!fingerprint.empty() && d == fingerprint)) return true;
  return false;
}

Status Creators::load() {
  auto rows = store_.creators();
  if (!rows) return std::move(rows).error();
  std::lock_guard lock(mu_);
  for (const auto& r : *rows) {
    if (r.name == self_) continue;
    Known k;
    if (admit(r.name, r.cert, k).problem == CreatorProblem::none) known_[r.name] = std::move(k);
  }
  return {};
}

Creators::Verdict Creators::admit(const std::string& name, const std::string& cert, Known& out) const {
  auto info = crypto::inspect_cert(cert);
  if (!info) return {CreatorProblem::untrusted, nullptr, "unreadable certificate: " + info.error().message()};
  std::string fp = crypto::normalize_fingerprint(info->fingerprint);
  if (denied(name, fp)) return {CreatorProblem::denied, nullptr, "creator '" + name + "' is on the deny list"};
  if (info->common_name != name)
    return {CreatorProblem::untrusted, nullptr,
            "the certificate sent for creator '" + name + "' names '" + info->common_name + "'"};
  if (info->role != crypto::CertRole::node)
    return {CreatorProblem::not_a_node, nullptr,
            "the certificate sent for creator '" + name + "' is " +
                (info->role == crypto::CertRole::jobs_client
                     ? "a jobs client's (fedmesh join): only federation nodes create shared data"
                     : "of a fedmesh role this node does not know")};
  if (auto s = crypto::verify_chain(cert, cas_); !s)
    return {CreatorProblem::untrusted, nullptr, "creator '" + name + "': " + s.error().message()};
  auto key = crypto::VerifyingKey::from_certificate(cert);
  if (!key) return {CreatorProblem::untrusted, nullptr, key.error().message()};
  out.cert = cert;
  out.fingerprint = fp;
  out.key = std::make_shared<const crypto::VerifyingKey>(std::move(*key));
  return {CreatorProblem::none, out.key, ""};
}

Creators::Verdict Creators::check(const std::string& name, const std::string& cert) {
  {
    std::lock_guard lock(mu_);
    auto it = known_.find(name);
    if (it != known_.end() && (cert.empty() || cert == it->second.cert || name == self_)) {
      if (denied(name, it->second.fingerprint))
        return {CreatorProblem::denied, nullptr, "creator '" + name + "' is on the deny list"};
      return {CreatorProblem::none, it->second.key, ""};
    }
    if (cert.empty()) return {CreatorProblem::unknown, nullptr, "no certificate for creator '" + name + "'"};
  }
  Known k;
  auto verdict = admit(name, cert, k);  // outside the lock: chain checks take a while
  if (verdict.problem == CreatorProblem::untrusted) {
    // A relay may carry a stale certificate of a creator known by a good one: the deltas
    // must then verify under the known key (a forged certificate gains nothing).
    std::lock_guard lock(mu_);
    if (auto it = known_.find(name); it != known_.end()) {
      if (denied(name, it->second.fingerprint))
        return {CreatorProblem::denied, nullptr, "creator '" + name + "' is on the deny list"};
      return {CreatorProblem::none, it->second.key, ""};
    }
  }
  if (verdict.problem != CreatorProblem::none) return verdict;
  verdict.new_cert = k.cert;
  verdict.new_fingerprint = k.fingerprint;
  return verdict;
}

void Creators::confirm(const std::string& name, const Verdict& verdict) {
  if (verdict.new_cert.empty() || !verdict.key) return;
  (void)store_.put_creator({name, verdict.new_cert, verdict.new_fingerprint});  // for relays; the next batch retries
  std::lock_guard lock(mu_);
  known_[name] = Known{verdict.new_cert, verdict.new_fingerprint, verdict.key};
}

std::string Creators::cert_of(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = known_.find(name);
  return it == known_.end() ? std::string() : it->second.cert;
}

}  // namespace fedmesh::data
