// Fuzz target: skill packages as a node receives them. Input starting with '{' is the
// upload body of POST /api/v1/packages ({"manifest": "<package.toml>", "files": {...},
// "config": {...}}), read as skill_routes.cpp's install() reads it; anything else is a
// package.toml beside a main.lua, as load_package_dir() hands it to make_package(). A
// manifest's [collections.NAME] tables also reach data::settings_from_json.
#include "core/json.hpp"
#include "fuzz/fuzz_input.hpp"
#include "skills/package.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fedmesh;
  if (size > fuzz::kMaxInput) return 0;
  auto text = fuzz::as_text(data, size);
  if (!text.empty() && text.front() == '{') {
    auto body = parse_json_object(text, 16);
    if (!body) return 0;
    auto package = skills::package_from_json(*body);
    if (!package) return 0;
    auto config = body->value("config", nlohmann::json::object());
    (void)config.is_object();
    (void)skills::package_source_json(*package);
    for (const auto& s : package->manifest.skills) {
      (void)s.acl.to_json();
      (void)skills::allows(s.acl, skills::Caller{false, "red", "Acme Paint"});
    }
    return 0;
  }
  (void)skills::make_package(std::string(text), {{"main.lua", "skill('s', function() end)"}});
  return 0;
}
