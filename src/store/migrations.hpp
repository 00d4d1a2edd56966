// The schema, as an ordered list of migrations shared by every SQL backend. A
// migration is applied once, in one transaction; docs/storage.md describes the tables.
#pragma once

#include <string_view>
#include <vector>

namespace fedmesh::store {

struct Migration {
  int version;
  std::string_view description;
  std::string_view sql;           // portable SQL (SQLite and PostgreSQL)
  std::string_view postgres_sql;  // PostgreSQL's own form, where types differ (else empty)
};

const std::vector<Migration>& migrations();

}  // namespace fedmesh::store
