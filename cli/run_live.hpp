// cli/run_live.hpp — runs one live source on an event loop until it ends, fails, or a signal.
#pragma once

#include <functional>
#include <memory>

#include <boost/asio/any_io_executor.hpp>

#include "adapters/sources/live_source.hpp"
#include "cli/options.hpp"

namespace klaxon::cli {

/// Makes the source once the loop exists; may throw FatalSourceError (bad flags).
using LiveSourceFactory = std::function<std::unique_ptr<sources::LiveSource>(boost::asio::any_io_executor)>;

/// Exit status as for files: 0, 2 for a fatal configuration error, 1 for other failures, 3 --fail-on.
int run_live(const RunOptions& options, const LiveSourceFactory& make_source);

}  // namespace klaxon::cli
