// The Palomar sample (examples/palomar-haproxy.cfg), an operator's real HAProxy file: it must
// load as is, give exactly the model below, and survive a trip through YAML unchanged.
#include <gtest/gtest.h>

#include <cstdlib>

#include "config_test_util.hpp"

namespace postern::config {
namespace {

using testing::all_text;
using testing::clean;
using testing::endpoint;
using testing::has_diagnostic;

std::string palomar_path() {
  const char* source = std::getenv("POSTERN_SOURCE_DIR");
  return std::string(source != nullptr ? source : ".") + "/examples/palomar-haproxy.cfg";
}

// What the file says, written out by hand: the defaults section applied to five listen
// sections, two servers each, in file order.
Config expected_palomar() {
  struct Service {
    const char* name;
    std::uint16_t port;
    bool accept_proxy;
  };
  static constexpr Service kServices[] = {{"lmtp", 24, false},
                                          {"pop3", 110, false},
                                          {"imap4", 143, false},
                                          {"sieve", 4190, false},
                                          {"submission", 587, true}};
  Config config;
  for (const Service& service : kServices) {
    Listener l;
    l.name = service.name;
    Bind bind;
    bind.endpoint = endpoint("0.0.0.0:" + std::to_string(service.port));
    bind.accept_proxy = service.accept_proxy;
    l.binds.push_back(bind);
    l.balance = Balance::kRoundRobin;
    l.timeouts.queue = 60000;
    l.timeouts.connect = 10000;
    l.timeouts.client = 60000;
    l.timeouts.server = 60000;
    l.timeouts.check = 10000;
    l.maxconn = 128000;
    l.retries = 3;
    l.dontlognull = true;
    LogTarget global_log;
    global_log.global = true;
    l.log.push_back(global_log);
    for (const auto& [name, host] : {std::pair{"hac-dc1-proxy2", "192.168.1.11"},
                                     std::pair{"hac-dc1-proxy1", "192.168.1.10"}}) {
      Server s;
      s.name = name;
      s.endpoint = endpoint(std::string(host) + ":" + std::to_string(service.port));
      s.check = true;
      s.send_proxy_v2 = true;
      l.servers.push_back(s);
    }
    config.listeners.push_back(l);
  }
  return config;
}

TEST(Palomar, LoadsWithNoErrorsAndExactlyTheTwoHttpTimeoutWarnings) {
  Diagnostics diags;
  const std::string path = palomar_path();
  load_files({path}, diags);
  EXPECT_EQ(diags.errors(), 0U) << all_text(diags);
  ASSERT_EQ(diags.warnings(), 2U) << all_text(diags);
  // Line 14 is `timeout http-request 10s`, line 19 `timeout http-keep-alive 10s`.
  EXPECT_EQ(format(diags.items()[0]),
            path +
                ":14: warning: 'timeout http-request' only matters in HTTP mode; Postern "
                "balances TCP and ignores it");
  EXPECT_EQ(format(diags.items()[1]),
            path +
                ":19: warning: 'timeout http-keep-alive' only matters in HTTP mode; "
                "Postern balances TCP and ignores it");
}

TEST(Palomar, GivesTheExpectedModel) {
  Diagnostics diags;
  const Config config = load_files({palomar_path()}, diags);
  const Config expected = expected_palomar();
  EXPECT_EQ(config, expected);

  // The same, field by field, so a failure says which one.
  ASSERT_EQ(config.listeners.size(), 5U);
  const char* names[] = {"lmtp", "pop3", "imap4", "sieve", "submission"};
  const std::uint16_t ports[] = {24, 110, 143, 4190, 587};
  for (std::size_t i = 0; i < 5; ++i) {
    const Listener& l = config.listeners[i];
    SCOPED_TRACE(l.name);
    EXPECT_EQ(l.name, names[i]);
    ASSERT_EQ(l.binds.size(), 1U);
    EXPECT_EQ(l.binds[0].endpoint.port, ports[i]);
    EXPECT_TRUE(l.binds[0].endpoint.address.is_any());
    EXPECT_EQ(l.binds[0].accept_proxy, i == 4);
    EXPECT_EQ(l.maxconn, 128000U);
    EXPECT_EQ(l.retries, 3U);
    EXPECT_EQ(l.timeouts.connect, 10000);
    EXPECT_EQ(l.timeouts.client, 60000);
    EXPECT_EQ(l.timeouts.server, 60000);
    EXPECT_EQ(l.timeouts.queue, 60000);
    EXPECT_EQ(l.timeouts.check, 10000);
    ASSERT_EQ(l.servers.size(), 2U);
    EXPECT_EQ(l.servers[0].name, "hac-dc1-proxy2");
    EXPECT_EQ(l.servers[0].endpoint->address.to_string(), "192.168.1.11");
    EXPECT_EQ(l.servers[1].name, "hac-dc1-proxy1");
    EXPECT_EQ(l.servers[1].endpoint->address.to_string(), "192.168.1.10");
    for (const Server& s : l.servers) {
      EXPECT_EQ(s.endpoint->port, ports[i]);
      EXPECT_TRUE(s.check);
      EXPECT_TRUE(s.send_proxy_v2);
    }
  }
  EXPECT_EQ(config.listeners[2].origin.line, 34);  // `listen imap4`
}

TEST(Palomar, DumpedToYamlReloadsToTheSameModel) {
  Diagnostics diags;
  const Config parsed = load_files({palomar_path()}, diags);
  const std::string dumped = to_yaml(parsed);
  Diagnostics yaml_diags;
  Config reloaded;
  parse_yaml(dumped, "palomar.yaml", reloaded, yaml_diags);
  EXPECT_TRUE(clean(yaml_diags)) << dumped;
  EXPECT_EQ(reloaded, parsed) << dumped;
  EXPECT_EQ(to_yaml(reloaded), dumped);
}

}  // namespace
}  // namespace postern::config
