// DeltaStore written once against the Sql seam. Appends insert many rows per statement
// (one round trip per 64 deltas on PostgreSQL) inside one transaction.
#include <algorithm>
#include <vector>

#include "store/sql.hpp"

namespace fedmesh::store {

namespace {

constexpr std::size_t kRowsPerInsert = 64;

std::string_view byte_order(const Sql& db) {
  return db.dialect() == Dialect::postgresql ? " COLLATE \"C\"" : "";
}

// "INSERT INTO table(cols) VALUES (?1, ..., ?k), (...)" for `rows` rows of `columns`.
std::string multi_insert(std::string_view head, std::size_t columns, std::size_t rows, std::string_view tail = "") {
  std::string sql(head);
  sql += " VALUES ";
  std::size_t n = 1;
  for (std::size_t r = 0; r < rows; ++r) {
    sql += r == 0 ? "(" : ", (";
    for (std::size_t c = 0; c < columns; ++c) {
      if (c > 0) sql += ", ";
      sql += '?' + std::to_string(n++);
    }
    sql += ')';
  }
  sql += tail;
  return sql;
}

// Inserts items in chunks; `bind` appends one item's values.
template <class T, class Bind>
Status insert_rows(Sql& tx, std::string_view what, std::string_view head, std::size_t columns,
                   const std::vector<T>& items, Bind bind, std::string_view tail = "") {
  std::vector<SqlValue> values;
  for (std::size_t i = 0; i < items.size(); i += kRowsPerInsert) {
    std::size_t n = std::min(kRowsPerInsert, items.size() - i);
    values.clear();
    for (std::size_t k = i; k < i + n; ++k) bind(items[k], values);
    if (auto s = tx.run_values(what, multi_insert(head, columns, n, tail), values, nullptr); !s) return s;
  }
  return {};
}

constexpr std::string_view kDeltaColumns = "position, id, creator, collection, seq, time, entity, property, body";

DeltaRecord read_delta(const SqlRow& r) {
  return {r.text(1), r.text(2), r.text(3), r.integer(4), r.integer(5), r.text(6), r.text(7), r.text(8), r.integer(0)};
}

class SqlDeltas final : public DeltaStore {
 public:
  explicit SqlDeltas(Sql& db) : db_(db) {}

  Status append(const std::vector<DeltaRecord>& deltas, const std::vector<RunRecord>& runs,
                const std::vector<EntityExistence>& entities) override {
    return db_.transaction("deltas.append", [&](Sql& tx) -> Status {
      auto s = insert_rows(
          tx, "deltas.append", "INSERT INTO data_deltas(id, creator, collection, seq, time, entity, property, body)", 8,
          deltas, [](const DeltaRecord& d, std::vector<SqlValue>& v) {
            v.insert(v.end(), {d.id, d.creator, d.collection, d.seq, d.time, d.entity, d.property, d.body});
          });
      if (!s) return s;
      s = insert_rows(tx, "deltas.runs", "INSERT INTO data_runs(creator, collection, first, last, root, signature)", 6,
                      runs, [](const RunRecord& r, std::vector<SqlValue>& v) {
                        v.insert(v.end(), {r.creator, r.collection, r.first, r.last, r.root, r.signature});
                      });
      if (!s) return s;
      return insert_rows(
          tx, "deltas.entities", "INSERT INTO data_entities(collection, entity, present)", 3, entities,
          [](const EntityExistence& e, std::vector<SqlValue>& v) {
            v.insert(v.end(), {e.collection, e.entity, static_cast<std::int64_t>(e.exists ? 1 : 0)});
          },
          " ON CONFLICT(collection, entity) DO UPDATE SET present = excluded.present");
    });
  }

  Result<std::vector<DeltaRecord>> entity(std::string_view collection, std::string_view entity) override {
    return select("deltas.entity",
                  "SELECT " + std::string(kDeltaColumns) +
                      " FROM data_deltas WHERE collection = ?1 AND entity = ?2 ORDER BY position",
                  {collection, entity});
  }

  Result<std::vector<DeltaRecord>> stream(std::string_view creator, std::string_view collection, std::int64_t from,
                                          std::int64_t to) override {
    return select("deltas.stream",
                  "SELECT " + std::string(kDeltaColumns) +
                      " FROM data_deltas WHERE creator = ?1 AND collection = ?2 AND seq >= ?3 AND seq <= ?4 "
                      "ORDER BY seq",
                  {creator, collection, from, to});
  }

  Result<std::vector<DeltaRecord>> page(std::int64_t after_position, std::size_t limit) override {
    return select("deltas.page",
                  "SELECT " + std::string(kDeltaColumns) +
                      " FROM data_deltas WHERE position > ?1 ORDER BY position LIMIT CAST(?2 AS BIGINT)",
                  {after_position, static_cast<std::int64_t>(limit)});
  }

  Result<std::optional<DeltaRecord>> find(std::string_view collection, std::string_view entity,
                                          std::string_view id) override {
    auto rows = select(
        "deltas.find",
        "SELECT " + std::string(kDeltaColumns) + " FROM data_deltas WHERE collection = ?1 AND entity = ?2 AND id = ?3",
        {collection, entity, id});
    if (!rows) return std::move(rows).error();
    if (rows->empty()) return std::optional<DeltaRecord>();
    return std::optional<DeltaRecord>(std::move(rows->front()));
  }

  Result<std::int64_t> count() override {
    std::int64_t n = 0;
    auto s =
        db_.run("deltas.count", "SELECT COUNT(*) FROM data_deltas", {}, [&](const SqlRow& r) { n = r.integer(0); });
    if (!s) return std::move(s).error();
    return n;
  }

  Result<std::vector<StreamHead>> heads() override {
    std::vector<StreamHead> out;
    auto s = db_.run("deltas.heads",
                     "SELECT d.creator, d.collection, d.seq, d.id FROM data_deltas d JOIN (SELECT creator, collection, "
                     "MAX(seq) AS seq FROM data_deltas GROUP BY creator, collection) h ON d.creator = h.creator AND "
                     "d.collection = h.collection AND d.seq = h.seq",
                     {}, [&](const SqlRow& r) {
                       out.push_back({r.text(0), r.text(1), r.integer(2), r.text(3)});
                     });
    if (!s) return std::move(s).error();
    return out;
  }

  Result<std::vector<RunRecord>> runs(std::string_view creator, std::string_view collection, std::int64_t from,
                                      std::int64_t to) override {
    std::vector<RunRecord> out;
    auto s = db_.run("deltas.runs",
                     "SELECT creator, collection, first, last, root, signature FROM data_runs WHERE creator = ?1 AND "
                     "collection = ?2 AND last >= ?3 AND first <= ?4 ORDER BY first",
                     {creator, collection, from, to}, [&](const SqlRow& r) {
                       out.push_back({r.text(0), r.text(1), r.integer(2), r.integer(3), r.text(4), r.text(5)});
                     });
    if (!s) return std::move(s).error();
    return out;
  }

  Result<std::vector<std::string>> known_entities(std::string_view collection,
                                                  const std::vector<std::string>& entities) override {
    constexpr std::size_t kChunk = 400;  // bound parameters per statement
    std::vector<std::string> out;
    for (std::size_t i = 0; i < entities.size(); i += kChunk) {
      std::size_t n = std::min(kChunk, entities.size() - i);
      std::string sql = "SELECT entity FROM data_entities WHERE collection = ?1 AND entity IN (";
      std::vector<SqlValue> args{collection};
      for (std::size_t k = 0; k < n; ++k) {
        sql += (k ? ",?" : "?") + std::to_string(k + 2);
        args.emplace_back(std::string_view(entities[i + k]));
      }
      sql += ")";
      auto s = db_.run_values("deltas.known", sql, args, [&](const SqlRow& r) { out.push_back(r.text(0)); });
      if (!s) return std::move(s).error();
    }
    return out;
  }

  Result<std::vector<std::string>> entities(std::string_view collection, std::string_view after,
                                            std::size_t limit) override {
    std::vector<std::string> out;
    std::string order(byte_order(db_));
    auto s = db_.run("deltas.entities",
                     "SELECT entity FROM data_entities WHERE collection = ?1 AND present = 1 AND entity" + order +
                         " > ?2 ORDER BY entity" + order + " LIMIT CAST(?3 AS BIGINT)",
                     {collection, after, static_cast<std::int64_t>(limit)},
                     [&](const SqlRow& r) { out.push_back(r.text(0)); });
    if (!s) return std::move(s).error();
    return out;
  }

  Result<std::vector<std::pair<std::string, std::int64_t>>> collections() override {
    std::vector<std::pair<std::string, std::int64_t>> out;
    auto s = db_.run("deltas.collections",
                     "SELECT collection, SUM(present) FROM data_entities GROUP BY collection ORDER BY collection" +
                         std::string(byte_order(db_)),
                     {}, [&](const SqlRow& r) { out.emplace_back(r.text(0), r.integer(1)); });
    if (!s) return std::move(s).error();
    return out;
  }

  Status put_creator(const CreatorRecord& c) override {
    return db_.run("deltas.put_creator",
                   "INSERT INTO data_creators(name, cert, fingerprint) VALUES (?1, ?2, ?3) ON CONFLICT(name) DO UPDATE "
                   "SET cert = excluded.cert, fingerprint = excluded.fingerprint",
                   {c.name, c.cert, c.fingerprint});
  }

  Result<std::vector<CreatorRecord>> creators() override {
    std::vector<CreatorRecord> out;
    auto s = db_.run("deltas.creators", "SELECT name, cert, fingerprint FROM data_creators", {}, [&](const SqlRow& r) {
      out.push_back({r.text(0), r.text(1), r.text(2)});
    });
    if (!s) return std::move(s).error();
    return out;
  }

  Status put_collection(const CollectionRecord& c) override {
    return db_.run("deltas.put_collection",
                   "INSERT INTO data_collections(name, settings, source) VALUES (?1, ?2, ?3) ON CONFLICT(name) DO "
                   "UPDATE SET settings = excluded.settings, source = excluded.source",
                   {c.name, c.settings, c.source});
  }

  Status remove_collection(std::string_view name) override {
    return db_.run("deltas.remove_collection", "DELETE FROM data_collections WHERE name = ?1", {name});
  }

  Result<std::vector<CollectionRecord>> collection_settings() override {
    std::vector<CollectionRecord> out;
    auto s = db_.run("deltas.collection_settings", "SELECT name, settings, source FROM data_collections", {},
                     [&](const SqlRow& r) {
                       out.push_back({r.text(0), r.text(1), r.text(2)});
                     });
    if (!s) return std::move(s).error();
    return out;
  }

  Status add_equivocation(const EquivocationRecord& e) override {
    return db_.run(
        "deltas.add_equivocation",
        "INSERT INTO data_equivocations(creator, collection, seq, other, held, from_peer, evidence, detected, "
        "resolved) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(creator, collection, seq, other) "
        "DO NOTHING",
        {e.creator, e.collection, e.seq, e.other, e.held, e.from, e.evidence, e.detected, e.resolved});
  }

  Status resolve_equivocations(std::string_view creator, std::string_view collection, std::int64_t at) override {
    return db_.run(
        "deltas.resolve_equivocations",
        "UPDATE data_equivocations SET resolved = ?3 WHERE creator = ?1 AND collection = ?2 AND resolved = 0",
        {creator, collection, at});
  }

  Result<std::vector<EquivocationRecord>> equivocations() override {
    std::vector<EquivocationRecord> out;
    auto s = db_.run("deltas.equivocations",
                     "SELECT creator, collection, seq, held, other, from_peer, evidence, detected, resolved FROM "
                     "data_equivocations ORDER BY detected, creator, collection, seq",
                     {}, [&](const SqlRow& r) {
                       out.push_back({r.text(0), r.text(1), r.integer(2), r.text(3), r.text(4), r.text(5), r.text(6),
                                      r.integer(7), r.integer(8)});
                     });
    if (!s) return std::move(s).error();
    return out;
  }

 private:
  Result<std::vector<DeltaRecord>> select(std::string_view what, const std::string& sql,
                                          std::initializer_list<SqlValue> args) {
    std::vector<DeltaRecord> out;
    auto s = db_.run(what, sql, args, [&](const SqlRow& r) { out.push_back(read_delta(r)); });
    if (!s) return std::move(s).error();
    return out;
  }

  Sql& db_;
};

}  // namespace

std::unique_ptr<DeltaStore> make_sql_delta_store(Sql& db) {
  return std::make_unique<SqlDeltas>(db);
}

}  // namespace fedmesh::store
