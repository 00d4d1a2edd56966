// Fuzz target: values crossing between JSON and Lua, as skill arguments, replies, state and
// config do (skills/lua/convert.cpp). The same bytes are read two ways:
//  1. as JSON text, parsed as bodies headed for Lua are (parse_json at kMaxJsonDepth),
//     checked with check_for_lua, pushed with push_json and converted back with to_json;
//  2. as a small program that builds a Lua value the way a script could (NaN, infinite and
//     integer-valued floats, strings that are not UTF-8, mixed and sparse keys, tables that
//     hold themselves or are shared, functions), which to_json must convert or refuse.
// Each input gets a fresh state under the runtime's capped allocator; every Lua call that
// can raise goes through protect(), as in the runtime.
#include <cstring>
#include <string>

#include "core/json.hpp"
#include "fuzz/fuzz_input.hpp"
#include "skills/lua/state.hpp"

namespace {

using namespace fedmesh;
using nlohmann::json;
namespace lua = skills::lua;

constexpr std::size_t kMemoryCap = 16 << 20;
constexpr int kMaxValues = 64;  // values the builder keeps on the stack

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool done() const { return pos_ >= in_.size(); }
  std::uint8_t byte() { return done() ? 0 : static_cast<std::uint8_t>(in_[pos_++]); }
  // Fills `out` with the next bytes, zeros past the end.
  void read(void* out, std::size_t n) {
    std::memset(out, 0, n);
    std::size_t k = std::min(n, in_.size() - std::min(pos_, in_.size()));
    if (k) std::memcpy(out, in_.data() + pos_, k);
    pos_ += k;
  }
  std::string_view take(std::size_t n) {
    std::size_t k = std::min(n, in_.size() - std::min(pos_, in_.size()));
    auto s = in_.substr(pos_, k);
    pos_ += k;
    return s;
  }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

int noop(lua_State*) {
  return 0;
}

// A key rawset refuses (nil, NaN).
bool bad_key(lua_State* L, int idx) {
  if (lua_isnil(L, idx)) return true;
  if (lua_type(L, idx) != LUA_TNUMBER || lua_isinteger(L, idx)) return false;
  double d = lua_tonumber(L, idx);
  return d != d;
}

// Runs the program in `in` over a stack that starts with one nil above `base`; the value
// on top at the end is what gets converted. Raises (memory) like any Lua call.
void build(lua_State* L, Reader& in) {
  luaL_checkstack(L, kMaxValues + 8, "fuzz");
  int base = lua_gettop(L);
  lua_pushnil(L);
  while (!in.done()) {
    int top = lua_gettop(L) - base;
    bool room = top < kMaxValues;
    switch (in.byte() % 12) {
      case 0:
        if (room) lua_pushnil(L);
        break;
      case 1:
        if (room) lua_pushboolean(L, in.byte() & 1);
        break;
      case 2: {
        lua_Integer i;
        in.read(&i, sizeof i);
        if (room) lua_pushinteger(L, i);
        break;
      }
      case 3: {
        double d;  // any bits: NaN, infinities, -0, denormals, integer-valued floats
        in.read(&d, sizeof d);
        if (room) lua_pushnumber(L, d);
        break;
      }
      case 4: {
        auto s = in.take(in.byte());
        if (room) lua_pushlstring(L, s.data(), s.size());
        break;
      }
      case 5:
        if (room) lua_createtable(L, 0, 0);
        break;
      case 6:  // t[k] = v, with t k v on top; pops k and v
        if (top >= 3 && lua_istable(L, -3) && !bad_key(L, -2)) lua_rawset(L, -3);
        break;
      case 7:  // t[#t + 1] = v, with t v on top; pops v
        if (top >= 2 && lua_istable(L, -2)) lua_rawseti(L, -2, static_cast<lua_Integer>(lua_rawlen(L, -2)) + 1);
        break;
      case 8: {  // t[i] = v for a small i (sparse and zero keys), with t v on top; pops v
        lua_Integer i = static_cast<std::int8_t>(in.byte());
        if (top >= 2 && lua_istable(L, -2)) lua_rawseti(L, -2, i);
        break;
      }
      case 9: {  // a copy of a value below (shared tables; a table set into itself is a cycle)
        int depth = 1 + in.byte() % top;
        if (room) lua_pushvalue(L, -depth);
        break;
      }
      case 10:
        if (top > 1) lua_pop(L, 1);
        break;
      default:
        if (room) {
          if (in.byte() & 1) {
            lua_pushcfunction(L, noop);
          } else {
            lua_pushlightuserdata(L, L);
          }
        }
        break;
    }
  }
}

void round_trip_json(lua_State* L, std::string_view text) {
  auto value = parse_json(text);
  if (!value) return;
  if (!lua::check_for_lua(*value, kMemoryCap, "fuzz")) return;
  if (!lua::protect(L, "push", [&](lua_State* S) { lua::push_json(S, *value); })) return;
  (void)lua::protect(L, "back", 1, [&](lua_State* S) {
    std::string err;
    auto back = lua::to_json(S, 1, err);
    if (err.empty()) (void)dump_json(back);
  });
  lua_settop(L, 0);
}

void convert_built(lua_State* L, std::string_view program) {
  (void)lua::protect(L, "build", [&](lua_State* S) {
    Reader in(program);
    build(S, in);
    std::string err;
    auto value = lua::to_json(S, -1, err);
    if (!err.empty()) return;
    (void)dump_json(value);
    if (lua::check_for_lua(value, kMemoryCap, "fuzz")) lua::push_json(S, value);
  });
  lua_settop(L, 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > fuzz::kMaxInput) return 0;
  auto text = fuzz::as_text(data, size);
  lua::AllocState alloc;
  alloc.limit = kMemoryCap;
  lua_State* L = lua_newstate(lua::limited_alloc, &alloc);
  if (!L) return 0;
  *static_cast<lua::Invocation**>(lua_getextraspace(L)) = nullptr;  // no invocation: no deadline
  round_trip_json(L, text);
  convert_built(L, text);
  lua_close(L);
  return 0;
}
