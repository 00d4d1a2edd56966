// File helpers for secrets: write with mode 0600 (never wider), and check that an
// existing key file is not readable by group or others. Thread-safe.
#pragma once

#include <string>

#include "core/error.hpp"

namespace fedmesh::crypto {

// Writes atomically (temp file + rename) with mode 0600. Refuses to overwrite when
// `overwrite` is false and the file exists.
Status write_private_file(const std::string& path, const std::string& content, bool overwrite = false);
// Writes a public file (0644).
Status write_public_file(const std::string& path, const std::string& content, bool overwrite = false);
Result<std::string> read_file(const std::string& path, std::size_t max_bytes = 1 << 20);
// Fails when the file is missing or its mode grants anything to group or others.
Status check_private_permissions(const std::string& path);

}  // namespace fedmesh::crypto
