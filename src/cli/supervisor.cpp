#include "cli/supervisor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <toml++/toml.h>

#include "config/loader.hpp"
#include "crypto/files.hpp"

namespace fedmesh::cli {

using namespace std::chrono_literals;

std::string pid_file(const Network& net, const std::string& n) {
  return net.state_dir() + "/run/" + n + ".pid";
}
std::string log_file(const Network& net, const std::string& n) {
  return net.state_dir() + "/logs/" + n + ".log";
}
std::string config_file(const Network& net, const std::string& n) {
  return net.state_dir() + "/nodes/" + n + ".toml";
}

pid_t read_pid(const Network& net, const std::string& n) {
  std::ifstream in(pid_file(net, n));
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return 0;
  return static_cast<pid_t>(pid);
}

bool alive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(stat, text);
  auto close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() || text[close + 2] != 'Z';
}

bool wait_for(const std::function<bool()>& done, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return done();
}

std::string tail(const std::string& path, std::size_t lines) {
  auto text = crypto::read_file(path, 16 << 20);
  if (!text) return "";
  std::vector<std::string> all;
  std::string line;
  std::istringstream in(*text);
  while (std::getline(in, line)) all.push_back(line);
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "  " + all[i] + "\n";
  return out;
}

Status write_node_config(const Network& net, const NetworkNode& n) {
  toml::table http{{"listen", "127.0.0.1:" + std::to_string(n.http)}};
  toml::table federation{{"listen", "127.0.0.1:" + std::to_string(n.federation)},
                         {"cert", "../certs/" + n.name + ".crt"},
                         {"key", "../certs/" + n.name + ".key"},
                         {"trust", toml::array{"../ca/ca.crt"}},
                         {"retry_max", "2s"}};
  toml::array peers;
  for (const auto& l : net.links) {
    if (l.from != n.name) continue;
    peers.push_back(toml::table{{"name", l.to},
                                {"url", "https://127.0.0.1:" + std::to_string(net.node(l.to)->federation)},
                                {"bidirectional", l.bidirectional}});
  }
  if (!peers.empty()) federation.insert("peers", std::move(peers));
  toml::table root{{"name", n.name},
                   {"organization", n.organization},
                   {"workdir", "../var/" + n.name},
                   {"http", std::move(http)},
                   {"federation", std::move(federation)}};
  // The variables the network sets for a node are the ones its packages may read (the
  // node's own FEDMESH_* settings never are).
  toml::array readable;
  for (const auto& [k, v] : n.env) {
    if (!k.starts_with("FEDMESH_")) readable.push_back(k);
  }
  if (!readable.empty()) root.insert("skills", toml::table{{"env", std::move(readable)}});
  if (!n.roles.empty()) {
    toml::array roles;
    for (const auto& r : n.roles) roles.push_back(r);
    root.insert("roles", std::move(roles));
  }
  const auto& share = n.share.is_array() ? n.share : net.share;
  if (!share.empty()) {
    toml::array rules;
    for (const auto& r : share) {
      toml::array with;
      for (const auto& w : r["with"]) with.push_back(w.get<std::string>());
      rules.push_back(toml::table{{"collection", r["collection"].get<std::string>()}, {"with", std::move(with)}});
    }
    root.insert("data", toml::table{{"share", std::move(rules)}});
  }
  std::ostringstream out;
  out << "# Written by `fedmesh up` from " << net.dir << "/fedmesh.toml; edits are overwritten.\n" << root << "\n";
  if (n.jobs.is_object()) {
    nlohmann::json jobs = n.jobs;
    if (jobs.contains("aggregator"))
      jobs["aggregator"] =
          "https://127.0.0.1:" + std::to_string(net.node(jobs["aggregator"].get<std::string>())->federation);
    out << "\n" << config::render_toml(nlohmann::json{{"jobs", jobs}}) << "\n";
  }
  return crypto::write_public_file(config_file(net, n.name), out.str(), true);
}

Status start_node(const Network& net, const NetworkNode& n) {
  char self[4096];
  ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return make_error(ErrorCode::io_error, "cannot find the fedmesh binary");
  self[len] = '\0';
  std::string cfg = config_file(net, n.name), log = log_file(net, n.name);
  pid_t pid = ::fork();
  if (pid < 0) return make_error(ErrorCode::io_error, "fork failed");
  if (pid == 0) {
    ::setsid();  // its own session: the node outlives this command and the terminal
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    for (const auto& [k, v] : n.env) ::setenv(k.c_str(), v.c_str(), 1);
    execl(self, "fedmesh", "node", "--config", cfg.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return crypto::write_public_file(pid_file(net, n.name), std::to_string(pid) + "\n", true);
}

}  // namespace fedmesh::cli
