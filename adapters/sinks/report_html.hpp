// adapters/sinks/report_html.hpp — a RunPicture as HTML: the --report file, the status page and
// a page per incident.
//
// The report is what a postmortem attaches, so it is one self-contained file: inline CSS, the
// charts drawn here as inline SVG (the page reads with JavaScript off, prints, and makes a PDF
// with `chromium --headless --print-to-pdf`), no fonts, images or scripts from anywhere, and
// the picture's JSON embedded for scripts (<script type="application/json" id="klaxon-picture">).
// The only script is a few lines that open every folded list before printing. Native
// <details> elements fold symptoms under their root, with or without script.
//
// Every text that came from a log line is HTML-escaped here; links are made only from a rule's
// runbook_url or a runbook text that is an http(s) URL, and only to http(s).
#pragma once

#include <string>
#include <string_view>

#include "adapters/sinks/run_picture.hpp"

namespace klaxon::sinks {

/// The whole --report page.
std::string render_report(const RunPicture& picture);
/// The --listen status page (`/`): roots first with their symptoms folded, the timeline (symptoms
/// folded under their root, each one's row in a <details>), certificates by
/// soonest expiry, sources with their last line, a red banner when not ready.
std::string render_status_page(const RunPicture& picture);
/// `/incident/ID`; nullopt-like empty string when the picture holds no such incident.
std::string render_incident_page(const RunPicture& picture, std::string_view id);

/// `text` with &, <, >, " and ' escaped for HTML text and attribute values.
std::string html_escaped(std::string_view text);

/// Writes `content` to `path` whole or not at all (a temporary file beside it, then rename).
/// Returns an error message, empty on success.
std::string write_file_atomically(const std::string& path, std::string_view content);

}  // namespace klaxon::sinks
