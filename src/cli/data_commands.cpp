#include "cli/data_commands.hpp"

#include <iostream>

#include "cli/network_commands.hpp"
#include "core/json.hpp"
#include "net/http_types.hpp"

namespace fedmesh::cli {

namespace {

using net::percent_encode;

int usage(const std::string& verb, const std::string& why) {
  std::cerr << "fedmesh data " << verb << ": " << why << "\n";
  return 2;
}

}  // namespace

int data_command(const DataCommand& c) {
  auto url = resolve_node(c.node, c.network);
  if (!url) return usage(c.verb, url.error().message());
  const auto& a = c.args;
  std::string what = "data " + c.verb;
  if (c.verb == "get") {
    if (a.size() != 2) return usage(c.verb, "expects COLLECTION ID");
    std::string path = "/api/v1/data/" + percent_encode(a[0]) + "/" + percent_encode(a[1]) +
                       "?view=" + (c.view.empty() ? "resolved" : c.view) + "&expand=" + std::to_string(c.expand);
    return print_answer(operator_request(*url, "GET", path), what);
  }
  if (c.verb == "put") {
    if (a.size() != 3 && a.size() != 2) return usage(c.verb, "expects COLLECTION [ID] '{\"property\": value}'");
    auto props = parse_json_object(a.back(), 16);
    if (!props) return usage(c.verb, "the properties are not a JSON object: " + props.error().message());
    if (a.size() == 3)
      return print_answer(
          operator_request(*url, "PUT", "/api/v1/data/" + percent_encode(a[0]) + "/" + percent_encode(a[1]),
                           props->dump()),
          what);
    nlohmann::json body = {{"properties", *props}};
    return print_answer(operator_request(*url, "PUT", "/api/v1/data/" + percent_encode(a[0]), body.dump()), what);
  }
  if (c.verb == "delete") {
    if (a.size() != 2) return usage(c.verb, "expects COLLECTION ID");
    return print_answer(
        operator_request(*url, "DELETE", "/api/v1/data/" + percent_encode(a[0]) + "/" + percent_encode(a[1])), what);
  }
  if (c.verb == "ids") {
    if (a.size() != 1) return usage(c.verb, "expects COLLECTION");
    std::string path = "/api/v1/data/" + percent_encode(a[0]) + "/ids";
    if (c.limit > 0) path += "?limit=" + std::to_string(c.limit);
    return print_answer(operator_request(*url, "GET", path), what);
  }
  if (c.verb == "query") {
    if (a.empty() || a.size() > 2) return usage(c.verb, "expects COLLECTION ['{JSON-Logic filter}']");
    nlohmann::json body = nlohmann::json::object();
    if (a.size() == 2) {
      auto filter = parse_json(a[1], 40);
      if (!filter) return usage(c.verb, "the filter is not JSON: " + filter.error().message());
      body["filter"] = *filter;
    }
    if (c.limit > 0) body["limit"] = c.limit;
    return print_answer(operator_request(*url, "POST", "/api/v1/data/" + percent_encode(a[0]) + "/query", body.dump()),
                        what);
  }
  if (c.verb == "deltas") {
    if (!a.empty()) return usage(c.verb, "takes no arguments (use --since and --limit)");
    std::string path = "/api/v1/deltas?limit=" + std::to_string(c.limit > 0 ? c.limit : 100);
    if (!c.since.empty()) path += "&since=" + percent_encode(c.since);
    return print_answer(operator_request(*url, "GET", path), what);
  }
  return usage(c.verb, "unknown; use get, put, delete, ids, query or deltas");
}

}  // namespace fedmesh::cli
