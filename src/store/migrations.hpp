// The schema, as an ordered list of migrations shared by every SQL backend. A
// migration is applied once, in one transaction; docs/storage.md describes the tables.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fedmesh::store {

// `sql` is portable SQL; where the backends' types differ it names a token that
// sql_for() replaces: {serial_id} (an auto-assigned 64-bit key) and {int64}.
struct Migration {
  int version;
  std::string_view description;
  std::string_view sql;
};

enum class Dialect { sqlite, postgresql };

const std::vector<Migration>& migrations();
std::string sql_for(const Migration& migration, Dialect dialect);

}  // namespace fedmesh::store
