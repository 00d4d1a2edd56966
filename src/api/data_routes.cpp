// Shared data routes. On the operator listener: fedmesh's own API under /api/v1/data,
// /api/v1/deltas and /api/v1/collections, and Rhizome's paths and shapes under /api/
// (docs/rhizome-compat.md). On the federation listener: replication (deltas, heads,
// pages) between peers. Reads and ingests run on the store pool; writes go through the
// DataService's writer queue and resume here when durable.
#include <algorithm>
#include <atomic>
#include <initializer_list>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "api/adapter.hpp"
#include "api/routes.hpp"
#include "core/budget.hpp"
#include "core/json.hpp"
#include "core/numbers.hpp"
#include "data/delta.hpp"
#include "net/offload.hpp"

namespace fedmesh::api {

namespace asio = boost::asio;
using net::Request;
using net::Response;
using json = nlohmann::json;
using data::WriteRequest;

namespace {

constexpr std::size_t kDefaultPage = 100;
constexpr std::size_t kMaxPage = 10'000;
constexpr long long kQueryScanCap = 100'000;  // entities a query looks at (data/service.cpp)
constexpr int kMaxLongReads = 16;  // queries and assembled reads running or queued on the queries pool, at most

// How many long reads are running or queued on one node's queries pool.
using ReadGate = std::shared_ptr<std::atomic<int>>;

// Runs a long read (a query, an expand, a delta list) on the queries pool under a budget
// made from the node's limits, which also stops it when the client disconnects. Past
// kMaxLongReads in flight, unavailable at once: the queue never grows without bound.
template <class F>
asio::awaitable<Result<json>> long_read(Node& node, Request& req, const ReadGate& gate, const char* what, F fn) {
  if (gate->fetch_add(1) >= kMaxLongReads) {
    gate->fetch_sub(1);
    co_return make_error(ErrorCode::unavailable, std::to_string(kMaxLongReads) +
                                                     " queries and large reads are running or waiting here; "
                                                     "try again shortly")
        .with("retry", "true");
  }
  struct Release {
    const ReadGate& g;
    ~Release() { g->fetch_sub(1); }
  } release{gate};
  Budget::Flag gone;
  if (req.watch_close) gone = req.watch_close();
  // The clock starts now: time spent waiting for the pool counts.
  Budget budget(node.read_limits(), std::move(gone), what);
  // A named callable: g++ 12 destroys temporaries in a co_await expression twice.
  auto run = [&budget, &fn] { return fn(budget); };
  auto result = co_await net::offload(node.io().queries(), std::move(run));
  if (!result) node.data().note_stopped_read(result.error());
  co_return result;
}

// Refuses members of a body that `allowed` does not list, naming the first.
Status known_members(const json& body, std::initializer_list<std::string_view> allowed, std::string_view what) {
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
      std::string names;
      for (auto a : allowed) names += (names.empty() ? "" : ", ") + std::string(a);
      return make_error(ErrorCode::bad_json,
                        std::string(what) + ": unknown member '" + it.key().substr(0, 64) + "' (" + names + ")")
          .with("member", it.key().substr(0, 64));
    }
  }
  return {};
}

// Queues a write and resumes the awaiting coroutine on its own executor once the write is
// durable. Callers pass a named request: g++ 12 destroys temporaries in a co_await
// expression twice.
asio::awaitable<Result<json>> write(data::DataService& data, WriteRequest&& req) {
  return asio::async_initiate<decltype(asio::use_awaitable), void(Result<json>)>(
      [&data](auto handler, WriteRequest&& r) {
        auto ex = asio::get_associated_executor(handler);
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        data.write(std::move(r), [h, ex](Result<json> result) mutable {
          asio::post(ex, [h, result = std::move(result)]() mutable { (*h)(std::move(result)); });
        });
      },
      asio::use_awaitable, std::move(req));
}

Result<std::size_t> size_param(const Request& req, const char* name, std::size_t fallback, std::size_t max) {
  auto v = req.query_param(name);
  if (!v) return fallback;
  auto n = parse_integer(*v, 0, static_cast<long long>(max));
  if (!n)
    return make_error(ErrorCode::invalid_argument, std::string("query parameter '") + name +
                                                       "' must be an integer from 0 to " + std::to_string(max));
  return static_cast<std::size_t>(*n);
}

// The properties of a PUT: {id?, properties} on a collection, or the properties object
// itself on an entity (where an `id` must match the path's).
struct PutBody {
  std::string id;
  json properties;
};
Result<PutBody> put_body(const std::string& body_text, const std::string& path_id) {
  auto body = parse_json_object(body_text, 16);
  if (!body) return std::move(body).error();
  PutBody out;
  if (path_id.empty()) {
    if (auto s = known_members(*body, {"id", "properties"}, "a write to a collection"); !s) return std::move(s).error();
    if (body->contains("id")) {
      if (!(*body)["id"].is_string()) return make_error(ErrorCode::bad_json, "field 'id' must be a string");
      out.id = (*body)["id"].get<std::string>();
    }
    if (!body->contains("properties") || !(*body)["properties"].is_object())
      return make_error(ErrorCode::bad_json, "field 'properties' must be an object");
    out.properties = std::move((*body)["properties"]);
    return out;
  }
  out.id = path_id;
  // As Rhizome: only an id that is set (not null, "", 0 or false) must match the path's.
  const json& given = body->contains("id") ? (*body)["id"] : json();
  bool unset = given.is_null() || (given.is_string() && given.get_ref<const std::string&>().empty()) || given == 0 ||
               given == false;
  bool set_id = !unset;
  if (set_id && given != path_id)
    return make_error(ErrorCode::invalid_argument, "the body's id differs from the path's")
        .with("param", path_id)
        .with("property", (*body)["id"].is_string() ? (*body)["id"].get<std::string>() : (*body)["id"].dump());
  body->erase("id");
  out.properties = std::move(*body);
  return out;
}

asio::awaitable<Result<json>> get_entity(Node& node, Request& req, const ReadGate& gate, std::string collection,
                                         std::string id) {
  auto view = req.query_param("view").value_or("resolved");
  if (view != "resolved" && view != "lossless")
    co_return make_error(ErrorCode::invalid_argument, "query parameter 'view' must be resolved or lossless");
  auto expand = size_param(req, "expand", 0, static_cast<std::size_t>(node.config().data.max_expand));
  if (!expand) co_return std::move(expand).error();
  bool lossless = view == "lossless";
  int depth = static_cast<int>(*expand);
  if (depth == 0 && !lossless)  // one entity's resolved view: bounded by the entity itself
    co_return co_await net::offload(node.io().store(), [&] { return node.data().get(collection, id, false, 0); });
  co_return co_await long_read(node, req, gate, "read",
                               [&](Budget& b) { return node.data().get(collection, id, lossless, depth, &b); });
}

asio::awaitable<Result<json>> put_entity(Node& node, Request& req, std::string collection, std::string path_id) {
  auto body = put_body(req.body, path_id);
  if (!body) co_return std::move(body).error();
  WriteRequest w{
      .collection = std::move(collection), .id = std::move(body->id), .properties = std::move(body->properties)};
  co_return co_await write(node.data(), std::move(w));
}

asio::awaitable<Result<json>> query(Node& node, Request& req, const ReadGate& gate, std::string collection) {
  auto body = parse_json(req.body.empty() ? std::string_view("{}") : std::string_view(req.body), 40);
  if (!body) co_return std::move(body).error();
  if (!body->is_object()) co_return make_error(ErrorCode::bad_json, "the body must be {filter, limit, offset}");
  if (auto s = known_members(*body, {"filter", "limit", "offset"}, "a query"); !s) co_return std::move(s).error();
  json filter = body->value("filter", json());
  auto number = [&](const char* k, std::size_t fallback, std::size_t max) -> Result<std::size_t> {
    if (!body->contains(k)) return fallback;
    const auto& v = (*body)[k];
    if (!v.is_number_integer() || v.get<long long>() < 0 || v.get<long long>() > static_cast<long long>(max))
      return make_error(ErrorCode::invalid_argument,
                        std::string("field '") + k + "' must be an integer from 0 to " + std::to_string(max));
    return v.get<std::size_t>();
  };
  auto limit = number("limit", kDefaultPage, kMaxPage);
  if (!limit) co_return std::move(limit).error();
  auto offset = number("offset", 0, 1'000'000);
  if (!offset) co_return std::move(offset).error();
  co_return co_await long_read(node, req, gate, "query",
                               [&](Budget& b) { return node.data().query(collection, filter, *limit, *offset, b); });
}

// "creator/collection:seq,..." -> the vector.
Result<std::map<std::pair<std::string, std::string>, std::int64_t>> since_vector(std::string_view text) {
  std::map<std::pair<std::string, std::string>, std::int64_t> out;
  while (!text.empty()) {
    auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    auto colon = item.rfind(':');
    auto slash = item.substr(0, colon == std::string_view::npos ? 0 : colon).rfind('/');
    std::optional<long long> seq;
    if (colon != std::string_view::npos) seq = parse_integer(item.substr(colon + 1), 0, data::kMaxSafeInteger);
    if (colon == std::string_view::npos || slash == std::string_view::npos || slash == 0 || !seq)
      return make_error(ErrorCode::invalid_argument,
                        "'since' is a list of creator/collection:seq, separated by commas; '" +
                            std::string(item.substr(0, 80)) + "' is not");
    out[{std::string(item.substr(0, slash)), std::string(item.substr(slash + 1, colon - slash - 1))}] = *seq;
    if (out.size() > 100'000) return make_error(ErrorCode::invalid_argument, "'since' names too many streams");
  }
  return out;
}

asio::awaitable<Result<json>> list_deltas(Node& node, Request& req, const ReadGate& gate) {
  auto limit = size_param(req, "limit", 1000, kMaxPage);
  if (!limit) co_return std::move(limit).error();
  if (*limit == 0) *limit = 1;
  if (auto since = req.query_param("since")) {
    auto vector = since_vector(*since);
    if (!vector) co_return std::move(vector).error();
    co_return co_await long_read(node, req, gate, "delta list",
                                 [&](Budget& b) { return node.data().deltas_since(*vector, *limit, b); });
  }
  auto after = size_param(req, "after", 0, static_cast<std::size_t>(data::kMaxSafeInteger));
  if (!after) co_return std::move(after).error();
  auto position = static_cast<std::int64_t>(*after);
  co_return co_await long_read(node, req, gate, "delta list",
                               [&](Budget& b) { return node.data().deltas(position, *limit, b); });
}

// ---- Rhizome's shapes ----

// A delta as Rhizome writes it: {id, host, creator, timeCreated, pointers: [{localContext,
// target, targetContext?}], transactionId?}.
json rhizome_delta(const json& d) {
  json ptrs = json::array();
  const auto& p = d["pointers"];
  const auto& subject = p[0];
  std::string property = subject.value("target_context", "");
  json first = {{"localContext", subject["target"]["collection"]}, {"target", subject["target"]["entity"]}};
  if (!property.empty()) first["targetContext"] = property;
  ptrs.push_back(first);
  const auto& object = p[1];
  std::string role = object["local_context"];
  if (role == "value") {
    ptrs.push_back({{"localContext", property}, {"target", object["target"]}});
  } else {
    ptrs.push_back({{"localContext", role}, {"target", object["target"]}});
  }
  json out = {{"id", d["id"]},
              {"host", d["creator"]},
              {"creator", d["creator"]},
              {"timeCreated", d["time"]},
              {"pointers", ptrs}};
  if (d["tx_size"].get<std::int64_t>() > 1)
    out["transactionId"] = d["creator"].get<std::string>() + "/" + d["collection"].get<std::string>() + "/" +
                           std::to_string(d["tx"].get<std::int64_t>());
  return out;
}

Response rhizome_error(const Error& e) {
  json body = {{"error", e.code() == ErrorCode::not_found ? std::string("Not Found") : e.message()}};
  if (e.code() == ErrorCode::invalid_argument && !e.context_value("param").empty()) {
    body = {{"error", "ID Mismatch"}, {"param", e.context_value("param")}, {"property", e.context_value("property")}};
  }
  return Response::json(e.http_status(), body);
}

// Names Rhizome's paths cannot take as collections: fedmesh's own routes live there.
bool reserved(std::string_view collection) {
  return collection == "v1" || collection == "deltas" || collection == "delta" || collection == "peers" ||
         collection == "query" || collection == "health";
}

// Rhizome answers with bare values and its own error shape. A path under a reserved
// name (/api/v1/nope) is not Rhizome's: it gets fedmesh's 404.
template <class F>
net::Handler rhizome_route(F fn) {
  return [fn = std::move(fn)](Request& req) -> asio::awaitable<Response> {
    if (reserved(req.param("collection")))
      co_return Response::error(make_error(ErrorCode::not_found, "no route " + req.method + " " + req.path));
    Result<json> r = co_await fn(req);
    if (!r) co_return rhizome_error(r.error());
    co_return Response::json(200, *r);
  };
}

asio::awaitable<Result<json>> rhizome_peers(Node& node) {
  auto count = co_await net::offload(node.io().store(), [&] { return node.data().count(); });
  json out = json::array();
  const auto& c = node.config();
  json self = {{"reqAddr", c.federation.enabled ? c.federation.advertise : std::string()},
               {"isSelf", true},
               {"isSeedPeer", false},
               {"name", c.name},
               {"deltaCount", {{"accepted", count ? *count : 0}}}};
  out.push_back(self);
  std::map<std::string, json> links;
  for (auto& l : node.replicator().links_json()) links[l["peer"]] = l;
  // A named copy: a range-for over node.peers()["peers"] would iterate a member of a
  // temporary that is gone before the loop body runs.
  json peers = node.peers();
  for (const auto& p : peers["peers"]) {
    std::string name = p.value("name", "");
    std::uint64_t pulled = 0;
    if (auto it = links.find(name); it != links.end()) pulled = it->second["deltas_pulled"].get<std::uint64_t>();
    out.push_back({{"reqAddr", p.value("url", "")},
                   {"isSelf", false},
                   {"isSeedPeer", p.value("origin", "") == "config"},
                   {"name", name},
                   {"state", p.value("state", "")},
                   {"deltaCount", {{"accepted", pulled}}}});
  }
  co_return out;
}

}  // namespace

void add_data_routes(net::Router& r, Node& node) {
  auto& data = node.data();
  ReadGate gate = std::make_shared<std::atomic<int>>(0);
  // fedmesh's own API.
  r.add("GET", "/api/v1/data", json_route([&node](Request&) -> asio::awaitable<Result<json>> {
          auto list = co_await net::offload(node.io().store(), [&] { return node.data().collections(); });
          if (!list) co_return std::move(list).error();
          co_return json{{"collections", *list},
                         {"links", node.replicator().links_json()},
                         {"equivocations", node.data().equivocations(false)}};
        }));
  // Equivocations (docs/data-model.md, "Equivocation"): every one kept, resolved or not;
  // DELETE lifts a stream's quarantine.
  r.add("GET", "/api/v1/data/equivocations", json_route([&data](Request&) -> asio::awaitable<Result<json>> {
          co_return json{{"equivocations", data.equivocations(true)}};
        }));
  r.add("DELETE", "/api/v1/data/equivocations/{creator}/{collection}",
        json_route([&node](Request& req) -> asio::awaitable<Result<json>> {
          std::string creator(req.param("creator"));
          std::string collection(req.param("collection"));
          co_return co_await net::offload(node.io().store(),
                                          [&] { return node.data().resolve_equivocation(creator, collection); });
        }));
  r.add("GET", "/api/v1/data/{collection}/ids", json_route([&node](Request& req) -> asio::awaitable<Result<json>> {
          auto limit = size_param(req, "limit", 1000, kMaxPage);
          if (!limit) co_return std::move(limit).error();
          std::string collection(req.param("collection"));
          std::string after = req.query_param("after").value_or("");
          std::size_t n = std::max<std::size_t>(*limit, 1);
          co_return co_await net::offload(node.io().store(), [&] { return node.data().ids(collection, after, n); });
        }));
  r.add("GET", "/api/v1/data/{collection}/{id}", json_route([&node, gate](Request& req) {
          return get_entity(node, req, gate, std::string(req.param("collection")), std::string(req.param("id")));
        }));
  r.add("PUT", "/api/v1/data/{collection}",
        json_route([&node](Request& req) { return put_entity(node, req, std::string(req.param("collection")), ""); }));
  r.add("PUT", "/api/v1/data/{collection}/{id}", json_route([&node](Request& req) {
          return put_entity(node, req, std::string(req.param("collection")), std::string(req.param("id")));
        }));
  r.add("DELETE", "/api/v1/data/{collection}/{id}", json_route([&data](Request& req) {
          return write(data, {.op = WriteRequest::Op::remove,
                              .collection = std::string(req.param("collection")),
                              .id = std::string(req.param("id"))});
        }));
  r.add("POST", "/api/v1/data/{collection}/{id}/negate",
        json_route([&data](Request& req) -> asio::awaitable<Result<json>> {
          auto body = parse_json_object(req.body, 4);
          if (!body) co_return std::move(body).error();
          auto delta = string_member(*body, "delta", 64);
          if (!delta) co_return std::move(delta).error();
          WriteRequest w{.op = WriteRequest::Op::negate,
                         .collection = std::string(req.param("collection")),
                         .id = std::string(req.param("id")),
                         .negate = *delta};
          co_return co_await write(data, std::move(w));
        }));
  r.add("POST", "/api/v1/data/{collection}/query", json_route([&node, gate](Request& req) {
          return query(node, req, gate, std::string(req.param("collection")));
        }));
  r.add("GET", "/api/v1/deltas", json_route([&node, gate](Request& req) { return list_deltas(node, req, gate); }));
  r.add("GET", "/api/v1/deltas/count", json_route([&node](Request&) -> asio::awaitable<Result<json>> {
          auto n = co_await net::offload(node.io().store(), [&] { return node.data().count(); });
          if (!n) co_return std::move(n).error();
          co_return json{{"count", *n}};
        }));
  r.add("GET", "/api/v1/collections/{name}", json_route([&data](Request& req) -> asio::awaitable<Result<json>> {
          co_return data::to_json(data.settings_for(std::string(req.param("name"))));
        }));
  r.add("PUT", "/api/v1/collections/{name}", json_route([&node](Request& req) -> asio::awaitable<Result<json>> {
          auto body = parse_json_object(req.body, 8);
          if (!body) co_return std::move(body).error();
          std::string name(req.param("name"));
          auto s =
              co_await net::offload(node.io().store(), [&] { return node.data().set_collection(name, *body, "api"); });
          if (!s) co_return std::move(s).error();
          co_return data::to_json(node.data().settings_for(name));
        }));
  r.add("DELETE", "/api/v1/collections/{name}", json_route([&node](Request& req) -> asio::awaitable<Result<json>> {
          std::string name(req.param("name"));
          auto s = co_await net::offload(node.io().store(), [&] { return node.data().remove_collection(name); });
          if (!s) co_return std::move(s).error();
          co_return json{{"removed", name}};
        }));

  // Rhizome's paths.
  r.add("GET", "/api/health", rhizome_route([](Request&) -> asio::awaitable<Result<json>> {
          co_return json{{"status", "ok"}};
        }));
  r.add("GET", "/api/deltas", rhizome_route([&node, gate](Request& req) -> asio::awaitable<Result<json>> {
          auto limit = size_param(req, "limit", kMaxPage, kMaxPage);
          if (!limit) co_return std::move(limit).error();
          std::size_t n = std::max<std::size_t>(*limit, 1);
          // Rhizome's list is one bare array: over the byte budget it is refused (413), not cut.
          auto page = co_await long_read(node, req, gate, "delta list",
                                         [&](Budget& b) { return node.data().deltas(0, n, b, true); });
          if (!page) co_return std::move(page).error();
          json out = json::array();
          for (const auto& d : (*page)["deltas"]) out.push_back(rhizome_delta(d));
          co_return out;
        }));
  r.add("GET", "/api/deltas/count", rhizome_route([&node](Request&) -> asio::awaitable<Result<json>> {
          auto n = co_await net::offload(node.io().store(), [&] { return node.data().count(); });
          if (!n) co_return std::move(n).error();
          co_return json(*n);
        }));
  r.add("GET", "/api/delta/ids", rhizome_route([&node, gate](Request& req) -> asio::awaitable<Result<json>> {
          // Read in pages, so memory holds ids, not a million whole deltas at once.
          co_return co_await long_read(node, req, gate, "delta id list", [&](Budget& b) -> Result<json> {
            json ids = json::array();
            std::int64_t after = 0;
            for (std::size_t total = 0; total < 1'000'000;) {
              auto rows = node.data().delta_rows(after, 10'000);
              if (!rows) return std::move(rows).error();
              for (const auto& d : *rows) {
                if (auto s = b.charge_answer(d.id.size() + 3); !s) return std::move(s).error();
                ids.push_back(d.id);
              }
              total += rows->size();
              if (rows->size() < 10'000) break;
              after = rows->back().position;
              if (auto s = b.check(); !s) return std::move(s).error();
            }
            return json{{"ids", std::move(ids)}};
          });
        }));
  r.add("GET", "/api/peers", rhizome_route([&node](Request&) { return rhizome_peers(node); }));
  r.add("GET", "/api/peers/count", rhizome_route([&node](Request&) -> asio::awaitable<Result<json>> {
          co_return json(node.peers()["peers"].size() + 1);
        }));
  r.add("POST", "/api/query/{collection}", [&node, gate](Request& req) -> asio::awaitable<Response> {
    std::string collection(req.param("collection"));
    auto body = parse_json(req.body.empty() ? std::string_view("{}") : std::string_view(req.body), 40);
    Result<json> found = make_error(ErrorCode::bad_json, "the body must be {filter, maxResults}");
    Status members;
    if (body && body->is_object()) members = known_members(*body, {"filter", "maxResults"}, "a query");
    if (!members) {
      found = members.error();
    } else if (body && body->is_object()) {
      json filter = body->value("filter", json());
      // As in Rhizome: no maxResults (or one not above 0) is no limit; the scan cap
      // (100,000 entities) and data.max_answer_bytes still bound the answer.
      std::size_t max = 0;
      const json m = body->value("maxResults", json());
      bool valid = m.is_null() || m.is_number_integer();
      if (m.is_number_integer() && m.get<long long>() > 0)
        max = static_cast<std::size_t>(std::min<long long>(m.get<long long>(), kQueryScanCap));
      if (valid) {
        found = co_await long_read(node, req, gate, "query",
                                   [&](Budget& b) { return node.data().query_lossless(collection, filter, max, b); });
      } else {
        found = make_error(ErrorCode::invalid_argument,
                           "maxResults must be an integer (none, or 0 and below, for no limit)");
      }
    } else if (!body) {
      found = body.error();
    }
    if (!found)
      co_return Response::json(found.error().http_status(), {{"success", false}, {"error", found.error().message()}});
    for (auto& [id, e] : (*found)["entities"].items())
      for (auto& [prop, list] : e["propertyDeltas"].items())
        for (auto& d : list) d = rhizome_delta(d);
    co_return Response::json(200, {{"success", true}, {"data", std::move(*found)}});
  });
  r.add("GET", "/api/{collection}/ids", rhizome_route([&node](Request& req) -> asio::awaitable<Result<json>> {
          std::string collection(req.param("collection"));
          auto ids =
              co_await net::offload(node.io().store(), [&] { return node.data().ids(collection, "", 1'000'000); });
          if (!ids) co_return std::move(ids).error();
          co_return json{{"ids", (*ids)["ids"]}};
        }));
  r.add("GET", "/api/{collection}/{id}", rhizome_route([&node, gate](Request& req) -> asio::awaitable<Result<json>> {
          std::string collection(req.param("collection"));
          std::string id(req.param("id"));
          co_return co_await get_entity(node, req, gate, collection, id);
        }));
  r.add("PUT", "/api/{collection}", rhizome_route([&node](Request& req) -> asio::awaitable<Result<json>> {
          std::string collection(req.param("collection"));
          std::string no_id;
          co_return co_await put_entity(node, req, collection, no_id);
        }));
  r.add("PUT", "/api/{collection}/{id}", rhizome_route([&node](Request& req) -> asio::awaitable<Result<json>> {
          std::string collection(req.param("collection"));
          std::string id(req.param("id"));
          co_return co_await put_entity(node, req, collection, id);
        }));
}

void add_federated_data_routes(net::Router& r, Node& node) {
  auto& rep = node.replicator();
  r.add("POST", "/fed/v1/data/deltas", json_route([&rep](Request& req) {
          return rep.on_deltas(req.peer_name, req.peer_organization, std::move(req.body));
        }));
  r.add("POST", "/fed/v1/data/heads", json_route([&rep](Request& req) -> asio::awaitable<Result<json>> {
          auto body = parse_json_object(req.body, 8);
          if (!body) co_return std::move(body).error();
          co_return co_await rep.on_heads(req.peer_name, req.peer_organization, std::move(*body));
        }));
  r.add("GET", "/fed/v1/data/page", [&rep](Request& req) -> asio::awaitable<Response> {
    auto since = parse_integer(req.query_param("since").value_or(""), 0, data::kMaxSafeInteger);
    auto limit = parse_integer(req.query_param("limit").value_or("1000"), 1, 100'000);
    auto creator = req.query_param("creator");
    auto collection = req.query_param("collection");
    if (!since || !limit || !creator || !collection)
      co_return Response::error(make_error(ErrorCode::invalid_argument,
                                           "a page needs creator, collection, since (>= 0) and limit (1 to 100000)"));
    auto page = co_await rep.on_page(req.peer_name, req.peer_organization, *creator, *collection, *since,
                                     static_cast<std::size_t>(*limit));
    if (!page) co_return Response::error(page.error());
    if (page->empty()) co_return Response::text(204, "");
    Response res;
    res.body = std::move(*page);
    co_return res;
  });
}

}  // namespace fedmesh::api
