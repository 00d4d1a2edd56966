#include "support/browser.hpp"

#include <filesystem>

namespace fedmesh::testing {

using json = nlohmann::json;
using namespace std::chrono_literals;

std::string base64_decode(const std::string& in) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    auto pos = chars.find(c);
    if (pos == std::string::npos) continue;
    val = (val << 6) + static_cast<int>(pos);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

Browser::Browser(const TempDir& dir) : port_(free_port()) {
  driver_ = std::make_unique<Process>(
      std::vector<std::string>{"/usr/bin/chromedriver", "--port=" + std::to_string(port_)}, dir / "chromedriver.log");
  ready_ = wait_until(
      [&] {
        auto j = http(port_, "GET", "/status").json();
        return j.is_object() && j["value"].is_object() && j["value"].value("ready", false);
      },
      20s);
  if (!ready_) return;
  json caps = {{"capabilities",
                {{"alwaysMatch",
                  {{"browserName", "chrome"},
                   {"goog:chromeOptions",
                    {{"binary", "/usr/bin/chromium"},
                     {"args",
                      {"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                       "--disable-component-update", "--disable-sync", "--no-first-run",
                       "--user-data-dir=" + (dir / "chromium-profile"), "--window-size=1280,1000"}}}}}}}}};
  auto r = http(port_, "POST", "/session", caps.dump(), {}, 60s);
  auto j = r.json();
  if (j.is_object() && j["value"].is_object()) session_ = j["value"].value("sessionId", "");
  error_ = r.body;
}

Browser::~Browser() {
  if (!session_.empty()) http(port_, "DELETE", "/session/" + session_);
}

json Browser::command(const std::string& method, const std::string& path, const json& body) {
  auto j = http(port_, method, "/session/" + session_ + path, method == "GET" ? "" : body.dump(), {}, 30s).json();
  return j.is_object() ? j["value"] : json();
}

std::string Browser::find(const std::string& css) {
  auto v = command("POST", "/element", {{"using", "css selector"}, {"value", css}});
  // Found: {"element-6066-...": "<id>"}; not found: {"error": "no such element", ...}.
  if (!v.is_object() || v.empty() || v.contains("error")) return "";
  return v.begin().value().get<std::string>();
}

json Browser::script(const std::string& js) {
  return command("POST", "/execute/sync", {{"script", js}, {"args", json::array()}});
}

void Browser::click(const std::string& css) {
  command("POST", "/element/" + find(css) + "/click");
}

void Browser::type(const std::string& css, const std::string& text) {
  auto id = find(css);
  command("POST", "/element/" + id + "/clear");
  command("POST", "/element/" + id + "/value", {{"text", text}});
}

std::string Browser::text(const std::string& css) {
  auto v = script("const e = document.querySelector('" + css + "'); return e ? e.innerText : '';");
  return v.is_string() ? v.get<std::string>() : "";
}

std::string Browser::screenshot(const std::string& name) {
  auto png = base64_decode(command("GET", "/screenshot").get<std::string>());
  std::filesystem::create_directories(FEDMESH_ARTIFACTS_DIR);
  std::string path = std::string(FEDMESH_ARTIFACTS_DIR) + "/" + name;
  write_file(path, png);
  return path;
}

}  // namespace fedmesh::testing
