// cli/run_kubectl.cpp — `klaxon kubectl ARGS...`: kubectl's words to a KubectlSource on the live runner.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "adapters/sources/kubectl_source.hpp"
#include "cli/options.hpp"
#include "cli/run_live.hpp"

namespace klaxon::cli {

int run_kubectl(const RunOptions& options, const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "-h" || a == "--help") {
      std::fputs(sources::kubectl_usage().c_str(), stdout);
      return kExitOk;
    }
  sources::KubectlOptions kubectl;
  try {
    kubectl = sources::parse_kubectl_args(args);
  } catch (const sources::FatalSourceError& e) {
    std::fprintf(stderr, "klaxon kubectl: %s\n", e.what());
    return kExitUsage;
  }
  return run_live(options, [&](boost::asio::any_io_executor executor) {
    return std::make_unique<sources::KubectlSource>(std::move(executor), kubectl);
  });
}

}  // namespace klaxon::cli
