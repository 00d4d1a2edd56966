// `fedmesh job submit|status|wait|cancel|list|clients NODE ...`: federated jobs from the shell,
// through an aggregator's operator API (docs/jobs.md); and `fedmesh join URL`, which
// makes a client's key, has the aggregator's CA sign its certificate for a token, and
// writes both beside the CA certificate. Each returns the process exit code: 0 on
// success, 1 when the node refused, could not be reached or the job failed, 2 for bad
// arguments.
#pragma once

#include <string>
#include <vector>

namespace fedmesh::cli {

struct JobCommand {
  std::string verb;  // submit, status, wait, cancel, list, clients
  std::string node;  // a node name of the network, or an operator URL
  std::string id;    // status, wait, cancel
  std::string project;
  std::string token;  // or FEDMESH_PROJECT_TOKEN
  std::string where;
  std::string operation;
  std::string file;  // submit: the whole artifact as a JSON file
  std::vector<std::string> datasources;
  bool wait = false;  // submit: then wait for the result
  int timeout = 600;  // wait: seconds
  std::string network = ".";
};

int job_command(const JobCommand& c);

struct JoinCommand {
  std::string url;  // the aggregator's join listener, https://host:port
  std::string name;
  std::string token;      // or FEDMESH_JOIN_TOKEN
  std::string ca_sha256;  // pins the aggregator's CA
  std::string out = "certs";
};

int join_command(const JoinCommand& c);

}  // namespace fedmesh::cli
