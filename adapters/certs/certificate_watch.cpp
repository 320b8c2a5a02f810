// adapters/certs/certificate_watch.cpp — see the header.
#include "adapters/certs/certificate_watch.hpp"

#include <algorithm>
#include <filesystem>
#include <utility>

#include <fmt/format.h>

#include "adapters/net/asio.hpp"

namespace klaxon::certs {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

void add_entry(std::string& out, const fs::path& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);  // follows links: a `..data` swap changes what they reach
  out += path.native();
  if (!ec && fs::is_regular_file(status)) {
    const auto size = fs::file_size(path, ec);
    const auto time = fs::last_write_time(path, ec);
    out += fmt::format(" {} {}", ec ? 0 : size, ec ? 0 : time.time_since_epoch().count());
  }
  out += '\n';
}

Inventory read_paths(const std::vector<std::string>& paths) {
  Inventory reading;
  for (const std::string& path : paths) read_path(path, reading);
  return reading;
}

Inventory read_probes(const WatchOptions& o, const std::function<bool()>& cancelled) {
  Inventory reading;
  for (const ProbeTarget& target : o.probes)
    if (!cancelled || !cancelled()) probe_endpoint(target, o.probe_timeout, reading, cancelled);
  return reading;
}

}  // namespace

std::string paths_signature(const std::vector<std::string>& paths) {
  std::string out;
  for (const std::string& p : paths) {
    add_entry(out, p);
    std::error_code ec;
    if (!fs::is_directory(p, ec)) continue;
    std::vector<fs::path> entries;
    for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      entries.push_back(it->path());
    std::sort(entries.begin(), entries.end());
    for (const fs::path& e : entries) add_entry(out, e);
  }
  return out;
}

void read_all_once(const WatchOptions& o, const ReadingHandler& handle, const std::function<bool()>& cancelled) {
  if (!o.paths.empty()) handle("files", read_paths(o.paths));
  if (!o.probes.empty()) handle("probes", read_probes(o, cancelled));
  if (cancelled && cancelled()) return;
  if (o.kubernetes) {
    Inventory reading;
    read_kubernetes(*o.kubernetes, reading);
    handle("kubernetes", reading);
  }
}

CertificateWatch::CertificateWatch(WatchOptions options, boost::asio::any_io_executor executor, ReadingHandler handle)
    : options_(std::move(options)), executor_(std::move(executor)), handle_(std::move(handle)) {
  thread_ = std::thread([this] { run(); });
  if (options_.kubernetes)
    kubernetes_thread_ = std::thread([this] {
      watch_kubernetes(
          *options_.kubernetes, options_.kubernetes_interval,
          [this] {
            std::lock_guard lock(mutex_);
            return stopping_;
          },
          [this](Inventory reading) {
            boost::asio::post(executor_, [handle = handle_, reading = std::move(reading)] { handle("kubernetes", reading); });
          });
    });
}

CertificateWatch::~CertificateWatch() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  if (kubernetes_thread_.joinable()) kubernetes_thread_.join();
}

bool CertificateWatch::sleep_until(Clock::time_point when) {
  std::unique_lock lock(mutex_);
  wake_.wait_until(lock, when, [&] { return stopping_; });
  return !stopping_;
}

void CertificateWatch::run() {
  auto deliver = [this](std::string group, Inventory reading) {
    boost::asio::post(executor_, [handle = handle_, group = std::move(group), reading = std::move(reading)] {
      handle(group, reading);
    });
  };
  const auto never = Clock::time_point::max();
  auto next_files = options_.paths.empty() ? never : Clock::now();
  auto next_probe = options_.probes.empty() ? never : Clock::now();
  std::string signature;
  bool files_read = false;
  for (;;) {
    if (Clock::now() >= next_files) {
      // Read when something changed; a file that could not be read is tried again each time.
      std::string now_signature = paths_signature(options_.paths);
      if (!files_read || now_signature != signature) {
        Inventory reading = read_paths(options_.paths);
        files_read = reading.errors.empty();
        signature = std::move(now_signature);
        deliver("files", std::move(reading));
      }
      next_files = Clock::now() + options_.file_poll;
    }
    if (Clock::now() >= next_probe) {
      const auto stopping = [this] {
        std::lock_guard lock(mutex_);
        return stopping_;
      };
      Inventory reading = read_probes(options_, stopping);
      if (stopping()) return;  // a probe cut short is no reading
      deliver("probes", std::move(reading));
      next_probe = Clock::now() + options_.probe_interval;
    }
    if (!sleep_until(std::min(next_files, next_probe))) return;
  }
}

}  // namespace klaxon::certs
