// TLS contexts for the two listeners and the peer client, TLS 1.3 only.
// Server (federation): requires a client certificate chaining to a trusted CA and not
// on the deny list, of any role (what each role may call is the router's business).
// Client: presents the node's certificate and checks the server's chain, deny list,
// expected name and node role per connection. Contexts are built once, then shared
// read-only between threads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "core/error.hpp"
#include "crypto/cert_role.hpp"

struct ssl_st;
struct x509_st;

namespace fedmesh::net {

struct TlsFiles {
  std::string cert;                // PEM
  std::string key;                 // PEM, 0600
  std::vector<std::string> trust;  // CA PEM files; empty: no client verification
  std::vector<std::string> deny;   // revoked names or SHA-256 fingerprints
};

// The deny list, shared by server and client verification.
class DenyList {
 public:
  explicit DenyList(const std::vector<std::string>& entries);
  // True when the certificate's CN, a DNS SAN, or its fingerprint is denied.
  bool denies(x509_st* cert) const;

 private:
  std::vector<std::string> names_;
  std::vector<std::string> fingerprints_;  // normalised
};

struct TlsContext {
  std::shared_ptr<boost::asio::ssl::context> ssl;
  std::shared_ptr<const DenyList> deny;
};

// Server context; with `mutual`, client certificates are required and verified.
Result<TlsContext> make_server_context(const TlsFiles& files, bool mutual);
Result<TlsContext> make_client_context(const TlsFiles& files);

// The peer certificate's node name (CN) on an established connection, or "".
std::string peer_certificate_name(ssl_st* ssl);
// The peer certificate's organization (O), or "": who a peer is comes from here, never
// from what it says.
std::string peer_certificate_organization(ssl_st* ssl);
// The peer certificate's role (crypto/cert_role.hpp); unknown when there is no certificate.
crypto::CertRole peer_certificate_role(ssl_st* ssl);
std::string certificate_name(x509_st* cert);
// OpenSSL's verification result text for a failed handshake ("" when none).
std::string verify_failure_reason(ssl_st* ssl);

}  // namespace fedmesh::net
