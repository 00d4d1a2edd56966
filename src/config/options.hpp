// The option table: every configuration key declared once, with its type, default,
// bounds and description. Parsing, validation, env overrides, `config check` output
// and docs/configuration.md all walk this table. Immutable after start; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/node_config.hpp"

namespace fedmesh::config {

enum class Kind { String, Int, Bool, Duration, StringList, PeerList, TableList };
std::string_view kind_name(Kind kind);

template <class Target>
struct Option {
  std::string_view key;  // dotted path, e.g. "http.listen"
  Kind kind;
  // JSON literal of the default; "" means required; "null" means the key may be absent,
  // which has a meaning of its own that the help text gives (the field stays unset).
  std::string_view default_json;
  std::string_view help;
  bool secret = false;
  std::int64_t min = 0;  // Int and Duration (ms) bounds, used when min < max
  std::int64_t max = 0;
  std::vector<std::string_view> choices = {};  // allowed values for String / StringList
  // Extra check on a well-typed value: returns the reason it is wrong, or "".
  std::string (*check)(const nlohmann::json& value) = nullptr;
  void (*apply)(Target& target, const nlohmann::json& value) = nullptr;
};

using NodeOption = Option<NodeConfig>;
using PeerOption = Option<PeerConfig>;

// Top-level and section keys, in documentation order.
const std::vector<NodeOption>& node_options();
// Keys of each [[federation.peers]] entry (keys relative to the entry).
const std::vector<PeerOption>& peer_options();

// Sections that group keys ("http", "federation", ...), for unknown-key checks.
const std::vector<std::string_view>& sections();

// [data] share rules: [{collection = NAME or "*", with = [PEER, "org:NAME" or "*"]}];
// the reason they are wrong, or "". Network files (fedmesh up) check theirs with it too.
std::string check_share_rules(const nlohmann::json& rules);

// The reference table of every option, in Markdown (docs/configuration.md embeds it).
std::string options_markdown();

// Checks a value against kind, bounds and choices; returns the reason or "".
template <class Target>
std::string check_value(const Option<Target>& option, const nlohmann::json& value);

}  // namespace fedmesh::config
