// Logging set-up: one spdlog logger per process, text or JSON lines, carrying the
// node name. Call setup_logging once at start; spdlog loggers are thread-safe.
#pragma once

#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace fedmesh {

struct LogOptions {
  std::string level = "info";   // trace | debug | info | warn | error
  std::string format = "text";  // text | json
  std::string node = "-";       // node name, on every line
};

void setup_logging(const LogOptions& options);

// Escapes a string for embedding in a JSON log line.
std::string json_escape(std::string_view s);

}  // namespace fedmesh
