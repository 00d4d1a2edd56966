#include "jobs/bounded_json.hpp"

#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fedmesh::jobs {
namespace {

using json = nlohmann::json;

// Builds the value as nlohmann's own SAX DOM parser does (a stack of the open containers;
// a container's address stays valid while it is open, as siblings are only added after it
// closes), counting as it goes.
class Builder {
 public:
  explicit Builder(const JsonBudget& budget) : budget_(budget) {}

  bool null() { return put(json(nullptr)) != nullptr; }
  bool boolean(bool value) { return put(json(value)) != nullptr; }
  bool number_integer(json::number_integer_t value) { return put(json(value)) != nullptr; }
  bool number_unsigned(json::number_unsigned_t value) { return put(json(value)) != nullptr; }
  bool number_float(json::number_float_t value, const json::string_t&) { return put(json(value)) != nullptr; }
  bool string(json::string_t& value) { return put(json(std::move(value))) != nullptr; }
  bool binary(json::binary_t&) {
    error_ = make_error(ErrorCode::bad_json, "invalid JSON: binary values are not JSON");
    return false;
  }
  bool start_object(std::size_t) { return open(json::value_t::object); }
  bool key(json::string_t& key) {
    levels_.back().key = std::move(key);
    return true;
  }
  bool end_object() { return close(); }
  bool start_array(std::size_t) { return open(json::value_t::array); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..." -> after the tag
    std::string what = e.what();
    auto tag = what.find("] ");
    error_ =
        make_error(ErrorCode::bad_json, "invalid JSON: " + (tag == std::string::npos ? what : what.substr(tag + 2)));
    return false;
  }

  json& root() { return root_; }
  const std::optional<Error>& error() const { return error_; }

 private:
  struct Level {
    json* value;
    std::string key;  // objects: the key of the member being read
  };

  // Where the innermost open container is, for messages: result.forest.trees[0].
  std::string path() const {
    std::string out;
    for (std::size_t i = 0; i + 1 < levels_.size(); ++i) {
      const Level& level = levels_[i];
      if (level.value->is_array()) {
        out += "[" + std::to_string(level.value->size() - 1) + "]";
      } else {
        if (!out.empty()) out += ".";
        out += level.key;
      }
    }
    return out.empty() ? "the body" : out;
  }

  bool over(const std::string& what) {
    error_ = make_error(ErrorCode::payload_too_large, what);
    return false;
  }

  // Stores a value where the parser is; its address, or nullptr when over budget.
  json* put(json&& value) {
    if (++values_ > budget_.values) {
      over("more than " + std::to_string(budget_.values) + " JSON values");
      return nullptr;
    }
    if (levels_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Level& top = levels_.back();
    if (top.value->is_array()) {
      auto& array = top.value->get_ref<json::array_t&>();
      if (array.size() >= budget_.members) {
        over("more than " + std::to_string(budget_.members) + " elements in " + path());
        return nullptr;
      }
      array.push_back(std::move(value));
      return &array.back();
    }
    auto& object = top.value->get_ref<json::object_t&>();
    json& slot = object[top.key];
    if (object.size() > budget_.members) {
      over("more than " + std::to_string(budget_.members) + " members in " + path());
      return nullptr;
    }
    slot = std::move(value);
    return &slot;
  }

  bool open(json::value_t type) {
    if (static_cast<int>(levels_.size()) >= budget_.depth) {
      error_ = make_error(ErrorCode::bad_json, "JSON nested deeper than " + std::to_string(budget_.depth));
      return false;
    }
    json* slot = put(json(type));
    if (slot == nullptr) return false;
    levels_.push_back({slot, {}});
    return true;
  }

  bool close() {
    levels_.pop_back();
    return true;
  }

  const JsonBudget& budget_;
  json root_;
  std::vector<Level> levels_;
  std::size_t values_ = 0;
  std::optional<Error> error_;
};

}  // namespace

Result<json> decode_bounded_json(std::string_view text, const JsonBudget& budget) {
  try {
    Builder builder(budget);
    bool ok = json::sax_parse(text.begin(), text.end(), &builder);
    if (builder.error()) return *builder.error();
    if (!ok) return make_error(ErrorCode::bad_json, "invalid JSON");
    return std::move(builder.root());
  } catch (const std::exception& e) {  // allocation failure; the SAX parser reports the rest
    return make_error(ErrorCode::internal, std::string("decoding JSON failed: ") + e.what());
  }
}

}  // namespace fedmesh::jobs
