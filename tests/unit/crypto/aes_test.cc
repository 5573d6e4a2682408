// AES-128-GCM against the discv5 vectors (primitive and the PING packet's message), round
// trips, in-place use, tag/AD/nonce tampering; AES-128-CTR against NIST SP800-38A F.5.1,
// OpenSSL at counter wrap-around, and discv5 header unmasking of all four packets.
#include "discplane/crypto/aes.h"

#include <thread>

#include <catch2/catch.hpp>
#include <openssl/evp.h>

#include "discplane/crypto/random.h"

#include "test_util.h"

using namespace discplane;
using namespace discplane::crypto;
using discplane::crypto_test::hex;
using discplane::crypto_test::hex_array;
using discplane::crypto_test::load_vectors;

namespace {

// Reference AES-128-CTR from OpenSSL (full 128-bit big-endian counter, like Go's cipher.NewCTR).
Bytes openssl_ctr(const AesKey& key, ByteView iv, ByteView in) {
  Bytes out(in.size());
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  REQUIRE(EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), nullptr, key.data(), iv.data()) == 1);
  REQUIRE(EVP_EncryptUpdate(ctx, out.data(), &len, in.data(), static_cast<int>(in.size())) == 1);
  EVP_CIPHER_CTX_free(ctx);
  return out;
}

}  // namespace

TEST_CASE("AES-GCM discv5 encryption vector", "[crypto][aes]") {
  const auto v5 = load_vectors("discv5.json");
  const auto& v = v5["crypto_primitives"]["aes_gcm_message_encryption"];
  const AesGcm128 gcm(hex_array<16>(v["inputs"]["encryption_key_16_hex"]));
  const Bytes nonce = hex(v["inputs"]["nonce_12_hex"]);
  const Bytes pt = hex(v["inputs"]["plaintext_hex"]);
  const Bytes ad = hex(v["inputs"]["associated_data_hex"]);
  const Bytes expected = hex(v["expected"]["ciphertext_with_16_byte_tag_hex"]);

  Bytes sealed(pt.size() + kGcmTagSize);
  gcm.seal(nonce, ad, pt, sealed);
  CHECK(sealed == expected);

  Bytes opened(pt.size());
  REQUIRE(gcm.open(nonce, ad, expected, opened));
  CHECK(opened == pt);
}

TEST_CASE("AES-GCM opens the message of the discv5 PING packet", "[crypto][aes]") {
  const auto v5 = load_vectors("discv5.json");
  const auto& p = v5["packets"][0];
  const auto& d = p["expected_decode"];
  const AesGcm128 gcm(hex_array<16>(p["source_inputs"]["read_key_hex"]));
  const Bytes ct = hex(d["message_ciphertext_with_tag_hex"]);
  Bytes pt(ct.size() - kGcmTagSize);
  REQUIRE(gcm.open(hex(d["nonce_hex"]), hex(d["message_ad_hex_maskingiv_header"]), ct, pt));
  CHECK(pt == hex(d["message_plaintext_hex"]));
}

TEST_CASE("AES-GCM round trips, in place, over many sizes", "[crypto][aes]") {
  DeterministicRandom rng(21);
  AesKey key;
  rng.fill(key);
  const AesGcm128 gcm(key);
  for (std::size_t n = 0; n <= 1300; n += (n < 70 ? 1 : 37)) {
    Bytes pt(n);
    rng.fill(pt);
    Bytes ad(rng.next_u64() % 120);
    rng.fill(ad);
    ByteArray<12> nonce;
    rng.fill(nonce);
    INFO("size " << n << " ad " << ad.size());

    Bytes sealed(n + kGcmTagSize);
    gcm.seal(nonce, ad, pt, sealed);
    Bytes opened(n);
    REQUIRE(gcm.open(nonce, ad, sealed, opened));
    REQUIRE(opened == pt);

    // In place: seal over the plaintext buffer, open over the ciphertext buffer.
    Bytes buf(n + kGcmTagSize);
    std::copy(pt.begin(), pt.end(), buf.begin());
    gcm.seal(nonce, ad, ByteView(buf).first(n), buf);
    REQUIRE(buf == sealed);
    REQUIRE(gcm.open(nonce, ad, buf, MutableByteView(buf).first(n)));
    REQUIRE(std::equal(pt.begin(), pt.end(), buf.begin()));
  }
}

TEST_CASE("AES-GCM rejects tampering and short input", "[crypto][aes]") {
  DeterministicRandom rng(22);
  AesKey key;
  rng.fill(key);
  const AesGcm128 gcm(key);
  ByteArray<12> nonce;
  rng.fill(nonce);
  Bytes pt(60);
  rng.fill(pt);
  const Bytes ad = hex_or_die("00112233445566778899aabbccddeeff0102");
  Bytes sealed(pt.size() + kGcmTagSize);
  gcm.seal(nonce, ad, pt, sealed);
  Bytes out(pt.size());
  REQUIRE(gcm.open(nonce, ad, sealed, out));

  for (std::size_t i = 0; i < sealed.size(); ++i) {  // every ciphertext and tag byte
    Bytes bad = sealed;
    bad[i] ^= 0x01;
    INFO("byte " << i);
    CHECK_FALSE(gcm.open(nonce, ad, bad, out));
  }
  CHECK(out == Bytes(pt.size(), 0));  // a failed open leaves no plaintext behind

  Bytes bad_ad = ad;
  bad_ad.back() ^= 0x80;
  CHECK_FALSE(gcm.open(nonce, bad_ad, sealed, out));
  CHECK_FALSE(gcm.open(nonce, ByteView(ad).first(ad.size() - 1), sealed, out));
  auto bad_nonce = nonce;
  bad_nonce[11] ^= 1;
  CHECK_FALSE(gcm.open(bad_nonce, ad, sealed, out));
  CHECK_FALSE(gcm.open(ByteView(nonce).first(11), ad, sealed, out));  // wrong nonce size
  AesKey other_key = key;
  other_key[0] ^= 1;
  CHECK_FALSE(AesGcm128(other_key).open(nonce, ad, sealed, out));
  // Truncated: no room for a tag, or a tag cut short.
  CHECK_FALSE(gcm.open(nonce, ad, ByteView(sealed).first(15), out));
  CHECK_FALSE(gcm.open(nonce, ad, ByteView{}, out));
  CHECK_FALSE(gcm.open(nonce, ad, ByteView(sealed).first(sealed.size() - 1), out));
  // Output too small.
  Bytes small(pt.size() - 1);
  CHECK_FALSE(gcm.open(nonce, ad, sealed, small));

  // An empty plaintext still authenticates the AD.
  ByteArray<16> tag_only;
  gcm.seal(nonce, ad, {}, tag_only);
  CHECK(gcm.open(nonce, ad, tag_only, MutableByteView{}));
  CHECK_FALSE(gcm.open(nonce, bad_ad, tag_only, MutableByteView{}));
}

TEST_CASE("AES-GCM copies and other threads give the same result", "[crypto][aes]") {
  AesKey key{};
  key[3] = 7;
  const AesGcm128 gcm(key);
  AesGcm128 copy(gcm);
  AesKey key2{};
  AesGcm128 assigned(key2);
  assigned = gcm;
  const ByteArray<12> nonce{};
  const Bytes pt = hex_or_die("01c20101");
  Bytes a(pt.size() + 16);
  Bytes b(pt.size() + 16);
  Bytes c(pt.size() + 16);
  Bytes t(pt.size() + 16);
  gcm.seal(nonce, {}, pt, a);
  copy.seal(nonce, {}, pt, b);
  assigned.seal(nonce, {}, pt, c);
  std::thread([&] { gcm.seal(nonce, {}, pt, t); }).join();  // its own IMB_MGR
  CHECK(a == b);
  CHECK(a == c);
  CHECK(a == t);
  const std::string arch = aes_implementation_name();
  CHECK(
      (arch == "avx512" || arch == "avx2" || arch == "avx" || arch == "sse" || arch == "noaesni"));
}

// Schedules are inline (a discv5 session holds three next to its key): copies carry the
// whole schedule, and the GCM one sits on a cache line of its own.
TEST_CASE("AES schedules are held inline: copies mask and seal like the original",
          "[crypto][aes]") {
  static_assert(alignof(AesGcm128) == 64);
  static_assert(sizeof(AesCtr128) == 11 * 16);  // the AES-128 encryption round keys only
  AesKey key{};
  key[0] = 0x42;
  const AesCtr128 ctr(key);
  struct Holder {
    std::uint8_t tag = 1;
    AesCtr128 masker;
    AesGcm128 gcm;
  };
  const Holder h{1, ctr, AesGcm128(key)};
  REQUIRE(reinterpret_cast<std::uintptr_t>(&h.gcm) % 64 == 0);
  AesCtr128 assigned(AesKey{});
  assigned = h.masker;
  ByteArray<16> iv{};
  iv[15] = 0xfe;  // crosses a block boundary inside the 55 bytes
  Bytes in(55);
  for (std::size_t i = 0; i < in.size(); ++i) {
    in[i] = static_cast<std::uint8_t>(i * 7);
  }
  Bytes a(in.size());
  Bytes b(in.size());
  Bytes c(in.size());
  ctr.apply(iv, in, a);
  h.masker.apply(iv, in, b);
  assigned.apply(iv, in, c);
  CHECK(a == b);
  CHECK(a == c);
  CHECK(a != in);
  const ByteArray<12> nonce{};
  Bytes s1(in.size() + 16);
  Bytes s2(in.size() + 16);
  AesGcm128(key).seal(nonce, {}, in, s1);
  h.gcm.seal(nonce, {}, in, s2);
  CHECK(s1 == s2);
}

TEST_CASE("AES-CTR NIST SP800-38A F.5.1 and OpenSSL at counter wrap", "[crypto][aes]") {
  const AesKey key = to_array<16>(hex_or_die("2b7e151628aed2a6abf7158809cf4f3c"));
  const Bytes iv = hex_or_die("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
  const Bytes pt = hex_or_die(
      "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
      "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");
  const Bytes ct = hex_or_die(
      "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
      "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee");
  const AesCtr128 ctr(key);
  Bytes out(pt.size());
  ctr.apply(iv, pt, out);
  CHECK(out == ct);
  ctr.apply(iv, ct, out);  // decryption is the same operation
  CHECK(out == pt);
  Bytes buf = pt;  // in place
  ctr.apply(iv, buf, buf);
  CHECK(buf == ct);
  // Partial lengths are prefixes of the keystream.
  for (std::size_t n : {1, 15, 16, 17, 33}) {
    Bytes o(n);
    ctr.apply(iv, ByteView(pt).first(n), o);
    CHECK(equal(o, ByteView(ct).first(n)));
  }

  // The counter block carries across 32-, 64- and 128-bit boundaries as one big-endian
  // integer (discv5 masking-ivs are random, so a wrap can happen in a 400-byte header).
  DeterministicRandom rng(23);
  Bytes data(200);
  rng.fill(data);
  for (const char* iv_hex : {"000102030405060708090a0bfffffffe", "0001020304050607fffffffffffffffe",
                             "fffffffffffffffffffffffffffffffe", "00000000000000000000000000000000",
                             "0102030405060708090a0b0c0d0e0f10"}) {
    INFO("iv " << iv_hex);
    const Bytes wrap_iv = hex_or_die(iv_hex);
    Bytes mine(data.size());
    ctr.apply(wrap_iv, data, mine);
    const Bytes reference = openssl_ctr(key, wrap_iv, data);
    CHECK(mine == reference);
    Bytes in_place = data;
    ctr.apply(wrap_iv, in_place, in_place);
    CHECK(in_place == reference);
  }
}

TEST_CASE("AES-CTR unmasks the headers of the discv5 packets", "[crypto][aes]") {
  const auto v5 = load_vectors("discv5.json");
  int n = 0;
  for (const auto& p : v5["packets"]) {
    INFO(p["name"].get<std::string>());
    const Bytes packet = hex(p["packet_hex"]);
    const Bytes dest_id = hex(p["source_inputs"]["dest_node_id_hex"]);
    const AesCtr128 mask(to_array<16>(ByteView(dest_id).first(16)));
    const ByteView iv = ByteView(packet).first(16);
    const Bytes expected_header = hex(p["expected_decode"]["unmasked_header_hex"]);
    REQUIRE(packet.size() >= 16 + expected_header.size());

    Bytes header(expected_header.size());
    mask.apply(iv, ByteView(packet).subspan(16, header.size()), header);
    CHECK(std::string(header.begin(), header.begin() + 6) == "discv5");
    CHECK(header == expected_header);

    // Masking again restores the wire bytes.
    Bytes remasked(header.size());
    mask.apply(iv, header, remasked);
    CHECK(equal(remasked, ByteView(packet).subspan(16, header.size())));

    // The wrong key (the source id) does not give "discv5".
    const Bytes src_id = hex(p["source_inputs"]["src_node_id_hex"]);
    REQUIRE(src_id != dest_id);
    const AesCtr128 wrong(to_array<16>(ByteView(src_id).first(16)));
    Bytes w(6);
    wrong.apply(iv, ByteView(packet).subspan(16, 6), w);
    CHECK(std::string(w.begin(), w.end()) != "discv5");
    ++n;
  }
  CHECK(n == 4);
}

TEST_CASE("AES-CTR apply_burst equals apply job by job, wrap-around IVs and in place included",
          "[crypto][aes]") {
  const AesKey key = to_array<16>(hex_or_die("000102030405060708090a0b0c0d0e0f"));
  const AesCtr128 ctr(key);
  DeterministicRandom rng(77);
  constexpr std::size_t kJobs = 70;  // more than one library burst of 32
  std::vector<Bytes> ivs(kJobs, Bytes(16));
  std::vector<Bytes> ins(kJobs);
  std::vector<Bytes> outs(kJobs);
  for (std::size_t i = 0; i < kJobs; ++i) {
    rng.fill(ivs[i]);
    ins[i].resize(i % 5 == 0 ? 0 : 1 + (i * 37) % 400);  // zero-length jobs are skipped
    rng.fill(ins[i]);
    outs[i].assign(ins[i].size(), 0xee);
  }
  // Two IVs whose low 32 bits wrap inside the message: apply_burst must split them as apply does.
  ivs[3] = hex_or_die("000102030405060708090a0bfffffffe");
  ivs[41] = hex_or_die("fffffffffffffffffffffffffffffffe");
  std::vector<AesCtr128::Job> jobs;
  for (std::size_t i = 0; i < kJobs; ++i) {
    // Every third job in place.
    std::uint8_t* out = i % 3 == 0 ? nullptr : outs[i].data();
    jobs.push_back({ivs[i].data(), ins[i].data(), out, ins[i].size()});
  }
  std::vector<Bytes> in_place = ins;
  for (std::size_t i = 0; i < kJobs; i += 3) {
    jobs[i].in = in_place[i].data();
    jobs[i].out = in_place[i].data();
  }
  ctr.apply_burst(jobs);
  for (std::size_t i = 0; i < kJobs; ++i) {
    INFO("job " << i << " length " << ins[i].size());
    Bytes expect(ins[i].size());
    ctr.apply(ivs[i], ins[i], expect);
    CHECK((i % 3 == 0 ? in_place[i] : outs[i]) == expect);
    if (!ins[i].empty()) {
      CHECK(expect == openssl_ctr(key, ivs[i], ins[i]));
    }
  }
}
