#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "net/router.hpp"

namespace fedmesh::net {
namespace {

namespace asio = boost::asio;

Handler answer(std::string text) {
  return [text](Request& r) -> asio::awaitable<Response> {
    std::string params;
    for (auto& [k, v] : r.params) params += k + "=" + v + ";";
    co_return Response::text(200, text + ":" + params);
  };
}

Response run(const Router& router, std::string method, std::string path, int* route = nullptr,
             crypto::CertRole role = crypto::CertRole::node) {
  asio::io_context io;
  Request req;
  req.method = std::move(method);
  req.path = std::move(path);
  req.peer_name = "caller";
  req.peer_role = role;
  int r = -2;
  auto fut = asio::co_spawn(io, router.dispatch(req, r), asio::use_future);
  io.run();
  if (route) *route = r;
  return fut.get();
}

Router sample() {
  Router r;
  r.add("GET", "/api/v1/status", answer("status"));
  r.add("POST", "/api/v1/skills/{package}/{skill}", answer("skill"));
  r.add("GET", "/api/v1/skills/{package}/{skill}", answer("skill-get"));
  r.add("GET", "/static/{path...}", answer("static"));
  r.add("GET", "/boom", [](Request&) -> asio::awaitable<Response> {
    throw std::runtime_error("boom");
    co_return Response{};
  });
  return r;
}

TEST(Router, MatchesStaticAndParams) {
  auto r = sample();
  EXPECT_EQ(run(r, "GET", "/api/v1/status").body, "status:");
  EXPECT_EQ(run(r, "POST", "/api/v1/skills/palette/color_blend").body, "skill:package=palette;skill=color_blend;");
  EXPECT_EQ(run(r, "GET", "/static/css/site.css").body, "static:path=css/site.css;");
  EXPECT_EQ(run(r, "HEAD", "/api/v1/status").status, 200);
}

TEST(Router, NotFoundAndMethodNotAllowed) {
  auto r = sample();
  int route = 0;
  auto nf = run(r, "GET", "/api/v1/nothing", &route);
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(route, -1);
  EXPECT_NE(nf.body.find("\"code\":\"not_found\""), std::string::npos);
  auto na = run(r, "DELETE", "/api/v1/skills/a/b", &route);
  EXPECT_EQ(na.status, 405);
  EXPECT_GE(route, 0);
  ASSERT_EQ(na.headers.size(), 1u);
  EXPECT_EQ(na.headers[0].second, "POST, GET");
  EXPECT_EQ(run(r, "GET", "/api/v1/skills/a").status, 404);
  EXPECT_EQ(run(r, "GET", "/api/v1/skills/a/b/c").status, 404);
}

TEST(Router, HandlerExceptionsBecome500) {
  auto r = sample();
  auto res = run(r, "GET", "/boom");
  EXPECT_EQ(res.status, 500);
  EXPECT_NE(res.body.find("\"code\":\"internal\""), std::string::npos);
}

TEST(Router, AJobsClientsCertificateReachesOnlyTheRoutesOpenToIt) {
  Router r;
  r.add("POST", "/fed/v1/hello", answer("hello"));
  r.add("POST", "/fed/v1/jobs/{op}", answer("jobs"), Audience::nodes_and_jobs_clients);
  auto jobs_client = crypto::CertRole::jobs_client;
  EXPECT_EQ(run(r, "POST", "/fed/v1/jobs/next", nullptr, jobs_client).body, "jobs:op=next;");
  for (auto [method, path] : {std::pair{"POST", "/fed/v1/hello"}, std::pair{"GET", "/fed/v1/jobs/next"},
                              std::pair{"GET", "/fed/v1/nothing"}}) {
    int route = -2;
    auto refused = run(r, method, path, &route, jobs_client);
    EXPECT_EQ(refused.status, 403) << path;
    EXPECT_NE(refused.body.find("was issued to a jobs client"), std::string::npos) << refused.body;
    EXPECT_NE(refused.body.find(std::string(method) + " " + path), std::string::npos) << refused.body;
  }
  // A node reaches both; a role nobody knows, neither.
  EXPECT_EQ(run(r, "POST", "/fed/v1/hello").body, "hello:");
  EXPECT_EQ(run(r, "POST", "/fed/v1/jobs/next").body, "jobs:op=next;");
  EXPECT_EQ(run(r, "GET", "/fed/v1/nothing").status, 404);
  for (const char* path : {"/fed/v1/hello", "/fed/v1/jobs/next"})
    EXPECT_EQ(run(r, "POST", path, nullptr, crypto::CertRole::unknown).status, 403) << path;
  Request early;
  early.method = "POST";
  early.path = "/fed/v1/jobs/result";
  early.peer_role = jobs_client;
  EXPECT_FALSE(r.refuse_role(early));
  early.path = "/fed/v1/hello";
  EXPECT_TRUE(r.refuse_role(early));
}

TEST(Router, QueryParamsAndDecoding) {
  Request req;
  req.query = "a=1&name=hello%20world&plus=a+b&empty";
  EXPECT_EQ(req.query_param("name"), "hello world");
  EXPECT_EQ(req.query_param("plus"), "a b");
  EXPECT_EQ(req.query_param("empty"), "");
  EXPECT_EQ(req.query_param("missing"), std::nullopt);
  EXPECT_EQ(percent_decode("/a%2Fb", false), "/a/b");
}

}  // namespace
}  // namespace fedmesh::net
