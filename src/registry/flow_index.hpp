// Catalog queries over an immutable, dictionary-encoded index of flow records: the `q`
// filter, sorting (`by`), paging (`p`, `pp`) and counts. Pure: no I/O; thread-safe once
// built.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "registry/filter.hpp"
#include "registry/flow.hpp"

namespace fedmesh::registry {

struct QueryRequest {
  std::string q;
  std::string by;
  long long page = 0;        // p, 0-based
  long long page_size = 10;  // pp
};

struct QueryLimits {
  long long max_page_size = 100;
};

// An immutable, query-ready snapshot of flow records. Every text field is dictionary-
// encoded: its distinct values, one id per row, a lowercase buffer of the values for
// substring search and (computed on first use) each value's sort rank; tags get posting
// lists. A query evaluates `q` over dictionaries and id columns into a row mask, then
// partially sorts the matching rows by rank as far as the page needs: no string copies
// and no per-row lowercasing. Thread-safe once constructed (lazy parts are once-only).
class FlowIndex {
 public:
  explicit FlowIndex(std::vector<NodeFlows> nodes);
  explicit FlowIndex(const std::vector<FlowRecord>& flows);  // one group per record
  ~FlowIndex();
  FlowIndex(const FlowIndex&) = delete;
  FlowIndex& operator=(const FlowIndex&) = delete;

  // Live values that the index does not hold. `status` gives a node's status now, by
  // node name; it is asked for every node only when `q` or `by` names status. `item`
  // finishes each item of the page (live status and heartbeat). Without them the
  // records' own values are used.
  struct Live {
    std::function<std::string(const std::string& node)> status;
    std::function<void(nlohmann::json& item)> item;
  };
  // {total, filtered, p, pp, items, by, q} (+ "full_text": true and "parse_error" on fallback).
  Result<nlohmann::json> query(const QueryRequest& request, const QueryLimits& limits = {},
                               const Live& live = {}) const;
  // {total, node: {name: n}, organization: {...}, tags: {...}} counting flows.
  nlohmann::json counts() const;
  std::size_t size() const;
  // Computes every lazy part now (sort ranks, lowercase buffers, tag keys), so that no
  // query pays for them: a registry warms an index before it serves it.
  void warm() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// One-off forms over a plain list (they build an index first).
Result<nlohmann::json> run_query(const std::vector<FlowRecord>& flows, const QueryRequest& request,
                                 const QueryLimits& limits = {});
nlohmann::json count_flows(const std::vector<FlowRecord>& flows);

}  // namespace fedmesh::registry
