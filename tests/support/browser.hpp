// A headless Chromium driven through chromedriver's WebDriver protocol (plain HTTP and
// JSON), for dashboard tests: navigate, click, type, read text, run a script, screenshot.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "support/harness.hpp"

namespace fedmesh::testing {

std::string base64_decode(const std::string& in);

class Browser {
 public:
  explicit Browser(const TempDir& dir);
  ~Browser();
  bool ok() const { return ready_ && !session_.empty(); }
  const std::string& error() const { return error_; }

  nlohmann::json command(const std::string& method, const std::string& path,
                         const nlohmann::json& body = nlohmann::json::object());
  void open(const std::string& url) { command("POST", "/url", {{"url", url}}); }
  std::string find(const std::string& css);
  nlohmann::json script(const std::string& js);
  void click(const std::string& css);
  void type(const std::string& css, const std::string& text);
  std::string text(const std::string& css);
  // Saves a PNG under the build tree's test-artifacts/ and returns its path.
  std::string screenshot(const std::string& name);

 private:
  int port_;
  std::unique_ptr<Process> driver_;
  bool ready_ = false;
  std::string session_;
  std::string error_;
};

}  // namespace fedmesh::testing
