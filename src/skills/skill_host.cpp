#include "skills/skill_host.hpp"

#include <random>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/error_json.hpp"
#include "core/json.hpp"
#include "core/time.hpp"
#include "net/offload.hpp"

namespace fedmesh::skills {

namespace asio = boost::asio;
using json = nlohmann::json;
using Strand = asio::strand<asio::thread_pool::executor_type>;

struct SkillHost::Slot {
  Slot(Package p, json c, Strand s) : package(std::move(p)), config(std::move(c)), strand(std::move(s)) {}
  Package package;
  json config;                          // defaults merged with the node's table for this package
  std::unique_ptr<LuaRuntime> runtime;  // null when the package failed to load
  // Guarded by SkillHost::mu_:
  std::string status = "ok";  // ok | failed | suspended
  std::string reason;         // why it is not ok
  int overruns = 0;           // invocations stopped by budget, deadline or memory in a row
  Strand strand;              // every touch of `runtime` happens here
  std::mutex timers_mu;       // guards timers
  std::vector<std::shared_ptr<asio::steady_timer>> timers;
  std::atomic<bool> retired{false};

  void retire() {
    retired = true;
    std::lock_guard lock(timers_mu);
    for (auto& t : timers) asio::post(t->get_executor(), [t] { t->cancel(); });
  }
};

// The node as the Lua runtime sees it.
class SkillHost::Host : public RuntimeHost {
 public:
  Host(StateStore& state, federation::PeerManager& peers, const SkillHostOptions& options)
      : state_(state), peers_(peers), options_(options) {}
  StateStore& state() override { return state_; }
  // The operator decides what packages may read: [skills] env lists the names; the
  // node's own variables (FEDMESH_*) and its secrets are never given out.
  Result<std::optional<std::string>> env(std::string_view name) override {
    if (name.starts_with("FEDMESH_"))
      return make_error(ErrorCode::forbidden, "FEDMESH_* variables are never readable by packages");
    const auto& allow = options_.env_allow;
    if (std::find(allow.begin(), allow.end(), name) == allow.end())
      return make_error(ErrorCode::forbidden, "not allowed by this node's [skills] env list");
    const char* v = std::getenv(std::string(name).c_str());
    if (!v) return std::optional<std::string>();
    std::string value(v);
    for (const auto& secret : options_.secrets) {
      if (!secret.empty() && value.find(secret) != std::string::npos)
        return make_error(ErrorCode::forbidden, "holds one of the node's secrets");
    }
    return std::optional<std::string>(std::move(value));
  }
  json self() override { return {{"name", options_.node_name}, {"organization", options_.organization}}; }
  json peers(std::string_view skill) override {
    json out = json::array();
    for (const auto& p : peers_.snapshot()) {
      if (p.state != federation::PeerState::up) continue;
      if (!skill.empty() && std::find(p.skills.begin(), p.skills.end(), skill) == p.skills.end()) continue;
      out.push_back({{"name", p.name}, {"organization", p.organization}, {"url", p.url}});
    }
    return out;
  }
  void log(std::string_view package, std::string_view level, std::string_view message) override {
    if (level == "error") {
      spdlog::error("[{}] {}", package, message);
    } else if (level == "warn") {
      spdlog::warn("[{}] {}", package, message);
    } else {
      spdlog::info("[{}] {}", package, message);
    }
  }
  Result<json> data(std::string_view op, const json& args, int depth, const TriggerBudget& budget) override {
    if (!data_.op) return RuntimeHost::data(op, args, depth, budget);
    return data_.op(std::string(op), args, depth, budget);
  }
  DataHooks data_;  // set once, before packages load

 private:
  StateStore& state_;
  federation::PeerManager& peers_;
  const SkillHostOptions& options_;
};

namespace {

std::string new_call_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

json merged_config(const Package& package, const json& overrides) {
  json merged = package.manifest.config;
  if (overrides.is_object()) merged.merge_patch(overrides);
  return merged;
}

}  // namespace

SkillHost::SkillHost(net::IoPool& pool, SkillStores stores, federation::PeerManager& peers, SkillHostOptions options)
    : pool_(pool),
      stores_(stores),
      peers_(peers),
      options_(std::move(options)),
      host_(std::make_unique<Host>(stores_.state, peers_, options_)),
      ledger_(stores_.ledger, pool_.store(), options_.ledger_keep),
      fed_(peers_, options_,
           [this](const CallContext& ctx, const std::string& callee, const std::string& skill, const Result<json>& r,
                  Clock::time_point started) { record(ctx, "outgoing", callee, skill, r, started); }) {
  peers_.set_exports([this] { return exported(); });
  peers_.add_listener([this](const std::string& peer, federation::PeerState state) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    std::string event = state == federation::PeerState::up ? "peer.up" : "peer.down";
    json payload = {{"peer", peer}, {"state", federation::to_string(state)}};
    asio::co_spawn(pool_.next(), fire(event, payload), asio::detached);
  });
}

SkillHost::~SkillHost() {
  stop();
}

Result<std::shared_ptr<SkillHost::Slot>> SkillHost::make_slot(const Package& package, const json& config) {
  auto slot = std::make_shared<Slot>(package, merged_config(package, config), asio::make_strand(pool_.scripts()));
  auto limits = options_.limits;
  limits.halt = &halt_;
  auto rt = LuaRuntime::load(slot->package, slot->config, *host_, limits);
  if (!rt) return std::move(rt).error();
  slot->runtime = std::move(*rt);
  return slot;
}

Status SkillHost::restore() {
  auto list = stores_.packages.list();
  if (!list) return std::move(list).error();
  for (const auto& record : *list) {
    auto source = parse_json_object(record.source, 64);
    Result<Package> package = make_error(ErrorCode::store_error, "stored source is not JSON");
    if (source) package = package_from_json(*source);
    std::shared_ptr<Slot> slot;
    std::string reason;
    if (package) {
      auto made = make_slot(*package, source->value("config", json::object()));
      if (made) {
        slot = *made;
      } else {
        reason = made.error().message();
      }
    } else {
      reason = package.error().message();
    }
    if (!slot) {
      // Kept, not served: the node starts without it and says why (no crash loop).
      Package stub;
      if (package) stub = *package;
      stub.manifest.name = record.name;
      stub.manifest.version = record.version;
      stub.hash = record.hash;
      slot = std::make_shared<Slot>(std::move(stub), json::object(), asio::make_strand(pool_.scripts()));
      mark_failed(*slot, "failed to load: " + reason);
    }
    {
      std::lock_guard lock(mu_);
      slots_[record.name] = slot;
    }
    if (slot->runtime) start_periods(slot);
  }
  return {};
}

void SkillHost::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [name, slot] : slots_) slot->retire();
  }
  flush();
}

void SkillHost::halt() {
  halt_ = true;
}

void SkillHost::mark_failed(Slot& slot, const std::string& reason) {
  {
    std::lock_guard lock(mu_);
    slot.status = "failed";
    slot.reason = reason;
  }
  spdlog::error("package {} is not served: {}", slot.package.manifest.name, reason);
}

std::optional<Error> SkillHost::unavailable(const Slot& slot) const {
  std::lock_guard lock(mu_);
  if (slot.status == "ok") return std::nullopt;
  return make_error(ErrorCode::package_unavailable,
                    "package " + slot.package.manifest.name + " is " + slot.status + ": " + slot.reason);
}

void SkillHost::note_outcome(Slot& slot, const LuaRuntime::Step& step) {
  if (step.kind == LuaRuntime::Step::Kind::needs_fed) return;
  bool suspended = false;
  std::string reason;
  {
    std::lock_guard lock(mu_);
    if (step.kind == LuaRuntime::Step::Kind::done || !step.overrun) {
      if (step.kind == LuaRuntime::Step::Kind::done) slot.overruns = 0;
      return;
    }
    if (++slot.overruns < options_.suspend_after || slot.status != "ok") return;
    slot.status = "suspended";
    slot.reason = "stopped " + std::to_string(slot.overruns) +
                  " times in a row by its limits (last: " + step.error->message() +
                  "); reinstall it or POST /api/v1/packages/" + slot.package.manifest.name + "/resume";
    suspended = true;
    reason = slot.reason;
  }
  if (suspended) spdlog::warn("package {} suspended: {}", slot.package.manifest.name, reason);
}

std::uint64_t SkillHost::step_started() {
  std::lock_guard lock(steps_mu_);
  steps_[++next_step_] = Clock::now();
  return next_step_;
}

void SkillHost::step_ended(std::uint64_t id) {
  std::lock_guard lock(steps_mu_);
  steps_.erase(id);
}

json SkillHost::scripts_health() const {
  auto now = Clock::now();
  std::size_t busy = 0, stuck = 0;
  {
    std::lock_guard lock(steps_mu_);
    busy = steps_.size();
    for (const auto& [id, started] : steps_) {
      if (now - started > options_.wedged_after) ++stuck;
    }
  }
  std::size_t threads = pool_.script_threads();
  return {{"threads", threads}, {"busy", busy}, {"stuck", stuck}, {"wedged", stuck >= threads}};
}

asio::awaitable<Status> SkillHost::resume(std::string name) {
  auto slot = find(name);
  if (!slot) co_return make_error(ErrorCode::not_found, "no package '" + name + "' is installed");
  if (slot->runtime) {
    {
      std::lock_guard lock(mu_);
      slot->status = "ok";
      slot->reason.clear();
      slot->overruns = 0;
    }
    spdlog::info("package {} resumed", name);
    co_return Status{};
  }
  // Failed to load: try again from the stored source (the node's config may have changed).
  auto record = co_await net::offload(pool_.store(), [&] { return stores_.packages.list(); });
  if (!record) co_return std::move(record).error();
  for (const auto& r : *record) {
    if (r.name != name) continue;
    auto source = parse_json_object(r.source, 64);
    if (!source) co_return make_error(ErrorCode::store_error, "package " + name + ": stored source is not JSON");
    auto package = package_from_json(*source);
    if (!package) co_return make_error(ErrorCode::store_error, "package " + name + ": " + package.error().message());
    json config = source->value("config", json::object());
    auto made = co_await net::offload(pool_.scripts(), [&] { return make_slot(*package, config); });
    if (!made) co_return std::move(made).error();
    {
      std::lock_guard lock(mu_);
      if (stopping_) co_return make_error(ErrorCode::unavailable, "the node is stopping");
      slots_[name] = *made;
    }
    start_periods(*made);
    peers_.announce();
    spdlog::info("package {} loaded again and served", name);
    co_return Status{};
  }
  co_return make_error(ErrorCode::not_found, "package '" + name + "' has no stored source");
}

std::shared_ptr<SkillHost::Slot> SkillHost::find(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = slots_.find(name);
  return it == slots_.end() ? nullptr : it->second;
}

std::shared_ptr<SkillHost::Slot> SkillHost::serving(const std::string& name) const {
  std::lock_guard lock(mu_);
  if (auto it = slots_.find(name); it != slots_.end()) return it->second;
  for (const auto& [_, slot] : slots_) {
    if (slot->package.manifest.answers_to(name)) return slot;
  }
  return nullptr;
}

std::optional<Error> SkillHost::name_clash(const Manifest& manifest) const {
  for (const auto& [other, slot] : slots_) {
    if (other == manifest.name) continue;  // the package itself, being updated
    const auto& theirs = slot->package.manifest;
    for (const auto& mine : manifest.aliases) {
      if (theirs.answers_to(mine))
        return make_error(ErrorCode::conflict, "package.toml: aliases: '" + mine + "' is already a name of package " +
                                                   other + "; remove one of them first");
    }
    if (theirs.answers_to(manifest.name))
      return make_error(ErrorCode::conflict, "package " + manifest.name + ": package " + other +
                                                 " already answers to that name (its aliases)");
  }
  return std::nullopt;
}

asio::awaitable<Result<SkillHost::InstallOutcome>> SkillHost::install(Package package, json config) {
  {
    std::lock_guard lock(mu_);
    if (auto clash = name_clash(package.manifest)) co_return std::move(*clash);
  }
  auto existing = find(package.manifest.name);
  json merged = merged_config(package, config);
  if (existing && existing->package.hash == package.hash && existing->config == merged)
    co_return InstallOutcome::unchanged;

  // Load and run init off the I/O threads; nothing changes unless both succeed.
  auto made = co_await net::offload(pool_.scripts(), [&] { return make_slot(package, config); });
  if (!made) co_return std::move(made).error();
  auto slot = *made;
  for (std::size_t i = 0; i < slot->runtime->handler_count("init"); ++i) {
    CallContext ctx{Caller{}, Clock::now() + options_.default_timeout, 0, new_call_id(), "install"};
    auto r = co_await drive(
        slot, [&](LuaRuntime& rt) { return rt.start_handler("init", i, json::object(), ctx.deadline); }, ctx);
    if (!r)
      co_return make_error(ErrorCode::invalid_argument,
                           "package " + package.manifest.name + ": init failed: " + r.error().message());
  }
  if (!package.manifest.collections.empty() && host_->data_.collections) {
    std::string name = package.manifest.name;
    const json& collections = package.manifest.collections;
    auto applied = co_await net::offload(pool_.store(), [&] { return host_->data_.collections(name, collections); });
    if (!applied) co_return std::move(applied).error();
  }
  json source = package_source_json(package);
  source["config"] = config.is_object() ? config : json::object();
  PackageRecord record{package.manifest.name, package.manifest.version, package.hash, dump_json(source), now_iso8601()};
  auto saved = co_await net::offload(pool_.store(), [&] { return stores_.packages.put(record); });
  if (!saved) co_return std::move(saved).error();

  std::shared_ptr<Slot> old;
  {
    std::lock_guard lock(mu_);
    if (stopping_) co_return make_error(ErrorCode::unavailable, "the node is stopping");
    // Checked again: another install may have taken one of the names meanwhile.
    if (auto clash = name_clash(package.manifest)) co_return std::move(*clash);
    old = slots_[package.manifest.name];
    slots_[package.manifest.name] = slot;
  }
  if (old) old->retire();  // its periods stop; invocations in flight finish on the old version
  start_periods(slot);
  peers_.announce();
  spdlog::info("package {} {} {} ({})", package.manifest.name, package.manifest.version, old ? "updated" : "installed",
               package.hash.substr(0, 12));
  co_return old ? InstallOutcome::updated : InstallOutcome::installed;
}

asio::awaitable<Status> SkillHost::remove(std::string name) {
  std::shared_ptr<Slot> old;
  {
    std::lock_guard lock(mu_);
    auto it = slots_.find(name);
    if (it == slots_.end()) co_return make_error(ErrorCode::not_found, "no package '" + name + "' is installed");
    old = it->second;
    slots_.erase(it);
  }
  old->retire();
  auto s = co_await net::offload(pool_.store(), [&] { return stores_.packages.remove(name); });
  peers_.announce();
  spdlog::info("package {} removed (its state is kept)", name);
  co_return s;
}

asio::awaitable<Result<json>> SkillHost::invoke(std::string package, std::string skill, json args, CallContext ctx) {
  auto started = Clock::now();
  std::string full = package + "/" + skill;
  if (ctx.call_id.empty()) ctx.call_id = new_call_id();
  auto finish = [&](Result<json> r) -> Result<json> {
    if (!r) r = with_origin(std::move(r).error(), options_.node_name, full);
    record(ctx, ctx.caller.local ? "local" : "incoming", options_.node_name, full, r, started);
    return r;
  };
  auto slot = serving(package);
  if (slot) full = slot->package.manifest.name + "/" + skill;  // an alias is recorded as the package
  const SkillSpec* spec = slot ? slot->package.manifest.skill(skill) : nullptr;
  if (!spec) co_return finish(make_error(ErrorCode::not_found, "no skill " + full + " on node " + options_.node_name));
  if (auto blocked = unavailable(*slot)) co_return finish(std::move(*blocked));
  if (!allows(spec->acl, ctx.caller))
    co_return finish(make_error(ErrorCode::forbidden, "peer '" + ctx.caller.peer + "' may not call " + full));
  if (ctx.depth > options_.max_depth)
    co_return finish(
        make_error(ErrorCode::depth_exceeded, "call chain deeper than " + std::to_string(options_.max_depth)));
  if (Clock::now() >= ctx.deadline)
    co_return finish(make_error(ErrorCode::deadline_exceeded, "no time left to run " + full));
  co_return finish(co_await drive(
      slot, [&](LuaRuntime& rt) { return rt.start_skill(skill, args, ctx.deadline); }, ctx));
}

asio::awaitable<Result<json>> SkillHost::drive(std::shared_ptr<Slot> slot, Starter starter, CallContext ctx) {
  if (auto blocked = unavailable(*slot)) co_return std::move(*blocked);
  // One hop to the package's strand per step: start and run together, and release the
  // Lua thread in the same hop as the step that finishes it.
  auto& rt = *slot->runtime;
  std::unique_ptr<LuaRuntime::Invocation> inv;
  auto finish_step = [&](LuaRuntime::Step step) {
    if (step.kind != LuaRuntime::Step::Kind::needs_fed) inv.reset();  // unrefs its Lua thread, on the strand
    return step;
  };
  auto step = co_await net::offload(slot->strand, [&] {
    auto id = step_started();
    auto started = starter(rt);
    LuaRuntime::Step step;
    if (!started) {
      step.kind = LuaRuntime::Step::Kind::failed;
      step.error = std::move(started).error();
    } else {
      inv = std::move(*started);
      step = finish_step(rt.run(*inv));
    }
    step_ended(id);
    return step;
  });
  while (step.kind == LuaRuntime::Step::Kind::needs_fed) {
    auto reply = co_await fed_.perform(std::move(*step.request), ctx);
    step = co_await net::offload(slot->strand, [&] {
      auto id = step_started();
      auto next = finish_step(rt.resume(*inv, std::move(reply)));
      step_ended(id);
      return next;
    });
  }
  note_outcome(*slot, step);
  if (step.kind == LuaRuntime::Step::Kind::failed) co_return std::move(*step.error);
  co_return std::move(step.result);
}

void SkillHost::set_data(DataHooks hooks) {
  host_->data_ = std::move(hooks);
}

bool SkillHost::has_handlers(std::string_view event) const {
  std::lock_guard lock(mu_);
  return std::any_of(slots_.begin(), slots_.end(),
                     [&](const auto& s) { return s.second->runtime && s.second->runtime->handler_count(event) > 0; });
}

asio::awaitable<json> SkillHost::fire(std::string event, json payload, int data_depth, TriggerBudget budget) {
  std::vector<std::shared_ptr<Slot>> slots;
  {
    std::lock_guard lock(mu_);
    for (auto& [name, slot] : slots_) slots.push_back(slot);
  }
  int ran = 0;
  json errors = json::array();
  for (auto& slot : slots) {
    if (unavailable(*slot)) continue;
    auto count = slot->runtime->handler_count(event);  // fixed once loaded: no hop to the strand
    for (std::size_t i = 0; i < count; ++i) {
      if (budget && budget->fetch_sub(1) <= 0) {
        if (budget->load() == -1)
          spdlog::warn(
              "[{}] {} not run: one write has set off {} handler runs already (a handler fanning out over "
              "its own event?)",
              slot->package.manifest.name, event, kMaxTriggerRuns);
        continue;
      }
      auto started = Clock::now();
      auto deadline = started + options_.default_timeout;
      CallContext ctx{Caller{}, deadline, 0, new_call_id(), "event " + event};
      auto r = co_await drive(
          slot,
          [&](LuaRuntime& rt) {
            auto inv = rt.start_handler(event, i, payload, deadline);
            if (inv) {
              (*inv)->data_depth = data_depth;
              (*inv)->trigger_budget = budget;
            }
            return inv;
          },
          ctx);
      ++ran;
      record(ctx, "local", options_.node_name, slot->package.manifest.name + " on " + event, r, started);
      if (!r) {
        spdlog::warn("[{}] handler for {} failed: {}", slot->package.manifest.name, event, r.error().message());
        // A package whose start-up fails is not served until it is fixed or resumed.
        if (event == "startup") mark_failed(*slot, "startup handler failed: " + r.error().message());
        errors.push_back({{"package", slot->package.manifest.name},
                          {"code", r.error().code_name()},
                          {"message", r.error().message()}});
      }
    }
  }
  co_return json{{"event", event}, {"handlers", ran}, {"errors", errors}};
}

void SkillHost::start_periods(const std::shared_ptr<Slot>& slot) {
  const auto& periods = slot->runtime->periods();
  for (std::size_t i = 0; i < periods.size(); ++i) {
    auto& io = pool_.next();
    auto timer = std::make_shared<asio::steady_timer>(io);
    {
      std::lock_guard lock(slot->timers_mu);
      slot->timers.push_back(timer);
    }
    auto every = periods[i].every;
    asio::co_spawn(
        io,
        [this, slot, timer, i, every]() -> asio::awaitable<void> {
          while (!slot->retired) {
            timer->expires_after(every);
            co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
            if (slot->retired) break;
            if (unavailable(*slot)) continue;
            auto deadline = Clock::now() + std::min<std::chrono::milliseconds>(every, options_.default_timeout);
            CallContext ctx{Caller{}, deadline, 0, new_call_id(), "period"};
            auto r = co_await drive(
                slot, [&](LuaRuntime& rt) { return rt.start_period(i, deadline); }, ctx);
            if (!r) spdlog::warn("[{}] periodic handler failed: {}", slot->package.manifest.name, r.error().message());
          }
        },
        asio::detached);
  }
}

void SkillHost::record(const CallContext& ctx, const std::string& direction, const std::string& callee,
                       const std::string& skill, const Result<json>& result, Clock::time_point started) {
  LedgerEntry e;
  e.call_id = ctx.call_id;
  e.at = now_iso8601();
  e.direction = direction;
  e.caller = ctx.caller_name.empty() ? (ctx.caller.local ? "operator" : ctx.caller.peer) : ctx.caller_name;
  e.callee = callee;
  e.skill = skill;
  e.status = result ? "ok" : result.error().code_name();
  e.duration_us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count();
  if (!result) e.error = result.error().message();
  ledger_.record(std::move(e));
}

void SkillHost::flush() {
  ledger_.flush();
}

json SkillHost::packages() const {
  std::lock_guard lock(mu_);
  json out = json::array();
  for (const auto& [name, slot] : slots_) {
    const auto& m = slot->package.manifest;
    json skills = json::array();
    for (const auto& s : m.skills) skills.push_back(s.name);
    out.push_back({{"name", name},
                   {"version", m.version},
                   {"description", m.description},
                   {"hash", slot->package.hash},
                   {"skills", skills},
                   {"config", slot->config},
                   {"status", slot->status}});
    if (!m.aliases.empty()) out.back()["aliases"] = m.aliases;
    if (slot->status != "ok") out.back()["reason"] = slot->reason;
  }
  return out;
}

json SkillHost::skills() const {
  std::lock_guard lock(mu_);
  json out = json::array();
  for (const auto& [name, slot] : slots_) {
    for (const auto& s : slot->package.manifest.skills) {
      out.push_back({{"name", name + "/" + s.name},
                     {"package", name},
                     {"skill", s.name},
                     {"description", s.description},
                     {"acl", s.acl.to_json()},
                     {"input", s.input},
                     {"output", s.output}});
    }
  }
  return out;
}

std::vector<std::string> SkillHost::exported() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, slot] : slots_) {
    if (slot->status != "ok") continue;
    for (const auto& s : slot->package.manifest.skills) {
      if (s.acl.exported()) out.push_back(name + "/" + s.name);
    }
  }
  return out;
}

asio::awaitable<Result<json>> SkillHost::ledger(LedgerQuery query) {
  co_return co_await net::offload(pool_.store(), [&] { return ledger_.page(query); });
}

json SkillHost::exported_flows() const {
  std::lock_guard lock(mu_);
  json out = json::array();
  for (const auto& [name, slot] : slots_) {
    if (slot->status != "ok") continue;
    for (const auto& s : slot->package.manifest.skills) {
      if (!s.acl.exported()) continue;
      out.push_back({{"name", name + "/" + s.name},
                     {"description", s.description},
                     {"author", s.author},
                     {"tags", s.tags},
                     {"version", slot->package.manifest.version}});
    }
  }
  return out;
}

}  // namespace fedmesh::skills
