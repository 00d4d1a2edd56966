#include "skills/system_services.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include "core/json.hpp"

namespace fedmesh::skills {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct Service {
  std::string name;
  std::string folder;
};

std::string joined(const std::vector<std::string>& dirs) {
  std::string out;
  for (const auto& d : dirs) out += (out.empty() ? "" : ", ") + d;
  return out;
}

// `enable`'s names, each looked up as NAME/package.toml in the path folders in turn.
Result<std::vector<Service>> enabled_services(const SystemServicesConfig& ss) {
  std::vector<Service> out;
  for (const auto& name : *ss.enable) {
    std::string folder;
    for (const auto& dir : ss.path) {
      std::error_code ec;
      if (fs::exists(fs::path(dir) / name / "package.toml", ec)) {
        folder = (fs::path(dir) / name).string();
        break;
      }
    }
    if (folder.empty())
      return make_error(ErrorCode::config_invalid,
                        "system service " + name + ": no " + name + "/package.toml in " + joined(ss.path));
    out.push_back({name, folder});
  }
  return out;
}

// Without `enable`: every folder of the path holding a package.toml, by name; a name in
// two path folders is taken from the first. A path folder that does not exist holds none.
std::vector<Service> every_service_on_path(const SystemServicesConfig& ss) {
  std::vector<Service> out;
  for (const auto& dir : ss.path) {
    std::vector<std::string> names;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      std::error_code fe;
      if (it->is_directory(fe) && fs::exists(it->path() / "package.toml", fe))
        names.push_back(it->path().filename().string());
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      auto same = std::find_if(out.begin(), out.end(), [&](const Service& s) { return s.name == name; });
      if (same != out.end()) {
        spdlog::warn("system service {}: {}/{} is ignored ({} comes first in system_services.path)", name, dir, name,
                     same->folder);
        continue;
      }
      out.push_back({name, (fs::path(dir) / name).string()});
    }
  }
  return out;
}

// The names the last starts deployed as system services; none when the file is absent.
std::set<std::string> read_deployed(const std::string& file) {
  std::set<std::string> names;
  std::error_code ec;
  if (file.empty() || !fs::exists(file, ec)) return names;
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = parse_json_object(text.str());
  if (parsed && parsed->contains("deployed") && (*parsed)["deployed"].is_array()) {
    for (const auto& n : (*parsed)["deployed"]) {
      if (n.is_string()) names.insert(n.get<std::string>());
    }
    return names;
  }
  spdlog::warn("{}: not a list of deployed system services; services disabled since the last start stay installed",
               file);
  return names;
}

// Written whole to FILE.tmp, then renamed over FILE.
Status write_deployed(const std::string& file, const std::set<std::string>& names) {
  if (file.empty()) return {};
  json doc = {{"deployed", json(std::vector<std::string>(names.begin(), names.end()))}};
  std::string tmp = file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << dump_json(doc, 2) << "\n";
    if (!out) return make_error(ErrorCode::io_error, tmp + ": cannot be written");
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) return make_error(ErrorCode::io_error, file + ": " + ec.message());
  return {};
}

}  // namespace

Status deploy_system_services(SkillHost& host, const SystemServicesConfig& ss, boost::asio::io_context& io) {
  std::vector<Service> services;
  if (ss.enable) {
    auto found = enabled_services(ss);
    if (!found) return std::move(found).error();
    services = std::move(*found);
  } else {
    services = every_service_on_path(ss);
  }
  auto is_service = [&](const std::string& name) {
    return std::any_of(services.begin(), services.end(), [&](const Service& s) { return s.name == name; });
  };

  // Deployed as a system service at an earlier start and not now: removed, state kept.
  auto deployed = read_deployed(ss.deployed_file);
  for (auto it = deployed.begin(); it != deployed.end();) {
    if (is_service(*it)) {
      ++it;
      continue;
    }
    const std::string name = *it;
    const char* why = ss.enable ? "no longer in system_services.enable" : "no longer in system_services.path";
    auto removed = boost::asio::co_spawn(io, host.remove(name), boost::asio::use_future).get();
    if (removed) {
      spdlog::info("system service {}: removed ({}; its state is kept for a re-enable)", name, why);
    } else if (removed.error().code() == ErrorCode::not_found) {
      spdlog::info("system service {}: {} (it was removed already)", name, why);
    } else {
      return make_error(removed.error().code(),
                        "system service " + name + ": cannot be removed: " + removed.error().message());
    }
    it = deployed.erase(it);
    if (auto s = write_deployed(ss.deployed_file, deployed); !s) return s;
  }

  // Without `enable` the services are known only now: say which tables configure none.
  if (!ss.enable) {
    for (const auto& entry : ss.configs.items()) {
      const std::string& table = entry.key();
      bool used = std::any_of(services.begin(), services.end(),
                              [&](const Service& s) { return service_table_name(s.name) == table; });
      if (!used)
        spdlog::warn("system_services.{}: a table for a service that is not in system_services.path (ignored)", table);
    }
  }

  for (const auto& [name, folder] : services) {
    // A package the config names that cannot be loaded is a config problem (exit 2).
    auto package = load_package_dir(folder);
    if (!package)
      return make_error(ErrorCode::config_invalid, "system service " + name + ": " + package.error().message());
    if (package->manifest.name != name)
      return make_error(ErrorCode::config_invalid,
                        "system service " + name + ": " + folder + " holds package '" + package->manifest.name + "'");
    auto config = ss.configs.value(service_table_name(name), json::object());
    auto done = boost::asio::co_spawn(io, host.install(std::move(*package), config), boost::asio::use_future);
    auto outcome = done.get();
    if (!outcome)
      return make_error(outcome.error().code(), "system service " + name + ": " + outcome.error().message());
    const char* what = *outcome == SkillHost::InstallOutcome::unchanged ? "unchanged" : "deployed";
    spdlog::info("system service {}: {}", name, what);
    if (deployed.insert(name).second) {
      if (auto s = write_deployed(ss.deployed_file, deployed); !s) return s;
    }
  }
  auto fired = boost::asio::co_spawn(io, host.fire("startup", nlohmann::json::object()), boost::asio::use_future);
  auto report = fired.get();
  if (report["handlers"].get<int>() > 0)
    spdlog::info("startup: {} handler(s), {} failed", report["handlers"].get<int>(), report["errors"].size());
  return {};
}

}  // namespace fedmesh::skills
