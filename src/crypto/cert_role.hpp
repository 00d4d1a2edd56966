// What a fedmesh certificate is for: a federation node, or a jobs client that joined an
// aggregator. The role is an X.509 extension under fedmesh's own OID arc (docs/security.md,
// "Certificate roles"); certificates without it were issued before roles and count as nodes.
// Stateless and thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "core/error.hpp"

struct x509_st;
struct x509_store_ctx_st;

namespace fedmesh::crypto {

enum class CertRole {
  node,         // `fedmesh ca issue`: every route, every data stream
  jobs_client,  // `fedmesh join`: the jobs routes of aggregators only
  unknown,      // a role extension this version cannot read: refused everywhere
};

// "node", "jobs-client", "unknown": the extension's value and what logs and docs say.
std::string_view to_string(CertRole role);
// The role a name stands for; unknown for any other text.
CertRole role_from_string(std::string_view text);

// fedmesh's arc, 2.25.<the UUID 7dec76f0-ed4c-4037-bb39-da3ba2353681 as an integer> (ITU-T X.667: an
// OID anyone may derive from a UUID, no registration), and the role extension under it.
inline constexpr const char* kFedmeshOid = "2.25.167381293944261066703326502819732993665";
inline constexpr const char* kRoleExtensionOid = "2.25.167381293944261066703326502819732993665.1";

// The role `cert` carries: node when it has no role extension, unknown when the extension is
// there but unreadable or names a role this version does not know.
CertRole cert_role(const x509_st* cert);
// The same for a PEM certificate; crypto_error when it is not one.
Result<CertRole> cert_role(const std::string& cert_pem);

// Adds the role extension to a certificate being made: a UTF8String naming the role. It is
// critical for every role but node, so that software which cannot read it (older fedmesh,
// other TLS stacks) refuses such a certificate instead of taking it for a node's.
bool add_role_extension(x509_st* cert, CertRole role);

// For OpenSSL verify callbacks, which see our critical extension as "unhandled": true when the
// error at `ctx` is X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION and every critical extension of the
// certificate at hand is one OpenSSL handles or a role extension this version reads. The
// callback may then clear the error and go on; anything else it must leave as it is.
bool only_role_extension_unhandled(x509_store_ctx_st* ctx);

}  // namespace fedmesh::crypto
