#include "jobs/aggregator.hpp"

#include <algorithm>
#include <regex>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/json.hpp"
#include "crypto/certs.hpp"
#include "crypto/files.hpp"
#include "data/json_logic.hpp"
#include "jobs/operations.hpp"
#include "jobs/partial_check.hpp"
#include "net/offload.hpp"

namespace fedmesh::jobs {

namespace asio = boost::asio;
using json = nlohmann::json;

namespace {

constexpr std::size_t kMaxDatasources = 100;
constexpr std::size_t kMaxColumns = 1024;
constexpr auto kRecheck = std::chrono::milliseconds(250);  // a held poll looks at the store this often

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> b(bytes);
  RAND_bytes(b.data(), static_cast<int>(b.size()));
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (auto c : b) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// Equal in time whatever the inputs: both are hashed first, so lengths do not show.
bool same_secret(std::string_view a, std::string_view b) {
  auto ha = crypto::sha256_hex(a);
  auto hb = crypto::sha256_hex(b);
  return CRYPTO_memcmp(ha.data(), hb.data(), ha.size()) == 0;
}

json parse_or(const std::string& text, json fallback) {
  if (text.empty()) return fallback;
  auto j = json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

Error bad(const std::string& why) {
  return make_error(ErrorCode::invalid_argument, why);
}

Status only_keys(const json& body, std::initializer_list<const char*> keys, const char* what) {
  for (const auto& item : body.items()) {
    const std::string& k = item.key();
    if (std::none_of(keys.begin(), keys.end(), [&](const char* known) { return k == known; }))
      return bad(std::string(what) + ": unknown field '" + k + "'");
  }
  return {};
}

// A client's datasources as it reported them: checked, bounded.
Result<json> check_datasources(const json& body) {
  auto it = body.find("datasources");
  if (it == body.end() || !it->is_array() || it->size() > kMaxDatasources)
    return bad("hello: 'datasources' must list at most " + std::to_string(kMaxDatasources) + " datasources");
  static const std::regex digest("[0-9a-f]{64}");
  std::set<std::string> names;
  for (const auto& d : *it) {
    if (!d.is_object() || !d.contains("name") || !d["name"].is_string() || d["name"].get<std::string>().empty() ||
        d["name"].get<std::string>().size() > 63)
      return bad("hello: each datasource needs a 'name'");
    if (!names.insert(d["name"].get<std::string>()).second)
      return bad("hello: datasource '" + d["name"].get<std::string>() + "' is listed twice");
    if (!d.contains("rows") || !d["rows"].is_number_unsigned()) return bad("hello: 'rows' must be a count");
    if (!d.contains("columns") || !d["columns"].is_array() || d["columns"].size() > kMaxColumns)
      return bad("hello: 'columns' must list at most " + std::to_string(kMaxColumns) + " columns");
    for (const auto& c : d["columns"])
      if (!c.is_object() || !c.contains("name") || !c["name"].is_string() || !c.contains("type") ||
          (c["type"] != "number" && c["type"] != "string"))
        return bad("hello: each column needs a 'name' and a 'type' (number or string)");
    if (!d.contains("tokens") || !d["tokens"].is_array()) return bad("hello: 'tokens' must list token digests");
    for (const auto& t : d["tokens"])
      if (!t.is_string() || !std::regex_match(t.get<std::string>(), digest))
        return bad("hello: 'tokens' must list SHA-256 digests (64 hex digits)");
    if (d.contains("summaries") && !d["summaries"].is_object()) return bad("hello: 'summaries' must be an object");
  }
  return *it;
}

json task_json(const TaskRecord& t, bool with_result) {
  json out = {{"id", t.id},       {"client", t.client}, {"datasource", t.datasource},
              {"round", t.round}, {"state", t.state},   {"attempts", t.attempts}};
  if (!t.error.empty()) out["error"] = parse_or(t.error, json(t.error));
  if (with_result && !t.result.empty()) out["result"] = parse_or(t.result, json());
  return out;
}

}  // namespace

std::string token_digest(std::string_view token) {
  return crypto::sha256_hex("fedmesh-jobs-token:" + std::string(token));
}

Aggregator::Aggregator(JobStore& store, net::IoPool& io, AggregatorOptions options, const Clock& clock)
    : store_(store), io_(io), options_(std::move(options)), clock_(clock) {}

Aggregator::~Aggregator() {
  stop();
}

std::int64_t Aggregator::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch()).count();
}

Result<std::shared_ptr<const Aggregator::RoundView>> Aggregator::round_view(const std::string& artifact, int round) {
  auto key = std::make_pair(artifact, round);
  {
    std::lock_guard lock(mu_);
    if (auto it = rounds_.find(key); it != rounds_.end()) return it->second;
  }
  auto a = store_.artifact(artifact);
  if (!a) return std::move(a).error();
  if (!*a) return make_error(ErrorCode::not_found, "no job '" + artifact + "'");
  auto view = std::make_shared<RoundView>(RoundView{(*a)->project, (*a)->token, parse_or((*a)->spec, json::object()),
                                                    parse_or((*a)->input, json::object())});
  if ((*a)->round != round)
    return std::shared_ptr<const RoundView>(std::move(view));  // not the round asked for: no cache
  std::lock_guard lock(mu_);
  if (rounds_.emplace(key, view).second) round_order_.push_back(key);
  while (round_order_.size() > 256) {
    rounds_.erase(round_order_.front());
    round_order_.pop_front();
  }
  return std::shared_ptr<const RoundView>(std::move(view));
}

void Aggregator::start() {
  sweeper_ = std::make_shared<asio::steady_timer>(io_.at(0));
  asio::co_spawn(io_.at(0), sweep_loop(), asio::detached);
}

void Aggregator::stop() {
  if (stopping_.exchange(true)) return;
  if (sweeper_) asio::post(sweeper_->get_executor(), [t = sweeper_] { t->cancel(); });
  notify();
}

void Aggregator::notify() {
  std::lock_guard lock(mu_);
  for (const auto& t : waiters_) asio::post(t->get_executor(), [t] { t->cancel(); });
}

asio::awaitable<void> Aggregator::sweep_loop() {
  auto timer = sweeper_;
  auto period = std::clamp<Millis>(options_.lease / 2, Millis(50), Millis(1000));
  while (!stopping_) {
    timer->expires_after(period);
    auto [ec] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec || stopping_) co_return;
    co_await net::offload(io_.store(), [this] {
      auto expired = store_.expire(now_ms(), options_.max_attempts);
      if (!expired) {
        spdlog::warn("jobs: lease sweep failed: {}", expired.error().message());
        return 0;
      }
      for (const auto& t : *expired) {
        counters_.expired.fetch_add(1);
        spdlog::warn("jobs: task {} of datasource {} at {}: lease expired on all {} attempts", t.id, t.datasource,
                     t.client, t.attempts);
        fail_job(t.artifact, {{"code", "deadline_exceeded"},
                              {"message", "datasource " + t.datasource + " at client " + t.client +
                                              " did not return a result within its lease on any of " +
                                              std::to_string(t.attempts) + " attempts"}});
      }
      // A round whose last result was stored by an aggregator that died before combining it.
      if (auto stalled = store_.stalled(); stalled) {
        for (const auto& [id, round] : *stalled) try_advance(id, round);
      }
      if (options_.job_timeout.count() > 0) {
        auto overdue = store_.overdue(now_ms() - options_.job_timeout.count());
        for (const auto& id : overdue ? *overdue : std::vector<std::string>{})
          fail_job(id, {{"code", "deadline_exceeded"},
                        {"message", "the job did not complete within jobs.job_timeout (" +
                                        std::to_string(options_.job_timeout.count() / 1000) +
                                        " s): a client holding one of its datasources did not come back"}});
      }
      return 0;
    });
  }
}

asio::awaitable<Result<json>> Aggregator::cancel(std::string id) {
  auto a = co_await net::offload(io_.store(), [&] { return store_.artifact(id); });
  if (!a) co_return std::move(a).error();
  if (!*a) co_return make_error(ErrorCode::not_found, "no job '" + id + "'");
  if ((*a)->state == "completed" || (*a)->state == "failed")
    co_return make_error(ErrorCode::conflict, "job " + id + " is " + (*a)->state + " already");
  co_await net::offload(io_.store(), [&] {
    fail_job(id, {{"code", "cancelled"}, {"message", "cancelled by the operator"}});
    return 0;
  });
  co_return co_await job(id);
}

void Aggregator::fail_job(const std::string& artifact, const json& error) {
  if (auto s = store_.fail_artifact(artifact, error.dump(), now_ms()); !s) {
    spdlog::error("jobs: cannot mark {} failed: {}", artifact, s.error().message());
    return;
  }
  counters_.failed.fetch_add(1);
  spdlog::info("jobs: {} failed: {}", artifact, error.value("message", ""));
}

void Aggregator::try_advance(const std::string& artifact, int round) {
  bool more = false, completed = false, failed = false;
  std::string failure;
  auto advanced =
      store_.advance(artifact, round, now_ms(), [&](const ArtifactRecord& a, const std::vector<TaskRecord>& tasks) {
        RoundOutcome out;
        json spec = parse_or(a.spec, json::object());
        json input = parse_or(a.input, json::object());
        json progress = parse_or(a.progress, json::object());
        auto op = parse_operation(spec.value("operation", json()));
        std::vector<json> partials;
        partials.reserve(tasks.size());
        for (const auto& t : tasks) partials.push_back(parse_or(t.result, json()));
        Result<Step> step = op ? combine_round(*op, a.round, input, partials, progress) : Result<Step>(op.error());
        out.progress = progress.dump();
        if (!step) {
          failed = true;
          failure = step.error().message();
          out.state = "failed";
          out.error = json{{"code", "combine_failed"}, {"message", step.error().message()}}.dump();
          return out;
        }
        if (step->done) {
          out.state = "completed";
          out.result = step->result.dump();
          if (!step->model.is_null()) out.model = step->model.dump();
          completed = true;
          return out;
        }
        out.state = "running";
        out.input = step->next_input.dump();
        for (const auto& t : tasks) {
          TaskRecord next;
          next.id = a.id + "." + std::to_string(a.round + 1) + "." + random_hex(4);
          next.artifact = a.id;
          next.round = a.round + 1;
          next.client = t.client;
          next.datasource = t.datasource;
          next.created_at = now_ms();
          out.next_tasks.push_back(std::move(next));
        }
        more = true;
        return out;
      });
  if (!advanced) {
    spdlog::error("jobs: combining round {} of {} failed: {}", round, artifact, advanced.error().message());
    return;
  }
  if (completed) {
    counters_.completed.fetch_add(1);
    spdlog::info("jobs: {} completed", artifact);
  }
  if (failed) {
    counters_.failed.fetch_add(1);
    spdlog::warn("jobs: {} failed while combining round {}: {}", artifact, round, failure);
  }
  if (more) notify();
}

asio::awaitable<Result<json>> Aggregator::submit(std::string text) {
  auto body = parse_json_object(text, 40);
  if (!body) co_return std::move(body).error();
  if (auto s = only_keys(*body, {"project", "token", "where", "operation", "datasources"}, "job"); !s)
    co_return std::move(s).error();
  for (const char* key : {"project", "token"})
    if (!body->contains(key) || !(*body)[key].is_string())
      co_return bad(std::string("job: '") + key + "' must be a string");
  if (!body->contains("operation")) co_return bad("job: 'operation' is required");
  auto op = parse_operation((*body)["operation"]);
  if (!op) co_return std::move(op).error();
  json where = body->value("where", json());
  if (!where.is_null()) {
    if (auto s = data::check_logic(where); !s) co_return bad("job: 'where': " + s.error().message());
  }
  std::vector<std::string> only;
  if (body->contains("datasources")) {
    const json& d = (*body)["datasources"];
    if (!d.is_array() || d.empty()) co_return bad("job: 'datasources' must list datasource names");
    for (const auto& n : d) {
      if (!n.is_string()) co_return bad("job: 'datasources' must list datasource names");
      only.push_back(n.get<std::string>());
    }
  }
  if (op->spec.contains("datasource")) only = {op->spec["datasource"].get<std::string>()};

  // The token: every project is compared, so the time taken says nothing about which exist.
  const ProjectConfig* project = nullptr;
  std::string name = (*body)["project"].get<std::string>();
  std::string token = (*body)["token"].get<std::string>();
  for (const auto& p : options_.projects) {
    bool match = same_secret(token, p.token);
    if (match && p.name == name) project = &p;
  }
  if (!project) co_return make_error(ErrorCode::forbidden, "unknown project or wrong token");

  json input = first_input(*op);
  if (op->kind == "evaluate") {
    auto ref = co_await net::offload(io_.store(), [&] { return store_.artifact(op->model); });
    if (!ref) co_return std::move(ref).error();
    if (!*ref || (*ref)->project != project->name || (*ref)->model.empty())
      co_return make_error(ErrorCode::not_found, "no model '" + op->model + "' in project " + project->name +
                                                     " (a completed random_forest or logistic_regression job)");
    input = parse_or((*ref)->model, json::object());
    for (const auto& f : input.value("features", json::array())) op->columns.emplace_back(f.get<std::string>(), true);
    op->columns.emplace_back(input.value("target", std::string()), true);
  }

  auto clients = co_await net::offload(io_.store(), [&] { return store_.clients(); });
  if (!clients) co_return std::move(clients).error();
  std::string digest = token_digest(project->token);
  std::string id = "job-" + random_hex(8);
  std::vector<TaskRecord> tasks;
  std::set<std::string> matched;
  for (const auto& c : *clients) {
    json sources = parse_or(c.datasources, json::array());
    for (const auto& d : sources) {
      std::string ds = d.value("name", "");
      const json& digests = d["tokens"];
      if (std::find(digests.begin(), digests.end(), json(digest)) == digests.end()) continue;
      // A datasource is named NAME, or CLIENT/NAME where clients share names.
      std::string qualified = c.name + "/" + ds;
      auto named =
          std::find_if(only.begin(), only.end(), [&](const std::string& n) { return n == ds || n == qualified; });
      if (!only.empty() && named == only.end()) continue;
      for (const auto& needed : op->columns) {
        const std::string& column = needed.first;
        bool numeric = needed.second;
        auto col = std::find_if(d["columns"].begin(), d["columns"].end(),
                                [&](const json& x) { return x.value("name", "") == column; });
        if (col == d["columns"].end())
          co_return bad("unknown column '" + column + "' in datasource " + ds + " of client " + c.name);
        if (numeric && (*col)["type"] != "number")
          co_return bad("column '" + column + "' of datasource " + ds + " at client " + c.name + " is not numeric");
      }
      if (named != only.end()) matched.insert(*named);
      TaskRecord t;
      t.id = id + ".0." + std::to_string(tasks.size());
      t.artifact = id;
      t.client = c.name;
      t.datasource = ds;
      t.created_at = now_ms();
      tasks.push_back(std::move(t));
    }
  }
  for (const auto& n : only)
    if (!matched.count(n)) co_return bad("no datasource '" + n + "' serves project " + project->name);
  if (tasks.empty())
    co_return make_error(ErrorCode::conflict, "no datasource serves project " + project->name +
                                                  " yet (clients report their datasources when they connect)");
  ArtifactRecord a;
  a.id = id;
  a.project = project->name;
  a.token = project->token;
  json spec = {{"operation", op->spec}, {"where", where}};
  if (!only.empty()) spec["datasources"] = only;
  a.spec = spec.dump();
  a.state = "submitted";
  a.rounds = op->rounds;
  a.input = input.dump();
  a.progress = "{}";
  a.created_at = now_ms();
  auto created = co_await net::offload(io_.store(), [&] { return store_.create(a, tasks); });
  if (!created) co_return std::move(created).error();
  counters_.submitted.fetch_add(1);
  spdlog::info("jobs: {} submitted: {} on project {}, {} tasks", id, op->kind, project->name, tasks.size());
  notify();
  co_return json{{"id", id}, {"state", "submitted"}, {"tasks", tasks.size()}};
}

asio::awaitable<Result<json>> Aggregator::job(std::string id) {
  auto a = co_await net::offload(io_.store(), [&] { return store_.artifact(id); });
  if (!a) co_return std::move(a).error();
  if (!*a) co_return make_error(ErrorCode::not_found, "no job '" + id + "'");
  auto tasks = co_await net::offload(io_.store(), [&] { return store_.tasks(id); });
  if (!tasks) co_return std::move(tasks).error();
  const auto& r = **a;
  json spec = parse_or(r.spec, json::object());
  json out = {{"id", r.id},
              {"project", r.project},
              {"state", r.state},
              {"operation", spec["operation"]},
              {"where", spec["where"]},
              {"round", r.round},
              {"rounds", r.rounds},
              {"created_at", r.created_at},
              {"updated_at", r.updated_at},
              {"result", parse_or(r.result, json())},
              {"error", parse_or(r.error, json())},
              {"has_model", !r.model.empty()}};
  json list = json::array();
  for (const auto& t : *tasks) list.push_back(task_json(t, options_.allow_partial_results));
  out["tasks"] = std::move(list);
  co_return out;
}

asio::awaitable<Result<json>> Aggregator::model(std::string id) {
  auto a = co_await net::offload(io_.store(), [&] { return store_.artifact(id); });
  if (!a) co_return std::move(a).error();
  if (!*a || (*a)->model.empty()) co_return make_error(ErrorCode::not_found, "no model for job '" + id + "'");
  co_return parse_or((*a)->model, json());
}

asio::awaitable<Result<json>> Aggregator::jobs(std::size_t limit) {
  auto list = co_await net::offload(io_.store(), [&] { return store_.artifacts(limit); });
  if (!list) co_return std::move(list).error();
  json out = json::array();
  for (const auto& r : *list) {
    json spec = parse_or(r.spec, json::object());
    out.push_back({{"id", r.id},
                   {"project", r.project},
                   {"kind", spec["operation"].value("kind", "")},
                   {"state", r.state},
                   {"round", r.round},
                   {"rounds", r.rounds},
                   {"created_at", r.created_at},
                   {"updated_at", r.updated_at},
                   {"result", parse_or(r.result, json())},
                   {"error", parse_or(r.error, json())}});
  }
  co_return json{{"jobs", std::move(out)}};
}

asio::awaitable<Result<json>> Aggregator::clients() {
  auto list = co_await net::offload(io_.store(), [&] { return store_.clients(); });
  if (!list) co_return std::move(list).error();
  // Datasources show the projects they serve by name, never the digests.
  std::map<std::string, std::string> by_digest;
  for (const auto& p : options_.projects) by_digest[token_digest(p.token)] = p.name;
  std::map<std::string, Refusals> refusals;
  {
    std::lock_guard lock(mu_);
    refusals = refusals_;
  }
  json out = json::array();
  for (const auto& c : *list) {
    json sources = json::array();
    for (auto d : parse_or(c.datasources, json::array())) {
      json projects = json::array();
      for (const auto& t : d["tokens"])
        if (auto it = by_digest.find(t.get<std::string>()); it != by_digest.end()) projects.push_back(it->second);
      d.erase("tokens");
      d["projects"] = std::move(projects);
      sources.push_back(std::move(d));
    }
    json refused = nullptr;
    std::uint64_t refused_count = 0;
    if (auto it = refusals.find(c.name); it != refusals.end()) {
      refused_count = it->second.count;
      refused = {{"at", it->second.last_at},
                 {"task", it->second.last_task.empty() ? json(nullptr) : json(it->second.last_task)},
                 {"message", it->second.last_message}};
    }
    out.push_back({{"name", c.name},
                   {"organization", c.organization},
                   {"seen_at", c.seen_at},
                   {"datasources", sources},
                   {"refused_partials", refused_count},
                   {"last_refusal", std::move(refused)}});
  }
  co_return json{{"clients", std::move(out)}};
}

asio::awaitable<Result<json>> Aggregator::hello(std::string client, std::string organization, std::string text) {
  auto body = parse_json_object(text, 8);
  if (!body) co_return std::move(body).error();
  auto sources = check_datasources(*body);
  if (!sources) co_return std::move(sources).error();
  JobClientRecord rec{client, organization, sources->dump(), now_ms()};
  auto s = co_await net::offload(io_.store(), [&] { return store_.put_client(rec); });
  if (!s) co_return std::move(s).error();
  {
    std::lock_guard lock(mu_);
    known_.insert(client);
    std::erase_if(rows_, [&](const auto& entry) { return entry.first.first == client; });
    for (const auto& d : *sources) rows_[{client, d["name"].get<std::string>()}] = d["rows"].get<std::uint64_t>();
  }
  spdlog::info("jobs: client {} ({}) connected with {} datasources", client, organization, sources->size());
  co_return json{
      {"aggregator", options_.self}, {"lease_ms", options_.lease.count()}, {"max_wait_ms", options_.max_wait.count()}};
}

asio::awaitable<Result<json>> Aggregator::next(std::string client, std::string text) {
  auto body = parse_json_object(text.empty() ? std::string("{}") : text, 4);
  if (!body) co_return std::move(body).error();
  auto wait = Millis(0);
  if (auto it = body->find("wait_ms"); it != body->end()) {
    if (!it->is_number_unsigned()) co_return bad("next: 'wait_ms' must be a count of milliseconds");
    wait = std::min(Millis(it->get<std::int64_t>()), options_.max_wait);
  }
  bool known;
  {
    std::lock_guard lock(mu_);
    known = known_.count(client) > 0;
  }
  if (!known) {
    auto clients = co_await net::offload(io_.store(), [&] { return store_.clients(); });
    if (!clients) co_return std::move(clients).error();
    known = std::any_of(clients->begin(), clients->end(), [&](const JobClientRecord& c) { return c.name == client; });
    if (!known)
      co_return make_error(ErrorCode::conflict,
                           "unknown client '" + client + "': send hello with its datasources first");
    std::lock_guard lock(mu_);
    known_.insert(client);
  }
  auto deadline = std::chrono::steady_clock::now() + wait;
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    std::string lease = random_hex(12);
    auto claimed = co_await net::offload(io_.store(), [&] {
      auto now = now_ms();
      return store_.claim(client, lease, options_.self, now, now + options_.lease.count(), options_.max_attempts);
    });
    if (!claimed) co_return std::move(claimed).error();
    if (*claimed) {
      const TaskRecord& t = **claimed;
      auto view = co_await net::offload(io_.store(), [&] { return round_view(t.artifact, t.round); });
      if (!view) co_return std::move(view).error();
      const RoundView& v = **view;
      counters_.leases.fetch_add(1);
      co_return json{{"task",
                      {{"id", t.id},
                       {"lease", lease},
                       {"lease_ms", options_.lease.count()},
                       {"job", t.artifact},
                       {"round", t.round},
                       {"attempt", t.attempts},
                       {"datasource", t.datasource},
                       {"project", v.project},
                       {"token", v.token},
                       {"where", v.spec["where"]},
                       {"operation", v.spec["operation"]},
                       {"input", v.input}}}};
    }
    auto left = deadline - std::chrono::steady_clock::now();
    if (stopping_ || left <= std::chrono::steady_clock::duration::zero()) co_return json{{"task", nullptr}};
    auto timer = std::make_shared<asio::steady_timer>(ex);
    timer->expires_after(std::min<std::chrono::steady_clock::duration>(left, kRecheck));
    {
      std::lock_guard lock(mu_);
      waiters_.insert(timer);
    }
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    std::lock_guard lock(mu_);
    waiters_.erase(timer);
  }
}

std::optional<std::uint64_t> Aggregator::datasource_rows(const std::string& client, const std::string& datasource) {
  auto list = store_.clients();  // another aggregator may have taken the hello
  if (!list) return std::nullopt;
  for (const auto& c : *list) {
    if (c.name != client) continue;
    std::optional<std::uint64_t> rows;
    std::lock_guard lock(mu_);
    std::erase_if(rows_, [&](const auto& entry) { return entry.first.first == client; });
    for (const auto& d : parse_or(c.datasources, json::array())) {
      if (!d.is_object() || !d.contains("name") || !d["name"].is_string() || !d.contains("rows") ||
          !d["rows"].is_number_unsigned())
        continue;
      rows_[{client, d["name"].get<std::string>()}] = d["rows"].get<std::uint64_t>();
      if (d["name"] == datasource) rows = d["rows"].get<std::uint64_t>();
    }
    return rows;
  }
  return std::nullopt;
}

void Aggregator::refuse_partial(const std::string& client, const std::string& task, const Error& error,
                                const char* reason) {
  counters_.refused_results.fetch_add(1);
  std::string_view r = reason;
  (r == "too_large"   ? counters_.partials_too_large
   : r == "malformed" ? counters_.partials_malformed
                      : counters_.partials_invalid)
      .fetch_add(1);
  // The task id and the message may quote what the client sent: kept short.
  const std::string shown_task = task.substr(0, 128);
  const std::string message = error.message().substr(0, 1000);
  spdlog::warn("jobs: refused a partial from client {} for task {} ({}): {}", client,
               shown_task.empty() ? "?" : shown_task, reason, message);
  std::lock_guard lock(mu_);
  auto it = refusals_.find(client);
  if (it == refusals_.end()) {
    if (refusals_.size() >= kMaxRefusalRecords) return;
    it = refusals_.emplace(client, Refusals{}).first;
  }
  Refusals& record = it->second;
  ++record.count;
  record.last_at = now_ms();
  record.last_task = shown_task;
  record.last_message = message;
}

asio::awaitable<Result<json>> Aggregator::result(std::string client, std::string text) {
  // A body over the budget is refused unread; the rest is decoded off the I/O thread, in one
  // linear pass that stops at the first bound it crosses.
  if (text.size() > kMaxResultBytes) {
    auto error = make_error(ErrorCode::payload_too_large, "the result body is " + std::to_string(text.size()) +
                                                              " bytes; at most " + std::to_string(kMaxResultBytes));
    refuse_partial(client, "", error, "too_large");
    co_return error;
  }
  // A small body (most partials) is decoded in place, in microseconds. (An if, not ?:,
  // around co_await: GCC 12 ends the temporaries of a conditional co_await too early.)
  Result<json> decoded;
  if (text.size() <= kInlineDecodeBytes)
    decoded = decode_result(text);
  else
    decoded = co_await net::offload(io_.compute(), [&] { return decode_result(text); });
  std::string().swap(text);
  if (!decoded) {
    refuse_partial(client, "", decoded.error(),
                   decoded.error().code() == ErrorCode::payload_too_large ? "too_large" : "malformed");
    co_return std::move(decoded).error();
  }
  // A partial may hold a million values: freeing them is left to the compute pool too.
  std::shared_ptr<json> held(new json(std::move(*decoded)), [&pool = io_.compute()](json* value) {
    asio::post(pool, [owned = std::unique_ptr<json>(value)] {});
  });
  json& body = *held;
  auto envelope = [&]() -> Status {
    if (auto s = only_keys(body, {"task", "lease", "result", "error"}, "result"); !s) return s;
    if (!body.contains("task") || !body["task"].is_string() || !body.contains("lease") || !body["lease"].is_string())
      return bad("result: 'task' and 'lease' must be strings");
    if (body.contains("result") == body.contains("error")) return bad("result: send either 'result' or 'error'");
    return {};
  }();
  if (!envelope) {
    refuse_partial(client, string_or(body, "task"), envelope.error(), "malformed");
    co_return std::move(envelope).error();
  }
  std::string task_id = body["task"].get<std::string>();
  std::string lease = body["lease"].get<std::string>();
  auto task = co_await net::offload(io_.store(), [&] { return store_.task(task_id); });
  if (!task) co_return std::move(task).error();
  if (!*task || (*task)->client != client) co_return make_error(ErrorCode::not_found, "no task '" + task_id + "'");
  const TaskRecord t = **task;
  if (body.contains("error")) {
    const json& e = body["error"];
    if (!e.is_object() || !e.contains("message") || !e["message"].is_string() ||
        e["message"].get<std::string>().size() > 2000 || (e.contains("permanent") && !e["permanent"].is_boolean()))
      co_return bad("result: 'error' must be {\"message\": text, \"permanent\": true|false}");
    bool permanent = e.value("permanent", true);
    json error = {{"code", "task_failed"}, {"message", e["message"]}, {"permanent", permanent}};
    std::string error_text = error.dump();
    auto failed = co_await net::offload(io_.store(), [&] {
      return store_.fail_task(task_id, client, lease, error_text, permanent, options_.max_attempts, now_ms());
    });
    if (!failed) co_return std::move(failed).error();
    if (!*failed) co_return make_error(ErrorCode::conflict, "the lease of task " + task_id + " is no longer current");
    if (permanent || t.attempts >= options_.max_attempts) {
      co_await net::offload(io_.store(), [&] {
        fail_job(t.artifact, {{"code", "task_failed"},
                              {"message", "datasource " + t.datasource + " at client " + client + ": " +
                                              e["message"].get<std::string>()}});
        return 0;
      });
    } else {
      notify();
    }
    co_return json{{"accepted", true}};
  }
  auto view = co_await net::offload(io_.store(), [&] { return round_view(t.artifact, t.round); });
  if (!view) co_return std::move(view).error();
  auto op = parse_operation((*view)->spec.value("operation", json()));
  if (!op) co_return std::move(op).error();
  const json& partial = body["result"];
  const json& input = (*view)->input;
  // Checked (within the rows the client reported for the datasource), then serialized for
  // the store: both linear in the partial, and on the compute pool, not an I/O thread.
  const auto check = [&](std::optional<std::uint64_t> rows) -> Result<std::string> {
    if (auto s = check_partial(*op, t.round, input, partial, rows.value_or(kAnyRows)); !s) return std::move(s).error();
    return partial.dump();
  };
  std::optional<std::uint64_t> rows;
  {
    std::lock_guard lock(mu_);
    if (auto it = rows_.find({client, t.datasource}); it != rows_.end()) rows = it->second;
  }
  const bool cached = rows.has_value();
  if (!cached) rows = co_await net::offload(io_.store(), [&] { return datasource_rows(client, t.datasource); });
  auto checked = co_await net::offload(io_.compute(), [&] { return check(rows); });
  if (!checked && cached) {
    // The client may have reported its datasource again, to another aggregator, since.
    auto fresh = co_await net::offload(io_.store(), [&] { return datasource_rows(client, t.datasource); });
    if (fresh != rows) checked = co_await net::offload(io_.compute(), [&] { return check(fresh); });
  }
  if (!checked) {
    refuse_partial(client, task_id, checked.error(), "invalid");
    // The lease ends as a failed attempt, with the reason: the task is leased again (the
    // client may compute it anew), or the job fails when that was its last attempt.
    json error = {{"code", "partial_refused"},
                  {"message", "the aggregator refused the partial: " + checked.error().message()},
                  {"permanent", false}};
    std::string error_text = error.dump();
    auto failed = co_await net::offload(io_.store(), [&] {
      return store_.fail_task(task_id, client, lease, error_text, false, options_.max_attempts, now_ms());
    });
    if (failed && *failed) {
      if (t.attempts >= options_.max_attempts) {
        co_await net::offload(io_.store(), [&] {
          fail_job(t.artifact,
                   {{"code", "partial_refused"},
                    {"message", "datasource " + t.datasource + " at client " + client +
                                    ": the aggregator refused its partial on every one of " +
                                    std::to_string(t.attempts) + " attempts; the last: " + checked.error().message()}});
          return 0;
        });
      } else {
        notify();
      }
    }
    co_return std::move(checked).error();
  }
  std::string partial_text = std::move(*checked);
  auto done = co_await net::offload(io_.store(),
                                    [&] { return store_.complete(task_id, client, lease, partial_text, now_ms()); });
  if (!done) co_return std::move(done).error();
  if (!*done) {
    counters_.refused_results.fetch_add(1);
    co_return make_error(ErrorCode::conflict, "the lease of task " + task_id + " is no longer current");
  }
  counters_.results.fetch_add(1);
  if (**done == 0) {  // the round's last result: combine it
    co_await net::offload(io_.store(), [&] {
      try_advance(t.artifact, t.round);
      return 0;
    });
  }
  co_return json{{"accepted", true}};
}

Result<json> Aggregator::ca() const {
  if (options_.issuer.empty()) return make_error(ErrorCode::not_found, "this aggregator does not sign joins");
  auto pem = crypto::read_file(crypto::ca_files(options_.issuer).cert);
  if (!pem) return std::move(pem).error();
  return json{{"ca", *pem}, {"aggregator", options_.self}};
}

asio::awaitable<Result<json>> Aggregator::join(std::string text) {
  if (options_.issuer.empty()) co_return make_error(ErrorCode::not_found, "this aggregator does not sign joins");
  auto body = parse_json_object(text, 4);
  if (!body) co_return std::move(body).error();
  if (auto s = only_keys(*body, {"name", "csr", "token"}, "join"); !s) co_return std::move(s).error();
  for (const char* key : {"name", "csr", "token"})
    if (!body->contains(key) || !(*body)[key].is_string())
      co_return bad(std::string("join: '") + key + "' must be a string");
  std::string name = (*body)["name"].get<std::string>();
  std::string token = (*body)["token"].get<std::string>();
  // Every token is compared; a one-time join token is recorded, a project token is not.
  bool good = false;
  std::string once;
  for (const auto& t : options_.join_tokens) {
    if (same_secret(token, t)) {
      good = true;
      once = token_digest(t);
    }
  }
  for (const auto& p : options_.projects) good = same_secret(token, p.token) || good;
  if (!good) co_return make_error(ErrorCode::forbidden, "join refused: the token is not a join or project token here");
  if (std::find(options_.reserved_names.begin(), options_.reserved_names.end(), name) != options_.reserved_names.end())
    co_return make_error(ErrorCode::conflict,
                         "join refused: '" + name + "' is the name of a node this aggregator knows");
  std::string csr = (*body)["csr"].get<std::string>();
  auto info = crypto::inspect_request(csr);
  if (!info) co_return std::move(info).error();
  crypto::CertOptions copt;
  copt.organization = name;
  // A jobs client's certificate, and a name the CA never issued before (to a node or a client):
  // signing waits for the CA folder's lock, which `fedmesh ca issue` may hold, so not on an I/O thread.
  auto cert =
      co_await net::offload(io_.store(), [&] { return crypto::sign_request(options_.issuer, csr, name, copt); });
  if (!cert) {
    if (cert.error().code() == ErrorCode::conflict)
      co_return make_error(ErrorCode::conflict, "join refused: " + cert.error().message());
    co_return std::move(cert).error();
  }
  auto fp = crypto::cert_fingerprint(*cert);
  if (!fp) co_return std::move(fp).error();
  auto recorded = co_await net::offload(io_.store(), [&] { return store_.record_join(name, once, *fp, now_ms()); });
  if (!recorded) co_return std::move(recorded).error();
  if (!*recorded)
    co_return make_error(ErrorCode::conflict, "join refused: a certificate was issued to '" + name +
                                                  "' already, or this one-time join token was used");
  auto ca_pem = crypto::read_file(crypto::ca_files(options_.issuer).cert);
  if (!ca_pem) co_return std::move(ca_pem).error();
  spdlog::info("jobs: issued a certificate to joining client {} ({})", name, *fp);
  json out = {{"name", name},  {"organization", name}, {"cert", *cert},
              {"ca", *ca_pem}, {"fingerprint", *fp},   {"aggregator", options_.self}};
  if (options_.url) out["url"] = options_.url();
  co_return out;
}

}  // namespace fedmesh::jobs
