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

// A member of an answer as text, whatever its type ("?" when absent).
std::string text(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return "?";
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

// `fedmesh data status`: GET /api/v1/data as a summary for a person. Exit code 0 even with
// equivocations; their lines say what to run.
int print_status(const Result<OperatorResponse>& r, const std::string& what, const std::string& node) {
  if (!r || r->status != 200) return print_answer(r, what);
  auto body = parse_json(r->body, 16);
  if (!body || !body->is_object()) return print_answer(r, what);
  const auto& b = *body;
  auto list = [&](const char* key) { return b.contains(key) && b[key].is_array() ? b[key] : nlohmann::json::array(); };
  auto collections = list("collections"), links = list("links"), equivocations = list("equivocations");
  std::cout << "collections: " << collections.size() << "\n";
  for (const auto& c : collections)
    std::cout << "  " << text(c, "name") << "  " << text(c, "entities") << " entities\n";
  std::cout << "links: " << links.size() << "\n";
  for (const auto& l : links) {
    std::cout << "  " << text(l, "peer") << "  " << text(l, "state") << "  sent " << text(l, "deltas_sent")
              << "  pulled " << text(l, "deltas_pulled") << "  queued " << text(l, "queued");
    std::string error = text(l, "last_error");
    if (error != "?" && !error.empty()) std::cout << "  last error: " << error;
    std::cout << "\n";
  }
  std::cout << "equivocations: " << equivocations.size()
            << (equivocations.empty() ? "" : " (these streams are quarantined: their deltas are refused)") << "\n";
  for (const auto& e : equivocations) {
    std::cout << "  " << text(e, "creator") << "/" << text(e, "collection") << " seq " << text(e, "seq") << ": holds "
              << text(e, "held") << ", " << text(e, "from") << " sent " << text(e, "other") << ", detected "
              << text(e, "detected") << "\n"
              << "    to accept the stream again: fedmesh data resolve " << node << " " << text(e, "creator") << " "
              << text(e, "collection") << "\n";
  }
  return 0;
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
  if (c.verb == "status") {
    if (!a.empty()) return usage(c.verb, "takes no arguments");
    return print_status(operator_request(*url, "GET", "/api/v1/data"), what, c.node);
  }
  if (c.verb == "resolve") {
    if (a.size() != 2) return usage(c.verb, "expects CREATOR COLLECTION (see fedmesh data status)");
    return print_answer(
        operator_request(*url, "DELETE",
                         "/api/v1/data/equivocations/" + percent_encode(a[0]) + "/" + percent_encode(a[1])),
        what);
  }
  return usage(c.verb, "unknown; use get, put, delete, ids, query, deltas, status or resolve");
}

}  // namespace fedmesh::cli
