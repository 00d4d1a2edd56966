#include "skills/lua/bounded_patterns.hpp"

#include <cctype>
#include <cstddef>
#include <cstring>
#include <string_view>

#include <lua.hpp>

namespace fedmesh::skills {

namespace {

constexpr int kMaxCaptures = 32;  // LUA_MAXCAPTURES of the stock library
constexpr int kMaxDepth = 200;    // MAXCCALLS: nested matcher calls
constexpr std::ptrdiff_t kCapUnfinished = -1;
constexpr std::ptrdiff_t kCapPosition = -2;
constexpr char kEsc = '%';
constexpr std::string_view kSpecials = "^$*+?.([%-";
constexpr std::uint64_t kChargeEvery = 1024;  // units accumulated between callbacks
constexpr std::uint64_t kCallCost = 1;        // charged on entry to every call
constexpr std::size_t kBytesPerUnit = 16;     // bulk copies and compares

int uchar(char c) {
  return static_cast<unsigned char>(c);
}

// Accumulates work units and hands them to the budget callback in batches.
struct Meter {
  lua_State* L;
  ChargeFn charge;
  std::uint64_t pending;

  void tick(std::uint64_t units = 1) {
    pending += units;
    if (pending >= kChargeEvery) flush();
  }
  void flush() {
    std::uint64_t units = pending;
    pending = 0;
    if (units != 0) charge(L, units);
  }
};

// The charge callback of the running replacement function (its first upvalue).
ChargeFn charge_of(lua_State* L) {
  return *static_cast<ChargeFn*>(lua_touserdata(L, lua_upvalueindex(1)));
}

bool match_class(int c, int cl) {
  bool res;
  switch (std::tolower(cl)) {
    case 'a': res = std::isalpha(c); break;
    case 'c': res = std::iscntrl(c); break;
    case 'd': res = std::isdigit(c); break;
    case 'g': res = std::isgraph(c); break;
    case 'l': res = std::islower(c); break;
    case 'p': res = std::ispunct(c); break;
    case 's': res = std::isspace(c); break;
    case 'u': res = std::isupper(c); break;
    case 'w': res = std::isalnum(c); break;
    case 'x': res = std::isxdigit(c); break;
    case 'z': res = c == 0; break;  // deprecated, but still accepted by 5.4
    default: return cl == c;
  }
  return std::isupper(cl) ? !res : res;
}

struct Capture {
  const char* init;
  std::ptrdiff_t len;  // or kCapUnfinished / kCapPosition
};

// Matcher state for one subject and pattern. Trivially destructible: gmatch keeps one
// inside a Lua userdata. Strings are Lua strings, so *src_end and *p_end read a '\0'.
struct Matcher {
  Meter meter;
  const char* src_init;
  const char* src_end;
  const char* p_end;
  int level;
  int depth;
  Capture capture[kMaxCaptures];

  // Restores the depth on every exit from match(), including an unwinding error.
  struct DepthGuard {
    int& depth;
    ~DepthGuard() { ++depth; }
  };

  void prepare(lua_State* L, ChargeFn charge, const char* s, std::size_t ls, const char* p, std::size_t lp) {
    meter = Meter{L, charge, 0};
    src_init = s;
    src_end = s + ls;
    p_end = p + lp;
    level = 0;
    depth = kMaxDepth;
  }
  // Before each match attempt (one start position tried).
  void reset() {
    level = 0;
    depth = kMaxDepth;
    meter.tick();
  }
  lua_State* state() const { return meter.L; }

  // Where the single-character class at p ends (its optional quantifier).
  const char* class_end(const char* p) {
    const char* start = p;
    switch (*p++) {
      case kEsc:
        if (p == p_end) luaL_error(state(), "malformed pattern (ends with '%%')");
        return p + 1;
      case '[':
        if (*p == '^') p++;
        do {  // the first character is never the closing ']'
          if (p == p_end) luaL_error(state(), "malformed pattern (missing ']')");
          if (*p++ == kEsc && p < p_end) p++;
        } while (*p != ']');
        meter.tick(static_cast<std::uint64_t>(p - start) / kBytesPerUnit);
        return p + 1;
      default: return p;
    }
  }

  // p points at '[', ec at the closing ']'.
  bool match_bracket(int c, const char* p, const char* ec) {
    bool found = true;
    if (p[1] == '^') {
      found = false;
      p++;
    }
    while (++p < ec) {
      meter.tick();
      if (*p == kEsc) {
        p++;
        if (match_class(c, uchar(*p))) return found;
      } else if (p[1] == '-' && p + 2 < ec) {
        p += 2;
        if (uchar(p[-2]) <= c && c <= uchar(*p)) return found;
      } else if (uchar(*p) == c) {
        return found;
      }
    }
    return !found;
  }

  bool single_match(const char* s, const char* p, const char* ep) {
    meter.tick();
    if (s >= src_end) return false;
    int c = uchar(*s);
    switch (*p) {
      case '.': return true;
      case kEsc: return match_class(c, uchar(p[1]));
      case '[': return match_bracket(c, p, ep - 1);
      default: return uchar(*p) == c;
    }
  }

  const char* match_balance(const char* s, const char* p) {
    if (p >= p_end - 1) luaL_error(state(), "malformed pattern (missing arguments to '%%b')");
    if (*s != *p) return nullptr;
    int open_count = 1;
    while (++s < src_end) {
      meter.tick();
      if (*s == p[1]) {
        if (--open_count == 0) return s + 1;
      } else if (*s == p[0]) {
        open_count++;
      }
    }
    return nullptr;
  }

  const char* max_expand(const char* s, const char* p, const char* ep) {
    std::ptrdiff_t i = 0;
    while (single_match(s + i, p, ep)) i++;
    for (; i >= 0; i--) {  // longest first, giving back one repetition at a time
      meter.tick();
      if (const char* res = match(s + i, ep + 1)) return res;
    }
    return nullptr;
  }

  const char* min_expand(const char* s, const char* p, const char* ep) {
    for (;; s++) {
      if (const char* res = match(s, ep + 1)) return res;
      if (!single_match(s, p, ep)) return nullptr;
    }
  }

  const char* start_capture(const char* s, const char* p, std::ptrdiff_t what) {
    if (level >= kMaxCaptures) luaL_error(state(), "too many captures");
    capture[level++] = Capture{s, what};
    const char* res = match(s, p);
    if (res == nullptr) level--;
    return res;
  }

  const char* end_capture(const char* s, const char* p) {
    int l = level - 1;
    while (l >= 0 && capture[l].len != kCapUnfinished) l--;
    if (l < 0) luaL_error(state(), "invalid pattern capture");
    capture[l].len = s - capture[l].init;
    const char* res = match(s, p);
    if (res == nullptr) capture[l].len = kCapUnfinished;
    return res;
  }

  // Back-reference %1..%9 (digit d). A position capture has no text and never matches.
  const char* match_capture(const char* s, int d) {
    int l = d - '1';
    if (l < 0 || l >= level || capture[l].len == kCapUnfinished) {
      luaL_error(state(), "invalid capture index %%%d", l + 1);
    }
    if (capture[l].len < 0 || src_end - s < capture[l].len) return nullptr;
    auto len = static_cast<std::size_t>(capture[l].len);
    meter.tick(len / kBytesPerUnit);
    return std::memcmp(capture[l].init, s, len) == 0 ? s + len : nullptr;
  }

  // Matches pattern [p, p_end) at s; returns the end of the match or nullptr. Tail calls
  // of the recursive formulation become iterations of the loop.
  const char* match(const char* s, const char* p) {
    if (depth == 0) luaL_error(state(), "pattern too complex");
    depth--;
    DepthGuard guard{depth};
    meter.tick();
    while (p != p_end) {
      meter.tick();
      switch (*p) {
        case '(':
          if (p[1] == ')') return start_capture(s, p + 2, kCapPosition);
          return start_capture(s, p + 1, kCapUnfinished);
        case ')': return end_capture(s, p + 1);
        case '$':
          if (p + 1 == p_end) return s == src_end ? s : nullptr;
          break;  // an ordinary character
        case kEsc:
          if (p[1] == 'b') {
            s = match_balance(s, p + 2);
            if (s == nullptr) return nullptr;
            p += 4;
            continue;
          }
          if (p[1] == 'f') {
            p += 2;
            if (*p != '[') luaL_error(state(), "missing '[' after '%%f' in pattern");
            const char* ep = class_end(p);
            int previous = s == src_init ? 0 : uchar(s[-1]);
            if (match_bracket(previous, p, ep - 1) || !match_bracket(uchar(*s), p, ep - 1)) return nullptr;
            p = ep;
            continue;
          }
          if (std::isdigit(uchar(p[1]))) {
            s = match_capture(s, uchar(p[1]));
            if (s == nullptr) return nullptr;
            p += 2;
            continue;
          }
          break;  // a class such as %a or an escaped character
        default: break;
      }
      // A single-character class with an optional quantifier.
      const char* ep = class_end(p);
      if (!single_match(s, p, ep)) {
        if (*ep == '*' || *ep == '?' || *ep == '-') {  // zero repetitions are fine
          p = ep + 1;
          continue;
        }
        return nullptr;
      }
      switch (*ep) {
        case '?':
          if (const char* res = match(s + 1, ep + 1)) return res;
          p = ep + 1;
          continue;
        case '+': return max_expand(s + 1, p, ep);
        case '*': return max_expand(s, p, ep);
        case '-': return min_expand(s, p, ep);
        default:
          s++;
          p = ep;
          continue;
      }
    }
    return s;
  }

  // Returns the length of capture i (kCapPosition after pushing the position); capture 0
  // without any capture in the pattern is the whole match [s, e).
  std::ptrdiff_t get_capture(int i, const char* s, const char* e, const char** cap) {
    if (i >= level) {
      if (i != 0) luaL_error(state(), "invalid capture index %%%d", i + 1);
      *cap = s;
      return e - s;
    }
    std::ptrdiff_t len = capture[i].len;
    *cap = capture[i].init;
    if (len == kCapUnfinished) {
      luaL_error(state(), "unfinished capture");
    } else if (len == kCapPosition) {
      lua_pushinteger(state(), (capture[i].init - src_init) + 1);
    }
    return len;
  }

  void push_capture(int i, const char* s, const char* e) {
    const char* cap;
    std::ptrdiff_t len = get_capture(i, s, e, &cap);
    if (len != kCapPosition) lua_pushlstring(state(), cap, static_cast<std::size_t>(len));
  }

  // Pushes all captures, or the whole match when there are none and s is given.
  int push_captures(const char* s, const char* e) {
    int count = (level == 0 && s != nullptr) ? 1 : level;
    luaL_checkstack(state(), count, "too many captures");
    for (int i = 0; i < count; i++) push_capture(i, s, e);
    return count;
  }
};

// Converts a 1-based, possibly negative start index into a 1-based position (may be > len + 1).
std::size_t start_position(lua_Integer pos, std::size_t len) {
  if (pos > 0) return static_cast<std::size_t>(pos);
  if (pos == 0) return 1;
  if (pos < -static_cast<lua_Integer>(len)) return 1;
  return len + static_cast<std::size_t>(pos) + 1;
}

bool no_specials(const char* p, std::size_t lp) {
  return std::string_view(p, lp).find_first_of(kSpecials) == std::string_view::npos;
}

// First occurrence of [p, p + lp) in [s, s + ls), or nullptr.
const char* plain_find(const char* s, std::size_t ls, const char* p, std::size_t lp, Meter& meter) {
  if (lp == 0) return s;
  if (lp > ls) return nullptr;
  const char* at = s;
  const char* last = s + (ls - lp);  // last start position that still fits
  while (at <= last) {
    const auto* hit = static_cast<const char*>(std::memchr(at, *p, static_cast<std::size_t>(last - at) + 1));
    if (hit == nullptr) {
      meter.tick(static_cast<std::uint64_t>(last - at) + 1);
      return nullptr;
    }
    std::size_t k = 1;
    while (k < lp && hit[k] == p[k]) k++;
    meter.tick(static_cast<std::uint64_t>(hit - at) + k);
    if (k == lp) return hit;
    at = hit + 1;
  }
  return nullptr;
}

// The arguments find, match and gmatch share: subject, pattern and a 1-based init
// (converted to a 0-based offset), after charging the call itself.
struct Arguments {
  const char* s;
  std::size_t ls;
  const char* p;
  std::size_t lp;
  std::size_t init;
};

Arguments subject_and_pattern(lua_State* L, ChargeFn charge) {
  charge(L, kCallCost);
  Arguments a{};
  a.s = luaL_checklstring(L, 1, &a.ls);
  a.p = luaL_checklstring(L, 2, &a.lp);
  a.init = start_position(luaL_optinteger(L, 3, 1), a.ls) - 1;
  return a;
}

int find_aux(lua_State* L, bool find) {
  ChargeFn charge = charge_of(L);
  auto [s, ls, p, lp, init] = subject_and_pattern(L, charge);
  if (init > ls) {  // starts after the end: nothing to find
    luaL_pushfail(L);
    return 1;
  }
  if (find && (lua_toboolean(L, 4) || no_specials(p, lp))) {
    Meter meter{L, charge, 1 + lp / kBytesPerUnit};
    const char* hit = plain_find(s + init, ls - init, p, lp, meter);
    meter.flush();
    if (hit != nullptr) {
      lua_pushinteger(L, (hit - s) + 1);
      lua_pushinteger(L, static_cast<lua_Integer>(hit - s) + static_cast<lua_Integer>(lp));
      return 2;
    }
  } else {
    const bool anchor = *p == '^';
    if (anchor) {
      p++;
      lp--;
    }
    Matcher ms;
    ms.prepare(L, charge, s, ls, p, lp);
    const char* s1 = s + init;
    do {
      ms.reset();
      if (const char* res = ms.match(s1, p)) {
        ms.meter.flush();
        if (!find) return ms.push_captures(s1, res);
        lua_pushinteger(L, (s1 - s) + 1);
        lua_pushinteger(L, res - s);
        return ms.push_captures(nullptr, nullptr) + 2;
      }
    } while (s1++ < ms.src_end && !anchor);
    ms.meter.flush();
  }
  luaL_pushfail(L);
  return 1;
}

struct GMatchState {
  const char* src;         // where the next search starts
  const char* p;           // pattern
  const char* last_match;  // end of the previous match, to skip an empty match there
  Matcher ms;
};

// Upvalues: subject, pattern (kept alive), GMatchState.
int gmatch_step(lua_State* L) {
  auto* gm = static_cast<GMatchState*>(lua_touserdata(L, lua_upvalueindex(3)));
  Matcher& ms = gm->ms;
  ms.meter.L = L;  // the iterator may run in another coroutine than gmatch did
  ms.meter.pending = 0;
  ms.meter.charge(L, kCallCost);
  for (const char* src = gm->src; src <= ms.src_end; src++) {
    ms.reset();
    const char* e = ms.match(src, gm->p);
    if (e != nullptr && e != gm->last_match) {
      gm->src = gm->last_match = e;
      ms.meter.flush();
      return ms.push_captures(src, e);
    }
  }
  ms.meter.flush();
  return 0;
}

int str_gmatch(lua_State* L) {
  ChargeFn charge = charge_of(L);
  auto [s, ls, p, lp, init] = subject_and_pattern(L, charge);
  lua_settop(L, 2);
  auto* gm = static_cast<GMatchState*>(lua_newuserdatauv(L, sizeof(GMatchState), 0));
  if (init > ls) init = ls + 1;  // past the end: the iterator finds nothing
  gm->ms.prepare(L, charge, s, ls, p, lp);
  gm->src = s + init;
  gm->p = p;
  gm->last_match = nullptr;
  lua_pushcclosure(L, gmatch_step, 3);
  return 1;
}

// Appends the replacement string (argument 3) with its %0-%9 and %% escapes expanded.
void add_string(Matcher& ms, luaL_Buffer* b, const char* s, const char* e) {
  lua_State* L = ms.state();
  std::size_t l = 0;
  const char* news = lua_tolstring(L, 3, &l);
  ms.meter.tick(1 + l / kBytesPerUnit);
  const char* p;
  while ((p = static_cast<const char*>(std::memchr(news, kEsc, l))) != nullptr) {
    luaL_addlstring(b, news, static_cast<std::size_t>(p - news));
    p++;
    if (*p == kEsc) {
      luaL_addchar(b, *p);
    } else if (*p == '0') {
      ms.meter.tick(static_cast<std::size_t>(e - s) / kBytesPerUnit);
      luaL_addlstring(b, s, static_cast<std::size_t>(e - s));
    } else if (std::isdigit(uchar(*p))) {
      const char* cap;
      std::ptrdiff_t len = ms.get_capture(*p - '1', s, e, &cap);
      if (len == kCapPosition) {
        luaL_addvalue(b);
      } else {
        ms.meter.tick(static_cast<std::size_t>(len) / kBytesPerUnit);
        luaL_addlstring(b, cap, static_cast<std::size_t>(len));
      }
    } else {
      luaL_error(L, "invalid use of '%c' in replacement string", kEsc);
    }
    l -= static_cast<std::size_t>(p + 1 - news);
    news = p + 1;
  }
  luaL_addlstring(b, news, l);
}

// Appends the replacement of match [s, e); returns whether the text changed.
bool add_value(Matcher& ms, luaL_Buffer* b, const char* s, const char* e, int type) {
  lua_State* L = ms.state();
  switch (type) {
    case LUA_TFUNCTION: {
      lua_pushvalue(L, 3);
      int n = ms.push_captures(s, e);
      lua_call(L, n, 1);
      break;
    }
    case LUA_TTABLE:
      ms.push_capture(0, s, e);
      lua_gettable(L, 3);
      break;
    default:  // string or number
      add_string(ms, b, s, e);
      return true;
  }
  if (!lua_toboolean(L, -1)) {  // nil or false: keep the original text
    lua_pop(L, 1);
    luaL_addlstring(b, s, static_cast<std::size_t>(e - s));
    return false;
  }
  if (!lua_isstring(L, -1)) luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  luaL_addvalue(b);
  return true;
}

int str_gsub(lua_State* L) {
  ChargeFn charge = charge_of(L);
  charge(L, kCallCost);
  std::size_t srcl = 0;
  std::size_t lp = 0;
  const char* src = luaL_checklstring(L, 1, &srcl);
  const char* p = luaL_checklstring(L, 2, &lp);
  const char* last_match = nullptr;
  const int type = lua_type(L, 3);
  const lua_Integer max_s = luaL_optinteger(L, 4, static_cast<lua_Integer>(srcl) + 1);
  const bool anchor = *p == '^';
  lua_Integer n = 0;
  bool changed = false;
  luaL_argexpected(L, type == LUA_TNUMBER || type == LUA_TSTRING || type == LUA_TFUNCTION || type == LUA_TTABLE, 3,
                   "string/function/table");
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (anchor) {
    p++;
    lp--;
  }
  Matcher ms;
  ms.prepare(L, charge, src, srcl, p, lp);
  while (n < max_s) {
    ms.reset();
    const char* e = ms.match(src, p);
    if (e != nullptr && e != last_match) {
      n++;
      changed = add_value(ms, &b, src, e, type) || changed;
      src = last_match = e;
    } else if (src < ms.src_end) {
      luaL_addchar(&b, *src++);
    } else {
      break;
    }
    if (anchor) break;
  }
  ms.meter.tick(static_cast<std::size_t>(ms.src_end - src) / kBytesPerUnit);
  ms.meter.flush();
  if (!changed) {
    lua_pushvalue(L, 1);
  } else {
    luaL_addlstring(&b, src, static_cast<std::size_t>(ms.src_end - src));
    luaL_pushresult(&b);
  }
  lua_pushinteger(L, n);
  return 2;
}

}  // namespace

void install_bounded_patterns(lua_State* L, int index, ChargeFn charge) {
  static constexpr luaL_Reg kFunctions[] = {{"find", [](lua_State* state) { return find_aux(state, true); }},
                                            {"match", [](lua_State* state) { return find_aux(state, false); }},
                                            {"gmatch", str_gmatch},
                                            {"gsub", str_gsub}};
  index = lua_absindex(L, index);
  auto* slot = static_cast<ChargeFn*>(lua_newuserdatauv(L, sizeof(ChargeFn), 0));
  *slot = charge;
  for (const luaL_Reg& fn : kFunctions) {
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, fn.func, 1);
    lua_setfield(L, index, fn.name);
  }
  lua_pop(L, 1);
}

}  // namespace fedmesh::skills
