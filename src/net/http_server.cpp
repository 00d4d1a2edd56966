#include "net/http_server.hpp"

#include <malloc.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <list>
#include <mutex>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>

#include "core/address.hpp"

namespace fedmesh::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kTrimAfter = std::size_t{8} << 20;  // answers this large return memory when written

// One connection's shared bookkeeping. Touched only on the connection's executor,
// except `draining`, which stop() sets from the control thread via post().
struct Conn {
  explicit Conn(tcp::socket& s) : socket(&s), timer(s.get_executor()) {}
  tcp::socket* socket;  // lowest layer, owned by the session coroutine
  asio::steady_timer timer;
  Clock::time_point deadline = Clock::time_point::max();
  bool idle = true;  // waiting for the next request
  bool timed_out = false;
  bool closed = false;
  bool draining = false;
  bool linger = false;  // unread request bytes: drain briefly before closing
};

struct HttpServer::State {
  State(IoPool& p, ServerOptions o, std::shared_ptr<const Router> r, std::shared_ptr<HttpMetrics> m)
      : pool(p), options(std::move(o)), router(std::move(r)), metrics(std::move(m)), acceptor(pool.at(0)) {}

  IoPool& pool;
  ServerOptions options;
  std::shared_ptr<const Router> router;
  std::shared_ptr<HttpMetrics> metrics;
  tcp::acceptor acceptor;
  std::uint16_t port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> next_id{1};
  std::atomic<std::size_t> open{0};      // connections accepted and not yet closed
  Clock::time_point last_refusal_log{};  // accept loop only

  std::mutex mu;  // guards conns; notified when a connection ends
  std::condition_variable cv;
  std::list<std::shared_ptr<Conn>> conns;

  std::list<std::shared_ptr<Conn>>::iterator add(std::shared_ptr<Conn> c) {
    std::lock_guard lock(mu);
    return conns.insert(conns.end(), std::move(c));
  }
  void remove(std::list<std::shared_ptr<Conn>>::iterator it) {
    std::lock_guard lock(mu);
    conns.erase(it);
    cv.notify_all();
  }
};

namespace {

// Checks the connection's deadline on a fixed tick and cancels its pending I/O when it
// has passed. One timer per connection that requests never touch: moving the deadline
// is a store, so a request pays nothing for its timeout.
asio::awaitable<void> watchdog(std::shared_ptr<Conn> c, std::chrono::milliseconds tick) {
  while (!c->closed) {
    c->timer.expires_after(tick);
    co_await c->timer.async_wait(nothrow);
    if (c->closed) break;
    if (Clock::now() >= c->deadline) {
      c->timed_out = true;
      c->deadline = Clock::time_point::max();
      boost::system::error_code ignored;
      c->socket->cancel(ignored);
    }
  }
}

void set_deadline(Conn& c, std::chrono::milliseconds d) {
  c.deadline = Clock::now() + d;
}

std::chrono::milliseconds watchdog_tick(const ServerOptions& o) {
  auto shortest = std::min(o.request_timeout, o.idle_timeout) / 4;
  return std::clamp<std::chrono::milliseconds>(shortest, std::chrono::milliseconds(10),
                                               std::chrono::milliseconds(1000));
}

Request to_request(const http::request_parser<http::string_body>& parser) {
  const auto& msg = parser.get();
  Request req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  std::string_view target = msg.target();
  auto q = target.find('?');
  req.path = percent_decode(target.substr(0, q), false);
  if (q != std::string_view::npos) req.query = std::string(target.substr(q + 1));
  req.headers.reserve(8);
  for (const auto& f : msg) {
    std::string name(f.name_string());
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    req.headers.emplace_back(std::move(name), std::string(f.value()));
  }
  return req;
}

template <class Stream>
asio::awaitable<bool> write_response(Stream& stream, Conn& conn, const ServerOptions& options, Response&& r,
                                     unsigned version, bool keep_alive, bool head) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::content_type, r.content_type);
  for (auto& [k, v] : r.headers) res.set(k, v);
  res.body() = std::move(r.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  if (head) res.body().clear();
  set_deadline(conn, options.request_timeout);
  auto [ec, n] = co_await http::async_write(stream, res, nothrow);
  co_return !ec;
}

std::string ssl_reason(const boost::system::error_code& ec) {
  return ec.message();
}

// Watches a connection while its handler runs, once the handler asks (Request::watch_close):
// when the socket turns readable, a peek tells a close (no bytes, or an error) from the
// next pipelined request (bytes, left for the parser). Lives in serve()'s frame.
struct CloseWatch {
  std::shared_ptr<Conn> conn;
  std::shared_ptr<std::atomic<bool>> gone;  // made on the first ask
  std::shared_ptr<bool> done;               // the handler has returned: ignore the wait

  std::shared_ptr<const std::atomic<bool>> start() {
    if (gone) return gone;
    gone = std::make_shared<std::atomic<bool>>(false);
    done = std::make_shared<bool>(false);
    auto work = [](std::shared_ptr<Conn> c, std::shared_ptr<std::atomic<bool>> g,
                   std::shared_ptr<bool> d) -> asio::awaitable<void> {
      auto [ec] = co_await c->socket->async_wait(tcp::socket::wait_read, nothrow);
      if (*d) co_return;
      if (ec) {
        g->store(true);  // closed under us: the server is stopping or the socket failed
        co_return;
      }
      std::array<char, 1> byte{};
      boost::system::error_code pec;
      std::size_t n = c->socket->receive(asio::buffer(byte), tcp::socket::message_peek, pec);
      if (pec == asio::error::would_block || pec == asio::error::try_again) co_return;
      if (pec || n == 0) g->store(true);
    };
    asio::co_spawn(conn->socket->get_executor(), work(conn, gone, done), asio::detached);
    return gone;
  }
  // After the handler: stops a wait still pending, and forgets this request.
  void finish() {
    if (!gone) return;
    *done = true;
    boost::system::error_code ignored;
    conn->socket->cancel(ignored);
    gone.reset();
    done.reset();
  }
};

template <class Stream>
asio::awaitable<void> serve(std::shared_ptr<HttpServer::State> st, Stream& stream, std::shared_ptr<Conn> conn,
                            std::string remote, std::string peer_name, std::string peer_organization,
                            crypto::CertRole peer_role) {
  const auto& opt = st->options;
  // Bounded: a header up to the limit plus one read; the parser enforces the header limit.
  beast::flat_buffer buffer(opt.max_header + 8192);
  // Request ids are "<connection>-<n>": one shared counter bump per connection, not per request.
  std::string conn_tag = std::to_string(st->next_id.fetch_add(1, std::memory_order_relaxed)) + "-";
  std::uint64_t requests = 0;
  CloseWatch close_watch{conn, nullptr, nullptr};
  for (;;) {
    conn->idle = true;
    if (st->stopping.load() || conn->draining) break;
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(opt.max_header));
    parser.body_limit(opt.max_body);
    // Parse straight from the connection's buffer; read only when it runs dry. Until the
    // first byte of a request: the idle timeout between kept-alive requests, the request
    // timeout on a new connection; the request timeout after.
    boost::system::error_code ec;
    bool first = buffer.size() == 0;
    set_deadline(*conn, first && requests > 0 ? opt.idle_timeout : opt.request_timeout);
    while (!parser.is_header_done()) {
      if (buffer.size() > 0) {
        auto used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        if (ec == http::error::need_more) {
          ec = {};
        } else if (ec) {
          break;
        } else {
          continue;
        }
      }
      auto [rec, n] = co_await stream.async_read_some(
          buffer.prepare(std::min<std::size_t>(8192, buffer.max_size() - buffer.size())), nothrow);
      if (rec) {
        ec = rec == asio::error::eof ? http::error::end_of_stream : rec;
        break;
      }
      buffer.commit(n);
      if (first) {
        first = false;
        set_deadline(*conn, opt.request_timeout);
      }
    }
    conn->idle = false;
    if (ec) {
      bool started_request = !first || parser.got_some();
      if (ec == http::error::body_limit) {
        // Beast checks Content-Length against the limit while parsing the header.
        conn->linger = true;
        (void)co_await write_response(
            stream, *conn, opt,
            Response::error(make_error(ErrorCode::payload_too_large,
                                       "request body exceeds " + std::to_string(opt.max_body) + " bytes")),
            11, false, false);
      } else if (ec == http::error::header_limit) {
        (void)co_await write_response(
            stream, *conn, opt,
            Response::error(make_error(ErrorCode::payload_too_large,
                                       "request header exceeds " + std::to_string(opt.max_header) + " bytes")),
            11, false, false);
      } else if (conn->timed_out && started_request) {
        conn->timed_out = false;
        (void)co_await write_response(
            stream, *conn, opt,
            Response::error(make_error(ErrorCode::request_timeout, "request header not received in time")), 11, false,
            false);
      } else if (ec != http::error::end_of_stream && ec != asio::error::operation_aborted && ec != asio::error::eof &&
                 ec != asio::error::connection_reset) {
        if (started_request) {
          (void)co_await write_response(
              stream, *conn, opt,
              Response::error(make_error(ErrorCode::invalid_argument, "malformed HTTP request: " + ec.message())), 11,
              false, false);
        }
      }
      break;
    }
    auto started = Clock::now();
    st->metrics->inflight_add(1);
    set_deadline(*conn, opt.request_timeout);
    Request req = to_request(parser);
    req.remote = remote;
    req.peer_name = peer_name;
    req.peer_organization = peer_organization;
    req.peer_role = peer_role;
    req.request_id = conn_tag + std::to_string(++requests);
    unsigned version = parser.get().version();
    bool keep_alive = parser.get().keep_alive();
    bool head = req.method == "HEAD";
    int route = -1;
    std::optional<Response> early;
    bool body_unread = !parser.is_done();

    if (opt.authorize) early = opt.authorize(req);
    // A certificate whose role does not reach this route (a jobs client's, on anything but the
    // jobs routes) is refused before its body is read.
    if (!early) early = st->router->refuse_role(req);
    if (!early && parser.content_length() && *parser.content_length() > opt.max_body) {
      early = Response::error(
          make_error(ErrorCode::payload_too_large, "request body exceeds " + std::to_string(opt.max_body) + " bytes"));
    }
    if (!early && body_unread) {
      // A client that sent "Expect: 100-continue" waits for this before the body.
      auto expect = req.header("expect");
      if (!expect.empty()) {
        if (beast::iequals(expect, "100-continue")) {
          static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(kContinue), nothrow);
          if (wec) {
            st->metrics->inflight_add(-1);
            break;
          }
        } else {
          early = Response::error(make_error(
              ErrorCode::invalid_argument, "Expect: " + std::string(expect) + " is not supported (only 100-continue)"));
          early->status = 417;
        }
      }
    }
    if (!early && body_unread) {
      auto [bec, bn] = co_await http::async_read(stream, buffer, parser, nothrow);
      if (bec) {
        if (bec == http::error::body_limit) {
          early = Response::error(make_error(ErrorCode::payload_too_large,
                                             "request body exceeds " + std::to_string(opt.max_body) + " bytes"));
        } else if (conn->timed_out) {
          conn->timed_out = false;
          early = Response::error(make_error(ErrorCode::request_timeout, "request body not received in time"));
        } else if (bec == http::error::end_of_stream || bec == asio::error::eof ||
                   bec == asio::error::connection_reset || bec == asio::error::operation_aborted ||
                   bec == http::error::partial_message) {
          st->metrics->inflight_add(-1);  // the client went away: no one to answer
          break;
        } else {
          // A bad chunk size or similar: the client is still there and gets told why.
          early = Response::error(make_error(ErrorCode::invalid_argument, "malformed request body: " + bec.message()));
        }
      } else {
        body_unread = false;
        req.body = std::move(parser.get().body());
      }
    }
    Response res;
    if (early) {
      res = std::move(*early);
      if (body_unread) {
        keep_alive = false;  // the rest of the body is still on the wire
        conn->linger = true;
      }
    } else {
      req.watch_close = [w = &close_watch] { return w->start(); };
      res = co_await st->router->dispatch(req, route);
      close_watch.finish();
    }
    if (st->stopping.load() || conn->draining) keep_alive = false;
    int status = res.status;
    bool large = res.body.size() >= kTrimAfter;
    bool written = co_await write_response(stream, *conn, opt, std::move(res), version, keep_alive, head);
    st->metrics->record(route, req.method, status,
                        static_cast<std::uint64_t>(
                            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count()));
    st->metrics->inflight_add(-1);
    // A large answer's pages go back to the system, not to the heap's free lists for good.
    if (large) malloc_trim(0);
    if (!written || !keep_alive) break;
  }
}

asio::awaitable<void> run_connection(std::shared_ptr<HttpServer::State> st, tcp::socket socket) {
  boost::system::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  std::string remote = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
  socket.set_option(tcp::no_delay(true), ec);

  auto conn = std::make_shared<Conn>(socket);
  auto it = st->add(conn);
  st->metrics->connection_opened();
  asio::co_spawn(socket.get_executor(), watchdog(conn, watchdog_tick(st->options)), asio::detached);
  try {
    set_deadline(*conn, st->options.request_timeout);
    // The TLS state (about 60 KB) and the read buffer are made once the client has sent
    // its first bytes, so a connection that sends nothing costs little until its timeout
    // closes it.
    auto [wec] = co_await socket.async_wait(tcp::socket::wait_read, nothrow);
    if (wec) {
      // Closed or timed out before saying anything: nothing to answer.
    } else if (st->options.tls) {
      asio::ssl::stream<tcp::socket&> stream(socket, *st->options.tls->ssl);
      auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, nothrow);
      if (hec) {
        std::string reason = verify_failure_reason(stream.native_handle());
        if (reason.empty()) reason = conn->timed_out ? "handshake timed out" : ssl_reason(hec);
        st->metrics->tls_refused();
        spdlog::warn("{}: refused TLS connection from {}: {}", st->options.name, remote, reason);
      } else {
        std::string peer, organization;
        crypto::CertRole role = crypto::CertRole::node;
        if (st->options.mutual_tls) {
          peer = peer_certificate_name(stream.native_handle());
          organization = peer_certificate_organization(stream.native_handle());
          role = peer_certificate_role(stream.native_handle());
        }
        co_await serve(st, stream, conn, remote, std::move(peer), std::move(organization), role);
      }
    } else {
      co_await serve(st, socket, conn, remote, "", "", crypto::CertRole::node);
    }
  } catch (const std::exception& e) {
    spdlog::error("{}: connection from {} failed: {}", st->options.name, remote, e.what());
  }
  socket.shutdown(tcp::socket::shutdown_send, ec);
  if (conn->linger) {
    // Closing with unread input makes the kernel send RST, which can destroy our
    // response in the client's buffers. Discard input briefly (bounded) first.
    set_deadline(*conn, std::chrono::milliseconds(1000));
    std::array<char, 16384> scratch;
    std::size_t drained = 0;
    while (drained < (8u << 20)) {
      auto [dec, n] = co_await socket.async_read_some(asio::buffer(scratch), nothrow);
      if (dec) break;
      drained += n;
    }
  }
  conn->closed = true;
  conn->timer.cancel();
  socket.close(ec);
  st->metrics->connection_closed();
  st->remove(it);
  st->open.fetch_sub(1, std::memory_order_relaxed);
}

asio::awaitable<void> accept_loop(std::shared_ptr<HttpServer::State> st) {
  for (;;) {
    tcp::socket socket(st->pool.next());
    auto [ec] = co_await st->acceptor.async_accept(socket, nothrow);
    if (st->stopping.load()) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      spdlog::warn("{}: accept failed: {}", st->options.name, ec.message());
      asio::steady_timer pause(st->acceptor.get_executor(), std::chrono::milliseconds(50));
      co_await pause.async_wait(nothrow);
      continue;
    }
    if (st->open.load(std::memory_order_relaxed) >= st->options.max_connections) {
      // Full: close at once rather than leave it in the backlog, and say so at most
      // once a minute.
      boost::system::error_code ignored;
      socket.close(ignored);
      st->metrics->connection_refused();
      if (auto now = Clock::now(); now - st->last_refusal_log >= std::chrono::minutes(1)) {
        st->last_refusal_log = now;
        spdlog::warn("{}: {} connections open (max_connections): closing new ones", st->options.name,
                     st->options.max_connections);
      }
      continue;
    }
    st->open.fetch_add(1, std::memory_order_relaxed);
    auto exec = socket.get_executor();
    asio::co_spawn(exec, run_connection(st, std::move(socket)), asio::detached);
  }
}

}  // namespace

HttpServer::HttpServer(IoPool& pool, ServerOptions options, std::shared_ptr<const Router> router,
                       std::shared_ptr<HttpMetrics> metrics)
    : state_(std::make_shared<State>(pool, std::move(options), std::move(router), std::move(metrics))) {}

HttpServer::~HttpServer() = default;

Result<std::uint16_t> HttpServer::start() {
  auto hp = parse_host_port(state_->options.listen);
  if (!hp) return make_error(ErrorCode::config_invalid, state_->options.listen + ": not a host:port address");
  boost::system::error_code ec;
  std::string host = hp->host == "localhost" ? "127.0.0.1" : hp->host;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return make_error(ErrorCode::config_invalid, state_->options.listen + ": not an IP address");
  tcp::endpoint ep(addr, hp->port);
  auto& a = state_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return make_error(ErrorCode::io_error, state_->options.name + " listener: cannot listen on " +
                                               state_->options.listen + ": " + ec.message());
  state_->port = a.local_endpoint().port();
  asio::co_spawn(a.get_executor(), accept_loop(state_), asio::detached);
  return state_->port;
}

std::uint16_t HttpServer::port() const {
  return state_->port;
}

void HttpServer::stop(std::chrono::milliseconds grace) {
  auto st = state_;
  if (st->stopping.exchange(true)) return;
  asio::post(st->acceptor.get_executor(), [st] {
    boost::system::error_code ec;
    st->acceptor.close(ec);
  });
  // Idle keep-alive connections close now; busy ones finish their response first.
  auto nudge = [st](bool force) {
    std::lock_guard lock(st->mu);
    for (auto& c : st->conns) {
      asio::post(c->timer.get_executor(), [c, force] {
        c->draining = true;
        if (!c->closed && (force || c->idle)) {
          boost::system::error_code ec;
          c->socket->cancel(ec);
          if (force) c->socket->close(ec);
        }
      });
    }
  };
  nudge(false);
  std::unique_lock lock(st->mu);
  if (!st->cv.wait_for(lock, grace, [&] { return st->conns.empty(); })) {
    spdlog::warn("{}: {} connection(s) still busy after {} ms; closing them", st->options.name, st->conns.size(),
                 grace.count());
    lock.unlock();
    nudge(true);
    lock.lock();
    st->cv.wait_for(lock, std::chrono::seconds(2), [&] { return st->conns.empty(); });
  }
}

}  // namespace fedmesh::net
