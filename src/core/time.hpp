// Wall-clock helpers: ISO-8601 UTC timestamps with microseconds, and duration
// parsing/printing ("250ms", "5s", "2m", "1h"). Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace fedmesh {

using SystemTime = std::chrono::system_clock::time_point;

// "2026-11-24T01:23:45.123456Z"
std::string iso8601(SystemTime t);
inline std::string now_iso8601() {
  return iso8601(std::chrono::system_clock::now());
}

// Parses what iso8601() writes (fraction optional); nullopt otherwise.
std::optional<SystemTime> parse_iso8601(std::string_view text);

// Accepts an integer followed by one of ms, s, m, h (e.g. "500ms", "10s").
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
std::string format_duration(std::chrono::milliseconds d);

}  // namespace fedmesh
