#include "engine/prefilter.hpp"

#include <algorithm>
#include <map>
#include <queue>
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
  const void* prepared_for = nullptr;  // the prefilter whose databases `hs` was sized for
  std::vector<Hit> hits;               // of the last block, by end offset
  std::size_t next_hit = 0;
  const char* block = nullptr;
  bool rule_hit = false;    // the last block holds a rule literal
  bool marker_hit = false;  // the last block holds a marker
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

namespace {

// Hyperscan scans a handful of literals several times faster than a few hundred (Teddy against
// FDR). So the block scan looks for short "anchors" only, a small set of 8-byte pieces chosen so
// that every rule literal contains one of them; a line with an anchor is then scanned alone for
// the full literals. Anchors are chosen greedily, each covering as many literals as it can.
// How unusual a piece of text looks in logs: letters weighted by how rare they are in English
// and in log chatter, punctuation and digits rarer still. Without it, the greedy choice would
// pick pieces such as "ailed to" that cover many literals and occur on every other line.
double rarity(std::string_view piece) {
  double score = 0;
  for (char c : piece) {
    switch (c) {
      case ' ': case 'e': case 't': case 'a': case 'o': case 'i': case 'n': case 's': case 'r': score += 1; break;
      case 'h': case 'l': case 'd': case 'c': case 'u': case 'm': case 'f': case 'p': case 'g': score += 1.6; break;
      case 'w': case 'y': case 'b': score += 2.2; break;
      case 'v': case 'k': score += 3.5; break;
      case 'x': case 'j': case 'q': case 'z': score += 5; break;
      default: score += (c >= '0' && c <= '9') ? 3 : 4;
    }
  }
  return score / double(piece.size());
}

std::vector<std::string> choose_anchors(const std::vector<std::string>& literals) {
  constexpr std::size_t kAnchorBytes = 8;
  std::map<std::string, std::vector<std::size_t>> covers;  // anchor → literals containing it
  for (std::size_t i = 0; i < literals.size(); ++i) {
    const std::string& lit = literals[i];
    const std::size_t k = std::min(kAnchorBytes, lit.size());
    for (std::size_t at = 0; at + k <= lit.size(); ++at) {
      auto& list = covers[lit.substr(at, k)];
      if (list.empty() || list.back() != i) list.push_back(i);
    }
  }
  // Greedy set cover, lazily: a candidate's value only falls as literals get covered, so a
  // value taken from the heap that is still the best after recomputing is the true best.
  // (The plain greedy loop recomputed every candidate per pick: minutes for a few thousand rules.)
  struct Candidate {
    double value;
    const std::string* anchor;
    double weight;  // rarity cubed: rare anchors make few candidate lines
    const std::vector<std::size_t>* literals;
    bool operator<(const Candidate& o) const { return value < o.value; }
  };
  std::vector<bool> covered(literals.size());
  auto gain = [&](const Candidate& c) {
    std::size_t n = 0;
    for (std::size_t i : *c.literals) n += !covered[i];
    return n;
  };
  std::priority_queue<Candidate> heap;
  for (const auto& [anchor, list] : covers) {
    const double r = rarity(anchor);
    Candidate c{0, &anchor, r * r * r, &list};
    c.value = double(gain(c)) * c.weight;
    heap.push(c);
  }
  std::size_t left = literals.size();
  std::vector<std::string> anchors;
  while (left > 0 && !heap.empty()) {
    Candidate c = heap.top();
    heap.pop();
    c.value = double(gain(c)) * c.weight;
    if (c.value <= 0) continue;
    if (!heap.empty() && c.value < heap.top().value) {
      heap.push(c);
      continue;
    }
    for (std::size_t i : *c.literals) left -= !covered[i], covered[i] = true;
    anchors.push_back(*c.anchor);
  }
  return anchors;
}

hs_database_t* compile_literals(const std::vector<std::string>& literals, const std::vector<unsigned>& flags) {
  std::vector<const char*> exprs;
  std::vector<std::size_t> lens;
  std::vector<unsigned> ids;
  for (std::size_t i = 0; i < literals.size(); ++i) {
    exprs.push_back(literals[i].data());
    lens.push_back(literals[i].size());
    ids.push_back(unsigned(i));
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* error = nullptr;
  if (hs_compile_lit_multi(exprs.data(), flags.data(), ids.data(), lens.data(), unsigned(exprs.size()), HS_MODE_BLOCK,
                           nullptr, &db, &error) != HS_SUCCESS) {
    std::string why = error && error->message ? error->message : "unknown error";
    hs_free_compile_error(error);
    throw std::runtime_error("prefilter: cannot compile literals: " + why);
  }
  return db;
}

}  // namespace

struct Prefilter::Impl {
  hs_database_t* db = nullptr;         // every rule literal, for one line at a time
  hs_database_t* anchor_db = nullptr;  // anchors, then markers, for whole blocks
  std::vector<std::string> literals;   // what `db` searches; id = index
  std::vector<std::vector<int>> literal_rules;  // literal → rules it makes candidates
  std::vector<std::vector<std::string>> rule_literals;
  std::vector<int> unfiltered;
  std::vector<std::string> anchors;
  std::vector<std::size_t> anchor_sizes;  // then marker sizes
  unsigned first_marker = 0;              // anchor_db ids from here on are markers
  ~Impl() {
    if (db) hs_free_database(db);
    if (anchor_db) hs_free_database(anchor_db);
  }

  void prepare(Scratch::Impl& s) const {
    if (s.prepared_for == this) return;
    for (hs_database_t* d : {db, anchor_db})
      if (d && hs_alloc_scratch(d, &s.hs) != HS_SUCCESS) throw std::bad_alloc();
    s.prepared_for = this;
  }

  void collect(Scratch::Impl& s, const std::vector<Hit>& hits) const {
    s.candidates = unfiltered;
    for (const Hit& h : hits)
      for (int rule : literal_rules[h.literal]) s.candidates.push_back(rule);
    std::sort(s.candidates.begin(), s.candidates.end());
    s.candidates.erase(std::unique(s.candidates.begin(), s.candidates.end()), s.candidates.end());
  }
};

Prefilter::Prefilter(const std::vector<std::string>& patterns, const std::vector<std::string>& markers)
    : impl_(std::make_unique<Impl>()) {
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
  if (!m.literals.empty()) m.db = compile_literals(m.literals, std::vector<unsigned>(m.literals.size(), HS_FLAG_CASELESS));

  m.anchors = choose_anchors(m.literals);
  std::vector<std::string> block_literals = m.anchors;
  m.first_marker = unsigned(block_literals.size());
  std::vector<unsigned> flags(block_literals.size(), HS_FLAG_CASELESS);
  for (const std::string& marker : markers) block_literals.push_back(marker), flags.push_back(0);
  for (const std::string& l : block_literals) m.anchor_sizes.push_back(l.size());
  if (!block_literals.empty()) m.anchor_db = compile_literals(block_literals, flags);
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
    if (hs_scan(m.db, line.data(), static_cast<unsigned>(line.size()), 0, s.hs, on_block_match, &s.line_hits) != HS_SUCCESS)
      throw std::runtime_error("prefilter: hyperscan scan failed");
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
  s.rule_hit = s.marker_hit = false;
  if (!m.anchor_db || block.empty()) return;
  m.prepare(s);
  if (hs_scan(m.anchor_db, block.data(), static_cast<unsigned>(block.size()), 0, s.hs, on_block_match, &s.hits) != HS_SUCCESS)
    throw std::runtime_error("prefilter: hyperscan scan failed");
  std::stable_sort(s.hits.begin(), s.hits.end(), [](const Hit& a, const Hit& b) { return a.end < b.end; });
  for (const Hit& h : s.hits) (h.literal >= m.first_marker ? s.marker_hit : s.rule_hit) = true;
}

bool Prefilter::block_may_match(const Scratch& scratch) const {
  return scratch.impl_->rule_hit || !impl_->unfiltered.empty();
}
bool Prefilter::block_has_marker(const Scratch& scratch) const { return scratch.impl_->marker_hit; }

bool Prefilter::candidates_in(std::string_view line, Scratch& scratch) const {
  const Impl& m = *impl_;
  auto& s = *scratch.impl_;
  const auto begin = static_cast<unsigned long long>(line.data() - s.block);
  const auto end = begin + line.size();
  // Hits arrive ordered by end offset and lines are asked for in order: one forward walk. A hit
  // ending in this line lies wholly in it (no literal holds a newline).
  while (s.next_hit < s.hits.size() && s.hits[s.next_hit].end <= begin) ++s.next_hit;
  bool anchored = false;
  for (std::size_t k = s.next_hit; k < s.hits.size() && s.hits[k].end <= end; ++k)
    anchored |= s.hits[k].literal < m.first_marker && s.hits[k].end >= begin + m.anchor_sizes[s.hits[k].literal];
  if (!anchored) {
    if (m.unfiltered.empty()) return false;
    s.line_hits.clear();
    m.collect(s, s.line_hits);
    return true;
  }
  return scan_line(line, scratch);
}

const std::vector<int>& Prefilter::candidates(const Scratch& scratch) const { return scratch.impl_->candidates; }
const std::vector<std::string>& Prefilter::anchors() const { return impl_->anchors; }
const std::vector<int>& Prefilter::unfiltered() const { return impl_->unfiltered; }
const std::vector<std::string>& Prefilter::literals_of(int rule) const { return impl_->rule_literals[std::size_t(rule)]; }

}  // namespace klaxon
