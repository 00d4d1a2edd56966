#include "crypto/issued_names.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "core/time.hpp"

namespace fedmesh::crypto {

namespace {

constexpr std::size_t kMaxIndexBytes = std::size_t{64} << 20;
constexpr std::string_view kHeader =
    "# Names this CA issued certificates to, one line each: NAME ROLE SHA-256 ISSUED-AT.\n"
    "# fedmesh never issues a name twice (docs/security.md, \"One name, one holder\"). Do not edit.\n";

Error io_fail(const std::string& path, const std::string& what) {
  return make_error(ErrorCode::io_error, path + ": " + what + ": " + std::strerror(errno));
}

Status write_all(int fd, std::string_view text, const std::string& path) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_fail(path, "cannot record the issued name");
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Result<std::string> read_all(int fd, const std::string& path) {
  std::string out;
  char buf[16384];
  for (off_t at = 0;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, at);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_fail(path, "cannot be read");
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    at += n;
    if (out.size() > kMaxIndexBytes) return make_error(ErrorCode::io_error, path + ": larger than 64 MiB");
  }
  return out;
}

Result<std::vector<IssuedName>> parse(const std::string& text, const std::string& path) {
  std::vector<IssuedName> out;
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    IssuedName entry;
    std::string role;
    fields >> entry.name >> role >> entry.fingerprint >> entry.issued_at;
    if (entry.name.empty() || role.empty())
      return make_error(ErrorCode::io_error, path + ":" + std::to_string(number) +
                                                 ": not NAME ROLE SHA-256 ISSUED-AT; this CA issues nothing until "
                                                 "the line is repaired");
    entry.role = role_from_string(role);  // a role this version does not know still holds its name
    out.push_back(std::move(entry));
  }
  return out;
}

std::string_view holder(CertRole role) {
  switch (role) {
    case CertRole::node: return "a federation node";
    case CertRole::jobs_client: return "a jobs client that joined";
    case CertRole::unknown: break;
  }
  return "a holder of a role this version does not know";
}

}  // namespace

std::string issued_names_file(const std::string& ca_dir) {
  return (std::filesystem::path(ca_dir) / "issued.txt").string();
}

Result<IssuedNames> IssuedNames::open_locked(const std::string& ca_dir) {
  std::string path = issued_names_file(ca_dir);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return io_fail(path, "cannot be opened");
  IssuedNames names(fd, path);  // closes fd on every way out
  ::fchmod(fd, 0600);
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) return io_fail(path, "cannot be locked");
  }
  auto text = read_all(fd, path);
  if (!text) return std::move(text).error();
  auto entries = parse(*text, path);
  if (!entries) return std::move(entries).error();
  names.entries_ = std::move(*entries);
  if (text->empty()) {
    if (auto s = write_all(fd, kHeader, path); !s) return std::move(s).error();
  }
  return names;
}

IssuedNames::IssuedNames(IssuedNames&& other) noexcept
    : fd_(other.fd_), path_(std::move(other.path_)), entries_(std::move(other.entries_)) {
  other.fd_ = -1;
}

IssuedNames::~IssuedNames() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the lock
}

Status IssuedNames::may_issue(const std::string& name, CertRole role, bool reissue) const {
  for (const auto& e : entries_) {
    if (e.name != name) continue;
    if (reissue && e.role == role && role != CertRole::unknown) continue;
    std::string why = "'" + name + "' was issued a certificate by this CA already, for " + std::string(holder(e.role)) +
                      (e.issued_at.empty() ? "" : " (" + e.issued_at + ")") + ": a CA never issues a name twice";
    if (e.role != role)
      why += ", and never to another kind of holder";
    else if (role == CertRole::node)
      why += " (to renew that node's own certificate: fedmesh ca issue --reissue)";
    return make_error(ErrorCode::conflict, why);
  }
  return {};
}

Status IssuedNames::record(const std::string& name, CertRole role, const std::string& fingerprint) {
  std::string at = now_iso8601();
  std::string line =
      name + " " + std::string(to_string(role)) + " " + (fingerprint.empty() ? "-" : fingerprint) + " " + at + "\n";
  if (auto s = write_all(fd_, line, path_); !s) return s;
  if (::fsync(fd_) != 0) return io_fail(path_, "cannot be synced");
  entries_.push_back({name, role, fingerprint, at});
  return {};
}

Result<std::vector<IssuedName>> issued_names(const std::string& ca_dir) {
  std::error_code ec;
  if (!std::filesystem::exists(issued_names_file(ca_dir), ec)) return std::vector<IssuedName>{};
  auto names = IssuedNames::open_locked(ca_dir);
  if (!names) return std::move(names).error();
  return names->entries();
}

}  // namespace fedmesh::crypto
