// The sandbox: allow-listed libraries, safe replacements of the base functions that
// could escape (load, require, pcall, xpcall, setmetatable, collectgarbage), library
// functions whose C loops are charged to the invocation's budget, read-only proxies,
// the memory cap and the count hook.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <string>

#include "core/json.hpp"
#include "skills/lua/bounded_patterns.hpp"
#include "skills/lua/state.hpp"

namespace fedmesh::skills::lua {

namespace {

// One unit of charged work is about one VM instruction: a few nanoseconds.
constexpr double kNsPerUnit = 5.0;
// Units per element for library loops that read and write a table slot per step.
constexpr double kUnitsPerSlot = 10.0;

}  // namespace

namespace {
void count_hook(lua_State* L, lua_Debug* ar);
constexpr std::size_t kLargeAllocation = std::size_t{256} * 1024;
}  // namespace

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
  if (nsize >= kLargeAllocation && a->running) {
    if (Invocation* inv = invocation_of(a->running)) inv->hook_every = 1;
    lua_sethook(a->running, count_hook, LUA_MASKCOUNT, 1);
  }
  return p;
}

void enforce_limits(lua_State* L, Invocation& inv) {
  if (inv.killed.empty()) {
    const auto& limits = inv.st->limits;
    if (inv.instructions > limits.instructions) {
      inv.killed = "instruction budget of " + std::to_string(limits.instructions) + " exceeded in " + inv.what;
      inv.kill_code = ErrorCode::resource_exhausted;
    } else if (limits.halt && limits.halt->load(std::memory_order_relaxed)) {
      inv.killed = "the node is stopping: " + inv.what + " was stopped";
      inv.kill_code = ErrorCode::unavailable;
    } else if (Clock::now() > inv.deadline) {
      inv.killed = "deadline passed while running " + inv.what;
      inv.kill_code = ErrorCode::deadline_exceeded;
    }
  }
  if (!inv.killed.empty()) luaL_error(L, "%s", inv.killed.c_str());
}

void charge(lua_State* L, std::uint64_t units) {
  Invocation* inv = invocation_of(L);
  if (!inv) return;
  inv->instructions += units;
  enforce_limits(L, *inv);
}

void charge_upfront(lua_State* L, double units, const char* what) {
  Invocation* inv = invocation_of(L);
  if (!inv) return;
  const auto limit = inv->st->limits.instructions;
  double left = inv->instructions < limit ? static_cast<double>(limit - inv->instructions) : 0.0;
  if (units > left) {
    // lua_pushfstring knows no precision (%.0f): format here.
    char text[256];
    std::snprintf(text, sizeof text,
                  "%s: about %.0f units of work, more than the %.0f left of this call's instruction budget", what,
                  units, left);
    luaL_error(L, "%s", text);
  }
  auto needed = std::chrono::nanoseconds(static_cast<long long>(units * kNsPerUnit));
  if (Clock::now() + needed > inv->deadline) luaL_error(L, "%s would run past this call's deadline", what);
  inv->instructions += static_cast<std::uint64_t>(units);
  enforce_limits(L, *inv);
}

bool must_propagate(lua_State* L) {
  Invocation* inv = invocation_of(L);
  return inv && (!inv->killed.empty() || inv->st->alloc.exceeded);
}

std::string error_text(lua_State* L, int idx) {
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
      std::size_t len = 0;
      const char* s = lua_tolstring(L, idx, &len);  // a string already: no conversion, no allocation
      return std::string(s, std::min<std::size_t>(len, 4096));
    }
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) return std::to_string(lua_tointeger(L, idx));
      return std::to_string(lua_tonumber(L, idx));
    case LUA_TNIL: return "nil";
    case LUA_TBOOLEAN: return lua_toboolean(L, idx) ? "true" : "false";
    default: return std::string("a ") + lua_typename(L, lua_type(L, idx)) + " error value";
  }
}

namespace {

void count_hook(lua_State* L, lua_Debug*) {
  Invocation* inv = invocation_of(L);
  if (!inv) return;
  int every = inv->hook_every > 0 ? inv->hook_every : kHookEvery;
  inv->instructions += static_cast<std::uint64_t>(every);
  // Some C functions are charged nothing (utf8.len, upper, concatenating long strings) and
  // make one instruction cost milliseconds: while instructions are that slow, check more
  // often, so a deadline is noticed within about a millisecond of work plus one call.
  auto now = Clock::now();
  if (inv->last_hook != Clock::time_point{}) {
    auto per = std::chrono::duration_cast<std::chrono::nanoseconds>(now - inv->last_hook).count() / every;
    int next = per > 0 ? static_cast<int>(std::clamp<long long>(1'000'000 / per, 1, kHookEvery)) : kHookEvery;
    if (next != every) {
      inv->hook_every = next;
      lua_sethook(L, count_hook, LUA_MASKCOUNT, next);
    }
  }
  inv->last_hook = now;
  enforce_limits(L, *inv);
}

// ---- pcall and xpcall that a kill passes through ------------------------------------

// Protected calls nest at most this deep in one invocation. Lua resets its C-call count
// when a yieldable pcall recovers from an error, so without our own bound `pcall(f);
// return f()` nests without limit, and every recovery walks the whole call chain: a kill
// then took minutes to unwind.
constexpr int kMaxProtectedDepth = 200;

void enter_protected(lua_State* L, const char* what) {
  Invocation* inv = invocation_of(L);
  if (!inv) return;
  if (inv->protected_depth >= kMaxProtectedDepth)
    luaL_error(L, "%s nested deeper than %d protected calls", what, kMaxProtectedDepth);
  ++inv->protected_depth;
}

void leave_protected(lua_State* L) {
  Invocation* inv = invocation_of(L);
  if (inv && inv->protected_depth > 0) --inv->protected_depth;
}

int finish_pcall(lua_State* L, int status, lua_KContext extra) {
  leave_protected(L);
  if (must_propagate(L)) return lua_error(L);
  if (status != LUA_OK && status != LUA_YIELD) {
    lua_pushboolean(L, 0);
    lua_pushvalue(L, -2);
    return 2;
  }
  return lua_gettop(L) - static_cast<int>(extra);
}

int safe_pcall(lua_State* L) {
  luaL_checkany(L, 1);
  enter_protected(L, "pcall");
  lua_pushboolean(L, 1);
  lua_insert(L, 1);
  int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, finish_pcall);
  return finish_pcall(L, status, 0);
}

// After the message handler ran (or failed): false and what it returned (or raised).
int finish_xpcall_handler(lua_State* L, int, lua_KContext) {
  leave_protected(L);
  if (must_propagate(L)) return lua_error(L);
  lua_pushboolean(L, 0);
  lua_rotate(L, -2, 1);
  return 2;
}

int finish_xpcall(lua_State* L, int status, lua_KContext extra) {
  leave_protected(L);
  if (must_propagate(L)) return lua_error(L);
  if (status == LUA_OK || status == LUA_YIELD) return lua_gettop(L) - static_cast<int>(extra);
  // The error has unwound: the handler runs now, as an ordinary call under the count
  // hook. (Lua's own xpcall runs it inside the raise, where a kill from the hook would
  // leave hooks off and a looping handler would never be stopped.)
  enter_protected(L, "xpcall");
  lua_pushvalue(L, 2);
  lua_rotate(L, -2, 1);
  int handled = lua_pcallk(L, 1, 1, 0, 0, finish_xpcall_handler);
  return finish_xpcall_handler(L, handled, 0);
}

int safe_xpcall(lua_State* L) {
  int n = lua_gettop(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  enter_protected(L, "xpcall");
  lua_pushboolean(L, 1);
  lua_pushvalue(L, 1);
  lua_rotate(L, 3, 2);  // f, handler, true, f, args...
  int status = lua_pcallk(L, n - 2, LUA_MULTRET, 0, 2, finish_xpcall);
  return finish_xpcall(L, status, 2);
}

// ---- loading, metatables, garbage collection -----------------------------------------

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
  charge_upfront(L, static_cast<double>(len) / 2.0 + 1.0, "load");  // compiling is one C call
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
  if (name.size() > 128 || !std::regex_match(name, re))
    return luaL_error(L, "require: '%s' is not a module name", name.substr(0, 128).c_str());
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
  charge_upfront(L, static_cast<double>(it->second.size()) / 2.0 + 1.0, "require");
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

// setmetatable without finalizers: Lua runs __gc with hooks off, so a looping finalizer
// could never be stopped.
int safe_setmetatable(lua_State* L) {
  int t = lua_type(L, 2);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
  if (t == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    if (lua_rawget(L, 2) != LUA_TNIL) return luaL_error(L, "setmetatable: __gc finalizers are not allowed in packages");
    lua_pop(L, 1);
  }
  if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL) return luaL_error(L, "cannot change a protected metatable");
  lua_settop(L, 2);
  lua_setmetatable(L, 1);
  return 1;
}

int restricted_collectgarbage(lua_State* L) {
  const char* opt = luaL_optstring(L, 1, "count");
  if (std::strcmp(opt, "count") != 0) return luaL_error(L, "collectgarbage: only \"count\" is available");
  lua_pushnumber(L, static_cast<lua_Number>(lua_gc(L, LUA_GCCOUNT, 0)) +
                        static_cast<lua_Number>(lua_gc(L, LUA_GCCOUNTB, 0)) / 1024.0);
  return 1;
}

// ---- library functions whose C loops are charged up front ------------------------------
// Each wrapper holds the original C function as upvalue 1, estimates the loop it is about
// to run, charges it (or refuses it) and then calls the original on the same stack.

int call_original(lua_State* L) {
  return lua_tocfunction(L, lua_upvalueindex(1))(L);
}

// A __len metamethod would let the length the original computes differ from the one we
// charged for; these functions take plain tables only.
void refuse_len_metamethod(lua_State* L, const char* what) {
  if (luaL_getmetafield(L, 1, "__len") != LUA_TNIL)
    luaL_error(L, "%s: tables with a __len metamethod are not supported in packages", what);
}

double length_of(lua_State* L) {
  return static_cast<double>(lua_rawlen(L, 1));
}

int bounded_rep(lua_State* L) {
  std::size_t len = 0, sep = 0;
  luaL_checklstring(L, 1, &len);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_optlstring(L, 3, "", &sep);
  if (n > 0) charge_upfront(L, static_cast<double>(n) * (1.0 + static_cast<double>(len + sep) / 64.0), "string.rep");
  return call_original(L);
}

// Functions that walk their string arguments byte by byte (upper, lower, reverse,
// utf8.len, tonumber, os.date): charged by those bytes, with the name as upvalue 2. Each
// call is then also a point where the deadline is checked, however few instructions the
// loop around it takes.
int bounded_by_bytes(lua_State* L) {
  double bytes = 0;
  int n = lua_gettop(L);
  for (int i = 1; i <= n; ++i) {
    if (lua_type(L, i) == LUA_TSTRING) bytes += static_cast<double>(lua_rawlen(L, i));
  }
  charge_upfront(L, bytes / 16.0 + 1.0, lua_tostring(L, lua_upvalueindex(2)));
  return call_original(L);
}

int bounded_format(lua_State* L) {
  double bytes = 0;
  int n = lua_gettop(L);
  for (int i = 1; i <= n; ++i) {
    if (lua_type(L, i) == LUA_TSTRING) bytes += static_cast<double>(lua_rawlen(L, i));
  }
  charge_upfront(L, bytes / 16.0 + n, "string.format");
  return call_original(L);
}

// Charges the slots first..last of a range the original is about to walk; `last_arg`
// absent means the table's raw length.
void charge_range(lua_State* L, int first_arg, int last_arg, bool default_last, const char* what) {
  lua_Integer first = default_last ? luaL_optinteger(L, first_arg, 1) : luaL_checkinteger(L, first_arg);
  lua_Integer last = default_last && lua_isnoneornil(L, last_arg) ? static_cast<lua_Integer>(lua_rawlen(L, 1))
                                                                  : luaL_checkinteger(L, last_arg);
  if (last >= first)
    charge_upfront(L, (static_cast<double>(last) - static_cast<double>(first) + 1.0) * kUnitsPerSlot, what);
}

int bounded_concat(lua_State* L) {
  refuse_len_metamethod(L, "table.concat");
  charge_range(L, 3, 4, true, "table.concat");
  return call_original(L);
}

int bounded_unpack(lua_State* L) {
  refuse_len_metamethod(L, "table.unpack");
  charge_range(L, 2, 3, true, "table.unpack");
  return call_original(L);
}

int bounded_move(lua_State* L) {
  charge_range(L, 2, 3, false, "table.move");
  return call_original(L);
}

int bounded_insert(lua_State* L) {
  refuse_len_metamethod(L, "table.insert");
  charge_upfront(L, (length_of(L) + 1.0) * kUnitsPerSlot, "table.insert");
  return call_original(L);
}

int bounded_remove(lua_State* L) {
  refuse_len_metamethod(L, "table.remove");
  charge_upfront(L, (length_of(L) + 1.0) * kUnitsPerSlot, "table.remove");
  return call_original(L);
}

int bounded_sort(lua_State* L) {
  refuse_len_metamethod(L, "table.sort");
  double n = length_of(L);
  charge_upfront(L, (n * std::log2(n + 2.0) + 1.0) * kUnitsPerSlot, "table.sort");
  return call_original(L);
}

// Replaces t[name] (t at `index`) by bounded_by_bytes holding the original and `label`.
void wrap_by_bytes(lua_State* L, int index, const char* name, const char* label) {
  index = lua_absindex(L, index);
  lua_getfield(L, index, name);
  lua_pushstring(L, label);
  lua_pushcclosure(L, bounded_by_bytes, 2);
  lua_setfield(L, index, name);
}

// Replaces t[name] (t at `index`) by `wrapper` holding the original as upvalue 1.
void wrap(lua_State* L, int index, const char* name, lua_CFunction wrapper) {
  lua_getfield(L, index, name);
  lua_pushcclosure(L, wrapper, 1);
  lua_setfield(L, index, name);
}

// ---- read-only proxies ------------------------------------------------------------------

// The iterator behind a proxy's pairs(): steps through the real table (its upvalue) and
// yields only keys and values, so the real, writable table never reaches the script.
int proxy_next(lua_State* L) {
  lua_settop(L, 2);  // (proxy, key)
  if (lua_next(L, lua_upvalueindex(1)) == 0) {
    lua_pushnil(L);
    return 1;
  }
  return 2;
}

int proxy_pairs(lua_State* L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushcclosure(L, proxy_next, 1);
  lua_pushvalue(L, 1);  // the state pairs() hands back is the proxy, not the real table
  lua_pushnil(L);
  return 3;
}

int proxy_len(lua_State* L) {
  lua_pushinteger(L, static_cast<lua_Integer>(lua_rawlen(L, lua_upvalueindex(1))));
  return 1;
}

void make_readonly_at(lua_State* L, bool deep, int depth) {
  int real = lua_gettop(L);
  if (deep && depth < kMaxJsonDepth) {
    luaL_checkstack(L, 4, "read-only proxy");
    lua_pushnil(L);
    while (lua_next(L, real) != 0) {
      if (lua_type(L, -1) == LUA_TTABLE) {
        make_readonly_at(L, true, depth + 1);
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

}  // namespace

int readonly_newindex(lua_State* L) {
  if (lua_type(L, 2) == LUA_TSTRING)
    return luaL_error(L, "'%s' is read-only (use a local variable)", lua_tostring(L, 2));
  return luaL_error(L, "this table is read-only");
}

void make_readonly(lua_State* L, bool deep) {
  make_readonly_at(L, deep, 0);
}

void install_hook(lua_State* thread) {
  lua_sethook(thread, count_hook, LUA_MASKCOUNT, kHookEvery);
}

void open_sandbox(lua_State* L, State* st, int g) {
  int top = lua_gettop(L);
  // Allow-listed libraries only: no io, debug, package, coroutine; a safe subset of os.
  luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
  luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
  luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);  // not global: copied selectively below
  int os_lib = lua_gettop(L);

  for (const char* name : {"dofile", "loadfile", "load", "rawset", "collectgarbage", "print", "require"}) {
    lua_pushnil(L);
    lua_setfield(L, g, name);
  }
  lua_getfield(L, g, "string");
  int string_lib = lua_gettop(L);
  lua_pushnil(L);
  lua_setfield(L, string_lib, "dump");  // bytecode out
  install_bounded_patterns(L, string_lib, &charge);
  wrap(L, string_lib, "rep", bounded_rep);
  wrap(L, string_lib, "format", bounded_format);
  for (const char* name : {"upper", "lower", "reverse"}) {
    std::string label = std::string("string.") + name;
    wrap_by_bytes(L, string_lib, name, label.c_str());
  }
  lua_getfield(L, g, "utf8");
  for (const char* name : {"len", "codepoint", "offset"}) {
    std::string label = std::string("utf8.") + name;
    wrap_by_bytes(L, -1, name, label.c_str());
  }
  lua_pop(L, 1);
  wrap_by_bytes(L, g, "tonumber", "tonumber");
  lua_getfield(L, g, "table");
  int table_lib = lua_gettop(L);
  wrap(L, table_lib, "concat", bounded_concat);
  wrap(L, table_lib, "unpack", bounded_unpack);
  wrap(L, table_lib, "move", bounded_move);
  wrap(L, table_lib, "insert", bounded_insert);
  wrap(L, table_lib, "remove", bounded_remove);
  wrap(L, table_lib, "sort", bounded_sort);
  lua_createtable(L, 0, 3);
  for (const char* name : {"time", "clock", "date"}) {
    lua_getfield(L, os_lib, name);
    lua_setfield(L, -2, name);
  }
  wrap_by_bytes(L, -1, "date", "os.date");
  lua_setfield(L, g, "os");
  lua_settop(L, top);

  const luaL_Reg base[] = {
      {"load", safe_load},     {"require", safe_require},           {"pcall", safe_pcall},
      {"xpcall", safe_xpcall}, {"setmetatable", safe_setmetatable}, {"collectgarbage", restricted_collectgarbage},
      {nullptr, nullptr}};
  lua_pushvalue(L, g);
  lua_pushlightuserdata(L, st);
  luaL_setfuncs(L, base, 1);
  lua_pop(L, 1);

  // The string metatable cannot be read or changed from scripts.
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 2);
}

}  // namespace fedmesh::skills::lua
