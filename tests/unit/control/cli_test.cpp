// The postern command line as an operator uses it: -c on real files, exit codes, the
// FILE:LINE text of diagnostics, and --dump-yaml round trips. Runs build/postern itself.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

struct Outcome {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};

std::string binary() {
  const char* dir = std::getenv("POSTERN_BINARY_DIR");
  return std::string(dir != nullptr ? dir : POSTERN_BINARY_DIR_DEFAULT) + "/postern";
}

std::string source(const std::string& rel) {
  const char* dir = std::getenv("POSTERN_SOURCE_DIR");
  return std::string(dir != nullptr ? dir : POSTERN_SOURCE_DIR_DEFAULT) + "/" + rel;
}

Outcome run(const std::string& args, bool with_stderr = true) {
  Outcome r;
  const std::string cmd = binary() + " " + args + (with_stderr ? " 2>&1" : " 2>/dev/null");
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    return r;
  }
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) {
    r.out.append(buf.data(), n);
  }
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string temp_file(const std::string& name, const std::string& text) {
  const auto dir = std::filesystem::temp_directory_path() / "postern-cli-test";
  std::filesystem::create_directories(dir);
  const auto path = dir / name;
  std::ofstream(path) << text;
  return path.string();
}

std::string read(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(Cli, PalomarSampleChecksValid) {
  const Outcome r = run("-c -f " + source("examples/palomar-haproxy.cfg"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("Configuration file is valid"), std::string::npos);
  // HAProxy's own warnings for the HTTP-only timeouts, with their lines.
  EXPECT_NE(r.out.find("palomar-haproxy.cfg:14: warning:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("palomar-haproxy.cfg:19: warning:"), std::string::npos) << r.out;
}

TEST(Cli, MisspeltBalanceNamesItsLineAndSuggests) {
  std::string text = read(source("examples/palomar-haproxy.cfg"));
  // Line 37 is the pop3 listener's `balance roundrobin`.
  std::istringstream in(text);
  std::string line;
  std::string out;
  for (int n = 1; std::getline(in, line); ++n) {
    out += (n == 37 ? std::string("balance roundrobinx") : line) + "\n";
  }
  ASSERT_NE(text.find("balance roundrobin"), std::string::npos);
  const std::string path = temp_file("bad.cfg", out);
  const Outcome r = run("-c -f " + path);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("bad.cfg:37: error:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("did you mean 'roundrobin'?"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Configuration file is valid"), std::string::npos);
}

TEST(Cli, DumpYamlChecksAndDumpsAgainIdentically) {
  const Outcome first = run("--dump-yaml -f " + source("examples/palomar-haproxy.cfg"), false);
  ASSERT_EQ(first.exit_code, 0);
  const std::string path = temp_file("dump.yaml", first.out);
  EXPECT_EQ(run("-c -q -f " + path).exit_code, 0);
  const Outcome second = run("--dump-yaml -f " + path, false);
  ASSERT_EQ(second.exit_code, 0);
  EXPECT_EQ(first.out, second.out);
  EXPECT_NE(first.out.find("name: submission"), std::string::npos);
}

TEST(Cli, DataplaneRefusalsAreCheckErrors) {
  const std::string yaml = temp_file("dp.yaml", R"(dataplane:
  interfaces:
    - name: client
      device: net_null0
      address: 198.18.0.1/24
  vips: [198.18.0.100]
  source_addresses: [198.18.0.1]
)");
  const std::string cfg = temp_file("far.cfg", R"(defaults
mode tcp
timeout connect 5s
timeout client 1m
timeout server 1m
listen imap
bind 0.0.0.0:143
server far 203.0.113.9:143
)");
  const Outcome r = run("-c -f " + yaml + " -f " + cfg);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("far.cfg:8: error:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no route"), std::string::npos) << r.out;
}

TEST(Cli, MissingFileAndNoFileAreErrors) {
  EXPECT_EQ(run("-c -f /nonexistent/postern.cfg").exit_code, 1);
  const Outcome r = run("-c");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("-f FILE"), std::string::npos);
}

TEST(Cli, DirectoryLoadsItsFilesInOrder) {
  const auto dir = std::filesystem::temp_directory_path() / "postern-cli-test" / "conf.d";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "10-defaults.cfg") << "defaults\nmode tcp\ntimeout connect 5s\n"
                                            "timeout client 1m\ntimeout server 1m\n";
  std::ofstream(dir / "20-imap.cfg") << "listen imap\nbind 0.0.0.0:143\n"
                                        "server a 192.0.2.1:143\n";
  const Outcome r = run("--dump-yaml -f " + dir.string(), false);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("connect: 5s"), std::string::npos) << r.out;
}

// haproxy.cfg has no `defense:`: a YAML file beside it carries the section, which -c checks
// and --dump-yaml prints.
TEST(Cli, DefenseBesideAnHaproxyCfgIsCheckedAndDumped) {
  const std::string cfg = source("examples/palomar-haproxy.cfg");
  const std::string good =
      temp_file("defense.yaml", "defense:\n  refuse: drop\n  mbuf_reserve: 20\n");
  const Outcome dump = run("--dump-yaml -f " + cfg + " -f " + good, false);
  ASSERT_EQ(dump.exit_code, 0);
  EXPECT_NE(dump.out.find("defense:\n  syn_proxy: auto\n"), std::string::npos) << dump.out;
  EXPECT_NE(dump.out.find("  refuse: drop\n  mbuf_reserve: 20\n"), std::string::npos) << dump.out;

  const std::string bad =
      temp_file("bad-defense.yaml", "defense:\n  refuse: drop\n  mbuf_reserve: 80\n");
  const Outcome r = run("-c -f " + cfg + " -f " + bad);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("bad-defense.yaml:3:17: error: 'mbuf_reserve' must be between 0 and 50"),
            std::string::npos)
      << r.out;
}

}  // namespace
