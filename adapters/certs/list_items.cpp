// adapters/certs/list_items.cpp — see the header.
#include "adapters/certs/list_items.hpp"

#include <algorithm>

#include <openssl/crypto.h>

namespace klaxon::certs {
namespace {

// The list's own fields (kind, apiVersion, metadata) are a few hundred bytes.
constexpr std::size_t kMaxRest = std::size_t{1} << 20;
// What is kept of an oversized item to name it: its metadata comes first.
constexpr std::size_t kHead = 4096;

bool blank(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

}  // namespace

ListItems::ListItems(std::size_t max_item, std::function<void(std::string_view)> item,
                     std::function<void(std::string_view, std::size_t)> oversized)
    : max_item_(max_item), item_(std::move(item)), oversized_(std::move(oversized)) {}

ListItems::~ListItems() { wipe(held_); }

void ListItems::fail(const char* why) {
  if (!failed_) error_ = why;
  failed_ = true;
  wipe(held_);
}

void ListItems::end_item() {
  in_item_ = false;
  if (item_size_ > max_item_) {
    if (oversized_) oversized_(held_, item_size_);
  } else if (item_) {
    if (held_.capacity() < held_.size() + kPadding) held_.reserve(held_.size() + kPadding);
    item_(held_);
  }
  wipe(held_);
  item_size_ = 0;
}

bool ListItems::feed(std::string_view bytes) {
  if (failed_) return false;
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  // Bytes [from, p) go where the state says: the item held, or the list's own part.
  auto take = [&](const char* from, const char* to) {
    const std::size_t n = std::size_t(to - from);
    if (in_item_) {
      const std::size_t before = item_size_;
      item_size_ += n;
      if (item_size_ <= max_item_) {
        if (held_.size() + n + kPadding > held_.capacity()) {
          // Grown by hand so that the smaller buffer is wiped, not just given back.
          std::string bigger;
          bigger.reserve(std::max(2 * held_.capacity(), held_.size() + n + kPadding));
          bigger.assign(held_);
          wipe(held_);
          held_.swap(bigger);
        }
        held_.append(from, n);
      } else if (before <= max_item_) {  // it just became too large: keep its head only
        const std::size_t keep = std::min(held_.size(), kHead);
        OPENSSL_cleanse(held_.data() + keep, held_.size() - keep);
        held_.resize(keep);
      }
    } else if (!in_items_ || depth_ < 2) {
      rest_.append(from, n);
      if (rest_.size() > kMaxRest) fail("the list's own fields are larger than 1 MiB");
    }
  };

  while (p < end && !failed_) {
    if (in_string_) {
      const char* from = p;
      if (escaped_) {
        escaped_ = false;
        ++p;
      } else {
        while (p < end && *p != '"' && *p != '\\') ++p;
        if (p < end) {
          if (*p == '\\') escaped_ = true;
          else in_string_ = false;
          ++p;
        }
      }
      take(from, p);
      if (!in_string_ && depth_ == 1 && !in_items_) {  // a string of the list's own: maybe a key
        const std::size_t length = rest_.size() - string_start_ - 2;
        key_ = length <= 16 ? rest_.substr(string_start_ + 1, length) : "";
        keyed_ = false;
      }
      continue;
    }
    const char c = *p;
    if (in_items_ && !in_item_ && depth_ == 2) {  // between two items
      ++p;
      if (blank(c) || c == ',') continue;
      if (c == ']') {
        in_items_ = false;
        --depth_;
        rest_ += ']';
        continue;
      }
      if (c != '{') {
        fail("an element of its items is not an object");
        break;
      }
      in_item_ = true;
      ++depth_;
      item_size_ = 0;
      take(&c, &c + 1);
      continue;
    }
    const bool at_list_level = depth_ == 1 && !in_item_;
    switch (c) {
      case '"':
        in_string_ = true;
        if (at_list_level) string_start_ = rest_.size();
        break;
      case '{':
      case '[':
        ++depth_;
        break;
      case '}':
      case ']':
        if (--depth_ < 0) fail("unbalanced brackets");
        break;
      default:
        break;
    }
    take(p, p + 1);
    ++p;
    if (failed_) break;
    if (in_item_ && depth_ == 2) {
      end_item();
      continue;
    }
    if (at_list_level && !blank(c) && c != '"') {
      if (c == ':') {
        keyed_ = !key_.empty();
      } else {
        if (c == '[' && keyed_ && key_ == "items" && !items_seen_) in_items_ = items_seen_ = true;
        keyed_ = false;
        key_.clear();
      }
    }
  }
  return !failed_;
}

std::string ListItems::finish() {
  if (failed_) return "";
  if (in_string_ || depth_ != 0 || in_items_ || rest_.empty()) {
    fail("the answer ends before the list does");
    return "";
  }
  if (!items_seen_) {
    fail("no items");
    return "";
  }
  return rest_;
}

}  // namespace klaxon::certs
