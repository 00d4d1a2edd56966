// Ed25519 signatures (RFC 8032, pure Ed25519) through OpenSSL 3: a SigningKey made from a
// node's PEM key or a raw 32-byte seed, a VerifyingKey from raw bytes or a certificate,
// and verify_batch for many signatures at once (deltas call it). Keys are immutable once
// made and may be shared between threads; every function is thread-safe.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

struct evp_pkey_st;

namespace fedmesh::crypto {

constexpr std::size_t kEd25519KeyBytes = 32;
constexpr std::size_t kEd25519SignatureBytes = 64;

class SigningKey {
 public:
  // A PEM private key (as `fedmesh ca issue` writes them); crypto_error unless Ed25519.
  static Result<SigningKey> from_pem(std::string_view pem);
  // The 32-byte secret seed of RFC 8032.
  static Result<SigningKey> from_seed(std::string_view seed);
  // The 64-byte signature of `message`.
  std::string sign(std::string_view message) const;
  // The raw 32-byte public key.
  std::string public_key() const;

 private:
  explicit SigningKey(std::shared_ptr<evp_pkey_st> key) : key_(std::move(key)) {}
  std::shared_ptr<evp_pkey_st> key_;
};

class VerifyingKey {
 public:
  // A raw 32-byte Ed25519 public key.
  static Result<VerifyingKey> from_raw(std::string_view key);
  // The public key of a PEM certificate (a creator's node certificate).
  static Result<VerifyingKey> from_certificate(std::string_view cert_pem);
  // True when `signature` is `message`'s valid signature under this key.
  bool verify(std::string_view message, std::string_view signature) const;
  std::string raw() const;

 private:
  explicit VerifyingKey(std::shared_ptr<evp_pkey_st> key) : key_(std::move(key)) {}
  std::shared_ptr<evp_pkey_st> key_;
};

struct VerifyItem {
  const VerifyingKey* key = nullptr;
  std::string_view message;
  std::string_view signature;
};

// Verifies every item; result[i] is item i's verdict (false for a null key).
std::vector<bool> verify_batch(std::span<const VerifyItem> items);

// Lowercase hex, and back (bad_json-free: nullopt-like error for odd length or non-hex).
std::string to_hex(std::string_view bytes);
Result<std::string> from_hex(std::string_view hex);

}  // namespace fedmesh::crypto
