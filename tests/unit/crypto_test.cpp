#include <sys/stat.h>

#include <gtest/gtest.h>

#include "crypto/certs.hpp"
#include "crypto/files.hpp"
#include "support/harness.hpp"

namespace fedmesh::crypto {
namespace {

using fedmesh::testing::TempDir;

mode_t mode_of(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

TEST(Crypto, IssueAndVerifyChain) {
  TempDir dir;
  ASSERT_TRUE(init_ca(dir / "ca"));
  EXPECT_EQ(mode_of(dir / "ca/ca.key"), 0600u);
  auto issued = issue_cert(dir / "ca", "red", dir / "certs", {.organization = "Red Org"});
  ASSERT_TRUE(issued) << issued.error().message();
  EXPECT_EQ(mode_of(issued->key), 0600u);
  auto cert = read_file(issued->cert);
  auto ca = read_file(dir / "ca/ca.crt");
  ASSERT_TRUE(cert && ca);
  EXPECT_TRUE(verify_chain(*cert, {*ca}));
  auto info = inspect_cert(*cert);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->common_name, "red");
  EXPECT_EQ(info->organization, "Red Org");
  EXPECT_EQ(info->dns_names, std::vector<std::string>{"red"});
  EXPECT_EQ(normalize_fingerprint(info->fingerprint), normalize_fingerprint(issued->fingerprint));
  EXPECT_TRUE(check_key_matches(*cert, *read_file(issued->key)));
  EXPECT_TRUE(check_private_permissions(issued->key));
}

TEST(Crypto, RejectsForeignCa) {
  TempDir dir;
  ASSERT_TRUE(init_ca(dir / "ca1"));
  ASSERT_TRUE(init_ca(dir / "ca2"));
  auto issued = issue_cert(dir / "ca2", "mallory", dir / "certs");
  ASSERT_TRUE(issued);
  auto s = verify_chain(*read_file(issued->cert), {*read_file(dir / "ca1/ca.crt")});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::peer_refused);
  EXPECT_NE(s.error().message().find("issuer"), std::string::npos) << s.error().message();
}

TEST(Crypto, RejectsExpired) {
  TempDir dir;
  ASSERT_TRUE(init_ca(dir / "ca"));
  CertOptions old;
  old.not_before = -std::chrono::hours(48);
  old.not_after = -std::chrono::hours(24);
  auto issued = issue_cert(dir / "ca", "old", dir / "certs", old);
  ASSERT_TRUE(issued);
  auto s = verify_chain(*read_file(issued->cert), {*read_file(dir / "ca/ca.crt")});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(), "certificate has expired");
}

TEST(Crypto, RefusesToOverwriteAndChecksPermissions) {
  TempDir dir;
  ASSERT_TRUE(init_ca(dir / "ca"));
  auto again = init_ca(dir / "ca");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::conflict);
  ASSERT_TRUE(issue_cert(dir / "ca", "a", dir / "certs"));
  EXPECT_FALSE(issue_cert(dir / "ca", "a", dir / "certs"));
  ::chmod((dir / "certs/a.key").c_str(), 0644);
  auto perm = check_private_permissions(dir / "certs/a.key");
  ASSERT_FALSE(perm);
  EXPECT_NE(perm.error().message().find("must be 0600"), std::string::npos);
}

TEST(Crypto, KeyMismatchIsDetected) {
  TempDir dir;
  ASSERT_TRUE(init_ca(dir / "ca"));
  auto a = issue_cert(dir / "ca", "a", dir / "certs");
  auto b = issue_cert(dir / "ca", "b", dir / "certs");
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(check_key_matches(*read_file(a->cert), *read_file(b->key)));
}

// Overwrites the first base64 quantum of `from` with `to` (4 characters), where `from` starts a quantum.
std::string replace_quantum(const std::string& pem, const std::string& from, const std::string& to) {
  std::size_t body = pem.find('\n') + 1;
  for (std::size_t at = pem.find(from, body); at != std::string::npos; at = pem.find(from, at + 1)) {
    std::size_t offset = 0;  // base64 characters before `at`, not counting line breaks
    for (std::size_t i = body; i < at; ++i) offset += pem[i] != '\n';
    if (offset % 4 == 0) return pem.substr(0, at) + to + pem.substr(at + to.size());
  }
  return pem;
}

// Changes one base64 character 20 before the end of the body: inside the 64-byte signature.
std::string flip_signature(std::string pem) {
  std::size_t at = pem.find("-----END");
  at = pem.find_last_not_of("=\n", at - 1);
  for (int steps = 20; steps > 0;)
    if (pem[--at] != '\n') --steps;
  pem[at] = pem[at] == 'A' ? 'B' : 'A';
  return pem;
}

TEST(Crypto, SignRequest) {
  TempDir dir;
  ASSERT_TRUE(init_ca(dir / "ca"));
  auto made = make_request("blue", "Blue Org");
  ASSERT_TRUE(made) << made.error().message();
  auto asked = inspect_request(made->csr_pem);
  ASSERT_TRUE(asked) << asked.error().message();
  EXPECT_EQ(asked->common_name, "blue");
  EXPECT_EQ(asked->organization, "Blue Org");

  // The signer decides the organization, not the requester.
  auto cert = sign_request(dir / "ca", made->csr_pem, "blue", {.organization = "Signer Org"});
  ASSERT_TRUE(cert) << cert.error().message();
  EXPECT_TRUE(verify_chain(*cert, {*read_file(dir / "ca/ca.crt")}));
  EXPECT_TRUE(check_key_matches(*cert, made->key_pem));
  auto info = inspect_cert(*cert);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->common_name, "blue");
  EXPECT_EQ(info->organization, "Signer Org");
  EXPECT_EQ(info->dns_names, std::vector<std::string>{"blue"});

  auto other = make_request("green", "");
  ASSERT_TRUE(other);
  EXPECT_FALSE(check_key_matches(*cert, other->key_pem));
  auto plain = sign_request(dir / "ca", other->csr_pem, "green");
  ASSERT_TRUE(plain) << plain.error().message();
  EXPECT_EQ(inspect_cert(*plain)->organization, "");
}

TEST(Crypto, SignRequestFollowsValidity) {
  TempDir dir;
  ASSERT_TRUE(init_ca(dir / "ca"));
  auto made = make_request("old", "");
  ASSERT_TRUE(made);
  CertOptions old;
  old.not_before = -std::chrono::hours(48);
  old.not_after = -std::chrono::hours(24);
  auto cert = sign_request(dir / "ca", made->csr_pem, "old", old);
  ASSERT_TRUE(cert) << cert.error().message();
  auto s = verify_chain(*cert, {*read_file(dir / "ca/ca.crt")});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(), "certificate has expired");
}

TEST(Crypto, SignRequestRefusesAnotherName) {
  TempDir dir;
  ASSERT_TRUE(init_ca(dir / "ca"));
  auto made = make_request("mallory", "");
  ASSERT_TRUE(made);
  auto cert = sign_request(dir / "ca", made->csr_pem, "blue");
  ASSERT_FALSE(cert);
  EXPECT_EQ(cert.error().code(), ErrorCode::invalid_argument);
  EXPECT_NE(cert.error().message().find("mallory"), std::string::npos) << cert.error().message();

  // A name that is not a node name is refused before it reaches the SAN.
  auto odd = make_request("blue,DNS:evil", "");
  ASSERT_TRUE(odd);
  auto injected = sign_request(dir / "ca", odd->csr_pem, "blue,DNS:evil");
  ASSERT_FALSE(injected);
  EXPECT_EQ(injected.error().code(), ErrorCode::invalid_argument);
}

TEST(Crypto, RejectsBadRequests) {
  TempDir dir;
  ASSERT_TRUE(init_ca(dir / "ca"));
  auto refused = [&](const std::string& pem, const std::string& why) {
    auto info = inspect_request(pem);
    EXPECT_FALSE(info) << why;
    if (!info) {
      EXPECT_EQ(info.error().code(), ErrorCode::invalid_argument) << why;
      EXPECT_NE(info.error().message().find(why), std::string::npos) << info.error().message();
    }
    auto cert = sign_request(dir / "ca", pem, "blue");
    EXPECT_FALSE(cert) << why;
    if (!cert) {
      EXPECT_EQ(cert.error().code(), ErrorCode::invalid_argument) << why;
    }
  };
  refused("", "not valid PEM");
  refused("garbage", "not valid PEM");
  refused("-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgcmVxdWVzdA==\n-----END CERTIFICATE REQUEST-----\n",
          "not valid PEM");
  refused(std::string(17 * 1024, 'A'), "larger than 16 KiB");

  auto issued = issue_cert(dir / "ca", "blue", dir / "certs");
  ASSERT_TRUE(issued);
  refused(*read_file(issued->cert), "not valid PEM");  // a certificate is not a request

  auto made = make_request("blue", "");
  ASSERT_TRUE(made);
  ASSERT_TRUE(inspect_request(made->csr_pem));
  refused(flip_signature(made->csr_pem), "signature does not verify");

  // One letter of the subject changed after signing: "aaa" becomes "aba".
  std::string long_name(45, 'a');
  auto named = make_request(long_name, "Blue Org");
  ASSERT_TRUE(named);
  std::string renamed = replace_quantum(named->csr_pem, "YWFhYWFhYWFh", "YWJh");
  ASSERT_NE(renamed, named->csr_pem);
  refused(renamed, "signature does not verify");

  // A well-formed request, correctly self-signed, for an ECDSA P-256 key (made with `openssl req`).
  refused(
      "-----BEGIN CERTIFICATE REQUEST-----\n"
      "MIHJMHECAQAwDzENMAsGA1UEAwwEYmx1ZTBZMBMGByqGSM49AgEGCCqGSM49AwEH\n"
      "A0IABDy9VxVK4bWsl4u9UPAx5hPirMqx7hHdL4Pp9FZ6RBPnuwYhn9sVL2CSMJIP\n"
      "5Zyz3CRhXHFSAHnCF55ZfBxNuXOgADAKBggqhkjOPQQDAgNIADBFAiEAy5NuODtj\n"
      "18raIPrg+76dzW9/OllzlkzvNc27/hHluIACIBKqe4GNdCIfmRc4IeH76COl32/x\n"
      "ogxGck6GKBnhXgu+\n"
      "-----END CERTIFICATE REQUEST-----\n",
      "not Ed25519");
}

TEST(Crypto, CertFingerprint) {
  TempDir dir;
  ASSERT_TRUE(init_ca(dir / "ca"));
  auto issued = issue_cert(dir / "ca", "red", dir / "certs");
  ASSERT_TRUE(issued);
  auto cert = read_file(issued->cert);
  ASSERT_TRUE(cert);
  auto fp = cert_fingerprint(*cert);
  ASSERT_TRUE(fp) << fp.error().message();
  EXPECT_EQ(*fp, inspect_cert(*cert)->fingerprint);
  EXPECT_EQ(*fp, issued->fingerprint);
  EXPECT_FALSE(cert_fingerprint("garbage"));
}

TEST(Crypto, Sha256) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace fedmesh::crypto
