#include "engine/parallel_feeder.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

namespace klaxon {
namespace {

constexpr std::size_t kBlockBytes = 1 << 20;

std::string fmt_errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

// A fixed set of threads taking tasks from one queue; each keeps its own scratch.
struct ParallelFeeder::Pool {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<std::function<void(BlockScratch&)>> tasks;
  bool stopping = false;
  std::vector<std::thread> threads;

  explicit Pool(unsigned n) {
    for (unsigned i = 0; i < n; ++i)
      threads.emplace_back([this] {
        BlockScratch scratch;
        for (;;) {
          std::function<void(BlockScratch&)> task;
          {
            std::unique_lock lock(mutex);
            ready.wait(lock, [this] { return stopping || !tasks.empty(); });
            if (tasks.empty()) return;
            task = std::move(tasks.front());
            tasks.pop_front();
          }
          task(scratch);
        }
      });
  }
  ~Pool() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    ready.notify_all();
    for (auto& t : threads) t.join();
  }
  // Runs the oldest waiting task on the caller's thread, if there is one.
  bool run_one(BlockScratch& scratch) {
    std::function<void(BlockScratch&)> task;
    {
      std::lock_guard lock(mutex);
      if (tasks.empty()) return false;
      task = std::move(tasks.front());
      tasks.pop_front();
    }
    task(scratch);
    return true;
  }
  void post(std::function<void(BlockScratch&)> task) {
    {
      std::lock_guard lock(mutex);
      tasks.push_back(std::move(task));
    }
    ready.notify_one();
  }
};

ParallelFeeder::ParallelFeeder(const Matcher& matcher, unsigned threads, std::size_t max_line_bytes)
    : matcher_(matcher),
      threads_(threads == 0 ? 1 : threads),
      max_line_bytes_(max_line_bytes),
      // The caller's thread scans too while it waits for the next block in order: N threads
      // in all, none waiting on a core the others need.
      pool_(std::make_unique<Pool>(threads_ - 1)),
      helper_(std::make_unique<BlockScratch>()),
      max_in_flight_(2 * std::size_t(threads_)),
      next_(empty_block()) {}

ParallelFeeder::~ParallelFeeder() = default;

void ParallelFeeder::Block::reserve(std::size_t n) {
  if (n <= capacity) return;
  auto bigger = std::make_unique_for_overwrite<char[]>(n);
  if (size > 0) std::memcpy(bigger.get(), data.get(), size);  // a new block's data is null: memcpy would be UB
  data = std::move(bigger);
  capacity = n;
}

std::unique_ptr<ParallelFeeder::Block> ParallelFeeder::empty_block() {
  if (spare_.empty()) {
    auto block = std::make_unique<Block>();
    block->reserve(kBlockBytes + (256 << 10));
    return block;
  }
  auto block = std::move(spare_.back());
  spare_.pop_back();
  block->size = 0;
  return block;
}

void ParallelFeeder::post(std::function<Scanned(BlockScratch&)> task) {
  auto packaged = std::make_shared<std::packaged_task<Scanned(BlockScratch&)>>(std::move(task));
  in_flight_.push_back(packaged->get_future());
  pool_->post([packaged](BlockScratch& scratch) { (*packaged)(scratch); });
}

void ParallelFeeder::submit() {
  // Cut after the last newline: the block holds whole lines, the rest waits for more bytes.
  const void* last = memrchr(next_->data.get(), '\n', next_->size);
  if (last == nullptr) return;
  const std::size_t cut = std::size_t(static_cast<const char*>(last) - next_->data.get()) + 1;
  std::unique_ptr<Block> block = std::exchange(next_, empty_block());
  next_->reserve(block->size - cut);
  std::memcpy(next_->data.get(), block->data.get() + cut, block->size - cut);
  next_->size = block->size - cut;
  block->size = cut;
  // std::function wants a copyable task: the block travels in a shared_ptr until it runs.
  auto owned = std::make_shared<std::unique_ptr<Block>>(std::move(block));
  post([this, owned](BlockScratch& scratch) {
    Scanned out;
    out.block = std::move(*owned);
    out.text = out.block->text();
    out.verdict = StreamClassifier::scan_block(matcher_, out.text, max_line_bytes_, scratch);
    return out;
  });
}

std::string ParallelFeeder::deliver_one(StreamClassifier& into) {
  // Rather than sleep until the next block in order is done, scan the blocks still waiting.
  std::future<Scanned>& next = in_flight_.front();
  while (next.wait_for(std::chrono::seconds(0)) != std::future_status::ready && pool_->run_one(*helper_)) continue;
  Scanned s = next.get();
  in_flight_.pop_front();
  into.feed_scanned(s.text, s.verdict);
  if (!s.after.empty()) into.feed(s.after);
  spare_.push_back(std::move(s.block));
  return s.error;
}

std::span<char> ParallelFeeder::room(std::size_t bytes) {
  if (next_->size + bytes > next_->capacity) next_->reserve(std::max(next_->size + bytes, 2 * next_->capacity));
  return {next_->data.get() + next_->size, bytes};
}

void ParallelFeeder::commit(StreamClassifier& into, std::size_t bytes) {
  next_->size += bytes;
  if (next_->size < kBlockBytes) return;
  const std::size_t before = next_->size;
  submit();
  if (next_->size == before && next_->size > max_line_bytes_ + kBlockBytes) {
    // A line longer than the limit and no newline yet: the stream's own framer cuts it, in order.
    while (!in_flight_.empty()) deliver_one(into);
    into.feed(next_->text());
    next_->size = 0;
  }
  while (in_flight_.size() > max_in_flight_) deliver_one(into);
}

void ParallelFeeder::feed(StreamClassifier& into, std::string_view bytes) {
  std::span<char> to = room(bytes.size());
  std::memcpy(to.data(), bytes.data(), bytes.size());
  commit(into, bytes.size());
}

void ParallelFeeder::finish(StreamClassifier& into) {
  submit();
  while (!in_flight_.empty()) deliver_one(into);
  if (next_->size > 0) into.feed(next_->text());  // a last line without newline
  next_->size = 0;
  into.finish();
}

namespace {

// Reads `n` bytes at `offset`, fewer only at end of file. -1 (errno set) on error.
ssize_t read_at(int fd, char* out, std::size_t n, std::uint64_t offset) {
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd, out + got, n - got, off_t(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    got += std::size_t(r);
  }
  return ssize_t(got);
}

}  // namespace

// Slice `index` of the file is [b(index * B), b((index + 1) * B)), where b(x) is the first line
// start in [x, x + max_line_bytes] (the end of the file counts as one), or x itself when a line
// longer than the limit runs through. b never decreases, so the slices tile the file, and the
// workers that read two neighbouring slices agree on their border without talking. A slice that
// does not begin and end at line starts is classified in order by the stream's own framer.
ParallelFeeder::Scanned ParallelFeeder::read_slice(int fd, std::uint64_t size, std::uint64_t index,
                                                   std::unique_ptr<Block> block, BlockScratch& scratch) const {
  // Read past the slice for the line that ends it: 4 KiB holds that line's end almost always (a
  // longer one takes a second read); 64 KiB made every slice copy 6% more than it scans.
  constexpr std::uint64_t kLook = 4 << 10;
  const std::uint64_t lo = index * kBlockBytes, hi = std::min(lo + kBlockBytes, size);
  const std::uint64_t base = lo == 0 ? 0 : lo - 1;  // one byte before: is `lo` a line start?
  Scanned out;
  std::uint64_t limit = std::min(hi + kLook, size);
  auto fill = [&](std::uint64_t to) {
    block->reserve(std::size_t(to - base));
    const ssize_t r = read_at(fd, block->data.get() + block->size, std::size_t(to - base) - block->size, base + block->size);
    if (r < 0) out.error = fmt_errno("read failed");
    else if (std::size_t(r) != std::size_t(to - base) - block->size) out.error = "the file shrank while being read";
    else block->size = std::size_t(to - base);
    return out.error.empty();
  };
  // b(x) from the bytes read so far; nullopt when more are needed.
  auto border = [&](std::uint64_t x) -> std::optional<std::uint64_t> {
    if (x == 0 || x >= size) return std::min(x, size);
    const std::uint64_t need = std::min(x + max_line_bytes_, size);  // look at [x - 1, need)
    const std::uint64_t have = std::min(need, base + block->size);
    const char* from = block->data.get() + (x - 1 - base);
    if (const void* nl = std::memchr(from, '\n', std::size_t(have - (x - 1))))
      return base + std::uint64_t(static_cast<const char*>(nl) - block->data.get()) + 1;
    if (have < need) return std::nullopt;
    return need == size ? size : x;
  };
  block->size = 0;
  std::optional<std::uint64_t> begin, end;
  if (fill(limit)) {
    begin = border(lo), end = border(hi);
    if ((!begin || !end) && fill(std::min(hi + max_line_bytes_ + 1, size))) begin = border(lo), end = border(hi);
  }
  if (!out.error.empty()) {
    out.block = std::move(block);
    return out;
  }
  const char* data = block->data.get();
  auto at = [&](std::uint64_t offset) { return std::size_t(offset - base); };
  if (*begin < *end) {
    std::string_view text(data + at(*begin), std::size_t(*end - *begin));
    const bool starts_line = *begin == 0 || data[at(*begin) - 1] == '\n';
    const bool ends_line = text.back() == '\n' || *end == size;
    if (!starts_line || !ends_line) {
      out.verdict.sequential = true;
    } else if (text.back() != '\n') {  // the file's last line has no newline
      const std::size_t cut = text.rfind('\n') + 1;  // npos + 1 == 0: no newline at all
      out.after = text.substr(cut);
      text = text.substr(0, cut);
    }
    out.text = text;
    if (!out.verdict.sequential) out.verdict = StreamClassifier::scan_block(matcher_, text, max_line_bytes_, scratch);
  }
  out.block = std::move(block);
  return out;
}

std::string ParallelFeeder::feed_file(StreamClassifier& into, int fd, std::uint64_t size,
                                      const std::function<bool()>& keep_going) {
  std::string error;
  bool stop = false;
  const std::uint64_t slices = (size + kBlockBytes - 1) / kBlockBytes;
  for (std::uint64_t k = 0; k < slices && !stop && error.empty(); ++k) {
    auto block = std::make_shared<std::unique_ptr<Block>>(empty_block());
    post([this, fd, size, k, block](BlockScratch& scratch) {
      return read_slice(fd, size, k, std::move(*block), scratch);
    });
    while (in_flight_.size() > max_in_flight_ && error.empty() && !stop) {
      error = deliver_one(into);
      stop = !keep_going();
    }
  }
  while (!in_flight_.empty()) {
    if (error.empty() && !stop) {
      error = deliver_one(into);
      stop = !keep_going();
    } else {
      in_flight_.front().wait();  // the worker still reads the file: wait, then drop it
      in_flight_.pop_front();
    }
  }
  if (!error.empty() || stop) return error;
  // Bytes written since the size was taken, in order.
  std::vector<char> more(256 << 10);
  for (std::uint64_t offset = size;;) {
    const ssize_t r = read_at(fd, more.data(), more.size(), offset);
    if (r < 0) return fmt_errno("read failed");
    if (r == 0) return {};
    into.feed(std::string_view(more.data(), std::size_t(r)));
    offset += std::uint64_t(r);
  }
}

}  // namespace klaxon
