// libFuzzer target for the PROXY v1/v2 decoders (dataplane/proxy/), what `bind accept-proxy`
// runs on the first bytes a client sends. Beyond "no crash, no UB", it checks the promises
// proxy_protocol.hpp makes: a header never claims more bytes than it was given or than the
// version allows, a unique ID points inside the header, and a decoded address re-encodes.
#include <cstdint>
#include <cstdlib>

#include "proxy/proxy_decode.hpp"

namespace proxy = postern::dataplane::proxy;

namespace {

void check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

void check_result(const proxy::DecodeResult& r, const uint8_t* data, size_t len) {
  if (!r.ok()) {
    check(r.consumed == 0);
    return;
  }
  check(r.consumed > 0 && r.consumed <= len);
  check(r.version == 1 || r.version == 2);
  check(r.consumed <= (r.version == 1 ? proxy::kV1MaxLen : proxy::kV2MaxLen));
  // An empty UNIQUE_ID TLV is present with length 0, as HAProxy accepts it (spec 2.2.5 only
  // caps the length), so only "a length needs a pointer" holds, not the converse.
  if (r.unique_id != nullptr) {
    check(r.version == 2);
    check(r.unique_id_len <= proxy::kUniqueIdMaxLen);
    check(r.unique_id >= data + proxy::kV2FixedLen &&
          r.unique_id + r.unique_id_len <= data + r.consumed);
  } else {
    check(r.unique_id_len == 0);
  }
}

// A decoded address block written back out by our own encoder decodes to the same block.
void check_round_trip(const proxy::DecodeResult& r) {
  if (!r.ok() || r.addresses.family == proxy::Family::kUnspec) {
    return;
  }
  uint8_t v1[proxy::kV1MaxLen];
  const size_t n1 = proxy::encode_v1(r.addresses, v1, sizeof(v1));
  check(n1 > 0);
  const proxy::DecodeResult again1 = proxy::decode_v1(v1, n1);
  check(again1.ok() && again1.consumed == n1 && again1.addresses == r.addresses);

  uint8_t v2[proxy::kV2MaxLen];
  const proxy::V2Options options{};
  const size_t n2 = proxy::encode_v2(r.addresses, options, v2, sizeof(v2));
  check(n2 > 0);
  const proxy::DecodeResult again2 = proxy::decode_v2(v2, n2);
  check(again2.ok() && again2.consumed == n2 && again2.addresses == r.addresses);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const proxy::DecodeResult any = proxy::decode(data, size);
  check_result(any, data, size);
  check_round_trip(any);
  check_result(proxy::decode_v1(data, size), data, size);
  check_result(proxy::decode_v2(data, size), data, size);
  if (any.ok()) {
    // The header alone decodes the same, and one byte less is only a valid prefix: a decoder
    // must not look past its header nor accept a cut one.
    const proxy::DecodeResult exact = proxy::decode(data, any.consumed);
    check(exact.ok() && exact.consumed == any.consumed && exact.addresses == any.addresses);
    check(proxy::decode(data, any.consumed - 1).status == proxy::DecodeStatus::kNeedMore);
  }
  return 0;
}
