#include "core/json.hpp"

#include <algorithm>
#include <vector>

namespace fedmesh {

namespace {

// nlohmann's DOM builder with a nesting limit. Not parse() with a callback: its callback
// parser scans the enclosing container after every object it closes (to drop discarded
// values), so a body like [{},{},...] of n objects costs n^2/2 steps (a 1 MB body: minutes
// of a core). The plain DOM builder never rescans; the limit is counted here.
class DepthLimitedDom : public nlohmann::detail::json_sax_dom_parser<nlohmann::json> {
 public:
  using Base = nlohmann::detail::json_sax_dom_parser<nlohmann::json>;
  DepthLimitedDom(nlohmann::json& root, int max_depth) : Base(root, false), max_depth_(max_depth) {}

  bool start_object(std::size_t n) { return open() && Base::start_object(n); }
  bool start_array(std::size_t n) { return open() && Base::start_array(n); }
  bool end_object() {
    --depth_;
    return Base::end_object();
  }
  bool end_array() {
    --depth_;
    return Base::end_array();
  }
  template <class Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& ex) {
    error_ = ex.what();
    return Base::parse_error(position, token, ex);
  }

  bool too_deep() const { return too_deep_; }
  const std::string& error() const { return error_; }

 private:
  bool open() {
    if (++depth_ > max_depth_) too_deep_ = true;
    return !too_deep_;
  }
  int max_depth_;
  int depth_ = 0;
  bool too_deep_ = false;
  std::string error_;
};

}  // namespace

Result<nlohmann::json> parse_json(std::string_view text, int max_depth) {
  nlohmann::json out;
  DepthLimitedDom dom(out, max_depth);
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(text.begin(), text.end(), &dom, nlohmann::json::input_format_t::json, true, false);
  } catch (const nlohmann::json::exception& e) {
    if (dom.error().empty()) (void)dom.parse_error(0, "", e);
  }
  if (dom.too_deep()) return make_error(ErrorCode::bad_json, "JSON nested deeper than " + std::to_string(max_depth));
  if (!ok || !dom.error().empty()) {
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..." -> after the tag
    const std::string& what = dom.error();
    auto close = what.find("] ");
    return make_error(ErrorCode::bad_json,
                      "invalid JSON: " + (close == std::string::npos ? what : what.substr(close + 2)));
  }
  return out;
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

std::size_t approx_json_size(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::string: return value.get_ref<const std::string&>().size() + 2;
    case nlohmann::json::value_t::array: {
      std::size_t n = 2;
      for (const auto& v : value) n += approx_json_size(v) + 1;
      return n;
    }
    case nlohmann::json::value_t::object: {
      std::size_t n = 2;
      for (auto it = value.begin(); it != value.end(); ++it) n += it.key().size() + 4 + approx_json_size(it.value());
      return n;
    }
    default: return 8;
  }
}

}  // namespace fedmesh
