// Keccak-256: known answers, our keccak-f[1600] against Crypto++ on many lengths, the
// incremental form against the one-shot form, and the hashes inside the discv4/ENR vectors.
#include "discplane/crypto/keccak.h"

#include <catch2/catch.hpp>

#include "discplane/crypto/random.h"

#include "test_util.h"

using namespace discplane;
using namespace discplane::crypto;
using discplane::crypto_test::hex;
using discplane::crypto_test::load_vectors;

TEST_CASE("keccak256 known answers", "[crypto][keccak]") {
  const auto empty = hex_or_die("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
  const auto abc = hex_or_die("4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
  for (auto fn :
       {&keccak256, &keccak256_portable, &keccak256_portable_baseline, &keccak256_cryptopp}) {
    CHECK(equal(fn(ByteView{}), empty));
    CHECK(equal(fn(as_bytes("abc")), abc));
  }
  // SHA3-256("") differs (padding 0x06): make sure we are not computing SHA3.
  CHECK_FALSE(
      equal(keccak256(ByteView{}),
            hex_or_die("a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a")));
}

TEST_CASE("own keccak-f[1600] matches Crypto++ on many lengths", "[crypto][keccak]") {
  DeterministicRandom rng(7);
  Bytes data(2000);
  rng.fill(data);
  // Every length around the rate boundaries (136, 272, 408) and then random ones.
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 420; ++n) {
    lengths.push_back(n);
  }
  for (int i = 0; i < 300; ++i) {
    lengths.push_back(static_cast<std::size_t>(rng.next_u64() % data.size()));
  }
  for (std::size_t n : lengths) {
    const ByteView v(data.data(), n);
    INFO("length " << n);
    REQUIRE(keccak256_portable(v) == keccak256_cryptopp(v));
    REQUIRE(keccak256_portable_baseline(v) == keccak256_cryptopp(v));
    REQUIRE(keccak256(v) == keccak256_cryptopp(v));
  }
  const std::string name = keccak_implementation_name();
  CHECK((name == "portable-bmi2" || name == "portable"));
}

TEST_CASE("incremental Keccak256 equals one-shot and resets after finish", "[crypto][keccak]") {
  DeterministicRandom rng(11);
  Bytes data(1300);
  rng.fill(data);
  Keccak256 h;
  for (int trial = 0; trial < 200; ++trial) {
    const std::size_t n = static_cast<std::size_t>(rng.next_u64() % data.size());
    std::size_t off = 0;
    while (off < n) {  // random piece sizes, including empty pieces
      const std::size_t piece = std::min<std::size_t>(n - off, rng.next_u64() % 150);
      h.update(ByteView(data.data() + off, piece));
      off += piece;
    }
    INFO("length " << n);
    REQUIRE(h.finish() == keccak256_cryptopp(ByteView(data.data(), n)));
  }
  // finish() left a fresh state behind.
  REQUIRE(h.finish() == keccak256(ByteView{}));
}

TEST_CASE("keccak256 reproduces the discv4 packet hashes and the ENR content hash",
          "[crypto][keccak]") {
  const auto v4 = load_vectors("discv4.json");
  int checked = 0;
  auto check_packet = [&](const Bytes& packet) {
    REQUIRE(packet.size() > 98);
    const Hash256 h = keccak256(ByteView(packet).subspan(32));
    CHECK(equal(h, ByteView(packet).first(32)));
    ++checked;
  };
  for (const auto& v : v4["vectors"]) {
    check_packet(hex(v["packet_hex"]));
  }
  for (const auto& v : v4["derived_vectors"]["vectors"]) {
    check_packet(hex(v["packet_hex"]));
  }
  CHECK(checked == 9);
  // A flipped byte changes the hash.
  Bytes p = hex(v4["vectors"][0]["packet_hex"]);
  p[100] ^= 1;
  CHECK_FALSE(equal(keccak256(ByteView(p).subspan(32)), ByteView(p).first(32)));

  const auto enr = load_vectors("enr.json");
  for (const char* rec : {"example_record_eip778", "discv5_vector_record_node_a"}) {
    const Bytes content = hex(enr[rec]["derived"]["content_rlp_hex_signed_part"]);
    CHECK(equal(keccak256(content), hex(enr[rec]["derived"]["content_keccak256_hex"])));
  }
}
