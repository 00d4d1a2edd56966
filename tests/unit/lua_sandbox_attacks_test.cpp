// The Lua sandbox under attack (issue 13): hostile packages, one case per attack. Each
// must be stopped with a clear error (or refused at load), end within its deadline plus
// a second, leave its own runtime serving, and leave another package untouched. The
// table-driven cases run against LuaRuntime with a second package loaded beside the
// attacker on the same RuntimeHost; the cases whose shape differs (two packages on one
// SkillHost, handlers that re-trigger their own event, periods that outrun themselves)
// run against a SkillHost on a small IoPool. The time bounds are bounds on behaviour,
// not performance figures. docs/security.md ("Lua sandbox attacks") lists every case.
#include <gtest/gtest.h>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <ostream>
#include <sstream>

#include "federation/peer_manager.hpp"
#include "net/io_pool.hpp"
#include "skills/lua/runtime.hpp"
#include "skills/skill_host.hpp"
#include "store/open.hpp"
#include "support/harness.hpp"

namespace fedmesh::skills {
namespace {

namespace asio = boost::asio;
using json = nlohmann::json;
using fedmesh::testing::wait_until;
using namespace std::chrono_literals;

// "Within the deadline": before deadline + this. Generous, for sanitizers on a loaded
// machine; what is stopped by nothing runs for minutes.
constexpr auto kMargin = 5s;

// What an overrun says, whichever limit stopped it first, or a refusal up front.
constexpr const char* kOverrun = "deadline passed|instruction budget|would run past|units of work|memory cap";

// A budget no attack here exhausts before its deadline: the deadline must stop it.
LuaLimits deadline_only() {
  LuaLimits limits;
  limits.instructions = 100'000'000'000;
  return limits;
}

// True when `text` contains one of the '|'-separated alternatives of `expected`.
bool mentions(const std::string& text, const std::string& expected) {
  std::stringstream alternatives(expected);
  std::string one;
  while (std::getline(alternatives, one, '|')) {
    if (text.find(one) != std::string::npos) return true;
  }
  return false;
}

// The node as a bare runtime sees it; both packages of a case share it, as packages on a
// node share the SkillHost's.
class BareHost : public RuntimeHost {
 public:
  BareHost() : store_(open_sqlite_store(":memory:").value()) {}
  StateStore& state() override { return store_->state(); }
  Result<std::optional<std::string>> env(std::string_view) override { return std::optional<std::string>(); }
  json self() override { return {{"name", "me"}}; }
  json peers(std::string_view) override { return json::array(); }
  void log(std::string_view, std::string_view, std::string_view) override {}

 private:
  std::unique_ptr<Store> store_;
};

struct Outcome {
  LuaRuntime::Step step;
  std::chrono::milliseconds took{0};
  std::string text() const {
    if (step.kind != LuaRuntime::Step::Kind::failed) return "ok: " + step.result.dump();
    return step.error->code_name() + ": " + step.error->message();
  }
};

Outcome run(LuaRuntime& rt, const std::string& skill, std::chrono::milliseconds deadline) {
  auto started = Clock::now();
  Outcome out;
  auto inv = rt.start_skill(skill, json::object(), Clock::now() + deadline);
  if (!inv) {
    out.step.kind = LuaRuntime::Step::Kind::failed;
    out.step.error = inv.error();
  } else {
    out.step = rt.run(**inv);
  }
  out.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  return out;
}

// ---- the table-driven attacks --------------------------------------------------------

enum class Stage {
  call,  // `lua` is the body of skill f; calling f must fail
  load,  // `lua` is top-level code of main.lua; loading the package must fail
};

struct Case {
  const char* name;
  const char* lua;
  const char* expected;  // in the error; alternatives separated by '|'
  Stage stage = Stage::call;
  std::chrono::milliseconds deadline{2000};  // of the call (or the load limit)
  bool deadline_only = false;                // a budget too large to matter
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return info.param.name;
}

// The attacker's second skill: it must still answer, unchanged, after each attack.
constexpr const char* kAttackerG = "skill('g', function() return ('alive'):upper() end)\n";
// The other package: its string methods must be the stock ones whatever the attacker did.
constexpr const char* kBystanderLua =
    "skill('upper', function() return { ('x'):upper(), string.upper('x'), (('x'):gsub('x', string.upper)) } "
    "end)\n";

// Two packages on one RuntimeHost: the attacker (loaded per case) and a bystander.
class TwoPackages : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pkg =
        make_package("name = \"bystander\"\nversion = \"1.0.0\"\n[skills.upper]\n", {{"main.lua", kBystanderLua}});
    ASSERT_TRUE(pkg) << pkg.error().message();
    auto rt = LuaRuntime::load(*pkg, json::object(), host_);
    ASSERT_TRUE(rt) << rt.error().message();
    bystander_ = std::move(*rt);
  }

  Result<std::unique_ptr<LuaRuntime>> load_attacker(const std::string& main, LuaLimits limits = {}) {
    auto pkg = make_package("name = \"attacker\"\nversion = \"1.0.0\"\n[skills.f]\n[skills.g]\n", {{"main.lua", main}});
    if (!pkg) return std::move(pkg).error();
    return LuaRuntime::load(*pkg, json::object(), host_, limits);
  }

  // The other package answers as if nothing happened.
  void expect_bystander_unaffected() {
    auto out = run(*bystander_, "upper", 5s);
    EXPECT_EQ(out.step.result, json({"X", "X", "X"})) << "the other package is affected: " << out.text();
  }

  BareHost host_;
  std::unique_ptr<LuaRuntime> bystander_;
};

class SandboxAttack : public TwoPackages, public ::testing::WithParamInterface<Case> {};

TEST_P(SandboxAttack, IsStopped) {
  const Case& c = GetParam();
  LuaLimits limits = c.deadline_only ? deadline_only() : LuaLimits{};
  if (c.stage == Stage::load) {
    limits.load_time = c.deadline;
    auto started = Clock::now();
    auto rt = load_attacker(std::string(c.lua) + "\nskill('f', function() end)\n" + kAttackerG, limits);
    auto took = Clock::now() - started;
    ASSERT_FALSE(rt) << c.name << ": the package loaded";
    EXPECT_TRUE(mentions(rt.error().message(), c.expected))
        << "expected " << c.expected << ", got " << rt.error().message();
    EXPECT_LT(took, c.deadline + kMargin) << rt.error().message();
    expect_bystander_unaffected();
    return;
  }
  auto rt = load_attacker("skill('f', function(args)\n" + std::string(c.lua) + "\nend)\n" + kAttackerG, limits);
  ASSERT_TRUE(rt) << rt.error().message();
  auto out = run(**rt, "f", c.deadline);
  ASSERT_EQ(out.step.kind, LuaRuntime::Step::Kind::failed) << c.name << " was not stopped: " << out.text();
  EXPECT_NE(out.step.error->code(), ErrorCode::internal) << out.text();
  EXPECT_TRUE(mentions(out.text(), c.expected)) << "expected " << c.expected << ", got " << out.text();
  EXPECT_LT(out.took, c.deadline + kMargin) << out.text();
  auto g = run(**rt, "g", 5s);
  EXPECT_EQ(g.step.result, "ALIVE") << "the attacker's runtime is unusable or changed after it: " << g.text();
  expect_bystander_unaffected();
}

// Files, processes and sockets: the libraries are absent, os keeps time/clock/date only,
// and require reads the package's own files.
const Case kFilesProcessesSockets[] = {
    {"IoOpen", "return io.open('/etc/passwd'):read('a')", "global 'io'"},
    {"IoOpenForWriting", "local f = io.open('/tmp/fedmesh-pwned', 'w') f:write('x') f:close()", "global 'io'"},
    {"IoLines", "for line in io.lines('/etc/passwd') do end", "global 'io'"},
    {"IoPopen", "return io.popen('id'):read('a')", "global 'io'"},
    {"OsExecute", "return os.execute('touch /tmp/fedmesh-pwned')", "field 'execute'"},
    {"OsRemove", "return os.remove('/tmp/fedmesh-pwned')", "field 'remove'"},
    {"OsRename", "return os.rename('/etc/hosts', '/tmp/fedmesh-hosts')", "field 'rename'"},
    {"OsExit", "os.exit(1)", "field 'exit'"},
    {"OsGetenv", "return os.getenv('FEDMESH_HTTP__TOKEN')", "field 'getenv'"},
    {"Dofile", "return dofile('/etc/passwd')", "global 'dofile'"},
    {"Loadfile", "return loadfile('/etc/passwd')", "global 'loadfile'"},
    {"RequireOfAPath", "return require('/etc/passwd')", "is not a module name"},
    {"RequireOfAParentPath", "return require('..etc.passwd')", "is not a module name"},
    {"RequireOfAFileOutsideThePackage", "return require('etc.passwd')",
     "module 'etc.passwd' is not in package attacker"},
    {"RequireOfAStockLibrary", "return require('io').open('/etc/passwd')", "module 'io' is not in package attacker"},
    {"PackageLoaded", "return package.loaded.io.open('/etc/passwd')", "global 'package'"},
    {"RequireSocket", "return require('socket').connect('127.0.0.1', 22)",
     "module 'socket' is not in package attacker"},
    {"RequireSocketAtLoad", "local socket = require('socket')", "module 'socket' is not in package attacker",
     Stage::load},
    {"IoOpenAtLoad", "local f = io.open('/etc/passwd')", "global 'io'", Stage::load},
    {"OsExecuteAtLoad", "os.execute('touch /tmp/fedmesh-pwned')", "field 'execute'", Stage::load},
};
INSTANTIATE_TEST_SUITE_P(FilesProcessesSockets, SandboxAttack, ::testing::ValuesIn(kFilesProcessesSockets), case_name);

// Bytecode: load takes text only; a string starting with the signature is refused before
// it is parsed, and the mode argument cannot ask for binary.
const Case kBytecode[] = {
    {"LoadOfABinaryChunk", R"(return assert(load("\27Lua\84\0\25\147\r\n\26\n"))())", "binary chunks are not allowed"},
    {"LoadOfABinaryChunkInModeB", R"(return assert(load("\27Lua\84\0", "x", "b"))())", "binary chunks are not allowed"},
    {"LoadOfABinaryChunkWithAnEnvironment", R"(return assert(load("\27Lua\84\0", "x", "bt", {}))())",
     "binary chunks are not allowed"},
    {"LoadOfStringDumpOutput", "return assert(load(string.dump(function() return 1 end), 'x', 'b'))()", "field 'dump'"},
    {"LoadFromAReaderFunction",
     R"(local parts = {"\27Lua"} return assert(load(function() return table.remove(parts) end))())",
     "string expected, got function"},
    {"LoadOfABinaryChunkAtLoad", R"(local f = assert(load("\27Lua\84\0", "x", "b")))", "binary chunks are not allowed",
     Stage::load},
};
INSTANTIATE_TEST_SUITE_P(Bytecode, SandboxAttack, ::testing::ValuesIn(kBytecode), case_name);

// Reaching what the sandbox hides: debug, package, the collector, the dumper, the real
// global table and the library tables behind their read-only proxies.
const Case kReach[] = {
    {"DebugSethook", "debug.sethook()", "global 'debug'"},
    {"DebugGetregistry", "return debug.getregistry()", "global 'debug'"},
    {"PackageLoadlib", "return package.loadlib('/lib/x86_64-linux-gnu/libc.so.6', 'system')", "global 'package'"},
    {"PackageCpath", "package.cpath = '/tmp/?.so'", "global 'package'"},
    {"CollectgarbageCollect", "collectgarbage('collect')", R"(only "count" is available)"},
    {"CollectgarbageStop", "collectgarbage('stop')", R"(only "count" is available)"},
    {"StringDump", "return string.dump(function() end)", "field 'dump'"},
    {"StringDumpAsAMethod", "return (''):dump()", "method 'dump'"},
    {"StringMetatableIndex", "getmetatable('').__index.upper = function() return 'pwned' end",
     "attempt to index a nil value (field '__index')"},
    {"StringMetatableWrite", "getmetatable('').__index = { upper = function() return 'pwned' end }",
     "attempt to index a string value"},
    {"SetmetatableOnAString", "setmetatable('', { __index = { upper = function() return 'pwned' end } })",
     "table expected, got string"},
    {"SetmetatableOnString", "setmetatable(string, { __index = function() return 'pwned' end })",
     "cannot change a protected metatable"},
    {"SetmetatableOnTable", "setmetatable(table, {})", "cannot change a protected metatable"},
    {"SetmetatableOnMath", "setmetatable(math, {})", "cannot change a protected metatable"},
    {"SetmetatableOnG", "setmetatable(_G, {})", "cannot change a protected metatable"},
    {"SetmetatableOnState", "setmetatable(state, {})", "cannot change a protected metatable"},
    {"WriteToTheStringLibrary", "string.upper = function() return 'pwned' end", "'upper' is read-only"},
    {"WriteToTheTableLibrary", "table.insert = nil", "'insert' is read-only"},
    {"WriteToFed", "fed.call = function() return 'forged' end", "'call' is read-only"},
    {"Rawset", "rawset(string, 'upper', function() return 'pwned' end)", "global 'rawset'"},
    {"RawgetOnProxies",
     "local real = rawget(string, 'upper') or rawget(_G, 'string') or rawget(state, 'set') or rawget(fed, 'call') "
     "or rawget(data, 'put') or rawget(config, 'x') return real.x",
     "attempt to index a nil value (local 'real')"},
    {"GlobalWrite", "x = 1", "'x' is read-only"},
    {"WriteThroughG", "_G.os = { execute = function() return true end }", "'os' is read-only"},
    {"WriteThroughEnv", "_ENV.io = {}", "'io' is read-only"},
    {"GMetatableIndex", "return getmetatable(_G).__index.io", "attempt to index a nil value (field '__index')"},
    {"ALocalEnvironment", "local _ENV = { assert = assert } return io.open('/etc/passwd')", "global 'io'|field 'io'"},
    {"Coroutines", "return coroutine.wrap(function() end)", "global 'coroutine'"},
    // pairs() on a read-only proxy must not hand out the table behind it.
    {"PairsOnString", "local _, real = pairs(string) real.upper = function() return 'pwned' end return ('x'):upper()",
     "read-only"},
    {"PairsOnFed", "local _, real = pairs(fed) real.call = function() return 'forged' end return fed.call('a', 'b/c')",
     "read-only"},
    {"PairsOnConfig", "local _, real = pairs(config) real.limit = 1e9 return config.limit", "read-only"},
};
INSTANTIATE_TEST_SUITE_P(Reach, SandboxAttack, ::testing::ValuesIn(kReach), case_name);

// Loops and recursion in Lua, and C-stack exhaustion through metamethods, protected
// calls and callbacks from C.
const Case kLoopsAndRecursion[] = {
    {"InfiniteLoop", "while true do end", "instruction budget|deadline passed"},
    {"InfiniteLoopPastTheDeadline", "while true do end", "deadline passed", Stage::call, 300ms, true},
    {"InfiniteLoopInsidePcall", "while true do pcall(function() while true do end end) end",
     "instruction budget|deadline passed"},
    {"InfiniteLoopAtLoad", "while true do end", "instruction budget|deadline passed", Stage::load, 1000ms},
    {"InfiniteTailCalls", "local function f() return f() end return f()", "instruction budget|deadline passed"},
    {"InfiniteRecursion", "local function f() return 1 + f() end return f()",
     "stack overflow|memory cap|deadline passed"},  // the deadline may come first on a slow (sanitized) build
    {"RecursionThroughIndex", "local t = setmetatable({}, { __index = function(t, k) return t[k] end }) return t.x",
     "stack overflow|error in error handling"},
    {"RecursionThroughNewindex", "local t = setmetatable({}, { __newindex = function(t, k, v) t[k] = v end }) t.x = 1",
     "stack overflow|error in error handling"},
    {"RecursionThroughConcat",
     "local mt = {} mt.__concat = function(a, b) return a .. b end return setmetatable({}, mt) .. 'x'",
     "stack overflow|error in error handling"},
    {"RecursionThroughTostring",
     "local t = setmetatable({}, { __tostring = function(t) return tostring(t) end }) return tostring(t)",
     "stack overflow|error in error handling"},
    {"AnIndexChainThatLoops", "local t = {} setmetatable(t, { __index = t }) return t.x", "'__index' chain too long"},
    {"NestedPcall", "local function f() local ok, e = pcall(f) error(e, 0) end f()",
     "nested deeper than 200 protected calls|stack overflow|error in error handling"},
    {"NestedGsubCallbacks", "local function f(s) return (string.gsub(s, '.', f)) end return f('x')",
     "stack overflow|error in error handling"},
    {"NestedSortComparators",
     "local function f() table.sort({ 4, 3, 2, 1 }, function(a, b) f() return a < b end) end f()",
     "stack overflow|error in error handling"},
    {"CoroutineWrapRecursion", "local function f() return coroutine.wrap(f)() end return f()", "global 'coroutine'"},
};
INSTANTIATE_TEST_SUITE_P(LoopsAndRecursion, SandboxAttack, ::testing::ValuesIn(kLoopsAndRecursion), case_name);

// Memory bombs: the per-package cap (32 MiB by default), or the estimate of string.rep
// refused up front.
const Case kMemory[] = {
    {"RepOfTwoGigabytes", "return #string.rep('x', 2^31)", "string.rep: about|string.rep would run past"},
    {"RepWithASeparator", "return #string.rep('abc', 1e7, '0123456789')", "memory cap"},
    {"RepWithAHugeSeparator", "return #string.rep('x', 1e6, ('y'):rep(1e4))",
     "string.rep: about|string.rep would run past"},
    {"TableGrowth", "local t = {} for i = 1, 1e9 do t[i] = i end", "memory cap"},
    {"TableGrowthWithStringKeys", "local t = {} for i = 1, 1e9 do t['k' .. i] = i end",
     "memory cap|deadline passed"},  // the deadline may come first on a slow (sanitized) build
    {"ConcatenationDoubling", "local s = 'x' while true do s = s .. s end", "memory cap"},
    {"ConcatenationAppending", "local s = '' for i = 1, 1e9 do s = s .. 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' end",
     "memory cap|deadline passed|instruction budget"},
    {"TableConcatOfAHugeTable",
     "local s = ('x'):rep(1000) local t = {} for i = 1, 1e5 do t[i] = s end return #table.concat(t)", "memory cap"},
    {"TableConcatWithAHugeSeparator",
     "local t = {} for i = 1, 1000 do t[i] = 'x' end return #table.concat(t, ('y'):rep(1e6))", "memory cap"},
    // A slow (sanitized, busy) build may meet the load deadline first: stopped either way.
    {"MemoryBombAtLoad", "local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(100) .. i end",
     "memory cap|would run past|deadline passed", Stage::load},
};
INSTANTIATE_TEST_SUITE_P(Memory, SandboxAttack, ::testing::ValuesIn(kMemory), case_name);

// Long C calls the count hook cannot see into: patterns are charged step by step; rep,
// concat, unpack and sort are estimated and charged (or refused) up front.
const Case kLongCCalls[] = {
    {"FindWithStackedStars", "return ('a'):rep(1e5):find(('a*'):rep(30) .. 'b')", kOverrun, Stage::call, 1000ms},
    {"FindWithStackedStarsPastTheDeadline", "return ('a'):rep(1e5):find(('a*'):rep(30) .. 'b')", "deadline passed",
     Stage::call, 1000ms, true},
    {"MatchWithLazyDots", "return ('a'):rep(1e5):match(('.-'):rep(8) .. 'b')", kOverrun, Stage::call, 1000ms},
    {"GmatchWithStackedStars", "for _ in ('a'):rep(1e5):gmatch(('a*'):rep(30) .. 'b') do end", kOverrun, Stage::call,
     1000ms},
    {"GsubWithStackedStars", "return (('a'):rep(1e5):gsub(('a*'):rep(30) .. 'b', ''))", kOverrun, Stage::call, 1000ms},
    {"GsubWithAHugeReplacement", "return #(('a'):rep(1e6):gsub('a', ('b'):rep(1e3)))", kOverrun, Stage::call, 1000ms},
    {"RepOfGigabytes", "return #string.rep(('x'):rep(1e6), 1e4)", "string.rep: about|string.rep would run past",
     Stage::call, 1000ms},
    {"TableConcatOfAHugeRange", "return table.concat({}, '', 1, 1e15)", "table.concat: about|table.concat would run",
     Stage::call, 1000ms},
    {"TableUnpackOfAHugeRange", "return table.unpack({}, 1, 1e8)", "table.unpack: about|table.unpack would run",
     Stage::call, 1000ms},
    {"SortOfAHugeTable", "local t = {} for i = 1, 1e6 do t[i] = -i end table.sort(t)",
     "table.sort: about|table.sort would run", Stage::call, 2000ms},
    {"SortWithAComparatorThatErrors",
     "local t = {} for i = 1, 100 do t[i] = i end table.sort(t, function() error('no order here', 0) end)",
     "no order here", Stage::call, 1000ms},
    {"SortWithAnInconsistentComparator",
     "local t = {} for i = 1, 100 do t[i] = i end table.sort(t, function() return true end)",
     "invalid order function for sorting", Stage::call, 1000ms},
    // On a slow (sanitized, busy) build, making the 10 MB string may use up the deadline.
    {"Utf8CodepointOfAHugeString", "return utf8.codepoint(('a'):rep(1e7), 1, -1)",
     "string slice too long|deadline passed", Stage::call, 1000ms},
    {"ByteOfAHugeString", "return ('a'):rep(1e7):byte(1, -1)", "string slice too long|deadline passed", Stage::call,
     1000ms},
};
INSTANTIATE_TEST_SUITE_P(LongCCalls, SandboxAttack, ::testing::ValuesIn(kLongCCalls), case_name);

// C functions that are neither charged nor estimated, called in a loop on strings near
// the memory cap: a few VM instructions per call, milliseconds of C work each, so 1,000
// instructions between two budget checks can be seconds. Each must still end within its
// deadline plus the margin.
const Case kUnchargedCLoops[] = {
    {"Utf8LenInALoop", "local s, len = ('a'):rep(1e7), utf8.len for i = 1, 1e9 do len(s) end", kOverrun, Stage::call,
     500ms},
    {"UpperInALoop", "local s = ('a'):rep(1e7) for i = 1, 1e9 do local u = s:upper() end", kOverrun, Stage::call,
     500ms},
    {"ReverseInALoop", "local s = ('a'):rep(1e7) for i = 1, 1e9 do local r = s:reverse() end", kOverrun, Stage::call,
     500ms},
    {"OsDateWithAHugeFormatInALoop", "local f, date = ('%c'):rep(2e4), os.date for i = 1, 1e9 do date(f) end", kOverrun,
     Stage::call, 500ms},
    {"TonumberOfAHugeStringInALoop", "local s = ('1'):rep(1e7) for i = 1, 1e9 do tonumber(s) end", kOverrun,
     Stage::call, 500ms},
    {"ConcatenationOfHugeStringsInALoop", "local s = ('a'):rep(1e7) for i = 1, 1e9 do local t = s .. s end", kOverrun,
     Stage::call, 500ms},
};
INSTANTIATE_TEST_SUITE_P(UnchargedCLoops, SandboxAttack, ::testing::ValuesIn(kUnchargedCLoops), case_name);

// Periods too short to be scheduled are refused when main.lua registers them.
const Case kPeriods[] = {
    {"EveryMillisecond", "every(0.001, function() end)", "the shortest period is 100ms", Stage::load},
    {"EveryNegative", "every(-1, function() end)", "the shortest period is 100ms", Stage::load},
    {"EveryNotANumber", "every(0/0, function() end)", "a period is at most a year", Stage::load},
    {"EveryZeroDuration", "every('0s', function() end)", "the shortest period is 100ms|is not a duration", Stage::load},
};
INSTANTIATE_TEST_SUITE_P(Periods, SandboxAttack, ::testing::ValuesIn(kPeriods), case_name);

// ---- attacks of another shape against one runtime ------------------------------------

using SandboxAttacks = TwoPackages;

TEST_F(SandboxAttacks, MetatablesAreLockedAndTheRealGlobalsOutOfReach) {
  auto rt = load_attacker(R"(
    skill('f', function()
      return { getmetatable(''), getmetatable(string), getmetatable(_G), getmetatable(state), getmetatable(config),
               rawget(_G, 'string') == nil, next(_G) == nil, next(string) == nil, rawlen(table) == 0 }
    end)
  )" + std::string(kAttackerG));
  ASSERT_TRUE(rt) << rt.error().message();
  auto out = run(**rt, "f", 5s);
  EXPECT_EQ(out.step.result, json({"locked", "locked", "locked", "locked", "locked", true, true, true, true}))
      << out.text();
}

TEST_F(SandboxAttacks, PrecompiledFilesAreRefusedBeforeTheyLoad) {
  for (const char* path : {"main.lua", "lib.lua"}) {
    std::map<std::string, std::string> files = {{"main.lua", "skill('f', function() return require('lib') end)"},
                                                {"lib.lua", "return 1"}};
    files[path] = "\x1bLuaT junk that a loader would read as bytecode";
    auto pkg = make_package("name = \"attacker\"\nversion = \"1.0.0\"\n[skills.f]\n", files);
    ASSERT_FALSE(pkg) << path;
    EXPECT_NE(pkg.error().message().find("precompiled Lua is refused"), std::string::npos) << pkg.error().message();
  }
}

TEST_F(SandboxAttacks, ASortWithARandomComparatorEndsWithinTheDeadline) {
  // Either outcome is fine (sorted, or "invalid order function"); time is what matters.
  auto rt = load_attacker(R"(
    skill('f', function()
      local t = {} for i = 1, 1e5 do t[i] = i end
      table.sort(t, function(a, b) return math.random() < 0.5 end)
      return 'sorted'
    end)
  )" + std::string(kAttackerG));
  ASSERT_TRUE(rt) << rt.error().message();
  auto out = run(**rt, "f", 1000ms);
  EXPECT_LT(out.took, 1000ms + kMargin) << out.text();
  if (out.step.kind == LuaRuntime::Step::Kind::failed)
    EXPECT_NE(out.step.error->code(), ErrorCode::internal) << out.text();
  EXPECT_EQ(run(**rt, "g", 5s).step.result, "ALIVE");
  expect_bystander_unaffected();
}

// ---- attacks against a SkillHost ------------------------------------------------------

// As data.max_trigger_depth's default: the node's data listener (node.cpp, build_data)
// fires no data.<collection>.changed for a write made this many handler levels deep.
constexpr int kMaxTriggerDepth = 8;

// A SkillHost with packages installed through install(), as the node has them, and shared
// data replaced by a fake wired as the node wires the real one: a write made at handler
// depth d fires data.<collection>.changed at d + 1 unless d has reached kMaxTriggerDepth.
class HostAttack : public ::testing::Test {
 protected:
  void start(int suspend_after = 3) {
    store_ = open_sqlite_store(":memory:").value();
    pool_ = std::make_unique<net::IoPool>(1, 2);
    pool_->start();
    federation::Hello self;
    self.name = "me";
    peers_ =
        std::make_unique<federation::PeerManager>(*pool_, nullptr, store_->peers(), self, federation::PeerTimings{});
    SkillHostOptions options;
    options.node_name = "me";
    options.suspend_after = suspend_after;
    host_ = std::make_unique<SkillHost>(*pool_, SkillStores{store_->packages(), store_->state(), store_->ledger()},
                                        *peers_, options);
    DataHooks hooks;
    hooks.op = [this](const std::string& op, const json& args, int depth, const TriggerBudget& budget) {
      return data_op(op, args, depth, budget);
    };
    host_->set_data(std::move(hooks));
  }

  void TearDown() override {
    spdlog::set_level(spdlog::level::info);
    if (!host_) return;
    quiet_ = true;  // writes fire nothing more: a storm drains
    host_->stop();
    host_->halt();
    wait_until([&] { return fires_in_flight_ == 0 && host_->scripts_health()["busy"] == 0; }, 30s);
    // Let the period loops see that they are retired, so no coroutine outlives the pool.
    for (int round = 0; round < 2; ++round) settle_io();
    pool_->stop();
    host_.reset();
    peers_.reset();
    pool_.reset();
    store_.reset();
  }

  void settle_io() {
    for (std::size_t i = 0; i < pool_->size(); ++i) {
      auto done = std::make_shared<std::promise<void>>();
      asio::post(pool_->at(i), [done] { done->set_value(); });
      done->get_future().wait_for(5s);
    }
  }

  template <class T>
  T await(asio::awaitable<T> task) {
    return asio::co_spawn(pool_->next(), std::move(task), asio::use_future).get();
  }

  ::testing::AssertionResult install(const std::string& name, const std::string& skills, const std::string& lua) {
    auto pkg = make_package("name = \"" + name + "\"\nversion = \"1.0.0\"\n" + skills, {{"main.lua", lua}});
    if (!pkg) return ::testing::AssertionFailure() << pkg.error().message();
    auto installed = await(host_->install(std::move(*pkg)));
    if (!installed) return ::testing::AssertionFailure() << installed.error().message();
    return ::testing::AssertionSuccess();
  }

  Result<json> invoke(const std::string& package, const std::string& skill, std::chrono::milliseconds timeout = 5s) {
    CallContext ctx{Caller{}, Clock::now() + timeout, 0, "", "test"};
    return await(host_->invoke(package, skill, json::object(), ctx));
  }

  json package_status(const std::string& name) {
    for (const auto& p : host_->packages()) {
      if (p["name"] == name) return p;
    }
    return json();
  }

  double state_number(const std::string& package, const std::string& key) {
    auto v = store_->state().get(package, key);
    return v && v->has_value() ? std::stod(**v) : 0.0;
  }

  // The bystander answers with the stock string methods, and without queueing behind the
  // attacker (its call may wait 30 s; queued behind a storm it would take that long).
  void expect_bystander_answers() {
    auto started = Clock::now();
    auto r = invoke("bystander", "upper", 30s);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(*r, json({"X", "X", "X"}));
    EXPECT_LT(Clock::now() - started, kMargin) << "the other package waited";
  }

  Result<json> data_op(const std::string& op, const json& args, int depth, const TriggerBudget& budget) {
    if (op != "put") return json(nullptr);
    ++writes_;
    for (int seen = max_depth_; depth > seen && !max_depth_.compare_exchange_weak(seen, depth);) {
    }
    std::string collection = args.value("collection", "");
    std::string id = args.value("id", "new");
    if (!quiet_ && depth < kMaxTriggerDepth) {
      json payload = {{"collection", collection}, {"ids", {id}}, {"from", "me"}, {"deltas", 1}};
      ++fires_in_flight_;
      // As the node: the write's cascade budget goes along (a write no handler made starts one).
      auto cascade = budget ? budget : std::make_shared<std::atomic<int>>(kMaxTriggerRuns);
      asio::co_spawn(pool_->next(),
                     host_->fire("data." + collection + ".changed", std::move(payload), depth + 1, cascade),
                     [this](const std::exception_ptr&, const json&) { --fires_in_flight_; });
    }
    return json{{"id", id}, {"properties", args.value("properties", json::object())}};
  }

  std::unique_ptr<Store> store_;
  std::unique_ptr<net::IoPool> pool_;
  std::unique_ptr<federation::PeerManager> peers_;
  std::unique_ptr<SkillHost> host_;
  std::atomic<int> writes_{0};
  std::atomic<int> max_depth_{-1};
  std::atomic<int> fires_in_flight_{0};
  std::atomic<bool> quiet_{false};
};

TEST_F(HostAttack, APackageCannotChangeAnotherPackagesStringMethods) {
  start();
  ASSERT_TRUE(install("bystander", "[skills.upper]\n", kBystanderLua));
  ASSERT_TRUE(install("attacker", "[skills.poison]\n", R"(
    local pwned = function() return 'pwned' end
    skill('poison', function()
      return {
        field = pcall(function() string.upper = pwned end),
        metatable = pcall(function() getmetatable('').__index.upper = pwned end),
        set_metatable = pcall(function() setmetatable('', { __index = { upper = pwned } }) end),
        through_pairs = pcall(function() local _, real = pairs(string) real.upper = pwned end),
      }
    end)
  )"));
  auto tried = invoke("attacker", "poison");
  ASSERT_TRUE(tried) << tried.error().message();
  EXPECT_EQ((*tried)["field"], false) << tried->dump();
  EXPECT_EQ((*tried)["metatable"], false) << tried->dump();
  EXPECT_EQ((*tried)["set_metatable"], false) << tried->dump();
  // Whatever the attacker reached in its own state (through_pairs: see Reach/PairsOnString),
  // the other package has a state of its own.
  expect_bystander_answers();
}

TEST_F(HostAttack, AHandlerThatRewritesWhatItHandlesStopsAtTheTriggerDepth) {
  start();
  ASSERT_TRUE(install("bystander", "[skills.upper]\n", kBystanderLua));
  ASSERT_TRUE(install("loop", "[skills.seed]\n", R"(
    skill('seed', function() data.put('loop', 'x', { n = 0 }) return 'seeded' end)
    on('data.loop.changed', function(e) data.put('loop', 'x', { n = 1 }) end)
  )"));
  ASSERT_TRUE(invoke("loop", "seed"));
  // The seed's write and one write per level: the handler's writes carry its depth.
  EXPECT_TRUE(wait_until([&] { return fires_in_flight_ == 0 && writes_ >= 1 + kMaxTriggerDepth; }, 10s))
      << writes_.load() << " writes";
  EXPECT_EQ(writes_.load(), 1 + kMaxTriggerDepth);
  EXPECT_EQ(max_depth_.load(), kMaxTriggerDepth);
  expect_bystander_answers();
  EXPECT_EQ(package_status("loop")["status"], "ok");
}

TEST_F(HostAttack, AHandlerThatFansOutOverItsOwnEventIsBounded) {
  spdlog::set_level(spdlog::level::err);
  start();
  ASSERT_TRUE(install("bystander", "[skills.upper]\n", kBystanderLua));
  // Four writes per run, each its own commit: under a depth guard alone one seed write
  // sets off 4 + 16 + ... + 4^8 = 87,380 handler runs.
  ASSERT_TRUE(install("storm", "[skills.seed]\n", R"(
    skill('seed', function() data.put('loop', 'seed', { n = 0 }) return 'seeded' end)
    on('data.loop.changed', function(e)
      for i = 1, 4 do data.put('loop', 'k' .. i, { n = math.random() }) end
    end)
  )"));
  constexpr int kBound = 200;  // writes that one seed may set off in all
  ASSERT_TRUE(invoke("storm", "seed"));
  wait_until([&] { return fires_in_flight_ == 0 || writes_ > kBound; }, 10s);
  expect_bystander_answers();
  EXPECT_LE(writes_.load(), kBound) << "one write set off a storm of handler runs (max depth " << max_depth_.load()
                                    << ")";
}

TEST_F(HostAttack, AnEveryPeriodSlowerThanItselfDoesNotPileUp) {
  start(/*suspend_after=*/1000);
  ASSERT_TRUE(install("bystander", "[skills.upper]\n", kBystanderLua));
  auto installed = Clock::now();
  ASSERT_TRUE(install("slow", "[skills.ping]\n", R"(
    skill('ping', function() return 'pong' end)
    every('100ms', function() state.incr('runs') while true do end end)
  )"));
  ASSERT_TRUE(wait_until([&] { return state_number("slow", "runs") >= 5; }, 10s));
  expect_bystander_answers();
  double runs = state_number("slow", "runs");
  auto elapsed = std::chrono::duration<double>(Clock::now() - installed).count();
  // Each run is stopped at its period and the next waits a full period after it: never
  // more than one run per two periods, and never two at once.
  EXPECT_LE(runs, elapsed / 0.2 + 1) << runs << " runs in " << elapsed << " s";
  EXPECT_EQ(package_status("slow")["status"], "ok");
}

TEST_F(HostAttack, AnEveryPeriodThatAlwaysOverrunsIsSuspended) {
  start(/*suspend_after=*/3);
  ASSERT_TRUE(install("bystander", "[skills.upper]\n", kBystanderLua));
  ASSERT_TRUE(install("slow", "[skills.ping]\n", R"(
    skill('ping', function() return 'pong' end)
    every('100ms', function() state.incr('runs') while true do end end)
  )"));
  ASSERT_TRUE(wait_until([&] { return package_status("slow")["status"] == "suspended"; }, 10s))
      << package_status("slow").dump();
  EXPECT_TRUE(mentions(package_status("slow").value("reason", ""), "deadline passed|instruction budget"))
      << package_status("slow").dump();
  EXPECT_EQ(state_number("slow", "runs"), 3);
  EXPECT_FALSE(wait_until([&] { return state_number("slow", "runs") > 3; }, 700ms)) << "a suspended period ran";
  auto ping = invoke("slow", "ping");
  ASSERT_FALSE(ping);
  EXPECT_EQ(ping.error().code(), ErrorCode::package_unavailable) << ping.error().message();
  expect_bystander_answers();
}

}  // namespace
}  // namespace fedmesh::skills
