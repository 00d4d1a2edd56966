// Parsing of "host:port" listen addresses and "https://host:port" peer URLs.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fedmesh {

struct HostPort {
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 0;
  std::string to_string() const;  // re-adds brackets for IPv6
};

// "127.0.0.1:3026", "[::1]:0", "localhost:80". Port 0 means "any free port".
std::optional<HostPort> parse_host_port(std::string_view text);

struct Url {
  std::string scheme;  // "https" or "http"
  HostPort endpoint;
  std::string path;  // "" or "/..."
};

// Accepts http(s)://host:port[/path]; the port is required. Returns nullopt otherwise.
std::optional<Url> parse_url(std::string_view text);

// 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(std::string_view host);

}  // namespace fedmesh
