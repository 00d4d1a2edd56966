#include "registry/query.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>

namespace fedmesh::registry {

using json = nlohmann::json;

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

std::string tags_key(const FlowRecord& f) {
  std::vector<std::string> tags = f.tags;
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

Result<json> run_query(const std::vector<FlowRecord>& flows, const QueryRequest& req, const QueryLimits& limits) {
  if (req.page < 0) return make_error(ErrorCode::invalid_argument, "p must be 0 or more");
  if (req.page_size <= 0 || req.page_size > limits.max_page_size)
    return make_error(ErrorCode::invalid_argument, "pp must be between 1 and " + std::to_string(limits.max_page_size));
  auto keys = parse_sort(req.by);
  if (!keys) return std::move(keys).error();

  json out = json::object();
  std::vector<const FlowRecord*> selected;
  selected.reserve(flows.size());
  if (req.q.empty()) {
    for (const auto& f : flows) selected.push_back(&f);
  } else if (auto filter = Filter::parse(req.q)) {
    for (const auto& f : flows)
      if (filter->matches(f)) selected.push_back(&f);
  } else {
    out["full_text"] = true;
    out["parse_error"] = filter.error().message();
    std::string needle = lower(req.q);
    for (const auto& f : flows) {
      bool hit = icontains(f.organization, needle) || icontains(f.name, needle) || icontains(f.author, needle) ||
                 icontains(f.description, needle) ||
                 std::any_of(f.tags.begin(), f.tags.end(), [&](const auto& t) { return icontains(t, needle); });
      if (hit) selected.push_back(&f);
    }
  }

  // Sort only as far as the requested page needs: O(n log k), comparing fields in place
  // (tags keys are computed once per row, only when sorting by tags).
  std::unordered_map<const FlowRecord*, std::string> tag_keys;
  if (std::any_of(keys->begin(), keys->end(), [](const SortKey& k) { return k.field == "tags"; })) {
    tag_keys.reserve(selected.size());
    for (const auto* f : selected) tag_keys.emplace(f, tags_key(*f));
  }
  auto value = [&](const FlowRecord* f, const std::string& field) -> const std::string& {
    return field == "tags" ? tag_keys.at(f) : field_value(*f, field);
  };
  auto less = [&](const FlowRecord* a, const FlowRecord* b) {
    for (const auto& k : *keys) {
      const auto& va = value(a, k.field);
      const auto& vb = value(b, k.field);
      if (va != vb) return k.descending ? va > vb : va < vb;
    }
    if (a->node != b->node) return a->node < b->node;  // stable, deterministic order
    return a->name < b->name;
  };
  std::size_t from =
      static_cast<std::size_t>(std::min<long long>(req.page * req.page_size, static_cast<long long>(selected.size())));
  std::size_t to = std::min(selected.size(), from + static_cast<std::size_t>(req.page_size));
  std::partial_sort(selected.begin(), selected.begin() + static_cast<std::ptrdiff_t>(to), selected.end(), less);

  json items = json::array();
  for (std::size_t i = from; i < to; ++i) items.push_back(selected[i]->to_json());
  out["total"] = flows.size();
  out["filtered"] = selected.size();
  out["p"] = req.page;
  out["pp"] = req.page_size;
  out["items"] = std::move(items);
  out["by"] = req.by;
  out["q"] = req.q;
  return out;
}

json count_flows(const std::vector<FlowRecord>& flows) {
  std::map<std::string, int> nodes, orgs, tags;
  for (const auto& f : flows) {
    nodes[f.node]++;
    orgs[f.organization]++;
    for (const auto& t : f.tags) tags[t]++;
  }
  return {{"total", flows.size()}, {"node", nodes}, {"organization", orgs}, {"tags", tags}};
}

}  // namespace fedmesh::registry
