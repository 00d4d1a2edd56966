#include "crypto/sign.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace fedmesh::crypto {

namespace {

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* key) {
  return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

Error fail(const std::string& what) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  char buf[256] = "unknown OpenSSL error";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  return make_error(ErrorCode::crypto_error, what + ": " + buf);
}

bool is_ed25519(EVP_PKEY* key) {
  return key && EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519;
}

std::string raw_public(EVP_PKEY* key) {
  std::string out(kEd25519KeyBytes, '\0');
  std::size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(out.data()), &len) != 1) return {};
  out.resize(len);
  return out;
}

}  // namespace

Result<SigningKey> SigningKey::from_pem(std::string_view pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  auto key = own(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return fail("reading a private key");
  if (!is_ed25519(key.get())) return make_error(ErrorCode::crypto_error, "the private key is not Ed25519");
  return SigningKey(std::move(key));
}

Result<SigningKey> SigningKey::from_seed(std::string_view seed) {
  if (seed.size() != kEd25519KeyBytes)
    return make_error(ErrorCode::crypto_error, "an Ed25519 seed is 32 bytes, not " + std::to_string(seed.size()));
  auto key = own(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                              reinterpret_cast<const unsigned char*>(seed.data()), seed.size()));
  if (!key) return fail("making an Ed25519 key");
  return SigningKey(std::move(key));
}

std::string SigningKey::sign(std::string_view message) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::string sig(kEd25519SignatureBytes, '\0');
  std::size_t len = sig.size();
  // Pure Ed25519 signs the message itself: no digest, one shot.
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    ERR_clear_error();
    return {};  // only on allocation failure: an empty signature never verifies
  }
  sig.resize(len);
  return sig;
}

std::string SigningKey::public_key() const {
  return raw_public(key_.get());
}

Result<VerifyingKey> VerifyingKey::from_raw(std::string_view key) {
  if (key.size() != kEd25519KeyBytes)
    return make_error(ErrorCode::crypto_error, "an Ed25519 public key is 32 bytes, not " + std::to_string(key.size()));
  auto k = own(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                           reinterpret_cast<const unsigned char*>(key.data()), key.size()));
  if (!k) return fail("reading an Ed25519 public key");
  return VerifyingKey(std::move(k));
}

Result<VerifyingKey> VerifyingKey::from_certificate(std::string_view cert_pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())),
                                                BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) return fail("reading a certificate");
  auto key = own(X509_get_pubkey(cert.get()));
  if (!is_ed25519(key.get())) return make_error(ErrorCode::crypto_error, "the certificate's key is not Ed25519");
  return VerifyingKey(std::move(key));
}

bool VerifyingKey::verify(std::string_view message, std::string_view signature) const {
  if (signature.size() != kEd25519SignatureBytes) return false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                             reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

std::string VerifyingKey::raw() const {
  return raw_public(key_.get());
}

std::vector<bool> verify_batch(std::span<const VerifyItem> items) {
  std::vector<bool> out(items.size(), false);
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].key) out[i] = items[i].key->verify(items[i].message, items[i].signature);
  }
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

Result<std::string> from_hex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return make_error(ErrorCode::invalid_argument, "hex text has an odd length");
  std::string out(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return make_error(ErrorCode::invalid_argument, "not hex: '" + std::string(hex.substr(2 * i, 2)) + "'");
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

}  // namespace fedmesh::crypto
