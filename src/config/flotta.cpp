// Flotta's node config (config.yaml as Flotta's docs write it), mapped onto fedmesh's own
// options before they are checked: the same tree the loader checks for a native file.
// What has no meaning in fedmesh is named in a warning; nothing is dropped silently.
// docs/flotta-compat.md is the table of this mapping.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "config/loader_parts.hpp"

namespace fedmesh::config::detail {

using json = nlohmann::json;

namespace {

std::string text_of(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  if (v.is_number()) return std::to_string(v.get<double>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return "";
}

// Seconds as Flotta writes them (3600.0) to a fedmesh duration ("3600000ms").
std::optional<std::string> seconds(const json& v) {
  double s = 0;
  if (v.is_number()) {
    s = v.get<double>();
  } else if (v.is_string()) {
    try {
      s = std::stod(v.get<std::string>());
    } catch (...) {
      return std::nullopt;
    }
  } else {
    return std::nullopt;
  }
  if (!(s >= 0) || s > 86'400) return std::nullopt;
  return std::to_string(static_cast<std::int64_t>(std::llround(s * 1000))) + "ms";
}

// Userinfo of a URL: everything but unreserved characters percent-encoded.
std::string url_part(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

bool truthy(const json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) return v == "true" || v == "True" || v == "yes" || v == "1";
  return false;
}

}  // namespace

bool looks_like_flotta(const json& tree) {
  if (!tree.is_object() || tree.contains("name") || tree.contains("roles")) return false;
  return tree.contains("mode") || tree.contains("datasources") || tree.contains("join") ||
         (tree.contains("node") && tree["node"].is_object());
}

json from_flotta(const json& f, Problems& problems, std::vector<std::string>& warnings) {
  json out = json::object();
  auto warn = [&](const std::string& key, const std::string& why) { warnings.push_back(key + ": " + why); };
  json node = f.value("node", json::object());
  if (!node.is_object()) {
    problems.add("node", "expected a table (name, port, interface, ...)");
    return json::object();
  }
  std::string mode = f.contains("mode") ? text_of(f["mode"]) : "node";
  if (mode != "node" && mode != "client" && mode != "standalone") {
    problems.add("mode", "must be one of: node, client, standalone (Flotta's modes)");
    return out;
  }
  out["roles"] = json::array({mode == "node" ? "aggregator" : mode});

  std::string name = node.contains("name") ? text_of(node["name"]) : "";
  if (name.empty()) {
    problems.add("node.name", "missing required key");
    return out;
  }
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower != name) warn("node.name", "'" + name + "' is used as '" + lower + "' (fedmesh node names are lower case)");
  out["name"] = lower;
  out["organization"] = f.contains("organization") ? f["organization"] : json(lower);
  if (f.contains("workdir")) out["workdir"] = f["workdir"];

  // The node's API: Flotta's plain HTTP is fedmesh's mutual-TLS federation listener.
  bool standalone = mode == "standalone";
  if (!standalone) {
    json fed = json::object();
    std::string iface = node.contains("interface") ? text_of(node["interface"]) : "";
    std::string port = node.contains("port") ? text_of(node["port"]) : "";
    if (mode == "node" && (!iface.empty() || !port.empty()))
      fed["listen"] = (iface.empty() ? "0.0.0.0" : iface) + ":" + (port.empty() ? "1456" : port);
    if (node.contains("url") && !text_of(node["url"]).empty()) {
      std::string url = text_of(node["url"]);
      if (url.starts_with("http://")) {
        warn("node.url", "served over mutual TLS: https:// is used instead of http://");
        url = "https://" + url.substr(7);
      }
      fed["advertise"] = url;
    }
    if (node.contains("protocol") && text_of(node["protocol"]) != "https")
      warn("node.protocol",
           "fedmesh nodes speak mutual TLS 1.3 to each other; '" + text_of(node["protocol"]) + "' is not used");
    // Certificates: where `fedmesh join --out certs` writes them, unless a fedmesh: table says otherwise.
    fed["cert"] = "certs/" + lower + ".crt";
    fed["key"] = "certs/" + lower + ".key";
    fed["trust"] = json::array({"certs/ca.crt"});
    out["federation"] = std::move(fed);
  }
  json jobs = json::object();
  if (node.contains("heartbeat")) {
    if (auto d = seconds(node["heartbeat"])) {
      jobs["poll"] = *d;
    } else {
      problems.add("node.heartbeat", "must be a number of seconds");
    }
  }
  if (node.contains("healthcheck"))
    warn("node.healthcheck", "not used: fedmesh reports its health continuously (/healthz, /api/v1/status)");
  if (node.contains("allow_resource_download") && mode != "client")
    jobs["allow_partial_results"] = truthy(node["allow_resource_download"]);
  if (node.contains("token_projects_initial") && mode == "client") {
    problems.add("node.token_projects_initial",
                 "a client takes no projects (they live on the node it joins); list each token under its "
                 "datasource's tokens instead");
  } else if (node.contains("token_projects_initial")) {
    json projects = json::array();
    for (const auto& p : node["token_projects_initial"])
      projects.push_back({{"name", p.contains("name") ? text_of(p["name"]) : ""},
                          {"token", p.contains("token") ? text_of(p["token"]) : ""}});
    jobs["projects"] = std::move(projects);
  }
  bool joins_network = false;
  json join = f.value("join", json::object());
  if (!join.is_object()) {
    problems.add("join", "expected a table (first, url)");
    join = json::object();
  }
  if (join.contains("first") && mode != "node")
    warn("join.first", "only an aggregator (mode: node) can be first; ignored for mode " + mode);
  bool first = join.contains("first") && truthy(join["first"]);
  if (first && mode == "node" && join.contains("url") && !text_of(join["url"]).empty())
    warn("join.url", "ignored: join.first is true, and the first node joins no one");
  if (join.contains("url") && !text_of(join["url"]).empty() && !(first && mode == "node")) {
    std::string url = text_of(join["url"]);
    if (mode == "node") {
      // A node joins a Flotta network by sharing the first node's jobs database: jobs submitted
      // to any node are planned over every datasource that said hello to any of them.
      joins_network = true;
      warn("join.url",
           "this node joins the network by sharing its PostgreSQL database (database:, the same as "
           "the first node's); " +
               url + " is not called (docs/flotta-compat.md, Flotta networks)");
    } else if (mode == "client") {
      if (url.starts_with("http://")) {
        warn("join.url", "clients reach their aggregator over mutual TLS: https:// is used instead of http://");
        url = "https://" + url.substr(7);
      }
      jobs["aggregator"] = url;
    }
  }
  if (f.contains("datasources") && !f["datasources"].is_array()) {
    problems.add("datasources", "expected a list of datasources");
  } else if (f.contains("datasources")) {
    json sources = json::array();
    for (std::size_t i = 0; i < f["datasources"].size(); ++i) {
      const json& d = f["datasources"][i];
      std::string at = "datasources[" + std::to_string(i) + "]";
      if (!d.is_object()) {
        problems.add(at, "expected a table");
        continue;
      }
      if (d.contains("kind") && text_of(d["kind"]) != "file")
        problems.add(at + ".kind", "must be \"file\" (the only kind Flotta and fedmesh know)");
      json s = {{"name", d.contains("name") ? d["name"] : json("")},
                {"path", d.contains("path") ? d["path"] : json("")},
                {"format", d.contains("type") ? d["type"] : json("csv")},
                {"tokens", d.contains("token") ? d["token"] : json::array()}};
      if (d.contains("min_rows")) s["min_rows"] = d["min_rows"];
      for (const auto& [k, _] : d.items())
        if (k != "name" && k != "path" && k != "type" && k != "token" && k != "kind" && k != "min_rows")
          warn(at + "." + k, "not a Flotta datasource key; ignored");
      sources.push_back(std::move(s));
    }
    jobs["datasources"] = std::move(sources);
  }
  if (!jobs.empty()) out["jobs"] = std::move(jobs);

  json db = f.value("database", json::object());
  if (!db.is_object()) {
    problems.add("database", "expected a table (dialect, host, port, username, password, scheme, memory)");
    db = json::object();
  }
  std::string dialect = db.contains("dialect") ? text_of(db["dialect"]) : "sqlite";
  std::transform(dialect.begin(), dialect.end(), dialect.begin(), [](unsigned char c) { return std::tolower(c); });
  if (db.empty() || truthy(db.value("memory", json(false)))) {
    // Flotta's default: SQLite in memory.
    out["store"] = {{"backend", "sqlite"}, {"path", ":memory:"}};
  } else if (dialect == "sqlite") {
    out["store"] = {{"backend", "sqlite"}, {"path", db.contains("host") ? text_of(db["host"]) : "fedmesh.db"}};
  } else if (dialect == "postgresql" || dialect == "postgres") {
    std::string user = db.contains("username") ? text_of(db["username"]) : "";
    std::string password = db.contains("password") ? text_of(db["password"]) : "";
    std::string host = db.contains("host") ? text_of(db["host"]) : "localhost";
    std::string port = db.contains("port") ? text_of(db["port"]) : "";
    std::string scheme = db.contains("scheme") ? text_of(db["scheme"]) : "";
    std::string url = "postgresql://";
    if (!user.empty()) url += url_part(user) + (password.empty() ? "" : ":" + url_part(password)) + "@";
    url += host + (port.empty() ? "" : ":" + port) + "/" + (scheme.empty() ? "flotta" : scheme);
    out["store"] = {{"backend", "postgresql"}, {"url", url}};
  } else {
    problems.add("database.dialect", "must be sqlite or postgresql");
  }
  if (joins_network && out.contains("store") && out["store"].value("backend", "") != "postgresql")
    problems.add("join.url",
                 "a node that joins another shares the first node's jobs database: set database.dialect: postgresql "
                 "with the first node's host, port and scheme (an in-memory or SQLite database cannot be shared)");
  if (dialect == "sqlite" && db.contains("scheme")) warn("database.scheme", "SQLite has no schemas; ignored");

  // Anything fedmesh adds (certificate paths, the operator listener...) under fedmesh:.
  if (f.contains("fedmesh")) {
    if (!f["fedmesh"].is_object()) {
      problems.add("fedmesh", "expected a table of fedmesh options");
    } else {
      for (const auto& [k, v] : f["fedmesh"].items()) {
        if (v.is_object() && out.contains(k) && out[k].is_object()) {
          out[k].update(v);
        } else {
          out[k] = v;
        }
      }
    }
  }
  for (const auto& [k, _] : f.items())
    if (k != "workdir" && k != "mode" && k != "node" && k != "join" && k != "datasources" && k != "database" &&
        k != "fedmesh" && k != "organization")
      problems.add(k, "not a Flotta config key (workdir, mode, node, join, datasources, database, fedmesh)");
  for (const auto& [k, _] : node.items())
    if (k != "name" && k != "healthcheck" && k != "heartbeat" && k != "allow_resource_download" && k != "protocol" &&
        k != "interface" && k != "url" && k != "port" && k != "token_projects_initial")
      warn("node." + k, "not a Flotta node key; ignored");
  return out;
}

}  // namespace fedmesh::config::detail
