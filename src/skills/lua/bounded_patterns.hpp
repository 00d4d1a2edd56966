// Bounded Lua patterns: string.find/match/gmatch/gsub with Lua 5.4.4 semantics that charge
// their matching work to a budget callback, so a pathological pattern cannot outrun a deadline.
// No global state (each installed function holds its callback); thread-safe per lua_State.
#pragma once

#include <cstdint>

struct lua_State;

namespace fedmesh::skills {

// Called by the replacement functions with a count of work units (about one per matcher
// step; call it every ~1024 steps, and once at the start of every call with a small cost);
// it raises a Lua error (does not return) when the caller's budget or deadline is gone.
// It must leave the Lua stack as it found it.
using ChargeFn = void (*)(lua_State* L, std::uint64_t units);

// Replaces find, match, gmatch and gsub in the table at stack index `index` (the string
// library table, before it is made read-only) with versions that charge `charge`.
void install_bounded_patterns(lua_State* L, int index, ChargeFn charge);

}  // namespace fedmesh::skills
