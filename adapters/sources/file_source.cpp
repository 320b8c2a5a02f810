#include "adapters/sources/file_source.hpp"
#include "adapters/sources/archive_format.hpp"
#include "adapters/sources/read_ahead.hpp"
#include "engine/unique_fd.hpp"

#include <cerrno>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <fmt/format.h>

namespace klaxon::sources {
namespace {

constexpr std::size_t kCompressedChunk = 256 * 1024;

// Reads the raw bytes of a file descriptor, with a few bytes put back after sniffing.
class RawFile {
 public:
  RawFile(int fd, bool owned) : fd_(fd), owned_(owned ? fd : -1) {}
  RawFile(const RawFile&) = delete;
  RawFile& operator=(const RawFile&) = delete;

  static constexpr ssize_t kTimedOut = -2;

  // Returns bytes read (0 = end), -1 with errno set, or kTimedOut.
  ssize_t read(char* out, std::size_t n, int timeout_ms = -1) {
    if (!pushback_.empty()) {
      const std::size_t k = std::min(n, pushback_.size());
      std::memcpy(out, pushback_.data(), k);
      pushback_.erase(pushback_.begin(), pushback_.begin() + std::ptrdiff_t(k));
      return ssize_t(k);
    }
    if (timeout_ms >= 0) {
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, timeout_ms);
      if (ready < 0) return -1;  // EINTR included: the caller decides whether to stop
      if (ready == 0) return kTimedOut;
    }
    const ssize_t r = ::read(fd_, out, n);
    return r;
  }

  int fd() const { return fd_; }
  // Opened here from a path, so read from its start (standard input may be a file half read).
  bool opened_by_path() const { return bool(owned_); }

  // Reads up to `n` leading bytes to recognise the format, and puts them back.
  std::string sniff(std::size_t n) {
    std::string head;
    while (head.size() < n) {
      char buf[8];
      const ssize_t r = read(buf, n - head.size());
      if (r <= 0) break;
      head.append(buf, std::size_t(r));
      if (!may_become_archive(head)) break;
    }
    pushback_.insert(pushback_.begin(), head.begin(), head.end());
    return head;
  }

 private:
  int fd_;
  UniqueFd owned_;  // fd_ when it was opened here (a path), not when it is standard input
  std::vector<char> pushback_;
};

class PlainSource final : public ByteSource {
 public:
  PlainSource(std::string name, std::unique_ptr<RawFile> file) : name_(std::move(name)), file_(std::move(file)) {
    if (const auto regular = regular_file()) size_at_open_ = regular->size;
  }
  ReadResult read(std::span<char> buf, int timeout_ms) override {
    const ssize_t r = file_->read(buf.data(), buf.size(), timeout_ms);
    if (r == RawFile::kTimedOut || (r < 0 && errno == EINTR)) return {0, false, true, {}};
    if (r < 0) return {0, true, false, fmt::format("read failed: {}", std::strerror(errno))};
    read_ += std::uint64_t(r);
    // A file cut while it is replayed (truncated, rewritten) ends early: its end was not read,
    // so the replay must not look complete. The threaded replay says the same.
    if (r == 0 && read_ < size_at_open_) return {0, true, false, "the file shrank while being read"};
    return {std::size_t(r), r == 0, false, {}};
  }
  const std::string& name() const override { return name_; }
  std::optional<RegularFile> regular_file() const override {
    struct stat st {};
    if (!file_->opened_by_path() || ::fstat(file_->fd(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    return RegularFile{file_->fd(), std::uint64_t(st.st_size)};
  }

 private:
  std::string name_;
  std::unique_ptr<RawFile> file_;
  std::uint64_t size_at_open_ = 0;  // a regular file's; 0 for a pipe
  std::uint64_t read_ = 0;
};

// Shared shape of the two decompressors: refill compressed input, inflate into the caller's
// buffer, notice an input that ends before its stream does.
class CompressedSource : public ByteSource {
 public:
  CompressedSource(std::string name, std::unique_ptr<RawFile> file)
      : name_(std::move(name)), file_(std::move(file)), in_(kCompressedChunk) {}
  const std::string& name() const override { return name_; }

  ReadResult read(std::span<char> buf, int timeout_ms) override {
    if (done_) return {0, true, false, {}};
    for (;;) {
      if (in_pos_ == in_len_ && !input_eof_) {
        ssize_t r;
        // A compressed pipe may fall quiet too (`kubectl logs -f | gzip | klaxon`).
        do r = file_->read(in_.data(), in_.size(), timeout_ms);
        while (r < 0 && errno == EINTR);
        if (r == RawFile::kTimedOut) return {0, false, true, {}};
        if (r < 0) return finish_with(fmt::format("read failed: {}", std::strerror(errno)));
        in_pos_ = 0, in_len_ = std::size_t(r);
        input_eof_ = r == 0;
        compressed_ += std::size_t(r);
      }
      std::size_t produced = 0;
      std::string error;
      const bool stream_end = step(buf, produced, error);
      produced_ += produced;
      if (!error.empty()) {
        auto result = finish_with(fmt::format("corrupt {} data after {} bytes of output: {}", kind(), produced_, error));
        result.bytes = produced;
        return result;
      }
      if (stream_end && in_pos_ == in_len_ && input_eof_) {
        done_ = true;
        return {produced, true, false, {}};
      }
      if (produced > 0) return {produced, false, false, {}};
      if (input_eof_ && in_pos_ == in_len_) {
        if (stream_end) return done_ = true, ReadResult{0, true, false, {}};
        return finish_with(fmt::format("truncated {} archive: it ends inside a compressed block after {} bytes of output",
                                       kind(), produced_));
      }
    }
  }

 protected:
  // Decompresses from in_[in_pos_, in_len_) into buf; returns true at the end of a frame/member.
  virtual bool step(std::span<char> buf, std::size_t& produced, std::string& error) = 0;
  virtual const char* kind() const = 0;

  ReadResult finish_with(std::string error) {
    done_ = true;
    return {0, true, false, std::move(error)};
  }

  std::string name_;
  std::unique_ptr<RawFile> file_;
  std::vector<char> in_;
  std::size_t in_pos_ = 0, in_len_ = 0;
  bool input_eof_ = false, done_ = false;
  std::size_t compressed_ = 0, produced_ = 0;
};

class GzipSource final : public CompressedSource {
 public:
  using CompressedSource::CompressedSource;
  ~GzipSource() override {
    if (ready_) inflateEnd(&z_);
  }

 private:
  const char* kind() const override { return "gzip"; }
  bool step(std::span<char> buf, std::size_t& produced, std::string& error) override {
    if (!ready_) {
      if (inflateInit2(&z_, 15 + 32) != Z_OK) return error = "zlib init failed", false;
      ready_ = true;
    }
    if (member_ended_) {
      // `cat a.gz b.gz` is a valid gzip file: start the next member if bytes follow.
      if (in_pos_ == in_len_) return true;
      inflateReset(&z_);
      member_ended_ = false;
    }
    z_.next_in = reinterpret_cast<Bytef*>(in_.data() + in_pos_);
    z_.avail_in = unsigned(in_len_ - in_pos_);
    z_.next_out = reinterpret_cast<Bytef*>(buf.data());
    z_.avail_out = unsigned(buf.size());
    const int rc = inflate(&z_, Z_NO_FLUSH);
    produced = buf.size() - z_.avail_out;
    in_pos_ = in_len_ - z_.avail_in;
    if (rc == Z_STREAM_END) return member_ended_ = true, true;
    if (rc != Z_OK && rc != Z_BUF_ERROR) error = z_.msg ? z_.msg : "inflate failed";
    return false;
  }
  z_stream z_{};
  bool ready_ = false;
  bool member_ended_ = false;
};

class ZstdSource final : public CompressedSource {
 public:
  using CompressedSource::CompressedSource;
  ~ZstdSource() override { ZSTD_freeDStream(z_); }

 private:
  const char* kind() const override { return "zstd"; }
  bool step(std::span<char> buf, std::size_t& produced, std::string& error) override {
    ZSTD_inBuffer in{in_.data() + in_pos_, in_len_ - in_pos_, 0};
    ZSTD_outBuffer out{buf.data(), buf.size(), 0};
    const std::size_t rc = ZSTD_decompressStream(z_, &out, &in);
    produced = out.pos;
    in_pos_ += in.pos;
    if (ZSTD_isError(rc)) {
      error = ZSTD_getErrorName(rc);
      return false;
    }
    if (in.pos > 0 || out.pos > 0) frame_ended_ = rc == 0;
    return frame_ended_;
  }
  ZSTD_DStream* z_ = ZSTD_createDStream();
  bool frame_ended_ = false;
};

}  // namespace

ReadResult ByteSource::lend(std::string_view& bytes, int) {
  bytes = {};
  return {0, true, false, "this source does not lend its buffers"};
}

std::unique_ptr<ByteSource> open_file_source(const std::string& path, std::string& error) {
  std::unique_ptr<RawFile> file;
  std::string name = path;
  if (path == "-") {
    file = std::make_unique<RawFile>(STDIN_FILENO, false);
    name = "stdin";
  } else {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      error = fmt::format("cannot open {}: {}", path, std::strerror(errno));
      return nullptr;
    }
    file = std::make_unique<RawFile>(fd, true);
  }
  // Archives are decompressed on a thread of their own, while the caller classifies.
  switch (sniff_archive(file->sniff(kArchiveMagicBytes))) {
    case ArchiveFormat::gzip: return read_ahead(std::make_unique<GzipSource>(std::move(name), std::move(file)));
    case ArchiveFormat::zstd: return read_ahead(std::make_unique<ZstdSource>(std::move(name), std::move(file)));
    case ArchiveFormat::none: break;
  }
  return std::make_unique<PlainSource>(std::move(name), std::move(file));
}

}  // namespace klaxon::sources
