#include "engine/parallel_feeder.hpp"

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace klaxon {
namespace {

constexpr std::size_t kBlockBytes = 1 << 20;

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
      max_line_bytes_(max_line_bytes),
      pool_(std::make_unique<Pool>(threads == 0 ? 1 : threads)),
      max_in_flight_(2 * std::size_t(threads == 0 ? 1 : threads)),
      next_(empty_block()) {}

ParallelFeeder::~ParallelFeeder() = default;

std::unique_ptr<std::string> ParallelFeeder::empty_block() {
  if (spare_.empty()) {
    auto block = std::make_unique<std::string>();
    block->reserve(kBlockBytes + (64 << 10));
    return block;
  }
  auto block = std::move(spare_.back());
  spare_.pop_back();
  block->clear();
  return block;
}

void ParallelFeeder::submit() {
  // Cut after the last newline: the block holds whole lines, the rest waits for more bytes.
  const std::size_t cut = next_->rfind('\n');
  if (cut == std::string::npos) return;
  std::unique_ptr<std::string> block = std::exchange(next_, empty_block());
  next_->assign(*block, cut + 1);
  block->resize(cut + 1);
  const std::string* text = block.get();  // in_flight_ owns it until the verdict is taken
  auto task = std::make_shared<std::packaged_task<BlockVerdict(BlockScratch&)>>(
      [this, text](BlockScratch& scratch) {
        return StreamClassifier::scan_block(matcher_, *text, max_line_bytes_, scratch);
      });
  in_flight_.push_back({std::move(block), task->get_future()});
  pool_->post([task](BlockScratch& scratch) { (*task)(scratch); });
}

void ParallelFeeder::deliver_one(StreamClassifier& into) {
  Pending p = std::move(in_flight_.front());
  in_flight_.pop_front();
  into.feed_scanned(*p.block, p.verdict.get());
  spare_.push_back(std::move(p.block));
}

void ParallelFeeder::feed(StreamClassifier& into, std::string_view bytes) {
  next_->append(bytes);
  if (next_->size() < kBlockBytes) return;
  const std::size_t before = next_->size();
  submit();
  if (next_->size() == before && next_->size() > max_line_bytes_ + kBlockBytes) {
    // A line longer than the limit and no newline yet: the stream's own framer cuts it, in order.
    while (!in_flight_.empty()) deliver_one(into);
    into.feed(*next_);
    next_->clear();
  }
  while (in_flight_.size() > max_in_flight_) deliver_one(into);
}

void ParallelFeeder::finish(StreamClassifier& into) {
  submit();
  while (!in_flight_.empty()) deliver_one(into);
  if (!next_->empty()) into.feed(*next_);  // a last line without newline
  next_->clear();
  into.finish();
}

}  // namespace klaxon
