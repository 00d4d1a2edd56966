#include "crypto/certs.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <memory>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/time.hpp"
#include "crypto/files.hpp"

namespace fedmesh::crypto {

namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
template <class T>
using Ptr = std::unique_ptr<T, Free>;

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

Error crypto_fail(const std::string& what) {
  return make_error(ErrorCode::crypto_error, what + ": " + openssl_error());
}

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string key_pem(EVP_PKEY* key) {
  Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_string(bio.get());
}

std::string cert_pem(X509* cert) {
  Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return bio_string(bio.get());
}

Ptr<X509> parse_cert(const std::string& pem) {
  Ptr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return Ptr<X509>(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

Ptr<EVP_PKEY> parse_key(const std::string& pem) {
  Ptr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return Ptr<EVP_PKEY>(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

Ptr<EVP_PKEY> new_ed25519() {
  return Ptr<EVP_PKEY>(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
}

bool add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Ptr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

bool set_serial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return false;
  bytes[0] &= 0x7f;  // positive
  Ptr<BIGNUM> bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  return bn && BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) != nullptr;
}

bool set_name(X509_NAME* name, const std::string& cn, const std::string& org) {
  if (!org.empty() && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                                 reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0) != 1)
    return false;
  return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1,
                                    -1, 0) == 1;
}

std::string name_entry(const X509_NAME* name, int nid) {
  int idx = X509_NAME_get_index_by_NID(name, nid, -1);
  if (idx < 0) return {};
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

std::string hex(const unsigned char* data, std::size_t len, bool colons) {
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (std::size_t i = 0; i < len; ++i) {
    if (colons && i) out += ':';
    out += digits[data[i] >> 4];
    out += digits[data[i] & 15];
  }
  return out;
}

std::string fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha256(), md, &len);
  return hex(md, len, true);
}

}  // namespace

CaFiles ca_files(const std::string& dir) {
  return {(std::filesystem::path(dir) / "ca.crt").string(), (std::filesystem::path(dir) / "ca.key").string()};
}

Status init_ca(const std::string& dir, const std::string& common_name, std::chrono::seconds valid_for) {
  namespace fs = std::filesystem;
  auto files = ca_files(dir);
  std::error_code ec;
  if (fs::exists(files.key, ec) || fs::exists(files.cert, ec))
    return make_error(ErrorCode::conflict, dir + ": a CA already exists there");
  fs::create_directories(dir, ec);
  if (ec) return make_error(ErrorCode::io_error, dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);

  auto key = new_ed25519();
  Ptr<X509> cert(X509_new());
  if (!key || !cert) return crypto_fail("creating CA key");
  X509_set_version(cert.get(), 2);
  if (!set_serial(cert.get())) return crypto_fail("CA serial");
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(valid_for.count()));
  X509_set_pubkey(cert.get(), key.get());
  if (!set_name(X509_get_subject_name(cert.get()), common_name, "")) return crypto_fail("CA subject");
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  if (!add_ext(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE") ||
      !add_ext(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign") ||
      !add_ext(cert.get(), cert.get(), NID_subject_key_identifier, "hash"))
    return crypto_fail("CA extensions");
  if (X509_sign(cert.get(), key.get(), nullptr) == 0) return crypto_fail("signing CA certificate");

  if (auto s = write_private_file(files.key, key_pem(key.get())); !s) return s;
  return write_public_file(files.cert, cert_pem(cert.get()));
}

Result<IssuedFiles> issue_cert(const std::string& ca_dir, const std::string& name, const std::string& out_dir,
                               const CertOptions& options) {
  namespace fs = std::filesystem;
  auto ca = ca_files(ca_dir);
  auto ca_cert_text = read_file(ca.cert);
  if (!ca_cert_text)
    return make_error(ErrorCode::not_found, ca_dir + ": no CA here (run `fedmesh ca init " + ca_dir + "`)");
  auto ca_key_text = read_file(ca.key);
  if (!ca_key_text) return make_error(ErrorCode::not_found, ca.key + ": CA key missing");
  auto ca_cert = parse_cert(*ca_cert_text);
  auto ca_key = parse_key(*ca_key_text);
  if (!ca_cert || !ca_key) return crypto_fail(ca_dir + ": CA files are not valid PEM");

  IssuedFiles out{(fs::path(out_dir) / (name + ".crt")).string(), (fs::path(out_dir) / (name + ".key")).string(), ""};
  std::error_code ec;
  if (fs::exists(out.cert, ec) || fs::exists(out.key, ec))
    return make_error(ErrorCode::conflict, out.cert + ": a certificate for " + name + " already exists");
  fs::create_directories(out_dir, ec);
  if (ec) return make_error(ErrorCode::io_error, out_dir + ": " + ec.message());

  auto key = new_ed25519();
  Ptr<X509> cert(X509_new());
  if (!key || !cert) return crypto_fail("creating node key");
  X509_set_version(cert.get(), 2);
  if (!set_serial(cert.get())) return crypto_fail("serial");
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), static_cast<long>(options.not_before.count()));
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(options.not_after.count()));
  X509_set_pubkey(cert.get(), key.get());
  if (!set_name(X509_get_subject_name(cert.get()), name, options.organization)) return crypto_fail("subject");
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  std::string san = "DNS:" + name;
  if (!add_ext(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !add_ext(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature") ||
      !add_ext(cert.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth,clientAuth") ||
      !add_ext(cert.get(), ca_cert.get(), NID_subject_alt_name, san.c_str()) ||
      !add_ext(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always"))
    return crypto_fail("certificate extensions");
  if (X509_sign(cert.get(), ca_key.get(), nullptr) == 0) return crypto_fail("signing certificate");

  if (auto s = write_private_file(out.key, key_pem(key.get())); !s) return std::move(s).error();
  if (auto s = write_public_file(out.cert, cert_pem(cert.get())); !s) return std::move(s).error();
  out.fingerprint = fingerprint(cert.get());
  return out;
}

Status verify_chain(const std::string& cert_text, const std::vector<std::string>& ca_pems) {
  auto cert = parse_cert(cert_text);
  if (!cert) return make_error(ErrorCode::crypto_error, "certificate is not valid PEM");
  Ptr<X509_STORE> store(X509_STORE_new());
  for (const auto& pem : ca_pems) {
    auto ca = parse_cert(pem);
    if (!ca) return make_error(ErrorCode::crypto_error, "a trusted CA is not valid PEM");
    X509_STORE_add_cert(store.get(), ca.get());
  }
  Ptr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr);
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return make_error(ErrorCode::peer_refused, X509_verify_cert_error_string(err));
  }
  return {};
}

Result<CertInfo> inspect_cert(const std::string& text) {
  auto cert = parse_cert(text);
  if (!cert) return make_error(ErrorCode::crypto_error, "certificate is not valid PEM");
  CertInfo info;
  info.common_name = name_entry(X509_get_subject_name(cert.get()), NID_commonName);
  info.organization = name_entry(X509_get_subject_name(cert.get()), NID_organizationName);
  info.fingerprint = fingerprint(cert.get());
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
      if (gn->type == GEN_DNS) {
        const ASN1_STRING* s = gn->d.dNSName;
        info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                    static_cast<std::size_t>(ASN1_STRING_length(s)));
      }
    }
    GENERAL_NAMES_free(names);
  }
  struct tm tm {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) == 1) {
    info.not_after = iso8601(std::chrono::system_clock::from_time_t(timegm(&tm)));
  }
  return info;
}

Status check_key_matches(const std::string& cert_text, const std::string& key_text) {
  auto cert = parse_cert(cert_text);
  auto key = parse_key(key_text);
  if (!cert) return make_error(ErrorCode::crypto_error, "certificate is not valid PEM");
  if (!key) return make_error(ErrorCode::crypto_error, "private key is not valid PEM");
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return make_error(ErrorCode::crypto_error, "private key does not match the certificate");
  }
  return {};
}

std::string normalize_fingerprint(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ':' || c == ' ') continue;
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string h = hex(md, len, false);
  for (auto& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return h;
}

}  // namespace fedmesh::crypto
