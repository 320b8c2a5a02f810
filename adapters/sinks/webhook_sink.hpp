// adapters/sinks/webhook_sink.hpp — incident events posted to any HTTP endpoint, or to Slack.
//
// `json` posts every incident event as the object `--format jsonl` prints (DESIGN.md's
// incident object with "type":"incident" and "event"), one event per post, in order, so a
// receiver sees the same stream a script reading klaxon's output would. `slack` posts a Slack
// incoming-webhook message ({"text": ...}) for what a person should hear about: an incident
// opened, escalated or resolved; not the routine updates, and not symptoms under a root cause
// (the root's message counts them). Delivery (queue, retries) is the DeliveryQueue's.
// It is an EventSink that overrides incident() only.
// Thread safety: incident from the pipeline's thread.
#pragma once

#include <optional>
#include <string>

#include "adapters/sinks/delivery.hpp"
#include "engine/event_sink.hpp"
#include "engine/incident_tracker.hpp"

namespace klaxon::sinks {

enum class WebhookFormat { json, slack };

class WebhookSink final : public EventSink {
 public:
  /// `link`: klaxon's status page as people reach it (--external-url), linked from each message
  /// (`"url"` in json, a link line in Slack); empty: no link.
  WebhookSink(DeliveryQueue& queue, WebhookFormat format, std::string link = {})
      : queue_(queue), format_(format), link_(std::move(link)) {}
  void incident(const IncidentEvent& event) override;

  /// The body posted for `event`, or nullopt when this format does not post it.
  static std::optional<std::string> body(const IncidentEvent& event, WebhookFormat format, const std::string& link = {});

 private:
  DeliveryQueue& queue_;
  WebhookFormat format_;
  std::string link_;
};

}  // namespace klaxon::sinks
