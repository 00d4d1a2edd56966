// Router: maps (method, path pattern) to handlers. Patterns are "/a/{name}/b", and a
// last segment "{name...}" captures the rest of the path. Matching is pure; a Router
// is built once and then only read, so it is safe to share between threads.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "net/http_types.hpp"

namespace fedmesh::net {

class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler);

  struct Match {
    const Handler* handler = nullptr;  // null: see status
    int route = -1;                    // index into patterns(); -1 when no path matched
    int status = 200;                  // 404 or 405 when handler is null
    std::string allow;                 // for 405: "GET, POST"
  };
  // Fills request.params on success.
  Match match(Request& request) const;

  // Runs the matched handler, or answers 404/405 as JSON errors. Exceptions thrown by a
  // handler become 500 `internal` responses. Writes the route index for metrics.
  boost::asio::awaitable<Response> dispatch(Request& request, int& route) const;

  // Distinct patterns, in the order they were first added (metrics labels).
  const std::vector<std::string>& patterns() const { return patterns_; }

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    bool rest = false;  // last segment captures the remainder
    int pattern_index;
    Handler handler;
  };
  std::vector<Route> routes_;
  std::vector<std::string> patterns_;
};

}  // namespace fedmesh::net
