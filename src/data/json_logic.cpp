#include "data/json_logic.hpp"

#include <string.h>  // memmem

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

// An evaluated value: a reference into the rule or the data where one exists (no copy of
// a 64 KB string per `var`), else a value of its own.
struct Val {
  const json* ref = nullptr;
  json own;
  const json& get() const { return ref ? *ref : own; }
};

Val ref_to(const json& j) {
  return Val{&j, json()};
}
Val owned(json j) {
  return Val{nullptr, std::move(j)};
}

// Thrown inside the evaluator when the budget is spent; caught by apply_logic.
struct Spent {
  Error error;
};

// Evaluates one rule over one entity, charging `budget` one unit per operation and one
// per byte each string comparison or search touches; stops when it is spent.
class Evaluator {
 public:
  Evaluator(const json& data, Budget* budget) : data_(data), budget_(budget) {}

  Val eval(const json& rule) {
    charge(1);
    if (rule.is_array()) {
      bool literal = true;
      for (const auto& r : rule) literal = literal && !r.is_object();
      if (literal) return ref_to(rule);
      json out = json::array();
      for (const auto& r : rule) out.push_back(eval(r).get());
      return owned(std::move(out));
    }
    if (!rule.is_object() || rule.size() != 1) return ref_to(rule);
    // Not a binding to *items().begin(): that proxy is a temporary, and its key() with it.
    auto first = rule.begin();
    const std::string& op = first.key();
    const json& args = first.value();
    std::size_t n = args.is_array() ? args.size() : 1;
    if (op == "var") return var(args);
    if (op == "==") return owned(loose_equal(arg(args, 0).get(), arg(args, 1).get()));
    if (op == "!=") return owned(!loose_equal(arg(args, 0).get(), arg(args, 1).get()));
    if (op == "<" || op == "<=") {
      bool eq = op == "<=";
      Val a = arg(args, 0), b = arg(args, 1);
      if (n == 3) return owned(less(a.get(), b.get(), eq) && less(b.get(), arg(args, 2).get(), eq));
      return owned(less(a.get(), b.get(), eq));
    }
    if (op == ">") return owned(less(arg(args, 1).get(), arg(args, 0).get(), false));
    if (op == ">=") return owned(less(arg(args, 1).get(), arg(args, 0).get(), true));
    if (op == "!") return owned(!logic_truthy(arg(args, 0).get()));
    if (op == "and" || op == "or") {
      bool is_and = op == "and";
      Val last;
      for (std::size_t i = 0; i < n; ++i) {
        last = arg(args, i);
        if (logic_truthy(last.get()) != is_and) return last;
      }
      return last;
    }
    if (op == "in") return owned(in(arg(args, 0).get(), arg(args, 1).get()));
    return owned(nullptr);  // unreachable after check_logic
  }

 private:
  void charge(std::uint64_t units) {
    if (!budget_) return;
    if (auto s = budget_->charge(units); !s) throw Spent{std::move(s).error()};
  }
  // A string's cost to compare or convert: its bytes.
  void charge_bytes(const json& v) {
    if (v.is_string()) charge(v.get_ref<const std::string&>().size());
  }

  Val arg(const json& args, std::size_t i) {
    if (!args.is_array()) return i == 0 ? eval(args) : owned(nullptr);
    return i < args.size() ? eval(args[i]) : owned(nullptr);
  }

  Val var(const json& args) {
    Val evaluated = eval(args);
    const json& a = evaluated.get();
    const json* path = &a;
    const json* fallback = nullptr;
    if (a.is_array()) {
      path = a.empty() ? nullptr : &a[0];
      if (a.size() > 1) fallback = &a[1];
    }
    if (!path || path->is_null() || (path->is_string() && path->get_ref<const std::string&>().empty()))
      return ref_to(data_);
    std::string p = path->is_string() ? path->get<std::string>() : path->dump();
    charge(p.size());
    const json* cur = &data_;
    std::size_t start = 0;
    while (start <= p.size()) {
      auto dot = p.find('.', start);
      std::string part = p.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (cur->is_object()) {
        auto it = cur->find(part);
        if (it == cur->end()) return fallback_of(evaluated, fallback);
        cur = &*it;
      } else if (cur->is_array()) {
        char* end = nullptr;
        unsigned long i = std::strtoul(part.c_str(), &end, 10);
        if (part.empty() || *end != '\0' || i >= cur->size()) return fallback_of(evaluated, fallback);
        cur = &(*cur)[i];
      } else {
        return fallback_of(evaluated, fallback);
      }
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    return ref_to(*cur);  // cur points into the data, which outlives the evaluation
  }

  // The fallback of a var: a reference when it lives in the rule, else a copy.
  Val fallback_of(const Val& evaluated, const json* fallback) {
    if (!fallback) return owned(nullptr);
    if (evaluated.ref) return ref_to(*fallback);
    charge_bytes(*fallback);
    return owned(*fallback);
  }

  bool loose_equal(const json& a, const json& b) {
    if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
    if (a.type() == b.type()) {
      if (a.is_string()) {
        const auto& x = a.get_ref<const std::string&>();
        const auto& y = b.get_ref<const std::string&>();
        charge(std::min(x.size(), y.size()));
        return x == y;
      }
      if (a.is_structured()) charge(a.size() + b.size());
      return a == b;
    }
    if (a.is_null() || b.is_null()) return false;
    if (a.is_structured() || b.is_structured()) return false;
    charge_bytes(a);
    charge_bytes(b);
    return to_number(a) == to_number(b);  // number/string/boolean mixes go through numbers
  }

  // a < b (or <= when `or_equal`) by JavaScript's rules.
  bool less(const json& a, const json& b, bool or_equal) {
    if (a.is_string() && b.is_string()) {
      const auto& x = a.get_ref<const std::string&>();
      const auto& y = b.get_ref<const std::string&>();
      charge(std::min(x.size(), y.size()));
      return or_equal ? x <= y : x < y;
    }
    charge_bytes(a);
    charge_bytes(b);
    double x = to_number(a), y = to_number(b);
    return or_equal ? x <= y : x < y;
  }

  bool in(const json& needle, const json& hay) {
    if (hay.is_string()) {
      const auto& h = hay.get_ref<const std::string&>();
      std::string dumped;
      if (!needle.is_string()) {
        charge(needle.is_structured() ? needle.size() * 8 : 1);
        dumped = needle.dump();
      }
      const std::string& s = needle.is_string() ? needle.get_ref<const std::string&>() : dumped;
      // memmem is glibc's two-way search: linear in hay + needle, whatever their shapes,
      // and charged as such.
      charge(h.size() + s.size());
      if (s.empty()) return true;
      return ::memmem(h.data(), h.size(), s.data(), s.size()) != nullptr;
    }
    if (hay.is_array()) {
      for (const auto& e : hay) {
        charge(1);
        if (e.is_number() && needle.is_number()) {
          if (e.get<double>() == needle.get<double>()) return true;
          continue;
        }
        if (e.type() != needle.type()) continue;
        if (e.is_string())
          charge(std::min(e.get_ref<const std::string&>().size(), needle.get_ref<const std::string&>().size()));
        else if (e.is_structured())
          charge(e.size() + needle.size());
        if (e == needle) return true;
      }
    }
    return false;
  }

  const json& data_;
  Budget* budget_;
};

}  // namespace

Status check_logic(const json& rule) {
  int nodes = 0;
  return check(rule, 0, nodes);
}

json apply_logic(const json& rule, const json& data) {
  Evaluator e(data, nullptr);
  Val v = e.eval(rule);
  if (v.ref) return *v.ref;
  return std::move(v.own);
}

Result<bool> matches_logic(const json& rule, const json& data, Budget& budget) {
  if (rule.is_null()) return true;
  try {
    Evaluator e(data, &budget);
    return logic_truthy(e.eval(rule).get());
  } catch (Spent& spent) {
    return std::move(spent.error);
  }
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
