// Router: maps (method, path pattern) to handlers. Patterns are "/a/{name}/b", and a
// last segment "{name...}" captures the rest of the path. Each route says which callers it
// serves by their certificate's role (Audience). Matching is pure; a Router is built once
// and then only read, so it is safe to share between threads.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "net/http_types.hpp"

namespace fedmesh::net {

// Who a route serves, by the role of the caller's certificate (Request::peer_role, from a
// mutual-TLS listener). Every route serves nodes, and listeners without client certificates;
// a jobs client's certificate (`fedmesh join`) reaches only routes added for it.
enum class Audience { nodes, nodes_and_jobs_clients };

class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler, Audience audience = Audience::nodes);

  struct Match {
    const Handler* handler = nullptr;  // null: see status
    int route = -1;                    // index into patterns(); -1 when no path matched
    int status = 200;                  // 404 or 405 when handler is null
    std::string allow;                 // for 405: "GET, POST"
    Audience audience = Audience::nodes;
  };
  // Fills request.params on success.
  Match match(Request& request) const;

  // The 403 for a caller whose certificate role may not reach what `request` asks for, or
  // nullopt when it may: a node's reaches every route (and gets its 404 or 405 for none); a
  // jobs client's only a route it is an audience of; an unknown role nothing. The server asks
  // before reading the body; dispatch() asks again.
  std::optional<Response> refuse_role(Request& request) const;

  // Runs the matched handler, or answers 403 (refuse_role), 404 or 405 as JSON errors.
  // Exceptions thrown by a handler become 500 `internal` responses. Writes the route index
  // for metrics.
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
    Audience audience = Audience::nodes;
  };
  std::vector<Route> routes_;
  std::vector<std::string> patterns_;
};

}  // namespace fedmesh::net
