// A minimal plain-HTTP server on loopback for tests that need the other side of a
// protocol fedmesh speaks outward (a Kodo v1 registry): it records every request and
// answers each with a fixed status and JSON body. One thread, one request per
// connection; stops and joins in the destructor.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fedmesh::testing {

struct RecordedRequest {
  std::string method;
  std::string target;
  std::string body;
};

class FakeHttpServer {
 public:
  explicit FakeHttpServer(int status = 200, std::string body = "{}");
  ~FakeHttpServer();
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<RecordedRequest> requests() const;

 private:
  void run();
  int status_;
  std::string body_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<RecordedRequest> requests_;
  std::thread thread_;
};

}  // namespace fedmesh::testing
