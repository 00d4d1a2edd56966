// A registry catalog for fuzz targets: an in-memory SQLite store, migrated once per process
// (opening a store per input would cost far more than the decoders), and a FakeClock so
// that versions and ages do not depend on when the fuzzer runs. Logging is switched off.
// Not thread-safe; fuzz targets run one input at a time.
#pragma once

#include <chrono>
#include <cstdlib>
#include <memory>

#include <spdlog/spdlog.h>

#include "core/clock.hpp"
#include "registry/catalog.hpp"
#include "store/open.hpp"

namespace fedmesh::fuzz {

struct CatalogFixture {
  std::unique_ptr<Store> store;
  FakeClock clock;
};

// Lives for the process, like a node's store.
inline CatalogFixture& catalog_fixture() {
  static CatalogFixture* f = [] {
    spdlog::set_level(spdlog::level::off);  // catalogs and gateways log every change
    auto* out = new CatalogFixture;
    auto store = open_sqlite_store(":memory:");
    if (!store) std::abort();  // the harness itself is broken, not the input
    out->store = std::move(*store);
    return out;
  }();
  return *f;
}

// A catalog over the fixture's store with the defaults of registry.stale_after and gone_after.
inline std::unique_ptr<registry::Catalog> make_catalog(CatalogFixture& f) {
  using namespace std::chrono_literals;
  return std::make_unique<registry::Catalog>(f.store->catalog(), "fuzz-registry", 30s, 5min, f.clock);
}

}  // namespace fedmesh::fuzz
