// expect_close: two JSON values equal, numbers within a relative tolerance (whatever their
// integer or floating type), for results computed in two ways (federated and one-site).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

namespace fedmesh::testing {

inline void expect_close(const nlohmann::json& a, const nlohmann::json& b, double rel = 1e-9) {
  if (!(a.is_number() && b.is_number())) {
    ASSERT_EQ(a.type(), b.type()) << a << " vs " << b;
  }
  if (a.is_object()) {
    ASSERT_EQ(a.size(), b.size()) << a << " vs " << b;
    for (const auto& [k, v] : a.items()) {
      ASSERT_TRUE(b.contains(k)) << k;
      expect_close(v, b[k], rel);
    }
  } else if (a.is_array()) {
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) expect_close(a[i], b[i], rel);
  } else if (a.is_number()) {
    double x = a.get<double>(), y = b.get<double>();
    EXPECT_LE(std::abs(x - y), rel * std::max({1.0, std::abs(x), std::abs(y)})) << x << " vs " << y;
  } else {
    EXPECT_EQ(a, b);
  }
}

}  // namespace fedmesh::testing
