// Test harness for integration tests: temporary directories, free ports, real child
// processes that are always cleaned up, a small blocking HTTP client for the operator
// listener, and wait_until() for waiting on conditions instead of sleeping.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fedmesh::testing {

// The fedmesh binary under test (set by CMake; FEDMESH_TEST_BINARY overrides it) and the
// source tree.
std::string fedmesh_binary();
std::string source_dir();

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A port that was free a moment ago (bind to port 0, read it, close).
int free_port();
// Whether something on 127.0.0.1 accepts a TCP connection on `port` now.
bool port_accepts(int port);

void write_file(const std::string& path, const std::string& content);
std::string read_file(const std::string& path);

// A child process; killed (SIGKILL) and reaped on destruction if still running.
class Process {
 public:
  // stdout and stderr go to log_path.
  Process(std::vector<std::string> argv, const std::string& log_path,
          const std::map<std::string, std::string>& env = {}, const std::string& cwd = "");
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // Waits for exit; returns the exit code, 128+signal, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  std::string log() const;

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string log_path_;
};

struct HttpResult {
  int status = 0;  // 0 when no response arrived
  std::string body;
  std::string head;
  std::string error;
  // The body as JSON; null when it is not JSON (e.g. nothing answered yet), so tests
  // polling with wait_until can index it safely.
  nlohmann::json json() const {
    auto j = nlohmann::json::parse(body, nullptr, false);
    return j.is_discarded() ? nlohmann::json() : j;
  }
};

// One request on a fresh plain-HTTP connection to 127.0.0.1:port (Connection: close).
HttpResult http(int port, const std::string& method, const std::string& target, const std::string& body = "",
                const std::vector<std::string>& headers = {},
                std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
// Sends raw bytes and returns whatever arrives until close or timeout.
HttpResult http_raw(int port, const std::string& bytes, std::chrono::milliseconds timeout);

// The value of one series in a node's /metrics (`series` is the name with its labels, as
// printed); -1 when it is absent.
long metric(int port, const std::string& series);

// {"manifest": ..., "files": {...}, "config": ...} for a package folder (package.toml + *.lua at its top level).
std::string package_upload(const std::string& dir, const nlohmann::json& config = nlohmann::json::object());

// Polls `condition` every few milliseconds until true or timeout.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// Runs a fedmesh CLI command to completion; returns exit code, output in `output`.
int run_fedmesh(const std::vector<std::string>& args, std::string* output = nullptr,
                const std::map<std::string, std::string>& env = {});

// A federation of test nodes on loopback: one CA, certificates, configs, processes.
class Federation {
 public:
  explicit Federation(const TempDir& dir);

  struct NodeSpec {
    std::string name;
    std::vector<std::pair<std::string, bool>> peers;  // (peer name, bidirectional)
    std::string extra;                                // appended TOML (top level)
    std::string ca = "ca";                            // which CA issues its certificate
    std::string federation_extra;                     // appended to [federation]
    std::map<std::string, std::string> env;           // process environment
    std::vector<std::string> trust = {"ca/ca.crt"};   // the CAs its [federation] trusts
  };
  // Allocates ports, issues the certificate and writes DIR/NAME.toml.
  void add(const NodeSpec& spec);
  // Writes the config and starts the node; returns once its operator listener accepts
  // connections or the process has exited.
  void start(const std::string& name);
  void stop(const std::string& name, int sig = 15);
  Process& process(const std::string& name) { return *procs_.at(name); }
  int http_port(const std::string& name) const { return ports_.at(name).first; }
  int fed_port(const std::string& name) const { return ports_.at(name).second; }
  std::string config_path(const std::string& name) const;
  // From its next start, `node` reaches `peer` at 127.0.0.1:port (a FaultProxy) instead
  // of the peer's own federation port.
  void route(const std::string& node, const std::string& peer, int port) { routes_[{node, peer}] = port; }
  // State of `peer` in `node`'s peer table ("" when absent or unreachable).
  std::string peer_state(const std::string& node, const std::string& peer);
  bool healthy(const std::string& name);
  // Waits (bounded) until the node answers /healthz.
  bool wait_healthy(const std::string& name, std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  const TempDir& dir_;
  std::map<std::string, std::pair<int, int>> ports_;
  std::map<std::string, NodeSpec> specs_;
  std::map<std::string, std::unique_ptr<Process>> procs_;
  std::map<std::pair<std::string, std::string>, int> routes_;
};

}  // namespace fedmesh::testing
