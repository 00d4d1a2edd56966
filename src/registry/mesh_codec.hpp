// The registry mesh's wire form of a catalog change: what one registry sends another in
// /fed/v1/registry/sync and digest answers. Decoding validates outside bytes (bounded
// names, flows, `via`, a version at most kMaxFuture ahead); pure, so it is fuzzed alone.
#pragma once

#include <chrono>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "registry/catalog.hpp"

namespace fedmesh::registry {

// How far ahead of our wall clock a peer's version may be (the catalog's HybridClock
// refuses the same).
constexpr std::chrono::microseconds kMaxFuture = std::chrono::hours(24);

nlohmann::json encode_change(const CatalogNode& node);
Result<CatalogNode> decode_change(const nlohmann::json& change, SystemTime now);

}  // namespace fedmesh::registry
