#include "support/reference_query.hpp"

#include <algorithm>

#include "registry/text.hpp"

namespace fedmesh::testing {

using registry::FlowRecord;
using Node = registry::Filter::Node;
using Kind = Node::Kind;
namespace text = registry::text;

namespace {

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

bool eval(const Node& n, const FlowRecord& f) {
  switch (n.kind) {
    case Kind::all:
      return std::all_of(n.children.begin(), n.children.end(), [&](const auto& c) { return eval(*c, f); });
    case Kind::any:
      return std::any_of(n.children.begin(), n.children.end(), [&](const auto& c) { return eval(*c, f); });
    case Kind::tag:
      return std::any_of(f.tags.begin(), f.tags.end(), [&](const auto& t) { return text::iequals(t, n.value_lower); });
    default: break;
  }
  if (n.field == "tags") {
    bool any = std::any_of(f.tags.begin(), f.tags.end(), [&](const std::string& t) {
      return n.kind == Kind::contains ? text::icontains(t, n.value_lower) : t == n.value;
    });
    return n.kind == Kind::ne ? !std::any_of(f.tags.begin(), f.tags.end(), [&](const auto& t) { return t == n.value; })
                              : any;
  }
  const auto& v = field_value(f, n.field);
  if (n.kind == Kind::eq) return v == n.value;
  if (n.kind == Kind::ne) return v != n.value;
  return text::icontains(v, n.value_lower);
}

}  // namespace

bool reference_matches(const registry::Filter& filter, const FlowRecord& flow) {
  return !filter.root() || eval(*filter.root(), flow);
}

}  // namespace fedmesh::testing
