// The standalone driver of the g++ build: a main that runs a target's
// LLVMFuzzerTestOneInput over every file of the folders (recursively) and files named on
// its command line, the way libFuzzer replays a corpus, so that ctest checks each target
// against its checked-in corpus without clang. Each input is copied into a buffer of its
// exact size (an over-read is caught under ASan). It names each file on stderr before
// running it, so a crash names its input; no input at all is a failure (a corpus that went
// missing must not pass).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

namespace fs = std::filesystem;

bool collect(const fs::path& arg, std::vector<fs::path>& out) {
  std::error_code ec;
  if (fs::is_regular_file(arg, ec)) {
    out.push_back(arg);
    return true;
  }
  if (!fs::is_directory(arg, ec)) return false;
  for (auto it = fs::recursive_directory_iterator(arg, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec)) out.push_back(it->path());
  }
  return !ec;
}

bool read_all(const fs::path& path, std::vector<std::uint8_t>& bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    if (!collect(argv[i], files)) {
      std::fprintf(stderr, "%s: no such file or folder\n", argv[i]);
      return 2;
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE... (found no input)\n", argv[0]);
    return 2;
  }
  auto start = std::chrono::steady_clock::now();
  std::size_t bytes_total = 0;
  std::vector<std::uint8_t> bytes;
  for (const auto& file : files) {
    if (!read_all(file, bytes)) {
      std::fprintf(stderr, "%s: cannot read\n", file.c_str());
      return 2;
    }
    std::fprintf(stderr, "running %s (%zu bytes)\n", file.c_str(), bytes.size());
    std::vector<std::uint8_t> exact(bytes.begin(), bytes.end());  // exactly sized: over-reads show under ASan
    LLVMFuzzerTestOneInput(exact.data(), exact.size());
    bytes_total += bytes.size();
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  std::printf("%zu inputs (%zu bytes) in %lld ms\n", files.size(), bytes_total, static_cast<long long>(ms));
  return 0;
}
