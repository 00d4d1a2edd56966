// offload(): runs blocking work (store, files) on a blocking pool and resumes the
// calling coroutine on its own executor with the result. Keeps I/O threads free.
#pragma once

#include <type_traits>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace fedmesh::net {

template <class F>
auto offload(boost::asio::thread_pool& pool, F fn) -> boost::asio::awaitable<std::invoke_result_t<F>> {
  using R = std::invoke_result_t<F>;
  auto work = [fn = std::move(fn)]() mutable -> boost::asio::awaitable<R> { co_return fn(); };
  co_return co_await boost::asio::co_spawn(pool.get_executor(), std::move(work), boost::asio::use_awaitable);
}

}  // namespace fedmesh::net
