#include "skills/lua/runtime.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "core/error_json.hpp"
#include "core/json.hpp"
#include "core/time.hpp"
#include "skills/lua/state.hpp"

namespace fedmesh::skills {

using json = nlohmann::json;
using lua::protect;

namespace {

// Reached only if a Lua error escapes every protected call: a bug. Lua aborts after it
// returns, and the crash handler writes the backtrace.
int panic(lua_State* L) {
  spdlog::critical("Lua panic (unprotected error): {}", lua::error_text(L, -1));
  spdlog::default_logger()->flush();
  return 0;
}

constexpr int kMaxErrorFields = 64;  // fields of an error table looked at

// The string value of field `key` in the table at `t`, read with lua_next: raw, without
// allocating, so reading an error value can neither raise nor run its metamethods.
std::optional<std::string> raw_string_field(lua_State* L, int t, std::string_view key) {
  std::optional<std::string> found;
  int seen = 0;
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {
    if (!found && lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
      std::size_t klen = 0, vlen = 0;
      const char* k = lua_tolstring(L, -2, &klen);
      if (std::string_view(k, klen) == key) {
        const char* v = lua_tolstring(L, -1, &vlen);
        found = std::string(v, std::min<std::size_t>(vlen, 4096));
      }
    }
    lua_pop(L, 1);
    if (++seen == kMaxErrorFields) {
      lua_pop(L, 1);
      break;
    }
  }
  return found;
}

}  // namespace

LuaRuntime::Invocation::~Invocation() {
  if (st && st->L && thread_ref != LUA_NOREF) luaL_unref(st->L, LUA_REGISTRYINDEX, thread_ref);
}

LuaRuntime::LuaRuntime(std::string package) : package_(std::move(package)), state_(std::make_unique<State>()) {}

LuaRuntime::~LuaRuntime() = default;

Status LuaRuntime::set_up(const json& config) {
  State* st = state_.get();
  return protect(st->L, "setting up Lua", [&](lua_State* L) {
    lua_pushglobaltable(L);
    int g = lua_gettop(L);
    lua::open_sandbox(L, st, g);
    lua::open_api(L, st, g, config);
    // Libraries and config become read-only proxies.
    for (const char* name : {"string", "table", "math", "utf8", "os", "state", "fed", "log", "config", "data"}) {
      lua_getfield(L, g, name);
      lua::make_readonly(L, std::string_view(name) == "config");
      lua_setfield(L, g, name);
    }
    // The environment every chunk sees: empty, reads through to the globals, refuses writes.
    lua_newtable(L);
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, g);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, lua::readonly_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, g, "_G");
    st->env_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    st->skills_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    st->events_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    st->loaded_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, 0);
  });
}

Result<std::unique_ptr<LuaRuntime>> LuaRuntime::load(const Package& package, json config, RuntimeHost& host,
                                                     LuaLimits limits) {
  std::unique_ptr<LuaRuntime> rt(new LuaRuntime(package.manifest.name));
  State* st = rt->state_.get();
  std::string prefix = "package " + package.manifest.name + ": ";
  st->host = &host;
  st->package = package.manifest.name;
  st->env_allowed = package.manifest.env;
  st->files = package.files;
  st->limits = limits;
  st->alloc.limit = limits.memory_bytes;
  if (!config.is_object()) config = json::object();
  if (auto s = lua::check_for_lua(config, limits.memory_bytes, "config"); !s)
    return make_error(ErrorCode::invalid_argument, prefix + s.error().message());
  st->L = lua_newstate(lua::limited_alloc, &st->alloc);
  if (!st->L) return make_error(ErrorCode::resource_exhausted, prefix + "cannot create a Lua state");
  lua_State* L = st->L;
  lua_atpanic(L, panic);
  *static_cast<Invocation**>(lua_getextraspace(L)) = nullptr;

  if (auto s = rt->set_up(config); !s) return make_error(ErrorCode::invalid_argument, prefix + s.error().message());
  // Main runs as the first invocation; fed calls are not available while it does.
  int main_ref = LUA_NOREF;
  auto compiled = protect(L, "", [&](lua_State* S) {
    const auto& main = package.files.at(package.manifest.main);
    std::string chunkname = "@" + package.manifest.main;
    if (luaL_loadbufferx(S, main.data(), main.size(), chunkname.c_str(), "t") != LUA_OK) lua_error(S);
    lua_rawgeti(S, LUA_REGISTRYINDEX, st->env_ref);
    lua_setupvalue(S, -2, 1);
    main_ref = luaL_ref(S, LUA_REGISTRYINDEX);
  });
  if (!compiled) return make_error(ErrorCode::invalid_argument, prefix + compiled.error().message());
  auto inv = rt->start_ref(main_ref, nullptr, Clock::now() + limits.load_time, "loading " + package.manifest.main);
  if (!inv) return make_error(ErrorCode::invalid_argument, prefix + inv.error().message());
  (*inv)->allow_fed = false;
  auto step = rt->run(**inv);
  inv->reset();
  luaL_unref(L, LUA_REGISTRYINDEX, main_ref);
  st->loading = false;
  if (step.kind == Step::Kind::failed) return make_error(ErrorCode::invalid_argument, prefix + step.error->message());

  // What main registered, as references the host can start without touching Lua tables.
  auto cached = protect(L, "reading registrations", [&](lua_State* S) {
    lua_rawgeti(S, LUA_REGISTRYINDEX, st->skills_ref);
    lua_pushnil(S);
    while (lua_next(S, 1) != 0) {
      std::size_t len = 0;
      const char* name = lua_tolstring(S, -2, &len);  // keys are strings: skill() set them
      rt->skill_refs_[std::string(name, len)] = luaL_ref(S, LUA_REGISTRYINDEX);
    }
    lua_rawgeti(S, LUA_REGISTRYINDEX, st->events_ref);
    lua_pushnil(S);
    while (lua_next(S, 2) != 0) {
      std::size_t len = 0;
      const char* event = lua_tolstring(S, -2, &len);
      auto& refs = rt->handler_refs_[std::string(event, len)];
      auto n = static_cast<lua_Integer>(lua_rawlen(S, -1));
      for (lua_Integer i = 1; i <= n; ++i) {
        lua_rawgeti(S, -1, i);
        refs.push_back(luaL_ref(S, LUA_REGISTRYINDEX));
      }
      lua_pop(S, 1);
    }
    lua_settop(S, 0);
  });
  if (!cached) return make_error(ErrorCode::invalid_argument, prefix + cached.error().message());

  // Declared and registered skills must match.
  for (const auto& spec : package.manifest.skills) {
    if (!rt->has_skill(spec.name))
      return make_error(ErrorCode::invalid_argument, prefix + "skill '" + spec.name +
                                                         "' is declared in package.toml but main.lua never calls "
                                                         "skill(\"" +
                                                         spec.name + "\", ...)");
  }
  for (const auto& name : rt->skill_names()) {
    if (!package.manifest.skill(name))
      return make_error(
          ErrorCode::invalid_argument,
          prefix + "skill '" + name + "' is registered but not declared in package.toml [skills." + name + "]");
  }
  return rt;
}

bool LuaRuntime::has_skill(std::string_view name) const {
  return skill_refs_.find(name) != skill_refs_.end();
}

std::vector<std::string> LuaRuntime::skill_names() const {
  std::vector<std::string> out;
  for (const auto& [name, ref] : skill_refs_) out.push_back(name);
  return out;
}

std::size_t LuaRuntime::handler_count(std::string_view event) const {
  auto it = handler_refs_.find(event);
  return it == handler_refs_.end() ? 0 : it->second.size();
}

const std::vector<LuaRuntime::Period>& LuaRuntime::periods() const {
  return state_->periods;
}

std::size_t LuaRuntime::memory_used() const {
  return state_->alloc.used;
}

LuaRuntime::Started LuaRuntime::start_ref(int ref, const json* args, Clock::time_point deadline, std::string what) {
  State* st = state_.get();
  if (args) {
    if (auto s = lua::check_for_lua(*args, st->limits.memory_bytes, "the arguments of " + what); !s)
      return std::move(s).error();
  }
  auto inv = std::make_unique<Invocation>();
  inv->st = st;
  inv->deadline = deadline;
  inv->what = std::move(what);
  st->alloc.exceeded = false;
  auto made = protect(st->L, "starting " + inv->what, [&](lua_State* L) {
    inv->thread = lua_newthread(L);
    inv->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  });
  if (made) {
    *static_cast<Invocation**>(lua_getextraspace(inv->thread)) = inv.get();
    lua::install_hook(inv->thread);
    made = protect(inv->thread, "passing the arguments of " + inv->what, [&](lua_State* T) {
      lua_rawgeti(T, LUA_REGISTRYINDEX, ref);
      if (args) lua::push_json(T, *args);
    });
  }
  if (!made) {
    bool memory = st->alloc.exceeded;
    inv.reset();
    lua_gc(st->L, LUA_GCCOLLECT, 0);
    if (memory)
      return make_error(ErrorCode::resource_exhausted, "memory cap of " +
                                                           std::to_string(st->limits.memory_bytes >> 20) +
                                                           " MiB exceeded: " + made.error().message());
    return std::move(made).error();
  }
  return inv;
}

LuaRuntime::Started LuaRuntime::start_skill(std::string_view name, const json& args, Clock::time_point deadline) {
  auto it = skill_refs_.find(name);
  if (it == skill_refs_.end())
    return make_error(ErrorCode::not_found, "package " + package_ + " has no skill '" + std::string(name) + "'");
  return start_ref(it->second, &args, deadline, package_ + "/" + std::string(name));
}

LuaRuntime::Started LuaRuntime::start_handler(std::string_view event, std::size_t index, const json& payload,
                                              Clock::time_point deadline) {
  auto it = handler_refs_.find(event);
  if (it == handler_refs_.end() || index >= it->second.size())
    return make_error(ErrorCode::not_found, "package " + package_ + " has no handler for " + std::string(event));
  return start_ref(it->second[index], &payload, deadline, package_ + " on " + std::string(event));
}

LuaRuntime::Started LuaRuntime::start_period(std::size_t index, Clock::time_point deadline) {
  const auto& p = state_->periods;
  if (index >= p.size()) return make_error(ErrorCode::not_found, "package " + package_ + " has no such period");
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

Error LuaRuntime::failure(Invocation& inv, int status) {
  State* st = inv.st;
  if (!inv.killed.empty()) return Error(inv.kill_code, inv.killed);
  if (status == LUA_ERRMEM || st->alloc.exceeded)
    return Error(ErrorCode::resource_exhausted,
                 "memory cap of " + std::to_string(st->limits.memory_bytes >> 20) + " MiB exceeded in " + inv.what);
  // The error value is read on the main state with raw access only: a script's error
  // object can neither run code nor raise while we read it.
  lua_State* L = st->L;
  Error unreadable = Error(ErrorCode::skill_error, inv.what + " failed").with_code_name("skill_failed");
  if (lua_gettop(inv.thread) == 0 || !lua_checkstack(L, 4)) return unreadable;
  lua_xmove(inv.thread, L, 1);
  int err = lua_gettop(L);
  Error out = unreadable;
  if (lua_type(L, err) == LUA_TTABLE) {
    out = error_from_fields(raw_string_field(L, err, "code").value_or("skill_failed"),
                            raw_string_field(L, err, "message").value_or("an error table without a message"),
                            raw_string_field(L, err, "node"), raw_string_field(L, err, "skill"));
  } else if (lua_type(L, err) == LUA_TSTRING || lua_type(L, err) == LUA_TNUMBER) {
    out = Error(ErrorCode::skill_error, lua::error_text(L, err)).with_code_name("skill_failed");
  } else {
    out = Error(ErrorCode::skill_error, "error object is not a string (" + lua::error_text(L, err) + ")")
              .with_code_name("skill_failed");
  }
  lua_settop(L, err - 1);
  return out;
}

LuaRuntime::Step LuaRuntime::step(Invocation& inv, int nargs) {
  Step out;
  int nres = 0;
  state_->alloc.running = inv.thread;
  int status = lua_resume(inv.thread, state_->L, nargs, &nres);
  state_->alloc.running = nullptr;
  if (status == LUA_OK) {
    std::string err;
    json result;
    auto converted = protect(inv.thread, "reading the result of " + inv.what, nres, [&](lua_State* T) {
      if (lua_gettop(T) > 0) result = lua::to_json(T, 1, err);
    });
    lua_settop(inv.thread, 0);
    if (!converted) {
      out.kind = Step::Kind::failed;
      out.error = converted.error();
      out.overrun = state_->alloc.exceeded;
      lua_gc(state_->L, LUA_GCCOLLECT, 0);
    } else if (!err.empty()) {
      out.kind = Step::Kind::failed;
      out.error = Error(ErrorCode::skill_error, inv.what + " returned a value that is not JSON: " + err)
                      .with_code_name("bad_result");
    } else {
      out.result = std::move(result);
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
    out.error = failure(inv, status);
    out.overrun = (!inv.killed.empty() && inv.kill_code != ErrorCode::unavailable) || state_->alloc.exceeded;
  }
  lua_settop(inv.thread, 0);
  if (state_->alloc.exceeded) lua_gc(state_->L, LUA_GCCOLLECT, 0);
  return out;
}

}  // namespace fedmesh::skills
