#include "jobs/worker.hpp"

#include <algorithm>

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/address.hpp"
#include "core/error_json.hpp"
#include "core/json.hpp"
#include "jobs/aggregator.hpp"
#include "jobs/operations.hpp"
#include "jobs/partial_check.hpp"
#include "net/offload.hpp"

namespace fedmesh::jobs {

namespace asio = boost::asio;
using json = nlohmann::json;

namespace {

// Per-column summaries a datasource may choose to show: counts, and for numbers the
// mean, min and max.
json summaries(const Table& t) {
  json out = json::object();
  for (const auto& c : t.columns) {
    std::size_t present = 0;
    double sum = 0, lo = INFINITY, hi = -INFINITY;
    for (std::size_t r = 0; r < t.rows; ++r) {
      if (c.missing(r)) continue;
      ++present;
      if (c.type != ColumnType::number) continue;
      sum += c.numbers[r];
      lo = std::min(lo, c.numbers[r]);
      hi = std::max(hi, c.numbers[r]);
    }
    json s = {{"count", present}, {"missing", t.rows - present}};
    if (c.type == ColumnType::number && present > 0) {
      s["mean"] = sum / static_cast<double>(present);
      s["min"] = lo;
      s["max"] = hi;
    }
    out[c.name] = std::move(s);
  }
  return out;
}

class HttpLink final : public JobsLink {
 public:
  HttpLink(net::HttpClient& client, std::vector<Url> urls, std::string expected)
      : client_(client), urls_(std::move(urls)), expected_(std::move(expected)) {}

  asio::awaitable<Result<json>> call(std::string op, std::string body, Millis timeout) override {
    Result<net::ClientResponse> res = make_error(ErrorCode::peer_unavailable, "no aggregator configured");
    for (std::size_t tried = 0; tried < urls_.size(); ++tried) {
      std::size_t at = current_.load();
      const Url& url = urls_[at % urls_.size()];
      net::ClientTarget target{url.endpoint.host, url.endpoint.port, expected_};
      net::ClientRequest req;
      req.method = "POST";
      req.target = "/fed/v1/jobs/" + op;
      req.body = body;
      res = co_await client_.send(std::move(target), std::move(req), std::chrono::steady_clock::now() + timeout);
      if (res || res.error().code() != ErrorCode::peer_unavailable) break;
      current_.compare_exchange_strong(at, at + 1);  // this one is down: the next call starts at the next
    }
    if (!res) co_return std::move(res).error();
    {
      std::lock_guard lock(mu_);
      name_ = res->peer_name;
    }
    auto parsed = json::parse(res->body, nullptr, false);
    if (res->status / 100 != 2) {
      std::string fallback = "the aggregator answered " + std::to_string(res->status);
      if (parsed.is_object() && parsed.contains("error")) co_return error_from_json(parsed["error"], fallback);
      co_return make_error(ErrorCode::peer_unavailable, fallback);
    }
    if (!parsed.is_object())
      co_return make_error(ErrorCode::peer_unavailable, "the aggregator answered no JSON object");
    co_return parsed;
  }

  std::string aggregator() const override {
    std::lock_guard lock(mu_);
    return name_;
  }

 private:
  net::HttpClient& client_;
  std::vector<Url> urls_;
  std::string expected_;
  std::atomic<std::size_t> current_{0};
  mutable std::mutex mu_;
  std::string name_;
};

class LocalLink final : public JobsLink {
 public:
  LocalLink(Aggregator& aggregator, std::string self, std::string organization)
      : aggregator_(aggregator), self_(std::move(self)), organization_(std::move(organization)) {}

  asio::awaitable<Result<json>> call(std::string op, std::string body, Millis) override {
    if (op == "hello") co_return co_await aggregator_.hello(self_, organization_, std::move(body));
    if (op == "next") co_return co_await aggregator_.next(self_, std::move(body));
    co_return co_await aggregator_.result(self_, std::move(body));
  }
  std::string aggregator() const override { return self_; }

 private:
  Aggregator& aggregator_;
  std::string self_;
  std::string organization_;
};

bool serves(const LoadedDatasource& d, const std::string& token) {
  auto digest = token_digest(token);
  bool found = false;
  for (const auto& mine : d.digests) found = CRYPTO_memcmp(mine.data(), digest.data(), digest.size()) == 0 || found;
  return found;
}

json task_error(const std::string& message, bool permanent = true) {
  return {{"error", {{"message", message}, {"permanent", permanent}}}};
}

}  // namespace

Result<std::vector<LoadedDatasource>> load_datasources(const std::vector<DatasourceConfig>& configs) {
  std::vector<LoadedDatasource> out;
  for (const auto& c : configs) {
    auto table = read_table(c.path, c.format == "tsv" ? '\t' : ',');
    if (!table)
      return make_error(ErrorCode::config_invalid, "jobs.datasources '" + c.name + "': " + table.error().message());
    LoadedDatasource d;
    d.config = c;
    for (const auto& t : c.tokens) d.digests.push_back(token_digest(t));
    d.report = table->metadata();
    d.report["name"] = c.name;
    d.report["tokens"] = d.digests;
    d.report["min_rows"] = c.min_rows;
    if (c.summaries) d.report["summaries"] = summaries(*table);
    d.table = std::make_shared<const Table>(std::move(*table));
    out.push_back(std::move(d));
  }
  return out;
}

std::unique_ptr<JobsLink> make_http_link(net::HttpClient& client, const std::vector<std::string>& urls,
                                         const std::string& expected_name) {
  std::vector<Url> parsed;
  parsed.reserve(urls.size());
  for (const auto& u : urls) parsed.push_back(*parse_url(u));
  return std::make_unique<HttpLink>(client, std::move(parsed), expected_name);
}

std::unique_ptr<JobsLink> make_local_link(Aggregator& aggregator, const std::string& self,
                                          const std::string& organization) {
  return std::make_unique<LocalLink>(aggregator, self, organization);
}

Worker::Worker(net::IoPool& io, std::unique_ptr<JobsLink> link, std::vector<LoadedDatasource> sources,
               WorkerOptions options)
    : io_(io), link_(std::move(link)), sources_(std::move(sources)), options_(options) {}

Worker::~Worker() {
  stop();
}

void Worker::start() {
  auto& ctx = io_.next();
  timer_ = std::make_shared<asio::steady_timer>(ctx);
  asio::co_spawn(ctx, loop(), asio::detached);
}

void Worker::stop() {
  if (stopping_.exchange(true)) return;
  if (timer_) asio::post(timer_->get_executor(), [t = timer_] { t->cancel(); });
}

json Worker::status() const {
  json sources = json::array();
  for (const auto& d : sources_)
    sources.push_back({{"name", d.config.name},
                       {"path", d.config.path},
                       {"rows", d.table->rows},
                       {"columns", d.report["columns"]},
                       {"min_rows", d.config.min_rows}});
  std::lock_guard lock(mu_);
  return {
      {"aggregator", link_->aggregator()},   {"connected", connected_.load()},
      {"datasources", std::move(sources)},   {"tasks", counters_.tasks.load()},
      {"refused", counters_.refused.load()}, {"last_error", last_error_.empty() ? json(nullptr) : json(last_error_)}};
}

void Worker::note_error(const std::string& what) {
  std::lock_guard lock(mu_);
  if (what != last_error_) spdlog::warn("jobs: {}", what);
  last_error_ = what;
}

asio::awaitable<bool> Worker::pause(Millis d) {
  if (stopping_) co_return false;
  timer_->expires_after(d);
  co_await timer_->async_wait(asio::as_tuple(asio::use_awaitable));
  co_return !stopping_;
}

asio::awaitable<void> Worker::loop() {
  Millis backoff = options_.retry_initial;
  bool registered = false;
  json report = json::array();
  for (const auto& d : sources_) report.push_back(d.report);
  std::string hello = dump_json(json{{"datasources", report}});  // cells may hold any bytes
  std::string poll = json{{"wait_ms", options_.poll.count()}}.dump();
  while (!stopping_) {
    if (!registered) {
      auto r = co_await link_->call("hello", hello, Millis(10'000));
      if (!r) {
        connected_ = false;
        note_error("cannot reach the aggregator: " + r.error().message());
        if (!co_await pause(backoff)) co_return;
        backoff = std::min(backoff * 2, options_.retry_max);
        continue;
      }
      registered = true;
      connected_ = true;
      backoff = options_.retry_initial;
      spdlog::info("jobs: connected to aggregator {} with {} datasources", link_->aggregator(), sources_.size());
    }
    auto r = co_await link_->call("next", poll, options_.poll + Millis(10'000));
    if (stopping_) co_return;
    if (!r) {
      connected_ = false;
      registered = false;
      if (r.error().code() == ErrorCode::conflict) continue;  // an aggregator that lost us: say hello again
      note_error("polling the aggregator failed: " + r.error().message());
      if (!co_await pause(backoff)) co_return;
      backoff = std::min(backoff * 2, options_.retry_max);
      continue;
    }
    connected_ = true;
    backoff = options_.retry_initial;
    const json task = r->contains("task") ? (*r)["task"] : json();
    if (!task.is_object()) continue;
    auto is = [&](const char* key, bool (json::*type)() const noexcept) {
      return task.contains(key) && (task[key].*type)();
    };
    if (!is("id", &json::is_string) || !is("lease", &json::is_string) || !is("datasource", &json::is_string) ||
        !is("lease_ms", &json::is_number_integer)) {
      note_error("the aggregator sent a task of the wrong shape; ignored");
      continue;
    }
    auto outcome = co_await net::offload(io_.compute(), [this, &task] { return run_task(task); });
    co_await send_result(task, std::move(outcome));
  }
}

json Worker::run_task(const json& task) const {
  std::string name = task.value("datasource", "");
  auto it = std::find_if(sources_.begin(), sources_.end(), [&](const auto& d) { return d.config.name == name; });
  if (it == sources_.end()) return task_error("no datasource '" + name + "' here");
  const LoadedDatasource& d = *it;
  if (!task.contains("token") || !task["token"].is_string() || !serves(d, task["token"].get<std::string>()))
    return task_error("datasource " + name + " does not serve this job's project token");
  auto op = parse_operation(task.value("operation", json()));
  if (!op) return task_error(op.error().message());
  auto rows = select_rows(*d.table, task.value("where", json()));
  if (!rows) return task_error("where: " + rows.error().message());
  if (static_cast<std::int64_t>(rows->size()) < d.config.min_rows)
    return task_error("datasource " + name + " refuses: the job selects fewer rows than its minimum (min_rows = " +
                      std::to_string(d.config.min_rows) + ")");
  // FNV-1a of the datasource's name: the same trees from the same data on any platform.
  std::uint64_t salt = 14695981039346656037ull;
  for (unsigned char ch : name) salt = (salt ^ ch) * 1099511628211ull;
  auto partial = compute_partial(*op, task.value("input", json::object()), *d.table, *rows, salt);
  if (!partial) return task_error(partial.error().message());
  // A partial the aggregator would refuse unread fails the task with the reason instead.
  if (auto fits = check_result_budget(*partial); !fits) return task_error(fits.error().message());
  return {{"result", std::move(*partial)}};
}

asio::awaitable<void> Worker::send_result(const json& task, json outcome) {
  json body = std::move(outcome);
  body["task"] = task.value("id", "");
  body["lease"] = task.value("lease", "");
  if (body.contains("error")) {
    counters_.refused.fetch_add(1);
    spdlog::info("jobs: task {} refused: {}", task.value("id", ""), body["error"].value("message", ""));
  }
  std::string text = dump_json(body);
  if (text.size() > kMaxResultBytes) {
    // The aggregator would refuse it unread: say why instead, so the job fails with the reason.
    counters_.refused.fetch_add(1);
    std::string why = "the partial is " + std::to_string(text.size()) + " bytes, over the " +
                      std::to_string(kMaxResultBytes) + " bytes an aggregator takes";
    spdlog::info("jobs: task {} refused: {}", task.value("id", ""), why);
    body = {{"task", task.value("id", "")},
            {"lease", task.value("lease", "")},
            {"error", {{"message", why}, {"permanent", true}}}};
    text = dump_json(body);
  }
  // Safe to send again: a result names its lease, and a lease takes one result.
  auto until = std::chrono::steady_clock::now() + Millis(task.value("lease_ms", std::int64_t{30'000}));
  Millis backoff = options_.retry_initial;
  while (!stopping_) {
    auto r = co_await link_->call("result", text, Millis(10'000));
    if (r) {
      if (!body.contains("error")) counters_.tasks.fetch_add(1);
      co_return;
    }
    auto code = r.error().code();
    if (code == ErrorCode::conflict || code == ErrorCode::invalid_argument || code == ErrorCode::not_found ||
        code == ErrorCode::bad_json || code == ErrorCode::payload_too_large) {
      note_error("the aggregator refused the result of task " + task.value("id", "") + ": " + r.error().message());
      co_return;
    }
    counters_.failed_sends.fetch_add(1);
    note_error("sending the result of task " + task.value("id", "") + " failed: " + r.error().message());
    if (std::chrono::steady_clock::now() + backoff > until) co_return;  // the lease is over: it will be leased again
    if (!co_await pause(backoff)) co_return;
    backoff = std::min(backoff * 2, options_.retry_max);
  }
}

}  // namespace fedmesh::jobs
