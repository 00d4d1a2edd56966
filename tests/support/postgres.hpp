// A private PostgreSQL server for tests: a data directory copied from a template that
// `initdb` makes once per machine (under a lock), started on a free loopback port as
// the `postgres` user when the tests run as root (PostgreSQL refuses root), with trust
// authentication and durability off (test data). Fast shutdown and removal on
// destruction. Nothing here is shared with a system PostgreSQL.
#pragma once

#include <memory>
#include <string>

#include "support/harness.hpp"

namespace fedmesh::testing {

class PostgresServer {
 public:
  // Starts the server; throws std::runtime_error saying what failed.
  PostgresServer();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const { return port_; }
  // Creates a fresh database and returns its URL.
  std::string create_database();
  std::string url(const std::string& database) const;
  // Runs one SQL statement with psql on `database`; returns psql's exit code.
  int psql(const std::string& database, const std::string& sql);

 private:
  std::string dir_;  // owned by the server's user
  int port_ = 0;
  int databases_ = 0;
  std::unique_ptr<Process> server_;
};

}  // namespace fedmesh::testing
