// `fedmesh data get|put|ids|query|deltas|status|resolve NODE ...`: a node's shared data from the shell,
// through its operator API (docs/data-model.md). Each returns the process exit code:
// 0 on success, 1 when the node refused or could not be reached, 2 for bad arguments.
#pragma once

#include <string>
#include <vector>

namespace fedmesh::cli {

struct DataCommand {
  std::string verb;  // get, put, ids, query, deltas, delete, status, resolve
  std::string node;  // a node name of the network, or an operator URL
  std::vector<std::string> args;
  std::string view;   // get: resolved | lossless
  int expand = 0;     // get
  std::string since;  // deltas: creator/collection:seq,...
  long long limit = 0;
  std::string network = ".";
};

int data_command(const DataCommand& c);

}  // namespace fedmesh::cli
