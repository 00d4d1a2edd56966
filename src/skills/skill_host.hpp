// SkillHost: the node's installed packages and everything that runs them. Installs
// and removes packages (same content hash: nothing happens; new hash: old triggers
// stop, the new version loads, its "init" handlers run, state is kept), invokes
// skills locally or for peers (ACL, call depth, deadline), makes the runtime's
// fed.call/fed.call_all over mTLS, fires events and periods, and records every
// invocation in the ledger.
//
// A package that fails to load at start, or whose startup handler fails, is kept as
// `failed` and not served; one whose invocations overrun their budget, deadline or
// memory cap `suspend_after` times in a row is `suspended`. Either answers
// package_unavailable until it is reinstalled or resumed.
//
// Threads: each package's Lua runs on its own strand of the script pool, never on an
// I/O thread; remote calls are made from I/O threads while the Lua thread waits.
// All public methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "federation/peer_manager.hpp"
#include "net/io_pool.hpp"
#include "skills/fed_calls.hpp"
#include "skills/ledger.hpp"
#include "skills/lua/runtime.hpp"
#include "skills/package.hpp"
#include "store/ledger_store.hpp"
#include "store/package_store.hpp"
#include "store/state_store.hpp"

namespace fedmesh::skills {

// How packages reach the node's shared data (set by the node; absent in tests).
struct DataHooks {
  // data.put/get/query/delete with their arguments, at a handler nesting depth.
  // `budget` is the handler runs the cascade the write belongs to may still set off: the
  // commit carries it to the data.*.changed fire it causes.
  std::function<Result<nlohmann::json>(const std::string& op, const nlohmann::json& args, int depth,
                                       const TriggerBudget& budget)>
      op;
  // A package's [collections.NAME] settings, applied when it is installed.
  std::function<Status(const std::string& package, const nlohmann::json& collections)> collections;
};

class SkillHost {
 public:
  SkillHost(net::IoPool& pool, SkillStores stores, federation::PeerManager& peers, SkillHostOptions options);
  ~SkillHost();

  // Loads the packages remembered in the store (no init); call before serving. A package
  // that fails to load is kept as failed, with the reason, and the rest load.
  Status restore();
  // Stops periods; running invocations finish on their own.
  void stop();
  // Stops every running invocation at its next budget check (end of the shutdown grace).
  void halt();
  // Clears a suspension, or loads a failed package again from its stored source.
  boost::asio::awaitable<Status> resume(std::string name);
  // Script pool health: {"threads", "busy", "stuck"(busy longer than wedged_after),
  // "wedged"}; wedged when every script thread is stuck.
  nlohmann::json scripts_health() const;

  enum class InstallOutcome { installed, updated, unchanged };
  // `config` is merged over the package's defaults (system service tables).
  boost::asio::awaitable<Result<InstallOutcome>> install(Package package,
                                                         nlohmann::json config = nlohmann::json::object());
  boost::asio::awaitable<Status> remove(std::string name);

  boost::asio::awaitable<Result<nlohmann::json>> invoke(std::string package, std::string skill, nlohmann::json args,
                                                        CallContext context);
  // Runs every handler of `event` in every package; returns how many ran and failures.
  // `data_depth`: data.*.changed nesting, carried by the handlers' own writes.
  // `budget` (data.*.changed fires) bounds the handler runs one write sets off in all.
  boost::asio::awaitable<nlohmann::json> fire(std::string event, nlohmann::json payload, int data_depth = 0,
                                              TriggerBudget budget = nullptr);
  // Whether any loaded package handles `event` (cheap: no hop to a strand).
  bool has_handlers(std::string_view event) const;
  // Before restore(): how data.* reaches the node.
  void set_data(DataHooks hooks);

  nlohmann::json packages() const;
  nlohmann::json skills() const;
  std::vector<std::string> exported() const;  // for hello
  // Exported skills with their registry metadata: [{name, description, author, tags, version}].
  nlohmann::json exported_flows() const;
  // Flushes buffered entries and queries, on the blocking pool.
  boost::asio::awaitable<Result<nlohmann::json>> ledger(LedgerQuery query);
  // Writes ledger entries still buffered (shutdown, tests).
  void flush();

  // Deadline arithmetic for a hop: what remains of `deadline`, minus a margin for the
  // answer to travel back, capped by `max`. Zero or less means no time is left.
  static std::chrono::milliseconds remaining_for_hop(Clock::time_point deadline, Clock::time_point now,
                                                     std::chrono::milliseconds max) {
    return FedCalls::remaining_for_hop(deadline, now, max);
  }

  struct Slot;
  class Host;

 private:
  std::shared_ptr<Slot> find(const std::string& name) const;
  // The package that answers to `name`: the one so named, else the one with that alias.
  std::shared_ptr<Slot> serving(const std::string& name) const;
  // Why `manifest` may not be installed beside the other packages: one of its names (its
  // name or an alias) is another package's name or alias. Call with mu_ held.
  std::optional<Error> name_clash(const Manifest& manifest) const;
  // Starts an invocation on the package's strand (the starter runs there) and drives it
  // to the end, making its fed calls from the I/O thread in between.
  using Starter = std::function<LuaRuntime::Started(LuaRuntime&)>;
  boost::asio::awaitable<Result<nlohmann::json>> drive(std::shared_ptr<Slot> slot, Starter starter,
                                                       CallContext context);
  void start_periods(const std::shared_ptr<Slot>& slot);
  void record(const CallContext& context, const std::string& direction, const std::string& callee,
              const std::string& skill, const Result<nlohmann::json>& result, Clock::time_point started);
  Result<std::shared_ptr<Slot>> make_slot(const Package& package, const nlohmann::json& config);
  // package_unavailable when the slot is failed or suspended.
  std::optional<Error> unavailable(const Slot& slot) const;
  // Counts overruns in a row and suspends the package at suspend_after.
  void note_outcome(Slot& slot, const LuaRuntime::Step& step);
  void mark_failed(Slot& slot, const std::string& reason);
  std::uint64_t step_started();
  void step_ended(std::uint64_t id);

  net::IoPool& pool_;
  SkillStores stores_;
  federation::PeerManager& peers_;
  SkillHostOptions options_;
  std::unique_ptr<Host> host_;

  std::atomic<bool> halt_{false};  // read by every running invocation's budget checks
  mutable std::mutex mu_;          // guards slots_, stopping_ and every slot's status fields
  std::map<std::string, std::shared_ptr<Slot>> slots_;
  bool stopping_ = false;
  mutable std::mutex steps_mu_;                       // guards the two below
  std::map<std::uint64_t, Clock::time_point> steps_;  // script steps running now, by start
  std::uint64_t next_step_ = 0;
  Ledger ledger_;
  FedCalls fed_;
};

}  // namespace fedmesh::skills
