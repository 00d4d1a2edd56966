// What the skill host and the fed calls share: a call's context as it travels (caller,
// deadline, depth, call id), the stored aggregates skills use, and the host's options.
// Plain values.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "skills/lua/runtime.hpp"
#include "skills/package.hpp"
#include "store/ledger_store.hpp"
#include "store/package_store.hpp"
#include "store/state_store.hpp"

namespace fedmesh::skills {

struct CallContext {
  Caller caller;
  Clock::time_point deadline;
  int depth = 0;            // hops so far; the first call is 0
  std::string call_id;      // travels with every hop
  std::string caller_name;  // for the ledger: "operator", a peer name, or "pkg/skill"
};

// The stored aggregates skills use: what is installed, the packages' state.* values and
// the invocation ledger.
struct SkillStores {
  PackageStore& packages;
  StateStore& state;
  LedgerStore& ledger;
};

struct SkillHostOptions {
  std::string node_name;
  std::string organization;
  LuaLimits limits;
  int max_depth = 8;
  std::chrono::milliseconds default_timeout{10'000};
  std::chrono::milliseconds max_timeout{60'000};
  std::int64_t ledger_keep = 100'000;
  std::vector<std::string> registries;           // [discovery] registries, asked by fed.find
  std::vector<std::string> env_allow;            // variables env() may read ([skills] env)
  std::vector<std::string> secrets;              // values env() never returns (token, store URL)
  int suspend_after = 3;                         // overruns in a row that suspend a package
  std::chrono::milliseconds wedged_after{5000};  // script threads all busy this long: unhealthy
};

}  // namespace fedmesh::skills
