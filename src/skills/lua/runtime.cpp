#include "skills/lua/runtime.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <regex>

#include "core/json.hpp"
#include "core/time.hpp"

extern "C" {
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
}

namespace fedmesh::skills {

using json = nlohmann::json;

namespace {

constexpr int kHookEvery = 1000;  // instructions between budget/deadline checks
constexpr int kMaxDepth = 32;

struct AllocState {
  std::size_t used = 0;
  std::size_t limit = 0;
  bool exceeded = false;
};

void* limited_alloc(void* ud, void* ptr, std::size_t osize, std::size_t nsize) {
  auto* a = static_cast<AllocState*>(ud);
  std::size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    a->used -= old;
    std::free(ptr);
    return nullptr;
  }
  if (nsize > old && a->used + (nsize - old) > a->limit) {
    a->exceeded = true;
    return nullptr;
  }
  void* p = std::realloc(ptr, nsize);
  if (!p) return nullptr;
  a->used = a->used - old + nsize;
  return p;
}

}  // namespace

struct LuaRuntime::State {
  lua_State* L = nullptr;
  AllocState alloc;
  RuntimeHost* host = nullptr;
  LuaRuntime* runtime = nullptr;
  std::string package;
  std::vector<std::string> env_allowed;
  std::map<std::string, std::string> files;
  LuaLimits limits;
  int env_ref = LUA_NOREF;     // the sandbox environment (_ENV of every chunk)
  int skills_ref = LUA_NOREF;  // name -> function
  int events_ref = LUA_NOREF;  // name -> { functions }
  int loaded_ref = LUA_NOREF;  // require cache
  bool loading = true;
  std::vector<LuaRuntime::Period> periods;

  ~State() {
    if (L) lua_close(L);
  }
};

LuaRuntime::Invocation::~Invocation() {
  if (st && st->L && thread_ref != LUA_NOREF) luaL_unref(st->L, LUA_REGISTRYINDEX, thread_ref);
}

namespace {

using Invocation = LuaRuntime::Invocation;
using State = LuaRuntime::State;

State* state_of(lua_State* L) {
  return static_cast<State*>(lua_touserdata(L, lua_upvalueindex(1)));
}
Invocation* invocation_of(lua_State* L) {
  return *static_cast<Invocation**>(lua_getextraspace(L));
}

// ---- JSON <-> Lua -------------------------------------------------------------

void push_json(lua_State* L, const json& v, int depth = 0) {
  if (depth > kMaxDepth) luaL_error(L, "value nested deeper than %d", kMaxDepth);
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
      lua_createtable(L, static_cast<int>(v.size()), 0);
      lua_Integer i = 1;
      for (const auto& item : v) {
        push_json(L, item, depth + 1);
        lua_rawseti(L, -2, i++);
      }
      break;
    }
    case json::value_t::object: {
      lua_createtable(L, 0, static_cast<int>(v.size()));
      for (const auto& [k, item] : v.items()) {
        push_json(L, item, depth + 1);
        lua_setfield(L, -2, k.c_str());
      }
      break;
    }
    default: lua_pushnil(L);
  }
}

// Converts the value at idx; returns an error message in `err` on failure.
json to_json(lua_State* L, int idx, std::string& err, int depth = 0) {
  if (depth > kMaxDepth) {
    err = "value nested deeper than " + std::to_string(kMaxDepth);
    return nullptr;
  }
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
    case LUA_TNIL: return nullptr;
    case LUA_TBOOLEAN: return lua_toboolean(L, idx) != 0;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) return static_cast<std::int64_t>(lua_tointeger(L, idx));
      {
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
    case LUA_TTABLE: {
      luaL_checkstack(L, 4, "json");
      lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, idx));
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
          arr.push_back(to_json(L, -1, err, depth + 1));
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
          key = lua_tostring(L, -2);
        } else if (lua_type(L, -2) == LUA_TNUMBER) {
          lua_pushvalue(L, -2);
          key = lua_tostring(L, -1);
          lua_pop(L, 1);
        } else {
          lua_pop(L, 2);
          err = "table keys must be strings or numbers";
          return nullptr;
        }
        obj[key] = to_json(L, -1, err, depth + 1);
        lua_pop(L, 1);
        if (!err.empty()) {
          lua_pop(L, 1);
          return nullptr;
        }
      }
      return obj;
    }
    default: err = std::string("a ") + luaL_typename(L, idx) + " cannot be sent as JSON"; return nullptr;
  }
}

json check_json(lua_State* L, int idx) {
  std::string err;
  json j = to_json(L, idx, err);
  if (!err.empty()) luaL_error(L, "%s", err.c_str());
  return j;
}

// ---- read-only proxies ----------------------------------------------------------

int readonly_newindex(lua_State* L) {
  if (lua_type(L, 2) == LUA_TSTRING)
    return luaL_error(L, "'%s' is read-only (use a local variable)", lua_tostring(L, 2));
  return luaL_error(L, "this table is read-only");
}

int proxy_pairs(lua_State* L) {
  lua_getglobal(L, "next");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushcfunction(L, [](lua_State* S) -> int {
      lua_settop(S, 2);
      return lua_next(S, 1) ? 2 : (lua_pushnil(S), 1);
    });
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushnil(L);
  return 3;
}

int proxy_len(lua_State* L) {
  lua_pushinteger(L, static_cast<lua_Integer>(lua_rawlen(L, lua_upvalueindex(1))));
  return 1;
}

// Replaces the table at the top of the stack by a read-only proxy of it.
void make_readonly(lua_State* L, bool deep, int depth = 0) {
  int real = lua_gettop(L);
  if (deep && depth < kMaxDepth) {
    lua_pushnil(L);
    while (lua_next(L, real) != 0) {
      if (lua_type(L, -1) == LUA_TTABLE) {
        make_readonly(L, true, depth + 1);
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, real);
      } else {
        lua_pop(L, 1);
      }
    }
  }
  lua_newtable(L);  // proxy
  lua_createtable(L, 0, 5);
  lua_pushvalue(L, real);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, readonly_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushvalue(L, real);
  lua_pushcclosure(L, proxy_pairs, 1);
  lua_setfield(L, -2, "__pairs");
  lua_pushvalue(L, real);
  lua_pushcclosure(L, proxy_len, 1);
  lua_setfield(L, -2, "__len");
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_replace(L, real);
}

// ---- budget and kill-proof pcall ------------------------------------------------

void count_hook(lua_State* L, lua_Debug*) {
  Invocation* inv = invocation_of(L);
  if (!inv) return;
  inv->instructions += kHookEvery;
  if (inv->killed.empty()) {
    if (inv->instructions > inv->st->limits.instructions) {
      inv->killed =
          "instruction budget of " + std::to_string(inv->st->limits.instructions) + " exceeded in " + inv->what;
      inv->kill_code = ErrorCode::resource_exhausted;
    } else if (Clock::now() > inv->deadline) {
      inv->killed = "deadline passed while running " + inv->what;
      inv->kill_code = ErrorCode::deadline_exceeded;
    }
  }
  if (!inv->killed.empty()) luaL_error(L, "%s", inv->killed.c_str());
}

// True when the running invocation must not be allowed to catch its own failure.
bool must_propagate(lua_State* L, State* st) {
  Invocation* inv = invocation_of(L);
  return (inv && !inv->killed.empty()) || st->alloc.exceeded;
}

int finish_pcall(lua_State* L, int status, lua_KContext extra) {
  if (must_propagate(L, state_of(L))) return lua_error(L);
  if (status != LUA_OK && status != LUA_YIELD) {
    lua_pushboolean(L, 0);
    lua_pushvalue(L, -2);
    return 2;
  }
  return lua_gettop(L) - static_cast<int>(extra);
}

int safe_pcall(lua_State* L) {
  luaL_checkany(L, 1);
  lua_pushboolean(L, 1);
  lua_insert(L, 1);
  int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, finish_pcall);
  return finish_pcall(L, status, 0);
}

int safe_xpcall(lua_State* L) {
  int n = lua_gettop(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushboolean(L, 1);
  lua_pushvalue(L, 1);
  lua_rotate(L, 3, 2);
  int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_pcall);
  return finish_pcall(L, status, 2);
}

// ---- loading --------------------------------------------------------------------

void push_env(lua_State* L, State* st) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->env_ref);
}

int safe_load(lua_State* L) {
  State* st = state_of(L);
  std::size_t len = 0;
  const char* chunk = luaL_checklstring(L, 1, &len);  // strings only: no reader functions
  const char* name = luaL_optstring(L, 2, "=(load)");
  if (len > 0 && chunk[0] == LUA_SIGNATURE[0]) {
    lua_pushnil(L);
    lua_pushliteral(L, "binary chunks are not allowed");
    return 2;
  }
  int status = luaL_loadbufferx(L, chunk, len, name, "t");
  if (status != LUA_OK) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  if (!lua_isnoneornil(L, 4)) {
    lua_pushvalue(L, 4);
  } else {
    push_env(L, st);
  }
  lua_setupvalue(L, -2, 1);
  return 1;
}

int safe_require(lua_State* L) {
  State* st = state_of(L);
  std::string name = luaL_checkstring(L, 1);
  static const std::regex re("[A-Za-z0-9_]+(\\.[A-Za-z0-9_]+)*");
  if (!std::regex_match(name, re)) return luaL_error(L, "require: '%s' is not a module name", name.c_str());
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->loaded_ref);
  lua_getfield(L, -1, name.c_str());
  if (!lua_isnil(L, -1)) return 1;
  lua_pop(L, 1);
  std::string path = name;
  std::replace(path.begin(), path.end(), '.', '/');
  path += ".lua";
  auto it = st->files.find(path);
  if (it == st->files.end())
    return luaL_error(L, "require: module '%s' is not in package %s", name.c_str(), st->package.c_str());
  std::string chunkname = "@" + path;
  if (luaL_loadbufferx(L, it->second.data(), it->second.size(), chunkname.c_str(), "t") != LUA_OK) return lua_error(L);
  push_env(L, st);
  lua_setupvalue(L, -2, 1);
  lua_call(L, 0, 1);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, name.c_str());
  return 1;
}

int restricted_collectgarbage(lua_State* L) {
  const char* opt = luaL_optstring(L, 1, "count");
  if (std::strcmp(opt, "count") != 0) return luaL_error(L, "collectgarbage: only \"count\" is available");
  lua_pushnumber(L, static_cast<lua_Number>(lua_gc(L, LUA_GCCOUNT, 0)) +
                        static_cast<lua_Number>(lua_gc(L, LUA_GCCOUNTB, 0)) / 1024.0);
  return 1;
}

// ---- the API ---------------------------------------------------------------------

int api_skill(lua_State* L) {
  State* st = state_of(L);
  if (!st->loading) return luaL_error(L, "skill() may only be called while the package loads");
  const char* name = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->skills_ref);
  if (lua_getfield(L, -1, name) != LUA_TNIL) return luaL_error(L, "skill '%s' is registered twice", name);
  lua_pop(L, 1);
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, name);
  return 0;
}

int api_on(lua_State* L) {
  State* st = state_of(L);
  if (!st->loading) return luaL_error(L, "on() may only be called while the package loads");
  std::size_t len = 0;
  const char* event = luaL_checklstring(L, 1, &len);
  if (len == 0 || len > 128) return luaL_error(L, "on(): event names are 1-128 characters");
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->events_ref);
  if (lua_getfield(L, -1, event) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, event);
  }
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, static_cast<lua_Integer>(lua_rawlen(L, -2)) + 1);
  return 0;
}

int api_every(lua_State* L) {
  State* st = state_of(L);
  if (!st->loading) return luaL_error(L, "every() may only be called while the package loads");
  std::chrono::milliseconds period;
  if (lua_type(L, 1) == LUA_TNUMBER) {
    period = std::chrono::milliseconds(static_cast<long long>(lua_tonumber(L, 1) * 1000));
  } else {
    auto d = parse_duration(luaL_checkstring(L, 1));
    if (!d) return luaL_error(L, "every(): '%s' is not a duration like \"30s\"", lua_tostring(L, 1));
    period = *d;
  }
  if (period < std::chrono::milliseconds(100)) return luaL_error(L, "every(): the shortest period is 100ms");
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushvalue(L, 2);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  st->periods.push_back({period, ref});
  return 0;
}

int api_env(lua_State* L) {
  State* st = state_of(L);
  const char* name = luaL_checkstring(L, 1);
  if (std::find(st->env_allowed.begin(), st->env_allowed.end(), name) == st->env_allowed.end())
    return luaL_error(L, "env('%s'): not declared in package.toml (env = [...])", name);
  auto v = st->host->env(name);
  if (!v) {
    lua_pushnil(L);
  } else {
    lua_pushlstring(L, v->data(), v->size());
  }
  return 1;
}

std::string check_key(lua_State* L, int idx) {
  std::size_t len = 0;
  const char* k = luaL_checklstring(L, idx, &len);
  if (len == 0 || len > 256) luaL_error(L, "state keys are 1-256 characters");
  return std::string(k, len);
}

[[noreturn]] void store_failed(lua_State* L, const Error& e) {
  luaL_error(L, "state: %s", e.message().c_str());
  std::abort();  // not reached: luaL_error does not return
}

int api_state_get(lua_State* L) {
  State* st = state_of(L);
  auto key = check_key(L, 1);
  auto v = st->host->store().state_get(st->package, key);
  if (!v) store_failed(L, v.error());
  if (!v->has_value()) {
    lua_pushnil(L);
    return 1;
  }
  auto parsed = json::parse(**v, nullptr, false);
  push_json(L, parsed.is_discarded() ? json(nullptr) : parsed);
  return 1;
}

int api_state_set(lua_State* L) {
  State* st = state_of(L);
  auto key = check_key(L, 1);
  luaL_checkany(L, 2);
  auto value = dump_json(check_json(L, 2));
  if (value.size() > (1u << 20)) return luaL_error(L, "state.set: value larger than 1 MiB");
  if (auto s = st->host->store().state_set(st->package, key, value); !s) store_failed(L, s.error());
  return 0;
}

int api_state_incr(lua_State* L) {
  State* st = state_of(L);
  auto key = check_key(L, 1);
  double delta = luaL_optnumber(L, 2, 1);
  auto v = st->host->store().state_incr(st->package, key, delta);
  if (!v) store_failed(L, v.error());
  if (*v == std::floor(*v) && std::abs(*v) < 9e15) {
    lua_pushinteger(L, static_cast<lua_Integer>(*v));
  } else {
    lua_pushnumber(L, *v);
  }
  return 1;
}

int api_state_decr_if(lua_State* L) {
  State* st = state_of(L);
  auto key = check_key(L, 1);
  double amount = luaL_checknumber(L, 2);
  double floor = luaL_optnumber(L, 3, 0);
  auto r = st->host->store().state_decr_if(st->package, key, amount, floor);
  if (!r) store_failed(L, r.error());
  lua_pushboolean(L, r->applied);
  if (r->value == std::floor(r->value) && std::abs(r->value) < 9e15) {
    lua_pushinteger(L, static_cast<lua_Integer>(r->value));
  } else {
    lua_pushnumber(L, r->value);
  }
  return 2;
}

int api_state_delete(lua_State* L) {
  State* st = state_of(L);
  auto key = check_key(L, 1);
  if (auto s = st->host->store().state_delete(st->package, key); !s) store_failed(L, s.error());
  return 0;
}

int api_state_keys(lua_State* L) {
  State* st = state_of(L);
  std::string prefix = luaL_optstring(L, 1, "");
  auto keys = st->host->store().state_keys(st->package, prefix);
  if (!keys) store_failed(L, keys.error());
  lua_createtable(L, static_cast<int>(keys->size()), 0);
  lua_Integer i = 1;
  for (const auto& k : *keys) {
    lua_pushlstring(L, k.data(), k.size());
    lua_rawseti(L, -2, i++);
  }
  return 1;
}

int api_log(lua_State* L, const char* level) {
  State* st = state_of(L);
  std::string msg;
  int n = lua_gettop(L);
  for (int i = 1; i <= n; ++i) {
    if (i > 1) msg += ' ';
    std::size_t len = 0;
    const char* s = luaL_tolstring(L, i, &len);
    msg.append(s, std::min<std::size_t>(len, 4096));
    lua_pop(L, 1);
  }
  st->host->log(st->package, level, msg);
  return 0;
}
int api_log_info(lua_State* L) {
  return api_log(L, "info");
}
int api_log_warn(lua_State* L) {
  return api_log(L, "warn");
}
int api_log_error(lua_State* L) {
  return api_log(L, "error");
}

int api_fed_self(lua_State* L) {
  push_json(L, state_of(L)->host->self());
  return 1;
}

int api_fed_peers(lua_State* L) {
  std::string skill;
  if (lua_istable(L, 1)) {
    lua_getfield(L, 1, "skill");
    if (!lua_isnil(L, -1)) skill = luaL_checkstring(L, -1);
    lua_pop(L, 1);
  }
  push_json(L, state_of(L)->host->peers(skill));
  return 1;
}

// After the host answered a FedRequest: return the reply or raise the error.
int fed_continue(lua_State* L, int, lua_KContext) {
  Invocation* inv = invocation_of(L);
  auto reply = std::move(*inv->reply);
  inv->reply.reset();
  if (!reply) {
    const Error& e = reply.error();
    lua_createtable(L, 0, 4);
    lua_pushstring(L, e.code_name().c_str());
    lua_setfield(L, -2, "code");
    lua_pushstring(L, e.message().c_str());
    lua_setfield(L, -2, "message");
    for (const auto& [k, v] : e.context()) {
      if (k == "node" || k == "skill") {
        lua_pushstring(L, v.c_str());
        lua_setfield(L, -2, k.c_str());
      }
    }
    return lua_error(L);
  }
  push_json(L, *reply);
  return 1;
}

int suspend_for(lua_State* L, FedRequest request) {
  Invocation* inv = invocation_of(L);
  if (!inv || !inv->allow_fed)
    return luaL_error(L, "fed calls are not allowed while the package loads (use on(\"startup\", ...))");
  if (L != inv->thread || !lua_isyieldable(L))
    return luaL_error(L, "fed calls cannot be made here (not from a metamethod or iterator)");
  inv->request = std::move(request);
  return lua_yieldk(L, 0, 0, fed_continue);
}

int api_fed_call(lua_State* L) {
  FedRequest r;
  r.kind = FedRequest::Kind::call;
  r.peers.push_back(luaL_checkstring(L, 1));
  r.skill = luaL_checkstring(L, 2);
  if (!lua_isnoneornil(L, 3)) r.args = check_json(L, 3);
  return suspend_for(L, std::move(r));
}

int api_fed_call_all(lua_State* L) {
  FedRequest r;
  r.kind = FedRequest::Kind::call_all;
  luaL_checktype(L, 1, LUA_TTABLE);
  auto peers = check_json(L, 1);
  if (!peers.is_array() && !peers.empty())
    return luaL_error(L, "fed.call_all: the first argument is a list of peer names");
  for (const auto& p : peers) {
    if (!p.is_string()) return luaL_error(L, "fed.call_all: peer names must be strings");
    r.peers.push_back(p.get<std::string>());
  }
  r.skill = luaL_checkstring(L, 2);
  if (!lua_isnoneornil(L, 3)) r.args = check_json(L, 3);
  return suspend_for(L, std::move(r));
}

int api_fed_find(lua_State* L) {
  FedRequest r;
  r.kind = FedRequest::Kind::find;
  r.skill = luaL_checkstring(L, 1);
  return suspend_for(L, std::move(r));
}

void set_funcs(lua_State* L, State* st, const luaL_Reg* funcs) {
  lua_pushlightuserdata(L, st);
  luaL_setfuncs(L, funcs, 1);
}

// Error from a failed resume, with the Lua error value at the top of `T`.
Error to_error(lua_State* T, int status, Invocation& inv) {
  State* st = inv.st;
  if (!inv.killed.empty()) return Error(inv.kill_code, inv.killed);
  if (status == LUA_ERRMEM || st->alloc.exceeded)
    return Error(ErrorCode::resource_exhausted,
                 "memory cap of " + std::to_string(st->limits.memory_bytes >> 20) + " MiB exceeded in " + inv.what);
  if (lua_istable(T, -1)) {
    std::string code = "skill_failed", message;
    lua_getfield(T, -1, "code");
    if (lua_type(T, -1) == LUA_TSTRING) code = lua_tostring(T, -1);
    lua_pop(T, 1);
    lua_getfield(T, -1, "message");
    if (lua_type(T, -1) == LUA_TSTRING) message = lua_tostring(T, -1);
    lua_pop(T, 1);
    Error e(ErrorCode::skill_error, message);
    if (auto known = error_code_from_string(code); known && *known != ErrorCode::skill_error) {
      e = Error(*known, message);
    } else {
      e.with_code_name(code);
    }
    for (const char* k : {"node", "skill"}) {
      lua_getfield(T, -1, k);
      if (lua_type(T, -1) == LUA_TSTRING) e.with(k, lua_tostring(T, -1));
      lua_pop(T, 1);
    }
    return e;
  }
  const char* msg = lua_tostring(T, -1);
  return Error(ErrorCode::skill_error, msg ? msg : "error object is not a string").with_code_name("skill_failed");
}

}  // namespace

LuaRuntime::LuaRuntime(std::string package) : package_(std::move(package)), state_(std::make_unique<State>()) {}

LuaRuntime::~LuaRuntime() = default;

Result<std::unique_ptr<LuaRuntime>> LuaRuntime::load(const Package& package, json config, RuntimeHost& host,
                                                     LuaLimits limits) {
  std::unique_ptr<LuaRuntime> rt(new LuaRuntime(package.manifest.name));
  State* st = rt->state_.get();
  st->host = &host;
  st->runtime = rt.get();
  st->package = package.manifest.name;
  st->env_allowed = package.manifest.env;
  st->files = package.files;
  st->limits = limits;
  st->alloc.limit = limits.memory_bytes;
  st->L = lua_newstate(limited_alloc, &st->alloc);
  if (!st->L) return make_error(ErrorCode::resource_exhausted, "cannot create a Lua state");
  lua_State* L = st->L;
  *static_cast<Invocation**>(lua_getextraspace(L)) = nullptr;

  // Allow-listed libraries only: no io, os (but a safe subset), debug, package.
  luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
  luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
  luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);  // not global: copied selectively below
  lua_pop(L, 6);
  int os_lib = 0;
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, LUA_OSLIBNAME);
  os_lib = lua_gettop(L);

  lua_pushglobaltable(L);
  int g = lua_gettop(L);
  for (const char* name : {"dofile", "loadfile", "load", "rawset", "collectgarbage", "print", "require"}) {
    lua_pushnil(L);
    lua_setfield(L, g, name);
  }
  lua_getfield(L, g, "string");
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");  // bytecode out
  lua_pop(L, 1);
  lua_createtable(L, 0, 3);
  for (const char* name : {"time", "clock", "date"}) {
    lua_getfield(L, os_lib, name);
    lua_setfield(L, -2, name);
  }
  lua_setfield(L, g, "os");

  const luaL_Reg base[] = {{"load", safe_load},
                           {"require", safe_require},
                           {"pcall", safe_pcall},
                           {"xpcall", safe_xpcall},
                           {"collectgarbage", restricted_collectgarbage},
                           {"print", api_log_info},
                           {"skill", api_skill},
                           {"on", api_on},
                           {"every", api_every},
                           {"env", api_env},
                           {nullptr, nullptr}};
  lua_pushvalue(L, g);
  set_funcs(L, st, base);
  lua_pop(L, 1);
  const luaL_Reg state_fns[] = {
      {"get", api_state_get},       {"set", api_state_set},   {"incr", api_state_incr}, {"decr_if", api_state_decr_if},
      {"delete", api_state_delete}, {"keys", api_state_keys}, {nullptr, nullptr}};
  lua_newtable(L);
  set_funcs(L, st, state_fns);
  lua_setfield(L, g, "state");
  const luaL_Reg fed_fns[] = {{"call", api_fed_call}, {"call_all", api_fed_call_all}, {"peers", api_fed_peers},
                              {"self", api_fed_self}, {"find", api_fed_find},         {nullptr, nullptr}};
  lua_newtable(L);
  set_funcs(L, st, fed_fns);
  lua_setfield(L, g, "fed");
  const luaL_Reg log_fns[] = {
      {"info", api_log_info}, {"warn", api_log_warn}, {"error", api_log_error}, {nullptr, nullptr}};
  lua_newtable(L);
  set_funcs(L, st, log_fns);
  lua_setfield(L, g, "log");
  push_json(L, config.is_object() ? config : json::object());
  lua_setfield(L, g, "config");

  // Libraries and config become read-only proxies; the string metatable is locked.
  for (const char* name : {"string", "table", "math", "utf8", "os", "state", "fed", "log", "config"}) {
    lua_getfield(L, g, name);
    make_readonly(L, std::strcmp(name, "config") == 0);
    lua_setfield(L, g, name);
  }
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 2);

  // The environment every chunk sees: empty, reads through to the globals, refuses writes.
  lua_newtable(L);
  lua_createtable(L, 0, 3);
  lua_pushvalue(L, g);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, readonly_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_setfield(L, g, "_G");
  st->env_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 0);
  lua_newtable(L);
  st->skills_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  st->events_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  st->loaded_ref = luaL_ref(L, LUA_REGISTRYINDEX);

  // Load and run main under a budget; fed calls are not available yet.
  const auto& main = package.files.at(package.manifest.main);
  std::string chunkname = "@" + package.manifest.main;
  if (luaL_loadbufferx(L, main.data(), main.size(), chunkname.c_str(), "t") != LUA_OK) {
    std::string msg = lua_tostring(L, -1);
    return make_error(ErrorCode::invalid_argument, "package " + st->package + ": " + msg);
  }
  push_env(L, st);
  lua_setupvalue(L, -2, 1);
  int main_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  auto inv = rt->start_ref(main_ref, nullptr, Clock::now() + limits.load_time, "loading " + package.manifest.main);
  inv->allow_fed = false;
  auto step = rt->run(*inv);
  luaL_unref(L, LUA_REGISTRYINDEX, main_ref);
  st->loading = false;
  if (step.kind == Step::Kind::failed)
    return make_error(ErrorCode::invalid_argument, "package " + st->package + ": " + step.error->message());

  // Declared and registered skills must match.
  for (const auto& spec : package.manifest.skills) {
    if (!rt->has_skill(spec.name))
      return make_error(ErrorCode::invalid_argument, "package " + st->package + ": skill '" + spec.name +
                                                         "' is declared in package.toml but main.lua never calls "
                                                         "skill(\"" +
                                                         spec.name + "\", ...)");
  }
  for (const auto& name : rt->skill_names()) {
    if (!package.manifest.skill(name))
      return make_error(ErrorCode::invalid_argument, "package " + st->package + ": skill '" + name +
                                                         "' is registered but not declared in package.toml [skills." +
                                                         name + "]");
  }
  return rt;
}

bool LuaRuntime::has_skill(std::string_view name) const {
  lua_State* L = state_->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, state_->skills_ref);
  lua_pushlstring(L, name.data(), name.size());
  bool found = lua_rawget(L, -2) == LUA_TFUNCTION;
  lua_pop(L, 2);
  return found;
}

std::vector<std::string> LuaRuntime::skill_names() const {
  std::vector<std::string> out;
  lua_State* L = state_->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, state_->skills_ref);
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    out.emplace_back(lua_tostring(L, -2));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t LuaRuntime::handler_count(std::string_view event) const {
  lua_State* L = state_->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, state_->events_ref);
  lua_pushlstring(L, event.data(), event.size());
  std::size_t n = lua_rawget(L, -2) == LUA_TTABLE ? lua_rawlen(L, -1) : 0;
  lua_pop(L, 2);
  return n;
}

const std::vector<LuaRuntime::Period>& LuaRuntime::periods() const {
  return state_->periods;
}

std::size_t LuaRuntime::memory_used() const {
  return state_->alloc.used;
}

std::unique_ptr<LuaRuntime::Invocation> LuaRuntime::start_ref(int ref, const json* args, Clock::time_point deadline,
                                                              std::string what) {
  lua_State* L = state_->L;
  auto inv = std::make_unique<Invocation>();
  inv->st = state_.get();
  inv->deadline = deadline;
  inv->what = std::move(what);
  state_->alloc.exceeded = false;
  inv->thread = lua_newthread(L);
  inv->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  *static_cast<Invocation**>(lua_getextraspace(inv->thread)) = inv.get();
  lua_sethook(inv->thread, count_hook, LUA_MASKCOUNT, kHookEvery);
  lua_rawgeti(inv->thread, LUA_REGISTRYINDEX, ref);
  if (args) push_json(inv->thread, *args);
  return inv;
}

std::unique_ptr<LuaRuntime::Invocation> LuaRuntime::start_skill(std::string_view name, const json& args,
                                                                Clock::time_point deadline) {
  lua_State* L = state_->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, state_->skills_ref);
  lua_pushlstring(L, name.data(), name.size());
  if (lua_rawget(L, -2) != LUA_TFUNCTION) {
    lua_pop(L, 2);
    return nullptr;
  }
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);
  auto inv = start_ref(ref, &args, deadline, package_ + "/" + std::string(name));
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
  return inv;
}

std::unique_ptr<LuaRuntime::Invocation> LuaRuntime::start_handler(std::string_view event, std::size_t index,
                                                                  const json& payload, Clock::time_point deadline) {
  lua_State* L = state_->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, state_->events_ref);
  lua_pushlstring(L, event.data(), event.size());
  if (lua_rawget(L, -2) != LUA_TTABLE || lua_rawgeti(L, -1, static_cast<lua_Integer>(index) + 1) != LUA_TFUNCTION) {
    lua_settop(L, 0);
    return nullptr;
  }
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 2);
  auto inv = start_ref(ref, &payload, deadline, package_ + " on " + std::string(event));
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
  return inv;
}

std::unique_ptr<LuaRuntime::Invocation> LuaRuntime::start_period(std::size_t index, Clock::time_point deadline) {
  if (index >= state_->periods.size()) return nullptr;
  const auto& p = state_->periods;
  return start_ref(p[index].ref, nullptr, deadline, package_ + " every " + format_duration(p[index].every));
}

LuaRuntime::Step LuaRuntime::run(Invocation& inv) {
  int nargs = lua_gettop(inv.thread) - 1;
  return step(inv, nargs);
}

LuaRuntime::Step LuaRuntime::resume(Invocation& inv, Result<json> reply) {
  inv.reply = std::move(reply);
  return step(inv, 0);
}

LuaRuntime::Step LuaRuntime::step(Invocation& inv, int nargs) {
  Step out;
  int nres = 0;
  int status = lua_resume(inv.thread, state_->L, nargs, &nres);
  if (status == LUA_OK) {
    std::string err;
    out.result = nres > 0 ? to_json(inv.thread, -nres, err) : json(nullptr);
    lua_settop(inv.thread, 0);
    if (!err.empty()) {
      out.kind = Step::Kind::failed;
      out.error = Error(ErrorCode::skill_error, inv.what + " returned a value that is not JSON: " + err)
                      .with_code_name("bad_result");
    }
    return out;
  }
  if (status == LUA_YIELD && inv.request) {
    out.kind = Step::Kind::needs_fed;
    out.request = std::move(inv.request);
    inv.request.reset();
    return out;
  }
  out.kind = Step::Kind::failed;
  if (status == LUA_YIELD) {
    out.error = Error(ErrorCode::skill_error, inv.what + ": coroutine.yield is not available in skills")
                    .with_code_name("skill_failed");
  } else {
    out.error = to_error(inv.thread, status, inv);
  }
  lua_settop(inv.thread, 0);
  if (state_->alloc.exceeded) lua_gc(state_->L, LUA_GCCOLLECT, 0);
  return out;
}

}  // namespace fedmesh::skills
