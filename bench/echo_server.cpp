// The ceiling: a minimal Boost.Beast HTTP server answering every request with a small
// JSON body, over plain TCP or mutual TLS 1.3, one io_context per thread. Nothing of
// fedmesh is used, so the node's figures can be compared with bare Beast.
//   echo_server PORT THREADS [CERT KEY CA]
#include <csignal>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

template <class Stream>
asio::awaitable<void> serve(Stream& stream) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    auto [ec, n] = co_await http::async_read(stream, buffer, req, nothrow);
    if (ec) co_return;
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "application/json");
    res.body() = R"({"name":"echo","ok":true})";
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, res, nothrow);
    if (wec || !res.keep_alive()) co_return;
  }
}

asio::awaitable<void> session(tcp::socket socket, asio::ssl::context* tls) {
  socket.set_option(tcp::no_delay(true));
  if (tls) {
    asio::ssl::stream<tcp::socket&> stream(socket, *tls);
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, nothrow);
    if (!ec) co_await serve(stream);
  } else {
    co_await serve(socket);
  }
}

int main(int argc, char** argv) {
  if (argc != 3 && argc != 6) {
    std::cerr << "usage: echo_server PORT THREADS [CERT KEY CA]\n";
    return 2;
  }
  int port = std::atoi(argv[1]);
  int threads = std::max(1, std::atoi(argv[2]));
  std::unique_ptr<asio::ssl::context> tls;
  if (argc == 6) {
    tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_3_VERSION);
    tls->use_certificate_chain_file(argv[3]);
    tls->use_private_key_file(argv[4], asio::ssl::context::pem);
    tls->load_verify_file(argv[5]);
    tls->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  }
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;  // idle contexts keep running
  for (int i = 0; i < threads; ++i) {
    contexts.push_back(std::make_unique<asio::io_context>(1));
    guards.push_back(asio::make_work_guard(*contexts.back()));
  }
  tcp::acceptor acceptor(*contexts[0], {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  std::size_t next = 0;
  auto accept = [&]() -> asio::awaitable<void> {
    for (;;) {
      tcp::socket socket(*contexts[next++ % contexts.size()]);
      auto [ec] = co_await acceptor.async_accept(socket, nothrow);
      if (ec) co_return;
      auto ex = socket.get_executor();
      asio::co_spawn(ex, session(std::move(socket), tls.get()), asio::detached);
    }
  };
  asio::co_spawn(*contexts[0], accept(), asio::detached);
  asio::signal_set signals(*contexts[0], SIGINT, SIGTERM);
  signals.async_wait([&](auto, auto) {
    for (auto& c : contexts) c->stop();
  });
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&, i] { contexts[i]->run(); });
  std::cout << "echo_server listening on 127.0.0.1:" << acceptor.local_endpoint().port() << std::endl;
  contexts[0]->run();
  for (auto& c : contexts) c->stop();
  for (auto& t : pool) t.join();
}
