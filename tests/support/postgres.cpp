#include "support/postgres.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace fedmesh::testing {

namespace fs = std::filesystem;

namespace {

std::string bin_dir() {
  std::string best;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    if (fs::exists(e.path() / "bin" / "postgres") && e.path().string() > best) best = e.path().string();
  }
  if (best.empty())
    throw std::runtime_error(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres); run scripts/install-deps.sh");
  return best + "/bin";
}

// Commands run as `postgres` when we are root; setpriv execs, so signals reach the server.
std::vector<std::string> as_server_user(std::vector<std::string> argv) {
  if (::geteuid() != 0) return argv;
  std::vector<std::string> out = {"/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

void give_to_server_user(const std::string& path) {
  if (::geteuid() != 0) return;
  passwd* pw = ::getpwnam("postgres");
  if (!pw) throw std::runtime_error("no 'postgres' user to run PostgreSQL as");
  for (const auto& e : fs::recursive_directory_iterator(path)) (void)::lchown(e.path().c_str(), pw->pw_uid, pw->pw_gid);
  (void)::chown(path.c_str(), pw->pw_uid, pw->pw_gid);
}

int run(const std::vector<std::string>& argv, const std::string& log) {
  Process p(argv, log);
  return p.wait(std::chrono::seconds(60));
}

// initdb once per machine and PostgreSQL version; later servers copy it.
std::string template_dir(const std::string& bin) {
  std::string root =
      (fs::temp_directory_path() / ("fedmesh-pg-template-" + fs::path(bin).parent_path().filename().string())).string();
  std::string lock = root + ".lock";
  int fd = ::open(lock.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0666);
  ::flock(fd, LOCK_EX);
  if (!fs::exists(root + "/data/PG_VERSION")) {
    fs::remove_all(root);
    fs::create_directories(root);
    ::chmod(root.c_str(), 0755);
    give_to_server_user(root);
    int rc = run(as_server_user({bin + "/initdb", "-D", root + "/data", "-A", "trust", "-U", "fedmesh", "-E", "UTF8",
                                 "--no-sync", "--no-instructions"}),
                 root + ".initdb.log");
    if (rc != 0) {
      ::close(fd);
      throw std::runtime_error("initdb failed (" + std::to_string(rc) + "): " + read_file(root + ".initdb.log"));
    }
  }
  ::close(fd);
  return root + "/data";
}

}  // namespace

PostgresServer::PostgresServer() {
  std::string bin = bin_dir();
  std::string tmpl = template_dir(bin);
  std::string pattern = (fs::temp_directory_path() / "fedmesh-pg-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  ::chmod(dir_.c_str(), 0755);
  fs::copy(tmpl, dir_ + "/data", fs::copy_options::recursive);
  fs::create_directories(dir_ + "/sock");
  ::chmod((dir_ + "/data").c_str(), 0700);
  give_to_server_user(dir_);
  port_ = free_port();
  server_ = std::make_unique<Process>(
      as_server_user({bin + "/postgres", "-D", dir_ + "/data", "-p", std::to_string(port_), "-k", dir_ + "/sock", "-c",
                      "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c",
                      "full_page_writes=off", "-c", "max_connections=50"}),
      dir_ + "/server.log");
  bool up =
      wait_until([&] { return server_->running() && psql("postgres", "SELECT 1") == 0; }, std::chrono::seconds(30));
  if (!up) throw std::runtime_error("PostgreSQL did not start: " + read_file(dir_ + "/server.log"));
}

PostgresServer::~PostgresServer() {
  if (server_ && server_->running()) {
    server_->signal(SIGINT);  // fast shutdown
    server_->wait(std::chrono::seconds(10));
  }
  server_.reset();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string PostgresServer::url(const std::string& database) const {
  return "postgresql://fedmesh@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

int PostgresServer::psql(const std::string& database, const std::string& sql) {
  return run({"/usr/bin/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", std::to_string(port_),
              "-U", "fedmesh", "-d", database, "-c", sql},
             dir_ + "/psql.log");
}

std::string PostgresServer::create_database() {
  std::string name = "t" + std::to_string(++databases_);
  if (psql("postgres", "CREATE DATABASE " + name) != 0)
    throw std::runtime_error("CREATE DATABASE failed: " + read_file(dir_ + "/psql.log"));
  return url(name);
}

}  // namespace fedmesh::testing
