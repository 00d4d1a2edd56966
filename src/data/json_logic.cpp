#include "data/json_logic.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>
#include <string>

namespace fedmesh::data {

using json = nlohmann::json;

namespace {

constexpr int kMaxDepth = 32;
constexpr int kMaxNodes = 4096;

const std::set<std::string, std::less<>>& operators() {
  static const std::set<std::string, std::less<>> ops = {"var", "==",  "!=", "<", "<=", ">",
                                                         ">=",  "and", "or", "!", "in"};
  return ops;
}

Status check(const json& rule, int depth, int& nodes) {
  if (++nodes > kMaxNodes) return make_error(ErrorCode::invalid_argument, "filter: more than 4096 nodes");
  if (depth > kMaxDepth) return make_error(ErrorCode::invalid_argument, "filter: nested deeper than 32");
  if (rule.is_array()) {
    for (const auto& r : rule)
      if (auto s = check(r, depth + 1, nodes); !s) return s;
    return {};
  }
  if (!rule.is_object()) return {};
  if (rule.size() != 1)
    return make_error(ErrorCode::invalid_argument, "filter: an operation is an object with exactly one operator");
  const std::string& op = rule.begin().key();  // not a structured binding: the lambdas below capture it
  const json& args = rule.begin().value();
  if (!operators().contains(op))
    return make_error(ErrorCode::invalid_argument,
                      "filter: unknown operator '" + op.substr(0, 32) + "' (var, ==, !=, <, <=, >, >=, and, or, !, in)")
        .with("operator", op.substr(0, 32));
  std::size_t n = args.is_array() ? args.size() : 1;
  auto count = [&](std::size_t lo, std::size_t hi) -> Status {
    if (n < lo || n > hi)
      return make_error(ErrorCode::invalid_argument, "filter: '" + op + "' takes " + std::to_string(lo) +
                                                         (lo == hi ? "" : " to " + std::to_string(hi)) +
                                                         " argument(s), not " + std::to_string(n));
    return {};
  };
  Status s;
  if (op == "var") {
    s = count(0, 2);
  } else if (op == "==" || op == "!=" || op == ">" || op == ">=" || op == "in") {
    s = count(2, 2);
  } else if (op == "<" || op == "<=") {
    s = count(2, 3);
  } else if (op == "!") {
    s = count(1, 1);
  } else {
    s = count(1, 1024);
  }
  if (!s) return s;
  return check(args, depth + 1, nodes);
}

double to_number(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return 0;
    case json::value_t::boolean: return v.get<bool>() ? 1 : 0;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return v.get<double>();
    case json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      std::size_t b = 0, e = s.size();
      while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
      while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
      if (b == e) return 0;
      std::string t = s.substr(b, e - b);
      char* end = nullptr;
      double d = std::strtod(t.c_str(), &end);
      if (end != t.c_str() + t.size() || t.find_first_of("xXpP") != std::string::npos)
        return std::numeric_limits<double>::quiet_NaN();
      return d;
    }
    default: return std::numeric_limits<double>::quiet_NaN();
  }
}

bool loose_equal(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  if (a.type() == b.type()) return a == b;
  if (a.is_null() || b.is_null()) return false;
  if (a.is_structured() || b.is_structured()) return false;
  return to_number(a) == to_number(b);  // number/string/boolean mixes go through numbers
}

// a < b (or <= when `or_equal`) by JavaScript's rules.
bool less(const json& a, const json& b, bool or_equal) {
  if (a.is_string() && b.is_string()) {
    const auto& x = a.get_ref<const std::string&>();
    const auto& y = b.get_ref<const std::string&>();
    return or_equal ? x <= y : x < y;
  }
  double x = to_number(a), y = to_number(b);
  return or_equal ? x <= y : x < y;
}

json var(const json& args, const json& data) {
  json path = args.is_array() ? (args.empty() ? json(nullptr) : args[0]) : args;
  json fallback = args.is_array() && args.size() > 1 ? args[1] : json(nullptr);
  if (path.is_null() || (path.is_string() && path.get_ref<const std::string&>().empty())) return data;
  std::string p = path.is_string() ? path.get<std::string>() : path.dump();
  const json* cur = &data;
  std::size_t start = 0;
  while (start <= p.size()) {
    auto dot = p.find('.', start);
    std::string part = p.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (cur->is_object()) {
      auto it = cur->find(part);
      if (it == cur->end()) return fallback;
      cur = &*it;
    } else if (cur->is_array()) {
      char* end = nullptr;
      unsigned long i = std::strtoul(part.c_str(), &end, 10);
      if (part.empty() || *end != '\0' || i >= cur->size()) return fallback;
      cur = &(*cur)[i];
    } else {
      return fallback;
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return *cur;
}

json eval(const json& rule, const json& data);

json arg(const json& args, std::size_t i, const json& data) {
  if (!args.is_array()) return i == 0 ? eval(args, data) : json(nullptr);
  return i < args.size() ? eval(args[i], data) : json(nullptr);
}

json eval(const json& rule, const json& data) {
  if (rule.is_array()) {
    json out = json::array();
    for (const auto& r : rule) out.push_back(eval(r, data));
    return out;
  }
  if (!rule.is_object() || rule.size() != 1) return rule;
  // Not a binding to *items().begin(): that proxy is a temporary, and its key() with it.
  auto first = rule.begin();
  const std::string& op = first.key();
  const json& args = first.value();
  std::size_t n = args.is_array() ? args.size() : 1;
  if (op == "var") {
    json evaluated = eval(args, data);
    return var(evaluated, data);
  }
  if (op == "==") return loose_equal(arg(args, 0, data), arg(args, 1, data));
  if (op == "!=") return !loose_equal(arg(args, 0, data), arg(args, 1, data));
  if (op == "<" || op == "<=") {
    bool eq = op == "<=";
    json a = arg(args, 0, data), b = arg(args, 1, data);
    if (n == 3) return less(a, b, eq) && less(b, arg(args, 2, data), eq);
    return less(a, b, eq);
  }
  if (op == ">") return less(arg(args, 1, data), arg(args, 0, data), false);
  if (op == ">=") return less(arg(args, 1, data), arg(args, 0, data), true);
  if (op == "!") return !logic_truthy(arg(args, 0, data));
  if (op == "and" || op == "or") {
    bool is_and = op == "and";
    json last;
    for (std::size_t i = 0; i < n; ++i) {
      last = arg(args, i, data);
      if (logic_truthy(last) != is_and) return last;
    }
    return last;
  }
  if (op == "in") {
    json needle = arg(args, 0, data), hay = arg(args, 1, data);
    if (hay.is_string()) {
      std::string s = needle.is_string() ? needle.get<std::string>() : needle.dump();
      return hay.get_ref<const std::string&>().find(s) != std::string::npos;
    }
    if (hay.is_array()) {
      for (const auto& h : hay)
        if (h == needle || (h.is_number() && needle.is_number() && h.get<double>() == needle.get<double>()))
          return true;
    }
    return false;
  }
  return nullptr;  // unreachable after check_logic
}

}  // namespace

Status check_logic(const json& rule) {
  int nodes = 0;
  return check(rule, 0, nodes);
}

json apply_logic(const json& rule, const json& data) {
  return eval(rule, data);
}

bool logic_truthy(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return false;
    case json::value_t::boolean: return v.get<bool>();
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return v.get<double>() != 0;
    case json::value_t::string: return !v.get_ref<const std::string&>().empty();
    case json::value_t::array: return !v.empty();
    default: return true;
  }
}

}  // namespace fedmesh::data
