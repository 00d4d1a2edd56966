#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/certs.hpp"
#include "crypto/files.hpp"
#include "crypto/issued_names.hpp"
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

// The role extension of a PEM certificate: {present, critical}.
std::pair<bool, bool> role_extension(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASN1_OBJECT* oid = OBJ_txt2obj(kRoleExtensionOid, 1);
  int at = X509_get_ext_by_OBJ(cert, oid, -1);
  std::pair<bool, bool> out{at >= 0, at >= 0 && X509_EXTENSION_get_critical(X509_get_ext(cert, at)) == 1};
  ASN1_OBJECT_free(oid);
  X509_free(cert);
  return out;
}

bool serves_tls(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  bool server = (X509_get_extended_key_usage(cert) & XKU_SSL_SERVER) != 0;
  X509_free(cert);
  return server;
}

// A certificate for `name` signed by the CA in ca_dir, made by hand as another issuer might: with
// a role extension holding `role` (critical or not), or with none when `role` is empty (what
// fedmesh issued before roles).
std::string hand_made(const std::string& ca_dir, const std::string& name, const std::string& role, bool critical) {
  std::string ca_cert_text = *read_file(ca_dir + "/ca.crt"), ca_key_text = *read_file(ca_dir + "/ca.key");
  BIO* cb = BIO_new_mem_buf(ca_cert_text.data(), static_cast<int>(ca_cert_text.size()));
  BIO* kb = BIO_new_mem_buf(ca_key_text.data(), static_cast<int>(ca_key_text.size()));
  X509* ca = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  EVP_PKEY* ca_key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  BIO_free(cb);
  BIO_free(kb);
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 7);
  X509_gmtime_adj(X509_getm_notBefore(cert), -300);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(ca));
  if (!role.empty()) {
    ASN1_UTF8STRING* value = ASN1_UTF8STRING_new();
    ASN1_STRING_set(value, role.data(), static_cast<int>(role.size()));
    unsigned char* der = nullptr;
    int len = i2d_ASN1_UTF8STRING(value, &der);
    ASN1_OCTET_STRING* data = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(data, der, len);
    ASN1_OBJECT* oid = OBJ_txt2obj(kRoleExtensionOid, 1);
    X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, oid, critical ? 1 : 0, data);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    ASN1_OBJECT_free(oid);
    ASN1_OCTET_STRING_free(data);
    OPENSSL_free(der);
    ASN1_UTF8STRING_free(value);
  }
  X509_sign(cert, ca_key, nullptr);
  BIO* out = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(out, cert);
  char* text = nullptr;
  long n = BIO_get_mem_data(out, &text);
  std::string pem(text, static_cast<std::size_t>(n));
  BIO_free(out);
  X509_free(cert);
  X509_free(ca);
  EVP_PKEY_free(key);
  EVP_PKEY_free(ca_key);
  return pem;
}

TEST(CertRoles, ANodesCertificateAndAJoinedClientsSaySoAndBothVerify) {
  TempDir dir;
  ASSERT_TRUE(init_ca(dir / "ca"));
  std::string ca = *read_file(dir / "ca/ca.crt");
  auto issued = issue_cert(dir / "ca", "red", dir / "certs");
  ASSERT_TRUE(issued) << issued.error().message();
  std::string node = *read_file(issued->cert);
  auto made = make_request("blue", "");
  ASSERT_TRUE(made);
  auto joined = sign_request(dir / "ca", made->csr_pem, "blue");
  ASSERT_TRUE(joined) << joined.error().message();

  EXPECT_EQ(*cert_role(node), CertRole::node);
  EXPECT_EQ(inspect_cert(node)->role, CertRole::node);
  EXPECT_EQ(role_extension(node), std::make_pair(true, false));  // older versions still read it as a node
  EXPECT_TRUE(serves_tls(node));
  EXPECT_EQ(*cert_role(*joined), CertRole::jobs_client);
  EXPECT_EQ(inspect_cert(*joined)->role, CertRole::jobs_client);
  EXPECT_EQ(role_extension(*joined), std::make_pair(true, true));  // software that cannot read it refuses it
  EXPECT_FALSE(serves_tls(*joined));                               // and it never serves
  // fedmesh verifies both; what each may reach is decided by its role.
  EXPECT_TRUE(verify_chain(node, {ca}));
  auto ok = verify_chain(*joined, {ca});
  EXPECT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(to_string(CertRole::jobs_client), "jobs-client");
  EXPECT_EQ(role_from_string("node"), CertRole::node);
  EXPECT_EQ(role_from_string("jobs-client"), CertRole::jobs_client);
  EXPECT_EQ(role_from_string("registry"), CertRole::unknown);
  EXPECT_FALSE(cert_role("garbage"));
}

TEST(CertRoles, WithoutARoleACertificateIsANodesAndAnUnknownRoleIsNobodys) {
  TempDir dir;
  ASSERT_TRUE(init_ca(dir / "ca"));
  std::string ca = *read_file(dir / "ca/ca.crt");
  // Issued before roles: a node.
  std::string old = hand_made(dir / "ca", "old", "", false);
  EXPECT_EQ(*cert_role(old), CertRole::node);
  EXPECT_TRUE(verify_chain(old, {ca}));
  // A role this version does not know: neither a node nor a jobs client; critical, it does not verify.
  std::string future = hand_made(dir / "ca", "future", "registry-client", true);
  EXPECT_EQ(*cert_role(future), CertRole::unknown);
  auto refused = verify_chain(future, {ca});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("critical extension"), std::string::npos) << refused.error().message();
  EXPECT_EQ(*cert_role(hand_made(dir / "ca", "future2", "registry-client", false)), CertRole::unknown);
  // The jobs-client role made by another issuer, critical or not, is still a jobs client's.
  EXPECT_EQ(*cert_role(hand_made(dir / "ca", "other", "jobs-client", true)), CertRole::jobs_client);
  EXPECT_TRUE(verify_chain(hand_made(dir / "ca", "other", "jobs-client", true), {ca}));
  EXPECT_EQ(*cert_role(hand_made(dir / "ca", "other", "jobs-client", false)), CertRole::jobs_client);
}

TEST(IssuedNamesTest, ACaIssuesANameOnceToOneKindOfHolder) {
  TempDir dir;
  ASSERT_TRUE(init_ca(dir / "ca"));
  ASSERT_TRUE(issue_cert(dir / "ca", "a", dir / "one"));
  // Again, into a folder where nothing is in the way: the CA refuses.
  auto again = issue_cert(dir / "ca", "a", dir / "two");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::conflict);
  EXPECT_NE(again.error().message().find("'a' was issued a certificate by this CA already, for a federation node"),
            std::string::npos)
      << again.error().message();
  EXPECT_FALSE(std::filesystem::exists(dir / "two/a.crt"));
  // A join under a node's name, even asking to renew it.
  auto made = make_request("a", "");
  auto joined = sign_request(dir / "ca", made->csr_pem, "a", {.reissue = true});
  ASSERT_FALSE(joined);
  EXPECT_EQ(joined.error().code(), ErrorCode::conflict);
  EXPECT_NE(joined.error().message().find("never to another kind of holder"), std::string::npos)
      << joined.error().message();
  // Renewing a node's certificate, on purpose.
  auto renewed = issue_cert(dir / "ca", "a", dir / "two", {.reissue = true});
  ASSERT_TRUE(renewed) << renewed.error().message();

  // A joined name: once, and never to a node.
  auto b = make_request("b", "");
  ASSERT_TRUE(sign_request(dir / "ca", b->csr_pem, "b"));
  auto b_again = make_request("b", "");
  auto twice = sign_request(dir / "ca", b_again->csr_pem, "b");
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message().find("for a jobs client that joined"), std::string::npos)
      << twice.error().message();
  for (bool reissue : {false, true}) {
    auto as_node = issue_cert(dir / "ca", "b", dir / "three", {.reissue = reissue});
    ASSERT_FALSE(as_node);
    EXPECT_EQ(as_node.error().code(), ErrorCode::conflict);
  }

  auto names = issued_names(dir / "ca");
  ASSERT_TRUE(names) << names.error().message();
  ASSERT_EQ(names->size(), 3u);
  EXPECT_EQ((*names)[0].name, "a");
  EXPECT_EQ((*names)[0].role, CertRole::node);
  EXPECT_EQ((*names)[0].fingerprint, *cert_fingerprint(*read_file(dir / "one/a.crt")));
  EXPECT_EQ((*names)[1].name, "a");
  EXPECT_EQ((*names)[1].fingerprint, renewed->fingerprint);
  EXPECT_EQ((*names)[2].name, "b");
  EXPECT_EQ((*names)[2].role, CertRole::jobs_client);
  EXPECT_FALSE((*names)[2].issued_at.empty());
  EXPECT_EQ(mode_of(issued_names_file(dir / "ca")), 0600u);
  // Names that are not node names never reach the record.
  auto odd = issue_cert(dir / "ca", "a b", dir / "four");
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.error().code(), ErrorCode::invalid_argument);
}

TEST(IssuedNamesTest, RacingIssuesOfOneNameGiveOneCertificate) {
  TempDir dir;
  ASSERT_TRUE(init_ca(dir / "ca"));
  // Each thread opens the record itself, as separate processes would: the lock serialises them.
  std::atomic<int> won{0}, conflicts{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      Result<std::string> r = make_error(ErrorCode::internal, "not run");
      if (i % 2) {
        auto made = make_request("same", "");
        r = sign_request(dir / "ca", made->csr_pem, "same");
      } else {
        auto issued = issue_cert(dir / "ca", "same", dir / ("out" + std::to_string(i)));
        r = issued ? Result<std::string>(issued->cert) : Result<std::string>(issued.error());
      }
      if (r) ++won;
      if (!r && r.error().code() == ErrorCode::conflict) ++conflicts;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(conflicts.load(), 7);
  auto names = issued_names(dir / "ca");
  ASSERT_TRUE(names);
  EXPECT_EQ(names->size(), 1u);
}

TEST(IssuedNamesTest, ADamagedRecordRefusesEveryIssue) {
  TempDir dir;
  ASSERT_TRUE(init_ca(dir / "ca"));
  ASSERT_TRUE(issue_cert(dir / "ca", "a", dir / "certs"));
  {
    std::ofstream out(issued_names_file(dir / "ca"), std::ios::app);
    out << "half-a-line\n";
  }
  auto refused = issue_cert(dir / "ca", "b", dir / "certs");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::io_error);
  EXPECT_NE(refused.error().message().find("issued.txt:4"), std::string::npos) << refused.error().message();
  auto made = make_request("c", "");
  EXPECT_FALSE(sign_request(dir / "ca", made->csr_pem, "c"));
}

TEST(Crypto, Sha256) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace fedmesh::crypto
