// engine/parallel_feeder.hpp — `--threads N`: a stream's blocks scanned on N threads, in order.
//
// Replaying a file is embarrassingly parallel but for its order: lines must reach the incident
// tracker as they stand in the file. The feeder cuts the stream into blocks of whole lines
// (1 MiB), lets worker threads do the costly part (the prefilter scan of every byte, decoding
// and matching of candidates: StreamClassifier::scan_block), and hands each block's verdict
// back to the stream's StreamClassifier on the caller's thread in block order, which decodes
// the few interesting lines again (the year a klog line lacks is known only in order), runs the
// one rule the worker found to win, and delivers them. A regular file is not even read by the
// caller: each worker reads its own slice (feed_file). At most 2 x N blocks are in flight, so
// memory stays bounded however long the stream.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/stream_classifier.hpp"

namespace klaxon {

class ParallelFeeder {
 public:
  ParallelFeeder(const Matcher& matcher, unsigned threads, std::size_t max_line_bytes);
  ~ParallelFeeder();
  ParallelFeeder(const ParallelFeeder&) = delete;
  ParallelFeeder& operator=(const ParallelFeeder&) = delete;
  unsigned threads() const { return threads_; }

  /// The next bytes of the stream `into` classifies (one stream at a time: finish() it before
  /// feeding another). Matches are delivered on this thread, possibly a few blocks later.
  void feed(StreamClassifier& into, std::string_view bytes);
  /// The same without a copy: read up to `bytes` into room(), then commit() what was read.
  std::span<char> room(std::size_t bytes);
  void commit(StreamClassifier& into, std::size_t bytes);
  /// Delivers everything still in flight, then ends the stream (StreamClassifier::finish).
  void finish(StreamClassifier& into);

  /// A whole regular file for `into` (a stream not fed otherwise): each worker reads its own
  /// block with pread() and scans it while the bytes are still in its cache, so the copy out
  /// of the page cache runs in parallel too. `keep_going` is asked after each block delivered.
  /// Returns an error message when a read failed (the blocks before it are classified).
  std::string feed_file(StreamClassifier& into, int fd, std::uint64_t size, const std::function<bool()>& keep_going);

 private:
  struct Pool;
  // Bytes of the stream, not initialised before they are read into (a std::string would
  // zero every byte first).
  struct Block {
    std::unique_ptr<char[]> data;
    std::size_t size = 0;
    std::size_t capacity = 0;
    std::string_view text() const { return {data.get(), size}; }
    void reserve(std::size_t n);
  };
  // What a worker hands back, in order: the block, and what of it to classify how.
  struct Scanned {
    std::unique_ptr<Block> block;
    std::string_view text;   // whole lines (unless verdict.sequential), within block
    std::string_view after;  // a file's last line, without newline: through the framer
    BlockVerdict verdict;
    std::string error;       // reading failed after `text`
  };
  void submit();
  void post(std::function<Scanned(BlockScratch&)> task);
  std::string deliver_one(StreamClassifier& into);
  Scanned read_slice(int fd, std::uint64_t size, std::uint64_t index, std::unique_ptr<Block> block,
                     BlockScratch& scratch) const;
  std::unique_ptr<Block> empty_block();

  const Matcher& matcher_;
  unsigned threads_;
  std::size_t max_line_bytes_;
  std::unique_ptr<Pool> pool_;               // threads_ - 1 workers
  std::unique_ptr<BlockScratch> helper_;     // for the caller's thread, when it scans too
  std::size_t max_in_flight_;
  // Delivered blocks, kept for reuse: a fresh 1 MiB buffer per block would be mapped and
  // page-faulted anew each time, which costs more system time than the scan saves.
  std::vector<std::unique_ptr<Block>> spare_;
  std::unique_ptr<Block> next_;  // bytes not yet submitted
  std::deque<std::future<Scanned>> in_flight_;
};

}  // namespace klaxon
