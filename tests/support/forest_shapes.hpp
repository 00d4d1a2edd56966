// Forest shapes that tests of jobs' partials share: trees built to a size, in the wire
// form of a random-forest partial (docs/jobs.md). Header only; pure functions.
#pragma once

#include <cstddef>

#include <nlohmann/json.hpp>

namespace fedmesh::testing {

// A tree in heap order of `count` nodes (count odd): node i splits into 2i + 1 and
// 2i + 2; the rest are leaves.
inline nlohmann::json heap_tree(std::size_t count) {
  nlohmann::json nodes = nlohmann::json::array();
  for (std::size_t i = 0; i < count; ++i) {
    if (2 * i + 2 < count)
      nodes.push_back({{"f", static_cast<int>(i % 2)},
                       {"t", 0.123456789 * static_cast<double>(i)},
                       {"l", 2 * i + 1},
                       {"r", 2 * i + 2}});
    else
      nodes.push_back({{"p", 0.5}});
  }
  return nodes;
}

}  // namespace fedmesh::testing
