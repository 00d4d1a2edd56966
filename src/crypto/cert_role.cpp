#include "crypto/cert_role.hpp"

#include <memory>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace fedmesh::crypto {

namespace {

// The role extension's OID, made once; only read afterwards (thread-safe).
const ASN1_OBJECT* role_oid() {
  static const ASN1_OBJECT* oid = OBJ_txt2obj(kRoleExtensionOid, 1);
  return oid;
}

constexpr std::string_view kNode = "node";
constexpr std::string_view kJobsClient = "jobs-client";

}  // namespace

CertRole role_from_string(std::string_view text) {
  if (text == kNode) return CertRole::node;
  if (text == kJobsClient) return CertRole::jobs_client;
  return CertRole::unknown;
}

std::string_view to_string(CertRole role) {
  switch (role) {
    case CertRole::node: return kNode;
    case CertRole::jobs_client: return kJobsClient;
    case CertRole::unknown: return "unknown";
  }
  return "unknown";
}

CertRole cert_role(const x509_st* cert) {
  if (!cert || !role_oid()) return CertRole::unknown;
  int at = X509_get_ext_by_OBJ(cert, role_oid(), -1);
  if (at < 0) return CertRole::node;                                             // issued before roles
  if (X509_get_ext_by_OBJ(cert, role_oid(), at) >= 0) return CertRole::unknown;  // said twice
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(cert, at));
  if (!data) return CertRole::unknown;
  const unsigned char* p = ASN1_STRING_get0_data(data);
  const unsigned char* end = p + ASN1_STRING_length(data);
  std::unique_ptr<ASN1_UTF8STRING, decltype(&ASN1_UTF8STRING_free)> value(
      d2i_ASN1_UTF8STRING(nullptr, &p, ASN1_STRING_length(data)), &ASN1_UTF8STRING_free);
  if (!value || p != end) {
    ERR_clear_error();
    return CertRole::unknown;
  }
  return role_from_string(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value.get())),
                                           static_cast<std::size_t>(ASN1_STRING_length(value.get()))));
}

Result<CertRole> cert_role(const std::string& cert_pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())),
                                                &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr, &X509_free);
  if (!cert) {
    ERR_clear_error();
    return make_error(ErrorCode::crypto_error, "certificate is not valid PEM");
  }
  return cert_role(cert.get());
}

bool add_role_extension(x509_st* cert, CertRole role) {
  if (!cert || !role_oid() || role == CertRole::unknown) return false;
  std::string_view name = to_string(role);
  std::unique_ptr<ASN1_UTF8STRING, decltype(&ASN1_UTF8STRING_free)> value(ASN1_UTF8STRING_new(), &ASN1_UTF8STRING_free);
  if (!value || ASN1_STRING_set(value.get(), name.data(), static_cast<int>(name.size())) != 1) return false;
  unsigned char* der = nullptr;
  int len = i2d_ASN1_UTF8STRING(value.get(), &der);
  if (len <= 0) return false;
  std::unique_ptr<ASN1_OCTET_STRING, decltype(&ASN1_OCTET_STRING_free)> data(ASN1_OCTET_STRING_new(),
                                                                             &ASN1_OCTET_STRING_free);
  bool ok = data && ASN1_OCTET_STRING_set(data.get(), der, len) == 1;
  OPENSSL_free(der);
  if (!ok) return false;
  std::unique_ptr<X509_EXTENSION, decltype(&X509_EXTENSION_free)> ext(
      X509_EXTENSION_create_by_OBJ(nullptr, role_oid(), role != CertRole::node ? 1 : 0, data.get()),
      &X509_EXTENSION_free);
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

bool only_role_extension_unhandled(x509_store_ctx_st* ctx) {
  if (!ctx || X509_STORE_CTX_get_error(ctx) != X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION) return false;
  X509* cert = X509_STORE_CTX_get_current_cert(ctx);
  if (!cert || !role_oid()) return false;
  for (int i = 0; i < X509_get_ext_count(cert); ++i) {
    X509_EXTENSION* ext = X509_get_ext(cert, i);
    if (!X509_EXTENSION_get_critical(ext) || X509_supported_extension(ext)) continue;
    if (OBJ_cmp(X509_EXTENSION_get_object(ext), role_oid()) == 0 && cert_role(cert) != CertRole::unknown) continue;
    return false;
  }
  return true;
}

}  // namespace fedmesh::crypto
