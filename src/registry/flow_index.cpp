#include "registry/flow_index.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <unordered_map>

#include "registry/text.hpp"

namespace fedmesh::registry {

using json = nlohmann::json;

namespace {

std::string tags_key(std::vector<std::string> tags) {
  std::sort(tags.begin(), tags.end());  // within the row first
  std::string joined;
  for (const auto& t : tags) joined += t + '\x1f';
  return joined;
}

}  // namespace

namespace {

enum Field : int {
  kRegistry,
  kNode,
  kOrganization,
  kUrl,
  kName,
  kAuthor,
  kDescription,
  kStatus,
  kCreated,
  kModified,
  kHeartbeat,
  kTagKey,
  kFieldCount
};

int field_index(std::string_view f) {
  static const std::pair<std::string_view, int> names[] = {
      {"registry", kRegistry}, {"node", kNode},         {"organization", kOrganization}, {"url", kUrl},
      {"name", kName},         {"author", kAuthor},     {"description", kDescription},   {"status", kStatus},
      {"created", kCreated},   {"modified", kModified}, {"heartbeat", kHeartbeat},       {"tags", kTagKey}};
  for (const auto& [n, i] : names)
    if (n == f) return i;
  return -1;
}

using Mask = std::vector<std::uint8_t>;

// One dictionary-encoded text field.
struct Column {
  std::vector<std::string_view> values;  // distinct values (views into the rows or `owned`)
  std::vector<std::uint32_t> ids;        // per row
  std::unordered_map<std::string_view, std::uint32_t> lookup;
  std::vector<std::string> owned;  // backing store when values are computed (tag keys)

  mutable std::once_flag lower_once;
  mutable std::string lower;                  // lowercase values, each followed by '\0'
  mutable std::vector<std::uint32_t> starts;  // offset of each value in `lower`, plus the end
  mutable std::once_flag rank_once;
  mutable std::vector<std::uint32_t> rank;  // sorted position of each value

  void add(std::string_view v) {
    auto [it, inserted] = lookup.try_emplace(v, static_cast<std::uint32_t>(values.size()));
    if (inserted) values.push_back(v);
    ids.push_back(it->second);
  }
  const std::vector<std::uint32_t>& ranks() const {
    std::call_once(rank_once, [this] {
      std::vector<std::uint32_t> order(values.size());
      std::iota(order.begin(), order.end(), 0u);
      std::sort(order.begin(), order.end(), [this](std::uint32_t a, std::uint32_t b) { return values[a] < values[b]; });
      rank.resize(values.size());
      for (std::uint32_t i = 0; i < order.size(); ++i) rank[order[i]] = i;
    });
    return rank;
  }
  // Per value: does its lowercase form contain `needle` (lowercase)? One pass over one buffer.
  Mask values_containing(const std::string& needle) const {
    std::call_once(lower_once, [this] {
      std::size_t bytes = 0;
      for (auto v : values) bytes += v.size() + 1;
      lower.reserve(bytes);
      starts.reserve(values.size() + 1);
      for (auto v : values) {
        starts.push_back(static_cast<std::uint32_t>(lower.size()));
        for (char c : v) lower += text::lower_char(c);
        lower += '\0';
      }
      starts.push_back(static_cast<std::uint32_t>(lower.size()));
    });
    Mask hit(values.size(), needle.empty() ? 1 : 0);
    if (needle.empty()) return hit;
    std::size_t pos = 0;
    while ((pos = lower.find(needle, pos)) != std::string::npos) {
      auto id = static_cast<std::size_t>(std::upper_bound(starts.begin(), starts.end(), pos) - starts.begin()) - 1;
      if (pos + needle.size() < starts[id + 1]) hit[id] = 1;  // within the value, not across a separator
      pos = starts[id + 1];
    }
    return hit;
  }
  // Rows whose value is marked in `value_mask`, or-ed into `rows`.
  void or_rows(const Mask& value_mask, Mask& rows) const {
    for (std::size_t r = 0; r < ids.size(); ++r) rows[r] |= value_mask[ids[r]];
  }
};

}  // namespace

struct FlowIndex::Impl {
  // Rows are (node, flow): node fields are held once per node, flows are shared with
  // whoever built the groups (the catalog), so an index copies no flow strings.
  struct Row {
    std::uint32_t group;
    const FlowSpec* flow;
  };
  std::vector<NodeFlows> groups;
  std::vector<Row> rows;
  std::array<Column, kFieldCount> cols;
  // Tags: distinct tags, and per tag the rows carrying it.
  Column tag_values;  // `ids` unused; values are the distinct tags
  std::vector<std::vector<std::uint32_t>> postings;
  mutable std::once_flag tag_key_once;

  static bool node_level(int f) {
    return f == kRegistry || f == kNode || f == kOrganization || f == kStatus || f == kCreated || f == kModified ||
           f == kHeartbeat;
  }
  static std::string_view node_value(const NodeFlows& n, int f) {
    switch (f) {
      case kRegistry: return n.registry;
      case kNode: return n.node;
      case kOrganization: return n.organization;
      case kStatus: return n.status;
      case kCreated: return n.created;
      case kModified: return n.modified;
      default: return n.heartbeat;
    }
  }
  static std::string_view flow_value(const FlowSpec& s, int f) {
    switch (f) {
      case kUrl: return s.url;
      case kName: return s.name;
      case kAuthor: return s.author;
      default: return s.description;
    }
  }

  json item(std::uint32_t r) const {
    const auto& n = groups[rows[r].group];
    const auto& s = *rows[r].flow;
    return {{"registry", n.registry},
            {"node", n.node},
            {"organization", n.organization},
            {"created", n.created},
            {"modified", n.modified},
            {"heartbeat", n.heartbeat},
            {"url", s.url},
            {"name", s.name},
            {"author", s.author},
            {"description", s.description},
            {"tags", s.tags},
            {"status", n.status}};
  }

  explicit Impl(std::vector<NodeFlows> nodes) : groups(std::move(nodes)) {
    std::size_t total = 0;
    for (const auto& g : groups) total += g.flows ? g.flows->size() : 0;
    rows.reserve(total);
    for (int f = 0; f < kFieldCount; ++f) {
      if (f != kTagKey) cols[f].ids.reserve(total);
    }
    std::array<std::uint32_t, kFieldCount> group_ids{};
    for (std::uint32_t g = 0; g < groups.size(); ++g) {
      const auto& n = groups[g];
      if (!n.flows || n.flows->empty()) continue;
      // Node fields: one dictionary lookup per node, then its id for each of its rows.
      for (int f = 0; f < kFieldCount; ++f) {
        if (!node_level(f)) continue;
        auto [it, inserted] =
            cols[f].lookup.try_emplace(node_value(n, f), static_cast<std::uint32_t>(cols[f].values.size()));
        if (inserted) cols[f].values.push_back(node_value(n, f));
        group_ids[f] = it->second;
      }
      for (const auto& spec : *n.flows) {
        auto r = static_cast<std::uint32_t>(rows.size());
        rows.push_back({g, &spec});
        for (int f = 0; f < kFieldCount; ++f) {
          if (f == kTagKey) continue;
          if (node_level(f)) {
            cols[f].ids.push_back(group_ids[f]);
          } else {
            cols[f].add(flow_value(spec, f));
          }
        }
        add_tags(spec, r);
      }
    }
  }

  void add_tags(const FlowSpec& spec, std::uint32_t r) {
    for (const auto& t : spec.tags) {
      auto [it, inserted] = tag_values.lookup.try_emplace(t, static_cast<std::uint32_t>(tag_values.values.size()));
      if (inserted) {
        tag_values.values.push_back(t);
        postings.emplace_back();
      }
      auto& list = postings[it->second];
      if (list.empty() || list.back() != r) list.push_back(r);
    }
  }
  // The tags sort key (a row's tags sorted, then joined), built on first use.
  const Column& tag_key() const {
    std::call_once(tag_key_once, [this] {
      auto& col = const_cast<Column&>(cols[kTagKey]);
      std::vector<std::string> keys;
      keys.reserve(rows.size());
      for (const auto& row : rows) keys.push_back(tags_key(row.flow->tags));
      col.owned = std::move(keys);
      col.ids.reserve(rows.size());
      for (const auto& k : col.owned) col.add(k);
    });
    return cols[kTagKey];
  }
  Mask rows_with_tags(const Mask& tag_mask) const {
    Mask out(rows.size(), 0);
    for (std::size_t t = 0; t < tag_mask.size(); ++t)
      if (tag_mask[t])
        for (auto r : postings[t]) out[r] = 1;
    return out;
  }
};

namespace {

// Per-query status, when it comes from the node's heartbeat rather than the records.
struct LiveStatus {
  std::vector<std::string> by_node;  // per node value id
  Mask matches_for(const FlowIndex::Impl& ix, const std::function<bool(const std::string&)>& pred) const {
    Mask node_hit(by_node.size());
    for (std::size_t n = 0; n < by_node.size(); ++n) node_hit[n] = pred(by_node[n]) ? 1 : 0;
    Mask rows(ix.rows.size(), 0);
    ix.cols[kNode].or_rows(node_hit, rows);
    return rows;
  }
};

Mask eval(const Filter::Node& n, const FlowIndex::Impl& ix, const LiveStatus* live);

Mask eval_field(const Filter::Node& n, const FlowIndex::Impl& ix, const LiveStatus* live) {
  using Kind = Filter::Node::Kind;
  const std::size_t rows = ix.rows.size();
  if (n.field == "tags") {
    Mask tag_hit(ix.tag_values.values.size(), 0);
    if (n.kind == Kind::contains) {
      tag_hit = ix.tag_values.values_containing(n.value_lower);
    } else if (auto it = ix.tag_values.lookup.find(n.value); it != ix.tag_values.lookup.end()) {
      tag_hit[it->second] = 1;
    }
    Mask out = ix.rows_with_tags(tag_hit);
    if (n.kind == Kind::ne)
      for (auto& b : out) b = !b;
    return out;
  }
  if (n.field == "status" && live) {
    switch (n.kind) {
      case Kind::eq: return live->matches_for(ix, [&](const std::string& s) { return s == n.value; });
      case Kind::ne: return live->matches_for(ix, [&](const std::string& s) { return s != n.value; });
      default: return live->matches_for(ix, [&](const std::string& s) { return text::icontains(s, n.value_lower); });
    }
  }
  const Column& col = ix.cols[field_index(n.field)];
  Mask out(rows, 0);
  if (n.kind == Kind::contains) {
    col.or_rows(col.values_containing(n.value_lower), out);
    return out;
  }
  auto it = col.lookup.find(n.value);
  if (it != col.lookup.end()) {
    auto id = it->second;
    for (std::size_t r = 0; r < rows; ++r) out[r] = col.ids[r] == id;
  }
  if (n.kind == Kind::ne)
    for (auto& b : out) b = !b;
  return out;
}

Mask eval(const Filter::Node& n, const FlowIndex::Impl& ix, const LiveStatus* live) {
  using Kind = Filter::Node::Kind;
  switch (n.kind) {
    case Kind::all:
    case Kind::any: {
      Mask acc = eval(*n.children[0], ix, live);
      for (std::size_t i = 1; i < n.children.size(); ++i) {
        Mask next = eval(*n.children[i], ix, live);
        if (n.kind == Kind::all) {
          for (std::size_t r = 0; r < acc.size(); ++r) acc[r] &= next[r];
        } else {
          for (std::size_t r = 0; r < acc.size(); ++r) acc[r] |= next[r];
        }
      }
      return acc;
    }
    case Kind::tag: {
      Mask tag_hit(ix.tag_values.values.size(), 0);
      for (std::size_t t = 0; t < tag_hit.size(); ++t)
        tag_hit[t] = text::iequals(ix.tag_values.values[t], n.value_lower);
      return ix.rows_with_tags(tag_hit);
    }
    default: return eval_field(n, ix, live);
  }
}

// Case-insensitive full text over organization, name, author, description and tags.
Mask full_text(const std::string& needle, const FlowIndex::Impl& ix) {
  Mask out(ix.rows.size(), 0);
  for (int f : {kOrganization, kName, kAuthor, kDescription})
    ix.cols[f].or_rows(ix.cols[f].values_containing(needle), out);
  Mask tagged = ix.rows_with_tags(ix.tag_values.values_containing(needle));
  for (std::size_t r = 0; r < out.size(); ++r) out[r] |= tagged[r];
  return out;
}

}  // namespace

FlowIndex::FlowIndex(std::vector<NodeFlows> nodes) : impl_(std::make_unique<Impl>(std::move(nodes))) {}

namespace {

std::vector<NodeFlows> one_group_per_record(const std::vector<FlowRecord>& flows) {
  std::vector<NodeFlows> out;
  out.reserve(flows.size());
  for (const auto& f : flows)
    out.push_back({f.registry, f.node, f.organization, f.created, f.modified, f.heartbeat, f.status,
                   make_flows({{f.name, f.url, f.description, f.author, f.tags, ""}})});
  return out;
}

}  // namespace

FlowIndex::FlowIndex(const std::vector<FlowRecord>& flows) : FlowIndex(one_group_per_record(flows)) {}
FlowIndex::~FlowIndex() = default;

std::size_t FlowIndex::size() const {
  return impl_->rows.size();
}

void FlowIndex::warm() const {
  const Impl& ix = *impl_;
  for (int f = 0; f < kFieldCount; ++f) {
    const Column& col = f == kTagKey ? ix.tag_key() : ix.cols[f];
    (void)col.ranks();
    if (f == kOrganization || f == kName || f == kAuthor || f == kDescription) (void)col.values_containing("\x01");
  }
  (void)ix.tag_values.values_containing("\x01");
}

namespace {

bool names_status(const Filter::Node& n) {
  if (n.field == "status") return true;
  return std::any_of(n.children.begin(), n.children.end(), [](const auto& c) { return names_status(*c); });
}

}  // namespace

Result<json> FlowIndex::query(const QueryRequest& req, const QueryLimits& limits, const Live& live_values) const {
  if (req.page < 0) return make_error(ErrorCode::invalid_argument, "p must be 0 or more");
  if (req.page_size <= 0 || req.page_size > limits.max_page_size)
    return make_error(ErrorCode::invalid_argument, "pp must be between 1 and " + std::to_string(limits.max_page_size));
  auto keys = parse_sort(req.by);
  if (!keys) return std::move(keys).error();
  const Impl& ix = *impl_;

  auto filter = req.q.empty() ? Result<Filter>(Filter{}) : Filter::parse(req.q);
  bool status_used = (filter && filter->root() && names_status(*filter->root())) ||
                     std::any_of(keys->begin(), keys->end(), [](const SortKey& k) { return k.field == "status"; });
  std::optional<LiveStatus> live;
  if (live_values.status && status_used) {
    live.emplace();
    for (auto node : ix.cols[kNode].values) live->by_node.push_back(live_values.status(std::string(node)));
  }
  json out = json::object();
  std::vector<std::uint32_t> selected;
  auto take = [&](const Mask& m) {
    selected.reserve(static_cast<std::size_t>(std::count(m.begin(), m.end(), 1)));
    for (std::uint32_t r = 0; r < m.size(); ++r)
      if (m[r]) selected.push_back(r);
  };
  if (req.q.empty()) {
    selected.resize(ix.rows.size());
    std::iota(selected.begin(), selected.end(), 0u);
  } else if (filter) {
    if (filter->root()) take(eval(*filter->root(), ix, live ? &*live : nullptr));
  } else {
    out["full_text"] = true;
    out["parse_error"] = filter.error().message();
    take(full_text(text::lower(req.q), ix));
  }

  // Sort keys as rank columns; node then name then row keep the order total and stable.
  struct RankKey {
    const std::vector<std::uint32_t>* ids;
    std::vector<std::uint32_t> rank;  // per value
    bool descending;
  };
  std::vector<RankKey> rank_keys;
  auto add_key = [&](std::string_view field, bool descending) {
    if (field == "status" && live) {
      // Rank the per-node statuses, then read them through the node column.
      std::vector<std::string> distinct = live->by_node;
      std::sort(distinct.begin(), distinct.end());
      RankKey k{&ix.cols[kNode].ids, {}, descending};
      for (const auto& s : live->by_node)
        k.rank.push_back(
            static_cast<std::uint32_t>(std::lower_bound(distinct.begin(), distinct.end(), s) - distinct.begin()));
      rank_keys.push_back(std::move(k));
      return;
    }
    const Column& col = field == "tags" ? ix.tag_key() : ix.cols[field_index(field)];
    rank_keys.push_back({&col.ids, col.ranks(), descending});
  };
  for (const auto& k : *keys) add_key(k.field, k.descending);
  add_key("node", false);
  add_key("name", false);
  auto less = [&](std::uint32_t a, std::uint32_t b) {
    for (const auto& k : rank_keys) {
      auto ra = k.rank[(*k.ids)[a]];
      auto rb = k.rank[(*k.ids)[b]];
      if (ra != rb) return k.descending ? ra > rb : ra < rb;
    }
    return a < b;
  };
  std::size_t from =
      static_cast<std::size_t>(std::min<long long>(req.page * req.page_size, static_cast<long long>(selected.size())));
  std::size_t to = std::min(selected.size(), from + static_cast<std::size_t>(req.page_size));
  std::partial_sort(selected.begin(), selected.begin() + static_cast<std::ptrdiff_t>(to), selected.end(), less);

  json items = json::array();
  for (std::size_t i = from; i < to; ++i) {
    auto item = ix.item(selected[i]);
    if (live_values.item) live_values.item(item);
    items.push_back(std::move(item));
  }
  out["total"] = ix.rows.size();
  out["filtered"] = selected.size();
  out["p"] = req.page;
  out["pp"] = req.page_size;
  out["items"] = std::move(items);
  out["by"] = req.by;
  out["q"] = req.q;
  return out;
}

json FlowIndex::counts() const {
  const Impl& ix = *impl_;
  auto count = [&](const Column& col) {
    std::vector<std::size_t> n(col.values.size(), 0);
    for (auto id : col.ids) ++n[id];
    std::map<std::string, std::size_t> out;
    for (std::size_t i = 0; i < n.size(); ++i) out.emplace(col.values[i], n[i]);
    return out;
  };
  std::map<std::string, std::size_t> tags;
  for (std::size_t t = 0; t < ix.tag_values.values.size(); ++t)
    tags.emplace(ix.tag_values.values[t], ix.postings[t].size());
  return {{"total", ix.rows.size()},
          {"node", count(ix.cols[kNode])},
          {"organization", count(ix.cols[kOrganization])},
          {"tags", tags}};
}

Result<json> run_query(const std::vector<FlowRecord>& flows, const QueryRequest& req, const QueryLimits& limits) {
  return FlowIndex(flows).query(req, limits);
}

json count_flows(const std::vector<FlowRecord>& flows) {
  return FlowIndex(flows).counts();
}

}  // namespace fedmesh::registry
