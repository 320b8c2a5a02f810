// cli/external_labels.hpp — `--label NAME=VALUE`: who this klaxon is, on everything it says.
//
// A fleet of klaxons (a DaemonSet's pods, Loki shards, replicas) meets in one Alertmanager
// cluster, one Prometheus and one chat channel. What tells their words apart, and lets
// Alertmanager's inhibit rules match only within one cluster (`equal: [cluster]`), is a few
// constant labels per process, as Prometheus' `external_labels`: `--label cluster=c1`. They
// are added to every incident (its alert, webhook and JSON objects) and to every /metrics
// series. A label an incident or series has of its own (a line's Loki `cluster` label) is kept:
// the constant one only fills in what is missing.
//
// Names are checked as Prometheus checks label names; names Alertmanager or klaxon reserve
// (`__*`, alertname, severity, class: the alert's identity) and a name given twice are refused
// before anything starts.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/labels.hpp"

namespace klaxon::cli {

/// The labels of the `--label` flags, in the order given; nullopt with `error` set (a message
/// naming the flag) when one is malformed, reserved or repeated.
std::optional<Labels> parse_external_labels(const std::vector<std::string>& flags, std::string& error);

}  // namespace klaxon::cli
