#include "federation/hello.hpp"

#include "core/address.hpp"
#include "core/json.hpp"

namespace fedmesh::federation {

nlohmann::json Hello::to_json() const {
  return {{"name", name},   {"organization", organization},   {"advertise", advertise}, {"version", version},
          {"roles", roles}, {"bidirectional", bidirectional}, {"skills", skills}};
}

Result<Hello> decode_hello(std::string_view body) {
  auto parsed = parse_json_object(body, 8);
  if (!parsed) return std::move(parsed).error();
  const auto& j = *parsed;
  Hello h;
  auto name = string_member(j, "name", 63);
  if (!name) return std::move(name).error();
  h.name = *name;
  if (h.name.empty()) return make_error(ErrorCode::bad_json, "field 'name' must not be empty");
  auto advertise = string_member(j, "advertise", 2048);
  if (!advertise) return std::move(advertise).error();
  auto url = parse_url(*advertise);
  if (!url || url->scheme != "https")
    return make_error(ErrorCode::bad_json, "field 'advertise' is not an https URL: '" + *advertise + "'");
  h.advertise = *advertise;
  if (j.contains("organization")) {
    auto org = string_member(j, "organization", 256);
    if (!org) return std::move(org).error();
    h.organization = *org;
  }
  if (j.contains("version")) {
    auto v = string_member(j, "version", 64);
    if (!v) return std::move(v).error();
    h.version = *v;
  }
  if (auto it = j.find("roles"); it != j.end()) {
    if (!it->is_array() || it->size() > 16)
      return make_error(ErrorCode::bad_json, "field 'roles' must be a short list");
    for (const auto& r : *it) {
      if (!r.is_string() || r.get<std::string>().size() > 32)
        return make_error(ErrorCode::bad_json, "field 'roles' must list short strings");
      h.roles.push_back(r.get<std::string>());
    }
  }
  if (auto it = j.find("skills"); it != j.end()) {
    if (!it->is_array() || it->size() > 4096) return make_error(ErrorCode::bad_json, "field 'skills' must be a list");
    for (const auto& s : *it) {
      if (!s.is_string() || s.get<std::string>().size() > 128)
        return make_error(ErrorCode::bad_json, "field 'skills' must list \"pkg/skill\" names");
      h.skills.push_back(s.get<std::string>());
    }
  }
  if (auto it = j.find("bidirectional"); it != j.end()) {
    if (!it->is_boolean()) return make_error(ErrorCode::bad_json, "field 'bidirectional' must be true or false");
    h.bidirectional = it->get<bool>();
  }
  return h;
}

}  // namespace fedmesh::federation
