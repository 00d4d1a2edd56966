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

TEST(Crypto, Sha256) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace fedmesh::crypto
