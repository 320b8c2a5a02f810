// engine/certificate_terms.hpp — what the engine understands about certificates, in one place.
//
// Rules are data, but a few of their words mean something to the engine itself: a class that
// says a certificate is past its end, not yet valid or signed by a stranger; a value that states
// when a certificate ends (an instant, or seconds from the line's own time); a value that names
// the signer. The matcher derives one expiry value from the other, the tracker keys, joins and
// folds incidents by them, the pages read thresholds off rules' severity cases. Spelled once
// here, a rule pack (rules/README.md) and the code cannot drift apart one string at a time.
#pragma once

#include <array>
#include <optional>
#include <string_view>

#include "engine/civil_time.hpp"
#include "engine/rule.hpp"

namespace klaxon::cert {

// ---- classes (rules/README.md lists them all; these are the ones the engine acts on) ----------

/// Past its notAfter.
inline constexpr std::string_view kExpired = "cert_expired";
/// Will end within its rule's thresholds: an expiry predicted, from a line or the inventory.
inline constexpr std::string_view kExpiringSoon = "cert_expiring_soon";
/// Before its notBefore (a clock behind, or a certificate issued ahead).
inline constexpr std::string_view kNotYetValid = "cert_not_yet_valid";
/// Signed by a key the verifier's trust bundle does not hold.
inline constexpr std::string_view kBadSignature = "cert_bad_signature";
/// Issued by a CA the verifier does not know.
inline constexpr std::string_view kUnknownAuthority = "cert_unknown_authority";

/// A failure of trust (wrong signer or unknown CA): the two faces of one broken bundle.
constexpr bool is_trust_failure(std::string_view klass) noexcept {
  return klass == kBadSignature || klass == kUnknownAuthority;
}

/// Whether a line of `line_class` that names a certificate folds into that certificate's open
/// incident of `incident_class`: a trust failure into a predicted bad signature (either trust
/// class), an expiry or not-yet-valid line into an incident of the same class.
constexpr bool classes_fit(std::string_view line_class, std::string_view incident_class) noexcept {
  if (is_trust_failure(line_class)) return is_trust_failure(incident_class);
  return (line_class == kExpired || line_class == kNotYetValid) && line_class == incident_class;
}

// ---- values a rule extracts --------------------------------------------------------------------

/// The certificate's notAfter, an instant (stated, or derived from kExpiresIn and the line's time).
inline constexpr std::string_view kExpiresAt = "expires_at";
/// Seconds from the line's time to the notAfter (stated, or derived from kExpiresAt).
inline constexpr std::string_view kExpiresIn = "expires_in";
/// The notAfter of a certificate already past it, an instant.
inline constexpr std::string_view kExpiredAt = "expired_at";
/// The instants a line may state a certificate's end with: what joins it to an inventoried one.
inline constexpr std::array<std::string_view, 2> kEndInstants = {kExpiredAt, kExpiresAt};
/// Values that name who signed the certificate.
inline constexpr std::array<std::string_view, 3> kSignerValues = {"issuer", "trust_domain", "ca"};
/// What a stream's symptoms fold by, the first stated that counts most: the certificate that
/// expired, else its signer (one root cause, many pods).
inline constexpr std::array<std::string_view, 4> kFoldCauses = {kExpiredAt, "issuer", "trust_domain", "ca"};
/// Values that may name a certificate (with the line's own words): the join by name.
inline constexpr std::array<std::string_view, 4> kNamingValues = {"issuer", "trust_domain", "ca", "identity"};

constexpr bool is_signer_value(std::string_view name) noexcept {
  for (std::string_view s : kSignerValues)
    if (s == name) return true;
  return false;
}

/// The expiry value a rule states with `name`'s partner derived by the matcher (expires_at from
/// expires_in and back); empty for any other name.
constexpr std::string_view derived_partner(std::string_view name) noexcept {
  if (name == kExpiresIn) return kExpiresAt;
  if (name == kExpiresAt) return kExpiresIn;
  return {};
}

/// Whether rule `r` extracts the notAfter as an instant (exact), rather than "expires in 2 days"
/// (a lower bound each warning tightens).
inline bool states_end_instant(const RuleSpec& r) noexcept {
  for (const Extraction& x : r.extract)
    if (x.name == kExpiresAt && x.kind == ExtractKind::instant) return true;
  return false;
}

/// The threshold rule `r` states for `severity` as `expires_in < D` (or `<=`), in nanoseconds:
/// `critical: 'expires_in < {expiry_critical}'`. nullopt when it states none.
inline std::optional<Nanos> expiry_threshold(const RuleSpec& r, Severity severity) noexcept {
  for (const SeverityCase& c : r.severity)
    if (c.severity == severity && c.when.name == kExpiresIn &&
        (c.when.op == Comparison::Op::lt || c.when.op == Comparison::Op::le))
      return static_cast<Nanos>(c.when.value) * kNanosPerSecond;
  return std::nullopt;
}

}  // namespace klaxon::cert
