// Ed25519 sign and verify against RFC 8032 section 7.1's fixed vectors, keys from node
// certificates, and batch verification with good and bad items.
#include <gtest/gtest.h>

#include "crypto/certs.hpp"
#include "crypto/files.hpp"
#include "crypto/sign.hpp"
#include "support/harness.hpp"

namespace fedmesh::crypto {
namespace {

struct Vector {
  const char* secret;
  const char* public_key;
  const char* message;
  const char* signature;
};

// RFC 8032, section 7.1: TEST 1, TEST 2, TEST 3.
const Vector kRfc8032[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe246"
     "55141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb"
     "00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc"
     "027beceea1ec40a"},
};

std::string unhex(const char* text) {
  return from_hex(text).value();
}

TEST(Ed25519, Rfc8032Vectors) {
  for (const auto& v : kRfc8032) {
    auto key = SigningKey::from_seed(unhex(v.secret));
    ASSERT_TRUE(key) << key.error().message();
    EXPECT_EQ(to_hex(key->public_key()), v.public_key);
    EXPECT_EQ(to_hex(key->sign(unhex(v.message))), v.signature);
    auto pub = VerifyingKey::from_raw(unhex(v.public_key));
    ASSERT_TRUE(pub);
    EXPECT_TRUE(pub->verify(unhex(v.message), unhex(v.signature)));
  }
}

TEST(Ed25519, TamperedMessagesSignaturesAndKeysFail) {
  const auto& v = kRfc8032[2];
  auto pub = VerifyingKey::from_raw(unhex(v.public_key)).value();
  std::string msg = unhex(v.message), sig = unhex(v.signature);
  EXPECT_FALSE(pub.verify(msg + "x", sig));
  std::string flipped = sig;
  flipped[10] ^= 1;
  EXPECT_FALSE(pub.verify(msg, flipped));
  EXPECT_FALSE(pub.verify(msg, sig.substr(0, 63)));
  EXPECT_FALSE(pub.verify(msg, ""));
  auto other = VerifyingKey::from_raw(unhex(kRfc8032[0].public_key)).value();
  EXPECT_FALSE(other.verify(msg, sig));
  EXPECT_FALSE(VerifyingKey::from_raw("short"));
  EXPECT_FALSE(SigningKey::from_seed(std::string(31, 'x')));
  EXPECT_FALSE(from_hex("abc"));
  EXPECT_FALSE(from_hex("zz"));
}

TEST(Ed25519, NodeKeysSignAndTheirCertificatesVerify) {
  fedmesh::testing::TempDir dir;
  ASSERT_TRUE(init_ca(dir / "ca"));
  auto issued = issue_cert(dir / "ca", "red", dir / "certs", {.organization = "Red Org"});
  ASSERT_TRUE(issued);
  auto key = SigningKey::from_pem(read_file(issued->key).value());
  ASSERT_TRUE(key) << key.error().message();
  auto pub = VerifyingKey::from_certificate(read_file(issued->cert).value());
  ASSERT_TRUE(pub) << pub.error().message();
  EXPECT_EQ(pub->raw(), key->public_key());
  auto sig = key->sign("delta bytes");
  EXPECT_TRUE(pub->verify("delta bytes", sig));
  EXPECT_FALSE(VerifyingKey::from_certificate("not a certificate"));
  EXPECT_FALSE(SigningKey::from_pem("not a key"));
}

TEST(Ed25519, BatchVerificationGivesAVerdictPerItem) {
  auto a = SigningKey::from_seed(unhex(kRfc8032[0].secret)).value();
  auto b = SigningKey::from_seed(unhex(kRfc8032[1].secret)).value();
  auto pa = VerifyingKey::from_raw(a.public_key()).value();
  auto pb = VerifyingKey::from_raw(b.public_key()).value();
  std::vector<std::string> messages = {"one", "two", "three", "four"};
  std::vector<std::string> sigs = {a.sign("one"), b.sign("two"), a.sign("three"), b.sign("not four")};
  std::vector<VerifyItem> items = {{&pa, messages[0], sigs[0]},
                                   {&pb, messages[1], sigs[1]},
                                   {&pb, messages[2], sigs[2]},  // wrong key
                                   {&pb, messages[3], sigs[3]},  // wrong message
                                   {nullptr, messages[0], sigs[0]}};
  EXPECT_EQ(verify_batch(items), (std::vector<bool>{true, true, false, false, false}));
  EXPECT_TRUE(verify_batch({}).empty());
}

}  // namespace
}  // namespace fedmesh::crypto
