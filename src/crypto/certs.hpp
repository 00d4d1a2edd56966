// Federation identity: Ed25519 key pairs, a federation CA, certificates (node name in subject
// CN and SAN, and a role: a node's, or a joined jobs client's), chain verification and
// fingerprints, through OpenSSL 3. A CA issues each name once (issued_names.hpp). Functions are
// thread-safe; issuing from one CA folder is serialised by its lock. Private keys are written
// 0600 and never logged.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "crypto/cert_role.hpp"

namespace fedmesh::crypto {

struct CaFiles {
  std::string cert;  // DIR/ca.crt
  std::string key;   // DIR/ca.key (0600)
};
CaFiles ca_files(const std::string& dir);

struct CertOptions {
  std::string organization;
  // Validity relative to now; tests use negative values to make expired certificates.
  std::chrono::seconds not_before = std::chrono::seconds(-300);
  std::chrono::seconds not_after = std::chrono::hours(24 * 825);
  // issue_cert only: issue a name this CA issued before, when every certificate it issued to that
  // name was a node's too (renewal; `fedmesh ca issue --reissue`). Never across roles.
  bool reissue = false;
};

// Creates DIR (0700) with ca.key and ca.crt. Fails if the CA already exists.
Status init_ca(const std::string& dir, const std::string& common_name = "fedmesh federation CA",
               std::chrono::seconds valid_for = std::chrono::hours(24 * 3650));

struct IssuedFiles {
  std::string cert;  // OUT/NAME.crt
  std::string key;   // OUT/NAME.key (0600)
  std::string fingerprint;
};

// Issues NAME's key and a node certificate (role node), signed by the CA in ca_dir, into out_dir,
// and records NAME in the CA's issued names. A conflict when the CA issued NAME before (see
// CertOptions::reissue) or out_dir holds NAME's files; invalid_argument when NAME is not 1-63 of
// a-z, 0-9, '.', '_', '-'.
Result<IssuedFiles> issue_cert(const std::string& ca_dir, const std::string& name, const std::string& out_dir,
                               const CertOptions& options = {});

// Certificate signing requests, for `fedmesh join`: the joining node makes its key and a CSR and
// keeps the key; an aggregator holding the federation CA checks the CSR and signs it.
struct KeyAndRequest {
  std::string key_pem;  // the new private key; the caller writes it 0600
  std::string csr_pem;
};
// A new Ed25519 key and a CSR for node NAME (CN=NAME, O=organization when not empty), signed by that key.
Result<KeyAndRequest> make_request(const std::string& name, const std::string& organization);

struct RequestInfo {
  std::string common_name;
  std::string organization;  // what the requester asked for; sign_request does not use it
};
// Parses a PEM CSR (at most 16 KiB) and checks that it holds an Ed25519 key, that its
// self-signature verifies and that it names a CN. Bad input is invalid_argument naming what is wrong.
Result<RequestInfo> inspect_request(const std::string& csr_pem);

// Checks csr_pem as inspect_request does and signs its key with the CA in ca_dir, as a jobs client's
// certificate (role jobs_client, for TLS client use only). The signer decides the subject: CN=name
// (refused with invalid_argument unless the CSR's CN is name; name is 1-63 of a-z, 0-9, '.', '_',
// '-') and O=options.organization; the CSR's own organization and extensions are ignored. SAN and
// validity are those of issue_cert. A conflict when the CA issued name before, to anyone
// (options.reissue does not apply); otherwise name is recorded. Returns the certificate PEM.
Result<std::string> sign_request(const std::string& ca_dir, const std::string& csr_pem, const std::string& name,
                                 const CertOptions& options = {});

// The SHA-256 fingerprint of a PEM certificate, formatted as CertInfo::fingerprint.
Result<std::string> cert_fingerprint(const std::string& cert_pem);

// Verifies that cert_pem chains to one of the CA PEMs and is currently valid (whatever its role).
// The error message carries OpenSSL's reason (e.g. "certificate has expired").
Status verify_chain(const std::string& cert_pem, const std::vector<std::string>& ca_pems);

struct CertInfo {
  std::string common_name;
  std::string organization;
  std::vector<std::string> dns_names;
  std::string fingerprint;  // SHA-256 of the DER, uppercase hex with colons
  std::string not_after;    // ISO-8601
  CertRole role = CertRole::node;
};
Result<CertInfo> inspect_cert(const std::string& cert_pem);

// Checks that the PEM private key belongs to the PEM certificate.
Status check_key_matches(const std::string& cert_pem, const std::string& key_pem);

// Normalises a fingerprint for comparison: uppercase hex without separators.
std::string normalize_fingerprint(std::string_view text);

std::string sha256_hex(std::string_view data);

}  // namespace fedmesh::crypto
