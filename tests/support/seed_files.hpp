// The seed systems' own files, exactly as their docs print them, shared by the unit and
// integration tests that prove fedmesh takes them as written.
#pragma once

namespace fedmesh::testing {

// Fluence's [system_services] block as its pull request #1623 writes it (references:
// fluence-system-services-pr.txt): '-' in a service name is '_' in its table name, and the
// table of a service that is not enabled (decider) is a warning, not an error.
inline constexpr const char* kFluenceSystemServices = R"(
[system_services]
enable = [ 
    "aqua-ipfs",
     "registry"
]

[system_services.decider]
decider_period_sec = 1000
worker_period_sec = 123

[system_services.aqua_ipfs]
local_api_multiaddr = "/ip4/127.0.0.1/tcp/5001"
)";

}  // namespace fedmesh::testing
