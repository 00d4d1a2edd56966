#include "support/harness.hpp"
#include "support/sockets.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fedmesh::testing {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string fedmesh_binary() {
  // FEDMESH_TEST_BINARY runs the tests against another build (e.g. an older commit, to
  // show a regression test fails there).
  if (const char* other = std::getenv("FEDMESH_TEST_BINARY"); other && *other) return other;
  return FEDMESH_BINARY;
}
std::string source_dir() {
  return FEDMESH_SOURCE_DIR;
}

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "fedmesh-test-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

// Ports come from a block of 64 below the kernel's ephemeral range (32768+), held by
// this test process alone: it takes an flock on the block's lock file (released by the
// kernel when the process exits, even on a crash), so tests running in parallel never
// share a block, and a port is not taken by an outgoing connection while a node restarts.
namespace {

int claim_block() {
  constexpr int kBlocks = 190;
  int first = static_cast<int>((static_cast<unsigned>(::getpid()) * 7919u) % kBlocks);
  for (int i = 0; i < kBlocks; ++i) {
    int block = (first + i) % kBlocks;
    std::string lock = (fs::temp_directory_path() / ("fedmesh-test-ports-" + std::to_string(block) + ".lock")).string();
    int fd = ::open(lock.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0666);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return 20000 + block * 64;  // fd stays open: the lock is ours
    ::close(fd);
  }
  throw std::runtime_error("no free block of test ports");
}

}  // namespace

int free_port() {
  static int next = 0;
  static const int block = claim_block();
  for (int tries = 0; tries < 64; ++tries) {
    int port = block + (next++ % 64);
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (ok) return port;
  }
  throw std::runtime_error("no free port in this test's block");
}

void write_file(const std::string& path, const std::string& content) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

Process::Process(std::vector<std::string> argv, const std::string& log_path,
                 const std::map<std::string, std::string>& env, const std::string& cwd)
    : log_path_(log_path) {
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // If the test process dies without running destructors (a crash, a closed pipe), its
    // nodes die with it instead of lingering.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
}

Process::~Process() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
  }
}

bool Process::running() {
  if (reaped_) return false;
  pid_t r = ::waitpid(pid_, &status_, WNOHANG);
  if (r == pid_) reaped_ = true;
  return !reaped_;
}

void Process::signal(int sig) {
  if (!reaped_) ::kill(pid_, sig);
}

int Process::wait(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (running()) {
    if (Clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
  return -1;
}

std::string Process::log() const {
  return read_file(log_path_);
}

namespace {

sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

}  // namespace

int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int listen_loopback(int port, int backlog, int* bound) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr = loopback(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, backlog) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (bound) *bound = ntohs(addr.sin_port);
  return fd;
}

bool port_accepts(int port) {
  int fd = connect_loopback(port);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

namespace {

HttpResult exchange(int port, const std::string& bytes, std::chrono::milliseconds timeout) {
  HttpResult r;
  int fd = connect_loopback(port);
  if (fd < 0) {
    r.error = "connect failed";
    return r;
  }
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  std::string in;
  auto deadline = Clock::now() + timeout;
  char buf[16384];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      r.error = "timeout";
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
    // Stop at the end of a Content-Length body: some servers keep the connection open.
    auto end = in.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::string head = in.substr(0, end);
      for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      auto cl = head.find("\r\ncontent-length:");
      if (cl != std::string::npos && in.size() >= end + 4 + std::stoul(head.substr(cl + 17))) break;
    }
  }
  ::close(fd);
  auto sep = in.find("\r\n\r\n");
  if (in.size() > 12 && in.starts_with("HTTP/1.1 ")) {
    r.status = std::atoi(in.substr(9, 3).c_str());
    r.head = in.substr(0, sep);
    if (sep != std::string::npos) r.body = in.substr(sep + 4);
  } else if (r.error.empty()) {
    r.error = "no HTTP response";
  }
  return r;
}

}  // namespace

HttpResult http(int port, const std::string& method, const std::string& target, const std::string& body,
                const std::vector<std::string>& headers, std::chrono::milliseconds timeout) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& h : headers) req += h + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  return exchange(port, req, timeout);
}

HttpResult http_raw(int port, const std::string& bytes, std::chrono::milliseconds timeout) {
  return exchange(port, bytes, timeout);
}

long metric(int port, const std::string& series) {
  // The series at the start of a line (a "# HELP" line names it too).
  auto text = "\n" + http(port, "GET", "/metrics").body;
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stol(text.substr(at + series.size() + 2));
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

int run_fedmesh(const std::vector<std::string>& args, std::string* output,
                const std::map<std::string, std::string>& env) {
  TempDir tmp;
  std::vector<std::string> argv = {fedmesh_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  Process p(argv, tmp / "out.log", env);
  int code = p.wait(std::chrono::seconds(30));
  if (output) *output = p.log();
  return code;
}

Federation::Federation(const TempDir& dir) : dir_(dir) {}

void Federation::add(const NodeSpec& spec) {
  auto ca_dir = dir_ / spec.ca;
  if (!fs::exists(ca_dir + "/ca.crt")) {
    if (run_fedmesh({"ca", "init", ca_dir}) != 0) throw std::runtime_error("ca init failed");
  }
  if (run_fedmesh({"ca", "issue", "--ca", ca_dir, "--name", spec.name, "--out", dir_ / "certs", "--organization",
                   "Org " + spec.name}) != 0)
    throw std::runtime_error("ca issue failed for " + spec.name);
  ports_[spec.name] = {free_port(), free_port()};
  specs_[spec.name] = spec;
}

std::string Federation::config_path(const std::string& name) const {
  return dir_ / (name + ".toml");
}

void Federation::start(const std::string& name) {
  const auto& spec = specs_.at(name);
  auto [hp, fp] = ports_.at(name);
  std::string trust;
  for (const auto& t : spec.trust) trust += (trust.empty() ? "\"" : ", \"") + t + "\"";
  std::string toml = "name = \"" + name + "\"\norganization = \"Org " + name + "\"\nworkdir = \"var/" + name +
                     "\"\nshutdown_grace = \"5s\"\n" + spec.extra +
                     "\n[http]\nlisten = \"127.0.0.1:" + std::to_string(hp) +
                     "\"\ndebug_routes = true\n\n[federation]\nlisten = \"127.0.0.1:" + std::to_string(fp) +
                     "\"\ncert = \"certs/" + name + ".crt\"\nkey = \"certs/" + name + ".key\"\ntrust = [" + trust +
                     "]\nretry_initial = \"50ms\"\nretry_max = \"500ms\"\n"
                     "hello_interval = \"1s\"\ncall_timeout = \"2s\"\n" +
                     spec.federation_extra + "\n";
  for (const auto& [peer, bidi] : spec.peers) {
    auto routed = routes_.find({name, peer});
    int port = routed != routes_.end() ? routed->second : ports_.at(peer).second;
    toml += "\n[[federation.peers]]\nname = \"" + peer + "\"\nurl = \"https://127.0.0.1:" + std::to_string(port) +
            "\"\nbidirectional = " + (bidi ? "true" : "false") + "\n";
  }
  write_file(config_path(name), toml);
  // As `fedmesh up` does: the variables a test sets for a node are the ones its packages
  // may read with env().
  auto env = spec.env;
  std::string readable;
  for (const auto& [k, v] : spec.env) {
    if (!k.starts_with("FEDMESH_")) readable += (readable.empty() ? "" : ",") + k;
  }
  if (!readable.empty() && !env.contains("FEDMESH_SKILLS__ENV")) env["FEDMESH_SKILLS__ENV"] = readable;
  procs_[name] = std::make_unique<Process>(
      std::vector<std::string>{fedmesh_binary(), "node", "--config", config_path(name)}, dir_ / (name + ".log"), env);
  // Returns once the operator listener accepts connections (plain or TLS alike) or the
  // node has exited (tests of refused start-ups read its log), so no test races the
  // listener coming up.
  auto& proc = *procs_[name];
  int listen_port = hp;
  if (auto it = spec.env.find("FEDMESH_HTTP__LISTEN"); it != spec.env.end())
    listen_port = std::atoi(it->second.substr(it->second.rfind(':') + 1).c_str());
  wait_until([&] { return !proc.running() || port_accepts(listen_port); }, std::chrono::seconds(15));
}

void Federation::stop(const std::string& name, int sig) {
  auto it = procs_.find(name);
  if (it == procs_.end()) return;
  it->second->signal(sig);
  it->second->wait(std::chrono::seconds(10));
  procs_.erase(it);
}

bool Federation::wait_healthy(const std::string& name, std::chrono::milliseconds timeout) {
  return wait_until([&] { return healthy(name); }, timeout);
}

bool Federation::healthy(const std::string& name) {
  return http(http_port(name), "GET", "/healthz").status == 200;
}

std::string Federation::peer_state(const std::string& node, const std::string& peer) {
  auto r = http(http_port(node), "GET", "/api/v1/peers");
  if (r.status != 200) return "";
  auto j = r.json();
  if (!j.is_object()) return "";
  for (const auto& p : j["peers"]) {
    if (p.value("name", "") == peer) return p.value("state", "");
  }
  return "";
}

std::string package_upload(const std::string& dir, const nlohmann::json& config) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".lua") files[entry.path().filename().string()] = read_file(entry.path().string());
  }
  return nlohmann::json{{"manifest", read_file(dir + "/package.toml")}, {"files", files}, {"config", config}}.dump();
}

}  // namespace fedmesh::testing
