#include "net/router.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace fedmesh::net {

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    auto next = path.find('/', i);
    if (next == std::string_view::npos) next = path.size();
    out.push_back(path.substr(i, next - i));
    i = next;
  }
  return out;
}

}  // namespace

void Router::add(std::string method, std::string pattern, Handler handler, Audience audience) {
  Route r;
  r.method = std::move(method);
  r.audience = audience;
  for (auto seg : split_path(pattern)) r.segments.emplace_back(seg);
  if (!r.segments.empty() && r.segments.back().ends_with("...}")) r.rest = true;
  auto it = std::find(patterns_.begin(), patterns_.end(), pattern);
  if (it == patterns_.end()) {
    patterns_.push_back(std::move(pattern));
    r.pattern_index = static_cast<int>(patterns_.size() - 1);
  } else {
    r.pattern_index = static_cast<int>(it - patterns_.begin());
  }
  r.handler = std::move(handler);
  routes_.push_back(std::move(r));
}

Router::Match Router::match(Request& request) const {
  auto parts = split_path(request.path);
  Match result;
  result.status = 404;
  for (const auto& r : routes_) {
    std::vector<std::pair<std::string, std::string>> params;
    bool ok;
    if (r.rest) {
      ok = parts.size() >= r.segments.size() - 1;
    } else {
      ok = parts.size() == r.segments.size();
    }
    for (std::size_t i = 0; ok && i < r.segments.size(); ++i) {
      const auto& seg = r.segments[i];
      bool capture = seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
      if (r.rest && i + 1 == r.segments.size()) {
        std::string rest;
        for (std::size_t j = i; j < parts.size(); ++j) {
          if (!rest.empty()) rest += '/';
          rest += parts[j];
        }
        params.emplace_back(seg.substr(1, seg.size() - 5), std::move(rest));
      } else if (capture) {
        params.emplace_back(seg.substr(1, seg.size() - 2), std::string(parts[i]));
      } else if (seg != parts[i]) {
        ok = false;
      }
    }
    if (!ok) continue;
    if (r.method != request.method && !(request.method == "HEAD" && r.method == "GET")) {
      result.status = 405;
      result.route = r.pattern_index;
      if (result.allow.find(r.method) == std::string::npos) {
        if (!result.allow.empty()) result.allow += ", ";
        result.allow += r.method;
      }
      continue;
    }
    request.params = std::move(params);
    result.handler = &r.handler;
    result.route = r.pattern_index;
    result.status = 200;
    result.allow.clear();
    result.audience = r.audience;
    return result;
  }
  return result;
}

std::optional<Response> Router::refuse_role(Request& request) const {
  switch (request.peer_role) {
    case crypto::CertRole::node: return std::nullopt;
    case crypto::CertRole::jobs_client: {
      auto m = match(request);
      if (m.handler && m.audience == Audience::nodes_and_jobs_clients) return std::nullopt;
      return Response::error(
          make_error(ErrorCode::forbidden, "the certificate of '" + request.peer_name +
                                               "' was issued to a jobs client that joined an aggregator (fedmesh "
                                               "join): it may call an aggregator's jobs routes only, not " +
                                               request.method + " " + request.path));
    }
    case crypto::CertRole::unknown: break;
  }
  return Response::error(make_error(ErrorCode::forbidden, "the certificate of '" + request.peer_name +
                                                              "' carries a fedmesh role this node does not know"));
}

boost::asio::awaitable<Response> Router::dispatch(Request& request, int& route) const {
  if (auto refused = refuse_role(request)) {
    route = match(request).route;
    co_return std::move(*refused);
  }
  auto m = match(request);
  route = m.route;
  if (!m.handler) {
    if (m.status == 405) {
      auto r =
          Response::error(make_error(ErrorCode::method_not_allowed, request.method + " is not allowed on " +
                                                                        request.path + " (allowed: " + m.allow + ")"));
      r.headers.emplace_back("Allow", m.allow);
      co_return r;
    }
    co_return Response::error(make_error(ErrorCode::not_found, "no route for " + request.method + " " + request.path));
  }
  try {
    co_return co_await (*m.handler)(request);
  } catch (const std::exception& e) {
    spdlog::error("handler for {} {} threw: {}", request.method, request.path, e.what());
    co_return Response::error(make_error(ErrorCode::internal, "internal error"));
  }
}

}  // namespace fedmesh::net
