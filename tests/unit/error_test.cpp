#include <limits>
#include <set>

#include <gtest/gtest.h>

#include "core/address.hpp"
#include "core/error.hpp"
#include "core/json.hpp"
#include "core/numbers.hpp"
#include "core/time.hpp"

namespace fedmesh {
namespace {

TEST(ErrorCatalogue, NumbersAndNamesAreUniqueAndStatusesValid) {
  std::set<int> numbers;
  std::set<std::string_view> names;
  for (const auto& i : error_catalogue()) {
    EXPECT_TRUE(numbers.insert(i.number).second) << i.name;
    EXPECT_TRUE(names.insert(i.name).second) << i.name;
    EXPECT_GE(i.http_status, 400);
    EXPECT_LT(i.http_status, 600);
    EXPECT_EQ(error_code_from_string(i.name), i.code);
    EXPECT_EQ(static_cast<int>(i.code), i.number);
  }
}

TEST(ErrorCatalogue, StableNumbersOfFirstCodes) {
  // Numbers are part of the API: they must never change once released.
  EXPECT_EQ(info(ErrorCode::invalid_argument).number, 1001);
  EXPECT_EQ(info(ErrorCode::peer_unavailable).number, 1014);
  EXPECT_EQ(info(ErrorCode::deadline_exceeded).http_status, 504);
  EXPECT_EQ(info(ErrorCode::payload_too_large).http_status, 413);
  EXPECT_EQ(info(ErrorCode::request_timeout).http_status, 408);
}

TEST(Error, ContextAndText) {
  Error e(ErrorCode::forbidden, "no");
  e.with("node", "red").with("skill", "x/y");
  EXPECT_EQ(e.context_value("skill"), "x/y");
  EXPECT_EQ(e.to_string(), "forbidden: no");
  EXPECT_EQ(e.http_status(), 403);
  Result<int> r = e;
  EXPECT_FALSE(r);
  Result<int> ok = 3;
  EXPECT_EQ(*ok, 3);
}

TEST(Json, BoundedParsing) {
  EXPECT_TRUE(parse_json("{\"a\":[1,2]}"));
  auto bad = parse_json("{\"a\":");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::bad_json);
  EXPECT_NE(bad.error().message().find("line 1, column 6"), std::string::npos) << bad.error().message();
  std::string deep(100, '[');
  deep += std::string(100, ']');
  auto d = parse_json(deep, 32);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message(), "JSON nested deeper than 32");
  EXPECT_FALSE(parse_json_object("[1]"));
  // The limit counts levels of containers, as json_depth() does: 32 pass, 33 do not.
  auto nested = [](int levels) { return std::string(levels, '[') + std::string(levels, ']'); };
  auto ok = parse_json(nested(kMaxJsonDepth));
  ASSERT_TRUE(ok);
  EXPECT_EQ(json_depth(*ok), kMaxJsonDepth);
  EXPECT_FALSE(parse_json(nested(kMaxJsonDepth + 1)));
  EXPECT_EQ(json_depth(nlohmann::json::parse("{\"a\":{\"b\":[1]},\"c\":2}")), 3);
  EXPECT_EQ(json_depth(nlohmann::json(7)), 0);
}

TEST(Numbers, IntegersAreParsedStrictlyNeverClampedOrWrapped) {
  EXPECT_EQ(parse_integer("42", 0, 100), 42);
  EXPECT_EQ(parse_integer("+7", 0, 100), 7);
  EXPECT_EQ(parse_integer("-3", -5, 5), -3);
  for (std::string_view bad : {"", "-", "+", "+-1", " 1", "1 ", "1.5", "1e3", "0x10", "abc", "101", "-1"})
    EXPECT_FALSE(parse_integer(bad, 0, 100)) << bad;
  EXPECT_FALSE(parse_integer("99999999999999999999", 0, std::numeric_limits<long long>::max()));
  EXPECT_FALSE(parse_integer("4294967296", 0, 1024));
}

TEST(Time, DurationsRoundTrip) {
  EXPECT_EQ(parse_duration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(parse_duration("10s"), std::chrono::seconds(10));
  EXPECT_EQ(parse_duration("2m"), std::chrono::minutes(2));
  EXPECT_EQ(parse_duration("1h"), std::chrono::hours(1));
  EXPECT_FALSE(parse_duration("10"));
  EXPECT_FALSE(parse_duration("-1s"));
  EXPECT_FALSE(parse_duration("s"));
  EXPECT_EQ(format_duration(std::chrono::milliseconds(120000)), "2m");
  EXPECT_EQ(format_duration(std::chrono::milliseconds(1500)), "1500ms");
  auto t = std::chrono::system_clock::time_point(std::chrono::microseconds(1'700'000'000'123'456LL));
  EXPECT_EQ(iso8601(t), "2023-11-14T22:13:20.123456Z");
}

TEST(Address, HostPortAndUrls) {
  EXPECT_EQ(parse_host_port("127.0.0.1:3026")->port, 3026);
  EXPECT_EQ(parse_host_port("[::1]:0")->host, "::1");
  EXPECT_FALSE(parse_host_port("127.0.0.1"));
  EXPECT_FALSE(parse_host_port("127.0.0.1:70000"));
  EXPECT_FALSE(parse_host_port("::1:80"));
  auto u = parse_url("https://127.0.0.1:4023/x");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->endpoint.port, 4023);
  EXPECT_EQ(u->path, "/x");
  EXPECT_FALSE(parse_url("https://127.0.0.1"));
  EXPECT_FALSE(parse_url("ftp://a:1"));
  EXPECT_TRUE(is_loopback_host("127.0.0.2"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
}

}  // namespace
}  // namespace fedmesh

namespace fedmesh {
namespace {

TEST(Json, Utf8ValidationAndSafeDumps) {
  EXPECT_TRUE(valid_utf8("plain ascii"));
  EXPECT_TRUE(valid_utf8("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x8E\xA8"));  // é € 🎨
  EXPECT_FALSE(valid_utf8("\x83"));                                       // lone continuation
  EXPECT_FALSE(valid_utf8("\xC0\xAF"));                                   // overlong
  EXPECT_FALSE(valid_utf8("\xE2\x82"));                                   // truncated
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));                               // surrogate
  EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));                           // beyond U+10FFFF
  EXPECT_EQ(dump_json(nlohmann::json("a\x83")), "\"a\xEF\xBF\xBD\"");
  auto big = parse_json("[1e999]");
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code(), ErrorCode::bad_json);
}

}  // namespace
}  // namespace fedmesh
