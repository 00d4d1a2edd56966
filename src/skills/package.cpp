#include "skills/package.hpp"

#include <algorithm>
#include <filesystem>
#include <regex>
#include <sstream>

#include <toml++/toml.h>

#include "config/loader.hpp"
#include "core/json.hpp"
#include "crypto/certs.hpp"
#include "crypto/files.hpp"
#include "data/collection.hpp"

namespace fedmesh::skills {

namespace fs = std::filesystem;
using json = nlohmann::json;

nlohmann::json Acl::to_json() const {
  if (!exported()) return "local";
  if (any_peer) return "peers";
  json list = json::array();
  for (const auto& p : peers) list.push_back(p);
  for (const auto& o : organizations) list.push_back("org:" + o);
  return list;
}

bool allows(const Acl& acl, const Caller& caller) {
  if (caller.local) return true;
  if (acl.any_peer) return true;
  for (const auto& p : acl.peers) {
    if (p == caller.peer) return true;
  }
  for (const auto& o : acl.organizations) {
    if (!caller.organization.empty() && o == caller.organization) return true;
  }
  return false;
}

const SkillSpec* Manifest::skill(std::string_view name) const {
  for (const auto& s : skills) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool Manifest::answers_to(std::string_view package) const {
  return package == name || std::find(aliases.begin(), aliases.end(), package) != aliases.end();
}

namespace {

Error bad(const std::string& where, const std::string& reason) {
  return make_error(ErrorCode::invalid_argument, "package.toml: " + where + ": " + reason);
}

bool valid_identifier(const std::string& s) {
  static const std::regex re("[a-z0-9][a-z0-9_]{0,62}");
  return std::regex_match(s, re);
}

Result<Acl> parse_acl(const json& v, const std::string& where) {
  Acl acl;
  const std::string reason = "must be \"local\", \"peers\" or a list of peer names and \"org:NAME\" entries";
  if (v.is_string()) {
    auto s = v.get<std::string>();
    if (s == "local") return acl;
    if (s == "peers") {
      acl.any_peer = true;
      return acl;
    }
    return bad(where, reason);
  }
  if (!v.is_array()) return bad(where, reason);
  for (const auto& item : v) {
    if (!item.is_string() || item.get<std::string>().empty() || item.get<std::string>().size() > 256)
      return bad(where, reason);
    auto s = item.get<std::string>();
    if (s.starts_with("org:")) {
      acl.organizations.push_back(s.substr(4));
    } else {
      acl.peers.push_back(s);
    }
  }
  return acl;
}

Status check_path(const std::string& path) {
  static const std::regex re("[A-Za-z0-9_][A-Za-z0-9_./-]{0,127}");
  if (!std::regex_match(path, re) || path.find("..") != std::string::npos || path.find("//") != std::string::npos)
    return make_error(ErrorCode::invalid_argument, "file '" + path + "': not a safe relative path");
  if (!path.ends_with(".lua"))
    return make_error(ErrorCode::invalid_argument, "file '" + path + "': only .lua files belong in a package");
  return {};
}

Result<Manifest> parse_manifest(const std::string& text) {
  auto tree = config::parse_tree(text, config::Format::Toml, "package.toml");
  if (!tree) return make_error(ErrorCode::invalid_argument, tree.error().message());
  const json& t = *tree;
  static const std::vector<std::string> known = {"name", "version", "description", "main",       "aliases",
                                                 "env",  "config",  "skills",      "collections"};
  for (const auto& [k, _] : t.items()) {
    if (std::find(known.begin(), known.end(), k) == known.end()) return bad(k, "unknown key");
  }
  Manifest m;
  auto str = [&](const char* key, bool required, std::size_t max) -> Result<std::string> {
    auto it = t.find(key);
    if (it == t.end()) {
      if (required) return bad(key, "missing required key");
      return std::string();
    }
    if (!it->is_string()) return bad(key, "expected a string");
    auto s = it->get<std::string>();
    if (s.size() > max) return bad(key, "longer than " + std::to_string(max) + " characters");
    return s;
  };
  auto name = str("name", true, 63);
  if (!name) return std::move(name).error();
  if (!valid_package_name(*name))
    return bad("name", "must be 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit");
  m.name = *name;
  auto version = str("version", true, 32);
  if (!version) return std::move(version).error();
  if (version->empty()) return bad("version", "must not be empty");
  m.version = *version;
  auto description = str("description", false, 1024);
  if (!description) return std::move(description).error();
  m.description = *description;
  if (t.contains("main")) {
    auto main = str("main", false, 128);
    if (!main) return std::move(main).error();
    m.main = *main;
  }
  if (auto it = t.find("aliases"); it != t.end()) {
    const std::string reason =
        "expected a list of at most " + std::to_string(Manifest::kMaxAliases) +
        " other package names (1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit)";
    if (!it->is_array() || it->size() > Manifest::kMaxAliases) return bad("aliases", reason);
    for (const auto& a : *it) {
      if (!a.is_string() || !valid_package_name(a.get<std::string>())) return bad("aliases", reason);
      auto alias = a.get<std::string>();
      if (alias == m.name) return bad("aliases", "'" + alias + "' is the package's own name");
      if (std::find(m.aliases.begin(), m.aliases.end(), alias) != m.aliases.end())
        return bad("aliases", "'" + alias + "' is listed twice");
      m.aliases.push_back(std::move(alias));
    }
  }
  if (auto it = t.find("env"); it != t.end()) {
    static const std::regex env_re("[A-Z_][A-Z0-9_]{0,63}");
    if (!it->is_array()) return bad("env", "expected a list of variable names");
    for (const auto& e : *it) {
      if (!e.is_string() || !std::regex_match(e.get<std::string>(), env_re))
        return bad("env", "expected variable names like COLOR (A-Z, 0-9, _)");
      m.env.push_back(e.get<std::string>());
    }
  }
  if (auto it = t.find("config"); it != t.end()) {
    if (!it->is_object()) return bad("config", "expected a table");
    // It becomes the script's `config` table: no deeper than what may cross into Lua.
    if (json_depth(*it) > kMaxJsonDepth)
      return bad("config", "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    m.config = *it;
  }
  if (auto it = t.find("collections"); it != t.end()) {
    if (!it->is_object()) return bad("collections", "expected [collections.NAME] tables");
    for (const auto& [cname, settings] : it->items()) {
      if (!data::valid_collection_name(cname))
        return bad("collections." + cname, "collection names are 1-64 characters of a-z, 0-9, '_' and '-'");
      auto s = data::settings_from_json(settings);
      if (!s) return bad("collections." + cname, s.error().message());
    }
    m.collections = *it;
  }
  auto skills = t.find("skills");
  if (skills == t.end() || !skills->is_object() || skills->empty())
    return bad("skills", "declare at least one [skills.NAME] table");
  for (const auto& [sname, spec] : skills->items()) {
    std::string where = "skills." + sname;
    if (!valid_identifier(sname)) return bad(where, "skill names are 1-63 characters of a-z, 0-9 and '_'");
    if (!spec.is_object()) return bad(where, "expected a table");
    SkillSpec s;
    s.name = sname;
    for (const auto& [k, v] : spec.items()) {
      if (k == "description") {
        if (!v.is_string()) return bad(where + ".description", "expected a string");
        s.description = v.get<std::string>();
      } else if (k == "acl") {
        auto acl = parse_acl(v, where + ".acl");
        if (!acl) return std::move(acl).error();
        s.acl = std::move(*acl);
      } else if (k == "input" || k == "output") {
        (k == "input" ? s.input : s.output) = v;
      } else if (k == "author") {
        if (!v.is_string() || v.get<std::string>().size() > 256)
          return bad(where + ".author", "expected a short string");
        s.author = v.get<std::string>();
      } else if (k == "tags") {
        if (!v.is_array() || v.size() > 32) return bad(where + ".tags", "expected a list of at most 32 tags");
        for (const auto& t : v) {
          if (!t.is_string() || t.get<std::string>().empty() || t.get<std::string>().size() > 64)
            return bad(where + ".tags", "tags are strings of 1-64 characters");
          s.tags.push_back(t.get<std::string>());
        }
      } else {
        return bad(where + "." + k, "unknown key (known: description, acl, input, output, author, tags)");
      }
    }
    m.skills.push_back(std::move(s));
  }
  return m;
}

}  // namespace

Result<Package> make_package(std::string manifest_text, std::map<std::string, std::string> files,
                             const PackageLimits& limits) {
  if (manifest_text.size() > limits.max_file_bytes)
    return make_error(ErrorCode::payload_too_large, "package.toml: larger than the file limit");
  if (!valid_utf8(manifest_text)) return make_error(ErrorCode::invalid_argument, "package.toml: not valid UTF-8");
  auto manifest = parse_manifest(manifest_text);
  if (!manifest) return std::move(manifest).error();
  if (files.size() > limits.max_files)
    return make_error(ErrorCode::payload_too_large, "package has " + std::to_string(files.size()) +
                                                        " files; the limit is " + std::to_string(limits.max_files));
  std::size_t total = manifest_text.size();
  for (const auto& [path, content] : files) {
    if (auto s = check_path(path); !s) return std::move(s).error();
    if (content.size() > limits.max_file_bytes)
      return make_error(ErrorCode::payload_too_large,
                        "file '" + path + "': larger than " + std::to_string(limits.max_file_bytes) + " bytes");
    if (!valid_utf8(content)) return make_error(ErrorCode::invalid_argument, "file '" + path + "': not valid UTF-8");
    if (content.find('\0') != std::string::npos || (!content.empty() && content[0] == '\x1b'))
      return make_error(ErrorCode::invalid_argument,
                        "file '" + path + "': binary content (precompiled Lua is refused)");
    total += content.size();
  }
  if (total > limits.max_total_bytes)
    return make_error(ErrorCode::payload_too_large,
                      "package is larger than " + std::to_string(limits.max_total_bytes) + " bytes");
  if (!files.contains(manifest->main))
    return make_error(ErrorCode::invalid_argument, "package.toml: main: file '" + manifest->main + "' is missing");

  std::string canonical = "fedmesh-package-v1\n" + manifest_text;
  for (const auto& [path, content] : files) {
    canonical += '\0' + path + '\0' + std::to_string(content.size()) + '\0' + content;
  }
  Package p;
  p.manifest = std::move(*manifest);
  p.manifest_text = std::move(manifest_text);
  p.files = std::move(files);
  p.hash = crypto::sha256_hex(canonical);
  return p;
}

Result<Package> load_package_dir(const std::string& dir, const PackageLimits& limits) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return make_error(ErrorCode::not_found, dir + ": not a package folder");
  auto manifest = crypto::read_file((fs::path(dir) / "package.toml").string(), limits.max_file_bytes);
  if (!manifest) return make_error(ErrorCode::invalid_argument, dir + ": " + manifest.error().message());
  std::map<std::string, std::string> files;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (ec) break;
    if (!it->is_regular_file() || it->path().extension() != ".lua") continue;
    if (files.size() >= limits.max_files)
      return make_error(ErrorCode::payload_too_large,
                        dir + ": more than " + std::to_string(limits.max_files) + " files");
    auto rel = fs::relative(it->path(), dir).generic_string();
    auto content = crypto::read_file(it->path().string(), limits.max_file_bytes);
    if (!content) return make_error(ErrorCode::payload_too_large, dir + "/" + rel + ": " + content.error().message());
    files.emplace(rel, std::move(*content));
  }
  auto p = make_package(std::move(*manifest), std::move(files), limits);
  if (!p) return make_error(p.error().code(), dir + ": " + p.error().message());
  return p;
}

Result<Package> package_from_json(const json& source, const PackageLimits& limits) {
  if (!source.is_object()) return make_error(ErrorCode::bad_json, "expected {\"manifest\": ..., \"files\": {...}}");
  auto m = source.find("manifest");
  if (m == source.end() || !m->is_string()) return make_error(ErrorCode::bad_json, "field 'manifest' must be a string");
  auto f = source.find("files");
  if (f == source.end() || !f->is_object()) return make_error(ErrorCode::bad_json, "field 'files' must be an object");
  std::map<std::string, std::string> files;
  for (const auto& [path, content] : f->items()) {
    if (!content.is_string()) return make_error(ErrorCode::bad_json, "files['" + path + "'] must be a string");
    files.emplace(path, content.get<std::string>());
  }
  return make_package(m->get<std::string>(), std::move(files), limits);
}

nlohmann::json package_source_json(const Package& package) {
  json files = json::object();
  for (const auto& [path, content] : package.files) files[path] = content;
  return {{"manifest", package.manifest_text}, {"files", files}};
}

}  // namespace fedmesh::skills
