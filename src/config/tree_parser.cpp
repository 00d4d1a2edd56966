// TOML and YAML front ends: both produce the same JSON tree so the rest of the loader
// has one schema to check.
#include <regex>
#include <sstream>

#include <toml++/toml.h>
#include <yaml-cpp/yaml.h>

#include "config/loader.hpp"

namespace fedmesh::config {

using json = nlohmann::json;

namespace {

json from_toml(const toml::node& node) {
  if (auto t = node.as_table()) {
    json obj = json::object();
    for (auto&& [k, v] : *t) obj[std::string(k.str())] = from_toml(v);
    return obj;
  }
  if (auto a = node.as_array()) {
    json arr = json::array();
    for (auto&& v : *a) arr.push_back(from_toml(v));
    return arr;
  }
  if (auto s = node.as_string()) return s->get();
  if (auto i = node.as_integer()) return i->get();
  if (auto f = node.as_floating_point()) return f->get();
  if (auto b = node.as_boolean()) return b->get();
  std::ostringstream out;
  node.visit([&](auto&& n) { out << n; });
  return out.str();  // dates and times stay text
}

json yaml_scalar(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted: always a string
  static const std::regex int_re("[-+]?[0-9]+");
  static const std::regex float_re("[-+]?([0-9]*\\.[0-9]+|[0-9]+\\.[0-9]*)([eE][-+]?[0-9]+)?");
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s == "null" || s == "Null" || s == "~" || s.empty()) return nullptr;
  if (s.size() <= 64 && std::regex_match(s, int_re)) {
    try {
      return std::stoll(s);
    } catch (...) {
      return s;
    }
  }
  if (s.size() <= 64 && std::regex_match(s, float_re)) {
    try {
      return std::stod(s);
    } catch (...) {
      return s;  // out of range (1e999): left as text, so the option check names it
    }
  }
  return s;
}

// Aliases make a YAML document a graph: a few hundred bytes of nested anchors expand to
// billions of values ("billion laughs"). The conversion counts what it expands.
constexpr std::size_t kMaxYamlValues = 100'000;

json from_yaml(const YAML::Node& node, int depth, std::size_t& values) {
  if (depth > 32) throw YAML::Exception(node.Mark(), "nesting deeper than 32 levels");
  if (++values > kMaxYamlValues)
    throw YAML::Exception(node.Mark(), "the document expands to more than " + std::to_string(kMaxYamlValues) +
                                           " values (aliases of aliases?)");
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json obj = json::object();
      for (const auto& kv : node) obj[kv.first.as<std::string>()] = from_yaml(kv.second, depth + 1, values);
      return obj;
    }
    case YAML::NodeType::Sequence: {
      json arr = json::array();
      for (const auto& v : node) arr.push_back(from_yaml(v, depth + 1, values));
      return arr;
    }
    case YAML::NodeType::Scalar: return yaml_scalar(node);
    default: return nullptr;
  }
}

}  // namespace

Result<json> parse_tree(std::string_view text, Format format, const std::string& display_name) {
  constexpr std::size_t kMaxConfigBytes = 4 << 20;
  if (text.size() > kMaxConfigBytes)
    return make_error(ErrorCode::config_invalid, display_name + ": file is larger than 4 MiB");
  if (format == Format::Toml) {
    try {
      auto table = toml::parse(text, display_name);
      return from_toml(table);
    } catch (const toml::parse_error& e) {
      auto where = e.source().begin;
      return make_error(ErrorCode::config_invalid, display_name + ":" + std::to_string(where.line) + ":" +
                                                       std::to_string(where.column) + ": " +
                                                       std::string(e.description()));
    }
  }
  try {
    auto root = YAML::Load(std::string(text));
    if (!root.IsDefined() || root.IsNull()) return json::object();
    if (!root.IsMap()) return make_error(ErrorCode::config_invalid, display_name + ": top level must be a mapping");
    std::size_t values = 0;
    return from_yaml(root, 0, values);
  } catch (const YAML::Exception& e) {
    return make_error(ErrorCode::config_invalid, display_name + ":" + std::to_string(e.mark.line + 1) + ":" +
                                                     std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

}  // namespace fedmesh::config
