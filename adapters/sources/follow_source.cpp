// adapters/sources/follow_source.cpp — follows files like `tail -F` (see follow_source.hpp).
//
// One coroutine does all the work, so no state is shared: it wakes on inotify (an Asio
// descriptor whose readiness handler only sets a flag and wakes it) or on the poll timer. When
// files may have come or gone (a directory event, or each poll) it re-evaluates the PATHs
// (glob(3), directory walks) and reads every file; on a write event it reads just that file.
// It saves the read positions every second. A file is known by its identity (device, inode),
// never by its name:
//   - renamed or deleted: it is read to its end under its old stream, then kept open for
//     `rotate_wait` under its new name (a writer may not have reopened yet), then closed;
//   - truncated (copytruncate): read again from 0, said once on stderr;
//   - its successor at the same path: a new identity, read from its first byte.
// Only whole lines are handed on; the partial tail of a file waits here for its newline.
#include "adapters/sources/follow_source.hpp"
#include "adapters/sources/archive_format.hpp"
#include "engine/printable.hpp"
#include "engine/unique_fd.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <fcntl.h>
#include <glob.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "adapters/net/asio.hpp"

namespace klaxon::sources {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 256 * 1024;
constexpr std::size_t kYieldEvery = 4 * 1024 * 1024;   // let signals and timers run during a backlog
constexpr std::size_t kMaxPending = 2 * 1024 * 1024;   // a "line" longer than this is handed on unfinished
constexpr std::string_view kStateHeader = "# klaxon follow state v1: device inode offset path";

struct Identity {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  auto operator<=>(const Identity&) const = default;
};

Identity identity_of(const struct stat& st) { return {std::uint64_t(st.st_dev), std::uint64_t(st.st_ino)}; }

// A file that a PATH names now.
struct Found {
  std::string path;
  Identity id;
};

// A file being followed.
struct Followed {
  Identity id;
  UniqueFd fd;
  std::string path;       // where it was found (what the state file records)
  std::string real_path;  // where inotify reports its changes (differs for symlinks)
  std::string key;        // its stream in the pipeline
  Labels labels;
  std::uint64_t fed = 0;  // bytes handed on: always a line end (unless a line outgrew kMaxPending)
  std::string pending;    // bytes read after the last newline
  std::optional<Clock::time_point> rotated_since;  // no longer under `path`: closed after rotate_wait

  std::uint64_t read_pos() const { return fed + pending.size(); }
};

bool has_glob_magic(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

bool ends_with_log(std::string_view name) { return name.size() > 4 && name.ends_with(".log"); }

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t at = s.find(sep, start);
    out.emplace_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool all_hex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

std::vector<std::string> glob_paths(const std::string& pattern, bool& aborted) {
  std::vector<std::string> out;
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
  if (rc == 0)
    for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  aborted = rc == GLOB_ABORTED;
  ::globfree(&g);
  return out;
}

std::string parent_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

class FollowSource final : public LiveSource {
 public:
  FollowSource(asio::any_io_executor executor, FollowOptions options)
      : executor_(executor), options_(std::move(options)), wake_(executor), buffer_(kReadChunk) {
    if (!options_.state_path.empty()) load_state();
    // A node has a file per container, each held open: the soft limit (often 1024) is too low.
    struct rlimit files {};
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
      files.rlim_cur = files.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &files);
    }
    // Past the hard limit, files are left unfollowed (the newest are kept) rather than opened
    // until open() fails: the directory walk, inotify, the state file and the sinks' sockets
    // need descriptors too, and a walk cut short by EMFILE would make followed files look gone.
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) fd_limit_ = std::size_t(files.rlim_cur);
    if (fd_limit_ > 0)
      max_open_ = fd_limit_ > 2 * kReservedFds ? fd_limit_ - kReservedFds : fd_limit_ / 2;
  }

  ~FollowSource() override {
    // Shutdown: what was handed on is what the state says, so a restart neither repeats nor skips.
    if (!options_.state_path.empty() && started_) {
      std::string error;
      if (!save_state(true, error)) std::fprintf(stderr, "klaxon: %s\n", printable(error).c_str());
    }
  }

  asio::awaitable<void> run(Intake& out) override {
    out_ = &out;
    started_ = true;
    start_inotify();
    out.connected("follow", true);
    co_await scan(true);
    for (;;) {
      if (!inotify_ready_) {
        wake_.expires_at(next_poll_);
        boost::system::error_code ec;  // cancelled = woken by inotify
        co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      if (inotify_ready_) take_inotify_events();
      if (rescan_ || Clock::now() >= next_poll_) {
        co_await scan(false);
      } else {
        co_await read_changed();
      }
      if (!options_.state_path.empty() && Clock::now() >= next_save_) {
        out_->flush();  // the state must never be ahead of what was written out
        std::string error;
        if (!save_state(false, error)) say_once("state", error, "follow_errors");
        next_save_ = Clock::now() + options_.save_interval;
      }
    }
  }

 private:
  // ---- discovery ---------------------------------------------------------------------------

  // Every regular file the PATHs name now (first path wins per identity), and the directories
  // whose inotify events tell us that this set may have changed.
  std::vector<Found> discover(std::set<std::string>& dirs) {
    std::vector<Found> found;
    std::set<Identity> seen;
    auto add_file = [&](const std::string& path) {
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;
      if (!seen.insert(identity_of(st)).second) return;
      found.push_back({path, identity_of(st)});
    };
    for (const std::string& pattern : options_.paths) {
      const std::size_t before = found.size();
      struct stat st {};
      const bool literal = ::stat(pattern.c_str(), &st) == 0 || !has_glob_magic(pattern);
      // The directories on the way to a match, so that a file or directory appearing later wakes us.
      const std::vector<std::string> parts = split(pattern, '/');
      std::string prefix;
      for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        prefix += parts[i];
        if (!prefix.empty()) {
          bool aborted = false;
          for (const std::string& dir : has_glob_magic(prefix) ? glob_paths(prefix, aborted) : std::vector{prefix})
            if (std::error_code ec; fs::is_directory(dir, ec)) dirs.insert(dir);
        }
        prefix += '/';
      }
      if (parts.size() == 1) dirs.insert(".");

      bool aborted = false;
      const std::vector<std::string> matches = literal ? std::vector{pattern} : glob_paths(pattern, aborted);
      if (aborted) say_once("glob " + pattern, fmt::format("--follow {}: a directory on the way cannot be read", pattern), "follow_errors");
      for (const std::string& path : matches) {
        std::error_code ec;
        if (fs::is_directory(path, ec)) {
          walk(path, dirs, add_file);
        } else {
          add_file(path);
        }
      }
      matched_[pattern] = found.size() > before;
    }
    return found;
  }

  // A directory PATH: its *.log files at any depth (the kubelet's /var/log/pods/<pod>/<container>/).
  template <class AddFile>
  void walk(const std::string& root, std::set<std::string>& dirs, AddFile& add_file) {
    dirs.insert(root);
    std::error_code ec;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::error_code type_ec;
      if (it->is_directory(type_ec)) {
        if (!it->is_symlink(type_ec)) dirs.insert(it->path().string());
      } else if (ends_with_log(it->path().filename().string()) && it->is_regular_file(type_ec)) {
        add_file(it->path().string());
      }
    }
    if (ec == std::errc::too_many_files_open || ec == std::errc::too_many_files_open_in_system) discovery_incomplete_ = true;
  }

  // ---- the main step -----------------------------------------------------------------------

  asio::awaitable<void> scan(bool at_start) {
    rescan_ = false;
    dirty_.clear();
    std::set<std::string> dirs;
    discovery_incomplete_ = false;
    const std::vector<Found> found = discover(dirs);
    std::map<Identity, const Found*> by_id;
    for (const Found& f : found) by_id[f.id] = &f;

    // Files we follow: still there, renamed within the PATHs, or gone from them (rotated, deleted).
    for (auto& [id, f] : followed_) {
      const auto it = by_id.find(id);
      if (it != by_id.end()) {
        if (it->second->path != f.path || f.rotated_since) {  // renamed within the PATHs, or back
          co_await read_file(f);  // everything before the rename under its old name
          out_->end(f.key);
          f.path = it->second->path;
          f.key = free_key(f.path);
          f.labels = labels_from_path(f.path);
          f.rotated_since.reset();
        }
        co_await read_file(f);
      } else if (!f.rotated_since && discovery_incomplete_) {
        co_await read_file(f);  // not seen because the walk was cut short: not gone
      } else if (!f.rotated_since) {
        co_await read_file(f);  // drained before its successor is read: nothing is lost
        out_->end(f.key);
        f.key = rotated_key(f);
        f.rotated_since = Clock::now();
        out_->notice("follow_rotations", "");
      } else {
        co_await read_file(f);
      }
    }
    close_rotated();

    // Files new to us: all opened first (so the operator hears at once what is followed), then
    // read, oldest content first: at start, what files rotated while klaxon was down still hold.
    std::vector<Identity> opened;
    if (at_start) open_rotated_while_away(by_id, opened);
    for (const Found* f : within_limit(found))
      if (auto id = open_file(*f, at_start)) opened.push_back(*id);
    if (at_start) {
      say_start();
      saved_.clear();  // used; from now on the followed files are the state
    }
    for (const Identity& id : opened)
      if (auto it = followed_.find(id); it != followed_.end()) co_await read_file(it->second);
    for (const auto& [id, f] : followed_) dirs.insert(parent_of(f.real_path));  // a symlink's target changes there
    watch(dirs);
    next_poll_ = Clock::now() + options_.poll_interval;
  }

  asio::awaitable<void> read_changed() {
    for (auto& [id, f] : followed_)
      if (f.rotated_since || dirty_.contains(f.real_path)) co_await read_file(f);
    dirty_.clear();
    close_rotated();
  }

  // The files new to us that may be opened: all of them, or past max_open_ the newest (by last
  // write), the rest counted and said. They are tried again at every scan, as room frees up.
  std::vector<const Found*> within_limit(const std::vector<Found>& found) {
    std::vector<const Found*> fresh;
    for (const Found& f : found)
      if (!followed_.contains(f.id)) fresh.push_back(&f);
    const std::size_t room = max_open_ > followed_.size() ? max_open_ - followed_.size() : 0;
    std::size_t left_out = 0;
    if (fresh.size() > room) {
      std::vector<std::pair<std::int64_t, const Found*>> by_age;
      for (const Found* f : fresh) {
        struct stat st {};
        const std::int64_t mtime =
            ::stat(f->path.c_str(), &st) == 0 ? std::int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec : 0;
        by_age.emplace_back(mtime, f);
      }
      std::stable_sort(by_age.begin(), by_age.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      left_out = fresh.size() - room;
      fresh.clear();
      for (std::size_t i = 0; i < room; ++i) fresh.push_back(by_age[i].second);
    }
    if (left_out != left_out_said_) {
      if (left_out > 0)
        out_->notice("follow_unfollowed",
                     fmt::format("{} file{} not followed: klaxon may hold {} files open here (ulimit -n {}); the newest are "
                                 "followed. Raise the limit to follow them all",
                                 left_out, left_out == 1 ? " is" : "s are", max_open_, fd_limit_));
      else
        out_->notice("follow_unfollowed", "every file is followed now", 0);
      left_out_said_ = left_out;
    }
    return fresh;
  }

  // Opens a file new to us; returns its identity, or nothing if it cannot or must not be followed.
  std::optional<Identity> open_file(const Found& found, bool at_start) {
    UniqueFd fd(::open(found.path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0) {
      say_once("open " + found.path, fmt::format("cannot read {}: {} (klaxon keeps trying)", found.path, std::strerror(errno)),
               "follow_errors");
      return std::nullopt;
    }
    said_.erase("open " + found.path);
    Followed f;
    f.id = identity_of(st);  // the file we opened, even if the name moved on since the scan
    if (followed_.contains(f.id)) return std::nullopt;
    // The kubelet compresses rotated files; a glob may name them. Their bytes are not lines.
    std::array<char, kArchiveMagicBytes> magic{};
    const ssize_t got = ::pread(fd.get(), magic.data(), magic.size(), 0);
    if (got > 0 && sniff_archive({magic.data(), std::size_t(got)}) != ArchiveFormat::none) {
      say_once("compressed " + found.path,
               fmt::format("{} is compressed, so it is not followed (replay it with: klaxon {})", found.path, found.path),
               "follow_skipped");
      return std::nullopt;
    }
    f.fd = std::move(fd);
    f.path = found.path;
    std::error_code ec;
    f.real_path = fs::canonical(found.path, ec).string();
    f.key = free_key(f.path);
    f.labels = labels_from_path(f.path);
    if (at_start) f.fed = start_offset(f, std::uint64_t(st.st_size));
    ++files_started_;
    const Identity id = f.id;
    followed_.emplace(id, std::move(f));
    return id;
  }

  // Where a file present at start is read from: its saved position (same identity), else its
  // start, or with --from-end the end of its last whole line.
  std::uint64_t start_offset(const Followed& f, std::uint64_t size) {
    for (const SavedPosition& p : saved_) {
      if (p.device != f.id.device || p.inode != f.id.inode) continue;
      resumed_any_ = true;
      if (p.offset <= size) return p.offset;
      out_->notice("follow_truncations", fmt::format("{} is shorter than when klaxon stopped; reading it from the start", f.path));
      return 0;
    }
    if (!options_.from_end || size == 0) return 0;
    // Back to the last newline, so that a line being written is read whole once it ends.
    const std::uint64_t from = size > kReadChunk ? size - kReadChunk : 0;
    const ssize_t n = ::pread(f.fd.get(), buffer_.data(), std::size_t(size - from), off_t(from));
    if (n <= 0) return size;
    for (ssize_t i = n; i > 0; --i)
      if (buffer_[std::size_t(i - 1)] == '\n') return from + std::uint64_t(i);
    return size;
  }

  // A restart after a rotation: the old file, renamed in its directory (the kubelet's
  // 0.log -> 0.log.<time>), still holds what was written before the rename. It is read to its end.
  void open_rotated_while_away(const std::map<Identity, const Found*>& found, std::vector<Identity>& opened) {
    for (const SavedPosition& p : saved_) {
      const Identity id{p.device, p.inode};
      if (found.contains(id) || followed_.contains(id)) continue;
      std::error_code ec;
      for (fs::directory_iterator it(parent_of(p.path), ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        struct stat st {};
        const std::string path = it->path().string();
        if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || identity_of(st) != id) continue;
        if (std::uint64_t(st.st_size) <= p.offset) break;
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (fd.get() < 0) break;
        Followed f;
        f.id = id;
        f.fd = std::move(fd);
        f.path = p.path;
        f.real_path = path;
        f.key = free_key(path);
        f.labels = labels_from_path(p.path);
        f.fed = p.offset;
        f.rotated_since = Clock::now();
        followed_.emplace(id, std::move(f));
        opened.push_back(id);
        break;
      }
    }
  }

  // ---- reading -----------------------------------------------------------------------------

  // Reads what `f` holds beyond its position and hands on the whole lines.
  asio::awaitable<void> read_file(Followed& f) {
    std::size_t since_yield = 0;
    for (;;) {
      const ssize_t n = ::pread(f.fd.get(), buffer_.data(), buffer_.size(), off_t(f.read_pos()));
      if (n < 0) {
        if (errno == EINTR) continue;
        say_once("read " + f.path, fmt::format("cannot read {}: {} (klaxon keeps trying)", f.path, std::strerror(errno)),
                 "follow_errors");
        co_return;
      }
      if (n == 0) {
        struct stat st {};
        if (::fstat(f.fd.get(), &st) == 0 && std::uint64_t(st.st_size) < f.read_pos()) {
          truncated(f);
          continue;
        }
        co_return;
      }
      hand_on(f, std::string_view(buffer_.data(), std::size_t(n)));
      since_yield += std::size_t(n);
      if (since_yield >= kYieldEvery) {
        since_yield = 0;
        co_await asio::post(executor_, asio::use_awaitable);
      }
    }
  }

  void hand_on(Followed& f, std::string_view data) {
    const std::size_t last_newline = data.rfind('\n');
    if (last_newline == std::string_view::npos) {
      f.pending.append(data);
      if (f.pending.size() > kMaxPending) {  // the framer cuts and counts over-long lines
        out_->bytes(f.key, f.pending, f.labels);
        f.fed += f.pending.size();
        f.pending.clear();
      }
      return;
    }
    if (!f.pending.empty()) {
      out_->bytes(f.key, f.pending, f.labels);
      f.fed += f.pending.size();
      f.pending.clear();
    }
    out_->bytes(f.key, data.substr(0, last_newline + 1), f.labels);
    f.fed += last_newline + 1;
    f.pending.assign(data.substr(last_newline + 1));
  }

  // Copytruncate: the file starts again. Its unfinished last line is handed on as it is.
  void truncated(Followed& f) {
    if (!f.pending.empty()) out_->bytes(f.key, f.pending, f.labels);
    out_->end(f.key);
    f.fed = 0;
    f.pending.clear();
    out_->notice("follow_truncations", fmt::format("{} was truncated; reading it again from the start", f.path));
  }

  void close_rotated() {
    const auto now = Clock::now();
    for (auto it = followed_.begin(); it != followed_.end();) {
      Followed& f = it->second;
      if (!f.rotated_since || now - *f.rotated_since < options_.rotate_wait) {
        ++it;
        continue;
      }
      if (!f.pending.empty()) out_->bytes(f.key, f.pending, f.labels);  // its last line had no newline
      out_->end(f.key);
      it = followed_.erase(it);
    }
  }

  // ---- stream keys -------------------------------------------------------------------------

  bool key_in_use(const std::string& key) const {
    return std::any_of(followed_.begin(), followed_.end(), [&](const auto& kv) { return kv.second.key == key; });
  }

  std::string free_key(const std::string& path) const {
    if (!key_in_use(path)) return path;
    for (int n = 2;; ++n)
      if (std::string k = fmt::format("{} ({})", path, n); !key_in_use(k)) return k;
  }

  // The name a rotated file is known by now: where it was renamed to, or "(deleted)".
  std::string rotated_key(const Followed& f) const {
    std::array<char, 4096> link{};
    const std::string proc = fmt::format("/proc/self/fd/{}", f.fd.get());
    const ssize_t n = ::readlink(proc.c_str(), link.data(), link.size() - 1);
    std::string now = n > 0 ? std::string(link.data(), std::size_t(n)) : f.path + " (rotated)";
    return free_key(now);
  }

  // ---- inotify -----------------------------------------------------------------------------

  void start_inotify() {
    const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
      out_->notice("follow_errors", fmt::format("inotify is not available ({}); checking files every {} ms instead",
                                                std::strerror(errno), options_.poll_interval.count()));
      return;
    }
    inotify_.emplace(executor_, fd);
    arm_inotify();
  }

  void arm_inotify() {
    if (!inotify_) return;
    inotify_->async_wait(asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
      if (ec) return;
      inotify_ready_ = true;
      wake_.cancel();
    });
  }

  void watch(const std::set<std::string>& dirs) {
    if (!inotify_) return;
    constexpr std::uint32_t kMask = IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF |
                                    IN_MOVE_SELF | IN_ATTRIB | IN_CLOSE_WRITE | IN_ONLYDIR;
    for (const std::string& dir : dirs) {
      if (watched_.contains(dir)) continue;
      const int wd = ::inotify_add_watch(inotify_->native_handle(), dir.c_str(), kMask);
      if (wd < 0) {
        if (errno == ENOSPC)
          say_once("watches", "the inotify watch limit is reached (sysctl fs.inotify.max_user_watches); "
                              "some files are checked every second instead", "follow_errors");
        continue;
      }
      // Events name the directory as the kernel knows it; followed files are compared by real path.
      std::error_code ec;
      const fs::path real = fs::canonical(dir, ec);
      watched_[dir] = wd;
      watches_[wd] = {dir, ec ? dir : real.string()};
    }
  }

  void take_inotify_events() {
    inotify_ready_ = false;
    alignas(struct inotify_event) std::array<char, 64 * 1024> events{};
    for (;;) {
      const ssize_t n = ::read(inotify_->native_handle(), events.data(), events.size());
      if (n <= 0) break;
      for (ssize_t at = 0; at < n;) {
        const auto* e = reinterpret_cast<const struct inotify_event*>(events.data() + at);
        at += ssize_t(sizeof(struct inotify_event) + e->len);
        if (e->mask & IN_Q_OVERFLOW) {
          rescan_ = true;
          continue;
        }
        const auto watch = watches_.find(e->wd);
        if (e->mask & IN_IGNORED) {
          if (watch != watches_.end()) {
            watched_.erase(watch->second.dir);
            watches_.erase(watch);
          }
          rescan_ = true;
          continue;
        }
        if (e->mask & (IN_MODIFY | IN_CLOSE_WRITE)) {
          if (watch != watches_.end() && e->len > 0) dirty_.insert(watch->second.real + "/" + e->name);
          else rescan_ = true;
        } else {
          rescan_ = true;  // created, moved, deleted, attributes: the set of files may have changed
        }
      }
    }
    arm_inotify();
  }

  // ---- state file --------------------------------------------------------------------------

  void load_state() {
    std::FILE* in = std::fopen(options_.state_path.c_str(), "rb");
    if (!in) {
      if (errno != ENOENT)
        throw FatalSourceError(fmt::format("cannot read --state {}: {}", options_.state_path, std::strerror(errno)));
    } else {
      std::string text;
      char chunk[65536];
      std::size_t n;
      while ((n = std::fread(chunk, 1, sizeof chunk, in)) > 0) text.append(chunk, n);
      std::fclose(in);
      std::string error;
      std::size_t skipped = 0;
      auto parsed = parse_follow_state(text, error, skipped);
      if (!parsed)
        throw FatalSourceError(fmt::format("--state {}: {} (give another file, or remove this one to start afresh)",
                                           options_.state_path, error));
      if (skipped > 0)
        std::fprintf(stderr, "klaxon: --state %s: %zu damaged lines skipped; those files are read from the start\n",
                     options_.state_path.c_str(), skipped);
      saved_ = std::move(*parsed);
    }
    // Writable? Better to refuse now than to lose the place silently later.
    std::string error;
    if (!write_state(format_follow_state(saved_), false, error)) throw FatalSourceError(error);
  }

  bool save_state(bool durable, std::string& error) {
    std::vector<SavedPosition> positions;
    for (const auto& [id, f] : followed_)
      if (f.path.find('\n') == std::string::npos) positions.push_back({id.device, id.inode, f.fed, f.path});
    // Not yet revisited after a restart (the first scan has not run): keep what was saved.
    for (const SavedPosition& p : saved_)
      if (!followed_.contains({p.device, p.inode})) positions.push_back(p);
    std::string text = format_follow_state(positions);
    if (text == last_saved_ && !durable) return true;
    if (!write_state(text, durable, error)) return false;
    last_saved_ = std::move(text);
    return true;
  }

  // Temp file and rename: a crash leaves the old state or the new one, never half of one. The
  // temp file is made new (O_EXCL, O_NOFOLLOW): whatever is at its name (a crash's leftover, or
  // a symlink planted in a shared directory to make a root klaxon overwrite its target) is
  // unlinked first, never written through; one planted again in between makes the open fail.
  bool write_state(const std::string& text, bool durable, std::string& error) {
    const std::string tmp = options_.state_path + ".tmp";
    ::unlink(tmp.c_str());
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    bool ok = fd.get() >= 0;
    for (std::size_t at = 0; ok && at < text.size();) {
      const ssize_t n = ::write(fd.get(), text.data() + at, text.size() - at);
      if (n < 0 && errno == EINTR) continue;
      ok = n > 0;
      if (ok) at += std::size_t(n);
    }
    if (ok && durable) ok = ::fsync(fd.get()) == 0;
    if (ok) ok = ::rename(tmp.c_str(), options_.state_path.c_str()) == 0;
    if (!ok) {
      error = fmt::format("cannot write --state {}: {} (choose a writable place)", options_.state_path, std::strerror(errno));
      if (fd.get() >= 0) ::unlink(tmp.c_str());
    }
    return ok;
  }

  // ---- telling the operator ----------------------------------------------------------------

  void say_once(const std::string& what, const std::string& message, std::string_view counter) {
    if (said_.insert(what).second) out_->notice(counter, message);
  }

  void say_start() {
    for (const auto& [pattern, any] : matched_)
      if (!any) out_->notice("follow_waiting", fmt::format("--follow {}: no file there yet; waiting for one to appear", pattern));
    out_->notice("follow_files",
                 fmt::format("following {} file{}{}", files_started_, files_started_ == 1 ? "" : "s",
                             resumed_any_ && options_.from_end ? " (where --state says klaxon stopped; new ones from their end)"
                             : resumed_any_      ? " (where --state says klaxon stopped; new ones from their start)"
                             : options_.from_end ? " from their end"
                                                 : " from their start (--from-end skips what they hold)"),
                 files_started_);
  }

  static constexpr std::size_t kReservedFds = 64;  // kept for everything but followed files
  std::size_t max_open_ = std::size_t(-1);         // followed files at most (the fd limit less the reserve)
  std::size_t fd_limit_ = 0;                       // RLIMIT_NOFILE once raised (0 = none)
  std::size_t left_out_said_ = 0;                  // files not followed, as last said
  bool discovery_incomplete_ = false;              // this scan's walk was cut short (EMFILE)

  asio::any_io_executor executor_;
  FollowOptions options_;
  Intake* out_ = nullptr;
  bool started_ = false;
  asio::steady_timer wake_;
  std::optional<asio::posix::stream_descriptor> inotify_;
  bool inotify_ready_ = false;
  bool rescan_ = false;
  std::set<std::string> dirty_;                  // paths inotify says were written to
  struct Watch {
    std::string dir;   // as the PATHs name it
    std::string real;  // as followed files' real paths name it
  };
  std::map<std::string, int> watched_;  // directory -> watch
  std::map<int, Watch> watches_;
  std::map<Identity, Followed> followed_;
  std::map<std::string, bool> matched_;          // pattern -> names a file now
  std::vector<SavedPosition> saved_;             // from the state file, until the first scan used them
  bool resumed_any_ = false;
  std::set<std::string> said_;
  std::string last_saved_;
  std::vector<char> buffer_;
  std::size_t files_started_ = 0;
  Clock::time_point next_poll_ = Clock::now();
  Clock::time_point next_save_ = Clock::now();
};

}  // namespace

std::unique_ptr<LiveSource> make_follow_source(asio::any_io_executor executor, FollowOptions options) {
  return std::make_unique<FollowSource>(executor, std::move(options));
}

Labels labels_from_path(const std::string& path) {
  const std::vector<std::string> parts = split(path, '/');
  const std::string& name = parts.back();
  // /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log[.<rotation time>]
  if (parts.size() >= 3) {
    const std::size_t dot = name.find('.');
    const bool numbered = dot != std::string::npos && all_digits(std::string_view(name).substr(0, dot)) &&
                          std::string_view(name).substr(dot).starts_with(".log");
    const std::vector<std::string> pod = split(parts[parts.size() - 3], '_');
    if (numbered && pod.size() == 3 && !pod[0].empty() && !pod[1].empty() && !pod[2].empty() &&
        !parts[parts.size() - 2].empty())
      return {{"namespace", pod[0]}, {"pod", pod[1]}, {"container", parts[parts.size() - 2]}};
  }
  // /var/log/containers/<pod>_<namespace>_<container>-<64 hex container id>.log
  if (ends_with_log(name)) {
    const std::vector<std::string> fields = split(std::string_view(name).substr(0, name.size() - 4), '_');
    if (fields.size() == 3 && fields[2].size() > 65 && fields[2][fields[2].size() - 65] == '-' &&
        all_hex(std::string_view(fields[2]).substr(fields[2].size() - 64)) && !fields[0].empty() && !fields[1].empty())
      return {{"namespace", fields[1]}, {"pod", fields[0]}, {"container", fields[2].substr(0, fields[2].size() - 65)}};
  }
  return {{"file", name}};
}

std::string format_follow_state(const std::vector<SavedPosition>& positions) {
  std::string out(kStateHeader);
  out += '\n';
  for (const SavedPosition& p : positions) out += fmt::format("{} {} {} {}\n", p.device, p.inode, p.offset, p.path);
  return out;
}

std::optional<std::vector<SavedPosition>> parse_follow_state(const std::string& text, std::string& error,
                                                             std::size_t& skipped) {
  std::vector<SavedPosition> out;
  skipped = 0;
  if (text.empty()) return out;
  std::vector<std::string> lines = split(text, '\n');
  if (!lines.front().starts_with("# klaxon follow state v1")) {
    error = "not a klaxon state file";
    return std::nullopt;
  }
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.empty()) continue;
    SavedPosition p;
    const char* at = line.data();
    const char* end = line.data() + line.size();
    bool ok = true;
    for (std::uint64_t* field : {&p.device, &p.inode, &p.offset}) {
      const auto r = std::from_chars(at, end, *field);
      ok = ok && r.ec == std::errc() && r.ptr < end && *r.ptr == ' ';
      if (!ok) break;
      at = r.ptr + 1;
    }
    if (!ok || at >= end) {
      ++skipped;
      continue;
    }
    p.path.assign(at, end);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace klaxon::sources
