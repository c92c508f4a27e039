// Address, prefix and endpoint text forms, including the ones HAProxy's bind and server take.
#include "postern/config/address.hpp"

#include <gtest/gtest.h>

#include "config_test_util.hpp"
#include "host_port.hpp"

namespace postern::config {
namespace {

using testing::ip;

TEST(Endpoint, ParsesIpv4WithPort) {
  const auto e = Endpoint::parse("1.2.3.4:143");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->address.family, Family::kIpv4);
  EXPECT_EQ(e->address.v4_host_order(), 0x01020304U);
  EXPECT_EQ(e->port, 143);
}

TEST(Endpoint, ParsesBracketedIpv6) {
  const auto e = Endpoint::parse("[2001:db8::1]:143");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->address, ip("2001:db8::1"));
  EXPECT_EQ(e->port, 143);
}

TEST(Endpoint, TakesThePortAfterTheLastColonOfABareIpv6AsHaproxyDoes) {
  const auto e = Endpoint::parse("2001:db8::1:143");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->address, ip("2001:db8::1"));
  EXPECT_EQ(e->port, 143);
}

TEST(Endpoint, ReadsStarAndEmptyHostAsIpv4Any) {
  for (const char* text : {"*:143", ":143", "0.0.0.0:143"}) {
    const auto e = Endpoint::parse(text);
    ASSERT_TRUE(e) << text;
    EXPECT_EQ(e->address.family, Family::kIpv4) << text;
    EXPECT_TRUE(e->address.is_any()) << text;
    EXPECT_EQ(e->port, 143) << text;
  }
}

TEST(Endpoint, ReadsTripleColonAsIpv6Any) {
  const auto e = Endpoint::parse(":::143");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->address.family, Family::kIpv6);
  EXPECT_TRUE(e->address.is_any());
  EXPECT_EQ(e->port, 143);
}

TEST(Endpoint, AcceptsHaproxyFamilyPrefixes) {
  EXPECT_EQ(Endpoint::parse("ipv4@1.2.3.4:25")->port, 25);
  EXPECT_EQ(Endpoint::parse("ipv6@2001:db8::1:25")->address, ip("2001:db8::1"));
  EXPECT_EQ(Endpoint::parse("ipv6@:25")->address.family, Family::kIpv6);
  EXPECT_FALSE(Endpoint::parse("ipv4@2001:db8::1:25"));
  EXPECT_FALSE(Endpoint::parse("unix@/run/x.sock"));
}

TEST(Endpoint, RejectsMissingPortBadPortAndGarbage) {
  for (const char* text : {"1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:x", "", "[::1",
                           "1.2.3.4.5:1", "/run/postern.sock"}) {
    EXPECT_FALSE(Endpoint::parse(text)) << text;
  }
}

TEST(Endpoint, PrintsIpv6InBracketsSoItParsesBack) {
  const Endpoint v6{ip("2001:db8::1"), 143};
  EXPECT_EQ(v6.to_string(), "[2001:db8::1]:143");
  EXPECT_EQ(*Endpoint::parse(v6.to_string()), v6);
  const Endpoint v4{ip("10.0.0.1"), 25};
  EXPECT_EQ(v4.to_string(), "10.0.0.1:25");
}

TEST(HostPort, RejectsPortRanges) {
  const auto r = parse_host_port(":25-30", PortRule::kRequired);
  EXPECT_FALSE(r.value);
  EXPECT_NE(r.error.find("port ranges are not supported"), std::string::npos) << r.error;
}

TEST(HostPort, RejectsPortOffsets) {
  const auto r = parse_host_port("10.0.0.1:+1000", PortRule::kOptional);
  EXPECT_FALSE(r.value);
  EXPECT_NE(r.error.find("port offset"), std::string::npos) << r.error;
}

TEST(HostPort, AllowsAServerWithoutPort) {
  for (const char* text : {"10.0.0.1", "10.0.0.1:", "[2001:db8::1]"}) {
    const auto r = parse_host_port(text, PortRule::kOptional);
    ASSERT_TRUE(r.value) << text << ": " << r.error;
    EXPECT_FALSE(r.value->port) << text;
  }
}

TEST(HostPort, ExplainsTheLastColonRuleForABareIpv6WithoutPort) {
  const auto r = parse_host_port("2001:db8::1", PortRule::kOptional);
  EXPECT_FALSE(r.value);
  EXPECT_NE(r.error.find("IPv6 address without a port"), std::string::npos) << r.error;
  EXPECT_NE(r.hint.find("[2001:db8::1]"), std::string::npos) << r.hint;
}

TEST(HostPort, RejectsHostNamesWithAHint) {
  const auto r = parse_host_port("mail.example.org:143", PortRule::kRequired);
  EXPECT_FALSE(r.value);
  EXPECT_NE(r.error.find("host name 'mail.example.org'"), std::string::npos) << r.error;
  EXPECT_EQ(r.hint, "use an IP address");
}

TEST(IpAddress, ConvertsHostOrderBothWays) {
  const IpAddress a = IpAddress::v4(0xC6120001U);
  EXPECT_EQ(a.to_string(), "198.18.0.1");
  EXPECT_EQ(a.v4_host_order(), 0xC6120001U);
  EXPECT_EQ(a, ip("198.18.0.1"));
}

TEST(IpAddress, KnowsTheAnyAddresses) {
  EXPECT_TRUE(ip("0.0.0.0").is_any());
  EXPECT_TRUE(ip("::").is_any());
  EXPECT_FALSE(ip("0.0.0.1").is_any());
  EXPECT_FALSE(IpAddress::parse("1.2.3"));
}

TEST(IpPrefix, ParsesChecksMembershipAndPrints) {
  const auto p = IpPrefix::parse("198.18.0.1/24");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->length, 24);
  EXPECT_TRUE(p->contains(ip("198.18.0.254")));
  EXPECT_FALSE(p->contains(ip("198.19.0.1")));
  EXPECT_FALSE(p->contains(ip("::1")));
  EXPECT_EQ(p->to_string(), "198.18.0.1/24");

  const auto odd = IpPrefix::parse("10.0.0.0/9");
  ASSERT_TRUE(odd);
  EXPECT_TRUE(odd->contains(ip("10.127.255.255")));
  EXPECT_FALSE(odd->contains(ip("10.128.0.0")));

  EXPECT_EQ(IpPrefix::parse("10.0.0.1")->length, 32);
  EXPECT_EQ(IpPrefix::parse("2001:db8::/64")->length, 64);
  EXPECT_TRUE(IpPrefix::parse("0.0.0.0/0")->contains(ip("8.8.8.8")));
  EXPECT_FALSE(IpPrefix::parse("10.0.0.0/33"));
  EXPECT_FALSE(IpPrefix::parse("10.0.0.0/"));
  EXPECT_FALSE(IpPrefix::parse("10.0.0.0/a"));
}

}  // namespace
}  // namespace postern::config
