// engine/record.hpp — one decoded log line: envelope peeled, payload understood.
//
// A Record is a set of views: into the raw line, into the decoder's scratch (unescaped JSON
// strings, joined CRI pieces) and into the source's labels. It is built only for lines that
// pass the prefilter, and lives until the next line is decoded with the same scratch.
#pragma once

#include <string_view>
#include <vector>

#include "engine/civil_time.hpp"

namespace klaxon {

struct Field {
  std::string_view name;
  std::string_view value;
};

enum class PayloadFormat { plain, json, klog, logfmt, tracing };

struct Record {
  std::string_view line;     ///< the raw line as read (envelope and escapes included)
  std::string_view payload;  ///< the line inside its envelope (CRI, Docker, kubectl prefix)
  std::string_view message;  ///< what the line says, decoded (see rules/README.md)
  std::string_view level;    ///< debug | info | warning | error | fatal, or empty
  Nanos time = 0;            ///< event time: the payload's, else the envelope's; 0 = unknown
  Nanos envelope_time = 0;   ///< the envelope's own time (kubelet, kubectl --timestamps, a Loki entry); 0 = none
  PayloadFormat format = PayloadFormat::plain;
  std::vector<Field> labels;  ///< where it came from: namespace, pod, container, stream, source
  std::vector<Field> fields;  ///< what the payload carried (JSON/logfmt keys, klog file)

  /// Looks a name up in labels, then fields; `level` and `message` are always known.
  std::string_view get(std::string_view name, bool* found = nullptr) const {
    auto hit = [&](std::string_view v) {
      if (found) *found = true;
      return v;
    };
    for (const Field& f : labels)
      if (f.name == name) return hit(f.value);
    if (name == "level" && !level.empty()) return hit(level);
    if (name == "message") return hit(message);
    for (const Field& f : fields)
      if (f.name == name) return hit(f.value);
    if (found) *found = false;
    return {};
  }

  void clear() {
    line = payload = message = level = {};
    time = envelope_time = 0;
    format = PayloadFormat::plain;
    labels.clear();
    fields.clear();
  }
};

/// Normalises the level words of zap, logrus, klog (`I`, `W`, `E`, `F`), tracing and others to
/// debug | info | warning | error | fatal; unknown words give an empty view.
std::string_view normalize_level(std::string_view word) noexcept;

}  // namespace klaxon
