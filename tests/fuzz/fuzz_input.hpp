// What every fuzz target shares: the input as text, and the size past which a target
// skips it. Decoders bound their own input (often at 1 MiB or more), but past 64 KiB a
// fuzzer finds nothing new and runs far slower, so targets skip larger inputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fedmesh::fuzz {

constexpr std::size_t kMaxInput = 64 << 10;

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace fedmesh::fuzz
