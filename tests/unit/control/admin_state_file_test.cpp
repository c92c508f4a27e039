// The state file: replaced atomically (a reader never sees a part of it, nothing is left
// behind), written at once when a state changes and at most once a second for counters.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "postern/control/admin_state.hpp"

namespace postern::control::admin {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "postern-state-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(AtomicWrite, ReplacesTheFileAndLeavesNothingBehind) {
  TempDir dir;
  const std::string path = (dir.path() / "state.json").string();
  std::string error;
  ASSERT_TRUE(write_file_atomically(path, "first\n", error)) << error;
  ASSERT_TRUE(write_file_atomically(path, "second\n", error)) << error;
  EXPECT_EQ(read(path), "second\n");
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) {
    ++files;
  }
  EXPECT_EQ(files, 1U);
  // Readable by the monitoring user, not only by root.
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::others_read, fs::perms::others_read);
}

TEST(AtomicWrite, SaysWhyItCannotWrite) {
  TempDir dir;
  std::string error;
  EXPECT_FALSE(write_file_atomically((dir.path() / "no/such/dir/state.json").string(), "x", error));
  EXPECT_NE(error.find("no/such/dir/state.json.tmp"), std::string::npos) << error;
}

// A reader polling the file while it is rewritten with documents of very different sizes sees
// one whole document every time, never a mix or a truncated one.
TEST(AtomicWrite, AReaderNeverSeesAPartialFile) {
  TempDir dir;
  const std::string path = (dir.path() / "state.json").string();
  const std::string small = "{\"n\": \"" + std::string(10, 'a') + "\"}\n";
  const std::string large = "{\"n\": \"" + std::string(256 * 1024, 'b') + "\"}\n";
  std::string error;
  ASSERT_TRUE(write_file_atomically(path, small, error)) << error;
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::atomic<int> torn{0};
  std::thread reader([&] {
    while (!done.load()) {
      const std::string text = read(path);
      if (text != small && text != large) {
        ++torn;
      }
      ++reads;
    }
  });
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(write_file_atomically(path, i % 2 == 0 ? large : small, error)) << error;
  }
  // Let the reader see the last version at least once more.
  const int seen = reads.load();
  while (reads.load() < seen + 2) {
    std::this_thread::yield();
  }
  done = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0) << "of " << reads.load() << " reads";
  EXPECT_GT(reads.load(), 10);
}

// An Operator whose view and sample the test sets.
class FakeOperator final : public Operator {
 public:
  FakeOperator() {
    auto v = std::make_shared<AdminView>();
    v->node = "lb1";
    ListenerView l;
    l.name = "imap4";
    l.servers = {0};
    v->listeners.push_back(l);
    ServerView s;
    s.listener = "imap4";
    s.server = "dc1";
    s.name = "imap4/dc1";
    s.address = "198.19.0.10";
    s.port = 143;
    s.health.checked = true;
    s.health.health = s.health.rise + s.health.fall - 1;  // fully UP
    v->servers.push_back(s);
    view_ = v;
    sample_.server_active = {0};
    sample_.server_total = {0};
    sample_.listener_active = {0};
  }
  std::shared_ptr<const AdminView> view() const override {
    std::lock_guard lock(mu_);
    return view_;
  }
  Sample sample() const override {
    std::lock_guard lock(mu_);
    return sample_;
  }
  bool set_admin(std::uint16_t, AdminState, std::string&) override { return false; }
  bool set_weight(std::uint16_t, std::uint32_t, std::string&) override { return false; }
  bool reload(std::string&) override { return false; }

  void server_up(bool up) {
    std::lock_guard lock(mu_);
    auto v = std::make_shared<AdminView>(*view_);
    v->servers[0].health.up = up;
    v->servers[0].health.health =
        up ? v->servers[0].health.rise + v->servers[0].health.fall - 1 : 0;
    view_ = v;
  }
  void connections(std::uint64_t total) {
    std::lock_guard lock(mu_);
    sample_.server_total = {total};
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const AdminView> view_;
  Sample sample_;
};

// Polls the file until `field` of the server reads `want`; how long it took, or -1 ms.
std::chrono::milliseconds until(const std::string& path, const char* field,
                                const nlohmann::json& want, std::chrono::milliseconds limit) {
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < limit) {
    const auto doc = nlohmann::json::parse(read(path), nullptr, false);
    if (doc.is_object() && doc["servers"][0][field] == want) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
    }
    std::this_thread::sleep_for(5ms);
  }
  return -1ms;
}

TEST(StateFileWriter, WritesAChangeOfStateAtOnceAndCountersOnceASecond) {
  TempDir dir;
  const std::string path = (dir.path() / "state.json").string();
  FakeOperator op;
  StateFileWriter writer(op, nullptr);
  writer.set_path(path);
  ASSERT_GE(until(path, "status", "UP", 2s), 0ms);

  // Counters alone: not before a second has passed since the last write.
  op.connections(5);
  writer.view_changed();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(nlohmann::json::parse(read(path))["servers"][0]["total"], 0);
  const auto counted = until(path, "total", 5, 2s);
  EXPECT_GE(counted, 0ms) << "counters never written";

  // A server going DOWN: written as soon as the writer hears of the new view.
  op.server_up(false);
  writer.view_changed();
  const auto down = until(path, "status", "DOWN", 2s);
  EXPECT_GE(down, 0ms);
  // Counters alone would wait for the second after the last write; a change does not.
  EXPECT_LT(down, 700ms);

  // The last write at stop carries the final counters whatever the second.
  op.connections(9);
  writer.stop_and_write();
  EXPECT_EQ(nlohmann::json::parse(read(path))["servers"][0]["total"], 9);
}

TEST(StateFileWriter, LogsAFailureOnceAndWritesWhenItCan) {
  TempDir dir;
  const fs::path sub = dir.path() / "later";
  const std::string path = (sub / "state.json").string();
  FakeOperator op;
  std::mutex mu;
  std::vector<std::string> logged;
  StateFileWriter writer(op, [&](const std::string& line) {
    std::lock_guard lock(mu);
    logged.push_back(line);
  });
  writer.set_path(path);
  std::this_thread::sleep_for(2500ms);  // two or three attempts
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(logged.size(), 1U);
    EXPECT_NE(logged[0].find("state file: cannot create"), std::string::npos) << logged[0];
  }
  fs::create_directory(sub);
  EXPECT_GE(until(path, "status", "UP", 3s), 0ms);
  writer.stop_and_write();
}

}  // namespace
}  // namespace postern::control::admin
