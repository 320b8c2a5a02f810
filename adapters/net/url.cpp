#include "adapters/net/url.hpp"

#include <algorithm>
#include <cctype>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "engine/printable.hpp"

namespace klaxon::net {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "http:// or https://", "http://, https://, ws:// or wss://"
std::string scheme_list(std::initializer_list<std::string_view> schemes) {
  std::string out;
  std::size_t i = 0;
  for (std::string_view s : schemes) {
    if (i > 0) out += i + 1 == schemes.size() ? " or " : ", ";
    out += s;
    out += "://";
    ++i;
  }
  return out;
}

}  // namespace

std::string Url::host_header() const {
  std::string h = ip_literal && host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (!default_port()) h += ":" + port;
  return h;
}

std::optional<Url> parse_url(std::string_view text, std::initializer_list<std::string_view> schemes, std::string& error) {
  const auto parsed = boost::urls::parse_uri(boost::urls::string_view(text.data(), text.size()));
  if (!parsed) {
    // Boost.URL's own words ("syntax error") do not help at 3 a.m.: say what usually is wrong.
    const std::size_t sep = text.find("://");
    if (sep == std::string_view::npos) error = "not a URL: write " + scheme_list(schemes) + "host[:port][/path]";
    else if (text.substr(sep + 3).starts_with('[') && text.find(']') == std::string_view::npos) error = "unclosed [ in the host";
    else error = "cannot be read as a URL (a port that is not a number? a space?)";
    return std::nullopt;
  }
  const boost::urls::url_view& u = *parsed;
  // Boost.URL 1.81 reads "http://am:port" as host am, an empty port and the path "port" (RFC
  // 3986 wants a path after an authority to start with "/"): not what anyone meant.
  if (u.has_authority() && !u.encoded_path().empty() && u.encoded_path().front() != '/') {
    error = "cannot be read as a URL (a port that is not a number? a space?)";
    return std::nullopt;
  }
  Url url;
  url.scheme = lower(std::string_view(u.scheme().data(), u.scheme().size()));
  if (std::find(schemes.begin(), schemes.end(), url.scheme) == schemes.end()) {
    error = "not an " + scheme_list(schemes) + " URL";
    return std::nullopt;
  }
  url.tls = url.scheme == "https" || url.scheme == "wss";
  url.has_credentials = u.has_userinfo();
  switch (u.host_type()) {
    case boost::urls::host_type::name:
      url.host = u.host_address();
      break;
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::ipv6:
      url.host = u.host_address();
      url.ip_literal = true;
      break;
    default:
      break;  // none, or an IPvFuture literal no resolver knows
  }
  if (url.host.empty()) {
    error = "no host";
    return std::nullopt;
  }
  const std::string_view port(u.port().data(), u.port().size());
  if (!port.empty()) {
    unsigned long n = 0;
    const bool digits = port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits) n = std::stoul(std::string(port));
    if (!digits || n == 0 || n > 65535) {
      error = "the port is not a number from 1 to 65535";
      return std::nullopt;
    }
    url.port = std::to_string(n);
  } else {
    url.port = url.tls ? "443" : "80";  // none, or "http://am:/" (an empty port is the default)
  }
  const auto target = u.encoded_target();
  url.target = std::string(target.data(), target.size());
  if (url.target.empty() || url.target.front() != '/') url.target.insert(0, "/");
  url.shown = url.scheme + "://" + printable(url.host_header());
  if (!u.port().empty() && url.default_port()) url.shown += ":" + url.port;  // as written
  if (url.target != "/") url.shown += "/…";
  return url;
}

}  // namespace klaxon::net
