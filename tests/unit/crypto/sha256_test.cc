// SHA-256 (FIPS 180 examples), HMAC-SHA256 (RFC 4231), HKDF-SHA256 (RFC 5869) and the
// discv5 handshake key derivation (ECDH secret -> HKDF -> initiator-key || recipient-key).
#include "discplane/crypto/sha256.h"

#include <catch2/catch.hpp>

#include "discplane/crypto/random.h"
#include "discplane/crypto/secp256k1.h"

#include "test_util.h"

using namespace discplane;
using namespace discplane::crypto;
using discplane::crypto_test::hex;
using discplane::crypto_test::hex_array;
using discplane::crypto_test::load_vectors;
using discplane::crypto_test::text;

TEST_CASE("sha256 known answers and incremental form", "[crypto][sha256]") {
  CHECK(to_hex(sha256(ByteView{})) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(to_hex(sha256(as_bytes("abc"))) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(to_hex(sha256(as_bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

  DeterministicRandom rng(5);
  Bytes data(700);
  rng.fill(data);
  Sha256 h;
  for (std::size_t n : {0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 700}) {
    std::size_t off = 0;
    while (off < n) {
      const std::size_t piece = std::min<std::size_t>(n - off, 1 + rng.next_u64() % 70);
      h.update(ByteView(data.data() + off, piece));
      off += piece;
    }
    INFO("length " << n);
    CHECK(h.finish() == sha256(ByteView(data.data(), n)));  // finish() also resets
  }
}

TEST_CASE("HMAC-SHA256 RFC 4231 test cases", "[crypto][sha256]") {
  struct Case {
    Bytes key;
    Bytes data;
    const char* mac;
  };
  const Bytes big_key(131, 0xaa);
  const std::vector<Case> cases = {
      {Bytes(20, 0x0b), hex_or_die("4869205468657265"),  // "Hi There"
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {hex_or_die("4a656665"), text("what do ya want for nothing?"),
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {Bytes(20, 0xaa), Bytes(50, 0xdd),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {hex_or_die("0102030405060708090a0b0c0d0e0f10111213141516171819"), Bytes(50, 0xcd),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {big_key,
       hex_or_die("54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a65204b6579"
                  "202d2048617368204b6579204669727374"),
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {big_key,
       hex_or_die("5468697320697320612074657374207573696e672061206c6172676572207468616e20626c"
                  "6f636b2d73697a65206b657920616e642061206c6172676572207468616e20626c6f636b2d"
                  "73697a6520646174612e20546865206b6579206e6565647320746f20626520686173686564"
                  "206265666f7265206265696e6720757365642062792074686520484d414320616c676f7269"
                  "74686d2e"),
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    INFO("case " << i);
    CHECK(to_hex(hmac_sha256(cases[i].key, cases[i].data)) == cases[i].mac);
  }
  // A key of exactly one block is used as is; one byte more gets hashed first.
  const Bytes k64(64, 0x11);
  const Bytes k65(65, 0x11);
  const Hash256 k65_hashed = sha256(k65);
  CHECK(hmac_sha256(k65, as_bytes("m")) == hmac_sha256(k65_hashed, as_bytes("m")));
  CHECK(hmac_sha256(k64, as_bytes("m")) != hmac_sha256(sha256(k64), as_bytes("m")));
}

TEST_CASE("HKDF-SHA256 RFC 5869 test cases 1 and 3", "[crypto][sha256]") {
  const Bytes ikm(22, 0x0b);
  Bytes okm(42);
  hkdf_sha256(hex_or_die("000102030405060708090a0b0c"), ikm, hex_or_die("f0f1f2f3f4f5f6f7f8f9"),
              okm);
  CHECK(to_hex(okm) ==
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  // Test case 3: empty salt and info.
  hkdf_sha256({}, ikm, {}, okm);
  CHECK(to_hex(okm) ==
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
  // A shorter output is a prefix of a longer one; the maximum length works.
  Bytes short_okm(20);
  hkdf_sha256({}, ikm, {}, short_okm);
  CHECK(equal(short_okm, ByteView(okm).first(20)));
  Bytes max_okm(255 * 32);
  hkdf_sha256(as_bytes("salt"), ikm, as_bytes("info"), max_okm);
  Bytes first(32);
  hkdf_sha256(as_bytes("salt"), ikm, as_bytes("info"), first);
  CHECK(equal(ByteView(max_okm).first(32), first));
  CHECK_FALSE(equal(ByteView(max_okm).subspan(32, 32), first));
}

TEST_CASE("discv5 key derivation vector", "[crypto][sha256][secp256k1]") {
  const auto v5 = load_vectors("discv5.json");
  const auto& v = v5["crypto_primitives"]["key_derivation"];
  const auto dest = parse_public_key(hex(v["inputs"]["dest_pubkey_compressed_hex"]));
  REQUIRE(dest);
  const auto secret = ecdh(*dest, hex_array<32>(v["inputs"]["ephemeral_key_hex"]));
  REQUIRE(secret);
  CHECK(equal(*secret, hex(v["derived_intermediates"]["ecdh_shared_secret_33_hex"])));

  Bytes info = text("discovery v5 key agreement");
  const Bytes id_a = hex(v["inputs"]["node_id_a_initiator_hex"]);
  const Bytes id_b = hex(v["inputs"]["node_id_b_recipient_hex"]);
  info.insert(info.end(), id_a.begin(), id_a.end());
  info.insert(info.end(), id_b.begin(), id_b.end());
  CHECK(equal(info, hex(v["derived_intermediates"]["kdf_info_hex"])));

  const Bytes challenge = hex(v["inputs"]["challenge_data_hex"]);
  CHECK(equal(hmac_sha256(challenge, *secret), hex(v["derived_intermediates"]["hkdf_prk_hex"])));
  ByteArray<32> keys;
  hkdf_sha256(challenge, *secret, info, keys);
  CHECK(equal(ByteView(keys).first(16), hex(v["expected"]["initiator_key_hex"])));
  CHECK(equal(ByteView(keys).subspan(16), hex(v["expected"]["recipient_key_hex"])));
}
