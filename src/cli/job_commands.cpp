#include "cli/job_commands.hpp"

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "cli/network_commands.hpp"
#include "core/json.hpp"
#include "crypto/certs.hpp"
#include "crypto/files.hpp"
#include "net/blocking_http.hpp"
#include "net/http_types.hpp"

namespace fedmesh::cli {

namespace {

using json = nlohmann::json;

int usage(const std::string& what, const std::string& why) {
  std::cerr << "fedmesh " << what << ": " << why << "\n";
  return 2;
}

std::string from_env(const std::string& given, const char* variable) {
  if (!given.empty()) return given;
  const char* v = std::getenv(variable);
  return v ? v : "";
}

// Polls a job until it is over; prints it; 0 when completed.
int wait_job(const std::string& url, const std::string& id, int timeout_s) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  auto delay = std::chrono::milliseconds(20);
  std::string path = "/api/v1/jobs/" + net::percent_encode(id);
  for (;;) {
    auto r = operator_request(url, "GET", path);
    if (!r || r->status != 200) return print_answer(r, "job wait");
    auto body = parse_json(r->body);
    if (!body) return print_answer(r, "job wait");
    std::string state = body->value("state", "");
    if (state == "completed") {
      std::cout << (*body)["result"].dump(2) << "\n";
      return 0;
    }
    if (state == "failed") {
      const json& e = (*body)["error"];
      std::cerr << "job " << id << " failed: " << (e.is_object() ? e.value("message", "") : e.dump()) << "\n";
      return 1;
    }
    if (std::chrono::steady_clock::now() + delay > until) {
      std::cerr << "job " << id << " is still " << state << " after " << timeout_s << " s\n";
      return 1;
    }
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(500));
  }
}

// The URL a joined client polls: what the aggregator advertises, with the join URL's host
// when it advertises a wildcard address (0.0.0.0, [::]), which no client can reach.
std::string poll_url(const std::string& advertised, const std::string& join_url) {
  auto host_of = [](std::string_view url) {
    if (auto at = url.find("://"); at != std::string_view::npos) url.remove_prefix(at + 3);
    url = url.substr(0, url.find('/'));
    auto colon = url.rfind(':');
    return std::pair{std::string(url.substr(0, colon)),
                     colon == std::string_view::npos ? std::string() : std::string(url.substr(colon))};
  };
  if (advertised.empty()) return "https://" + host_of(join_url).first + ":FEDERATION_PORT";
  auto [host, port] = host_of(advertised);
  if (host == "0.0.0.0" || host == "[::]" || host.empty()) return "https://" + host_of(join_url).first + port;
  return advertised;
}

}  // namespace

int job_command(const JobCommand& c) {
  std::string what = "job " + c.verb;
  auto url = resolve_node(c.node, c.network);
  if (!url) return usage(what, url.error().message());
  if (c.verb == "status") {
    if (c.id.empty()) return usage(what, "expects NODE ID");
    return print_answer(operator_request(*url, "GET", "/api/v1/jobs/" + net::percent_encode(c.id)), what);
  }
  if (c.verb == "wait") {
    if (c.id.empty()) return usage(what, "expects NODE ID");
    return wait_job(*url, c.id, c.timeout);
  }
  if (c.verb == "cancel") {
    if (c.id.empty()) return usage(what, "expects NODE ID");
    return print_answer(operator_request(*url, "DELETE", "/api/v1/jobs/" + net::percent_encode(c.id)), what);
  }
  if (c.verb == "list") return print_answer(operator_request(*url, "GET", "/api/v1/jobs"), what);
  if (c.verb == "clients") return print_answer(operator_request(*url, "GET", "/api/v1/jobs/clients"), what);
  if (c.verb != "submit") return usage(what, "unknown; use submit, status, wait, cancel, list or clients");

  json artifact = json::object();
  if (!c.file.empty()) {
    auto text = crypto::read_file(c.file, 16u << 20);
    if (!text) return usage(what, text.error().message());
    auto parsed = parse_json_object(*text, 40);
    if (!parsed) return usage(what, c.file + ": " + parsed.error().message());
    artifact = std::move(*parsed);
  }
  if (!c.project.empty()) artifact["project"] = c.project;
  if (auto token = from_env(c.token, "FEDMESH_PROJECT_TOKEN"); !token.empty()) artifact["token"] = token;
  if (!c.operation.empty()) {
    auto op = parse_json_object(c.operation, 16);
    if (!op) return usage(what, "--operation is not a JSON object: " + op.error().message());
    artifact["operation"] = std::move(*op);
  }
  if (!c.where.empty()) {
    auto where = parse_json(c.where, 40);
    if (!where) return usage(what, "--where is not JSON: " + where.error().message());
    artifact["where"] = std::move(*where);
  }
  if (!c.datasources.empty()) artifact["datasources"] = c.datasources;
  if (!artifact.contains("project")) return usage(what, "needs --project (or a --file that names it)");
  if (!artifact.contains("token"))
    return usage(what, "needs the project token: --token or FEDMESH_PROJECT_TOKEN (or a --file holding it)");
  if (!artifact.contains("operation")) return usage(what, "needs --operation '{\"kind\": ...}' (or a --file)");
  auto r = operator_request(*url, "POST", "/api/v1/jobs", artifact.dump());
  if (!r || r->status != 201 || !c.wait) return print_answer(r, what);
  auto body = parse_json(r->body);
  if (!body || !body->contains("id")) return print_answer(r, what);
  std::cerr << "submitted " << (*body)["id"].get<std::string>() << "\n";
  return wait_job(*url, (*body)["id"].get<std::string>(), c.timeout);
}

int join_command(const JoinCommand& c) {
  namespace fs = std::filesystem;
  std::string token = from_env(c.token, "FEDMESH_JOIN_TOKEN");
  if (token.empty()) return usage("join", "needs --token (or FEDMESH_JOIN_TOKEN)");
  if (c.name.empty()) return usage("join", "needs --name");
  // 1. The aggregator's CA, fetched without trusting anything yet: it must match the
  //    pinned fingerprint, and the server must hold a certificate it issued.
  net::BlockingOptions probe;
  probe.unverified = true;
  probe.timeout = std::chrono::seconds(10);
  auto ca = net::blocking_http_request(c.url, "GET", "/fed/v1/jobs/ca", "", probe);
  if (!ca) {
    std::cerr << "fedmesh join: " << ca.error().message() << "\n";
    return 1;
  }
  auto ca_body = parse_json(ca->body);
  if (ca->status != 200 || !ca_body || !(*ca_body)["ca"].is_string() || !(*ca_body)["aggregator"].is_string()) {
    std::cerr << "fedmesh join: " << c.url << " does not offer joining (answered " << ca->status << ")\n";
    return 1;
  }
  std::string ca_pem = (*ca_body)["ca"].get<std::string>();
  std::string aggregator = (*ca_body)["aggregator"].get<std::string>();
  auto fp = crypto::cert_fingerprint(ca_pem);
  if (!fp) {
    std::cerr << "fedmesh join: the aggregator's CA is not a certificate: " << fp.error().message() << "\n";
    return 1;
  }
  if (!c.ca_sha256.empty() && crypto::normalize_fingerprint(c.ca_sha256) != crypto::normalize_fingerprint(*fp)) {
    std::cerr << "fedmesh join: refusing: the aggregator's CA has fingerprint " << *fp << ", not the pinned "
              << c.ca_sha256 << "\n";
    return 1;
  }
  if (c.ca_sha256.empty())
    std::cerr << "warning: no --ca-sha256 given: trusting the CA offered by " << c.url << " (SHA-256 " << *fp
              << "); check it with the aggregator's operator\n";
  if (auto s = crypto::verify_chain(ca->server_cert, {ca_pem}); !s) {
    std::cerr << "fedmesh join: refusing: the server's certificate is not issued by the CA it offers: "
              << s.error().message() << "\n";
    return 1;
  }
  // 2. A key and a request, sent with the token over TLS verified against that CA.
  std::error_code ec;
  fs::create_directories(c.out, ec);
  std::string key_path = (fs::path(c.out) / (c.name + ".key")).string();
  std::string cert_path = (fs::path(c.out) / (c.name + ".crt")).string();
  std::string ca_path = (fs::path(c.out) / "ca.crt").string();
  std::string ca_pending = ca_path + ".joining";  // becomes ca.crt only once the join succeeds
  if (fs::exists(key_path) || fs::exists(cert_path)) {
    std::cerr << "fedmesh join: " << key_path << " or " << cert_path << " exists already; not overwriting\n";
    return 1;
  }
  auto made = crypto::make_request(c.name, c.name);
  if (!made) {
    std::cerr << "fedmesh join: " << made.error().message() << "\n";
    return 1;
  }
  if (auto s = crypto::write_public_file(ca_pending, ca_pem, true); !s) {
    std::cerr << "fedmesh join: " << s.error().message() << "\n";
    return 1;
  }
  net::BlockingOptions verified;
  verified.ca_file = ca_pending;
  verified.server_name = aggregator;
  verified.timeout = std::chrono::seconds(10);
  json request = {{"name", c.name}, {"csr", made->csr_pem}, {"token", token}};
  auto r = net::blocking_http_request(c.url, "POST", "/fed/v1/jobs/join", request.dump(), verified);
  fs::remove(ca_pending, ec);
  if (!r) {
    std::cerr << "fedmesh join: " << r.error().message() << "\n";
    return 1;
  }
  auto body = parse_json(r->body);
  if (r->status != 200 || !body || !(*body)["cert"].is_string()) {
    std::string message = body && (*body)["error"].is_object() ? (*body)["error"].value("message", "") : r->body;
    std::cerr << "fedmesh join: refused (" << r->status << "): " << message << "\n";
    return 1;
  }
  std::string cert = (*body)["cert"].get<std::string>();
  if (auto s = crypto::verify_chain(cert, {ca_pem}); !s) {
    std::cerr << "fedmesh join: the issued certificate does not chain to the CA: " << s.error().message() << "\n";
    return 1;
  }
  if (auto s = crypto::check_key_matches(cert, made->key_pem); !s) {
    std::cerr << "fedmesh join: the issued certificate is not for our key\n";
    return 1;
  }
  // A joined client's certificate says so, and nodes accept it on aggregators' jobs routes only.
  // An aggregator from before certificate roles issues one that does not: it still works, but
  // says nothing of what it is for.
  if (auto role = crypto::cert_role(cert); !role || *role != crypto::CertRole::jobs_client)
    std::cerr << "warning: " << aggregator
              << " issued a certificate that does not say it is a jobs client's (an older fedmesh?); nodes that "
                 "trust its CA may take it for a federation node's: ask its operator to upgrade\n";
  if (auto s = crypto::write_private_file(key_path, made->key_pem); !s) {
    std::cerr << "fedmesh join: " << s.error().message() << "\n";
    return 1;
  }
  for (auto [path, content] : {std::pair{cert_path, cert}, std::pair{ca_path, ca_pem}}) {
    if (auto s = crypto::write_public_file(path, content, true); !s) {
      std::cerr << "fedmesh join: " << s.error().message() << "\n";
      return 1;
    }
  }
  std::cout << "joined " << aggregator << " as " << c.name << " (a jobs client's certificate "
            << (*body).value("fingerprint", "")
            << ": it opens the jobs routes of aggregators, nothing else)\n  key:  " << key_path
            << " (0600)\n  cert: " << cert_path << "\n  ca:   " << ca_path << "\nIn the client's config:\n  name = \""
            << c.name << "\"\n  organization = \"" << (*body).value("organization", c.name)
            << "\"\n  roles = [\"client\"]\n  [federation]\n  cert = \"" << cert_path << "\"\n  key = \"" << key_path
            << "\"\n  trust = [\"" << ca_path << "\"]\n  [jobs]\n  aggregator = \""
            << poll_url(body->value("url", std::string()), c.url) << "\"\n  aggregator_name = \"" << aggregator
            << "\"\n";
  return 0;
}

}  // namespace fedmesh::cli
