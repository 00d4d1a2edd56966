// Private to registry/: byte-wise case folding and matching shared by the filter
// parser and the flow index. Pure; thread-safe.
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace fedmesh::registry::text {

inline char lower_char(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower_char(c);
  return out;
}

// Case-insensitive substring search without allocating (`needle_lower` is lowercase).
inline bool icontains(std::string_view hay, const std::string& needle_lower) {
  if (needle_lower.empty()) return true;
  auto it = std::search(hay.begin(), hay.end(), needle_lower.begin(), needle_lower.end(),
                        [](char a, char b) { return lower_char(a) == b; });
  return it != hay.end();
}

inline bool iequals(std::string_view a, const std::string& b_lower) {
  return a.size() == b_lower.size() &&
         std::equal(a.begin(), a.end(), b_lower.begin(), [](char x, char y) { return lower_char(x) == y; });
}

}  // namespace fedmesh::registry::text
