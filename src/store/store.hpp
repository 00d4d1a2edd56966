// Store: the node's persistent state, one small interface per stored aggregate (meta,
// peers, packages, package state, ledger, catalog, deltas), all served by one backend that
// open_store() (store/open.hpp) opens. Modules are handed only the interface they need:
// scripts get StateStore, the registry CatalogStore. Calls are synchronous and may block
// on disk or the network: run them on the store pool, never on an I/O thread. Every
// implementation is thread-safe.
#pragma once

#include <string_view>

#include "core/error.hpp"
#include "store/catalog_store.hpp"
#include "store/delta_store.hpp"
#include "store/job_store.hpp"
#include "store/ledger_store.hpp"
#include "store/meta_store.hpp"
#include "store/package_store.hpp"
#include "store/peer_store.hpp"
#include "store/state_store.hpp"

namespace fedmesh {

class Store {
 public:
  virtual ~Store() = default;

  virtual MetaStore& meta() = 0;
  virtual PeerStore& peers() = 0;
  virtual PackageStore& packages() = 0;
  virtual StateStore& state() = 0;
  virtual LedgerStore& ledger() = 0;
  virtual CatalogStore& catalog() = 0;
  virtual DeltaStore& deltas() = 0;
  virtual JobStore& jobs() = 0;

  // Applies pending schema migrations; idempotent (open_store already did).
  virtual Status migrate() = 0;
  virtual int schema_version() = 0;
  // Makes everything written so far durable (checkpoint); called at shutdown.
  virtual Status flush() = 0;
  virtual std::string_view backend() const = 0;
};

}  // namespace fedmesh
