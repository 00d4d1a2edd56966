#include "core/json.hpp"

#include <algorithm>
#include <vector>

namespace fedmesh {

Result<nlohmann::json> parse_json(std::string_view text, int max_depth) {
  bool too_deep = false;
  // The callback's depth counts the containers around the event: an object or array
  // starting at depth d is the (d+1)th level, so containers nest at most max_depth levels.
  auto limit = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    bool opens =
        event == nlohmann::json::parse_event_t::object_start || event == nlohmann::json::parse_event_t::array_start;
    if (opens && depth >= max_depth) too_deep = true;
    return !too_deep;
  };
  try {
    auto j = nlohmann::json::parse(text.begin(), text.end(), limit, true, false);
    if (too_deep) return make_error(ErrorCode::bad_json, "JSON nested deeper than " + std::to_string(max_depth));
    return j;
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for 1e999
    if (too_deep) return make_error(ErrorCode::bad_json, "JSON nested deeper than " + std::to_string(max_depth));
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..." -> after the tag
    auto close = what.find("] ");
    return make_error(ErrorCode::bad_json,
                      "invalid JSON: " + (close == std::string::npos ? what : what.substr(close + 2)));
  }
}

std::string dump_json(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    std::size_t extra;
    unsigned cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;  // continuation byte, overlong lead (C0, C1) or beyond U+10FFFF
    }
    if (i + extra >= text.size()) return false;  // truncated sequence
    for (std::size_t k = 1; k <= extra; ++k) {
      auto b = static_cast<unsigned char>(text[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    if ((extra == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
      return false;
    i += extra + 1;
  }
  return true;
}

Result<nlohmann::json> parse_json_object(std::string_view text, int max_depth) {
  auto j = parse_json(text, max_depth);
  if (!j) return j;
  if (!j->is_object()) return make_error(ErrorCode::bad_json, "expected a JSON object");
  return j;
}

int json_depth(const nlohmann::json& value) {
  // Iterative: the value may come from anywhere, so no recursion on its shape.
  int deepest = 0;
  std::vector<std::pair<const nlohmann::json*, int>> todo{{&value, 0}};
  while (!todo.empty()) {
    auto [v, d] = todo.back();
    todo.pop_back();
    if (!v->is_structured()) continue;
    deepest = std::max(deepest, d + 1);
    for (const auto& item : *v) {
      if (item.is_structured()) todo.emplace_back(&item, d + 1);
    }
  }
  return deepest;
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

std::string string_or(const nlohmann::json& obj, std::string_view key, std::string fallback) {
  if (!obj.is_object()) return fallback;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return fallback;
  return it->get<std::string>();
}

}  // namespace fedmesh
