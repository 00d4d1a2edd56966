#include "core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace fedmesh {

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

void setup_logging(const LogOptions& options) {
  auto logger = spdlog::stderr_color_mt("fedmesh");
  spdlog::set_default_logger(logger);
  auto node = json_escape(options.node);
  if (options.format == "json") {
    // The message is escaped by the call sites that include outside text; spdlog's
    // payload is placed as a JSON string.
    spdlog::set_pattern(fmt::format(R"({{"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","node":"{}","msg":"%v"}})", node),
                        spdlog::pattern_time_type::utc);
  } else {
    spdlog::set_pattern(fmt::format("%Y-%m-%dT%H:%M:%S.%fZ %^%-5l%$ [{}] %v", node), spdlog::pattern_time_type::utc);
  }
  spdlog::set_level(spdlog::level::from_str(options.level));
  spdlog::flush_on(spdlog::level::info);
}

}  // namespace fedmesh
