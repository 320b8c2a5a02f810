#include "engine/prefilter.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

#include <hs/hs.h>
#include <re2/filtered_re2.h>

namespace klaxon {
namespace {

constexpr std::size_t kMinLiteralBytes = 3;

// Characters an emitter may have escaped in the raw bytes (see the header).
bool escapable(unsigned char c) {
  return c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c == '\'' || c == '/' || c < 0x20 ||
         c >= 0x80;
}

// The longest run of `atom` free of escapable characters.
std::string searchable_piece(std::string_view atom) {
  std::string_view best;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= atom.size(); ++i) {
    if (i == atom.size() || escapable(static_cast<unsigned char>(atom[i]))) {
      if (i - start > best.size()) best = atom.substr(start, i - start);
      start = i + 1;
    }
  }
  return std::string(best);
}

// The literals to search for one regex: a smallest set of its atoms such that every match
// contains at least one of them (a "cover"), preferring long atoms, since long literals are
// rare in logs and rare literals keep the candidate rate low. A single required atom is a cover
// of one. Atoms we cannot search for (no escape-free piece of 3 bytes) are never in the cover.
// Empty = no cover: the rule runs on every line.
std::vector<std::string> choose_literals(const std::string& pattern) {
  re2::FilteredRE2 filter{int(kMinLiteralBytes)};
  int id = 0;
  if (filter.Add(pattern, RE2::DefaultOptions, &id) != RE2::NoError)
    throw std::invalid_argument("prefilter: pattern does not compile: " + pattern);
  std::vector<std::string> atoms;
  filter.Compile(&atoms);
  std::vector<int> potential;
  // Does the regex stay impossible when only atoms outside `cover` are present?
  auto is_cover = [&](const std::vector<bool>& cover) {
    std::vector<int> present;
    for (std::size_t a = 0; a < atoms.size(); ++a)
      if (!cover[a]) present.push_back(int(a));
    filter.AllPotentials(present, &potential);
    return potential.empty();
  };
  std::vector<std::string> pieces;
  std::vector<bool> cover(atoms.size());
  for (std::size_t a = 0; a < atoms.size(); ++a) {
    pieces.push_back(searchable_piece(atoms[a]));
    cover[a] = pieces[a].size() >= kMinLiteralBytes;
  }
  if (atoms.empty() || !is_cover(cover)) return {};
  std::vector<std::size_t> by_length(atoms.size());
  for (std::size_t a = 0; a < atoms.size(); ++a) by_length[a] = a;
  std::stable_sort(by_length.begin(), by_length.end(),
                   [&](std::size_t x, std::size_t y) { return pieces[x].size() < pieces[y].size(); });
  for (std::size_t a : by_length) {
    if (!cover[a]) continue;
    cover[a] = false;
    if (!is_cover(cover)) cover[a] = true;
  }
  std::vector<std::string> chosen;
  for (std::size_t a = 0; a < atoms.size(); ++a)
    if (cover[a] && std::find(chosen.begin(), chosen.end(), pieces[a]) == chosen.end()) chosen.push_back(pieces[a]);
  return chosen;
}

struct Hit {
  unsigned long long end;
  unsigned literal;
};

int on_block_match(unsigned int id, unsigned long long, unsigned long long to, unsigned int, void* ctx) {
  static_cast<std::vector<Hit>*>(ctx)->push_back({to, id});
  return 0;
}

}  // namespace

struct Prefilter::Scratch::Impl {
  hs_scratch_t* hs = nullptr;
  const void* prepared_for = nullptr;  // the database `hs` was sized for
  std::vector<Hit> hits;               // of the last block, by end offset
  std::size_t next_hit = 0;
  const char* block = nullptr;
  std::vector<Hit> line_hits;
  std::vector<int> candidates;
  ~Impl() {
    if (hs) hs_free_scratch(hs);
  }
};

Prefilter::Scratch::Scratch() : impl_(std::make_unique<Impl>()) {}
Prefilter::Scratch::~Scratch() = default;
Prefilter::Scratch::Scratch(Scratch&&) noexcept = default;
Prefilter::Scratch& Prefilter::Scratch::operator=(Scratch&&) noexcept = default;

struct Prefilter::Impl {
  hs_database_t* db = nullptr;
  std::vector<std::string> literals;            // what Hyperscan searches; id = index
  std::vector<std::vector<int>> literal_rules;  // literal → rules it makes candidates
  std::vector<std::vector<std::string>> rule_literals;
  std::vector<int> unfiltered;
  ~Impl() {
    if (db) hs_free_database(db);
  }

  void prepare(Scratch::Impl& s) const {
    if (db && s.prepared_for != db) {
      if (hs_alloc_scratch(db, &s.hs) != HS_SUCCESS) throw std::bad_alloc();
      s.prepared_for = db;
    }
  }

  void collect(Scratch::Impl& s, const std::vector<Hit>& hits) const {
    s.candidates = unfiltered;
    for (const Hit& h : hits)
      for (int rule : literal_rules[h.literal]) s.candidates.push_back(rule);
    std::sort(s.candidates.begin(), s.candidates.end());
    s.candidates.erase(std::unique(s.candidates.begin(), s.candidates.end()), s.candidates.end());
  }
};

Prefilter::Prefilter(const std::vector<std::string>& patterns) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  std::map<std::string, int> literal_ids;
  for (std::size_t rule = 0; rule < patterns.size(); ++rule) {
    std::vector<std::string> chosen = choose_literals(patterns[rule]);
    if (chosen.empty()) m.unfiltered.push_back(int(rule));
    for (const std::string& lit : chosen) {
      auto [it, fresh] = literal_ids.emplace(lit, int(m.literals.size()));
      if (fresh) {
        m.literals.push_back(lit);
        m.literal_rules.emplace_back();
      }
      m.literal_rules[std::size_t(it->second)].push_back(int(rule));
    }
    m.rule_literals.push_back(std::move(chosen));
  }
  if (m.literals.empty()) return;

  std::vector<const char*> exprs;
  std::vector<std::size_t> lens;
  std::vector<unsigned> flags(m.literals.size(), HS_FLAG_CASELESS);
  std::vector<unsigned> ids;
  for (std::size_t i = 0; i < m.literals.size(); ++i) {
    exprs.push_back(m.literals[i].data());
    lens.push_back(m.literals[i].size());
    ids.push_back(unsigned(i));
  }
  hs_compile_error_t* error = nullptr;
  if (hs_compile_lit_multi(exprs.data(), flags.data(), ids.data(), lens.data(), unsigned(exprs.size()),
                           HS_MODE_BLOCK, nullptr, &m.db, &error) != HS_SUCCESS) {
    std::string why = error && error->message ? error->message : "unknown error";
    hs_free_compile_error(error);
    throw std::runtime_error("prefilter: cannot compile literals: " + why);
  }
}

Prefilter::~Prefilter() = default;
Prefilter::Prefilter(Prefilter&&) noexcept = default;
Prefilter& Prefilter::operator=(Prefilter&&) noexcept = default;

bool Prefilter::scan_line(std::string_view line, Scratch& scratch) const {
  const Impl& m = *impl_;
  auto& s = *scratch.impl_;
  s.line_hits.clear();
  if (m.db) {
    m.prepare(s);
    hs_scan(m.db, line.data(), static_cast<unsigned>(line.size()), 0, s.hs, on_block_match, &s.line_hits);
  }
  if (s.line_hits.empty() && m.unfiltered.empty()) return false;
  m.collect(s, s.line_hits);
  return !s.candidates.empty();
}

void Prefilter::scan_block(std::string_view block, Scratch& scratch) const {
  const Impl& m = *impl_;
  auto& s = *scratch.impl_;
  s.hits.clear();
  s.next_hit = 0;
  s.block = block.data();
  if (!m.db || block.empty()) return;
  m.prepare(s);
  hs_scan(m.db, block.data(), static_cast<unsigned>(block.size()), 0, s.hs, on_block_match, &s.hits);
  std::stable_sort(s.hits.begin(), s.hits.end(), [](const Hit& a, const Hit& b) { return a.end < b.end; });
}

bool Prefilter::candidates_in(std::string_view line, Scratch& scratch) const {
  const Impl& m = *impl_;
  auto& s = *scratch.impl_;
  const auto begin = static_cast<unsigned long long>(line.data() - s.block);
  const auto end = begin + line.size();
  // Hits arrive ordered by end offset and lines are asked for in order: one forward walk.
  while (s.next_hit < s.hits.size() && s.hits[s.next_hit].end <= begin) ++s.next_hit;
  s.line_hits.clear();
  for (std::size_t k = s.next_hit; k < s.hits.size() && s.hits[k].end <= end; ++k) {
    // A hit ending in this line lies wholly in it: no literal holds a newline.
    if (s.hits[k].end >= begin + m.literals[s.hits[k].literal].size()) s.line_hits.push_back(s.hits[k]);
  }
  if (s.line_hits.empty() && m.unfiltered.empty()) return false;
  m.collect(s, s.line_hits);
  return !s.candidates.empty();
}

const std::vector<int>& Prefilter::candidates(const Scratch& scratch) const { return scratch.impl_->candidates; }
const std::vector<int>& Prefilter::unfiltered() const { return impl_->unfiltered; }
const std::vector<std::string>& Prefilter::literals_of(int rule) const { return impl_->rule_literals[std::size_t(rule)]; }

}  // namespace klaxon
