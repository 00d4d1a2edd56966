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
#include "crypto/issued_names.hpp"

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
  void operator()(X509_REQ* p) const { X509_REQ_free(p); }
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

std::string request_pem(X509_REQ* req) {
  Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(bio.get(), req);
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

// The federation CA's certificate and key, loaded from its directory.
struct Ca {
  Ptr<X509> cert;
  Ptr<EVP_PKEY> key;
};

Result<Ca> load_ca(const std::string& ca_dir) {
  auto files = ca_files(ca_dir);
  auto cert_text = read_file(files.cert);
  if (!cert_text)
    return make_error(ErrorCode::not_found, ca_dir + ": no CA here (run `fedmesh ca init " + ca_dir + "`)");
  auto key_text = read_file(files.key);
  if (!key_text) return make_error(ErrorCode::not_found, files.key + ": CA key missing");
  Ca ca{parse_cert(*cert_text), parse_key(*key_text)};
  if (!ca.cert || !ca.key) return crypto_fail(ca_dir + ": CA files are not valid PEM");
  return ca;
}

// A certificate for NAME holding public_key, signed by the CA: CN=NAME (O when given), SAN DNS:NAME,
// not a CA, valid as options say, carrying `role`. A node's is for TLS server and client use; a jobs
// client's for client use only (it never serves).
Result<Ptr<X509>> make_cert(const Ca& ca, const std::string& name, EVP_PKEY* public_key, const CertOptions& options,
                            CertRole role) {
  Ptr<X509> cert(X509_new());
  if (!cert) return crypto_fail("creating certificate");
  X509_set_version(cert.get(), 2);
  if (!set_serial(cert.get())) return crypto_fail("serial");
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), static_cast<long>(options.not_before.count()));
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(options.not_after.count()));
  if (X509_set_pubkey(cert.get(), public_key) != 1) return crypto_fail("public key");
  if (!set_name(X509_get_subject_name(cert.get()), name, options.organization)) return crypto_fail("subject");
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.cert.get()));
  std::string san = "DNS:" + name;
  if (!add_ext(cert.get(), ca.cert.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !add_ext(cert.get(), ca.cert.get(), NID_key_usage, "critical,digitalSignature") ||
      !add_ext(cert.get(), ca.cert.get(), NID_ext_key_usage,
               role == CertRole::node ? "serverAuth,clientAuth" : "clientAuth") ||
      !add_ext(cert.get(), ca.cert.get(), NID_subject_alt_name, san.c_str()) ||
      !add_ext(cert.get(), ca.cert.get(), NID_authority_key_identifier, "keyid:always") ||
      !add_role_extension(cert.get(), role))
    return crypto_fail("certificate extensions");
  if (X509_sign(cert.get(), ca.key.get(), nullptr) == 0) return crypto_fail("signing certificate");
  return cert;
}

constexpr std::size_t kMaxRequestBytes = std::size_t{16} * 1024;

Error bad_request(const std::string& what) {
  ERR_clear_error();
  return make_error(ErrorCode::invalid_argument, "certificate request " + what);
}

// Parses a CSR from a peer and checks its key type, self-signature and CN.
Result<Ptr<X509_REQ>> checked_request(const std::string& pem) {
  if (pem.size() > kMaxRequestBytes) return bad_request("is larger than 16 KiB");
  Ptr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return crypto_fail("reading certificate request");
  Ptr<X509_REQ> req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) return bad_request("is not valid PEM");
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (!key) return bad_request("has no readable public key");
  if (EVP_PKEY_is_a(key, "ED25519") != 1) return bad_request("key is not Ed25519");
  if (X509_REQ_verify(req.get(), key) != 1) return bad_request("signature does not verify");
  if (name_entry(X509_REQ_get_subject_name(req.get()), NID_commonName).empty())
    return bad_request("has no common name");
  return req;
}

// Node names as `fedmesh ca issue` accepts them: 1-63 of a-z, 0-9, '.', '_', '-', starting with a
// letter or digit. This also keeps the name from adding entries to the SAN configuration string,
// or fields to the CA's record of issued names.
bool valid_node_name(const std::string& name) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (name.empty() || name.size() > 63 || !alnum(name[0])) return false;
  for (char c : name)
    if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

Error bad_name(const std::string& name) {
  return make_error(ErrorCode::invalid_argument,
                    "node name '" + name + "' must be 1-63 characters of a-z, 0-9, '.', '_', '-'");
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
  if (!valid_node_name(name)) return bad_name(name);
  auto ca = load_ca(ca_dir);
  if (!ca) return std::move(ca).error();
  // Held from the check to the record: no other issue of this CA runs in between.
  auto issued = IssuedNames::open_locked(ca_dir);
  if (!issued) return std::move(issued).error();
  if (auto s = issued->may_issue(name, CertRole::node, options.reissue); !s) return std::move(s).error();

  IssuedFiles out{(fs::path(out_dir) / (name + ".crt")).string(), (fs::path(out_dir) / (name + ".key")).string(), ""};
  std::error_code ec;
  if (fs::exists(out.cert, ec) || fs::exists(out.key, ec))
    return make_error(ErrorCode::conflict, out.cert + ": a certificate for " + name + " already exists");
  fs::create_directories(out_dir, ec);
  if (ec) return make_error(ErrorCode::io_error, out_dir + ": " + ec.message());

  auto key = new_ed25519();
  if (!key) return crypto_fail("creating node key");
  auto cert = make_cert(*ca, name, key.get(), options, CertRole::node);
  if (!cert) return std::move(cert).error();

  out.fingerprint = fingerprint(cert->get());
  if (auto s = write_private_file(out.key, key_pem(key.get())); !s) return std::move(s).error();
  if (auto s = write_public_file(out.cert, cert_pem(cert->get())); !s) {
    fs::remove(out.key, ec);
    return std::move(s).error();
  }
  if (auto s = issued->record(name, CertRole::node, out.fingerprint); !s) {
    // Not recorded, not issued: nobody may hold a certificate the record does not show.
    fs::remove(out.key, ec);
    fs::remove(out.cert, ec);
    return std::move(s).error();
  }
  return out;
}

Result<KeyAndRequest> make_request(const std::string& name, const std::string& organization) {
  if (name.empty()) return make_error(ErrorCode::invalid_argument, "a certificate request needs a node name");
  auto key = new_ed25519();
  Ptr<X509_REQ> req(X509_REQ_new());
  if (!key || !req) return crypto_fail("creating node key");
  if (X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 || X509_REQ_set_pubkey(req.get(), key.get()) != 1)
    return crypto_fail("certificate request");
  if (!set_name(X509_REQ_get_subject_name(req.get()), name, organization))
    return crypto_fail("certificate request subject");
  // Ed25519 signs the message itself: no separate digest.
  if (X509_REQ_sign(req.get(), key.get(), nullptr) <= 0) return crypto_fail("signing certificate request");
  return KeyAndRequest{key_pem(key.get()), request_pem(req.get())};
}

Result<RequestInfo> inspect_request(const std::string& csr_pem) {
  auto req = checked_request(csr_pem);
  if (!req) return std::move(req).error();
  const X509_NAME* subject = X509_REQ_get_subject_name(req->get());
  return RequestInfo{name_entry(subject, NID_commonName), name_entry(subject, NID_organizationName)};
}

Result<std::string> sign_request(const std::string& ca_dir, const std::string& csr_pem, const std::string& name,
                                 const CertOptions& options) {
  if (!valid_node_name(name)) return bad_name(name);
  auto req = checked_request(csr_pem);
  if (!req) return std::move(req).error();
  std::string requested = name_entry(X509_REQ_get_subject_name(req->get()), NID_commonName);
  if (requested != name)
    return make_error(ErrorCode::invalid_argument,
                      "certificate request is for '" + requested + "', not '" + name + "'");
  auto ca = load_ca(ca_dir);
  if (!ca) return std::move(ca).error();
  auto issued = IssuedNames::open_locked(ca_dir);
  if (!issued) return std::move(issued).error();
  // A joining client never renews: every join is a new name.
  if (auto s = issued->may_issue(name, CertRole::jobs_client, false); !s) return std::move(s).error();
  auto cert = make_cert(*ca, name, X509_REQ_get0_pubkey(req->get()), options, CertRole::jobs_client);
  if (!cert) return std::move(cert).error();
  if (auto s = issued->record(name, CertRole::jobs_client, fingerprint(cert->get())); !s) return std::move(s).error();
  return cert_pem(cert->get());
}

Result<std::string> cert_fingerprint(const std::string& text) {
  auto cert = parse_cert(text);
  if (!cert) {
    ERR_clear_error();
    return make_error(ErrorCode::crypto_error, "certificate is not valid PEM");
  }
  return fingerprint(cert.get());
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
  // OpenSSL does not know the role extension, which is critical on a jobs client's certificate.
  X509_STORE_set_verify_cb(store.get(), [](int ok, X509_STORE_CTX* ctx) {
    if (!ok && only_role_extension_unhandled(ctx)) {
      X509_STORE_CTX_set_error(ctx, X509_V_OK);
      return 1;
    }
    return ok;
  });
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
  info.role = cert_role(cert.get());
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
