#include "registry/query.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <unordered_map>

namespace fedmesh::registry {

using json = nlohmann::json;

json FlowSpec::to_json() const {
  return {{"name", name},     {"url", url},   {"description", description},
          {"author", author}, {"tags", tags}, {"version", version}};
}

FlowList make_flows(std::vector<FlowSpec> flows) {
  return std::make_shared<const std::vector<FlowSpec>>(std::move(flows));
}

const FlowList& no_flows() {
  static const FlowList empty = make_flows();
  return empty;
}

json FlowRecord::to_json() const {
  return {{"registry", registry},
          {"node", node},
          {"organization", organization},
          {"created", created},
          {"modified", modified},
          {"heartbeat", heartbeat},
          {"url", url},
          {"name", name},
          {"author", author},
          {"description", description},
          {"tags", tags},
          {"status", status}};
}

namespace {

const std::vector<std::string_view> kFields = {"registry", "node",    "organization", "url",
                                               "name",     "author",  "description",  "tags",
                                               "status",   "created", "modified",     "heartbeat"};

bool is_field(std::string_view f) {
  return std::find(kFields.begin(), kFields.end(), f) != kFields.end();
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

char lower_char(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

// Case-insensitive substring search without allocating (`needle_lower` is lowercase).
bool icontains(std::string_view hay, const std::string& needle_lower) {
  if (needle_lower.empty()) return true;
  auto it = std::search(hay.begin(), hay.end(), needle_lower.begin(), needle_lower.end(),
                        [](char a, char b) { return lower_char(a) == b; });
  return it != hay.end();
}

bool iequals(std::string_view a, const std::string& b_lower) {
  return a.size() == b_lower.size() &&
         std::equal(a.begin(), a.end(), b_lower.begin(), [](char x, char y) { return lower_char(x) == y; });
}

const std::string& field_value(const FlowRecord& f, std::string_view name) {
  static const std::string empty;
  if (name == "registry") return f.registry;
  if (name == "node") return f.node;
  if (name == "organization") return f.organization;
  if (name == "url") return f.url;
  if (name == "name") return f.name;
  if (name == "author") return f.author;
  if (name == "description") return f.description;
  if (name == "status") return f.status;
  if (name == "created") return f.created;
  if (name == "modified") return f.modified;
  if (name == "heartbeat") return f.heartbeat;
  return empty;
}

}  // namespace

struct Filter::Node {
  enum class Kind { all, any, eq, ne, contains, tag } kind;
  std::vector<std::shared_ptr<const Node>> children;  // all / any
  std::string field;
  std::string value;        // as written
  std::string value_lower;  // for ~ and @tag

  bool eval(const FlowRecord& f) const {
    switch (kind) {
      case Kind::all: return std::all_of(children.begin(), children.end(), [&](const auto& c) { return c->eval(f); });
      case Kind::any: return std::any_of(children.begin(), children.end(), [&](const auto& c) { return c->eval(f); });
      case Kind::tag:
        return std::any_of(f.tags.begin(), f.tags.end(), [&](const auto& t) { return iequals(t, value_lower); });
      default: break;
    }
    if (field == "tags") {
      bool any = std::any_of(f.tags.begin(), f.tags.end(), [&](const std::string& t) {
        return kind == Kind::contains ? icontains(t, value_lower) : t == value;
      });
      return kind == Kind::ne ? !std::any_of(f.tags.begin(), f.tags.end(), [&](const auto& t) { return t == value; })
                              : any;
    }
    const auto& v = field_value(f, field);
    if (kind == Kind::eq) return v == value;
    if (kind == Kind::ne) return v != value;
    return icontains(v, value_lower);
  }
};

namespace {

class Parser {
 public:
  explicit Parser(std::string_view q) : q_(q) {}

  Result<std::shared_ptr<const Filter::Node>> parse() {
    auto e = parse_or();
    if (!e) return e;
    skip_space();
    if (pos_ < q_.size()) return fail("unexpected '" + std::string(1, q_[pos_]) + "'");
    return e;
  }

 private:
  using NodePtr = std::shared_ptr<const Filter::Node>;

  Error fail(const std::string& what) const {
    return make_error(ErrorCode::invalid_argument, "at column " + std::to_string(pos_ + 1) + ": " + what);
  }
  void skip_space() {
    while (pos_ < q_.size() && std::isspace(static_cast<unsigned char>(q_[pos_]))) ++pos_;
  }
  bool eat(std::string_view token) {
    skip_space();
    if (q_.substr(pos_, token.size()) == token) {
      pos_ += token.size();
      return true;
    }
    return false;
  }

  Result<NodePtr> parse_or() {
    auto first = parse_and();
    if (!first) return first;
    auto node = std::make_shared<Filter::Node>();
    node->kind = Filter::Node::Kind::any;
    node->children.push_back(*first);
    while (eat("|")) {
      auto next = parse_and();
      if (!next) return next;
      node->children.push_back(*next);
    }
    if (node->children.size() == 1) return node->children[0];
    return NodePtr(node);
  }

  Result<NodePtr> parse_and() {
    auto first = parse_term();
    if (!first) return first;
    auto node = std::make_shared<Filter::Node>();
    node->kind = Filter::Node::Kind::all;
    node->children.push_back(*first);
    while (eat("&")) {
      auto next = parse_term();
      if (!next) return next;
      node->children.push_back(*next);
    }
    if (node->children.size() == 1) return node->children[0];
    return NodePtr(node);
  }

  Result<std::string> parse_string() {
    skip_space();
    if (pos_ >= q_.size() || q_[pos_] != '"') return fail("expected a \"quoted string\"");
    ++pos_;
    std::string out;
    while (pos_ < q_.size() && q_[pos_] != '"') {
      if (q_[pos_] == '\\' && pos_ + 1 < q_.size()) ++pos_;
      out += q_[pos_++];
    }
    if (pos_ >= q_.size()) return fail("unterminated string");
    ++pos_;
    return out;
  }

  Result<NodePtr> parse_term() {
    if (++depth_ > 32) return fail("nested deeper than 32");
    skip_space();
    if (eat("(")) {
      auto inner = parse_or();
      if (!inner) return inner;
      if (!eat(")")) return fail("expected ')'");
      --depth_;
      return inner;
    }
    if (eat("@tag")) {
      if (!eat("(")) return fail("expected '(' after @tag");
      auto value = parse_string();
      if (!value) return std::move(value).error();
      if (!eat(")")) return fail("expected ')'");
      auto node = std::make_shared<Filter::Node>();
      node->kind = Filter::Node::Kind::tag;
      node->value = *value;
      node->value_lower = lower(*value);
      --depth_;
      return NodePtr(node);
    }
    std::size_t start = pos_;
    while (pos_ < q_.size() && (std::isalnum(static_cast<unsigned char>(q_[pos_])) || q_[pos_] == '_')) ++pos_;
    std::string field(q_.substr(start, pos_ - start));
    if (field.empty()) return fail("expected a field name, '(' or @tag");
    if (!is_field(field)) {
      pos_ = start;
      return fail("unknown field '" + field + "'");
    }
    auto node = std::make_shared<Filter::Node>();
    node->field = field;
    if (eat("==")) {
      node->kind = Filter::Node::Kind::eq;
    } else if (eat("!=")) {
      node->kind = Filter::Node::Kind::ne;
    } else if (eat("~")) {
      node->kind = Filter::Node::Kind::contains;
    } else {
      return fail("expected ==, != or ~ after " + field);
    }
    auto value = parse_string();
    if (!value) return std::move(value).error();
    node->value = *value;
    node->value_lower = lower(*value);
    --depth_;
    return NodePtr(node);
  }

  std::string_view q_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

std::string tags_key(std::vector<std::string> tags) {
  std::sort(tags.begin(), tags.end());  // within the row first
  std::string joined;
  for (const auto& t : tags) joined += t + '\x1f';
  return joined;
}

}  // namespace

Result<Filter> Filter::parse(std::string_view q) {
  if (q.size() > 4096) return make_error(ErrorCode::invalid_argument, "q is longer than 4096 characters");
  auto root = Parser(q).parse();
  if (!root) return std::move(root).error();
  Filter f;
  f.root_ = std::move(*root);
  return f;
}

bool Filter::matches(const FlowRecord& flow) const {
  return !root_ || root_->eval(flow);
}

Result<std::vector<SortKey>> parse_sort(std::string_view by) {
  std::vector<SortKey> keys;
  std::size_t i = 0;
  while (i < by.size()) {
    auto comma = by.find(',', i);
    if (comma == std::string_view::npos) comma = by.size();
    std::string_view piece = by.substr(i, comma - i);
    i = comma + 1;
    while (!piece.empty() && piece.front() == ' ') piece.remove_prefix(1);  // "name, node" as Kodo writes it
    while (!piece.empty() && piece.back() == ' ') piece.remove_suffix(1);
    std::string item(piece);
    if (item.empty()) continue;
    SortKey k;
    if (auto colon = item.find(':'); colon != std::string::npos) {
      std::string dir = item.substr(colon + 1);
      if (dir != "asc" && dir != "desc")
        return make_error(ErrorCode::invalid_argument, "by: '" + item + "': the direction is :asc or :desc");
      k.descending = dir == "desc";
      item = item.substr(0, colon);
    }
    if (!is_field(item)) return make_error(ErrorCode::invalid_argument, "by: unknown field '" + item + "'");
    k.field = item;
    keys.push_back(k);
  }
  return keys;
}

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
        for (char c : v) lower += lower_char(c);
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
      default: return live->matches_for(ix, [&](const std::string& s) { return icontains(s, n.value_lower); });
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
      for (std::size_t t = 0; t < tag_hit.size(); ++t) tag_hit[t] = iequals(ix.tag_values.values[t], n.value_lower);
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
  bool status_used = (filter && filter->root_ && names_status(*filter->root_)) ||
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
    if (filter->root_) take(eval(*filter->root_, ix, live ? &*live : nullptr));
  } else {
    out["full_text"] = true;
    out["parse_error"] = filter.error().message();
    take(full_text(lower(req.q), ix));
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
