// LuaRuntime: one sandboxed Lua 5.4 state per installed package. Only this folder
// includes lua.h. The sandbox allows a fixed set of libraries, freezes globals, loads
// text only, and gives each invocation an instruction budget and a deadline inside a
// per-package memory cap. They are enforced by a count hook that pcall, xpcall's handler
// and finalizers cannot escape, and by charging library functions that loop in C
// (patterns, rep, concat, sort...) to the same budget; no Lua error can reach the panic
// handler (see state.hpp).
//
// Invocations run as Lua threads. A call to a peer (fed.call, fed.call_all) suspends
// the thread: run()/resume() return Step::needs_fed and the host makes the call
// asynchronously, then resumes it with the reply. Not thread-safe: one runtime is
// driven by one strand at a time; invocations interleave only at those suspensions.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "skills/package.hpp"
#include "store/state_store.hpp"

struct lua_State;

namespace fedmesh::skills {

using Clock = std::chrono::steady_clock;

struct LuaLimits {
  std::size_t memory_bytes = 32 << 20;        // per package state
  std::uint64_t instructions = 100'000'000;   // per invocation
  std::chrono::milliseconds load_time{2000};  // loading main.lua
  // When set and true, every running invocation stops at its next check (node shutdown).
  const std::atomic<bool>* halt = nullptr;
};

// What a suspended invocation asks the host to do.
struct FedRequest {
  enum class Kind { call, call_all, find };
  Kind kind = Kind::call;
  std::vector<std::string> peers;
  std::string skill;  // "pkg/skill" (call, call_all, find)
  nlohmann::json args = nlohmann::json::object();
};

// The node as Lua sees it; called synchronously from the Lua strand.
// The data.*.changed handler runs one write may set off in all, shared along its
// cascade: with a depth guard alone, a handler that writes k times per run sets off k^8.
constexpr int kMaxTriggerRuns = 32;
using TriggerBudget = std::shared_ptr<std::atomic<int>>;

class RuntimeHost {
 public:
  virtual ~RuntimeHost() = default;
  virtual StateStore& state() = 0;  // the package's state.* values
  // An environment variable the package declared; an error when the node's operator did
  // not allow it (the error message is shown to the script).
  virtual Result<std::optional<std::string>> env(std::string_view name) = 0;
  virtual nlohmann::json self() = 0;                         // fed.self()
  virtual nlohmann::json peers(std::string_view skill) = 0;  // fed.peers{skill=...}
  virtual void log(std::string_view package, std::string_view level, std::string_view message) = 0;
  // data.put/get/query/delete: `op` with its arguments; `depth` is the data.*.changed
  // handler nesting of the invocation (0 outside such handlers).
  virtual Result<nlohmann::json> data(std::string_view op, const nlohmann::json& args, int depth,
                                      const TriggerBudget& budget) {
    (void)op, (void)args, (void)depth, (void)budget;
    return make_error(ErrorCode::unavailable, "shared data is not available here");
  }
};

class LuaRuntime {
 public:
  // Loads the package's main file under the sandbox; skills, handlers and periods
  // register while it runs. Every declared skill must be registered and vice versa.
  static Result<std::unique_ptr<LuaRuntime>> load(const Package& package, nlohmann::json config, RuntimeHost& host,
                                                  LuaLimits limits = {});
  ~LuaRuntime();
  LuaRuntime(const LuaRuntime&) = delete;
  LuaRuntime& operator=(const LuaRuntime&) = delete;

  const std::string& package() const { return package_; }
  bool has_skill(std::string_view name) const;
  std::vector<std::string> skill_names() const;
  std::size_t handler_count(std::string_view event) const;
  struct Period {
    std::chrono::milliseconds every;
    int ref;
  };
  const std::vector<Period>& periods() const;
  std::size_t memory_used() const;

  struct State;

  // One running call: a Lua thread with its own budget and deadline. Must not outlive
  // the runtime that started it.
  class Invocation {
   public:
    Invocation() = default;
    ~Invocation();
    Invocation(const Invocation&) = delete;
    Invocation& operator=(const Invocation&) = delete;

    State* st = nullptr;
    lua_State* thread = nullptr;
    int thread_ref = -2;  // LUA_NOREF
    std::uint64_t instructions = 0;
    int protected_depth = 0;  // pcall/xpcall frames open now (bounded: see sandbox.cpp)
    int hook_every = 0;       // VM instructions between limit checks now (0: kHookEvery)
    Clock::time_point last_hook{};
    Clock::time_point deadline;
    std::string what;
    bool allow_fed = true;
    int data_depth = 0;            // data.*.changed handler nesting: writes made here carry it
    TriggerBudget trigger_budget;  // the cascade this run belongs to (made at its first write otherwise)
    std::string killed;            // why the invocation was stopped ("" while running)
    ErrorCode kill_code = ErrorCode::resource_exhausted;
    std::optional<FedRequest> request;
    std::optional<Result<nlohmann::json>> reply;
  };

  struct Step {
    enum class Kind { done, failed, needs_fed };
    Kind kind = Kind::done;
    nlohmann::json result;              // done
    std::optional<Error> error;         // failed
    std::optional<FedRequest> request;  // needs_fed
    bool overrun = false;               // failed: stopped by its budget, deadline or memory cap
  };

  // Start an invocation; not_found when there is no such skill, handler or period, and an
  // error (bad_json, payload_too_large, resource_exhausted) when the arguments cannot
  // cross into Lua.
  using Started = Result<std::unique_ptr<Invocation>>;
  Started start_skill(std::string_view name, const nlohmann::json& args, Clock::time_point deadline);
  Started start_handler(std::string_view event, std::size_t index, const nlohmann::json& payload,
                        Clock::time_point deadline);
  Started start_period(std::size_t index, Clock::time_point deadline);
  Step run(Invocation& invocation);
  // Resumes after a FedRequest: the reply (call: the result; call_all: the list of
  // per-peer outcomes) or the error to raise in Lua.
  Step resume(Invocation& invocation, Result<nlohmann::json> reply);

 private:
  explicit LuaRuntime(std::string package);
  Status set_up(const nlohmann::json& config);
  Started start_ref(int ref, const nlohmann::json* args, Clock::time_point deadline, std::string what);
  Step step(Invocation& invocation, int nargs);
  Error failure(Invocation& invocation, int status);

  std::string package_;
  std::unique_ptr<State> state_;
  // Fixed once main.lua has run (skill(), on() and every() work only while it loads).
  std::map<std::string, int, std::less<>> skill_refs_;
  std::map<std::string, std::vector<int>, std::less<>> handler_refs_;
};

}  // namespace fedmesh::skills
