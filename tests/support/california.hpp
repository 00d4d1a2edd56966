// The California housing splits in data/california/ (data/README.md), as the jobs tests
// use them: one client per split, and the features the model tests train on.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "support/harness.hpp"

namespace fedmesh::testing {

// (datasource name, file) of each split: two halves by median income and a held-out set.
inline const std::vector<std::pair<std::string, std::string>> kSplits = {
    {"medinc1", "california_housing.MedInc1.csv"},
    {"medinc2", "california_housing.MedInc2.csv"},
    {"validation", "california_housing.validation.csv"}};
inline const std::vector<std::string> kFeatures = {"MedInc",    "HouseAge",   "AveRooms",
                                                   "AveBedrms", "Population", "AveOccup"};

// The path of a file in data/california/.
inline std::string california(const std::string& file) {
  return source_dir() + "/data/california/" + file;
}

}  // namespace fedmesh::testing
