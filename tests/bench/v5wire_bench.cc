// discv5.1 codec microbenchmarks on the published vectors: the session hot path (unmask,
// decrypt, decode a PING; encrypt and mask a PONG), WHOAREYOU encoding, and the handshake
// steps (HKDF alone, the recipient's ECDH + id-verify + HKDF, the initiator's side).
#include <benchmark/benchmark.h>

#include "discplane/crypto/aes.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/wire/v5wire.h"

using namespace discplane;
using namespace discplane::v5wire;

namespace {

// From tests/data/discv5.json (discv5-wire-test-vectors.md).
const char* kPingPacket =
    "00000000000000000000000000000000088b3d4342774649325f313964a39e55ea96c005ad52be8c7560413a7008"
    "f16c9e6d2f43bbea8814a546b7409ce783d34c4f53245d08dab84102ed931f66d1492acb308fa1c6715b9d139b81"
    "acbdcc";
const char* kHandshakePacket =
    "00000000000000000000000000000000088b3d4342774649305f313964a39e55ea96c005ad521d8c7560413a7008"
    "f16c9e6d2f43bbea8814a546b7409ce783d34c4f53245d08da4bb252012b2cba3f4f374a90a75cff91f142fa9be3"
    "e0a5f3ef268ccb9065aeecfd67a999e7fdc137e062b2ec4a0eb92947f0d9a74bfbf44dfba776b21301f8b65efd57"
    "96706adff216ab862a9186875f9494150c4ae06fa4d1f0396c93f215fa4ef524f1eadf5f0f4126b79336671cbcf7"
    "a885b1f8bd2a5d839cf8";
const char* kHandshakeChallenge =
    "000000000000000000000000000000006469736376350001010102030405060708090a0b0c00180102030405060708"
    "090a0b0c0d0e0f100000000000000001";
const char* kNodeAKey = "eef77acb6c6a6eebc5b363a475ac583ec7eccdb42b6481424c60f59aa326547f";
const char* kNodeBKey = "66fb62bfbd66b9177a138c1e5cddbe4f7c30c343e94e68df8769459cb1cde628";
const char* kEphKey = "0288ef00023598499cb6c940146d050d2b1fb914198c327f76aad590bead68b6";

template <std::size_t N>
ByteArray<N> arr(const char* hex) {
  return to_array<N>(hex_or_die(hex));
}

struct Keys {
  crypto::PrivateKey a_key = arr<32>(kNodeAKey);
  crypto::PrivateKey b_key = arr<32>(kNodeBKey);
  crypto::PublicKey a_pub = *crypto::derive_public_key(a_key);
  crypto::PublicKey b_pub = *crypto::derive_public_key(b_key);
  NodeId a_id = crypto::node_id_of(a_pub);
  NodeId b_id = crypto::node_id_of(b_pub);
};
const Keys& keys() {
  static const Keys k;
  return k;
}

void BM_V5DecodeHeader(benchmark::State& state) {
  const Bytes packet = hex_or_die(kPingPacket);
  const crypto::AesCtr128 own(masking_key(keys().b_id));
  ByteArray<kMaxPacketSize> scratch;
  for (auto _ : state) {
    auto h = decode_header(packet, own, scratch);
    benchmark::DoNotOptimize(h);
  }
}
BENCHMARK(BM_V5DecodeHeader);

// The inbound hot path of an established session: unmask + decrypt + decode a PING.
void BM_V5OpenDecodePing(benchmark::State& state) {
  const Bytes packet = hex_or_die(kPingPacket);
  const crypto::AesCtr128 own(masking_key(keys().b_id));
  const crypto::AesGcm128 read_key(crypto::AesKey{});
  ByteArray<kMaxPacketSize> scratch;
  ByteArray<kMaxPacketSize> plain;
  for (auto _ : state) {
    auto h = decode_header(packet, own, scratch);
    auto pt = open_message(*h, read_key, plain);
    auto m = decode_message(*pt);
    if (!m) {
      state.SkipWithError("decode failed");
      break;
    }
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK(BM_V5OpenDecodePing);

// The outbound hot path: encode a PONG, encrypt it in place and mask the header.
void BM_V5EncodePongPacket(benchmark::State& state) {
  const crypto::AesCtr128 dest(masking_key(keys().a_id));
  const crypto::AesGcm128 write_key(crypto::AesKey{1});
  const IpAddress ip = IpAddress::v4(203, 0, 113, 7);
  const Bytes req = hex_or_die("0102030405060708");
  ByteArray<kMaxPacketSize> out;
  Nonce nonce{};
  MaskingIv iv{};
  for (auto _ : state) {
    ++nonce[0];
    ++iv[0];
    auto pt =
        encode_pong(MutableByteView(out).subspan(kMessagePacketHeaderEnd), req, 42, ip, 30303);
    auto packet = encode_message_packet(out, dest, keys().b_id, nonce, iv, write_key, *pt);
    benchmark::DoNotOptimize(packet);
  }
}
BENCHMARK(BM_V5EncodePongPacket);

void BM_V5EncodeWhoareyou(benchmark::State& state) {
  const crypto::AesCtr128 dest(masking_key(keys().a_id));
  ByteArray<kMaxPacketSize> out;
  IdNonce id_nonce{};
  for (auto _ : state) {
    ++id_nonce[0];
    auto w = encode_whoareyou(out, dest, Nonce{}, id_nonce, 1, MaskingIv{});
    benchmark::DoNotOptimize(w);
  }
}
BENCHMARK(BM_V5EncodeWhoareyou);

void BM_V5DeriveKeys(benchmark::State& state) {
  const crypto::SharedSecret secret{0x02, 1, 2, 3};
  const Bytes challenge = hex_or_die(kHandshakeChallenge);
  for (auto _ : state) {
    auto k = derive_keys(secret, challenge, keys().a_id, keys().b_id);
    benchmark::DoNotOptimize(k);
  }
}
BENCHMARK(BM_V5DeriveKeys);

// Recipient side of a handshake whose sender key is known: id-verify + ECDH + HKDF (header
// decoding included, ~0.1 us of it).
void BM_V5HandshakeRecipient(benchmark::State& state) {
  const Bytes packet = hex_or_die(kHandshakePacket);
  const Bytes challenge = hex_or_die(kHandshakeChallenge);
  const crypto::AesCtr128 own(masking_key(keys().b_id));
  ByteArray<kMaxPacketSize> scratch;
  for (auto _ : state) {
    auto h = decode_header(packet, own, scratch);
    auto k = accept_handshake(*h, challenge, keys().a_pub, keys().b_key, keys().b_id);
    if (!k) {
      state.SkipWithError("handshake failed");
      break;
    }
    benchmark::DoNotOptimize(k);
  }
}
BENCHMARK(BM_V5HandshakeRecipient)->Unit(benchmark::kMicrosecond);

// Initiator side: ephemeral pubkey + ECDH + HKDF + id-sign.
void BM_V5HandshakeInitiator(benchmark::State& state) {
  const Bytes challenge = hex_or_die(kHandshakeChallenge);
  const crypto::PrivateKey eph = arr<32>(kEphKey);
  for (auto _ : state) {
    auto hs = make_initiator_handshake(keys().a_key, eph, keys().b_pub, keys().a_id, keys().b_id,
                                       challenge);
    benchmark::DoNotOptimize(hs);
  }
}
BENCHMARK(BM_V5HandshakeInitiator)->Unit(benchmark::kMicrosecond);

}  // namespace
