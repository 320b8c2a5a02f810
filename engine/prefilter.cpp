#include "engine/prefilter.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <queue>
#include <set>
#include <stdexcept>
#include <unordered_map>

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
std::vector<std::string> choose_literals(re2::FilteredRE2& filter, const std::vector<std::string>& atoms) {
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

// The conjunctions of one regex: sets of literals such that every match holds all of one set.
// They are the minimal sets of atoms that let the regex through RE2's own AND/OR tree of them
// (FilteredRE2::AllPotentials is the oracle), as searchable pieces. A cover literal says which
// rules a line *may* concern; the conjunction then keeps out the lines that hold one literal of
// a rule but not the rest ("conversion webhook for " without " failed"). Found by shrinking a
// passing set to a minimal one, then branching on leaving out each of its atoms (any other
// minimal set misses one of them); atoms too short to search are taken as present. A regex
// whose sets are too many to enumerate cheaply gets none: its cover alone decides.
std::vector<std::vector<std::string>> choose_conjunctions(re2::FilteredRE2& filter, const std::vector<std::string>& pieces) {
  constexpr int kBudget = 60;  // AllPotentials calls, a few microseconds each: start-up time
  constexpr std::size_t kMaxSets = 6;
  const std::size_t n = pieces.size();
  if (n < 2) return {};  // one atom: the cover is all there is to know
  std::vector<int> present, potential;
  int budget = kBudget;
  auto passes = [&](const std::vector<bool>& allowed) {
    --budget;
    present.clear();
    for (std::size_t a = 0; a < n; ++a)
      if (allowed[a] || pieces[a].size() < kMinLiteralBytes) present.push_back(int(a));
    filter.AllPotentials(present, &potential);
    return !potential.empty();
  };
  // Shrinking drops short pieces first, so that the sets found keep the long, rare ones.
  std::vector<std::size_t> by_length(n);
  for (std::size_t a = 0; a < n; ++a) by_length[a] = a;
  std::stable_sort(by_length.begin(), by_length.end(),
                   [&](std::size_t x, std::size_t y) { return pieces[x].size() < pieces[y].size(); });
  std::vector<bool> all(n);
  for (std::size_t a = 0; a < n; ++a) all[a] = pieces[a].size() >= kMinLiteralBytes;
  std::set<std::vector<bool>> tried, found;
  std::vector<std::vector<bool>> todo{all};
  while (!todo.empty()) {
    if (budget <= 0 || found.size() > kMaxSets) return {};
    std::vector<bool> allowed = std::move(todo.back());
    todo.pop_back();
    if (!tried.insert(allowed).second || !passes(allowed)) continue;
    std::vector<bool> minimal = allowed;
    for (std::size_t a : by_length) {
      if (!minimal[a]) continue;
      minimal[a] = false;
      if (!passes(minimal)) minimal[a] = true;
    }
    if (std::find(minimal.begin(), minimal.end(), true) == minimal.end()) return {};  // nothing required
    for (std::size_t a = 0; a < n; ++a)
      if (minimal[a]) {
        std::vector<bool> without = allowed;
        without[a] = false;
        todo.push_back(std::move(without));
      }
    found.insert(std::move(minimal));
  }
  // Sets of one piece each say no more than the cover does.
  if (std::all_of(found.begin(), found.end(), [](const std::vector<bool>& f) { return std::count(f.begin(), f.end(), true) == 1; }))
    return {};
  std::vector<std::vector<std::string>> sets;
  for (const std::vector<bool>& f : found) {
    std::vector<std::string>& set = sets.emplace_back();
    for (std::size_t a = 0; a < n; ++a)
      if (f[a] && std::find(set.begin(), set.end(), pieces[a]) == set.end()) set.push_back(pieces[a]);
    std::sort(set.begin(), set.end());
  }
  std::sort(sets.begin(), sets.end());
  sets.erase(std::unique(sets.begin(), sets.end()), sets.end());
  return sets;
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

std::unique_ptr<CoveredRegex> CoveredRegex::compile(const std::string& pattern, std::string& error) {
  RE2::Options options;
  options.set_log_errors(false);
  std::unique_ptr<CoveredRegex> c(new CoveredRegex());
  c->filter_ = std::make_unique<re2::FilteredRE2>(int(kMinLiteralBytes));
  int id = 0;
  if (c->filter_->Add(pattern, options, &id) != RE2::NoError) {
    error = RE2(pattern, options).error();  // FilteredRE2 keeps only the code
    return nullptr;
  }
  std::vector<std::string> atoms;
  c->filter_->Compile(&atoms);
  c->literals_ = choose_literals(*c->filter_, atoms);
  if (!c->literals_.empty()) {
    std::vector<std::string> pieces;
    for (const std::string& atom : atoms) pieces.push_back(searchable_piece(atom));
    c->conjunctions_ = choose_conjunctions(*c->filter_, pieces);
  }
  return c;
}

CoveredRegex::~CoveredRegex() = default;
const RE2& CoveredRegex::regex() const { return filter_->GetRE2(0); }

struct Prefilter::Scratch::Impl {
  hs_scratch_t* hs = nullptr;
  const void* prepared_for = nullptr;  // the prefilter whose databases `hs` was sized for
  std::vector<Hit> hits;               // of the last block, by end offset
  std::size_t next_hit = 0;     // candidates_in() walks the hits forward from here
  std::size_t next_anchor = 0;  // and next_anchor() from here
  const char* block = nullptr;
  bool rule_hit = false;    // the last block holds a rule literal
  bool marker_hit = false;  // the last block holds a marker
  std::vector<Hit> line_hits;
  std::vector<int> candidates;
  std::vector<int> settled;  // candidates whose literal found is a whole set of theirs
  // The 3-byte windows of the line being confirmed (see keep_conjunctions()).
  std::array<std::uint64_t, 64> trigrams{};
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
// that every rule literal contains one of them; where one occurs, the literals it stands for are
// compared in place. Anchors are chosen greedily, each covering as many literals as it can.

// How unusual a piece of text looks in logs: letters weighted by how rare they are in English
// and in log chatter, punctuation and digits rarer still. Without it, the greedy choice would
// pick pieces such as "ailed to" that cover many literals and occur on every other line.
double letter_rarity(std::string_view piece) {
  // A table, not a switch: this runs for every window of every literal (a switch on letters
  // mispredicts on each one).
  static constexpr auto kWeight = [] {
    std::array<double, 256> w{};
    for (int c = 0; c < 256; ++c) w[std::size_t(c)] = (c >= '0' && c <= '9') ? 3 : 4;
    for (char c : std::string_view(" etaoinsr")) w[static_cast<unsigned char>(c)] = 1;
    for (char c : std::string_view("hldcumfpg")) w[static_cast<unsigned char>(c)] = 1.6;
    for (char c : std::string_view("wyb")) w[static_cast<unsigned char>(c)] = 2.2;
    for (char c : std::string_view("vk")) w[static_cast<unsigned char>(c)] = 3.5;
    for (char c : std::string_view("xjqz")) w[static_cast<unsigned char>(c)] = 5;
    return w;
  }();
  double score = 0;
  for (char c : piece) score += kWeight[static_cast<unsigned char>(c)];
  return score / double(piece.size());
}

// Words that fill log lines of every kind. Rare letters do not make " received" or "g connec"
// rare: a piece made of these words, or of their ends and beginnings where the piece cuts them,
// occurs on a few percent of all lines (the loghub corpus: " failed " on 4%, "eceived " on 3%).
constexpr std::string_view kCommonWords[] = {
    "a", "able", "accepted", "access", "acquire", "acquired", "active", "add", "added", "address", "all",
    "allowed", "an", "and", "api", "app", "application", "are", "as", "at", "attempt", "attempting",
    "authenticated", "authentication", "available", "backend", "be", "been", "block", "by", "cache", "call",
    "called", "caller", "cannot", "change", "changed", "check", "checking", "client", "close", "closed", "code",
    "complete", "completed", "component", "config", "configuration", "connect", "connected", "connecting",
    "connection", "connections", "container", "controller", "core", "could", "create", "created", "creating",
    "current", "dapr", "data", "debug", "default", "delete", "deleted", "deployment", "detect", "done",
    "duration", "election", "endpoint", "envoy", "err", "error", "errors", "etcd", "event", "events",
    "exception", "expired", "fail", "failed", "failure", "file", "for", "found", "from", "get", "grpc",
    "handler", "handling", "has", "have", "health", "http", "https", "id", "in", "inbound", "info", "init",
    "initialized", "initializing", "instance", "invalid", "io", "is", "istio", "it", "job", "key", "kube",
    "kubelet", "leader", "lease", "level", "linkerd", "list", "listening", "listing", "load", "loaded",
    "loading", "log", "logger", "manager", "message", "missing", "msg", "namespace", "new", "no", "node", "not",
    "of", "ok", "on", "open", "opened", "operator", "or", "out", "outbound", "path", "pod", "port", "post",
    "process", "processed", "processing", "proxy", "received", "receiving", "reconcile", "reconciling", "renew",
    "renewed", "request", "requests", "resource", "response", "retry", "retrying", "running", "runtime",
    "schedule", "scheduled", "scheduler", "scope", "send", "sending", "sent", "server", "service", "session",
    "sidecar", "skipping", "start", "started", "starting", "state", "status", "stop", "stopped", "stream",
    "success", "successfully", "sync", "synced", "system", "task", "the", "thread", "through", "time",
    "timeout", "to", "ts", "type", "unable", "unexpected", "unknown", "update", "updated", "updating", "user",
    "value", "version", "warn", "warning", "was", "watch", "watching", "will", "with", "worker",
};

// Up to 8 bytes packed into an integer, first byte highest: integers sort as the texts do, and
// no literal holds a NUL byte, so a short text's zero padding cannot meet a real byte.
std::uint64_t pack8(std::string_view text) {
  std::uint64_t key = 0;
  for (std::size_t b = 0; b < 8; ++b) key = key << 8 | (b < text.size() ? static_cast<unsigned char>(text[b]) : 0);
  return key;
}

// Every piece of a common word that fits an anchor, with where it stands in one: the whole word,
// its start, its end, or anywhere. Built once; looked up for every window of every literal, so
// keyed by packed integer rather than by string.
enum WordPlace : unsigned char { kWhole = 1, kStart = 2, kEnd = 4, kInside = 8 };

const std::unordered_map<std::uint64_t, unsigned char>& common_word_pieces() {
  static const auto* pieces = [] {
    auto* m = new std::unordered_map<std::uint64_t, unsigned char>();
    for (std::string_view word : kCommonWords)
      for (std::size_t at = 0; at < word.size(); ++at)
        for (std::size_t n = 1; at + n <= word.size() && n <= 8; ++n) {
          unsigned char place = kInside;
          if (at == 0) place |= kStart;
          if (at + n == word.size()) place |= kEnd;
          if (at == 0 && n == word.size()) place |= kWhole;
          (*m)[pack8(word.substr(at, n))] |= place;
        }
    return m;
  }();
  return *pieces;
}

// The share of a piece's letters that belong to common words. The piece is a window of a
// literal (at most 8 bytes): a run of letters at its start may be the end of a word, one at its
// end the start of one.
double common_share(std::string_view piece) {
  const auto& pieces = common_word_pieces();
  std::size_t letters = 0, common = 0;
  for (std::size_t i = 0; i < piece.size();) {
    if (piece[i] < 'a' || piece[i] > 'z') {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < piece.size() && piece[j] >= 'a' && piece[j] <= 'z') ++j;
    const bool cut_before = i == 0, cut_after = j == piece.size();
    const unsigned char wanted = cut_before && cut_after ? kInside : cut_before ? kEnd : cut_after ? kStart : kWhole;
    if (auto it = pieces.find(pack8(piece.substr(i, j - i))); it != pieces.end() && (it->second & wanted) != 0)
      common += j - i;
    letters += j - i;
    i = j;
  }
  return letters == 0 ? 0 : double(common) / double(letters);
}

// How much rarer than its letters a piece is for not being made of common words: 1 when none
// of it is, 0.2 when all of it is. The rarity of a piece is letter_rarity() times this.
double common_rarity(std::string_view piece) { return 1 - 0.8 * common_share(piece); }

// Where an anchor occurs in a literal it covers: a hit of the anchor ending at byte `e` can only
// belong to an occurrence of the literal starting at `e - anchor size - offset`.
struct AnchorUse {
  unsigned literal;
  unsigned offset;
  unsigned size = 0;  // of the literal, here to spare the hot path a look into `literals`
};

// ASCII letters in the 8 bytes of `x` lowercased, all at once (other bytes kept).
std::uint64_t fold_ascii(std::uint64_t x) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
  const std::uint64_t low7 = x & ~kHigh;
  const std::uint64_t from_a = low7 + (0x80 - 'A') * kOnes;      // high bit: byte >= 'A'
  const std::uint64_t past_z = low7 + (0x80 - 'Z' - 1) * kOnes;  // high bit: byte > 'Z'
  const std::uint64_t upper = from_a & ~past_z & ~x & kHigh;
  return x | (upper >> 2);  // 0x80 >> 2 == 0x20, the case bit
}

std::uint64_t load(const char* p, std::size_t n) {
  std::uint64_t x = 0;
  std::memcpy(&x, p, n);
  return x;
}

// A literal is compared in full only after a probe, 8 of its bytes next to the anchor compared
// as one integer, has matched: an anchor such as "certific" stands for a couple of hundred
// literals, and most lines that hold it hold none of them. The uses of one anchor whose probes
// sit at the same place relative to it (most: the 8 bytes right after it) form a group, sorted
// by probe: one load and a binary search find the few worth comparing.
struct ProbeGroup {
  std::ptrdiff_t at = 0;  // probe start minus anchor start
  unsigned size = 0;
  std::vector<std::pair<std::uint64_t, unsigned>> probes;  // probe, index into the anchor's uses
};

struct AnchorCover {
  std::vector<std::string> anchors;
  std::vector<std::vector<AnchorUse>> uses;  // per anchor: the literals it stands for
};

// Sorts by `key`, keeping the order of equal keys: a least-significant-digit radix sort, a byte
// a pass, passes in which every key has the same byte skipped.
template <typename T>
void sort_by_key(std::vector<T>& items) {
  std::vector<T> spare(items.size());
  for (unsigned shift = 0; shift < 64; shift += 8) {
    std::array<std::size_t, 257> start{};
    for (const T& x : items) ++start[((x.key >> shift) & 0xff) + 1];
    if (std::find(start.begin(), start.end(), items.size()) != start.end()) continue;  // one byte value
    for (std::size_t b = 1; b < start.size(); ++b) start[b] += start[b - 1];
    for (const T& x : items) spare[start[(x.key >> shift) & 0xff]++] = x;
    items.swap(spare);
  }
}

AnchorCover choose_anchors(const std::vector<std::string>& literals) {
  constexpr std::size_t kAnchorBytes = 8;
  // Every window of every literal, sorted so that equal windows sit together, each literal once
  // per window (at its first offset). Flat: thousands of rules make hundreds of thousands. A
  // window is its packed text (which also tells its size, see pack8) and its place in `places`.
  // Places are made in literal order and the sort keeps the order of equal texts, so a window's
  // literals stay in order. (A comparison sort of these took a third of choosing the anchors.)
  struct Place {
    unsigned literal, offset;
  };
  struct Window {
    std::uint64_t key;
    std::uint32_t place;
  };
  std::vector<Place> places;
  std::vector<Window> windows;
  std::size_t count = 0;
  for (const std::string& lit : literals) count += lit.size() - std::min(kAnchorBytes, lit.size()) + 1;
  places.reserve(count);
  windows.reserve(count);
  for (std::size_t i = 0; i < literals.size(); ++i) {
    const std::string_view lit = literals[i];
    const std::size_t k = std::min(kAnchorBytes, lit.size());
    for (std::size_t at = 0; at + k <= lit.size(); ++at) {
      windows.push_back({pack8(lit.substr(at, k)), std::uint32_t(places.size())});
      places.push_back({unsigned(i), unsigned(at)});
    }
  }
  sort_by_key(windows);
  auto text_of = [&](const Window& w) {
    const Place& p = places[w.place];
    return std::string_view(literals[p.literal]).substr(p.offset, std::min(kAnchorBytes, literals[p.literal].size()));
  };
  std::vector<Place> uses;  // grouped by window
  uses.reserve(windows.size());
  struct Candidate {
    double value;
    std::string_view anchor;
    double weight;  // rarity cubed: rare anchors make few candidate lines
    std::size_t first, last;  // its literals: uses[first, last)
    bool operator<(const Candidate& o) const { return value != o.value ? value < o.value : anchor > o.anchor; }
  };
  std::vector<Candidate> shared;  // windows of several literals
  std::vector<Candidate> best_own(literals.size(), Candidate{0, {}, -1, 0, 0});  // per literal, its rarest window
  auto weigh = [](double rarity) { return rarity * rarity * rarity; };
  auto settle = [&](std::string_view text, std::size_t first, std::size_t last) {
    const double letters = letter_rarity(text);
    if (last - first > 1) {
      shared.push_back({0, text, weigh(letters * common_rarity(text)), first, last});
      return;
    }
    // Most windows belong to one literal and lose to its best. A window's rarity is at most that
    // of its letters: the common words are looked up only for windows that could still win.
    Candidate& best = best_own[uses[first].literal];
    if (weigh(letters) < best.weight) return;
    const Candidate c{0, text, weigh(letters * common_rarity(text)), first, last};
    if (c.weight > best.weight || (c.weight == best.weight && c.anchor < best.anchor)) best = c;
  };
  std::size_t group = 0;  // uses[group, end): the literals of the window being read
  for (std::size_t w = 0; w < windows.size(); ++w) {
    const Place& place = places[windows[w].place];
    const bool same_text = w > 0 && windows[w].key == windows[w - 1].key;
    if (same_text && place.literal == places[windows[w - 1].place].literal) continue;
    if (!same_text && w > 0) settle(text_of(windows[w - 1]), group, uses.size()), group = uses.size();
    uses.push_back(place);
  }
  if (!windows.empty()) settle(text_of(windows.back()), group, uses.size());
  // A window of one literal is only ever chosen for it, and only the rarest of them: the heap
  // holds those and the shared windows, not every window of every literal.
  std::vector<Candidate> candidates = std::move(shared);
  for (const Candidate& c : best_own)
    if (c.weight >= 0) candidates.push_back(c);
  // Greedy set cover, lazily: a candidate's value only falls as literals get covered, so a
  // value taken from the heap that is still the best after recomputing is the true best.
  // (The plain greedy loop recomputed every candidate per pick: minutes for a few thousand rules.)
  std::vector<bool> covered(literals.size());
  auto gain = [&](const Candidate& c) {
    std::size_t n = 0;
    for (std::size_t u = c.first; u < c.last; ++u) n += !covered[uses[u].literal];
    return n;
  };
  for (Candidate& c : candidates) c.value = double(gain(c)) * c.weight;
  std::priority_queue<Candidate> heap(std::less<Candidate>(), std::move(candidates));
  std::size_t left = literals.size();
  AnchorCover cover;
  while (left > 0 && !heap.empty()) {
    Candidate c = heap.top();
    heap.pop();
    c.value = double(gain(c)) * c.weight;
    if (c.value <= 0) continue;
    if (!heap.empty() && c < heap.top()) {
      heap.push(c);
      continue;
    }
    // The anchor stands for the literals it newly covers: each literal is confirmed by one.
    std::vector<AnchorUse>& mine = cover.uses.emplace_back();
    for (std::size_t u = c.first; u < c.last; ++u)
      if (!covered[uses[u].literal]) mine.push_back({uses[u].literal, uses[u].offset}), covered[uses[u].literal] = true, --left;
    cover.anchors.emplace_back(c.anchor);
  }
  return cover;
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

namespace {

// ASCII case folding by table, and where a 3-byte window (its bytes in the low 24 bits) falls
// in the 4,096 bits of keep_conjunctions().
constexpr auto kFold = [] {
  std::array<unsigned char, 256> t{};
  for (unsigned c = 0; c < 256; ++c) t[c] = static_cast<unsigned char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  return t;
}();
unsigned trigram_hash(std::uint32_t window) { return (window * 2654435761u) >> 20; }

}  // namespace

struct Prefilter::Impl {
  hs_database_t* anchor_db = nullptr;  // anchors, then markers
  std::vector<std::string> literals;   // every rule literal; id = index
  std::vector<std::vector<int>> literal_rules;  // literal → rules it makes candidates
  std::vector<std::vector<int>> literal_settles;  // literal → rules with sets for which it is one
  std::vector<std::vector<std::string>> rule_literals;
  std::vector<int> unfiltered;
  std::vector<std::string> pieces;  // of every conjunction; id = index
  std::vector<std::vector<std::vector<unsigned>>> rule_sets;  // per rule: its conjunctions, as piece ids
  std::vector<std::vector<unsigned>> piece_trigrams;          // per piece: its windows' hashes
  bool any_sets = false;
  AnchorCover cover;
  std::vector<std::vector<ProbeGroup>> probe_groups;  // per anchor
  std::vector<std::size_t> anchor_sizes;  // then marker sizes
  unsigned first_marker = 0;              // anchor_db ids from here on are markers
  ~Impl() {
    if (anchor_db) hs_free_database(anchor_db);
  }

  void scan(std::string_view text, Scratch::Impl& s, std::vector<Hit>& hits) const {
    hits.clear();
    if (!anchor_db || text.empty()) return;
    if (s.prepared_for != this) {
      if (hs_alloc_scratch(anchor_db, &s.hs) != HS_SUCCESS) throw std::bad_alloc();
      s.prepared_for = this;
    }
    if (hs_scan(anchor_db, text.data(), static_cast<unsigned>(text.size()), 0, s.hs, on_block_match, &hits) != HS_SUCCESS)
      throw std::runtime_error("prefilter: hyperscan scan failed");
    // Hyperscan reports in end order per literal; with many literals not overall.
    std::stable_sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) { return a.end < b.end; });
  }

  // The candidates of the line at [begin, end) of `text`, from the hits that end inside it
  // (hits[from, to)): a literal is confirmed where its anchor's hit says it would start. The
  // scan is caseless and the literals are lowercase, so the comparison folds ASCII case.
  bool confirm(const char* text, std::size_t begin, std::size_t end, const std::vector<Hit>& hits, std::size_t from,
               std::size_t to, Scratch::Impl& s) const {
    s.candidates = unfiltered;
    s.settled.clear();
    for (std::size_t k = from; k < to; ++k) {
      const Hit& h = hits[k];
      if (h.literal >= first_marker) continue;
      const std::size_t anchor_start = std::size_t(h.end) - anchor_sizes[h.literal];
      if (anchor_start < begin) continue;  // began before the line
      const std::vector<AnchorUse>& uses = cover.uses[h.literal];
      for (const ProbeGroup& g : probe_groups[h.literal]) {
        const std::ptrdiff_t at = std::ptrdiff_t(anchor_start) + g.at;
        if (at < std::ptrdiff_t(begin) || std::size_t(at) + g.size > end) continue;  // no literal of it fits
        const std::uint64_t probe = fold_ascii(load(text + at, g.size));
        auto match = std::lower_bound(g.probes.begin(), g.probes.end(), std::pair{probe, 0u});
        for (; match != g.probes.end() && match->first == probe; ++match) {
          const AnchorUse& use = uses[match->second];
          if (anchor_start < begin + use.offset) continue;
          const std::size_t start = anchor_start - use.offset;
          if (start + use.size > end || !equals_folded(text + start, literals[use.literal])) continue;
          for (int rule : literal_rules[use.literal]) s.candidates.push_back(rule);
          for (int rule : literal_settles[use.literal]) s.settled.push_back(rule);
        }
      }
    }
    if (s.candidates.size() > unfiltered.size()) {
      std::sort(s.candidates.begin(), s.candidates.end());
      s.candidates.erase(std::unique(s.candidates.begin(), s.candidates.end()), s.candidates.end());
      if (any_sets) keep_conjunctions(text + begin, end - begin, s);
    }
    return !s.candidates.empty();
  }

  // Drops the candidates that hold none of their conjunctions whole. Whether a line holds a
  // piece is asked of a set of its 3-byte windows, ASCII case folded, hashed into 4,096 bits,
  // made once per line: a piece is there only if all its windows are. That may say yes for a
  // piece that is not there (the line then costs an RE2 run, as without conjunctions), never no
  // for one that is; and it costs a few instructions a byte and a piece, where searching each
  // piece in the line cost as much as the RE2 run it saves.
  void keep_conjunctions(const char* line, std::size_t size, Scratch::Impl& s) const {
    // A rule found by a literal that is one of its sets on its own needs no more looking.
    auto settled = [&](int rule) { return std::find(s.settled.begin(), s.settled.end(), rule) != s.settled.end(); };
    const bool any = std::any_of(s.candidates.begin(), s.candidates.end(),
                                 [&](int rule) { return !rule_sets[std::size_t(rule)].empty() && !settled(rule); });
    if (!any) return;
    s.trigrams.fill(0);
    auto add = [&](std::uint32_t window) {
      const unsigned h = trigram_hash(window);
      s.trigrams[h >> 6] |= std::uint64_t(1) << (h & 63);
    };
    // Eight bytes folded at once give six windows (first byte lowest, as for the pieces in for_literals()).
    std::size_t i = 0;
    for (; i + 8 <= size; i += 6) {
      const std::uint64_t w = fold_ascii(load(line + i, 8));
      for (unsigned k = 0; k < 6; ++k) add(std::uint32_t(w >> (8 * k)) & 0xFFFFFF);
    }
    for (; i + 3 <= size; ++i)
      add(std::uint32_t(kFold[static_cast<unsigned char>(line[i])]) | std::uint32_t(kFold[static_cast<unsigned char>(line[i + 1])]) << 8 |
          std::uint32_t(kFold[static_cast<unsigned char>(line[i + 2])]) << 16);
    auto here = [&](unsigned piece) {
      for (unsigned h : piece_trigrams[piece])
        if ((s.trigrams[h >> 6] >> (h & 63) & 1) == 0) return false;
      return true;
    };
    auto kept = std::remove_if(s.candidates.begin(), s.candidates.end(), [&](int rule) {
      const auto& sets = rule_sets[std::size_t(rule)];
      if (sets.empty() || settled(rule)) return false;
      return std::none_of(sets.begin(), sets.end(),
                          [&](const std::vector<unsigned>& set) { return std::all_of(set.begin(), set.end(), here); });
    });
    s.candidates.erase(kept, s.candidates.end());
  }

  static bool equals_folded(const char* text, const std::string& lowercase) {
    for (std::size_t i = 0; i < lowercase.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(text[i]);
      if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c + ('a' - 'A'));
      if (c != static_cast<unsigned char>(lowercase[i])) return false;
    }
    return true;
  }
};

Prefilter::Prefilter() : impl_(std::make_unique<Impl>()) {}

Prefilter::Prefilter(const std::vector<std::string>& patterns) : Prefilter() {
  std::vector<std::vector<std::string>> rule_literals;
  std::vector<std::vector<std::vector<std::string>>> rule_conjunctions;
  for (const std::string& pattern : patterns) {
    std::string error;
    auto c = CoveredRegex::compile(pattern, error);
    if (!c) throw std::invalid_argument("prefilter: pattern does not compile: " + error);
    rule_literals.push_back(c->literals());
    rule_conjunctions.push_back(c->conjunctions());
  }
  *this = for_literals(rule_literals, {}, rule_conjunctions);
}

Prefilter Prefilter::for_literals(const std::vector<std::vector<std::string>>& rule_literals,
                                  const std::vector<std::string>& markers,
                                  const std::vector<std::vector<std::vector<std::string>>>& rule_conjunctions) {
  Prefilter p;
  Impl& m = *p.impl_;
  std::unordered_map<std::string, unsigned> piece_ids;
  m.rule_sets.resize(rule_literals.size());
  for (std::size_t rule = 0; rule < rule_conjunctions.size() && rule < rule_literals.size(); ++rule) {
    if (rule_literals[rule].empty()) continue;  // unfiltered: tried on every line anyway
    for (const std::vector<std::string>& set : rule_conjunctions[rule]) {
      std::vector<unsigned>& ids = m.rule_sets[rule].emplace_back();
      for (const std::string& piece : set) {
        auto [it, fresh] = piece_ids.emplace(piece, unsigned(m.pieces.size()));
        if (fresh) m.pieces.push_back(piece);
        ids.push_back(it->second);
      }
    }
    m.any_sets = m.any_sets || !m.rule_sets[rule].empty();
  }
  for (const std::string& piece : m.pieces) {
    std::vector<unsigned>& hashes = m.piece_trigrams.emplace_back();
    for (std::size_t i = 0; i + 3 <= piece.size(); ++i)
      hashes.push_back(trigram_hash(std::uint32_t(static_cast<unsigned char>(piece[i])) |
                                    std::uint32_t(static_cast<unsigned char>(piece[i + 1])) << 8 |
                                    std::uint32_t(static_cast<unsigned char>(piece[i + 2])) << 16));
  }
  std::unordered_map<std::string, int> literal_ids;
  for (std::size_t rule = 0; rule < rule_literals.size(); ++rule) {
    const std::vector<std::string>& chosen = rule_literals[rule];
    if (chosen.empty()) m.unfiltered.push_back(int(rule));
    for (const std::string& lit : chosen) {
      auto [it, fresh] = literal_ids.emplace(lit, int(m.literals.size()));
      if (fresh) {
        m.literals.push_back(lit);
        m.literal_rules.emplace_back();
      }
      m.literal_rules[std::size_t(it->second)].push_back(int(rule));
    }
    m.rule_literals.push_back(chosen);
  }
  m.literal_settles.resize(m.literals.size());
  for (std::size_t rule = 0; rule < m.rule_sets.size(); ++rule)
    for (const std::vector<unsigned>& set : m.rule_sets[rule])
      if (set.size() == 1)
        if (auto it = literal_ids.find(m.pieces[set[0]]); it != literal_ids.end())
          m.literal_settles[std::size_t(it->second)].push_back(int(rule));

  m.cover = choose_anchors(m.literals);
  for (std::size_t a = 0; a < m.cover.anchors.size(); ++a) {
    std::vector<ProbeGroup>& groups = m.probe_groups.emplace_back();
    for (unsigned u = 0; u < m.cover.uses[a].size(); ++u) {
      AnchorUse& use = m.cover.uses[a][u];
      const std::string& lit = m.literals[use.literal];
      use.size = unsigned(lit.size());
      // The probe: the 8 bytes after the anchor, else as many as there are around it.
      const std::size_t after = use.offset + m.cover.anchors[a].size();
      const std::size_t probe_at = lit.size() - after >= 8 ? after : lit.size() >= 8 ? lit.size() - 8 : 0;
      const unsigned probe_size = unsigned(std::min<std::size_t>(8, lit.size()));
      const std::ptrdiff_t at = std::ptrdiff_t(probe_at) - std::ptrdiff_t(use.offset);
      auto g = std::find_if(groups.begin(), groups.end(),
                            [&](const ProbeGroup& x) { return x.at == at && x.size == probe_size; });
      if (g == groups.end()) g = groups.insert(groups.end(), ProbeGroup{at, probe_size, {}});
      g->probes.emplace_back(fold_ascii(load(lit.data() + probe_at, probe_size)), u);
    }
    for (ProbeGroup& g : groups) std::sort(g.probes.begin(), g.probes.end());
  }
  std::vector<std::string> block_literals = m.cover.anchors;
  m.first_marker = unsigned(block_literals.size());
  std::vector<unsigned> flags(block_literals.size(), HS_FLAG_CASELESS);
  for (const std::string& marker : markers) block_literals.push_back(marker), flags.push_back(0);
  for (const std::string& l : block_literals) m.anchor_sizes.push_back(l.size());
  if (!block_literals.empty()) m.anchor_db = compile_literals(block_literals, flags);
  return p;
}

Prefilter::~Prefilter() = default;
Prefilter::Prefilter(Prefilter&&) noexcept = default;
Prefilter& Prefilter::operator=(Prefilter&&) noexcept = default;

bool Prefilter::scan_line(std::string_view line, Scratch& scratch) const {
  const Impl& m = *impl_;
  auto& s = *scratch.impl_;
  m.scan(line, s, s.line_hits);
  return m.confirm(line.data(), 0, line.size(), s.line_hits, 0, s.line_hits.size(), s);
}

void Prefilter::scan_block(std::string_view block, Scratch& scratch) const {
  const Impl& m = *impl_;
  auto& s = *scratch.impl_;
  s.next_hit = s.next_anchor = 0;
  s.block = block.data();
  s.rule_hit = s.marker_hit = false;
  m.scan(block, s, s.hits);
  for (const Hit& h : s.hits) (h.literal >= m.first_marker ? s.marker_hit : s.rule_hit) = true;
}

std::size_t Prefilter::next_anchor(std::size_t from, Scratch& scratch) const {
  const Impl& m = *impl_;
  auto& s = *scratch.impl_;
  // A hit that ends after `from` begins at or after it: `from` starts a line and no anchor
  // holds a newline.
  while (s.next_anchor < s.hits.size() &&
         (s.hits[s.next_anchor].end <= from || s.hits[s.next_anchor].literal >= m.first_marker))
    ++s.next_anchor;
  if (s.next_anchor == s.hits.size()) return std::string_view::npos;
  const Hit& h = s.hits[s.next_anchor];
  return std::size_t(h.end) - m.anchor_sizes[h.literal];
}

bool Prefilter::block_may_match(const Scratch& scratch) const {
  return scratch.impl_->rule_hit || !impl_->unfiltered.empty();
}
bool Prefilter::block_has_marker(const Scratch& scratch) const { return scratch.impl_->marker_hit; }

bool Prefilter::candidates_in(std::string_view line, Scratch& scratch) const {
  const Impl& m = *impl_;
  auto& s = *scratch.impl_;
  const auto begin = std::size_t(line.data() - s.block);
  const auto end = begin + line.size();
  // Hits are ordered by end offset and lines are asked for in order: one forward walk. A hit
  // ending in this line lies wholly in it or began before it (no literal holds a newline).
  while (s.next_hit < s.hits.size() && s.hits[s.next_hit].end <= begin) ++s.next_hit;
  std::size_t to = s.next_hit;
  while (to < s.hits.size() && s.hits[to].end <= end) ++to;
  return m.confirm(s.block, begin, end, s.hits, s.next_hit, to, s);
}

const std::vector<int>& Prefilter::candidates(const Scratch& scratch) const { return scratch.impl_->candidates; }
const std::vector<std::string>& Prefilter::anchors() const { return impl_->cover.anchors; }
const std::vector<int>& Prefilter::unfiltered() const { return impl_->unfiltered; }
const std::vector<std::string>& Prefilter::literals_of(int rule) const { return impl_->rule_literals[std::size_t(rule)]; }

}  // namespace klaxon
