#include "bookkeeping/range_paths.hpp"

namespace rty::bookkeeping {
namespace {

void put_varint(std::string& out, std::size_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

std::size_t get_varint(const char*& p) {
  std::size_t v = 0;
  for (int shift = 0;; shift += 7) {
    const auto b = static_cast<unsigned char>(*p++);
    v |= std::size_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
}

struct name_record {
  std::string_view head, tail;
  bool with_id = false;
};

name_record read_record(const std::string& arena, std::uint32_t offset) {
  const char* p = arena.data() + offset;
  const std::size_t head = get_varint(p);
  const std::size_t tail_flag = get_varint(p);
  name_record r;
  r.with_id = tail_flag & 1;
  r.head = std::string_view(p, head);
  r.tail = std::string_view(p + head, tail_flag >> 1);
  return r;
}

}  // namespace

std::uint32_t dir_table::intern(std::string_view dir) {
  if (auto it = index_.find(dir); it != index_.end()) return it->second;
  if (dirs_.size() >= max_dirs) return none;
  const auto id = static_cast<std::uint32_t>(dirs_.size());
  dirs_.emplace_back(dir);
  index_.emplace(dirs_.back(), id);
  return id;
}

std::uint32_t group_paths::add_name(std::string_view head, std::string_view tail, bool with_id) {
  if (last_name_ != unset) {
    auto last = read_record(arena_, last_name_);
    if (last.with_id == with_id && last.head == head && last.tail == tail) return last_name_;
  }
  const auto offset = static_cast<std::uint32_t>(arena_.size());
  put_varint(arena_, head.size());
  put_varint(arena_, tail.size() * 2 + (with_id ? 1 : 0));
  arena_.append(head).append(tail);
  last_name_ = offset;
  return offset;
}

void group_paths::set(std::uint32_t pos, std::string_view path, std::string_view range_id, dir_table& dirs) {
  auto& e = entries_[pos];
  if (path.empty()) {
    e = entry{};
    return;
  }
  std::string_view name = path;
  e.dir = dir_table::none;
  if (auto slash = path.rfind('/'); slash != std::string_view::npos) {
    e.dir = dirs.intern(path.substr(0, slash + 1));
    if (e.dir != dir_table::none) name = path.substr(slash + 1);
  }
  const auto at = range_id.empty() ? std::string_view::npos : name.rfind(range_id);
  if (at == std::string_view::npos)
    e.name = add_name(name, {}, false);
  else
    e.name = add_name(name.substr(0, at), name.substr(at + range_id.size()), true);
}

void group_paths::append(std::string& out, std::uint32_t pos, std::string_view range_id, const dir_table& dirs) const {
  const auto& e = entries_[pos];
  if (e.name == unset) return;
  if (e.dir != dir_table::none) out.append(dirs.at(e.dir));
  auto r = read_record(arena_, e.name);
  out.append(r.head);
  if (r.with_id) out.append(range_id).append(r.tail);
}

}  // namespace rty::bookkeeping
