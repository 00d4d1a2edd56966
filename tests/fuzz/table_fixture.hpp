// A datasource for the jobs fuzz targets: eight rows with number and string columns, a
// 0/1 target and missing cells, read once by jobs::parse_table.
#pragma once

#include <cstdlib>

#include "jobs/table.hpp"

namespace fedmesh::fuzz {

inline const jobs::Table& fixture_table() {
  static const auto* t = [] {
    auto parsed = jobs::parse_table(
        "x,y,label,g\n"
        "1.5,2,0,north\n"
        "2.5,3.5,1,south\n"
        "3,,1,north\n"
        "4,5,0,\n"
        "-1,0.5,1,east\n"
        "10,20,0,south\n"
        "0,0,1,north\n"
        "7.25,1e3,,west\n",
        ',', "fixture.csv");
    if (!parsed) std::abort();  // the harness itself is broken, not the input
    return new jobs::Table(std::move(*parsed));
  }();
  return *t;
}

}  // namespace fedmesh::fuzz
