// The Lua sandbox and the skill runtime: escapes refused, budgets enforced (and not
// swallowed by pcall), errors structured, state persisted, fed calls suspended.
#include <gtest/gtest.h>

#include "skills/lua/runtime.hpp"
#include "store/open.hpp"

namespace fedmesh::skills {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

class TestHost : public RuntimeHost {
 public:
  TestHost() : store_(open_sqlite_store(":memory:").value()) {}
  StateStore& state() override { return store_->state(); }
  Result<std::optional<std::string>> env(std::string_view name) override {
    if (name == "COLOR") return std::optional<std::string>("red");
    if (name == "SECRET") return make_error(ErrorCode::forbidden, "not allowed by this node's [skills] env list");
    return std::optional<std::string>();
  }
  json self() override { return {{"name", "me"}}; }
  json peers(std::string_view skill) override { return json::array({{{"name", "p1"}, {"skill", skill}}}); }
  void log(std::string_view, std::string_view level, std::string_view msg) override {
    logs.push_back(std::string(level) + ":" + std::string(msg));
  }
  std::vector<std::string> logs;

 private:
  std::unique_ptr<Store> store_;
};

std::string manifest(const std::string& skills, const std::string& extra = "") {
  return "name = \"t\"\nversion = \"1.0.0\"\nenv = [\"COLOR\"]\n" + extra + "\n" + skills;
}

struct Loaded {
  TestHost host;
  std::unique_ptr<LuaRuntime> rt;
};

Result<std::unique_ptr<LuaRuntime>> load(TestHost& host, const std::string& lua,
                                         const std::string& skills = "[skills.f]\n", LuaLimits limits = {},
                                         json config = json::object(), std::map<std::string, std::string> extra = {}) {
  extra["main.lua"] = lua;
  auto pkg = make_package(manifest(skills), extra);
  if (!pkg) return std::move(pkg).error();
  return LuaRuntime::load(*pkg, std::move(config), host, limits);
}

LuaRuntime::Step call(LuaRuntime& rt, const std::string& skill = "f", const json& args = json::object(),
                      std::chrono::milliseconds deadline = 5s) {
  auto inv = rt.start_skill(skill, args, Clock::now() + deadline);
  if (!inv) {
    LuaRuntime::Step s;
    s.kind = LuaRuntime::Step::Kind::failed;
    s.error = inv.error();
    return s;
  }
  return rt.run(**inv);
}

// Runs `body` as skill f and returns its error text ("" when it succeeded).
std::string fails_with(const std::string& body, LuaLimits limits = {}) {
  TestHost host;
  auto rt = load(host, "skill('f', function(args)\n" + body + "\nend)", "[skills.f]\n", limits);
  if (!rt) return "load: " + rt.error().message();
  auto s = call(**rt);
  if (s.kind != LuaRuntime::Step::Kind::failed) return "";
  return s.error->code_name() + ": " + s.error->message();
}

TEST(LuaSandbox, DangerousLibrariesAreAbsent) {
  EXPECT_NE(fails_with("return io.open('/etc/passwd')").find("global 'io'"), std::string::npos);
  EXPECT_NE(fails_with("return os.execute('true')").find("field 'execute'"), std::string::npos);
  EXPECT_NE(fails_with("return debug.getinfo(1)").find("global 'debug'"), std::string::npos);
  EXPECT_NE(fails_with("return loadfile('/etc/passwd')").find("global 'loadfile'"), std::string::npos);
  EXPECT_NE(fails_with("return dofile('/etc/passwd')").find("global 'dofile'"), std::string::npos);
  EXPECT_NE(fails_with("return string.dump(function() end)").find("field 'dump'"), std::string::npos);
  EXPECT_NE(fails_with("return package.loadlib('x', 'y')").find("global 'package'"), std::string::npos);
  EXPECT_EQ(fails_with("return os.time() > 0 and os.clock() >= 0"), "");
}

TEST(LuaSandbox, BytecodeIsRefused) {
  EXPECT_EQ(fails_with(R"(
    local f, err = load("\27Lua\84\0 fake bytecode")
    assert(f == nil and err == "binary chunks are not allowed", tostring(err))
    local g, err2 = load("return 1", "x", "b")
    assert(g ~= nil and g() == 1)  -- mode is forced to text
  )"),
            "");
}

TEST(LuaSandbox, RequireStaysInsideThePackage) {
  TestHost host;
  auto rt = load(host, "local m = require('lib.util')\nskill('f', function() return m.twice(21) end)", "[skills.f]\n",
                 {}, json::object(), {{"lib/util.lua", "return { twice = function(x) return 2 * x end }"}});
  ASSERT_TRUE(rt) << rt.error().message();
  EXPECT_EQ(call(**rt).result, 42);
  EXPECT_NE(fails_with("return require('os')").find("module 'os' is not in package t"), std::string::npos);
  EXPECT_NE(fails_with("return require('../../etc/passwd')").find("is not a module name"), std::string::npos);
}

TEST(LuaSandbox, GlobalsAndLibrariesAreReadOnly) {
  EXPECT_NE(fails_with("x = 1").find("'x' is read-only"), std::string::npos);
  EXPECT_NE(fails_with("string.upper = nil").find("read-only"), std::string::npos);
  EXPECT_NE(fails_with("getmetatable('').__index.upper = nil").find("attempt to index"), std::string::npos);
  EXPECT_NE(fails_with("setmetatable(_G, {})").find("protected metatable"), std::string::npos);
  EXPECT_NE(fails_with("rawset(_G, 'x', 1)").find("global 'rawset'"), std::string::npos);
  EXPECT_NE(fails_with("config.qty = 3").find("read-only"), std::string::npos);
  EXPECT_EQ(fails_with("local t = {} t.x = 1 return t.x"), "");
}

TEST(LuaSandbox, InfiniteLoopIsStoppedByTheBudgetEvenInsidePcall) {
  LuaLimits small;
  small.instructions = 1'000'000;
  auto msg = fails_with("while true do pcall(function() while true do end end) end", small);
  EXPECT_NE(msg.find("resource_exhausted: instruction budget of 1000000 exceeded"), std::string::npos) << msg;
  msg = fails_with("local ok = xpcall(function() while true do end end, function(e) return e end) return ok", small);
  EXPECT_NE(msg.find("resource_exhausted"), std::string::npos) << msg;
}

TEST(LuaSandbox, DeadlineStopsALongRun) {
  TestHost host;
  auto rt = load(host, "skill('f', function() while true do end end)");
  ASSERT_TRUE(rt);
  auto s = call(**rt, "f", json::object(), 50ms);
  ASSERT_EQ(s.kind, LuaRuntime::Step::Kind::failed);
  EXPECT_EQ(s.error->code(), ErrorCode::deadline_exceeded) << s.error->message();
}

TEST(LuaSandbox, MemoryBombIsStoppedByTheCap) {
  LuaLimits small;
  small.memory_bytes = 8 << 20;
  auto msg = fails_with("local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1024) .. i end", small);
  EXPECT_NE(msg.find("resource_exhausted: memory cap of 8 MiB exceeded"), std::string::npos) << msg;
  msg = fails_with("local ok = pcall(string.rep, 'x', 1 << 24) return ok", small);
  EXPECT_NE(msg.find("memory cap"), std::string::npos) << msg;
  // The runtime stays usable afterwards.
  TestHost host;
  auto rt = load(host, "skill('f', function(a) if a.big then local s = string.rep('x', 1 << 24) end return 'ok' end)",
                 "[skills.f]\n", small);
  ASSERT_TRUE(rt);
  EXPECT_EQ(call(**rt, "f", {{"big", true}}).kind, LuaRuntime::Step::Kind::failed);
  EXPECT_EQ(call(**rt, "f", {{"big", false}}).result, "ok");
}

TEST(LuaSkills, ArgumentsResultsAndErrors) {
  TestHost host;
  auto rt = load(host, R"(
    skill('f', function(a) return { sum = a.x + a.y, list = {1, 2, 3}, env = env('COLOR'), me = fed.self().name } end)
    skill('g', function(a) error({ code = 'out_of_stock', message = 'yellow is unavailable' }) end)
    skill('h', function(a) error('plain failure') end)
    skill('i', function(a) return function() end end)
  )",
                 "[skills.f]\n[skills.g]\n[skills.h]\n[skills.i]\n");
  ASSERT_TRUE(rt) << rt.error().message();
  auto s = call(**rt, "f", {{"x", 2}, {"y", 3}});
  ASSERT_EQ(s.kind, LuaRuntime::Step::Kind::done) << s.error->message();
  EXPECT_EQ(s.result, (json{{"sum", 5}, {"list", {1, 2, 3}}, {"env", "red"}, {"me", "me"}}));
  s = call(**rt, "g");
  EXPECT_EQ(s.error->code(), ErrorCode::skill_error);
  EXPECT_EQ(s.error->code_name(), "out_of_stock");
  EXPECT_EQ(s.error->message(), "yellow is unavailable");
  s = call(**rt, "h");
  EXPECT_EQ(s.error->code_name(), "skill_failed");
  EXPECT_EQ(s.error->message(), "main.lua:4: plain failure");
  s = call(**rt, "i");
  EXPECT_EQ(s.error->code_name(), "bad_result");
  EXPECT_EQ((*rt)->skill_names(), (std::vector<std::string>{"f", "g", "h", "i"}));
}

TEST(LuaSkills, NonUtf8StringsAreRefusedAsJson) {
  // A regression: this used to throw a C++ exception through Lua's C frames.
  EXPECT_NE(fails_with("state.set('k', '\\131')").find("strings sent as JSON must be UTF-8"), std::string::npos);
  EXPECT_NE(fails_with("return { bad = '\\255' }").find("must be UTF-8"), std::string::npos);
}

TEST(LuaSkills, EnvMustBeDeclared) {
  EXPECT_NE(fails_with("return env('HOME')").find("env('HOME'): not declared in package.toml"), std::string::npos);
}

TEST(LuaSkills, StateIsPersistedAndAtomic) {
  TestHost host;
  auto rt = load(host, R"(
    skill('f', function(a)
      state.set('qty', 2)
      local ok1, v1 = state.decr_if('qty', 1, 0)
      local ok2, v2 = state.decr_if('qty', 1, 0)
      local ok3, v3 = state.decr_if('qty', 1, 0)
      state.set('name', { first = 'ada' })
      return { ok1, v1, ok2, v2, ok3, v3, state.incr('hits'), state.get('name').first, #state.keys() }
    end)
  )");
  ASSERT_TRUE(rt);
  auto s = call(**rt);
  ASSERT_EQ(s.kind, LuaRuntime::Step::Kind::done) << s.error->message();
  EXPECT_EQ(s.result, json({true, 1, true, 0, false, 0, 1, "ada", 3}));
  EXPECT_EQ(**host.state().get("t", "qty"), "0");
}

TEST(LuaSkills, FedCallsSuspendAndResume) {
  TestHost host;
  auto rt = load(host, R"(
    skill('f', function(a)
      local r = fed.call('red', 'color_tools/identify_self', { x = 1 })
      local ok, err = pcall(fed.call, 'blue', 'color_tools/identify_self')
      return { color = r.color, ok = ok, code = err.code, node = err.node, peers = fed.peers{skill = 'a/b'} }
    end)
    skill('g', function(a) return fed.call('red', 'p/s') end)
  )",
                 "[skills.f]\n[skills.g]\n");
  ASSERT_TRUE(rt);
  auto inv = (*rt)->start_skill("f", json::object(), Clock::now() + 5s);
  ASSERT_TRUE(inv);
  auto s = (*rt)->run(**inv);
  ASSERT_EQ(s.kind, LuaRuntime::Step::Kind::needs_fed);
  EXPECT_EQ(s.request->peers, std::vector<std::string>{"red"});
  EXPECT_EQ(s.request->skill, "color_tools/identify_self");
  EXPECT_EQ(s.request->args, (json{{"x", 1}}));
  s = (*rt)->resume(**inv, json{{"color", "red"}});
  ASSERT_EQ(s.kind, LuaRuntime::Step::Kind::needs_fed);
  Error down(ErrorCode::peer_unavailable, "blue is down");
  down.with("node", "blue");
  s = (*rt)->resume(**inv, down);
  ASSERT_EQ(s.kind, LuaRuntime::Step::Kind::done) << s.error->message();
  EXPECT_EQ(s.result["color"], "red");
  EXPECT_EQ(s.result["ok"], false);
  EXPECT_EQ(s.result["code"], "peer_unavailable");
  EXPECT_EQ(s.result["node"], "blue");
  EXPECT_EQ(s.result["peers"][0]["skill"], "a/b");
  // Uncaught remote errors come back with the node that failed.
  auto inv2 = (*rt)->start_skill("g", json::object(), Clock::now() + 5s);
  ASSERT_TRUE(inv2);
  ASSERT_EQ((*rt)->run(**inv2).kind, LuaRuntime::Step::Kind::needs_fed);
  Error remote(ErrorCode::skill_error, "yellow is unavailable");
  remote.with_code_name("out_of_stock").with("node", "yellow");
  s = (*rt)->resume(**inv2, remote);
  ASSERT_EQ(s.kind, LuaRuntime::Step::Kind::failed);
  EXPECT_EQ(s.error->code_name(), "out_of_stock");
  EXPECT_EQ(s.error->context_value("node"), "yellow");
}

TEST(LuaSkills, LoadTimeRulesAndRegistrations) {
  TestHost host;
  auto rt = load(host, "local x = fed.call('a', 'b/c')\nskill('f', function() end)");
  ASSERT_FALSE(rt);
  EXPECT_NE(rt.error().message().find("fed calls are not allowed while the package loads"), std::string::npos);
  rt = load(host, "skill('f', function() end)", "[skills.f]\n[skills.g]\n");
  ASSERT_FALSE(rt);
  EXPECT_NE(rt.error().message().find("skill 'g' is declared in package.toml but main.lua never calls"),
            std::string::npos);
  rt = load(host, "skill('f', function() end)\nskill('z', function() end)");
  ASSERT_FALSE(rt);
  EXPECT_NE(rt.error().message().find("skill 'z' is registered but not declared"), std::string::npos);
  rt = load(host, "skill('f', function() end\n");
  ASSERT_FALSE(rt);
  EXPECT_NE(rt.error().message().find("main.lua:"), std::string::npos) << rt.error().message();
  LuaLimits small;
  small.instructions = 100'000;
  rt = load(host, "while true do end", "[skills.f]\n", small);
  ASSERT_FALSE(rt);
  EXPECT_NE(rt.error().message().find("instruction budget"), std::string::npos);
  rt = load(host, R"(
    skill('f', function() end)
    on('startup', function() log.info('up') end)
    on('startup', function() end)
    every('30s', function() end)
  )");
  ASSERT_TRUE(rt) << rt.error().message();
  EXPECT_EQ((*rt)->handler_count("startup"), 2u);
  EXPECT_EQ((*rt)->periods().size(), 1u);
  EXPECT_EQ((*rt)->periods()[0].every, 30s);
  auto h = (*rt)->start_handler("startup", 0, json::object(), Clock::now() + 1s);
  ASSERT_TRUE(h);
  EXPECT_EQ((*rt)->run(**h).kind, LuaRuntime::Step::Kind::done);
  EXPECT_EQ(host.logs, std::vector<std::string>{"info:up"});
}

}  // namespace
}  // namespace fedmesh::skills

#include "skills/skill_host.hpp"

namespace fedmesh::skills {
namespace {

TEST(DeadlineArithmetic, EachHopGetsWhatRemainsMinusAMarginCappedByTheMaximum) {
  auto now = Clock::now();
  EXPECT_EQ(SkillHost::remaining_for_hop(now + 1000ms, now, 60s), 995ms);
  EXPECT_EQ(SkillHost::remaining_for_hop(now + 120s, now, 60s), 60s);
  EXPECT_LE(SkillHost::remaining_for_hop(now + 3ms, now, 60s).count(), 0);
  EXPECT_LT(SkillHost::remaining_for_hop(now - 1s, now, 60s).count(), 0);
  // Three hops in a row: the deadline only shrinks.
  auto d = now + 1000ms;
  auto first = SkillHost::remaining_for_hop(d, now, 60s);
  auto second = SkillHost::remaining_for_hop(now + first, now + 10ms, 60s);
  EXPECT_LT(second, first);
}

}  // namespace
}  // namespace fedmesh::skills
