// Opening a store: the SQLite file (or ":memory:") or a PostgreSQL database, migrated
// and ready. Only node/ (and tests) name a backend.
#pragma once

#include <memory>
#include <string>

#include "core/error.hpp"
#include "store/store.hpp"

namespace fedmesh {

// One SQLite file in WAL mode, or ":memory:"; one connection behind a mutex.
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path);
// A PostgreSQL database by URL; one connection, reopened after it drops. The URL's
// password never appears in errors.
Result<std::unique_ptr<Store>> open_postgres_store(const std::string& url);

}  // namespace fedmesh
