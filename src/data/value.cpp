#include "data/value.hpp"

#include <charconv>
#include <cmath>

#include "core/json.hpp"

namespace fedmesh::data {

bool valid_collection_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name[0])) return false;
  for (char c : name)
    if (!alnum(c) && c != '_' && c != '-') return false;
  return true;
}

bool valid_entity_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxEntityIdBytes) return false;
  for (char c : id) {
    if (c <= ' ' || c > '~') return false;
    if (c == '/' || c == '?' || c == '#' || c == '%' || c == '\\') return false;
  }
  return true;
}

bool valid_property_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes || name == "id") return false;
  for (char c : name)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  return valid_utf8(name);
}

void append_canonical_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

void append_canonical_number(std::string& out, double d) {
  // ECMAScript Number::toString, which RFC 8785 prescribes: the shortest digits that
  // round-trip, placed as plain decimals for exponents in [-6, 21) and as d.ddde±n beyond.
  if (d == 0) {  // also -0
    out += '0';
    return;
  }
  if (d < 0) {
    out += '-';
    d = -d;
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(end - buf));  // "d.ddde+XX"
  auto e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos))
    if (c != '.') digits += c;
  int exp10 = 0;
  std::from_chars(sci.data() + e_pos + 1 + (sci[e_pos + 1] == '+' ? 1 : 0), sci.data() + sci.size(), exp10);
  int k = static_cast<int>(digits.size());
  int n = exp10 + 1;  // value = 0.digits x 10^n
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out.append(digits, 0, static_cast<std::size_t>(n));
    out += '.';
    out.append(digits, static_cast<std::size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-n), '0');
    out += digits;
  } else {
    out += digits[0];
    if (k > 1) {
      out += '.';
      out.append(digits, 1);
    }
    out += 'e';
    out += n - 1 >= 0 ? '+' : '-';
    out += std::to_string(std::abs(n - 1));
  }
}

void append_canonical(std::string& out, const Value& v) {
  switch (v.index()) {
    case 0: out += "null"; break;
    case 1: out += std::get<bool>(v) ? "true" : "false"; break;
    case 2: append_canonical_number(out, std::get<double>(v)); break;
    case 3: append_canonical_string(out, std::get<std::string>(v)); break;
    default: {
      const auto& r = std::get<EntityRef>(v);
      out += "{\"collection\":";
      append_canonical_string(out, r.collection);
      out += ",\"entity\":";
      append_canonical_string(out, r.id);
      out += '}';
    }
  }
}

nlohmann::json to_json(const Value& v) {
  switch (v.index()) {
    case 0: return nullptr;
    case 1: return std::get<bool>(v);
    case 2: {
      double d = std::get<double>(v);
      if (std::abs(d) < 9.007199254740992e15 && d == std::floor(d)) return static_cast<std::int64_t>(d);
      return d;
    }
    case 3: return std::get<std::string>(v);
    default: {
      const auto& r = std::get<EntityRef>(v);
      return {{"collection", r.collection}, {"entity", r.id}};
    }
  }
}

Result<Value> value_from_json(const nlohmann::json& j, std::string_view what) {
  auto bad = [&](const std::string& why) { return make_error(ErrorCode::bad_json, std::string(what) + ": " + why); };
  switch (j.type()) {
    case nlohmann::json::value_t::null: return Value(nullptr);
    case nlohmann::json::value_t::boolean: return Value(j.get<bool>());
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float: {
      double d = j.get<double>();
      if (!std::isfinite(d)) return bad("numbers must be finite");
      return Value(d);
    }
    case nlohmann::json::value_t::string: {
      const auto& s = j.get_ref<const std::string&>();
      if (s.size() > kMaxStringValue) return bad("a string value is longer than 65536 bytes");
      if (!valid_utf8(s)) return bad("a string value is not valid UTF-8");
      return Value(s);
    }
    case nlohmann::json::value_t::object: {
      auto c = j.find("collection");
      auto e = j.find("entity");
      if (j.size() != 2 || c == j.end() || e == j.end() || !c->is_string() || !e->is_string())
        return bad("an object value must be a reference {\"collection\": C, \"entity\": ID}");
      EntityRef ref{c->get<std::string>(), e->get<std::string>()};
      if (!valid_collection_name(ref.collection)) return bad("'" + ref.collection + "' is not a collection name");
      if (!valid_entity_id(ref.id)) return bad("'" + ref.id.substr(0, 64) + "' is not an entity id");
      return Value(std::move(ref));
    }
    default: return bad("values are strings, numbers, booleans, null or references, not lists");
  }
}

namespace {
int rank(const Value& v) {
  if (v.index() == 1) return std::get<bool>(v) ? 2 : 1;
  if (v.index() == 0) return 0;
  return static_cast<int>(v.index()) + 1;  // number 3, string 4, reference 5
}
int sign(int c) {
  return (c > 0) - (c < 0);
}
}  // namespace

int compare(const Value& a, const Value& b) {
  int ra = rank(a), rb = rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (a.index()) {
    case 2: {
      double x = std::get<double>(a), y = std::get<double>(b);
      return (x > y) - (x < y);
    }
    case 3: return sign(std::get<std::string>(a).compare(std::get<std::string>(b)));
    case 4: {
      const auto& x = std::get<EntityRef>(a);
      const auto& y = std::get<EntityRef>(b);
      if (int c = x.collection.compare(y.collection); c != 0) return sign(c);
      return sign(x.id.compare(y.id));
    }
    default: return 0;
  }
}

bool truthy(const Value& v) {
  switch (v.index()) {
    case 0: return false;
    case 1: return std::get<bool>(v);
    case 2: return std::get<double>(v) != 0;
    case 3: return !std::get<std::string>(v).empty();
    default: return true;
  }
}

}  // namespace fedmesh::data
