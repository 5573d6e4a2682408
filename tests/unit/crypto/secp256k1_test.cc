// secp256k1: key derivation and node ids from the ENR/discv4/discv5 vectors, RFC6979
// signatures reproduced exactly, discv4 signature recovery, the discv5 id-signature and ECDH
// vectors, and every rejection path (invalid keys, malformed and high-s signatures).
#include "discplane/crypto/secp256k1.h"

#include <set>

#include <catch2/catch.hpp>

#include "discplane/crypto/keccak.h"
#include "discplane/crypto/random.h"
#include "discplane/crypto/sha256.h"

#include "test_util.h"

using namespace discplane;
using namespace discplane::crypto;
using discplane::crypto_test::hex;
using discplane::crypto_test::hex_array;
using discplane::crypto_test::load_vectors;

namespace {

const Bytes kOrder = hex_or_die("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");

// a - b for 32-byte big-endian numbers (a >= b).
ByteArray<32> sub256(ByteView a, ByteView b) {
  ByteArray<32> out{};
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    int d = a[i] - b[i] - borrow;
    borrow = d < 0;
    out[i] = static_cast<std::uint8_t>(d + (borrow ? 256 : 0));
  }
  return out;
}

bool is_low_s(ByteView s32) {  // s <= n / 2
  const Bytes half = hex_or_die("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0");
  return std::memcmp(s32.data(), half.data(), 32) <= 0;
}

PrivateKey test_key(std::uint64_t seed) {
  DeterministicRandom rng(seed);
  PrivateKey k;
  do {
    rng.fill(k);
  } while (!is_valid_private_key(k));
  return k;
}

}  // namespace

TEST_CASE("example key gives the documented public key and node id", "[crypto][secp256k1]") {
  const auto v4 = load_vectors("discv4.json");
  const auto& sk = v4["signing_key"];
  const auto priv = hex_array<32>(sk["private_key_hex"]);
  REQUIRE(is_valid_private_key(priv));
  const auto pub = derive_public_key(priv);
  REQUIRE(pub);
  CHECK(equal(*pub, hex(sk["derived_public_key_uncompressed_64_hex"])));
  CHECK(equal(compress(*pub), hex(sk["derived_public_key_compressed_33_hex"])));
  CHECK(to_hex(node_id_of(*pub)) ==
        "a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7");

  const auto enr = load_vectors("enr.json");
  CHECK(equal(node_id_of(*derive_public_key(
                  hex_array<32>(enr["example_record_eip778"]["private_key_hex"]))),
              hex(enr["example_record_eip778"]["expected_node_id_hex"])));

  const auto v5 = load_vectors("discv5.json");
  for (const char* node : {"node_a", "node_b"}) {
    const auto& k = v5["keys"][node];
    const auto p = derive_public_key(hex_array<32>(k["private_key_hex"]));
    REQUIRE(p);
    CHECK(equal(*p, hex(k["derived_public_key_uncompressed_64_hex"])));
    CHECK(equal(compress(*p), hex(k["derived_public_key_compressed_33_hex"])));
    CHECK(equal(node_id_of(*p), hex(k["derived_node_id_hex"])));
  }
}

TEST_CASE("parse_public_key accepts all three encodings and rejects bad ones",
          "[crypto][secp256k1]") {
  const auto v4 = load_vectors("discv4.json");
  const Bytes raw64 = hex(v4["signing_key"]["derived_public_key_uncompressed_64_hex"]);
  const Bytes raw33 = hex(v4["signing_key"]["derived_public_key_compressed_33_hex"]);
  Bytes raw65(65, 0x04);
  std::copy(raw64.begin(), raw64.end(), raw65.begin() + 1);
  for (const Bytes* enc : std::initializer_list<const Bytes*>{&raw64, &raw33, &raw65}) {
    const auto p = parse_public_key(*enc);
    REQUIRE(p);
    CHECK(equal(*p, raw64));
  }
  // Wrong sizes.
  for (std::size_t n : {0, 1, 32, 63, 66, 128}) {
    const Bytes b(n, 0x02);
    CHECK(parse_public_key(b).error() == CryptoError::kInvalidPublicKey);
  }
  // Bad prefixes.
  Bytes bad = raw33;
  bad[0] = 0x05;
  CHECK_FALSE(parse_public_key(bad));
  bad = raw65;
  bad[0] = 0x06;  // hybrid encoding
  CHECK_FALSE(parse_public_key(bad));
  // Off-curve points: flip a bit of y.
  bad = raw64;
  bad[63] ^= 1;
  CHECK_FALSE(parse_public_key(bad));
  bad = raw65;
  bad[64] ^= 1;
  CHECK_FALSE(parse_public_key(bad));
  CHECK_FALSE(parse_public_key(Bytes(64, 0)));
  // x >= p in compressed form.
  bad = Bytes(33, 0xff);
  bad[0] = 0x02;
  CHECK_FALSE(parse_public_key(bad));
}

TEST_CASE("invalid private keys are rejected", "[crypto][secp256k1]") {
  const PrivateKey zero{};
  const PrivateKey order = to_array<32>(kOrder);
  PrivateKey order_plus_one = order;
  order_plus_one[31] += 1;
  PrivateKey all_ff;
  all_ff.fill(0xff);
  const auto remote = *derive_public_key(test_key(1));
  for (const PrivateKey& k : {zero, order, order_plus_one, all_ff}) {
    CHECK_FALSE(is_valid_private_key(k));
    CHECK(derive_public_key(k).error() == CryptoError::kInvalidPrivateKey);
    CHECK(ecdh(remote, k).error() == CryptoError::kEcdhFailed);
    // Signing with an invalid key yields zeros, which nothing accepts.
    const Hash256 digest = keccak256(as_bytes("x"));
    CHECK(sign_recoverable(k, digest) == RecoverableSignature{});
    CHECK(sign(k, digest) == Signature{});
    CHECK_FALSE(recover(sign_recoverable(k, digest), digest));
  }
  PrivateKey order_minus_one = order;
  order_minus_one[31] -= 1;
  PrivateKey one{};
  one[31] = 1;
  CHECK(is_valid_private_key(order_minus_one));
  CHECK(is_valid_private_key(one));
  CHECK(derive_public_key(one));
}

TEST_CASE("generate_private_key gives valid, distinct keys", "[crypto][secp256k1]") {
  std::set<PrivateKey> seen;
  for (int i = 0; i < 16; ++i) {
    const PrivateKey k = generate_private_key();
    CHECK(is_valid_private_key(k));
    seen.insert(k);
  }
  CHECK(seen.size() == 16);
}

TEST_CASE("sign_recoverable / recover / sign / verify round trips, low-s", "[crypto][secp256k1]") {
  DeterministicRandom rng(99);
  for (int i = 0; i < 32; ++i) {
    const PrivateKey key = test_key(1000 + i);
    const PublicKey pub = *derive_public_key(key);
    Hash256 digest;
    rng.fill(digest);

    const RecoverableSignature rs = sign_recoverable(key, digest);
    CHECK(rs[64] <= 1);
    CHECK(is_low_s(ByteView(rs).subspan(32, 32)));
    const auto rec = recover(rs, digest);
    REQUIRE(rec);
    CHECK(*rec == pub);
    // RFC6979: deterministic.
    CHECK(sign_recoverable(key, digest) == rs);

    const Signature s = sign(key, digest);
    CHECK(equal(s, ByteView(rs).first(64)));  // same nonce, same r || s
    CHECK(verify(pub, s, digest));

    // Wrong digest, wrong key.
    Hash256 other = digest;
    other[0] ^= 1;
    CHECK_FALSE(verify(pub, s, other));
    const auto wrong = recover(rs, other);
    CHECK((!wrong || *wrong != pub));
    CHECK_FALSE(verify(*derive_public_key(test_key(5000 + i)), s, digest));
  }
}

TEST_CASE("RFC6979 reproduces the ENR signatures and the derived discv4 packets",
          "[crypto][secp256k1]") {
  const auto enr = load_vectors("enr.json");
  for (const char* rec : {"example_record_eip778", "discv5_vector_record_node_a"}) {
    const auto& r = enr[rec];
    const auto key = hex_array<32>(r["private_key_hex"]);
    const auto digest = hex_array<32>(r["derived"]["content_keccak256_hex"]);
    const Signature sig = sign(key, digest);
    CHECK(equal(sig, hex(r["expected"]["signature_64_hex"])));
    CHECK(verify(*derive_public_key(key), sig, digest));
  }
  const auto v4 = load_vectors("discv4.json");
  const auto key = hex_array<32>(v4["signing_key"]["private_key_hex"]);
  int n = 0;
  for (const auto& v : v4["derived_vectors"]["vectors"]) {
    const Bytes packet = hex(v["packet_hex"]);
    const RecoverableSignature sig = sign_recoverable(key, keccak256(ByteView(packet).subspan(97)));
    CHECK(equal(sig, ByteView(packet).subspan(32, 65)));
    ++n;
  }
  CHECK(n == 3);
}

TEST_CASE("recover gives the signer of every discv4 vector", "[crypto][secp256k1]") {
  const auto v4 = load_vectors("discv4.json");
  const Bytes expected = hex(v4["signing_key"]["derived_public_key_uncompressed_64_hex"]);
  int n = 0;
  for (const auto& v : v4["vectors"]) {
    INFO(v["name"].get<std::string>());
    const Bytes packet = hex(v["packet_hex"]);
    const Hash256 digest = keccak256(ByteView(packet).subspan(97));
    CHECK(equal(digest, hex(v["expected"]["derived_signing_hash_keccak256_of_type_and_data_hex"])));
    const auto pub = recover(ByteView(packet).subspan(32, 65), digest);
    REQUIRE(pub);
    CHECK(equal(*pub, expected));
    CHECK(equal(*pub, hex(v["expected"]["recovered_signer_pubkey_hex"])));
    // The same r || s verifies as a plain signature.
    CHECK(verify(*pub, ByteView(packet).subspan(32, 64), digest));
    ++n;
  }
  CHECK(n == 6);
}

TEST_CASE("malformed signatures are rejected", "[crypto][secp256k1]") {
  const PrivateKey key = test_key(3);
  const PublicKey pub = *derive_public_key(key);
  const Hash256 digest = keccak256(as_bytes("discplane"));
  const RecoverableSignature good = sign_recoverable(key, digest);
  REQUIRE(recover(good, digest));

  // Wrong sizes.
  CHECK(recover(ByteView(good).first(64), digest).error() == CryptoError::kInvalidSignature);
  Bytes longer(good.begin(), good.end());
  longer.push_back(0);
  CHECK(recover(longer, digest).error() == CryptoError::kInvalidSignature);
  CHECK_FALSE(verify(pub, ByteView(good).first(63), digest));
  CHECK_FALSE(verify(pub, good, digest));  // 65 bytes is not a plain signature

  // v outside {0, 1} (27/28 is the Ethereum transaction convention, not discv4).
  for (std::uint8_t v : {2, 3, 27, 28, 255}) {
    RecoverableSignature s = good;
    s[64] = v;
    CHECK(recover(s, digest).error() == CryptoError::kInvalidSignature);
  }
  // r or s zero, r or s >= n.
  RecoverableSignature s = good;
  std::memset(s.data(), 0, 32);
  CHECK_FALSE(recover(s, digest));
  CHECK_FALSE(verify(pub, ByteView(s).first(64), digest));
  s = good;
  std::memset(s.data() + 32, 0, 32);
  CHECK_FALSE(recover(s, digest));
  CHECK_FALSE(verify(pub, ByteView(s).first(64), digest));
  s = good;
  std::memcpy(s.data(), kOrder.data(), 32);
  CHECK(recover(s, digest).error() == CryptoError::kInvalidSignature);
  CHECK_FALSE(verify(pub, ByteView(s).first(64), digest));
  s = good;
  std::memset(s.data() + 32, 0xff, 32);
  CHECK(recover(s, digest).error() == CryptoError::kInvalidSignature);
  CHECK_FALSE(verify(pub, ByteView(s).first(64), digest));
  // Flipped bits: recovery yields some other key (or fails), verify fails.
  for (int byte : {0, 17, 31, 32, 50, 63}) {
    s = good;
    s[byte] ^= 0x10;
    const auto r = recover(s, digest);
    CHECK((!r || *r != pub));
    CHECK_FALSE(verify(pub, ByteView(s).first(64), digest));
  }
  // The flipped recovery id recovers a different key.
  s = good;
  s[64] ^= 1;
  const auto other = recover(s, digest);
  CHECK((!other || *other != pub));
}

TEST_CASE("verify rejects high-s; recover accepts it like geth", "[crypto][secp256k1]") {
  const PrivateKey key = test_key(4);
  const PublicKey pub = *derive_public_key(key);
  const Hash256 digest = keccak256(as_bytes("malleable"));
  const RecoverableSignature good = sign_recoverable(key, digest);
  REQUIRE(verify(pub, ByteView(good).first(64), digest));

  // (r, n - s) is the same ECDSA signature in its high-s form.
  RecoverableSignature high = good;
  const auto hs = sub256(kOrder, ByteView(good).subspan(32, 32));
  std::memcpy(high.data() + 32, hs.data(), 32);
  REQUIRE_FALSE(is_low_s(ByteView(high).subspan(32, 32)));
  CHECK_FALSE(verify(pub, ByteView(high).first(64), digest));
  // Negating s negates R's role: with the flipped recovery id the signer comes back.
  high[64] ^= 1;
  const auto rec = recover(high, digest);
  REQUIRE(rec);
  CHECK(*rec == pub);
}

TEST_CASE("discv5 id-signature vector signs and verifies", "[crypto][secp256k1]") {
  const auto v5 = load_vectors("discv5.json");
  const auto& v = v5["crypto_primitives"]["id_nonce_signing"];
  const auto key = hex_array<32>(v["inputs"]["static_key_hex"]);
  const PublicKey pub = *derive_public_key(key);
  CHECK(equal(compress(pub), hex(v["derived_intermediates"]["static_pubkey_compressed_hex"])));

  Sha256 h;
  h.update(as_bytes("discovery v5 identity proof"));
  h.update(hex(v["inputs"]["challenge_data_hex"]));
  h.update(hex(v["inputs"]["ephemeral_pubkey_compressed_hex"]));
  h.update(hex(v["inputs"]["node_id_b_hex"]));
  const Hash256 digest = h.finish();
  CHECK(equal(digest, hex(v["derived_intermediates"]["sha256_of_input_hex"])));
  CHECK(equal(sha256(hex(v["derived_intermediates"]["id_signature_input_hex"])), digest));

  const Bytes expected = hex(v["expected"]["id_signature_64_hex"]);
  CHECK(verify(pub, expected, digest));
  CHECK(equal(sign(key, digest), expected));
  Bytes tampered = expected;
  tampered[10] ^= 1;
  CHECK_FALSE(verify(pub, tampered, digest));
}

TEST_CASE("discv5 ECDH vector gives the compressed shared point", "[crypto][secp256k1]") {
  const auto v5 = load_vectors("discv5.json");
  const auto& v = v5["crypto_primitives"]["ecdh"];
  const auto remote = parse_public_key(hex(v["inputs"]["public_key_compressed_hex"]));
  REQUIRE(remote);
  const auto secret = ecdh(*remote, hex_array<32>(v["inputs"]["secret_key_hex"]));
  REQUIRE(secret);
  CHECK(equal(*secret, hex(v["expected"]["shared_secret_33_hex"])));

  // Symmetry: a * B == b * A.
  const PrivateKey a = test_key(10);
  const PrivateKey b = test_key(11);
  const auto ab = ecdh(*derive_public_key(b), a);
  const auto ba = ecdh(*derive_public_key(a), b);
  REQUIRE(ab);
  REQUIRE(ba);
  CHECK(*ab == *ba);
  CHECK(((*ab)[0] == 0x02 || (*ab)[0] == 0x03));

  // A remote key that is not on the curve.
  PublicKey bad = *derive_public_key(b);
  bad[63] ^= 1;
  CHECK(ecdh(bad, a).error() == CryptoError::kInvalidPublicKey);
}

TEST_CASE("CryptoError has a name for every value", "[crypto][secp256k1]") {
  std::set<std::string_view> names;
  for (auto e :
       {CryptoError::kInvalidPrivateKey, CryptoError::kInvalidPublicKey,
        CryptoError::kInvalidSignature, CryptoError::kRecoveryFailed, CryptoError::kEcdhFailed}) {
    names.insert(to_string(e));
  }
  CHECK(names.size() == 5);
  CHECK(names.count("unknown crypto error") == 0);
}
