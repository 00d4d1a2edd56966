// The dashboard's static files, embedded at build time from src/api/dashboard/
// (cmake/embed_assets.cmake). Immutable; thread-safe.
#pragma once

#include <string_view>
#include <vector>

namespace fedmesh::api {

struct Asset {
  std::string_view name;  // "index.html", "app.js", ...
  std::string_view content_type;
  std::string_view body;
};

const std::vector<Asset>& assets();

}  // namespace fedmesh::api
