#include <gtest/gtest.h>

#include "federation/hello.hpp"

namespace fedmesh::federation {
namespace {

TEST(Hello, RoundTrip) {
  Hello h{"red", "Red Org", "https://127.0.0.1:4023", "0.1.0", {"node"}, true};
  auto back = decode_hello(h.to_json().dump());
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->name, "red");
  EXPECT_TRUE(back->bidirectional);
  EXPECT_EQ(back->roles, std::vector<std::string>{"node"});
}

TEST(Hello, BadInputNamesTheField) {
  auto msg = [](const std::string& body) {
    auto r = decode_hello(body);
    return r ? std::string("ok") : r.error().message();
  };
  EXPECT_EQ(msg("not json"),
            "invalid JSON: parse error at line 1, column 2: syntax error while parsing value - invalid literal; "
            "last read: 'no'");
  EXPECT_EQ(msg("[]"), "expected a JSON object");
  EXPECT_EQ(msg(R"({"advertise":"https://a:1"})"), "missing field 'name'");
  EXPECT_EQ(msg(R"({"name":1,"advertise":"https://a:1"})"), "field 'name' must be a string");
  EXPECT_EQ(msg(R"({"name":"a","advertise":"http://a:1"})"), "field 'advertise' is not an https URL: 'http://a:1'");
  EXPECT_EQ(msg(R"({"name":"a","advertise":"https://a:1","bidirectional":"yes"})"),
            "field 'bidirectional' must be true or false");
  EXPECT_EQ(msg(R"({"name":"a","advertise":"https://a:1","roles":[1]})"), "field 'roles' must list short strings");
  EXPECT_EQ(msg(std::string(R"({"name":")") + std::string(100, 'x') + R"(","advertise":"https://a:1"})"),
            "field 'name' is longer than 63");
}

}  // namespace
}  // namespace fedmesh::federation
