// offload(): runs work that blocks (store calls, scripts) on another executor (a pool,
// or a strand of one) and resumes the calling coroutine on its own executor with the
// result. The one way code leaves an I/O thread for a pool.
#pragma once

#include <type_traits>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace fedmesh::net {

template <class Executor, class F>
requires(!std::is_same_v<std::decay_t<Executor>, boost::asio::thread_pool>) auto offload(Executor ex, F fn)
    -> boost::asio::awaitable<std::invoke_result_t<F>> {
  using R = std::invoke_result_t<F>;
  auto work = [fn = std::move(fn)]() mutable -> boost::asio::awaitable<R> { co_return fn(); };
  co_return co_await boost::asio::co_spawn(ex, std::move(work), boost::asio::use_awaitable);
}

template <class F>
auto offload(boost::asio::thread_pool& pool, F fn) -> boost::asio::awaitable<std::invoke_result_t<F>> {
  co_return co_await offload(pool.get_executor(), std::move(fn));
}

}  // namespace fedmesh::net
