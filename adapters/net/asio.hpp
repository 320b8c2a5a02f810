// adapters/net/asio.hpp — the one Asio prelude: the pieces of Boost.Asio klaxon's event loops
// use, and their short names.
//
// Every file that runs coroutines on an event loop includes this header instead of choosing
// Asio headers one by one, so `asio::` means boost::asio in every klaxon namespace and the few
// ways we wait are spelled once. Boost 1.81 (Debian 12) is required (CMakeLists.txt): its Asio
// finds C++20 coroutines in <coroutine> with g++ and clang alike, includes what it uses, and
// has per-operation cancellation (cancellation_signal, bind_cancellation_slot) and as_tuple.
// Beast (HTTP, WebSocket) and OpenSSL are not here: they are heavy, and only the files that
// speak HTTP need them (adapters/net/http_client.hpp, the servers).
#pragma once

#include <chrono>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace klaxon {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace net {

/// Completion token for an operation whose failure is expected (a peer gone, a timer
/// cancelled): `co_await op(args, net::into(ec))` leaves the error in `ec` instead of throwing.
inline auto into(boost::system::error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

/// Waits `d` on the coroutine's executor. False when the wait was cancelled (shutdown) rather
/// than finished.
inline asio::awaitable<bool> sleep_for(std::chrono::nanoseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  boost::system::error_code ec;
  co_await timer.async_wait(into(ec));
  co_return !ec;
}

}  // namespace net
}  // namespace klaxon
