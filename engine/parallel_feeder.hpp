// engine/parallel_feeder.hpp — `--threads N`: a stream's blocks scanned on N threads, in order.
//
// Replaying a file is embarrassingly parallel but for its order: lines must reach the incident
// tracker as they stand in the file. The feeder cuts the stream into blocks of whole lines
// (1 MiB), lets worker threads do the costly part (the prefilter scan of every byte, decoding
// and matching of candidates: StreamClassifier::scan_block), and hands each block's verdict
// back to the stream's StreamClassifier on the caller's thread in block order, which classifies
// the few interesting lines again and delivers them. At most 2 x N blocks are in flight, so
// memory stays bounded however long the stream.
#pragma once

#include <cstddef>
#include <deque>
#include <future>
#include <memory>
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

  /// The next bytes of the stream `into` classifies (one stream at a time: finish() it before
  /// feeding another). Matches are delivered on this thread, possibly a few blocks later.
  void feed(StreamClassifier& into, std::string_view bytes);
  /// Delivers everything still in flight, then ends the stream (StreamClassifier::finish).
  void finish(StreamClassifier& into);

 private:
  struct Pool;
  struct Pending {
    std::unique_ptr<std::string> block;  // the worker reads it until `verdict` is ready
    std::future<BlockVerdict> verdict;
  };
  void submit();
  void deliver_one(StreamClassifier& into);
  std::unique_ptr<std::string> empty_block();

  const Matcher& matcher_;
  std::size_t max_line_bytes_;
  std::unique_ptr<Pool> pool_;
  std::size_t max_in_flight_;
  // Delivered blocks, kept for reuse: a fresh 1 MiB buffer per block would be mapped and
  // page-faulted anew each time, which costs more system time than the scan saves.
  std::vector<std::unique_ptr<std::string>> spare_;
  std::unique_ptr<std::string> next_;  // bytes not yet submitted
  std::deque<Pending> in_flight_;
};

}  // namespace klaxon
