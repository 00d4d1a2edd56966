#include "store/migrations.hpp"

namespace fedmesh::store {

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> list = {
      {1, "node facts and peers", R"sql(
CREATE TABLE node_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE peers (
  name         TEXT PRIMARY KEY,
  url          TEXT NOT NULL,
  origin       TEXT NOT NULL,
  organization TEXT NOT NULL DEFAULT '',
  version      TEXT NOT NULL DEFAULT '',
  roles        TEXT NOT NULL DEFAULT '[]',
  fingerprint  TEXT NOT NULL DEFAULT '',
  created_at   TEXT NOT NULL,
  last_seen    TEXT NOT NULL DEFAULT ''
);
)sql"},
  };
  return list;
}

}  // namespace fedmesh::store
