#include "net/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ssl/verify_context.hpp>

#include "crypto/certs.hpp"
#include "crypto/files.hpp"

namespace fedmesh::net {

namespace ssl = boost::asio::ssl;

DenyList::DenyList(const std::vector<std::string>& entries) {
  for (const auto& e : entries) {
    auto norm = crypto::normalize_fingerprint(e);
    bool is_fp = norm.size() == 64 && norm.find_first_not_of("0123456789ABCDEF") == std::string::npos;
    if (is_fp) {
      fingerprints_.push_back(norm);
    } else {
      names_.push_back(e);
    }
  }
}

namespace {

std::string subject_entry(X509* cert, int nid) {
  if (!cert) return {};
  char buf[256] = {0};
  int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), nid, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

std::string certificate_name(X509* cert) {
  return subject_entry(cert, NID_commonName);
}

bool DenyList::denies(X509* cert) const {
  if (names_.empty() && fingerprints_.empty()) return false;
  auto cn = certificate_name(cert);
  for (const auto& n : names_) {
    if (n == cn) return true;
  }
  if (!fingerprints_.empty()) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    X509_digest(cert, EVP_sha256(), md, &len);
    static const char* digits = "0123456789ABCDEF";
    std::string hex;
    for (unsigned i = 0; i < len; ++i) {
      hex += digits[md[i] >> 4];
      hex += digits[md[i] & 15];
    }
    for (const auto& f : fingerprints_) {
      if (f == hex) return true;
    }
  }
  return false;
}

namespace {

Error tls_error(const std::string& what) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  char buf[256] = "unknown error";
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  return make_error(ErrorCode::crypto_error, what + ": " + buf);
}

Status load_identity(ssl::context& ctx, const TlsFiles& files) {
  if (auto s = crypto::check_private_permissions(files.key); !s) return s;
  auto cert = crypto::read_file(files.cert);
  if (!cert) return make_error(ErrorCode::crypto_error, files.cert + ": " + cert.error().message());
  auto key = crypto::read_file(files.key);
  if (!key) return make_error(ErrorCode::crypto_error, files.key + ": " + key.error().message());
  if (auto s = crypto::check_key_matches(*cert, *key); !s)
    return make_error(ErrorCode::crypto_error, files.key + ": " + s.error().message() + " " + files.cert);
  boost::system::error_code ec;
  ctx.use_certificate_chain(boost::asio::buffer(*cert), ec);
  if (ec) return tls_error(files.cert);
  ctx.use_private_key(boost::asio::buffer(*key), ssl::context::pem, ec);
  if (ec) return tls_error(files.key);
  return {};
}

Status load_trust(ssl::context& ctx, const std::vector<std::string>& trust) {
  for (const auto& path : trust) {
    auto pem = crypto::read_file(path);
    if (!pem) return make_error(ErrorCode::crypto_error, path + ": " + pem.error().message());
    boost::system::error_code ec;
    ctx.add_certificate_authority(boost::asio::buffer(*pem), ec);
    if (ec) return tls_error(path + ": not a PEM CA certificate");
  }
  return {};
}

void tls13_only(ssl::context& ctx) {
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx.native_handle(), TLS1_3_VERSION);
  SSL_CTX_set_options(ctx.native_handle(), SSL_OP_NO_RENEGOTIATION);
}

}  // namespace

Result<TlsContext> make_server_context(const TlsFiles& files, bool mutual) {
  TlsContext out;
  out.ssl = std::make_shared<ssl::context>(ssl::context::tls_server);
  out.deny = std::make_shared<DenyList>(files.deny);
  tls13_only(*out.ssl);
  if (auto s = load_identity(*out.ssl, files); !s) return std::move(s).error();
  if (mutual) {
    if (auto s = load_trust(*out.ssl, files.trust); !s) return std::move(s).error();
    out.ssl->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    std::shared_ptr<const DenyList> deny = out.deny;
    out.ssl->set_verify_callback([deny](bool preverified, ssl::verify_context& vc) {
      X509_STORE_CTX* ctx = vc.native_handle();
      if (!preverified && crypto::only_role_extension_unhandled(ctx)) {
        // A jobs client's certificate: its role extension is critical and unknown to OpenSSL.
        X509_STORE_CTX_set_error(ctx, X509_V_OK);
        return true;
      }
      if (!preverified) return false;
      if (X509_STORE_CTX_get_error_depth(ctx) == 0 && deny->denies(X509_STORE_CTX_get_current_cert(ctx))) {
        X509_STORE_CTX_set_error(ctx, X509_V_ERR_CERT_REVOKED);
        return false;
      }
      return true;
    });
  }
  return out;
}

Result<TlsContext> make_client_context(const TlsFiles& files) {
  TlsContext out;
  out.ssl = std::make_shared<ssl::context>(ssl::context::tls_client);
  out.deny = std::make_shared<DenyList>(files.deny);
  tls13_only(*out.ssl);
  if (auto s = load_identity(*out.ssl, files); !s) return std::move(s).error();
  if (auto s = load_trust(*out.ssl, files.trust); !s) return std::move(s).error();
  out.ssl->set_verify_mode(ssl::verify_peer);
  return out;
}

std::string peer_certificate_name(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  return certificate_name(cert);
}

std::string peer_certificate_organization(SSL* ssl) {
  return subject_entry(SSL_get0_peer_certificate(ssl), NID_organizationName);
}

crypto::CertRole peer_certificate_role(SSL* ssl) {
  return crypto::cert_role(SSL_get0_peer_certificate(ssl));
}

std::string verify_failure_reason(SSL* ssl) {
  long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return {};
  return X509_verify_cert_error_string(result);
}

}  // namespace fedmesh::net
