// adapters/sinks/metrics.hpp — metric families and the Prometheus text exposition format.
//
// /metrics is rendered from plain data: a list of families (name, help, counter or gauge, one
// value per label set), collected on the pipeline's thread and rendered to text there, so the
// HTTP thread only copies a string. Anything that has numbers to show registers a producer in
// the run's MetricsRegistry (the pipeline's own families are one producer; alerting sinks add
// theirs: sends, failures, queue depth per sink). Names are `klaxon_*`; counters end in
// `_total`. The renderer merges families that share a name and escapes label values and help.
#pragma once

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "engine/labels.hpp"

namespace klaxon::sinks {

struct MetricSample {
  Labels labels;
  double value = 0;
};

struct MetricFamily {
  enum class Type { counter, gauge };
  std::string name;  // klaxon_..., counters with _total
  std::string help;
  Type type = Type::gauge;
  std::vector<MetricSample> samples;

  MetricFamily& add(Labels labels, double value) {
    samples.push_back({std::move(labels), value});
    return *this;
  }
};

/// Appends its families. Called on the pipeline's thread at each publish (every second and
/// after incident events); it must be quick and must not block.
using MetricsProducer = std::function<void(std::vector<MetricFamily>&)>;

/// The one place where anything with numbers registers them for /metrics.
class MetricsRegistry {
 public:
  void add(MetricsProducer producer) { producers_.push_back(std::move(producer)); }
  /// Labels on every series (--label cluster=c1), unless a series has a label of that name.
  void set_constant_labels(Labels labels) { constant_ = std::move(labels); }
  std::vector<MetricFamily> collect() const {
    std::vector<MetricFamily> out;
    for (const auto& p : producers_) p(out);
    for (MetricFamily& f : out)
      for (MetricSample& s : f.samples)
        add_missing_labels(s.labels, constant_);
    return out;
  }

 private:
  std::vector<MetricsProducer> producers_;
  Labels constant_;
};

/// Prometheus text format 0.0.4 (`# HELP`, `# TYPE`, `name{label="value"} value`). Invalid
/// characters in label names become `_`; label values are escaped (\\, \", \n).
std::string render_prometheus(const std::vector<MetricFamily>& families);

/// A label name Prometheus accepts: [a-zA-Z_][a-zA-Z0-9_]*, other characters replaced by `_`.
std::string metric_label_name(std::string_view name);

}  // namespace klaxon::sinks
