#include "engine/prefilter.hpp"

#include <algorithm>
#include <stdexcept>

#include <hs/hs.h>
#include <re2/filtered_re2.h>

namespace klaxon {
namespace {

constexpr int kMinAtomBytes = 3;

// Characters an emitter may have escaped in the raw bytes (see the header).
bool escapable(unsigned char c) {
  return c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c == '\'' || c == '/' ||
         c < 0x20 || c >= 0x80;
}

// The longest run of `atom` free of escapable characters.
std::string_view searchable_piece(std::string_view atom) {
  std::string_view best;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= atom.size(); ++i) {
    if (i == atom.size() || escapable(static_cast<unsigned char>(atom[i]))) {
      if (i - start > best.size()) best = atom.substr(start, i - start);
      start = i + 1;
    }
  }
  return best;
}

int on_hs_match(unsigned int id, unsigned long long, unsigned long long, unsigned int, void* ctx) {
  static_cast<std::vector<int>*>(ctx)->push_back(static_cast<int>(id));
  return 0;
}

}  // namespace

struct Prefilter::Scratch::Impl {
  hs_scratch_t* hs = nullptr;
  const void* prepared_for = nullptr;  // the database `hs` was sized for
  std::vector<int> atoms;  // atom ids found on the last scanned line
  ~Impl() {
    if (hs) hs_free_scratch(hs);
  }
};

Prefilter::Scratch::Scratch() : impl_(std::make_unique<Impl>()) {}
Prefilter::Scratch::~Scratch() = default;
Prefilter::Scratch::Scratch(Scratch&&) noexcept = default;
Prefilter::Scratch& Prefilter::Scratch::operator=(Scratch&&) noexcept = default;

struct Prefilter::Impl {
  re2::FilteredRE2 filter{kMinAtomBytes};
  hs_database_t* db = nullptr;
  std::vector<std::string> literals;  // what Hyperscan searches; id = atom index
  std::vector<int> literal_atom;      // literal index → atom index
  std::vector<int> always_atoms;      // atoms with no searchable piece
  std::vector<int> unfiltered;        // patterns that are candidates on every line
  ~Impl() {
    if (db) hs_free_database(db);
  }
};

Prefilter::Prefilter(const std::vector<std::string>& patterns) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  for (const std::string& p : patterns) {
    int id = 0;
    if (m.filter.Add(p, RE2::DefaultOptions, &id) != RE2::NoError)
      throw std::invalid_argument("prefilter: pattern does not compile: " + p);
  }
  std::vector<std::string> atoms;
  if (!patterns.empty()) m.filter.Compile(&atoms);

  for (std::size_t i = 0; i < atoms.size(); ++i) {
    std::string_view piece = searchable_piece(atoms[i]);
    if (piece.size() < std::size_t(kMinAtomBytes)) {
      m.always_atoms.push_back(int(i));
      continue;
    }
    m.literals.emplace_back(piece);
    m.literal_atom.push_back(int(i));
  }
  if (!patterns.empty()) m.filter.AllPotentials(m.always_atoms, &m.unfiltered);
  if (m.literals.empty()) return;

  std::vector<const char*> exprs;
  std::vector<std::size_t> lens;
  std::vector<unsigned> flags(m.literals.size(), HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH);
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

bool Prefilter::scan(std::string_view raw, Scratch& scratch) const {
  const Impl& m = *impl_;
  auto& s = *scratch.impl_;
  s.atoms.clear();
  if (m.db) {
    if (s.prepared_for != m.db) {
      if (hs_alloc_scratch(m.db, &s.hs) != HS_SUCCESS) throw std::bad_alloc();
      s.prepared_for = m.db;
    }
    hs_scan(m.db, raw.data(), static_cast<unsigned>(raw.size()), 0, s.hs, on_hs_match, &s.atoms);
  }
  return !s.atoms.empty() || !m.unfiltered.empty();
}

void Prefilter::candidates(const Scratch& scratch, std::vector<int>& out) const {
  const Impl& m = *impl_;
  std::vector<int> atoms = m.always_atoms;
  for (int literal : scratch.impl_->atoms) atoms.push_back(m.literal_atom[std::size_t(literal)]);
  out.clear();
  if (m.filter.NumRegexps() == 0) return;
  m.filter.AllPotentials(atoms, &out);
  std::sort(out.begin(), out.end());
}

const std::vector<int>& Prefilter::unfiltered() const { return impl_->unfiltered; }
const std::vector<std::string>& Prefilter::searched_literals() const { return impl_->literals; }

std::vector<std::string> prefilter_literals_of(const std::string& pattern) {
  Prefilter one({pattern});
  if (!one.unfiltered().empty()) return {};
  return one.searched_literals();
}

}  // namespace klaxon
