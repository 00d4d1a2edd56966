// Private to skills/lua/: the per-package Lua state, how the sandbox, the bindings and
// the runtime find it from a lua_State, the budget checks they share, and protect(),
// through which the host makes every Lua API call that can raise, so that no Lua error
// ever reaches the panic handler. Nothing outside skills/lua/ includes this header.
//
// Lua is Debian's C++ build (liblua5.4-c++): a Lua error is a C++ exception, so C++
// objects on the way out are destroyed. Our C functions still never let a C++ exception
// of their own escape into Lua (call_guarded turns it into a Lua error).
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <lua.hpp>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "skills/lua/runtime.hpp"

namespace fedmesh::skills {

namespace lua {

constexpr int kHookEvery = 1000;  // VM instructions between budget/deadline checks

struct AllocState {
  std::size_t used = 0;
  std::size_t limit = 0;
  bool exceeded = false;
  // The invocation thread running now (null between steps). A large allocation (a long
  // string made by `..`, which nothing charges) makes its next instruction check the
  // limits, so a loop of them cannot run far past its deadline.
  lua_State* running = nullptr;
};

void* limited_alloc(void* ud, void* ptr, std::size_t osize, std::size_t nsize);

}  // namespace lua

struct LuaRuntime::State {
  lua_State* L = nullptr;
  lua::AllocState alloc;
  RuntimeHost* host = nullptr;
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
    if (L) lua_close(L);  // no finalizers run: the sandbox refuses __gc
  }
};

namespace lua {

using Invocation = LuaRuntime::Invocation;
using State = LuaRuntime::State;

// The package state of a binding (upvalue 1) and the invocation running on thread L
// (null on the main state, which never runs scripts).
inline State* state_of(lua_State* L) {
  return static_cast<State*>(lua_touserdata(L, lua_upvalueindex(1)));
}
inline Invocation* invocation_of(lua_State* L) {
  return *static_cast<Invocation**>(lua_getextraspace(L));
}

// Raises (does not return) when the invocation on L is over its instruction budget,
// past its deadline or halted by the host. Such a kill cannot be caught by pcall.
void enforce_limits(lua_State* L, Invocation& inv);
// Adds `units` of work (about one VM instruction each) to the running invocation and
// enforces its limits. Library functions that loop in C call this as they go.
void charge(lua_State* L, std::uint64_t units);
// For a C loop about to run `units` of work at once: a catchable error, before any work
// is done, when it would exceed what is left of the budget or run past the deadline.
void charge_upfront(lua_State* L, double units, const char* what);
// True when the running invocation must not be allowed to catch its own failure.
bool must_propagate(lua_State* L);

// The error value at `idx` as text, without calling anything that can raise.
std::string error_text(lua_State* L, int idx);

template <class F>
int protected_trampoline(lua_State* L) {
  auto* fn = static_cast<F*>(lua_touserdata(L, 1));
  lua_remove(L, 1);
  std::string failure;
  try {
    (*fn)(L);
    return lua_gettop(L);
  } catch (const std::exception& e) {  // ours (allocation, JSON); Lua's errors are not std::exception
    failure = e.what();
  }
  lua_pushlstring(L, failure.data(), failure.size());
  return lua_error(L);
}

// Runs fn(L) as a protected call. The top `nargs` values are moved into the call and
// are at indices 1..nargs there. A Lua error fn raises (memory cap, stack, a metamethod)
// comes back as an Error whose message starts with `what` (when not empty); values fn pushed stay on the
// stack on success, nothing (not even the arguments) is left on failure.
template <class F>
Status protect(lua_State* L, const std::string& what, int nargs, F&& fn) {
  using Fn = std::remove_reference_t<F>;
  if (!lua_checkstack(L, 3)) return make_error(ErrorCode::resource_exhausted, what + ": the Lua stack is full");
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, &protected_trampoline<Fn>);
  lua_pushlightuserdata(L, const_cast<void*>(static_cast<const void*>(&fn)));
  lua_rotate(L, base + 1, 2);  // function and fn below the arguments
  int status = lua_pcall(L, nargs + 1, LUA_MULTRET, 0);
  if (status == LUA_OK) return {};
  std::string message = error_text(L, -1);
  lua_settop(L, base);
  return make_error(status == LUA_ERRMEM ? ErrorCode::resource_exhausted : ErrorCode::internal,
                    what.empty() ? message : what + ": " + message);
}
template <class F>
Status protect(lua_State* L, const std::string& what, F&& fn) {
  return protect(L, what, 0, std::forward<F>(fn));
}

// C functions exposed to scripts run their body through this: a C++ exception becomes a
// Lua error instead of unwinding through the interpreter.
template <int (*Body)(lua_State*)>
int call_guarded(lua_State* L) {
  std::string failure;
  try {
    return Body(L);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  return luaL_error(L, "%s", failure.c_str());
}

// ---- JSON <-> Lua (convert.cpp) ----------------------------------------------------

// Checks that `value` may cross into a Lua state capped at `memory_cap` bytes: nesting
// at most kMaxJsonDepth, and an estimated size that fits the cap. bad_json / resource_exhausted.
Status check_for_lua(const nlohmann::json& value, std::size_t memory_cap, const std::string& what);
// Pushes `value` (raises on a full stack or memory cap: call inside Lua or protect()).
void push_json(lua_State* L, const nlohmann::json& value, int depth = 0);
// Converts the value at idx; on failure returns null and sets `err`. Bounded in depth,
// in the number of values (shared tables are counted each time they appear) and by the
// running invocation's deadline. May raise (memory): call inside Lua or protect().
nlohmann::json to_json(lua_State* L, int idx, std::string& err);
// to_json that raises the failure as a Lua error.
nlohmann::json check_json(lua_State* L, int idx);

// ---- set-up (sandbox.cpp, bindings.cpp) ----------------------------------------------

// Opens the allow-listed libraries with their bounded replacements, the safe base
// functions and the count hook helpers into the global table at `globals`.
void open_sandbox(lua_State* L, State* st, int globals);
// The package API: skill, on, every, env, state, fed, log, config.
void open_api(lua_State* L, State* st, int globals, const nlohmann::json& config);
// Replaces the table at the top of the stack by a read-only proxy (deep: nested tables too).
void make_readonly(lua_State* L, bool deep);
// Installs the count hook that enforces budget and deadline on an invocation's thread.
void install_hook(lua_State* thread);
// __newindex of read-only tables: raises naming the key.
int readonly_newindex(lua_State* L);

}  // namespace lua
}  // namespace fedmesh::skills
