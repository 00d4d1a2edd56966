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
      {2, "packages, package state and the invocation ledger", R"sql(
CREATE TABLE packages (
  name         TEXT PRIMARY KEY,
  version      TEXT NOT NULL,
  hash         TEXT NOT NULL,
  source       TEXT NOT NULL,
  installed_at TEXT NOT NULL
);
CREATE TABLE package_state (
  package TEXT NOT NULL,
  key     TEXT NOT NULL,
  value   TEXT NOT NULL,
  PRIMARY KEY (package, key)
);
CREATE TABLE ledger (
  id          {serial_id},
  call_id     TEXT NOT NULL,
  at          TEXT NOT NULL,
  direction   TEXT NOT NULL,
  caller      TEXT NOT NULL,
  callee      TEXT NOT NULL,
  skill       TEXT NOT NULL,
  status      TEXT NOT NULL,
  duration_us {int64} NOT NULL,
  error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ledger_skill ON ledger(skill, id);
CREATE INDEX ledger_status ON ledger(status, id);
)sql"},
      {3, "registry catalog", R"sql(
CREATE TABLE registry_nodes (
  name         TEXT PRIMARY KEY,
  url          TEXT NOT NULL,
  organization TEXT NOT NULL,
  created      TEXT NOT NULL,
  modified     TEXT NOT NULL,
  heartbeat    TEXT NOT NULL,
  flows        TEXT NOT NULL
);
)sql"},
      {4, "registry mesh: origin, version and tombstones", R"sql(
ALTER TABLE registry_nodes ADD COLUMN origin TEXT NOT NULL DEFAULT '';
ALTER TABLE registry_nodes ADD COLUMN version {int64} NOT NULL DEFAULT 0;
ALTER TABLE registry_nodes ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
)sql"},
      {5, "registry: Kodo v1 nodes beside fedmesh nodes", R"sql(
ALTER TABLE registry_nodes ADD COLUMN kind TEXT NOT NULL DEFAULT 'fedmesh';
)sql"},
      {6, "shared data: deltas, signed runs, creators, entities, collections", R"sql(
CREATE TABLE data_deltas (
  position   {serial_id},
  id         TEXT NOT NULL,
  creator    TEXT NOT NULL,
  collection TEXT NOT NULL,
  seq        {int64} NOT NULL,
  time       {int64} NOT NULL,
  entity     TEXT NOT NULL,
  property   TEXT NOT NULL,
  body       TEXT NOT NULL,
  UNIQUE (creator, collection, seq)
);
CREATE INDEX data_deltas_entity ON data_deltas(collection, entity, property);
CREATE TABLE data_runs (
  creator    TEXT NOT NULL,
  collection TEXT NOT NULL,
  first      {int64} NOT NULL,
  last       {int64} NOT NULL,
  root       TEXT NOT NULL,
  signature  TEXT NOT NULL,
  PRIMARY KEY (creator, collection, first)
);
CREATE TABLE data_entities (
  collection TEXT NOT NULL,
  entity     TEXT NOT NULL,
  present    INTEGER NOT NULL,
  PRIMARY KEY (collection, entity)
);
CREATE TABLE data_creators (
  name        TEXT PRIMARY KEY,
  cert        TEXT NOT NULL,
  fingerprint TEXT NOT NULL
);
CREATE TABLE data_collections (
  name     TEXT PRIMARY KEY,
  settings TEXT NOT NULL,
  source   TEXT NOT NULL
);
)sql"},
      {7, "federated jobs: clients, artifacts, tasks and leases, joins", R"sql(
CREATE TABLE jobs_clients (
  name         TEXT PRIMARY KEY,
  organization TEXT NOT NULL,
  datasources  TEXT NOT NULL,
  seen_at      {int64} NOT NULL
);
CREATE TABLE jobs_artifacts (
  id         TEXT PRIMARY KEY,
  project    TEXT NOT NULL,
  token      TEXT NOT NULL,
  spec       TEXT NOT NULL,
  state      TEXT NOT NULL,
  round      INTEGER NOT NULL,
  rounds     INTEGER NOT NULL,
  input      TEXT NOT NULL,
  progress   TEXT NOT NULL,
  result     TEXT NOT NULL,
  model      TEXT NOT NULL,
  error      TEXT NOT NULL,
  created_at {int64} NOT NULL,
  updated_at {int64} NOT NULL
);
CREATE INDEX jobs_artifacts_created ON jobs_artifacts(created_at);
CREATE TABLE jobs_tasks (
  id          TEXT PRIMARY KEY,
  artifact    TEXT NOT NULL,
  round       INTEGER NOT NULL,
  client      TEXT NOT NULL,
  datasource  TEXT NOT NULL,
  state       TEXT NOT NULL,
  lease       TEXT NOT NULL DEFAULT '',
  lease_until {int64} NOT NULL DEFAULT 0,
  leased_by   TEXT NOT NULL DEFAULT '',
  attempts    INTEGER NOT NULL DEFAULT 0,
  result      TEXT NOT NULL DEFAULT '',
  error       TEXT NOT NULL DEFAULT '',
  created_at  {int64} NOT NULL,
  updated_at  {int64} NOT NULL
);
CREATE INDEX jobs_tasks_claim ON jobs_tasks(client, state, created_at);
CREATE INDEX jobs_tasks_artifact ON jobs_tasks(artifact, round);
CREATE TABLE jobs_joins (
  name        TEXT PRIMARY KEY,
  token_hash  TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  issued_at   {int64} NOT NULL
);
CREATE UNIQUE INDEX jobs_joins_token ON jobs_joins(token_hash) WHERE token_hash <> '';
)sql"},
      {8, "shared data: evidence of creators that equivocated", R"sql(
CREATE TABLE data_equivocations (
  creator    TEXT NOT NULL,
  collection TEXT NOT NULL,
  seq        {int64} NOT NULL,
  other      TEXT NOT NULL,
  held       TEXT NOT NULL,
  from_peer  TEXT NOT NULL,
  evidence   TEXT NOT NULL,
  detected   {int64} NOT NULL,
  resolved   {int64} NOT NULL DEFAULT 0,
  PRIMARY KEY (creator, collection, seq, other)
);
)sql"},
  };
  return list;
}

std::string sql_for(const Migration& m, Dialect dialect) {
  std::string sql(m.sql);
  const std::pair<std::string_view, std::string_view> tokens[] = {
      {"{serial_id}", dialect == Dialect::sqlite ? "INTEGER PRIMARY KEY" : "BIGSERIAL PRIMARY KEY"},
      {"{int64}", dialect == Dialect::sqlite ? "INTEGER" : "BIGINT"},
  };
  for (const auto& [token, type] : tokens) {
    for (auto at = sql.find(token); at != std::string::npos; at = sql.find(token, at + type.size()))
      sql.replace(at, token.size(), type);
  }
  return sql;
}

}  // namespace fedmesh::store
