// Fuzz target: the hello a peer sends on POST /fed/v1/hello (and answers with), through
// federation::decode_hello; a hello that decodes is encoded again as the answer would be.
#include "core/json.hpp"
#include "federation/hello.hpp"
#include "fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fedmesh;
  if (size > fuzz::kMaxInput) return 0;
  auto hello = federation::decode_hello(fuzz::as_text(data, size));
  if (hello) (void)dump_json(hello->to_json());
  return 0;
}
