// JSON <-> Lua values, bounded both ways: what goes in is checked before it is pushed,
// what comes out is limited in depth, in count and by the invocation's deadline.
#include <cmath>
#include <vector>

#include "core/json.hpp"
#include "skills/lua/state.hpp"

namespace fedmesh::skills::lua {

using json = nlohmann::json;

namespace {

constexpr std::size_t kMaxValuesOut = 1'000'000;  // values one conversion to JSON may produce
constexpr std::size_t kValueOverhead = 48;        // rough bytes of a Lua value in a table

struct OutBudget {
  std::size_t values_left = kMaxValuesOut;
  Invocation* inv = nullptr;
};

json to_json_at(lua_State* L, int idx, std::string& err, int depth, OutBudget& budget);

bool spend(OutBudget& budget, std::string& err) {
  if (budget.values_left == 0) {
    err = "value has more than " + std::to_string(kMaxValuesOut) + " parts (tables shared many times?)";
    return false;
  }
  --budget.values_left;
  if (budget.inv && budget.values_left % 4096 == 0 && Clock::now() > budget.inv->deadline) {
    err = "deadline passed while converting the value";
    return false;
  }
  return true;
}

json table_to_json(lua_State* L, int idx, std::string& err, int depth, OutBudget& budget) {
  luaL_checkstack(L, 4, "json");
  auto n = static_cast<lua_Integer>(lua_rawlen(L, idx));
  std::size_t count = 0;
  bool has_string_key = false;
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    ++count;
    if (lua_type(L, -2) == LUA_TSTRING) has_string_key = true;
    lua_pop(L, 1);
  }
  if (n > 0 && !has_string_key && static_cast<std::size_t>(n) == count) {
    json arr = json::array();
    for (lua_Integer i = 1; i <= n; ++i) {
      lua_rawgeti(L, idx, i);
      arr.push_back(to_json_at(L, -1, err, depth + 1, budget));
      lua_pop(L, 1);
      if (!err.empty()) return nullptr;
    }
    return arr;
  }
  json obj = json::object();
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    std::string key;
    if (lua_type(L, -2) == LUA_TSTRING) {
      std::size_t len = 0;
      const char* k = lua_tolstring(L, -2, &len);
      key.assign(k, len);
    } else if (lua_type(L, -2) == LUA_TNUMBER) {
      lua_pushvalue(L, -2);  // a copy: tolstring on the key itself would confuse lua_next
      std::size_t len = 0;
      const char* k = lua_tolstring(L, -1, &len);
      key.assign(k, len);
      lua_pop(L, 1);
    } else {
      lua_pop(L, 2);
      err = "table keys must be strings or numbers";
      return nullptr;
    }
    if (!valid_utf8(key)) {
      lua_pop(L, 2);
      err = "table keys sent as JSON must be UTF-8";
      return nullptr;
    }
    obj[key] = to_json_at(L, -1, err, depth + 1, budget);
    lua_pop(L, 1);
    if (!err.empty()) {
      lua_pop(L, 1);
      return nullptr;
    }
  }
  return obj;
}

json to_json_at(lua_State* L, int idx, std::string& err, int depth, OutBudget& budget) {
  if (depth > kMaxJsonDepth) {
    err = "value nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
    return nullptr;
  }
  if (!spend(budget, err)) return nullptr;
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
    case LUA_TNIL: return nullptr;
    case LUA_TBOOLEAN: return lua_toboolean(L, idx) != 0;
    case LUA_TNUMBER: {
      if (lua_isinteger(L, idx)) return static_cast<std::int64_t>(lua_tointeger(L, idx));
      double d = lua_tonumber(L, idx);
      if (!std::isfinite(d)) {
        err = "numbers must be finite";
        return nullptr;
      }
      return d;
    }
    case LUA_TSTRING: {
      std::size_t len = 0;
      const char* s = lua_tolstring(L, idx, &len);
      if (!valid_utf8(std::string_view(s, len))) {
        err = "strings sent as JSON must be UTF-8";
        return nullptr;
      }
      return std::string(s, len);
    }
    case LUA_TTABLE:
      if (depth == kMaxJsonDepth) {  // a table here would hold values one level too deep
        err = "value nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
        return nullptr;
      }
      return table_to_json(L, idx, err, depth, budget);
    default: err = std::string("a ") + luaL_typename(L, idx) + " cannot be sent as JSON"; return nullptr;
  }
}

}  // namespace

Status check_for_lua(const json& value, std::size_t memory_cap, const std::string& what) {
  // Iterative: the value came from outside; its shape must not drive our recursion.
  std::size_t bytes = 0;
  std::vector<std::pair<const json*, int>> todo{{&value, 0}};
  while (!todo.empty()) {
    auto [v, depth] = todo.back();
    todo.pop_back();
    bytes += kValueOverhead;
    if (v->is_string()) bytes += v->get_ref<const std::string&>().size();
    if (!v->is_structured()) continue;
    if (depth + 1 > kMaxJsonDepth)
      return make_error(ErrorCode::bad_json,
                        what + " is nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    if (v->is_object()) {
      for (const auto& [k, item] : v->items()) {
        bytes += k.size() + kValueOverhead;
        todo.emplace_back(&item, depth + 1);
      }
    } else {
      for (const auto& item : *v) todo.emplace_back(&item, depth + 1);
    }
  }
  if (bytes > memory_cap)
    return make_error(ErrorCode::payload_too_large, what + " needs about " + std::to_string(bytes >> 10) +
                                                        " KiB in Lua, more than the package's memory cap of " +
                                                        std::to_string(memory_cap >> 10) + " KiB");
  return {};
}

void push_json(lua_State* L, const json& v, int depth) {
  if (v.is_structured() && depth >= kMaxJsonDepth) luaL_error(L, "value nested deeper than %d levels", kMaxJsonDepth);
  luaL_checkstack(L, 4, "json");
  switch (v.type()) {
    case json::value_t::null: lua_pushnil(L); break;
    case json::value_t::boolean: lua_pushboolean(L, v.get<bool>()); break;
    case json::value_t::number_integer: lua_pushinteger(L, v.get<std::int64_t>()); break;
    case json::value_t::number_unsigned: lua_pushinteger(L, static_cast<lua_Integer>(v.get<std::uint64_t>())); break;
    case json::value_t::number_float: lua_pushnumber(L, v.get<double>()); break;
    case json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      lua_pushlstring(L, s.data(), s.size());
      break;
    }
    case json::value_t::array: {
      lua_createtable(L, static_cast<int>(std::min<std::size_t>(v.size(), 1 << 20)), 0);
      lua_Integer i = 1;
      for (const auto& item : v) {
        push_json(L, item, depth + 1);
        lua_rawseti(L, -2, i++);
      }
      break;
    }
    case json::value_t::object: {
      lua_createtable(L, 0, static_cast<int>(std::min<std::size_t>(v.size(), 1 << 20)));
      for (const auto& [k, item] : v.items()) {
        lua_pushlstring(L, k.data(), k.size());
        push_json(L, item, depth + 1);
        lua_rawset(L, -3);
      }
      break;
    }
    default: lua_pushnil(L);
  }
}

json to_json(lua_State* L, int idx, std::string& err) {
  OutBudget budget;
  budget.inv = invocation_of(L);
  return to_json_at(L, idx, err, 0, budget);
}

json check_json(lua_State* L, int idx) {
  std::string err;
  json j = to_json(L, idx, err);
  if (!err.empty()) luaL_error(L, "%s", err.c_str());
  return j;
}

}  // namespace fedmesh::skills::lua
