#include "crypto/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fedmesh::crypto {

namespace {

Status write_file(const std::string& path, const std::string& content, mode_t mode, bool overwrite) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!overwrite && fs::exists(path, ec))
    return make_error(ErrorCode::conflict, path + ": already exists (refusing to overwrite)");
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return make_error(ErrorCode::io_error, path + ": " + std::strerror(errno));
  ::fchmod(fd, mode);  // umask cannot widen or narrow what we asked for
  std::size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return make_error(ErrorCode::io_error, path + ": " + std::strerror(err));
    }
    off += static_cast<std::size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return make_error(ErrorCode::io_error, path + ": " + std::strerror(err));
  }
  return {};
}

}  // namespace

Status write_private_file(const std::string& path, const std::string& content, bool overwrite) {
  return write_file(path, content, 0600, overwrite);
}

Status write_public_file(const std::string& path, const std::string& content, bool overwrite) {
  return write_file(path, content, 0644, overwrite);
}

Result<std::string> read_file(const std::string& path, std::size_t max_bytes) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return make_error(ErrorCode::not_found, path + ": " + ec.message());
  if (size > max_bytes) return make_error(ErrorCode::payload_too_large, path + ": file too large");
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::io_error, path + ": cannot be read");
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

Status check_private_permissions(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return make_error(ErrorCode::not_found, path + ": " + std::strerror(errno));
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    return make_error(ErrorCode::crypto_error,
                      path + ": private key has mode " + mode + "; it must be 0600 (chmod 600 " + path + ")");
  }
  return {};
}

}  // namespace fedmesh::crypto
