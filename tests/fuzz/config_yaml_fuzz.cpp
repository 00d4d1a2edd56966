// Fuzz target: a node config file in YAML, native or in Flotta's shape (a top-level `mode:`,
// `node:`, `datasources:` or `join:`), through config::load_config_text (config_target.hpp).
#include "fuzz/config_target.hpp"
#include "fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > fedmesh::fuzz::kMaxInput) return 0;
  fedmesh::fuzz::load_config(fedmesh::fuzz::as_text(data, size), fedmesh::config::Format::Yaml);
  return 0;
}
