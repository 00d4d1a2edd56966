#include "skills/ledger.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

namespace fedmesh::skills {

using json = nlohmann::json;

void Ledger::record(LedgerEntry entry) {
  bool schedule = false;
  {
    std::lock_guard lock(mu_);
    if (pending_.size() >= kBuffer) {
      ++dropped_;
      return;
    }
    pending_.push_back(std::move(entry));
    schedule = !flushing_;
    flushing_ = true;
  }
  if (schedule) boost::asio::post(pool_, [this] { flush(); });
}

void Ledger::flush() {
  std::vector<LedgerEntry> batch;
  std::uint64_t dropped;
  {
    std::lock_guard lock(mu_);
    batch.swap(pending_);
    dropped = std::exchange(dropped_, 0);
    flushing_ = false;
  }
  if (dropped > 0) spdlog::warn("ledger: {} entries dropped (writes fell behind)", dropped);
  if (batch.empty()) return;
  if (auto s = store_.append(batch); !s) spdlog::error("ledger: {}", s.error().message());
  std::lock_guard lock(mu_);
  writes_ += batch.size();
  if (writes_ >= 1000) {
    writes_ = 0;
    (void)store_.trim(keep_);
  }
}

Result<json> Ledger::page(const LedgerQuery& query) {
  flush();
  auto entries = store_.query(query);
  if (!entries) return std::move(entries).error();
  json items = json::array();
  for (const auto& e : *entries) {
    items.push_back({{"id", e.id},
                     {"call_id", e.call_id},
                     {"at", e.at},
                     {"direction", e.direction},
                     {"caller", e.caller},
                     {"callee", e.callee},
                     {"skill", e.skill},
                     {"status", e.status},
                     {"duration_us", e.duration_us},
                     {"error", e.error}});
  }
  json out = {{"items", items}};
  if (!entries->empty() && static_cast<int>(entries->size()) == query.limit) out["next_before"] = entries->back().id;
  return out;
}

}  // namespace fedmesh::skills
