#include "skills/system_services.hpp"

#include <filesystem>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

namespace fedmesh::skills {

namespace fs = std::filesystem;

Status deploy_system_services(SkillHost& host, const SystemServicesConfig& ss, boost::asio::io_context& io) {
  for (const auto& name : ss.enable) {
    std::string folder, searched;
    for (const auto& dir : ss.path) {
      searched += (searched.empty() ? "" : ", ") + dir;
      if (fs::exists(fs::path(dir) / name / "package.toml")) {
        folder = (fs::path(dir) / name).string();
        break;
      }
    }
    if (folder.empty())
      return make_error(ErrorCode::config_invalid,
                        "system service " + name + ": no " + name + "/package.toml in " + searched);
    auto package = load_package_dir(folder);
    if (!package)
      return make_error(package.error().code(), "system service " + name + ": " + package.error().message());
    if (package->manifest.name != name)
      return make_error(ErrorCode::config_invalid,
                        "system service " + name + ": " + folder + " holds package '" + package->manifest.name + "'");
    auto config = ss.configs.value(name, nlohmann::json::object());
    auto done = boost::asio::co_spawn(io, host.install(std::move(*package), config), boost::asio::use_future);
    auto outcome = done.get();
    if (!outcome)
      return make_error(outcome.error().code(), "system service " + name + ": " + outcome.error().message());
    const char* what = *outcome == SkillHost::InstallOutcome::unchanged ? "unchanged" : "deployed";
    spdlog::info("system service {}: {}", name, what);
  }
  auto fired = boost::asio::co_spawn(io, host.fire("startup", nlohmann::json::object()), boost::asio::use_future);
  auto report = fired.get();
  if (report["handlers"].get<int>() > 0)
    spdlog::info("startup: {} handler(s), {} failed", report["handlers"].get<int>(), report["errors"].size());
  return {};
}

}  // namespace fedmesh::skills
