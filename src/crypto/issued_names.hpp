// IssuedNames: the names a CA folder has issued certificates to, so that one name has one
// holder. DIR/issued.txt (0600) holds a line per certificate, "NAME ROLE SHA-256 ISSUED-AT",
// appended and never rewritten. An IssuedNames holds the file's exclusive lock (flock) from
// open to destruction, so `fedmesh ca issue` and an aggregator signing a join, in any process
// or thread, check and record one at a time. Not thread-safe itself: one owner at a time.
#pragma once

#include <string>
#include <vector>

#include "core/error.hpp"
#include "crypto/cert_role.hpp"

namespace fedmesh::crypto {

struct IssuedName {
  std::string name;
  CertRole role = CertRole::unknown;
  std::string fingerprint;  // SHA-256 of the certificate, as CertInfo::fingerprint
  std::string issued_at;    // ISO-8601
};

// DIR/issued.txt.
std::string issued_names_file(const std::string& ca_dir);

class IssuedNames {
 public:
  // Opens DIR/issued.txt (creating it 0600) and waits for its exclusive lock. A line that is not
  // "NAME ROLE ..." is an io_error naming it: a damaged record refuses every issue, never none.
  static Result<IssuedNames> open_locked(const std::string& ca_dir);
  IssuedNames(IssuedNames&& other) noexcept;
  IssuedNames& operator=(IssuedNames&&) = delete;
  IssuedNames(const IssuedNames&) = delete;
  IssuedNames& operator=(const IssuedNames&) = delete;
  ~IssuedNames();  // releases the lock

  const std::vector<IssuedName>& entries() const { return entries_; }

  // Whether this CA may issue `name` a certificate of `role`: yes when it never issued that name;
  // with `reissue`, also when every certificate it issued to that name has that role (renewal).
  // Otherwise a conflict error naming the name, the role it went to and when.
  Status may_issue(const std::string& name, CertRole role, bool reissue) const;
  // Appends a line for a certificate just issued, and syncs it to disk.
  Status record(const std::string& name, CertRole role, const std::string& fingerprint);

 private:
  IssuedNames(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
  std::vector<IssuedName> entries_;
};

// The records of a CA folder, read under its lock (an empty list when it issued nothing yet).
Result<std::vector<IssuedName>> issued_names(const std::string& ca_dir);

}  // namespace fedmesh::crypto
