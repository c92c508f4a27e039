// load_files: reading, dispatch by extension, merging several files in order, validation.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config_test_util.hpp"

namespace postern::config {
namespace {

using testing::all_text;
using testing::has_diagnostic;
using testing::lines;

class LoadFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ =
        std::filesystem::path(::testing::TempDir()) / (std::string("postern_load_") + info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const std::filesystem::path path = dir_ / name;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.string();
  }

  std::filesystem::path dir_;
};

constexpr std::string_view kTimeouts =
    "defaults\ntimeout connect 5s\ntimeout client 1m\ntimeout server 1m\n";

TEST_F(LoadFiles, NamesAFileThatCannotBeRead) {
  Diagnostics diags;
  const std::string missing = (dir_ / "absent.cfg").string();
  load_files({missing}, diags);
  EXPECT_TRUE(has_diagnostic(diags, missing + ": error: cannot open file: No such file or "
                                              "directory"));
}

TEST_F(LoadFiles, ReadsHaproxySyntaxAndYamlByExtension) {
  const std::string cfg =
      write("a.cfg", std::string(kTimeouts) + "listen imap\nbind :143\nserver s 10.0.0.1:143\n");
  const std::string yml =
      write("b.yml", lines({"listeners:", "  - name: pop3", "    binds: [\":110\"]",
                            "    timeouts: {connect: 1s, client: 1s, server: 1s}",
                            "    servers: [{name: s, address: 10.0.0.1:110}]"}));
  Diagnostics diags;
  const Config c = load_files({cfg, yml}, diags);
  EXPECT_TRUE(testing::clean(diags));
  ASSERT_EQ(c.listeners.size(), 2U);
  EXPECT_EQ(c.listeners[0].name, "imap");
  EXPECT_EQ(c.listeners[1].name, "pop3");
  EXPECT_EQ(c.listeners[1].origin.file, yml);
}

TEST_F(LoadFiles, MergesFilesInOrderLaterGlobalValuesWinning) {
  const std::string a =
      write("a.cfg", std::string("global\nmaxconn 100\n") + std::string(kTimeouts) +
                         "listen imap\nbind :143\nserver s 10.0.0.1:143\n");
  const std::string b = write("b.yaml", lines({"global: {maxconn: 200}",
                                               "listeners: [{name: lmtp, binds: [\":24\"], "
                                               "timeouts: {connect: 1s, client: 1s, server: "
                                               "1s}, servers: [{name: s, address: "
                                               "10.0.0.1:24}]}]"}));
  Diagnostics diags;
  const Config c = load_files({a, b}, diags);
  EXPECT_TRUE(testing::clean(diags));
  EXPECT_EQ(c.global.maxconn, 200U);
  ASSERT_EQ(c.listeners.size(), 2U);
  EXPECT_EQ(c.listeners[1].name, "lmtp");
}

TEST_F(LoadFiles, CarriesHaproxyDefaultsIntoLaterFiles) {
  const std::string a = write("a.cfg", std::string(kTimeouts) + "maxconn 777\n");
  const std::string b = write("b.cfg", "listen imap\nbind :143\nserver s 10.0.0.1:143\n");
  Diagnostics diags;
  const Config c = load_files({a, b}, diags);
  EXPECT_TRUE(testing::clean(diags));
  EXPECT_EQ(c.listeners.at(0).maxconn, 777U);
}

TEST_F(LoadFiles, ValidatesTheMergedModel) {
  const std::string a =
      write("a.cfg", std::string(kTimeouts) + "listen imap\nbind :143\nserver s 10.0.0.1:143\n");
  const std::string b =
      write("b.yaml", lines({"listeners:", "  - name: imap", "    binds: [\":993\"]"}));
  Diagnostics diags;
  load_files({a, b}, diags);
  EXPECT_TRUE(has_diagnostic(diags, b +
                                        ":2:5: error: listener 'imap' has the same name as the "
                                        "listener declared at " +
                                        a + ":5"));
}

TEST_F(LoadFiles, RejectsAProxyNameReusedInALaterHaproxyFile) {
  const std::string a =
      write("a.cfg", std::string(kTimeouts) + "listen imap\nbind :143\nserver s 10.0.0.1:143\n");
  const std::string b = write("b.cfg", "listen imap\nbind :993\nserver s 10.0.0.1:993\n");
  Diagnostics diags;
  load_files({a, b}, diags);
  EXPECT_TRUE(has_diagnostic(diags, b +
                                        ":1: error: listen 'imap' has the same name as listen "
                                        "'imap' declared at " +
                                        a + ":5"));
}

TEST_F(LoadFiles, ReadsADirectoryInLexicalOrder) {
  write("conf.d/20-imap.cfg", "listen imap\nbind :143\nserver s 10.0.0.1:143\n");
  write("conf.d/10-defaults.cfg", std::string(kTimeouts));
  write("conf.d/README", "not a config file");
  Diagnostics diags;
  const Config c = load_files({(dir_ / "conf.d").string()}, diags);
  EXPECT_TRUE(testing::clean(diags)) << all_text(diags);
  ASSERT_EQ(c.listeners.size(), 1U);
  EXPECT_EQ(c.listeners[0].timeouts.client, 60000);
}

TEST_F(LoadFiles, ReportsYamlErrorsWithTheFileName) {
  const std::string y = write("bad.yaml", "listeners: [\n");
  Diagnostics diags;
  load_files({y}, diags);
  EXPECT_TRUE(diags.has_errors());
  EXPECT_TRUE(has_diagnostic(diags, y + ":")) << all_text(diags);
}

}  // namespace
}  // namespace postern::config
