// Fuzz target: HTTP requests as a listener reads them. The bytes are a connection's
// stream: Beast's request parser (the limits of ServerOptions' defaults) reads one request
// after another from them; each header becomes a net::Request as http_server.cpp builds it
// (path percent-decoded, query raw, header names lowercased), goes through the bearer
// authorizer, and is matched by a Router holding every route pattern the node serves, with
// every path and query parameter the handlers read. No server is started.
//
// to_request() is private to http_server.cpp, so its few lines are mirrored below; keep
// them in step (or move it into http_types.cpp and call it from here).
#include <cctype>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>

#include "fuzz/fuzz_input.hpp"
#include "net/bearer.hpp"
#include "net/router.hpp"

namespace {

using namespace fedmesh;
namespace http = boost::beast::http;

constexpr std::size_t kMaxHeader = 16 << 10;  // ServerOptions::max_header
constexpr std::size_t kMaxBody = 1 << 20;     // ServerOptions::max_body
constexpr int kMaxRequests = 16;              // requests read from one input

// Every (method, pattern) of src/api/*routes*.cpp: operator, federation, Kodo and join
// listeners in one table (matching is the same code whatever the listener).
constexpr std::pair<const char*, const char*> kRoutes[] = {
    {"GET", "/"},
    {"GET", "/assets/{name}"},
    {"GET", "/healthz"},
    {"GET", "/metrics"},
    {"GET", "/api/v1/status"},
    {"GET", "/api/v1/peers"},
    {"GET", "/api/v1/version"},
    {"POST", "/api/v1/debug/sleep"},
    {"POST", "/api/v1/debug/echo"},
    {"GET", "/api/v1/skills"},
    {"POST", "/api/v1/skills/{package}/{skill}"},
    {"GET", "/api/v1/packages"},
    {"POST", "/api/v1/packages"},
    {"POST", "/api/v1/packages/{name}/resume"},
    {"DELETE", "/api/v1/packages/{name}"},
    {"POST", "/api/v1/events/{name}"},
    {"GET", "/api/v1/ledger"},
    {"GET", "/api/v1/registry/flows"},
    {"GET", "/api/v1/registry/peers"},
    {"GET", "/api/v1/registry/counts"},
    {"GET", "/api/v1/registry/nodes"},
    {"GET", "/api/v1/registry/nodes/{name}"},
    {"POST", "/register"},
    {"POST", "/connect"},
    {"POST", "/update/node"},
    {"POST", "/update/registry"},
    {"GET", "/map"},
    {"GET", "/_cache"},
    {"GET", "/flows"},
    {"GET", "/counts"},
    {"POST", "/api/v1/jobs"},
    {"GET", "/api/v1/jobs"},
    {"GET", "/api/v1/jobs/clients"},
    {"GET", "/api/v1/jobs/{id}"},
    {"DELETE", "/api/v1/jobs/{id}"},
    {"GET", "/api/v1/jobs/{id}/model"},
    {"GET", "/api/v1/worker"},
    {"GET", "/api/v1/data"},
    {"GET", "/api/v1/data/{collection}/ids"},
    {"GET", "/api/v1/data/{collection}/{id}"},
    {"PUT", "/api/v1/data/{collection}"},
    {"PUT", "/api/v1/data/{collection}/{id}"},
    {"DELETE", "/api/v1/data/{collection}/{id}"},
    {"POST", "/api/v1/data/{collection}/{id}/negate"},
    {"POST", "/api/v1/data/{collection}/query"},
    {"GET", "/api/v1/deltas"},
    {"GET", "/api/v1/deltas/count"},
    {"GET", "/api/v1/collections/{name}"},
    {"PUT", "/api/v1/collections/{name}"},
    {"DELETE", "/api/v1/collections/{name}"},
    {"GET", "/api/health"},
    {"GET", "/api/deltas"},
    {"GET", "/api/deltas/count"},
    {"GET", "/api/delta/ids"},
    {"GET", "/api/peers"},
    {"GET", "/api/peers/count"},
    {"POST", "/api/query/{collection}"},
    {"GET", "/api/{collection}/ids"},
    {"GET", "/api/{collection}/{id}"},
    {"PUT", "/api/{collection}"},
    {"PUT", "/api/{collection}/{id}"},
    {"POST", "/fed/v1/hello"},
    {"GET", "/fed/v1/ping"},
    {"POST", "/fed/v1/skills/{package}/{skill}"},
    {"POST", "/fed/v1/registry/register"},
    {"POST", "/fed/v1/registry/sync"},
    {"POST", "/fed/v1/registry/digest"},
    {"POST", "/fed/v1/registry/find"},
    {"POST", "/fed/v1/registry/heartbeat"},
    {"POST", "/fed/v1/registry/deregister"},
    {"POST", "/fed/v1/data/deltas"},
    {"POST", "/fed/v1/data/heads"},
    {"GET", "/fed/v1/data/page"},
    {"POST", "/fed/v1/jobs/hello"},
    {"POST", "/fed/v1/jobs/next"},
    {"POST", "/fed/v1/jobs/result"},
    {"GET", "/fed/v1/jobs/ca"},
    {"POST", "/fed/v1/jobs/join"},
    {"GET", "/assets/{path...}"},  // a rest segment, as the Router allows
};

// What handlers read from a request: path parameters and query parameters.
constexpr const char* kParams[] = {"collection", "id", "name", "package", "skill", "path"};
constexpr const char* kQueryParams[] = {"q",  "by",    "p",      "pp",      "format", "after", "collection", "limit",
                                        "ms", "since", "status", "creator", "view",   "skill", "expand"};

const net::Router& router() {
  static const net::Router* r = [] {
    auto* out = new net::Router;  // lives for the process, like a node's routers
    for (const auto& [method, pattern] : kRoutes) {
      out->add(method, pattern,
               [](net::Request&) -> boost::asio::awaitable<net::Response> { co_return net::Response{}; });
    }
    return out;
  }();
  return *r;
}

// The part of http_server.cpp's to_request() that reads the message.
net::Request to_request(const http::request_parser<http::string_body>& parser) {
  const auto& msg = parser.get();
  net::Request req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  std::string_view target = msg.target();
  auto q = target.find('?');
  req.path = net::percent_decode(target.substr(0, q), false);
  if (q != std::string_view::npos) req.query = std::string(target.substr(q + 1));
  for (const auto& f : msg) {
    std::string name(f.name_string());
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    req.headers.emplace_back(std::move(name), std::string(f.value()));
  }
  return req;
}

// Feeds `in` to the parser until it wants more than `in` holds; returns the bytes used.
std::size_t feed(http::request_parser<http::string_body>& parser, std::string_view in, bool header_only,
                 boost::system::error_code& ec) {
  std::size_t used = 0;
  while (!(header_only ? parser.is_header_done() : parser.is_done())) {
    auto n = parser.put(boost::asio::buffer(in.data() + used, in.size() - used), ec);
    used += n;
    if (ec == http::error::need_more) {
      ec = {};
      break;
    }
    if (ec || n == 0) break;
  }
  return used;
}

void route(net::Request& req) {
  static const auto authorize = net::bearer_authorizer("fuzz-token-0123456789");
  (void)authorize(req);
  (void)req.header("expect");
  (void)router().match(req);
  for (const char* name : kParams) (void)req.param(name);
  for (const char* name : kQueryParams) {
    if (auto v = req.query_param(name)) (void)net::percent_encode(*v);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > fuzz::kMaxInput) return 0;
  std::string_view stream = fuzz::as_text(data, size);
  for (int i = 0; i < kMaxRequests && !stream.empty(); ++i) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(kMaxHeader));
    parser.body_limit(kMaxBody);
    boost::system::error_code ec;
    stream.remove_prefix(feed(parser, stream, true, ec));
    if (ec || !parser.is_header_done()) break;
    net::Request req = to_request(parser);
    route(req);
    if (!parser.is_done()) {
      stream.remove_prefix(feed(parser, stream, false, ec));
      if (!ec && !parser.is_done()) parser.put_eof(ec);  // the stream ends: a body cut short
      if (ec) break;
    }
    req.body = std::move(parser.get().body());
    if (!parser.get().keep_alive()) break;
  }
  return 0;
}
