// The one error type of fedmesh: a code from the catalogue, a message and context.
// Error codes live in one table (FEDMESH_ERROR_CODES) with a stable number and an
// HTTP status each; docs/errors.md lists them and a test keeps the two in sync.
// Plain values; thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace fedmesh {

// name, stable number, HTTP status, description
#define FEDMESH_ERROR_CODES(X)                                                                       \
  X(invalid_argument, 1001, 400, "a request or argument is malformed")                               \
  X(bad_json, 1002, 400, "a body is not valid JSON or not the expected shape")                       \
  X(not_found, 1003, 404, "no such route, object or file")                                           \
  X(method_not_allowed, 1004, 405, "the route exists but not for this method")                       \
  X(payload_too_large, 1005, 413, "a body, header or answer exceeds its size limit")                 \
  X(request_timeout, 1006, 408, "the request was not received within its time limit")                \
  X(unauthorized, 1007, 401, "a bearer token is required and was missing or wrong")                  \
  X(forbidden, 1008, 403, "the caller is known but may not do this")                                 \
  X(conflict, 1009, 409, "the request conflicts with the current state")                             \
  X(config_invalid, 1010, 400, "a configuration file or value is invalid")                           \
  X(io_error, 1011, 500, "a file or socket operation failed")                                        \
  X(crypto_error, 1012, 500, "a key, certificate or signature operation failed")                     \
  X(store_error, 1013, 500, "the store failed to read or write")                                     \
  X(peer_unavailable, 1014, 503, "a peer could not be reached")                                      \
  X(peer_refused, 1015, 502, "a peer refused our certificate or we refused its")                     \
  X(deadline_exceeded, 1016, 504, "the operation did not finish within its deadline")                \
  X(unavailable, 1017, 503, "the node is starting or shutting down")                                 \
  X(internal, 1018, 500, "an unexpected failure inside the node")                                    \
  X(skill_error, 1019, 422, "a skill raised an error; its own code is reported instead")             \
  X(resource_exhausted, 1020, 503, "a skill exceeded its instruction budget or memory cap")          \
  X(depth_exceeded, 1021, 508, "a call chain between nodes is deeper than the limit")                \
  X(package_unavailable, 1022, 503, "the package failed to load or start, or is suspended")          \
  X(bad_peer_response, 1023, 502, "a peer's answer was malformed, cut short or over its size limit") \
  X(storage_full, 1024, 507, "the disk under the store is full; nothing was written")                \
  X(query_too_costly, 1025, 422, "a query needs more work than its budget allows")

enum class ErrorCode : std::uint16_t {
#define FEDMESH_X(name, number, status, text) name = number,  // NOLINT(bugprone-macro-parentheses): an enumerator
  FEDMESH_ERROR_CODES(FEDMESH_X)
#undef FEDMESH_X
};

struct ErrorCodeInfo {
  ErrorCode code;
  std::string_view name;
  int number;
  int http_status;
  std::string_view description;
};

// Every code, in catalogue order.
const std::vector<ErrorCodeInfo>& error_catalogue();
const ErrorCodeInfo& info(ErrorCode code);
std::string_view to_string(ErrorCode code);
std::optional<ErrorCode> error_code_from_string(std::string_view name);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  int http_status() const { return info(code_).http_status; }

  // Context is kept as ordered key/value pairs (node, skill, file, key...).
  Error& with(std::string key, std::string value) {
    context_.emplace_back(std::move(key), std::move(value));
    return *this;
  }
  const std::vector<std::pair<std::string, std::string>>& context() const { return context_; }
  std::string context_value(std::string_view key) const;

  // Skills raise errors with codes of their own ("out_of_stock"); they travel as
  // skill_error with this name, which the API reports as the code.
  Error& with_code_name(std::string name) {
    code_name_ = std::move(name);
    return *this;
  }
  std::string code_name() const;

  // "code: message".
  std::string to_string() const;

 private:
  ErrorCode code_;
  std::string message_;
  std::string code_name_;
  std::vector<std::pair<std::string, std::string>> context_;
};

// Result<T>: a value or an Error. Result<void> carries only success or an Error.
template <class T>
class [[nodiscard]] Result {
 public:
  // Default: an `internal` error saying no result was produced (Asio needs default construction).
  Result() : v_(std::in_place_index<1>, Error(ErrorCode::internal, "no result was produced")) {}
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const& { return *error_; }
  Error&& error() && { return std::move(*error_); }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

inline Error make_error(ErrorCode code, std::string message) {
  return Error(code, std::move(message));
}

}  // namespace fedmesh
