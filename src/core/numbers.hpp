// Strict integer parsing of outside text (query parameters, headers): the whole text must
// be a decimal integer within [lo, hi]; nothing is clamped or wrapped. Pure; thread-safe.
#pragma once

#include <charconv>
#include <optional>
#include <string_view>

namespace fedmesh {

inline std::optional<long long> parse_integer(std::string_view text, long long lo, long long hi) {
  if (text.empty()) return std::nullopt;
  long long value = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (*first == '+') {  // from_chars takes a leading '-' but not '+'
    ++first;
    if (first == last || *first == '-') return std::nullopt;
  }
  auto [end, ec] = std::from_chars(first, last, value);
  if (ec != std::errc() || end != last || value < lo || value > hi) return std::nullopt;
  return value;
}

}  // namespace fedmesh
