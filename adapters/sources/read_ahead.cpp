#include "adapters/sources/read_ahead.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace klaxon::sources {
namespace {

class ReadAhead final : public ByteSource {
 public:
  ReadAhead(std::unique_ptr<ByteSource> inner, std::size_t chunk_bytes, std::size_t max_chunks)
      : inner_(std::move(inner)), chunk_bytes_(chunk_bytes), max_chunks_(max_chunks), reader_([this] { run(); }) {}

  ~ReadAhead() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    reader_.join();
  }

  ReadResult read(std::span<char> buffer, int timeout_ms) override {
    return take(buffer.size(), timeout_ms, [&](const char* from, std::size_t n) { std::memcpy(buffer.data(), from, n); });
  }

  bool lends() const override { return true; }
  ReadResult lend(std::string_view& bytes, int timeout_ms) override {
    bytes = {};
    return take(std::size_t(-1), timeout_ms, [&](const char* from, std::size_t n) { bytes = {from, n}; });
  }

  const std::string& name() const override { return inner_->name(); }
  unsigned busy_threads() const override { return 1 + inner_->busy_threads(); }

 private:
  struct Chunk {
    std::vector<char> data;
    std::size_t taken = 0;
    bool eof = false;
    std::string error;
  };

  // Hands up to `most` bytes of the oldest chunk to `give`. A chunk emptied by the previous call
  // was lent until now: its buffer goes back to the reader only here.
  template <class Give>
  ReadResult take(std::size_t most, int timeout_ms, Give&& give) {
    std::unique_lock lock(mutex_);
    if (!lent_.empty()) spare_.push_back(std::move(lent_)), lent_.clear(), changed_.notify_all();
    auto ready = [this] { return !chunks_.empty(); };
    if (timeout_ms < 0) changed_.wait(lock, ready);
    ReadResult r;
    if (timeout_ms >= 0 && !changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready)) {
      r.timed_out = true;
      return r;
    }
    Chunk& front = chunks_.front();
    r.bytes = std::min(most, front.data.size() - front.taken);
    give(front.data.data() + front.taken, r.bytes);
    front.taken += r.bytes;
    if (front.taken == front.data.size()) {  // the chunk's end and error go out with its last bytes
      r.eof = front.eof;
      r.error = std::move(front.error);
      lent_ = std::move(front.data);
      chunks_.pop_front();
      changed_.notify_all();
    }
    return r;
  }

  void run() {
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [this] { return stopping_ || chunks_.size() < max_chunks_; });
        if (stopping_) return;
      }
      Chunk chunk;
      {
        // A buffer used before: a fresh 256 KiB one is mapped, zeroed and faulted in anew,
        // which costs the decompressing thread more than a tenth of its time.
        std::lock_guard lock(mutex_);
        if (!spare_.empty()) chunk.data = std::move(spare_.back()), spare_.pop_back();
      }
      chunk.data.resize(chunk_bytes_);
      // A short timeout keeps a quiet pipe from holding the thread past the destructor.
      ReadResult r = inner_->read(chunk.data, 200);
      if (r.timed_out && r.bytes == 0) continue;
      chunk.data.resize(r.bytes);
      chunk.eof = r.eof;
      chunk.error = std::move(r.error);
      const bool last = chunk.eof;
      {
        std::lock_guard lock(mutex_);
        chunks_.push_back(std::move(chunk));
      }
      changed_.notify_all();
      if (last) return;
    }
  }

  std::unique_ptr<ByteSource> inner_;
  const std::size_t chunk_bytes_, max_chunks_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Chunk> chunks_;
  std::vector<std::vector<char>> spare_;  // emptied chunks' buffers, for the reader to reuse
  std::vector<char> lent_;                // the chunk last handed out, until the next call
  bool stopping_ = false;
  std::thread reader_;  // last: starts once everything above exists
};

}  // namespace

std::unique_ptr<ByteSource> read_ahead(std::unique_ptr<ByteSource> inner, std::size_t chunk_bytes,
                                       std::size_t max_chunks) {
  return std::make_unique<ReadAhead>(std::move(inner), chunk_bytes, max_chunks);
}

}  // namespace klaxon::sources
