#include "registry/kodo.hpp"

#include <optional>
#include <regex>
#include <set>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/address.hpp"
#include "core/json.hpp"
#include "core/time.hpp"
#include "net/http_client.hpp"
#include "net/offload.hpp"

namespace fedmesh::registry::kodo {

using json = nlohmann::json;

namespace {

const std::regex& url_re() {
  static const std::regex re(R"(https?://[^\s/?#]+(/[^\s]*)?)");
  return re;
}

Result<std::string> optional_string(const json& obj, const char* key, std::size_t max, const std::string& where,
                                    std::string fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_string() || it->get<std::string>().size() > max)
    return make_error(ErrorCode::bad_json, where + "." + key + " must be a string of at most " + std::to_string(max));
  return it->get<std::string>();
}

Result<std::string> url_field(const json& obj, const std::string& where) {
  auto it = obj.find("url");
  if (it == obj.end() || !it->is_string()) return make_error(ErrorCode::bad_json, where + ".url is missing");
  auto url = it->get<std::string>();
  if (url.size() > 2048 || !std::regex_match(url, url_re()))
    return make_error(ErrorCode::bad_json, where + ".url must be an http(s) URL");
  while (url.size() > 1 && url.back() == '/') url.pop_back();
  return url;
}

Result<FlowSpec> decode_flow(const json& f, const std::string& where, const std::string& key) {
  if (!f.is_object()) return make_error(ErrorCode::bad_json, where + " must be an object");
  FlowSpec s;
  auto url = optional_string(f, "url", 2048, where, key);
  if (!url) return std::move(url).error();
  s.url = *url;
  if (s.url.empty()) return make_error(ErrorCode::bad_json, where + ".url is missing");
  auto name = optional_string(f, "name", 256, where, "");
  if (!name) return std::move(name).error();
  if (name->empty()) return make_error(ErrorCode::bad_json, where + ".name is missing");
  s.name = *name;
  auto description = optional_string(f, "description", 4096, where, "missing description");
  if (!description) return std::move(description).error();
  s.description = *description;
  auto author = optional_string(f, "author", 256, where, "missing author");
  if (!author) return std::move(author).error();
  s.author = *author;
  if (auto it = f.find("tags"); it != f.end() && !it->is_null()) {
    auto tags = decode_tags(*it, where);
    if (!tags) return std::move(tags).error();
    s.tags = std::move(*tags);
  }
  return s;
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

// Kodo URLs may leave the port out; the client wants it spelled.
std::string with_port(const std::string& url) {
  if (parse_url(url)) return url;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  auto host_end = url.find('/', scheme_end + 3);
  if (host_end == std::string::npos) host_end = url.size();
  return url.substr(0, host_end) + (url.starts_with("https") ? ":443" : ":80") + url.substr(host_end);
}

}  // namespace

std::string wire_time(const std::string& iso) {
  if (!iso.empty() && iso.back() == 'Z') return iso.substr(0, iso.size() - 1);
  return iso;
}

std::string message_time(const std::string& iso) {
  auto t = wire_time(iso);
  if (auto p = t.find('T'); p != std::string::npos) t[p] = ' ';
  return t;
}

std::string node_name(const std::string& url) {
  std::string_view rest = url;
  if (auto p = rest.find("://"); p != std::string_view::npos) rest.remove_prefix(p + 3);
  std::string safe;
  for (char c : rest) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    bool ok = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '.';
    if (ok) {
      safe += l;
    } else if (!safe.empty() && safe.back() != '-') {
      safe += '-';
    }
  }
  while (!safe.empty() && safe.back() == '-') safe.pop_back();
  std::string name = "kodo-" + safe;
  if (name.size() > 63) name = fmt::format("{}-{:012x}", name.substr(0, 50), fnv1a(url) & 0xffffffffffffULL);
  return name;
}

Result<Node> decode_node(const json& body, const std::string& where) {
  if (!body.is_object()) return make_error(ErrorCode::bad_json, where + " must be a JSON object");
  Node n;
  auto url = url_field(body, where);
  if (!url) return std::move(url).error();
  n.url = *url;
  auto organization = optional_string(body, "organization", 256, where, "");
  if (!organization) return std::move(organization).error();
  n.organization = *organization;
  auto flows = body.find("flows");
  if (flows == body.end()) return make_error(ErrorCode::bad_json, where + ".flows is missing");
  if (!flows->is_object() && !flows->is_array())
    return make_error(ErrorCode::bad_json, where + ".flows must be an object keyed by path (or a list)");
  if (flows->size() > 1024) return make_error(ErrorCode::payload_too_large, where + " has more than 1024 flows");
  std::map<std::string, FlowSpec> by_url;  // a later flow with the same url replaces an earlier one
  std::size_t i = 0;
  for (const auto& [key, f] : flows->items()) {
    std::string at = where + ".flows[" + (flows->is_object() ? json(key).dump() : std::to_string(i)) + "]";
    ++i;
    auto flow = decode_flow(f, at, flows->is_object() ? key : std::string());
    if (!flow) return std::move(flow).error();
    by_url[flow->url] = std::move(*flow);
  }
  for (auto& [u, f] : by_url) n.flows.push_back(std::move(f));
  return n;
}

Result<Offer> decode_offer(const json& body) {
  if (!body.is_object()) return make_error(ErrorCode::bad_json, "the offer must be a JSON object");
  Offer o;
  auto url = url_field(body, "offer");
  if (!url) return std::move(url).error();
  o.url = *url;
  auto organization = optional_string(body, "organization", 256, "offer", "");
  if (!organization) return std::move(organization).error();
  o.organization = *organization;
  auto feed = body.find("feed");
  if (feed == body.end() || !feed->is_boolean())
    return make_error(ErrorCode::bad_json, "offer.feed must be true or false");
  o.feed = feed->get<bool>();
  auto nodes = body.find("nodes");
  if (nodes == body.end() || !nodes->is_object())
    return make_error(ErrorCode::bad_json, "offer.nodes must be an object keyed by node url");
  if (nodes->size() > 10'000) return make_error(ErrorCode::payload_too_large, "offer has more than 10000 nodes");
  for (const auto& [key, n] : nodes->items()) {
    auto node = decode_node(n, "offer.nodes[" + json(key).dump() + "]");
    if (!node) return std::move(node).error();
    o.nodes.push_back(std::move(*node));
  }
  return o;
}

json node_json(const CatalogNode& n) {
  json flows = json::object();
  for (const auto& f : *n.flows)
    flows[f.url] = {
        {"url", f.url}, {"name", f.name}, {"description", f.description}, {"tags", f.tags}, {"author", f.author}};
  return {{"url", n.url},
          {"organization", n.organization.empty() ? json() : json(n.organization)},
          {"flows", flows},
          {"created", wire_time(n.created)},
          {"modified", wire_time(n.modified)},
          {"heartbeat", wire_time(n.heartbeat)},
          {"status", "unknown"}};
}

Gateway::Gateway(Catalog& catalog, MetaStore& store, net::IoPool& pool, GatewayOptions options)
    : catalog_(catalog),
      store_(store),
      pool_(pool),
      options_(std::move(options)),
      started_at_(wire_time(iso8601(catalog.clock().now()))),
      index_([this] { return kodo_rows(); }) {}

Gateway::~Gateway() {
  stop();
}

Status Gateway::load(bool reset) {
  std::lock_guard lock(mu_);
  providers_.clear();
  if (reset) return save_providers();
  auto text = store_.get("kodo.providers");
  if (!text) return std::move(text).error();
  if (!text->has_value()) return {};
  auto saved = parse_json_object(**text, 4);
  if (!saved) return {};  // unreadable: start without remembered Kodo registries
  for (const auto& [url, p] : saved->items()) {
    if (!p.is_object()) continue;
    providers_[url] = {url,
                       p.value("organization", ""),
                       p.value("feed", false),
                       p.value("created", ""),
                       p.value("modified", ""),
                       p.value("heartbeat", "")};
  }
  return {};
}

Status Gateway::save_providers() {
  json out = json::object();
  for (const auto& [url, p] : providers_)
    out[url] = {{"organization", p.organization},
                {"feed", p.feed},
                {"created", p.created},
                {"modified", p.modified},
                {"heartbeat", p.heartbeat}};
  return store_.set("kodo.providers", dump_json(out));
}

void Gateway::start() {
  listener_ =
      catalog_.add_listener([this](const CatalogNode& node, const ChangeSource& source) { on_change(node, source); });
  std::lock_guard lock(mu_);
  // The registries to connect to get their feed first: its catch-up is the connect, and
  // changes made meanwhile queue behind it.
  for (const auto& url : options_.connect) feed_locked(url);
  started_ = true;
  for (auto& [url, feed] : feeds_) feed->start();
  if (!options_.connect.empty()) {
    deadline_ = std::make_shared<boost::asio::steady_timer>(pool_.next().get_executor());
    boost::asio::co_spawn(deadline_->get_executor(), connect_deadline(), boost::asio::detached);
  }
}

void Gateway::stop() {
  std::map<std::string, std::shared_ptr<Feed>> feeds;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    feeds = feeds_;
    if (deadline_) boost::asio::post(deadline_->get_executor(), [t = deadline_] { t->cancel(); });
  }
  catalog_.remove_listener(listener_);
  for (auto& [url, feed] : feeds) feed->stop();
}

void Gateway::set_url(std::string url) {
  std::lock_guard lock(mu_);
  options_.url = std::move(url);
}

std::string Gateway::url() const {
  std::lock_guard lock(mu_);
  return options_.url;
}

json Gateway::status(const std::vector<std::string>& messages) const {
  std::lock_guard lock(mu_);
  json connection = json::object();
  for (const auto& [url, when] : connected_) connection[url] = wire_time(when);
  return {{"url", options_.url},
          {"organization", options_.organization},
          {"node", false},
          {"registry", true},
          {"provider", false},
          {"connection", connection},  // the Kodo registries this one connected to, and when
          {"started_at", started_at_},
          {"idle", std::all_of(feeds_.begin(), feeds_.end(), [](const auto& f) { return f.second->idle(); })},
          {"now", wire_time(iso8601(catalog_.clock().now()))},
          {"message", messages}};
}

Result<std::vector<std::string>> Gateway::apply_nodes(const std::vector<Node>& nodes, const std::string& source) {
  auto fedmesh_urls = catalog_.live_urls(kKindFedmesh);
  std::vector<std::string> messages;
  for (const auto& n : nodes) {
    if (fedmesh_urls.contains(n.url)) {
      if (source.empty())
        return make_error(ErrorCode::conflict, n.url + " is the URL of a fedmesh node in this catalog");
      continue;  // our own fedmesh node, echoed back by a Kodo registry
    }
    auto put = catalog_.put_kodo(node_name(n.url), n.url, n.organization, n.flows, source.empty(), source);
    if (!put) return std::move(put).error();
    if (source.empty()) {
      messages.push_back(
          "registered node " + n.url +
          (put->first ? std::string(" (first visit)") : " (seen previously " + message_time(put->created) + ")"));
    } else if (put->changed) {
      messages.push_back((put->first ? "created node " : "updated node ") + n.url);
    }
  }
  return messages;
}

Result<json> Gateway::register_node(const json& body) {
  auto node = decode_node(body);
  if (!node) return std::move(node).error();
  if (node->url == url()) return make_error(ErrorCode::invalid_argument, "a node cannot register this registry's URL");
  auto messages = apply_nodes({*node}, "");
  if (!messages) return std::move(messages).error();
  {
    std::lock_guard lock(mu_);
    for (const auto& [u, p] : providers_)
      if (p.feed) messages->push_back("feed forward node to " + u);
  }
  return status(*messages);
}

Result<json> Gateway::connect(const json& body) {
  auto o = decode_offer(body);
  if (!o) return std::move(o).error();
  if (o->url == url()) return make_error(ErrorCode::invalid_argument, "a registry cannot connect to itself");
  std::vector<std::string> messages;
  {
    std::lock_guard lock(mu_);
    auto stamp = iso8601(catalog_.clock().now());
    auto it = providers_.find(o->url);
    if (it != providers_.end()) {
      messages.push_back("registry " + o->url + " connected (seen previously " + message_time(it->second.created) +
                         ")");
    } else {
      messages.push_back("registry " + o->url + " connected (first visit)");
      it = providers_.emplace(o->url, Provider{o->url, "", false, stamp, "", ""}).first;
    }
    it->second.organization = o->organization;
    it->second.feed = o->feed;
    it->second.modified = stamp;
    it->second.heartbeat = stamp;
    if (auto s = save_providers(); !s) return std::move(s).error();
  }
  spdlog::info("registry: Kodo registry {} connected (feed {})", o->url, o->feed);
  auto applied = apply_nodes(o->nodes, o->url);
  if (!applied) return std::move(applied).error();
  messages.insert(messages.end(), applied->begin(), applied->end());
  if (o->feed) return json{{"providers", offer()}, {"message", messages}};
  return status(messages);
}

Result<std::vector<std::string>> Gateway::update_from(const json& body, bool provider_record) {
  auto o = decode_offer(body);
  if (!o) return std::move(o).error();
  {
    std::lock_guard lock(mu_);
    auto it = providers_.find(o->url);
    if (it == providers_.end())
      return make_error(ErrorCode::not_found, "unknown Kodo registry " + o->url + ": POST /connect first");
    it->second.heartbeat = iso8601(catalog_.clock().now());
    if (provider_record) {
      it->second.organization = o->organization;
      it->second.modified = it->second.heartbeat;
      if (auto s = save_providers(); !s) return std::move(s).error();
    }
  }
  auto messages = apply_nodes(o->nodes, o->url);
  if (messages && provider_record) messages->insert(messages->begin(), "updated provider " + o->url);
  return messages;
}

Result<json> Gateway::update_node(const json& body) {
  auto messages = update_from(body, false);
  if (!messages) return std::move(messages).error();
  return status(*messages);
}

Result<json> Gateway::update_registry(const json& body) {
  auto messages = update_from(body, true);
  if (!messages) return std::move(messages).error();
  return status(*messages);
}

json Gateway::offer() const {
  json nodes = json::object();
  for (const auto& n : catalog_.live_nodes()) nodes[n.url] = node_json(n);
  std::lock_guard lock(mu_);
  return {{"url", options_.url}, {"organization", options_.organization}, {"feed", true}, {"nodes", nodes}};
}

json Gateway::dump() const {
  json out = offer();
  json providers = json::object();
  std::lock_guard lock(mu_);
  for (const auto& [url, p] : providers_)
    providers[url] = {{"url", url},
                      {"organization", p.organization},
                      {"feed", p.feed},
                      {"nodes", json::object()},  // their nodes are in "nodes", merged into the catalog
                      {"created", wire_time(p.created)},
                      {"modified", wire_time(p.modified)},
                      {"connect", true},
                      {"heartbeat", wire_time(p.heartbeat)}};
  out["providers"] = providers;
  return out;
}

std::vector<NodeFlows> Gateway::kodo_rows() const {
  auto self = url();
  std::vector<NodeFlows> out;
  for (const auto& n : catalog_.live_nodes())  // node fields copied, flow lists shared
    out.push_back({self, n.url, n.organization, wire_time(n.created), wire_time(n.modified), wire_time(n.heartbeat), "",
                   n.flows});
  return out;
}

std::shared_ptr<const FlowIndex> Gateway::index() {
  auto [structure, heartbeats] = catalog_.generations();
  return index_.get(structure, heartbeats);
}

void Gateway::set_index_runner(IndexCache::Runner runner) {
  index_.set_runner(std::move(runner));
}

bool Gateway::idle() const {
  std::lock_guard lock(mu_);
  return std::all_of(feeds_.begin(), feeds_.end(), [](const auto& f) { return f.second->idle(); });
}

std::shared_ptr<Gateway::Feed> Gateway::feed_locked(const std::string& url) {
  auto& feed = feeds_[url];
  if (feed) return feed;
  Feed::Options options;
  options.queue_limit = options_.max_queue;
  options.batch = 100;  // one request carries up to 100 nodes
  options.retry_initial = std::chrono::milliseconds(200);
  options.retry_max = std::chrono::milliseconds(2000);
  options.attempts = options_.attempts;
  options.key = [](const json& node) { return node.value("url", std::string()); };  // newer wins
  Feed::Handlers handlers;
  handlers.send = [this, url](std::vector<json> nodes) -> boost::asio::awaitable<Status> {
    co_return co_await forward(url, std::move(nodes));
  };
  if (std::find(options_.connect.begin(), options_.connect.end(), url) != options_.connect.end() &&
      !given_up_.contains(url)) {
    // Lossless: an update the registry refuses (it restarted and forgot us) is not retried
    // but recovered by connecting again, which sends the whole catalog.
    options.attempts = 0;
    options.catch_up_first = true;
    options.retry_initial = options_.retry_initial;
    options.retry_max = options_.retry_max;
    handlers.catch_up = [this, url]() -> boost::asio::awaitable<Status> {
      std::string registry = url;  // named first: g++ 12 and temporaries in co_await
      co_return co_await connect_to(std::move(registry));
    };
  }
  handlers.changed = [url](bool up, const std::string& error) {
    if (!up) spdlog::warn("registry: Kodo registry {}: {}", url, error);
  };
  feed = std::make_shared<Feed>(url, pool_.next().get_executor(), std::move(options), std::move(handlers));
  if (started_) feed->start();
  return feed;
}

boost::asio::awaitable<Status> Gateway::forward(std::string registry, std::vector<json> nodes) {
  auto url = parse_url(with_port(registry));
  if (!url) co_return make_error(ErrorCode::invalid_argument, "'" + registry + "' is not a Kodo registry URL");
  json by_url = json::object();
  for (auto& n : nodes) {
    std::string key = n.value("url", std::string());
    by_url[key] = std::move(n);
  }
  std::string self_url, organization;
  {
    std::lock_guard lock(mu_);
    self_url = options_.url;
    organization = options_.organization;
  }
  net::ClientRequest req;
  req.method = "POST";
  req.target = url->path.empty() ? "/update/node" : url->path + "/update/node";
  req.body = dump_json(json{{"url", self_url}, {"organization", organization}, {"feed", false}, {"nodes", by_url}});
  auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  auto res = co_await net::plain_request(url->endpoint.host, url->endpoint.port, std::move(req), deadline);
  if (!res) co_return std::move(res).error();
  if (res->status != 200)
    co_return make_error(ErrorCode::peer_unavailable, "/update/node answered HTTP " + std::to_string(res->status));
  forwarded_ += by_url.size();
  co_return Status{};
}

void Gateway::on_change(const CatalogNode& node, const ChangeSource& source) {
  if (node.deleted) return;  // Kodo v1 has no route to remove a node
  std::vector<std::shared_ptr<Feed>> targets;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    for (const auto& [url, p] : providers_) {
      // Never back to the Kodo registry the change came from.
      if (p.feed && url != source.kodo_registry) targets.push_back(feed_locked(url));
    }
    // A registry still being connected to is not a provider yet: its feed queues the change.
    for (const auto& url : options_.connect) {
      auto p = providers_.find(url);
      if (url == source.kodo_registry || (p != providers_.end() && p->second.feed)) continue;
      if (auto f = feeds_.find(url); f != feeds_.end()) targets.push_back(f->second);
    }
  }
  if (targets.empty()) return;
  json kodo_node = node_json(node);
  for (auto& feed : targets) {
    if (!feed->push(kodo_node))
      spdlog::warn("registry: Kodo feed queue full ({}); update of {} to {} dropped", options_.max_queue, node.url,
                   feed->peer());
  }
}

boost::asio::awaitable<Status> Gateway::connect_to(std::string registry) {
  auto fail = [&](const std::string& why) -> Status {
    bool given_up = false;
    {
      std::lock_guard lock(mu_);
      given_up = given_up_.contains(registry);
    }
    if (!given_up) spdlog::warn("registry: cannot connect to Kodo registry {} yet: {}; retrying", registry, why);
    return make_error(ErrorCode::peer_unavailable, why);
  };
  auto url = parse_url(registry);
  if (!url) co_return fail("not a URL like http://host:port");
  // The offer walks the whole catalog: on the store pool, like the routes that dump it.
  auto offered = co_await net::offload(pool_.store(), [this] { return offer(); });
  std::size_t sent = offered["nodes"].size();
  net::ClientRequest req;
  req.method = "POST";
  req.target = url->path + "/connect";
  req.body = dump_json(offered);
  auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  auto res = co_await net::plain_request(url->endpoint.host, url->endpoint.port, std::move(req), deadline);
  if (!res) co_return fail(res.error().message());
  if (res->status != 200) co_return fail("/connect answered HTTP " + std::to_string(res->status));
  auto answer = parse_json(res->body, 16);
  if (!answer) co_return fail("/connect answered " + answer.error().message());
  auto providers = answer->is_object() ? answer->find("providers") : answer->end();
  if (!answer->is_object() || providers == answer->end())
    co_return fail("/connect answered without its offer (\"providers\"): not a registry, or it ignored feed = true");
  auto theirs = decode_offer(*providers);
  if (!theirs) co_return fail("/connect answered a bad offer: " + theirs.error().message());
  if (theirs->url != registry)
    co_return fail("it calls itself " + theirs->url +
                   ", so its updates would not be known as its own; list that URL in "
                   "registry.kodo_connect");
  auto applied = co_await net::offload(pool_.store(), [&] { return apply_nodes(theirs->nodes, registry); });
  if (!applied) co_return fail("its nodes were not applied: " + applied.error().message());
  Status saved;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || !feeds_.contains(registry)) co_return make_error(ErrorCode::unavailable, "given up");
    auto stamp = iso8601(catalog_.clock().now());
    auto it = providers_.try_emplace(registry, Provider{registry, "", true, stamp, "", ""}).first;
    it->second.organization = theirs->organization;
    it->second.feed = true;  // we asked for its changes and send it ours
    it->second.modified = stamp;
    it->second.heartbeat = stamp;
    connected_[registry] = stamp;
    saved = save_providers();
  }
  if (!saved) co_return fail("cannot remember it: " + saved.error().message());
  spdlog::info("registry: connected to Kodo registry {}: {} node(s) offered, {} received", registry, sent,
               theirs->nodes.size());
  co_return Status{};
}

boost::asio::awaitable<void> Gateway::connect_deadline() {
  auto timer = deadline_;
  timer->expires_after(options_.connect_timeout);
  co_await timer->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  std::vector<std::shared_ptr<Feed>> given_up;
  {
    std::lock_guard lock(mu_);
    if (stopping_) co_return;
    for (const auto& url : options_.connect) {
      if (connected_.contains(url)) continue;
      auto it = feeds_.find(url);
      if (it == feeds_.end()) continue;
      given_up.push_back(it->second);
      feeds_.erase(it);
      given_up_.insert(url);
    }
  }
  for (auto& feed : given_up) {
    feed->stop();
    auto error = feed->stats().last_error;
    spdlog::error("registry: gave up connecting to Kodo registry {} after {} ({}); it is tried again at the next start",
                  feed->peer(), format_duration(options_.connect_timeout),
                  error.empty() ? std::string("no answer yet") : error);
  }
}

}  // namespace fedmesh::registry::kodo
