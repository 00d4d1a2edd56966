// Kodo's GET /schema: a Kodo v1 registry (a Litestar app) serves its OpenAPI document there
// as a documentation page, and the document itself at /schema/openapi.json. These are the
// same two answers for the Kodo routes a fedmesh registry serves (docs/kodo-compat.md).
// Built once from constants; immutable and thread-safe.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace fedmesh::api {

// The OpenAPI 3.1 document of the Kodo routes (kodo_routes.cpp), fedmesh's version in info.
const nlohmann::json& kodo_openapi();
// A self-contained HTML page (no script, nothing fetched from elsewhere) listing every
// operation of `document` and linking the JSON.
std::string kodo_openapi_html(const nlohmann::json& document);

}  // namespace fedmesh::api
