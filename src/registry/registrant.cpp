#include "registry/registrant.hpp"

#include <condition_variable>
#include <mutex>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include "core/json.hpp"

namespace fedmesh::registry {

namespace asio = boost::asio;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Registrant::State {
  std::atomic<bool> stopping{false};
  std::mutex mu;  // guards timers and running
  std::condition_variable done;
  std::vector<std::shared_ptr<asio::steady_timer>> timers;
  int running = 0;
};

Registrant::Registrant(net::IoPool& pool, federation::PeerManager& peers, RegistrantOptions options,
                       std::function<json()> registration)
    : pool_(pool),
      peers_(peers),
      options_(std::move(options)),
      registration_(std::move(registration)),
      state_(std::make_shared<State>()) {}

Registrant::~Registrant() {
  stop();
}

void Registrant::start() {
  for (const auto& registry : options_.registries) {
    auto& io = pool_.next();
    auto timer = std::make_shared<asio::steady_timer>(io);
    {
      std::lock_guard lock(state_->mu);
      state_->timers.push_back(timer);
      ++state_->running;
    }
    auto st = state_;
    asio::co_spawn(
        io,
        [this, st, timer, registry]() -> asio::awaitable<void> {
          std::string registered;  // the registration the registry has, as JSON text
          bool logged_failure = false;
          while (!st->stopping) {
            std::string body = dump_json(registration_());
            net::ClientRequest req;
            req.method = "POST";
            bool full = body != registered;
            if (full) {
              req.target = "/fed/v1/registry/register";
              req.body = body;
            } else {
              req.target = "/fed/v1/registry/heartbeat";
              req.body = "{}";
            }
            req.idempotent = true;
            auto res = co_await peers_.send(registry, std::move(req), Clock::now() + std::chrono::seconds(5));
            if (res && res->status == 200) {
              if (full) {
                registered = body;
                spdlog::info("registered with registry {}", registry);
              }
              logged_failure = false;
            } else if (res && res->status == 404 && !full) {
              registered.clear();  // the registry forgot us: register again at once
              continue;
            } else {
              registered.clear();
              if (!logged_failure) {
                spdlog::warn(
                    "registry {}: {}", registry,
                    res ? "answered " + std::to_string(res->status) + ": " + res->body : res.error().message());
                logged_failure = true;
              }
            }
            timer->expires_after(options_.heartbeat);
            co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
          }
          std::lock_guard lock(st->mu);
          --st->running;
          st->done.notify_all();
        },
        asio::detached);
  }
}

void Registrant::stop() {
  if (state_->stopping.exchange(true)) return;
  {
    std::unique_lock lock(state_->mu);
    for (auto& t : state_->timers) asio::post(t->get_executor(), [t] { t->cancel(); });
    state_->done.wait_for(lock, std::chrono::seconds(6), [&] { return state_->running == 0; });
  }
  for (const auto& registry : options_.registries) {
    net::ClientRequest req;
    req.method = "POST";
    req.target = "/fed/v1/registry/deregister";
    req.body = "{}";
    auto done = asio::co_spawn(pool_.at(0), peers_.send(registry, req, Clock::now() + std::chrono::seconds(1)),
                               asio::use_future);
    if (done.wait_for(std::chrono::seconds(2)) == std::future_status::ready) (void)done.get();
  }
}

}  // namespace fedmesh::registry
