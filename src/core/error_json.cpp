#include "core/error_json.hpp"

namespace fedmesh {

using json = nlohmann::json;

json error_to_json(const Error& error) {
  json e = {{"code", error.code_name()}, {"message", error.message()}};
  for (const auto& [k, v] : error.context()) e[k] = v;
  return e;
}

Error error_from_fields(std::string_view code, std::string message, const std::optional<std::string>& node,
                        const std::optional<std::string>& skill) {
  Error out(ErrorCode::skill_error, std::move(message));
  if (auto known = error_code_from_string(code); known && *known != ErrorCode::skill_error) {
    out = Error(*known, out.message());
  } else {
    out.with_code_name(std::string(code));
  }
  if (node) out.with("node", *node);
  if (skill) out.with("skill", *skill);
  return out;
}

Error error_from_json(const json& error, const std::string& fallback) {
  if (!error.is_object()) return error_from_fields("internal", fallback);
  auto text = [&](const char* key) -> std::optional<std::string> {
    auto it = error.find(key);
    if (it == error.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  return error_from_fields(text("code").value_or("internal"), text("message").value_or(fallback), text("node"),
                           text("skill"));
}

}  // namespace fedmesh
