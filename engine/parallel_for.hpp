// engine/parallel_for.hpp — start-up work spread over the threads a run was given.
//
// Compiling a few hundred regexes and parsing a dozen packs is most of what a run does before
// its first line; with `--threads N` the other cores would only wait for it.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace klaxon {

/// Calls fn(i) for every i in [0, n), on up to `threads` threads (the caller's among them), in
/// no particular order. The first exception thrown by any call is rethrown here, after all
/// threads have stopped.
template <class Fn>
void parallel_for(std::size_t n, unsigned threads, Fn&& fn) {
  const std::size_t helpers = std::min<std::size_t>(threads, n) > 1 ? std::min<std::size_t>(threads, n) - 1 : 0;
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::atomic<bool> failed{false};
  auto work = [&] {
    for (std::size_t i; !failed && (i = next.fetch_add(1)) < n;) {
      try {
        fn(i);
      } catch (...) {
        if (!failed.exchange(true)) failure = std::current_exception();
      }
    }
  };
  {
    std::vector<std::jthread> pool;
    for (std::size_t k = 0; k < helpers; ++k) pool.emplace_back(work);
    work();
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace klaxon
