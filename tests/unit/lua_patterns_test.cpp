// Bounded string.find/match/gmatch/gsub: identical results and errors to the stock Lua
// 5.4 functions (a hand-written corpus plus seeded random patterns, run side by side in
// two states), work charged in proportion to real work, and budgets that stop them.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <lua.hpp>

#include "skills/lua/bounded_patterns.hpp"

namespace fedmesh::skills {
namespace {

std::uint64_t g_units = 0;
std::uint64_t g_charges = 0;
constexpr std::uint64_t kBudget = 1'000'000;

void count_units(lua_State*, std::uint64_t units) {
  g_units += units;
  g_charges++;
}

void budget_units(lua_State* L, std::uint64_t units) {
  g_units += units;
  if (g_units > kBudget) luaL_error(L, "budget");
}

// Defined in both states: G collects every result of a gmatch iteration; ALL is every byte.
constexpr const char* kPrelude = R"lua(
  function G(...)
    local it = string.gmatch(...)
    local out = {}
    for _ = 1, 300 do
      local r = table.pack(it())
      if r[1] == nil then break end
      out[#out + 1] = r
    end
    return out
  end
  local bytes = {}
  for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
  ALL = table.concat(bytes)
)lua";

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 32 || c >= 127) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\%03u", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string describe(lua_State* L, int idx, int depth = 0) {
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
    case LUA_TNIL: return "nil";
    case LUA_TBOOLEAN: return lua_toboolean(L, idx) ? "true" : "false";
    case LUA_TNUMBER: {
      if (lua_isinteger(L, idx)) return "i:" + std::to_string(lua_tointeger(L, idx));
      char buf[64];
      std::snprintf(buf, sizeof buf, "f:%.17g", lua_tonumber(L, idx));
      return buf;
    }
    case LUA_TSTRING: {
      std::size_t len = 0;
      const char* s = lua_tolstring(L, idx, &len);
      return "s:" + quote(std::string(s, len));
    }
    case LUA_TTABLE: {
      if (depth > 3) return "{...}";
      lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, idx));
      if (lua_getfield(L, idx, "n") == LUA_TNUMBER) n = lua_tointeger(L, -1);
      lua_pop(L, 1);
      std::string out = "{";
      for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        out += describe(L, -1, depth + 1) + ",";
        lua_pop(L, 1);
      }
      return out + "}";
    }
    default: return luaL_typename(L, idx);
  }
}

// Evaluates `return <expr>` and describes every result, or the error.
std::string run(lua_State* L, const std::string& expr) {
  const int base = lua_gettop(L);
  const std::string code = "return " + expr;
  if (luaL_loadbuffer(L, code.data(), code.size(), "=case") != LUA_OK) {
    std::string out = "LOAD " + describe(L, -1);
    lua_settop(L, base);
    return out;
  }
  std::string out = lua_pcall(L, 0, LUA_MULTRET, 0) == LUA_OK ? "ok" : "error";
  for (int i = base + 1; i <= lua_gettop(L); i++) out += " " + describe(L, i);
  lua_settop(L, base);
  return out;
}

lua_State* new_state(ChargeFn charge) {
  lua_State* L = luaL_newstate();
  luaL_openlibs(L);
  if (charge != nullptr) {
    lua_getglobal(L, "string");
    install_bounded_patterns(L, -1, charge);
    lua_pop(L, 1);
  }
  EXPECT_EQ(luaL_dostring(L, kPrelude), LUA_OK);
  return L;
}

class LuaPatterns : public ::testing::Test {
 protected:
  void SetUp() override {
    ref_ = new_state(nullptr);
    bounded_ = new_state(count_units);
    g_units = 0;
    g_charges = 0;
  }
  void TearDown() override {
    lua_close(ref_);
    lua_close(bounded_);
  }

  // Runs each case in both states; returns the number that agree.
  int compare(const std::vector<std::string>& cases) {
    int agreed = 0;
    for (const std::string& c : cases) {
      std::string want = run(ref_, c);
      std::string got = run(bounded_, c);
      EXPECT_NE(want.rfind("LOAD", 0), 0U) << c << " -> " << want;
      EXPECT_EQ(got, want) << "case: " << c;
      if (got == want) agreed++;
    }
    return agreed;
  }

  lua_State* ref_ = nullptr;
  lua_State* bounded_ = nullptr;
};

const std::vector<std::string> kCorpus = {
    // find: plain and pattern paths, init handling
    R"(string.find("hello world", "o w"))",
    R"(string.find("hello world", "o", 5))",
    R"(string.find("hello world", "o", 6))",
    R"(string.find("hello world", "l", -3))",
    R"(string.find("hello world", "l", -100))",
    R"(string.find("hello world", "l", 0))",
    R"(string.find("hello", "", 10))",
    R"(string.find("hello", "", 6))",
    R"(string.find("hello", "", 7))",
    R"(string.find("hello", "", 5))",
    R"(string.find("hello", ""))",
    R"(string.find("", ""))",
    R"(string.find("", "a"))",
    R"(string.find("", "", 2))",
    R"(string.find("", "^$"))",
    R"(string.find("a.b", ".", 1, true))",
    R"(string.find("a.b", "%.", 1))",
    R"(string.find("a+b", "+", 1, true))",
    R"(string.find("a+b", "a+b"))",
    R"(string.find("aaab", "a+b", 1, false))",
    R"(string.find("a+b", "a+b", 1, 1))",
    R"(string.find("a\0b\0c", "\0c"))",
    R"(string.find("a\0b\0c", "b\0", 1, true))",
    R"(string.find("a\0b\0c", "%z"))",
    R"(string.find("a\0b\0c", "[\0]", 3))",
    R"(string.find("abc", "abcd"))",
    R"(string.find("abcabc", "cab"))",
    R"(string.find("aab", "ab"))",
    R"(string.find("ababac", "abac"))",
    R"(string.find("x", "x", math.maxinteger))",
    R"(string.find("x", "x", math.mininteger))",
    R"(string.find("x", "", math.maxinteger))",
    R"(string.find("hello", "l+"))",
    R"~(string.find("hello", "(l)(l)"))~",
    R"~(string.find("hello", "()ll()"))~",
    R"(string.find(12345, 34))",
    R"(string.find("abc", "b", "2"))",
    R"(string.find("abc", "b", "x"))",
    R"(string.find())",
    R"(string.find("abc"))",
    R"(string.find("abc", {}))",
    R"(string.find("abc", "b", {}))",
    R"(string.find("abc", "b", 1.5))",
    R"(string.find(nil, "a"))",
    R"(string.find("abc", "b", 2.0))",
    R"(string.find("a]b", "]"))",
    R"~(string.find("a)b", ")", 1, true))~",
    R"~(string.find("a)b", ")"))~",
    R"(string.find("x^y", "^", 1, true))",
    R"(string.find("x^y", "x^"))",
    R"(string.find("a$b", "$b"))",
    R"(string.find("ab", "b$"))",
    R"(string.find("ab\n", "b$"))",
    R"(string.find("abc", "[a-", 1, true))",
    R"(string.find("abc", "[a-"))",
    R"(string.find("a%b", "%", 1, true))",
    R"(pcall(string.find, "a", "b", 1, true, 5))",
    // match: captures, anchors, quantifiers
    R"(string.match("hello world", "%w+"))",
    R"~(string.match("hello world", "(%w+) (%w+)"))~",
    R"~(string.match("key = value", "(%w+)%s*=%s*(%w+)"))~",
    R"(string.match("  trim  ", "^%s*(.-)%s*$"))",
    R"~(string.match("2024-01-15", "(%d+)-(%d+)-(%d+)"))~",
    R"~(string.match("hello", "()ll()"))~",
    R"(string.match("hello", "^h"))",
    R"(string.match("hello", "^e"))",
    R"(string.match("hello", "o$"))",
    R"(string.match("hello", "l$"))",
    R"(string.match("a$b", "a$b"))",
    R"(string.match("a$", "a%$"))",
    R"(string.match("hello", ".-l"))",
    R"(string.match("hello", ".*l"))",
    R"(string.match("hello", "h?e"))",
    R"(string.match("ello", "h?e"))",
    R"(string.match("hello", "x*"))",
    R"(string.match("hello", "x+"))",
    R"(string.match("hello", "x-"))",
    R"(string.match("hello", "x?"))",
    R"(string.match("hello", "", 3))",
    R"~(string.match("hello", "()", 3))~",
    R"~(string.match("hello", "()", 10))~",
    R"~(string.match("hello", "()", -2))~",
    R"~(string.match("hello", "()", 6))~",
    R"(string.match("hello", "()$"))",
    R"~(string.match("hello", "^()"))~",
    R"~(string.match("THE (quick) fox", "%((%a+)%)"))~",
    R"(string.match("aaa", "^(a-)(a*)$"))",
    R"~(string.match("aaa", "(a+)(a+)"))~",
    R"~(string.match("aaa", "(a-)(a+)"))~",
    R"(string.match("aaab", "a-b"))",
    R"~(string.match("aaab", "(a*)(.*)"))~",
    R"(string.match("abab", "(ab)*"))",
    R"(string.match("a*b", "a%*b"))",
    R"~(string.match("hello", "(h)(e)(l)(l)(o)"))~",
    R"~(string.match("hello", "((h)(e))((l)(l))"))~",
    R"~(string.match("hello", "(h(e(l)))"))~",
    R"(string.match("hello", "(.)%1"))",
    R"(string.match(3.5, "%d"))",
    R"~(string.match("x", "(()x())"))~",
    R"(string.match("x", "x", 1.0))",
    R"(string.match("x"))",
    R"(string.match("x", "x", "y"))",
    R"(string.match("x", "x", 1, "ignored"))",
    // %b and %f
    R"~(string.match("f(a(b)c)d", "%b()"))~",
    R"~(string.match("f(a(b)c", "%b()"))~",
    R"(string.match("[[x]]", "%b[]"))",
    R"(string.match("abc", "%bxy"))",
    R"(string.match("abc", "%b"))",
    R"(string.match("abc", "%ba"))",
    R"(string.match("aab", "%bab"))",
    R"(string.match("((", "%b(("))",
    R"~(string.match("x(y)", "x%b()$"))~",
    R"~(string.find("(a)(b)", "%b()", 2))~",
    R"(string.match("THE (quick) fox", "%f[%a]%a+"))",
    R"(string.match("hello world", "%f[%w]%w+$"))",
    R"(string.find("abc", "%f[%W]"))",
    R"(string.find("abc", "%f[%w]"))",
    R"(string.find("a\0b", "%f[\0]"))",
    R"(string.find("abc", "%f[^\0]"))",
    R"(string.find("abc", "%f[%z]"))",
    R"(string.match("x", "%f"))",
    R"(string.match("x", "%fa"))",
    R"(string.match("x", "%f[x"))",
    R"(string.match("x", "%f[]x]"))",
    R"(string.gsub("the cat", "%f[%w]", "|"))",
    R"(string.gsub("the cat", "%f[%W]", "|"))",
    R"(string.gsub("THE (quick) fox", "%f[%a]%u+%f[%A]", "X"))",
    // back-references and capture errors
    R"(string.match("abcabc", "(abc)%1"))",
    R"(string.match("abcab", "(abc)%1"))",
    R"(string.match("aa", "(a)%1"))",
    R"(string.match("xyzxyz", "((x)yz)%1"))",
    R"(string.match("xyzxyzx", "((x)yz)%1%2"))",
    R"~(string.match("a", "(a%1)"))~",
    R"(string.match("a", "%1"))",
    R"(string.match("a", "%0"))",
    R"(string.match("a", "(a)%2"))",
    R"(string.match("aa", "()a%1"))",
    R"(string.match("abba", "(a)(b)%2%1"))",
    R"~(string.match("hello", "(l)%1()"))~",
    R"(string.match("", "()%1"))",
    R"(string.match("a", "(a)%9"))",
    R"~(string.match(string.rep("a", 40), string.rep("(a)", 32)))~",
    R"~(string.match(string.rep("a", 40), string.rep("(a)", 33)))~",
    R"~(string.match("a", string.rep("()", 32)))~",
    R"~(string.match("a", string.rep("()", 33)))~",
    R"(string.match("a", "("))",
    R"(string.match("a", "(a"))",
    R"(string.find("a", "(a"))",
    R"(string.find("ab", "(a)(b"))",
    R"~(string.match("a", ")"))~",
    R"~(string.match("a", "a)"))~",
    R"~(string.match("a", "b)"))~",
    R"~(string.match("a", "()a)"))~",
    // malformed classes and sets
    R"(string.match("a", "%"))",
    R"(string.match("a%", "a%"))",
    R"(string.match("a", "[a"))",
    R"(string.match("a", "["))",
    R"(string.match("a", "[]"))",
    R"(string.match("a", "[^]"))",
    R"(string.match("]", "[]]"))",
    R"(string.match("a]", "[^]]"))",
    R"(string.match("a", "[%"))",
    R"(string.match("a", "[%]"))",
    R"(string.match("]", "[%]]"))",
    R"(string.match("a-b", "[a-]+"))",
    R"(string.match("-", "[a-]"))",
    R"(string.match("b", "[-a]"))",
    R"(string.match("5", "[0-9]"))",
    R"(string.match("x", "[^0-9]"))",
    R"(string.match("^", "[%^]"))",
    R"(string.match("^", "[^^]"))",
    R"(string.match("a^b", "a^b"))",
    R"(string.match("^a", "^^a"))",
    R"(string.match("m", "[a-z-]"))",
    R"(string.match("q", "[z-a]"))",
    R"(string.match("-", "[-]"))",
    R"(string.match("a", "[^-]"))",
    R"(string.match("b", "[a-c-e]"))",
    R"(string.match("-", "[a-c-e]"))",
    R"(string.match("%", "[%%]"))",
    R"(string.match("ab", "[a]*b"))",
    R"(string.match("ab", "[%a]-b"))",
    // recursion depth limit
    R"(string.match(string.rep("a", 300), string.rep("a?", 300)))",
    R"(string.match(string.rep("a", 198), string.rep("a?", 198)))",
    R"(string.match(string.rep("a", 199), string.rep("a?", 199)))",
    R"(string.match(string.rep("a", 200), string.rep("a?", 200)))",
    R"(string.match(string.rep("a", 201), string.rep("a?", 201)))",
    R"(string.match(string.rep("a", 300), string.rep("a*", 300)))",
    R"~(string.find(string.rep("a", 300), string.rep("(a)", 30) .. string.rep(".-", 180)))~",
    R"~(string.match(string.rep("(", 300), string.rep("%b()", 50)))~",
    // gmatch
    R"(G("hello world from lua", "%a+"))",
    R"~(G("k1=v1, k2=v2", "(%w+)=(%w+)"))~",
    R"(G("abc", ""))",
    R"~(G("abc", "()"))~",
    R"(G("abc", "x*"))",
    R"(G("hello", "l*"))",
    R"(G("abc", ".", 2))",
    R"(G("abc", ".", -1))",
    R"(G("abc", ".", 10))",
    R"(G("abc", ".", 4))",
    R"(G("abc", "", 4))",
    R"(G("abc", "", 5))",
    R"(G("abc", "", -10))",
    R"(G("abc", ".", 0))",
    R"(G("^a^a", "^a"))",
    R"(G("one two  three", "%S+"))",
    R"~(G("a,b,,c", "([^,]*)"))~",
    R"~(G("THE (quick) (brown) fox", "%b()"))~",
    R"(G("aaa", "a-"))",
    R"(G("aaa", "a-b"))",
    R"(G(123, 2))",
    R"(G("abc", "("))",
    R"(G("abc", "["))",
    R"(G())",
    R"(G("a"))",
    R"(G("a", "a", "x"))",
    R"~(G("abab", "(a)(b)()"))~",
    R"(G("aXbXc", "[^X]*"))",
    R"~(G("x=1 y=2", "(%w)=(%d)"))~",
    R"(G("abc", "%f[%w]"))",
    R"(G("hello", "(l)%1"))",
    R"(G("ab", ".-"))",
    R"((function() local it = string.gmatch("a b", "%a") local x = it() local y = it() return x, y, it(), it() end)())",
    R"~((function() local s = "" for k, v in string.gmatch("a=1,b=2", "(%w+)=(%w+)") do s = s .. k .. v end return s end)())~",
    // gsub
    R"(string.gsub("hello world", "o", "0"))",
    R"(string.gsub("hello world", "o", "0", 1))",
    R"(string.gsub("hello world", "o", "0", 0))",
    R"(string.gsub("hello world", "o", "0", -1))",
    R"(string.gsub("hello world", "o", "0", math.maxinteger))",
    R"~(string.gsub("hello world", "(%w+)", "<%1>"))~",
    R"(string.gsub("hello world", "%w+", "%0 %0"))",
    R"~(string.gsub("hello world", "(%w+) (%w+)", "%2 %1"))~",
    R"(string.gsub("abc", "", "-"))",
    R"(string.gsub("abc", "x*", "-"))",
    R"(string.gsub("abc", "b*", "-"))",
    R"(string.gsub("abc", ".-", "-"))",
    R"(string.gsub("hello", "l", "%%"))",
    R"(string.gsub("hello", "l", "%"))",
    R"(string.gsub("hello", "l", "%x"))",
    R"(string.gsub("hello", "l", "%2"))",
    R"~(string.gsub("hello", "(l)", "%2"))~",
    R"~(string.gsub("hello", "(l)", "%1%1"))~",
    R"(string.gsub("hello", "()l", "%1"))",
    R"~(string.gsub("hello", "()(l)", "%1%2"))~",
    R"(string.gsub("hello", "l", 5))",
    R"(string.gsub("hello", "l", 5.5))",
    R"(string.gsub("hello", "%w", {h = "H", l = false, o = 1}))",
    R"(string.gsub("hello", "%w", {}))",
    R"~(string.gsub("hello", "(%w)(%w)", {he = "X", h = "Y"}))~",
    R"(string.gsub("hello", "%w", {h = {}}))",
    R"~(string.gsub("hello", "()", {[1] = "one", [3] = 3}))~",
    R"(string.gsub("hello", "%w", function(c) return c:upper() end))",
    R"(string.gsub("hello", "%w", function() end))",
    R"(string.gsub("hello", "%w", function() return false end))",
    R"(string.gsub("hello", "%w", function() return {} end))",
    R"(string.gsub("hello", "%w", function() return true end))",
    R"(string.gsub("hello", "%w", function() return 1.25 end))",
    R"~(string.gsub("hello", "(h)(e)", function(a, b) return b .. a end))~",
    R"~(string.gsub("hello", "()", function(p) return p end))~",
    R"(string.gsub("hello", "%w", function(c) error("boom " .. c) end))",
    R"(string.gsub("hello", "%w", function(c) return select("#", c) end))",
    R"(string.gsub("hello", "^h", "J"))",
    R"(string.gsub("hello", "^", ">"))",
    R"(string.gsub("hello", "$", "<"))",
    R"(string.gsub("hello", "^x", "J"))",
    R"(string.gsub("hello", "^.", "J", 0))",
    R"(string.gsub("", "", "x"))",
    R"(string.gsub("", "^", "x"))",
    R"(string.gsub("", "x", "y"))",
    R"(string.gsub("abc", "%w", "%0", 2))",
    R"(string.gsub("abc", ".", {a = 1, b = 2.5}))",
    R"(string.gsub("abc", "%w"))",
    R"(string.gsub("abc", "%w", true))",
    R"(string.gsub("abc", "%w", nil))",
    R"(string.gsub("abc", "%w", "x", "y"))",
    R"(string.gsub("abc", "%w", "x", 1.5))",
    R"(string.gsub("abc", "%w", "x", "2"))",
    R"(string.gsub(123, "2", "x"))",
    R"(string.gsub(123, "4", "x"))",
    R"(string.gsub("abc", "(", "x"))",
    R"(string.gsub("abc", "(", "%1"))",
    R"(string.gsub("abc", "(", "%0"))",
    R"(string.gsub("abc", "(", function(x) return x end))",
    R"(string.gsub("abc", "(", {}))",
    R"(string.gsub("a b c", "%s", "%%%0"))",
    R"(string.gsub("hello world", "%f[%w]%w+", string.upper))",
    R"(string.gsub("abc", "a|b", "x"))",
    R"(string.gsub("hello", "", "%1"))",
    R"(string.gsub("hello", "", "%2"))",
    R"(string.gsub("hello", "l+", "L"))",
    R"(string.gsub("hello", "l-", "L"))",
    R"(string.gsub("hello", "l?", "L"))",
    R"(string.gsub("hello", "l*", "L"))",
    R"(string.gsub("a\0b", "\0", "%%0"))",
    R"(string.gsub("a\0b", "%z", "z"))",
    R"(string.gsub("abc", "b", "\0"))",
    R"(string.gsub("x", "x", "%\0"))",
    R"(string.gsub("abc", "[", "x"))",
    R"(string.gsub("abc", "%", "x"))",
    R"~(string.gsub("abc", ")", "x"))~",
    R"(string.gsub("abc", "a", "%1", 1))",
    R"~(string.gsub("abc", "(a)", "[%0|%1]"))~",
    R"~(string.gsub("abc abc", "%f[%a](%a+)", "%1!"))~",
    R"~(string.gsub("((x))", "%b()", "B"))~",
    R"~(string.gsub(string.rep("ab", 100), "(a)(b)", "%2%1"))~",
    R"(string.gsub(string.rep("x", 50), "x", function() return nil end))",
    // method syntax and numbers as subjects
    R"(("abc"):find("b"))",
    R"~(("abc"):match("(b)(c)"))~",
    R"(("x y"):gsub("%s", "_"))",
    R"((function() local t = {} for w in ("a b c"):gmatch("%a") do t[#t + 1] = w end return table.concat(t) end)())",
    R"((12.5):find("%."))",
    R"(string.find(1e20, "e"))",
    R"(string.match(-0.0, "%-"))",
};

TEST_F(LuaPatterns, SanityOfTheHarness) {
  EXPECT_EQ(run(ref_, R"(string.find("hello world", "o w"))"), "ok i:5 i:7");
  EXPECT_EQ(run(bounded_, R"(string.find("hello world", "o w"))"), "ok i:5 i:7");
  EXPECT_EQ(run(bounded_, R"(string.match("a", "%"))"), "error s:\"case:1: malformed pattern (ends with '%')\"");
  EXPECT_GT(g_units, 0U);
}

TEST_F(LuaPatterns, CorpusMatchesStockLua) {
  ASSERT_GE(kCorpus.size(), 250U);
  int agreed = compare(kCorpus);
  std::cout << "[ corpus   ] " << agreed << " / " << kCorpus.size() << " cases agree\n";
}

TEST_F(LuaPatterns, ClassesAndSetsOverEveryByte) {
  std::vector<std::string> pieces = {
      ".",      "%z",    "%%",     "%.",     "%(",    "%]",   "%-",      "[a-z]",      "[A-Za-z0-9_]",  "[^%s]",
      "[%a%d]", "[%]]",  "[a%-z]", "[z-a]",  "[-]",   "[^-]", "[%w_%-]", "[\\0-\\31]", "[\\128-\\255]", "[^\\0]",
      "[%A%D]", "[^%P]", "[%]-a]", "[%a-z]", "[a-%d]"};
  for (char c : std::string("acdglpsuwx")) {
    pieces.push_back(std::string("%") + c);
    pieces.push_back(std::string("%") + static_cast<char>(std::toupper(c)));
  }
  std::vector<std::string> cases;
  for (const std::string& piece : pieces) {
    const std::string pat = "\"" + piece + "\"";
    cases.push_back("string.gsub(ALL, " + pat + ", \"\")");
    cases.push_back("string.find(ALL, " + pat + ", 60)");
    cases.push_back("string.match(ALL, \"(\" .. " + pat + " .. \"+)\", 100)");
    cases.push_back("#G(ALL, " + pat + " .. \"-\")");
  }
  int agreed = compare(cases);
  std::cout << "[ classes  ] " << agreed << " / " << cases.size() << " cases agree\n";
}

// Random short subjects and patterns from the pattern grammar, including malformed ones.
class CaseGenerator {
 public:
  explicit CaseGenerator(std::uint32_t seed) : rng_(seed) {}

  std::string next() {
    const std::string s = quote(subject());
    const std::string p = quote(pattern());
    switch (pick(4)) {
      case 0: return "string.find(" + s + ", " + p + init() + plain() + ")";
      case 1: return "string.match(" + s + ", " + p + init() + ")";
      case 2: return "G(" + s + ", " + p + init() + ")";
      default: return "string.gsub(" + s + ", " + p + ", " + replacement() + max_n() + ")";
    }
  }

 private:
  std::size_t pick(std::size_t n) { return rng_() % n; }
  template <std::size_t N>
  const char* one_of(const char* const (&items)[N]) {
    return items[pick(N)];
  }

  std::string subject() {
    static const char kAlphabet[] = "aaaabbbcx()-.%] ";
    std::string s;
    for (std::size_t n = pick(11); n > 0; n--) s += pick(40) == 0 ? '\0' : kAlphabet[pick(sizeof kAlphabet - 1)];
    return s;
  }

  std::string atom() {
    static const char* const kAtoms[] = {
        "a",     "b",  "x",  ".",    "%a",   "%d",    "%s",    "%w",   "%A",   "%p",    "%x",   "%S",   "%%",
        "%(",    "%.", "%-", "[ab]", "[^a]", "[a-c]", "[%a_]", "[%]]", "[a-]", "[%-a]", "%b()", "%bab", "%f[%w]",
        "%f[a]", "%z", "%Z", "%1",   "%2",   "%0",    "$",     "^",    "()",   " ",     "]",    "-"};
    static const char* const kMalformed[] = {"%", "[", "%f", "%b", "(", ")", "[a", "%fa", "[%", "%9"};
    static const char* const kQuantifiers[] = {"", "", "", "*", "+", "-", "?"};
    if (pick(25) == 0) return one_of(kMalformed);
    std::string a = one_of(kAtoms);
    if (a.size() <= 2 || a[0] == '[') a += one_of(kQuantifiers);
    return a;
  }

  std::string sequence(int depth) {
    std::string p;
    for (std::size_t n = pick(4); n > 0; n--) {
      if (depth < 2 && pick(4) == 0) {
        p += "(" + sequence(depth + 1) + ")";
      } else {
        p += atom();
      }
    }
    return p;
  }

  std::string pattern() {
    std::string p = pick(5) == 0 ? "^" : "";
    p += sequence(0);
    if (pick(5) == 0) p += "$";
    return p;
  }

  std::string init() {
    static const char* const kInits[] = {"", "", "", ", 1", ", 2", ", -1", ", -3", ", 0", ", 5", ", 20", ", nil"};
    return one_of(kInits);
  }
  std::string plain() { return pick(5) == 0 ? ", true" : ""; }
  std::string replacement() {
    static const char* const kReplacements[] = {"\"x\"",
                                                "\"%0\"",
                                                "\"%1\"",
                                                "\"%2\"",
                                                "\"<%1>\"",
                                                "\"%%\"",
                                                "\"%\"",
                                                "\"%z\"",
                                                "\"\"",
                                                "7",
                                                "{a = \"A\", b = false, x = 1}",
                                                "function(...) return select('#', ...) .. table.concat({...}, ',') end",
                                                "function() return nil end",
                                                "function(c) return c end",
                                                "{[1] = \"one\"}"};
    return one_of(kReplacements);
  }
  std::string max_n() {
    static const char* const kCounts[] = {"", "", "", ", 0", ", 1", ", 2", ", -1"};
    return one_of(kCounts);
  }

  std::mt19937 rng_;
};

TEST_F(LuaPatterns, RandomPatternsMatchStockLua) {
  CaseGenerator gen(20240611);
  std::vector<std::string> cases;
  for (int i = 0; i < 4000; i++) cases.push_back(gen.next());
  int agreed = compare(cases);
  int errors = 0;
  for (std::size_t i = 0; i < 200; i++) errors += run(ref_, cases[i]).rfind("error", 0) == 0;
  EXPECT_GT(errors, 5);    // malformed patterns are exercised...
  EXPECT_LT(errors, 150);  // ...but most cases are real matches
  std::cout << "[ random   ] " << agreed << " / " << cases.size() << " cases agree\n";
}

TEST_F(LuaPatterns, MethodSyntaxUsesTheReplacement) {
  std::uint64_t before = g_units;
  EXPECT_EQ(run(bounded_, R"(("abc"):find("b"))"), "ok i:2 i:2");
  EXPECT_GT(g_units, before);
  EXPECT_EQ(run(bounded_, R"(("abc").find == string.find and getmetatable("").__index == string)"), "ok true");
  before = g_units;
  EXPECT_EQ(run(bounded_, R"(("a,b"):gsub(",", ";"))"), "ok s:\"a;b\" i:1");
  EXPECT_GT(g_units, before);
}

TEST_F(LuaPatterns, ChargesGrowLinearlyWithTheSubject) {
  constexpr std::uint64_t kLength = 100'000;
  const std::vector<std::string> linear = {
      R"(string.find(string.rep("a", 100000), "b"))",  // plain search
      R"(string.find(string.rep("a", 100000), "ab", 1, true))",
      R"(string.find(string.rep("a", 100000), "%d"))",  // one attempt per position
      R"(string.match(string.rep("a", 100000), "a*$"))",
      R"(string.gsub(string.rep("ab", 50000), "a", "x"))",
      R"((function() local n = 0 for _ in string.gmatch(string.rep("ab ", 33334), "%a+") do n = n + 1 end return n end)())",
      R"(string.find(string.rep("a", 100000), "[xyz]"))",
  };
  for (const std::string& c : linear) {
    g_units = 0;
    EXPECT_EQ(run(bounded_, c).rfind("ok", 0), 0U) << c;
    std::cout << "[ units    ] " << g_units << " for " << c << "\n";
    EXPECT_GE(g_units, kLength / 2) << c;
    EXPECT_LE(g_units, kLength * 10) << c;
  }
  g_units = 0;
  g_charges = 0;
  EXPECT_EQ(run(bounded_, R"(string.find("", ""))"), "ok i:1 i:0");
  EXPECT_GE(g_units, 1U);
  EXPECT_GE(g_charges, 1U);
}

TEST_F(LuaPatterns, BudgetStopsPathologicalPatterns) {
  lua_State* L = new_state(budget_units);
  const std::vector<std::string> pathological = {
      R"(string.find(string.rep("a", 100000), ".-.-.-.-.-b"))",
      R"(string.match(string.rep("a", 100000), ".-.-.-.-.-b"))",
      R"((function() for _ in string.gmatch(string.rep("a", 100000), ".-.-.-.-.-b") do end end)())",
      R"(string.gsub(string.rep("a", 100000), ".-.-.-.-.-b", ""))",
      R"(string.find(string.rep("a", 100000), string.rep("a", 50000) .. "b", 1, true))",
      R"(string.find(string.rep("a", 100000), string.rep("a", 50000) .. "b"))",
      R"(string.find(string.rep("a", 100000), "(a*)%1%1b"))",
      R"~(string.find(string.rep("(", 100000), "%b()"))~",
      R"(string.find(string.rep("a", 100000), "[" .. string.rep("b", 2000) .. "]"))",
      R"(string.gsub(string.rep("a", 100000), "a-b", "%0"))",
  };
  for (const std::string& c : pathological) {
    g_units = 0;
    const auto start = std::chrono::steady_clock::now();
    const std::string result = run(L, c);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
    std::cout << "[ budget   ] " << ms << " ms, " << g_units << " units: " << c << "\n";
    EXPECT_EQ(result.rfind("error", 0), 0U) << c;
    EXPECT_NE(result.find("budget"), std::string::npos) << c << " -> " << result;
    EXPECT_LT(elapsed, std::chrono::seconds(10)) << c;  // a deadline, not a timing: unbudgeted, minutes
  }
  // The state stays usable after a budget error.
  g_units = 0;
  EXPECT_EQ(run(L, R"(string.find("abc", "b+"))"), "ok i:2 i:2");
  lua_close(L);
}

}  // namespace
}  // namespace fedmesh::skills
