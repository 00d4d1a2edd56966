#include "core/json.hpp"

namespace fedmesh {

Result<nlohmann::json> parse_json(std::string_view text, int max_depth) {
  bool too_deep = false;
  auto limit = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > max_depth) too_deep = true;
    return !too_deep;
  };
  try {
    auto j = nlohmann::json::parse(text.begin(), text.end(), limit, true, false);
    if (too_deep) return make_error(ErrorCode::bad_json, "JSON nested deeper than " + std::to_string(max_depth));
    return j;
  } catch (const nlohmann::json::parse_error& e) {
    if (too_deep) return make_error(ErrorCode::bad_json, "JSON nested deeper than " + std::to_string(max_depth));
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..." -> after the tag
    auto close = what.find("] ");
    return make_error(ErrorCode::bad_json,
                      "invalid JSON: " + (close == std::string::npos ? what : what.substr(close + 2)));
  }
}

Result<nlohmann::json> parse_json_object(std::string_view text, int max_depth) {
  auto j = parse_json(text, max_depth);
  if (!j) return j;
  if (!j->is_object()) return make_error(ErrorCode::bad_json, "expected a JSON object");
  return j;
}

Result<std::string> string_member(const nlohmann::json& obj, std::string_view key, std::size_t max_len) {
  auto it = obj.find(std::string(key));
  if (it == obj.end()) return make_error(ErrorCode::bad_json, "missing field '" + std::string(key) + "'");
  if (!it->is_string()) return make_error(ErrorCode::bad_json, "field '" + std::string(key) + "' must be a string");
  auto s = it->get<std::string>();
  if (s.size() > max_len)
    return make_error(ErrorCode::bad_json,
                      "field '" + std::string(key) + "' is longer than " + std::to_string(max_len));
  return s;
}

}  // namespace fedmesh
