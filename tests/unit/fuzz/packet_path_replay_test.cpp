// Replays the packet-path fuzzer's inputs through its own target code (packet_path_fuzz.cpp,
// compiled here without libFuzzer): every regression input (a crash the fuzzer found, made
// self-contained) and every seed. A broken invariant aborts the binary naming the file, as it
// aborts the fuzzer; a sanitizer build (POSTERN_SANITIZE) adds ASan and UBSan.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv);
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace postern::test {
namespace {

namespace fs = std::filesystem;

fs::path source_dir() {
  const char* dir = std::getenv("POSTERN_SOURCE_DIR");
  return dir != nullptr ? dir : POSTERN_SOURCE_DIR_DEFAULT;
}

std::vector<fs::path> inputs(const char* rel) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(source_dir() / rel)) {
    if (e.is_regular_file()) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Runs each file; an invariant broken aborts the binary there.
void replay(const std::vector<fs::path>& files) {
  LLVMFuzzerInitialize(nullptr, nullptr);
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
    std::fprintf(stderr, "replaying %s (%zu bytes)\n", f.c_str(), bytes.size());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
}

TEST(PacketPathReplay, EveryRegressionInputRunsClean) {
  const auto files = inputs("tests/fuzz/regressions/packet_path");
  ASSERT_FALSE(files.empty());
  replay(files);
}

TEST(PacketPathReplay, EverySeedRunsClean) {
  const auto files = inputs("tests/fuzz/corpus/packet_path");
  ASSERT_FALSE(files.empty());
  replay(files);
}

}  // namespace
}  // namespace postern::test
