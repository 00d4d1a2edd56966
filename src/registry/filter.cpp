#include "registry/filter.hpp"

#include <algorithm>
#include <cctype>

#include "registry/text.hpp"

namespace fedmesh::registry {

namespace {

const std::vector<std::string_view> kFields = {"registry", "node",    "organization", "url",
                                               "name",     "author",  "description",  "tags",
                                               "status",   "created", "modified",     "heartbeat"};

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
      node->value_lower = text::lower(*value);
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
    node->value_lower = text::lower(*value);
    --depth_;
    return NodePtr(node);
  }

  std::string_view q_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

bool is_field(std::string_view f) {
  return std::find(kFields.begin(), kFields.end(), f) != kFields.end();
}

Result<Filter> Filter::parse(std::string_view q) {
  if (q.size() > 4096) return make_error(ErrorCode::invalid_argument, "q is longer than 4096 characters");
  auto root = Parser(q).parse();
  if (!root) return std::move(root).error();
  Filter f;
  f.root_ = std::move(*root);
  return f;
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

}  // namespace fedmesh::registry
