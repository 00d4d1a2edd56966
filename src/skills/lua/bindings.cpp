// The package API as scripts see it: skill, on, every, env, state.*, log.*, fed.*,
// data.* and config. Each binding takes its package State as upvalue 1; fed calls suspend the
// invocation's thread and the host answers them (runtime.hpp).
#include <cmath>
#include <cstdlib>

#include "core/error_json.hpp"
#include "core/json.hpp"
#include "core/time.hpp"
#include "skills/lua/state.hpp"

namespace fedmesh::skills::lua {

using json = nlohmann::json;

namespace {

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
    double seconds = lua_tonumber(L, 1);
    if (!std::isfinite(seconds) || seconds > 86'400.0 * 365)
      return luaL_error(L, "every(): a period is at most a year");
    period = std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
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
  std::string name = luaL_checkstring(L, 1);
  if (std::find(st->env_allowed.begin(), st->env_allowed.end(), name) == st->env_allowed.end())
    return luaL_error(L, "env('%s'): not declared in package.toml (env = [...])", name.c_str());
  auto v = st->host->env(name);
  if (!v) return luaL_error(L, "env('%s'): %s", name.c_str(), v.error().message().c_str());
  if (!v->has_value()) {
    lua_pushnil(L);
  } else {
    lua_pushlstring(L, (*v)->data(), (*v)->size());
  }
  return 1;
}

std::string check_key(lua_State* L, int idx) {
  std::size_t len = 0;
  const char* k = luaL_checklstring(L, idx, &len);
  if (len == 0 || len > 256) luaL_error(L, "state keys are 1-256 characters");
  return std::string(k, len);
}

bool node_trouble(const Error& e) {
  return e.code() == ErrorCode::storage_full || e.code() == ErrorCode::store_error;
}

// The node's own trouble (a full disk, a failing store) is raised as scripts see fed
// errors, {code, message}: uncaught, the invocation answers with that code (507, 500),
// not as the skill's failure.
[[noreturn]] void raise_node_trouble(lua_State* L, const std::string& what, const Error& e) {
  push_json(L, error_to_json(make_error(e.code(), what + ": " + e.message())));
  lua_error(L);
  std::abort();  // not reached: lua_error does not return
}

[[noreturn]] void store_failed(lua_State* L, const Error& e) {
  if (node_trouble(e)) raise_node_trouble(L, "state", e);
  luaL_error(L, "state: %s", e.message().c_str());
  std::abort();  // not reached: luaL_error does not return
}

void push_number(lua_State* L, double v) {
  if (v == std::floor(v) && std::abs(v) < 9e15) {
    lua_pushinteger(L, static_cast<lua_Integer>(v));
  } else {
    lua_pushnumber(L, v);
  }
}

int api_state_get(lua_State* L) {
  State* st = state_of(L);
  auto key = check_key(L, 1);
  auto v = st->host->state().get(st->package, key);
  if (!v) store_failed(L, v.error());
  if (!v->has_value()) {
    lua_pushnil(L);
    return 1;
  }
  auto parsed = parse_json(**v);
  push_json(L, parsed ? *parsed : json(nullptr));
  return 1;
}

int api_state_set(lua_State* L) {
  State* st = state_of(L);
  auto key = check_key(L, 1);
  luaL_checkany(L, 2);
  auto value = dump_json(check_json(L, 2));
  if (value.size() > (1u << 20)) return luaL_error(L, "state.set: value larger than 1 MiB");
  if (auto s = st->host->state().set(st->package, key, value); !s) store_failed(L, s.error());
  return 0;
}

int api_state_incr(lua_State* L) {
  State* st = state_of(L);
  auto key = check_key(L, 1);
  double delta = luaL_optnumber(L, 2, 1);
  auto v = st->host->state().incr(st->package, key, delta);
  if (!v) store_failed(L, v.error());
  push_number(L, *v);
  return 1;
}

int api_state_decr_if(lua_State* L) {
  State* st = state_of(L);
  auto key = check_key(L, 1);
  double amount = luaL_checknumber(L, 2);
  double floor = luaL_optnumber(L, 3, 0);
  auto r = st->host->state().decr_if(st->package, key, amount, floor);
  if (!r) store_failed(L, r.error());
  lua_pushboolean(L, r->applied);
  push_number(L, r->value);
  return 2;
}

int api_state_delete(lua_State* L) {
  State* st = state_of(L);
  auto key = check_key(L, 1);
  if (auto s = st->host->state().remove(st->package, key); !s) store_failed(L, s.error());
  return 0;
}

int api_state_keys(lua_State* L) {
  State* st = state_of(L);
  std::string prefix = luaL_optstring(L, 1, "");
  auto keys = st->host->state().keys(st->package, prefix);
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
  for (int i = 1; i <= n && msg.size() < 4096; ++i) {
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

// After the host answered a FedRequest: return the reply or raise the error as a table.
int fed_continue(lua_State* L, int, lua_KContext) {
  Invocation* inv = invocation_of(L);
  auto reply = std::move(*inv->reply);
  inv->reply.reset();
  if (!reply) {
    push_json(L, error_to_json(reply.error()));  // the error as scripts see it: {code, message, node?, skill?}
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

// data.*: the node's shared data, synchronously (the store answers in milliseconds).
// Errors (a schema violation, a bad name) are raised with their message.
int data_op(lua_State* L, const char* op, const json& args) {
  State* st = state_of(L);
  Invocation* inv = invocation_of(L);
  int depth = inv ? inv->data_depth : 0;
  if (inv && !inv->trigger_budget) inv->trigger_budget = std::make_shared<std::atomic<int>>(kMaxTriggerRuns);
  static const TriggerBudget none;
  auto r = st->host->data(op, args, depth, inv ? inv->trigger_budget : none);
  if (!r) {
    if (r.error().code() == ErrorCode::not_found && std::string_view(op) == "get") {
      lua_pushnil(L);
      return 1;
    }
    if (node_trouble(r.error())) raise_node_trouble(L, std::string("data.") + op, r.error());
    return luaL_error(L, "data.%s: %s", op, r.error().message().c_str());
  }
  push_json(L, *r);
  return 1;
}

std::string check_name(lua_State* L, int idx, const char* what) {
  std::size_t len = 0;
  const char* s = luaL_checklstring(L, idx, &len);
  if (len == 0 || len > 256) luaL_error(L, "data: %s must be 1-256 characters", what);
  return std::string(s, len);
}

int api_data_put(lua_State* L) {
  json args = {{"collection", check_name(L, 1, "a collection")}};
  if (!lua_isnil(L, 2)) args["id"] = check_name(L, 2, "an id");
  luaL_checktype(L, 3, LUA_TTABLE);
  args["properties"] = check_json(L, 3);
  if (args["properties"].is_array() && args["properties"].empty()) args["properties"] = json::object();
  return data_op(L, "put", args);
}

int api_data_get(lua_State* L) {
  return data_op(L, "get", {{"collection", check_name(L, 1, "a collection")}, {"id", check_name(L, 2, "an id")}});
}

int api_data_query(lua_State* L) {
  json args = {{"collection", check_name(L, 1, "a collection")}};
  if (!lua_isnoneornil(L, 2)) args["filter"] = check_json(L, 2);
  if (!lua_isnoneornil(L, 3)) args["limit"] = luaL_checkinteger(L, 3);
  return data_op(L, "query", args);
}

int api_data_delete(lua_State* L) {
  return data_op(L, "delete", {{"collection", check_name(L, 1, "a collection")}, {"id", check_name(L, 2, "an id")}});
}

void set_funcs(lua_State* L, State* st, const luaL_Reg* funcs) {
  lua_pushlightuserdata(L, st);
  luaL_setfuncs(L, funcs, 1);
}

}  // namespace

void open_api(lua_State* L, State* st, int g, const json& config) {
  const luaL_Reg base[] = {{"print", call_guarded<api_log_info>}, {"skill", call_guarded<api_skill>},
                           {"on", call_guarded<api_on>},          {"every", call_guarded<api_every>},
                           {"env", call_guarded<api_env>},        {nullptr, nullptr}};
  lua_pushvalue(L, g);
  set_funcs(L, st, base);
  lua_pop(L, 1);
  const luaL_Reg state_fns[] = {{"get", call_guarded<api_state_get>},
                                {"set", call_guarded<api_state_set>},
                                {"incr", call_guarded<api_state_incr>},
                                {"decr_if", call_guarded<api_state_decr_if>},
                                {"delete", call_guarded<api_state_delete>},
                                {"keys", call_guarded<api_state_keys>},
                                {nullptr, nullptr}};
  lua_newtable(L);
  set_funcs(L, st, state_fns);
  lua_setfield(L, g, "state");
  // fed.* yield: lua_yieldk throws Lua's own exception, which call_guarded lets pass.
  const luaL_Reg fed_fns[] = {{"call", call_guarded<api_fed_call>},   {"call_all", call_guarded<api_fed_call_all>},
                              {"peers", call_guarded<api_fed_peers>}, {"self", call_guarded<api_fed_self>},
                              {"find", call_guarded<api_fed_find>},   {nullptr, nullptr}};
  lua_newtable(L);
  set_funcs(L, st, fed_fns);
  lua_setfield(L, g, "fed");
  const luaL_Reg log_fns[] = {{"info", call_guarded<api_log_info>},
                              {"warn", call_guarded<api_log_warn>},
                              {"error", call_guarded<api_log_error>},
                              {nullptr, nullptr}};
  lua_newtable(L);
  set_funcs(L, st, log_fns);
  lua_setfield(L, g, "log");
  const luaL_Reg data_fns[] = {{"put", call_guarded<api_data_put>},
                               {"get", call_guarded<api_data_get>},
                               {"query", call_guarded<api_data_query>},
                               {"delete", call_guarded<api_data_delete>},
                               {nullptr, nullptr}};
  lua_newtable(L);
  set_funcs(L, st, data_fns);
  lua_setfield(L, g, "data");
  push_json(L, config.is_object() ? config : json::object());
  lua_setfield(L, g, "config");
}

}  // namespace fedmesh::skills::lua
