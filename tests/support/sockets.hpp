// Raw loopback sockets for tests that speak below HTTP (hostile clients, the fault
// proxy, the hostile peer). Defined in harness.cpp.
#pragma once

namespace fedmesh::testing {

// A blocking TCP connection to 127.0.0.1:port (close-on-exec); -1 when refused.
int connect_loopback(int port);
// A listening socket on 127.0.0.1:port (0: any free port), SO_REUSEADDR; -1 on failure.
// `bound` receives the port actually bound.
int listen_loopback(int port, int backlog, int* bound = nullptr);

}  // namespace fedmesh::testing
