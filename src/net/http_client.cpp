#include "net/http_client.hpp"

#include <sys/socket.h>

#include <atomic>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace fedmesh::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Stream = asio::ssl::stream<beast::tcp_stream>;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

std::string_view ClientResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return {};
}

struct Idle {
  std::unique_ptr<Stream> stream;
  Clock::time_point since;
};

struct HttpClient::Pool {
  TlsContext tls;
  ClientOptions options;
  mutable std::mutex mu;  // guards idle
  std::unordered_map<std::string, std::vector<Idle>> idle;
  std::atomic<std::uint64_t> opened{0};
};

namespace {

std::string pool_key(const asio::any_io_executor& ex, const ClientTarget& t) {
  auto& ctx = asio::query(ex, asio::execution::context);
  return std::to_string(reinterpret_cast<std::uintptr_t>(&ctx)) + "|" + t.host + ":" + std::to_string(t.port) + "|" +
         t.expected_name;
}

// A pooled connection the server has closed shows EOF without blocking.
bool looks_alive(Stream& s) {
  auto fd = beast::get_lowest_layer(s).socket().native_handle();
  char byte;
  ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return false;
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
  return true;  // unexpected bytes (e.g. a TLS ticket) are fine for TLS
}

std::unique_ptr<Stream> take_idle(HttpClient::Pool& pool, const std::string& key) {
  std::lock_guard lock(pool.mu);
  auto it = pool.idle.find(key);
  if (it == pool.idle.end()) return nullptr;
  auto now = Clock::now();
  while (!it->second.empty()) {
    Idle idle = std::move(it->second.back());
    it->second.pop_back();
    if (now - idle.since < pool.options.idle_expiry && looks_alive(*idle.stream)) return std::move(idle.stream);
  }
  return nullptr;
}

void give_back(HttpClient::Pool& pool, const std::string& key, std::unique_ptr<Stream> s) {
  std::lock_guard lock(pool.mu);
  auto& list = pool.idle[key];
  if (list.size() >= pool.options.max_idle_per_peer) return;
  list.push_back({std::move(s), Clock::now()});
}

std::string where(const ClientTarget& t) {
  return (t.expected_name.empty() ? std::string() : t.expected_name + " at ") + t.host + ":" + std::to_string(t.port);
}

Error classify(const ClientTarget& t, const boost::system::error_code& ec, const std::string& step) {
  if (ec == beast::error::timeout)
    return make_error(ErrorCode::deadline_exceeded, where(t) + ": no answer before the deadline (" + step + ")");
  if (ec.category() == asio::error::get_ssl_category())
    return make_error(ErrorCode::peer_refused, where(t) + ": TLS refused during " + step + ": " + ec.message());
  // The peer answered, but not with HTTP, or closed before its answer was complete.
  if (ec != http::error::end_of_stream && ec.category() == http::make_error_code(http::error::bad_version).category())
    return make_error(ErrorCode::bad_peer_response, where(t) + ": " + step + ": " + ec.message());
  return make_error(ErrorCode::peer_unavailable, where(t) + ": " + step + " failed: " + ec.message());
}

struct VerifyState {
  std::string expected;
  std::shared_ptr<const DenyList> deny;
  std::string failure;
};

asio::awaitable<Result<std::unique_ptr<Stream>>> connect(HttpClient::Pool& pool, const ClientTarget& t,
                                                         Clock::time_point deadline) {
  auto ex = co_await asio::this_coro::executor;
  auto stream = std::make_unique<Stream>(ex, *pool.tls.ssl);
  auto& lowest = beast::get_lowest_layer(*stream);
  lowest.expires_at(deadline);

  boost::system::error_code ec;
  auto addr = asio::ip::make_address(t.host == "localhost" ? "127.0.0.1" : t.host, ec);
  if (!ec) {
    auto [cec] = co_await lowest.async_connect(tcp::endpoint(addr, t.port), nothrow);
    if (cec) co_return classify(t, cec, "connect");
  } else {
    tcp::resolver resolver(ex);
    auto [rec, results] = co_await resolver.async_resolve(t.host, std::to_string(t.port), nothrow);
    if (rec) co_return make_error(ErrorCode::peer_unavailable, where(t) + ": cannot resolve: " + rec.message());
    auto [cec, ep] = co_await lowest.async_connect(results, nothrow);
    if (cec) co_return classify(t, cec, "connect");
  }
  lowest.socket().set_option(tcp::no_delay(true), ec);

  auto verify = std::make_shared<VerifyState>(VerifyState{t.expected_name, pool.tls.deny, {}});
  if (!t.expected_name.empty()) SSL_set_tlsext_host_name(stream->native_handle(), t.expected_name.c_str());
  stream->set_verify_callback([verify](bool preverified, asio::ssl::verify_context& vc) {
    X509_STORE_CTX* ctx = vc.native_handle();
    if (X509_STORE_CTX_get_error_depth(ctx) == 0 && verify->failure.empty()) {
      // Only a node serves: a jobs client's certificate (from `fedmesh join`) is never a peer's,
      // whatever its name. Said first, so the reason is this and not its key usage.
      X509* cert = X509_STORE_CTX_get_current_cert(ctx);
      if (auto role = crypto::cert_role(cert); role != crypto::CertRole::node) {
        verify->failure =
            "certificate of '" + certificate_name(cert) + "' is " +
            (role == crypto::CertRole::jobs_client ? "a jobs client's (fedmesh join), not a federation node's"
                                                   : "of a fedmesh role this node does not know");
        X509_STORE_CTX_set_error(ctx, X509_V_ERR_INVALID_PURPOSE);
        return false;
      }
    }
    if (!preverified) return false;
    if (X509_STORE_CTX_get_error_depth(ctx) != 0) return true;
    X509* cert = X509_STORE_CTX_get_current_cert(ctx);
    if (verify->deny && verify->deny->denies(cert)) {
      verify->failure = "certificate of '" + certificate_name(cert) + "' is on the deny list";
      X509_STORE_CTX_set_error(ctx, X509_V_ERR_CERT_REVOKED);
      return false;
    }
    if (!verify->expected.empty()) {
      auto name = certificate_name(cert);
      if (name != verify->expected) {
        verify->failure = "certificate name '" + name + "' is not the expected peer '" + verify->expected + "'";
        X509_STORE_CTX_set_error(ctx, X509_V_ERR_HOSTNAME_MISMATCH);
        return false;
      }
    }
    return true;
  });
  auto [hec] = co_await stream->async_handshake(asio::ssl::stream_base::client, nothrow);
  if (hec) {
    if (hec == beast::error::timeout) co_return classify(t, hec, "TLS handshake");
    std::string reason = verify->failure;
    if (reason.empty()) reason = verify_failure_reason(stream->native_handle());
    if (reason.empty()) co_return classify(t, hec, "TLS handshake");
    co_return make_error(ErrorCode::peer_refused, where(t) + ": certificate refused: " + reason);
  }
  pool.opened.fetch_add(1, std::memory_order_relaxed);
  co_return stream;
}

}  // namespace

HttpClient::HttpClient(TlsContext tls, ClientOptions options) : pool_(std::make_shared<Pool>()) {
  pool_->tls = std::move(tls);
  pool_->options = options;
}

HttpClient::~HttpClient() = default;

asio::awaitable<Result<ClientResponse>> HttpClient::send(ClientTarget target, ClientRequest request,
                                                         Clock::time_point deadline) {
  auto pool = pool_;
  auto ex = co_await asio::this_coro::executor;
  std::string key = pool_key(ex, target);

  http::request<http::string_body> req{http::string_to_verb(request.method), request.target, 11};
  req.set(http::field::host, target.expected_name.empty() ? target.host : target.expected_name);
  req.set(http::field::content_type, request.content_type);
  for (auto& [k, v] : request.headers) req.set(k, v);
  req.body() = std::move(request.body);
  req.keep_alive(true);
  req.prepare_payload();

  for (int attempt = 0; attempt < 2; ++attempt) {
    if (Clock::now() >= deadline)
      co_return make_error(ErrorCode::deadline_exceeded, where(target) + ": deadline passed before the call");
    auto stream = take_idle(*pool, key);
    bool reused = stream != nullptr;
    if (!stream) {
      auto made = co_await connect(*pool, target, deadline);
      if (!made) co_return std::move(made).error();
      stream = std::move(*made);
    }
    auto& lowest = beast::get_lowest_layer(*stream);
    lowest.expires_at(deadline);
    auto [wec, wn] = co_await http::async_write(*stream, req, nothrow);
    if (wec) {
      if (reused && request.idempotent) continue;
      co_return classify(target, wec, "write");
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(pool->options.max_response);
    auto [rec, rn] = co_await http::async_read(*stream, buffer, parser, nothrow);
    if (rec) {
      if (reused && request.idempotent && !parser.got_some()) continue;
      if (rec == http::error::body_limit)
        co_return make_error(ErrorCode::bad_peer_response, where(target) + ": response larger than " +
                                                               std::to_string(pool->options.max_response) + " bytes");
      co_return classify(target, rec, "read");
    }
    auto msg = parser.release();
    ClientResponse out;
    out.status = static_cast<int>(msg.result_int());
    out.peer_organization = peer_certificate_organization(stream->native_handle());
    out.peer_name = peer_certificate_name(stream->native_handle());
    for (const auto& f : msg) {
      std::string name(f.name_string());
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      out.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    bool keep = msg.keep_alive();
    out.body = std::move(msg.body());
    if (keep) {
      lowest.expires_never();
      give_back(*pool, key, std::move(stream));
    }
    co_return out;
  }
  co_return make_error(ErrorCode::peer_unavailable, where(target) + ": connection closed by peer");
}

asio::awaitable<Result<ClientResponse>> plain_request(std::string host, std::uint16_t port, ClientRequest request,
                                                      Clock::time_point deadline, std::size_t max_response) {
  ClientTarget target{host, port, ""};
  auto ex = co_await asio::this_coro::executor;
  beast::tcp_stream stream(ex);
  stream.expires_at(deadline);
  tcp::resolver resolver(ex);
  auto [rec, results] = co_await resolver.async_resolve(host, std::to_string(port), nothrow);
  if (rec) co_return make_error(ErrorCode::peer_unavailable, where(target) + ": cannot resolve: " + rec.message());
  auto [cec, ep] = co_await stream.async_connect(results, nothrow);
  if (cec) co_return classify(target, cec, "connect");
  http::request<http::string_body> req{http::string_to_verb(request.method), request.target, 11};
  req.set(http::field::host, host + ":" + std::to_string(port));
  req.set(http::field::content_type, request.content_type);
  for (auto& [k, v] : request.headers) req.set(k, v);
  req.body() = std::move(request.body);
  req.keep_alive(false);
  req.prepare_payload();
  auto [wec, wn] = co_await http::async_write(stream, req, nothrow);
  if (wec) co_return classify(target, wec, "write");
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_response);
  auto [rdec, rn] = co_await http::async_read(stream, buffer, parser, nothrow);
  if (rdec) {
    if (rdec == http::error::body_limit)
      co_return make_error(ErrorCode::bad_peer_response,
                           where(target) + ": response larger than " + std::to_string(max_response) + " bytes");
    co_return classify(target, rdec, "read");
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  auto msg = parser.release();
  ClientResponse out;
  out.status = static_cast<int>(msg.result_int());
  out.body = std::move(msg.body());
  co_return out;
}

std::size_t HttpClient::idle_connections() const {
  std::lock_guard lock(pool_->mu);
  std::size_t n = 0;
  for (const auto& [k, v] : pool_->idle) n += v.size();
  return n;
}

std::uint64_t HttpClient::connections_opened() const {
  return pool_->opened.load(std::memory_order_relaxed);
}

void HttpClient::clear() {
  std::lock_guard lock(pool_->mu);
  pool_->idle.clear();
}

}  // namespace fedmesh::net
