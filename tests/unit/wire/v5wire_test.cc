// discv5.1 wire codec: every vector of discv5-wire-test-vectors.md byte for byte (packets and
// crypto primitives), round trips of the six message types, NODES splitting, and each
// rejection path of the header, message and handshake decoders.
#include "discplane/wire/v5wire.h"

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "discplane/common/bytes.h"
#include "discplane/crypto/aes.h"
#include "discplane/crypto/secp256k1.h"

using namespace discplane;
using namespace discplane::v5wire;
using nlohmann::json;

static_assert(std::forward_iterator<DistanceList::iterator>);
static_assert(std::forward_iterator<RecordList::iterator>);

namespace {

const json& vectors() {
  static const json j = [] {
    std::ifstream in(std::string(DP_TEST_DATA_DIR) + "/discv5.json");
    REQUIRE(in.good());
    return json::parse(in);
  }();
  return j;
}

Bytes hx(const json& v) {
  return hex_or_die(v.get<std::string>());
}

template <std::size_t N>
ByteArray<N> arr(const json& v) {
  Bytes b = hx(v);
  REQUIRE(b.size() == N);
  return to_array<N>(b);
}

const json& packet_vector(const std::string& name) {
  for (const json& p : vectors()["packets"]) {
    if (p["name"] == name) {
      return p;
    }
  }
  FAIL("no vector " << name);
  static json none;
  return none;
}

Bytes bytes_of(ByteView v) {
  return Bytes(v.begin(), v.end());
}

crypto::PrivateKey node_key(const char* which) {
  return arr<32>(vectors()["keys"][which]["private_key_hex"]);
}
NodeId node_id(const char* which) {
  return arr<32>(vectors()["keys"][which]["derived_node_id_hex"]);
}
crypto::PublicKey node_pubkey(const char* which) {
  return arr<64>(vectors()["keys"][which]["derived_public_key_uncompressed_64_hex"]);
}

// Every packet vector is addressed to node B.
const crypto::AesCtr128& b_masker() {
  static const crypto::AesCtr128 m(masking_key(node_id("node_b")));
  return m;
}

struct Scratch {
  ByteArray<kMaxPacketSize> header{};
  ByteArray<kMaxPacketSize> plain{};
  ByteArray<kMaxPacketSize> out{};
};

// Builds a packet from an unmasked one (masking-iv || header || rest), masking
// `header_size` bytes after the iv with node B's key: lets tests forge any header.
Bytes mask_for_b(Bytes unmasked, std::size_t header_size) {
  Bytes out = unmasked;
  b_masker().apply(ByteView(unmasked).first(16), ByteView(unmasked).subspan(16, header_size),
                   MutableByteView(out).subspan(16, header_size));
  return out;
}

// masking-iv (zero) || static header with the given fields || authdata (zeros) || message.
Bytes forge(std::string_view protocol, std::uint16_t version, std::uint8_t flag,
            std::uint16_t auth_size, std::size_t auth_present, std::size_t message_size) {
  Bytes p(16, 0);
  p.insert(p.end(), protocol.begin(), protocol.end());
  p.push_back(static_cast<std::uint8_t>(version >> 8));
  p.push_back(static_cast<std::uint8_t>(version));
  p.push_back(flag);
  p.insert(p.end(), 12, 0x11);
  p.push_back(static_cast<std::uint8_t>(auth_size >> 8));
  p.push_back(static_cast<std::uint8_t>(auth_size));
  p.insert(p.end(), auth_present, 0);
  const std::size_t header = p.size() - 16;
  p.insert(p.end(), message_size, 0x5a);
  return mask_for_b(p, std::min(header, p.size() - 16));
}

V5Error header_error(ByteView packet) {
  Scratch s;
  auto h = decode_header(packet, b_masker(), s.header);
  REQUIRE_FALSE(h);
  return h.error();
}

V5Error message_error(const Bytes& plaintext) {
  auto m = decode_message(plaintext);
  REQUIRE_FALSE(m);
  return m.error();
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) {
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

}  // namespace

// ---- Packet vectors --------------------------------------------------------------------------

TEST_CASE("v5wire: node keys of the vectors give the vector node ids", "[v5wire][vector]") {
  for (const char* n : {"node_a", "node_b"}) {
    auto pub = crypto::derive_public_key(node_key(n));
    REQUIRE(pub);
    CHECK(*pub == node_pubkey(n));
    CHECK(crypto::node_id_of(*pub) == node_id(n));
  }
}

TEST_CASE("v5wire: PING message packet vector decodes", "[v5wire][vector]") {
  const json& v = packet_vector("ping_message_packet");
  const json& e = v["expected_decode"];
  const Bytes packet = hx(v["packet_hex"]);
  REQUIRE(packet.size() == v["packet_length_bytes"].get<std::size_t>());
  Scratch s;
  auto h = decode_header(packet, b_masker(), s.header);
  REQUIRE(h);
  CHECK(h->flag == Flag::kMessage);
  CHECK(bytes_of(h->masking_iv) == hx(e["masking_iv_hex"]));
  CHECK(h->nonce == arr<12>(e["nonce_hex"]));
  CHECK(bytes_of(h->authdata) == hx(e["authdata_hex"]));
  CHECK(h->src_id == arr<32>(e["authdata_src_id_hex"]));
  CHECK(bytes_of(h->header_data) == hx(e["message_ad_hex_maskingiv_header"]));
  CHECK(bytes_of(h->message) == hx(e["message_ciphertext_with_tag_hex"]));

  const crypto::AesGcm128 key(arr<16>(v["source_inputs"]["read_key_hex"]));
  auto pt = open_message(*h, key, s.plain);
  REQUIRE(pt);
  CHECK(bytes_of(*pt) == hx(e["message_plaintext_hex"]));
  auto m = decode_message(*pt);
  REQUIRE(m);
  REQUIRE(type_of(*m) == MessageType::kPing);
  const Ping& ping = std::get<Ping>(*m);
  CHECK(bytes_of(ping.req_id) == hx(e["ping_request_id_hex"]));
  CHECK(ping.enr_seq == e["ping_enr_seq"].get<std::uint64_t>());
}

TEST_CASE("v5wire: PING message packet vector encodes byte for byte", "[v5wire][vector]") {
  const json& v = packet_vector("ping_message_packet");
  const json& in = v["source_inputs"];
  const json& e = v["expected_decode"];
  Scratch s;
  auto pt =
      encode_ping(s.plain, hx(in["ping_req_id_hex"]), in["ping_enr_seq"].get<std::uint64_t>());
  REQUIRE(pt);
  CHECK(bytes_of(*pt) == hx(e["message_plaintext_hex"]));

  const crypto::AesCtr128 dest(masking_key(arr<32>(in["dest_node_id_hex"])));
  const crypto::AesGcm128 key(arr<16>(in["read_key_hex"]));
  const NodeId src = arr<32>(in["src_node_id_hex"]);
  const Nonce nonce = arr<12>(in["nonce_hex"]);
  const MaskingIv iv = arr<16>(e["masking_iv_hex"]);
  auto packet = encode_message_packet(s.out, dest, src, nonce, iv, key, *pt);
  REQUIRE(packet);
  CHECK(bytes_of(*packet) == hx(v["packet_hex"]));

  // In place: the plaintext encoded straight at its final offset is sealed where it lies.
  ByteArray<kMaxPacketSize> buf{};
  auto pt2 = encode_ping(MutableByteView(buf).subspan(kMessagePacketHeaderEnd),
                         hx(in["ping_req_id_hex"]), in["ping_enr_seq"].get<std::uint64_t>());
  REQUIRE(pt2);
  auto packet2 = encode_message_packet(buf, dest, src, nonce, iv, key, *pt2);
  REQUIRE(packet2);
  CHECK(bytes_of(*packet2) == hx(v["packet_hex"]));

  // A plaintext partly overlapping the header is refused.
  auto bad = encode_message_packet(buf, dest, src, nonce, iv, key, ByteView(buf).subspan(20, 8));
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == V5Error::kBadArgument);
}

TEST_CASE("v5wire: WHOAREYOU vector decodes and encodes byte for byte", "[v5wire][vector]") {
  const json& v = packet_vector("whoareyou_packet");
  const json& in = v["source_inputs"];
  const json& e = v["expected_decode"];
  const Bytes packet = hx(v["packet_hex"]);
  REQUIRE(packet.size() == kMinPacketSize);
  Scratch s;
  auto h = decode_header(packet, b_masker(), s.header);
  REQUIRE(h);
  CHECK(h->flag == Flag::kWhoareyou);
  CHECK(h->nonce == arr<12>(in["whoareyou_request_nonce_hex"]));
  CHECK(bytes_of(h->id_nonce) == hx(in["whoareyou_id_nonce_hex"]));
  CHECK(h->enr_seq == in["whoareyou_enr_seq"].get<std::uint64_t>());
  CHECK(bytes_of(h->authdata) == hx(e["authdata_hex"]));
  CHECK(h->message.empty());
  CHECK(bytes_of(h->header_data) == hx(in["whoareyou_challenge_data_hex"]));
  Scratch s2;
  CHECK(open_message(*h, crypto::AesGcm128(crypto::AesKey{}), s2.plain).error() ==
        V5Error::kMessageTooShort);

  const crypto::AesCtr128 dest(masking_key(arr<32>(in["dest_node_id_hex"])));
  auto w =
      encode_whoareyou(s.out, dest, arr<12>(in["whoareyou_request_nonce_hex"]),
                       arr<16>(in["whoareyou_id_nonce_hex"]),
                       in["whoareyou_enr_seq"].get<std::uint64_t>(), arr<16>(e["masking_iv_hex"]));
  REQUIRE(w);
  CHECK(bytes_of(w->packet) == packet);
  CHECK(bytes_of(w->challenge_data) == hx(in["whoareyou_challenge_data_hex"]));

  ByteArray<62> tiny{};
  auto small = encode_whoareyou(tiny, dest, Nonce{}, IdNonce{}, 0, MaskingIv{});
  REQUIRE_FALSE(small);
  CHECK(small.error() == V5Error::kBufferTooSmall);
}

namespace {

void check_handshake_vector(const std::string& name) {
  const json& v = packet_vector(name);
  const json& in = v["source_inputs"];
  const json& e = v["expected_decode"];
  const json& d = v["derived_handshake_intermediates"];
  const Bytes packet = hx(v["packet_hex"]);
  const Bytes challenge = hx(in["whoareyou_challenge_data_hex"]);
  const NodeId id_a = node_id("node_a");
  const NodeId id_b = node_id("node_b");
  Scratch s;

  // Recipient (B) side: decode, verify, derive, decrypt.
  auto h = decode_header(packet, b_masker(), s.header);
  REQUIRE(h);
  CHECK(h->flag == Flag::kHandshake);
  CHECK(h->nonce == arr<12>(in["nonce_hex"]));
  CHECK(h->authdata.size() == e["authdata_size"].get<std::size_t>());
  CHECK(bytes_of(h->authdata) == hx(e["authdata_hex"]));
  CHECK(h->src_id == id_a);
  CHECK(bytes_of(h->id_signature) == hx(e["authdata_id_signature_hex"]));
  CHECK(bytes_of(h->eph_pubkey) == hx(in["ephemeral_pubkey_hex"]));
  CHECK(bytes_of(h->record) == hx(e["authdata_record_rlp_hex"]));
  CHECK(bytes_of(h->header_data) == hx(e["message_ad_hex_maskingiv_header"]));
  CHECK(bytes_of(h->message) == hx(e["message_ciphertext_with_tag_hex"]));

  CHECK(id_verify(node_pubkey("node_a"), h->id_signature, challenge, h->eph_pubkey, id_b));
  CHECK(id_signature_digest(challenge, h->eph_pubkey, id_b) ==
        arr<32>(d["id_signature_input_sha256_hex"]));
  auto keys = accept_handshake(*h, challenge, node_pubkey("node_a"), node_key("node_b"), id_b);
  REQUIRE(keys);
  CHECK(keys->initiator_key == arr<16>(in["read_key_hex"]));
  CHECK(keys->initiator_key == arr<16>(d["initiator_key_hex"]));
  CHECK(keys->recipient_key == arr<16>(d["recipient_key_hex"]));

  auto pt = open_message(*h, crypto::AesGcm128(keys->initiator_key), s.plain);
  REQUIRE(pt);
  CHECK(bytes_of(*pt) == hx(e["message_plaintext_hex"]));
  auto m = decode_message(*pt);
  REQUIRE(m);
  const Ping& ping = std::get<Ping>(*m);
  CHECK(bytes_of(ping.req_id) == hx(in["ping_req_id_hex"]));
  CHECK(ping.enr_seq == in["ping_enr_seq"].get<std::uint64_t>());

  // A wrong sender key fails the id-signature.
  auto wrong = accept_handshake(*h, challenge, node_pubkey("node_b"), node_key("node_b"), id_b);
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error() == V5Error::kBadIdSignature);

  // Initiator (A) side: reproduce eph key, signature, keys and the packet itself.
  auto hs = make_initiator_handshake(node_key("node_a"), arr<32>(in["ephemeral_key_hex"]),
                                     node_pubkey("node_b"), id_a, id_b, challenge);
  REQUIRE(hs);
  CHECK(hs->eph_pubkey == arr<33>(in["ephemeral_pubkey_hex"]));
  CHECK(hs->id_signature == arr<64>(e["authdata_id_signature_hex"]));
  CHECK(hs->keys.initiator_key == keys->initiator_key);
  CHECK(hs->keys.recipient_key == keys->recipient_key);

  auto plain =
      encode_ping(s.plain, hx(in["ping_req_id_hex"]), in["ping_enr_seq"].get<std::uint64_t>());
  REQUIRE(plain);
  const crypto::AesCtr128 dest(masking_key(id_b));
  auto out =
      encode_handshake(s.out, dest, id_a, arr<12>(in["nonce_hex"]), arr<16>(e["masking_iv_hex"]),
                       hs->id_signature, hs->eph_pubkey, hx(e["authdata_record_rlp_hex"]),
                       crypto::AesGcm128(hs->keys.initiator_key), *plain);
  REQUIRE(out);
  CHECK(bytes_of(*out) == packet);
}

}  // namespace

TEST_CASE("v5wire: handshake vector without ENR, both sides", "[v5wire][vector]") {
  check_handshake_vector("ping_handshake_packet_without_enr");
}

TEST_CASE("v5wire: handshake vector with ENR, both sides", "[v5wire][vector]") {
  check_handshake_vector("ping_handshake_packet_with_enr");
  const json& v = packet_vector("ping_handshake_packet_with_enr");
  Scratch s;
  auto h = decode_header(hx(v["packet_hex"]), b_masker(), s.header);
  REQUIRE(h);
  CHECK(h->record.size() == 127);
  CHECK(h->record[0] == 0xf8);  // an RLP list, handed to the ENR layer as is
}

// ---- Crypto primitive vectors ----------------------------------------------------------------

TEST_CASE("v5wire: ECDH vector is the compressed shared point", "[v5wire][vector]") {
  const json& v = vectors()["crypto_primitives"]["ecdh"];
  auto pub = crypto::parse_public_key(hx(v["inputs"]["public_key_compressed_hex"]));
  REQUIRE(pub);
  auto secret = crypto::ecdh(*pub, arr<32>(v["inputs"]["secret_key_hex"]));
  REQUIRE(secret);
  CHECK(*secret == arr<33>(v["expected"]["shared_secret_33_hex"]));
}

TEST_CASE("v5wire: key derivation vector", "[v5wire][vector]") {
  const json& v = vectors()["crypto_primitives"]["key_derivation"];
  const json& in = v["inputs"];
  auto dest = crypto::parse_public_key(hx(in["dest_pubkey_compressed_hex"]));
  REQUIRE(dest);
  auto secret = crypto::ecdh(*dest, arr<32>(in["ephemeral_key_hex"]));
  REQUIRE(secret);
  CHECK(*secret == arr<33>(v["derived_intermediates"]["ecdh_shared_secret_33_hex"]));
  const NodeId a = arr<32>(in["node_id_a_initiator_hex"]);
  const NodeId b = arr<32>(in["node_id_b_recipient_hex"]);
  const Bytes challenge = hx(in["challenge_data_hex"]);
  SessionKeys keys = derive_keys(*secret, challenge, a, b);
  CHECK(keys.initiator_key == arr<16>(v["expected"]["initiator_key_hex"]));
  CHECK(keys.recipient_key == arr<16>(v["expected"]["recipient_key_hex"]));
  // The ids are ordered (initiator first): swapping them changes the keys.
  SessionKeys swapped = derive_keys(*secret, challenge, b, a);
  CHECK(swapped.initiator_key != keys.initiator_key);
}

TEST_CASE("v5wire: id-nonce signing vector (sha256, RFC6979)", "[v5wire][vector]") {
  const json& v = vectors()["crypto_primitives"]["id_nonce_signing"];
  const json& in = v["inputs"];
  const crypto::PrivateKey key = arr<32>(in["static_key_hex"]);
  const Bytes challenge = hx(in["challenge_data_hex"]);
  const Bytes eph = hx(in["ephemeral_pubkey_compressed_hex"]);
  const NodeId b = arr<32>(in["node_id_b_hex"]);
  CHECK(id_signature_digest(challenge, eph, b) ==
        arr<32>(v["derived_intermediates"]["sha256_of_input_hex"]));
  const crypto::Signature sig = id_sign(key, challenge, eph, b);
  CHECK(sig == arr<64>(v["expected"]["id_signature_64_hex"]));
  auto pub = crypto::derive_public_key(key);
  REQUIRE(pub);
  CHECK(crypto::compress(*pub) ==
        arr<33>(v["derived_intermediates"]["static_pubkey_compressed_hex"]));
  CHECK(id_verify(*pub, sig, challenge, eph, b));
  // Any change to what was signed fails.
  Bytes other_challenge = challenge;
  other_challenge.back() ^= 1;
  CHECK_FALSE(id_verify(*pub, sig, other_challenge, eph, b));
  NodeId other_b = b;
  other_b[0] ^= 1;
  CHECK_FALSE(id_verify(*pub, sig, challenge, eph, other_b));
  CHECK_FALSE(id_verify(*pub, ByteView(sig).first(63), challenge, eph, b));
}

TEST_CASE("v5wire: AES-GCM message encryption vector", "[v5wire][vector]") {
  const json& v = vectors()["crypto_primitives"]["aes_gcm_message_encryption"];
  const json& in = v["inputs"];
  const crypto::AesGcm128 key(arr<16>(in["encryption_key_16_hex"]));
  const Bytes nonce = hx(in["nonce_12_hex"]);
  const Bytes ad = hx(in["associated_data_hex"]);
  const Bytes pt = hx(in["plaintext_hex"]);
  Bytes ct(pt.size() + crypto::kGcmTagSize);
  key.seal(nonce, ad, pt, ct);
  CHECK(ct == hx(v["expected"]["ciphertext_with_16_byte_tag_hex"]));
  Bytes back(pt.size());
  REQUIRE(key.open(nonce, ad, ct, back));
  CHECK(back == pt);
  // The plaintext is a PING body: type 1, RLP [1, 1].
  auto m = decode_message(back);
  REQUIRE(m);
  CHECK(bytes_of(std::get<Ping>(*m).req_id) == Bytes{1});
  CHECK(std::get<Ping>(*m).enr_seq == 1);
  ct[0] ^= 1;
  CHECK_FALSE(key.open(nonce, ad, ct, back));
}

// ---- Message round trips ---------------------------------------------------------------------

TEST_CASE("v5wire: all six message types round trip", "[v5wire]") {
  ByteArray<kMaxPacketSize> buf{};
  ByteArray<kMaxPacketSize> buf2{};
  const Bytes req = hex_or_die("0102030405060708");

  SECTION("PING") {
    auto e = encode_ping(buf, req, 0xdeadbeefcafe);
    REQUIRE(e);
    CHECK((*e)[0] == 1);
    auto m = decode_message(*e);
    REQUIRE(m);
    CHECK(name(type_of(*m)) == "PING");
    CHECK(bytes_of(std::get<Ping>(*m).req_id) == req);
    CHECK(std::get<Ping>(*m).enr_seq == 0xdeadbeefcafe);
  }
  SECTION("PONG v4 and v6") {
    for (const char* text : {"203.0.113.9", "2001:db8::7"}) {
      const IpAddress ip = *IpAddress::parse(text);
      auto e = encode_pong(buf, req, 7, ip, 30303);
      REQUIRE(e);
      auto m = decode_message(*e);
      REQUIRE(m);
      const Pong& p = std::get<Pong>(*m);
      CHECK(bytes_of(p.req_id) == req);
      CHECK(p.enr_seq == 7);
      CHECK(p.recipient_ip == ip);
      CHECK(p.recipient_port == 30303);
    }
    CHECK(encode_pong(buf, req, 7, IpAddress{}, 1).error() == V5Error::kBadIp);
  }
  SECTION("FINDNODE keeps order and duplicates") {
    const std::vector<std::uint16_t> distances{256, 0, 255, 1, 256};
    auto e = encode_findnode(buf, req, distances);
    REQUIRE(e);
    auto m = decode_message(*e);
    REQUIRE(m);
    const FindNode& f = std::get<FindNode>(*m);
    CHECK(bytes_of(f.req_id) == req);
    REQUIRE(f.distances.size() == distances.size());
    std::vector<std::uint16_t> got(f.distances.begin(), f.distances.end());
    CHECK(got == distances);
    auto empty = encode_findnode(buf2, {}, {});
    REQUIRE(empty);
    auto m2 = decode_message(*empty);
    REQUIRE(m2);
    CHECK(std::get<FindNode>(*m2).distances.empty());
    CHECK(std::get<FindNode>(*m2).req_id.empty());
  }
  SECTION("NODES") {
    const Bytes r1 = hex_or_die("c20102");  // any RLP lists will do for the codec
    const Bytes r2 = hex_or_die("c0");
    const Bytes r3 = hx(packet_vector(
        "ping_handshake_packet_with_enr")["expected_decode"]["authdata_record_rlp_hex"]);
    const std::vector<ByteView> records{r1, r2, r3};
    auto e = encode_nodes(buf, req, 2, records);
    REQUIRE(e);
    auto m = decode_message(*e);
    REQUIRE(m);
    const Nodes& n = std::get<Nodes>(*m);
    CHECK(n.total == 2);
    REQUIRE(n.records.size() == 3);
    auto it = n.records.begin();
    CHECK(bytes_of(*it++) == r1);
    CHECK(bytes_of(*it++) == r2);
    CHECK(bytes_of(*it++) == r3);
    CHECK(it == n.records.end());
    // Re-encoding the decoded views gives the same bytes.
    std::vector<ByteView> again(n.records.begin(), n.records.end());
    auto e2 = encode_nodes(buf2, n.req_id, n.total, again);
    REQUIRE(e2);
    CHECK(bytes_of(*e2) == bytes_of(*e));
    const std::vector<ByteView> bad{ByteView(r1).subspan(1)};  // 0x01: not a list
    CHECK(encode_nodes(buf, req, 1, bad).error() == V5Error::kBadRecord);
  }
  SECTION("TALKREQ and TALKRESP") {
    const Bytes proto = {'u', 't', 'p'};
    Bytes request(700, 0xab);
    auto e = encode_talkreq(buf, req, proto, request);
    REQUIRE(e);
    auto m = decode_message(*e);
    REQUIRE(m);
    const TalkReq& t = std::get<TalkReq>(*m);
    CHECK(bytes_of(t.req_id) == req);
    CHECK(bytes_of(t.protocol) == proto);
    CHECK(bytes_of(t.request) == request);

    auto e2 = encode_talkresp(buf2, req, {});
    REQUIRE(e2);
    auto m2 = decode_message(*e2);
    REQUIRE(m2);
    CHECK(name(type_of(*m2)) == "TALKRESP");
    CHECK(std::get<TalkResp>(*m2).response.empty());
  }
}

TEST_CASE("v5wire: message packet round trip with random-looking fields", "[v5wire]") {
  const NodeId src = node_id("node_a");
  const NodeId dst = node_id("node_b");
  const crypto::AesKey k = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  const Nonce nonce = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0xff, 0xfe};
  MaskingIv iv;  // the 128-bit counter wraps inside the header
  iv.fill(0xff);
  Scratch s;
  auto pt = encode_pong(s.plain, hex_or_die("01"), 3, *IpAddress::parse("10.0.0.1"), 9000);
  REQUIRE(pt);
  auto packet = encode_message_packet(s.out, crypto::AesCtr128(masking_key(dst)), src, nonce, iv,
                                      crypto::AesGcm128(k), *pt);
  REQUIRE(packet);
  const Bytes sent = bytes_of(*packet);
  auto h = decode_header(sent, b_masker(), s.header);
  REQUIRE(h);
  CHECK(h->src_id == src);
  CHECK(h->nonce == nonce);
  ByteArray<kMaxPacketSize> plain{};
  auto back = open_message(*h, crypto::AesGcm128(k), plain);
  REQUIRE(back);
  CHECK(bytes_of(*back) == bytes_of(*pt));
}

// ---- Header rejections -----------------------------------------------------------------------

TEST_CASE("v5wire: header rejections", "[v5wire][reject]") {
  const Bytes ping = hx(packet_vector("ping_message_packet")["packet_hex"]);
  const Bytes whoareyou = hx(packet_vector("whoareyou_packet")["packet_hex"]);
  const Bytes handshake = hx(packet_vector("ping_handshake_packet_without_enr")["packet_hex"]);

  SECTION("size range") {
    CHECK(header_error(ByteView(whoareyou).first(62)) == V5Error::kTooSmall);
    CHECK(header_error(ByteView()) == V5Error::kTooSmall);
    Bytes big = ping;
    big.resize(kMaxPacketSize + 1, 0);
    CHECK(header_error(big) == V5Error::kTooLarge);
    CHECK(is_not_discv5(V5Error::kTooSmall));
    CHECK(is_not_discv5(V5Error::kTooLarge));
  }
  SECTION("scratch too small") {
    ByteArray<80> small{};
    auto h = decode_header(ping, b_masker(), small);
    REQUIRE_FALSE(h);
    CHECK(h.error() == V5Error::kBufferTooSmall);
  }
  SECTION("not addressed to us: the protocol id does not unmask") {
    Scratch s;
    const crypto::AesCtr128 a_masker(masking_key(node_id("node_a")));
    auto h = decode_header(ping, a_masker, s.header);
    REQUIRE_FALSE(h);
    CHECK(h.error() == V5Error::kBadProtocolId);
    CHECK(is_not_discv5(h.error()));
    CHECK(header_error(forge("discv4", 1, 0, 32, 32, 17)) == V5Error::kBadProtocolId);
  }
  SECTION("bad version") {
    CHECK(header_error(forge("discv5", 2, 0, 32, 32, 17)) == V5Error::kBadVersion);
    CHECK(header_error(forge("discv5", 0, 0, 32, 32, 17)) == V5Error::kBadVersion);
    CHECK(is_not_discv5(V5Error::kBadVersion));
  }
  SECTION("unknown flag") {
    CHECK(header_error(forge("discv5", 1, 3, 32, 32, 17)) == V5Error::kBadFlag);
    CHECK(header_error(forge("discv5", 1, 0xff, 32, 32, 17)) == V5Error::kBadFlag);
    CHECK_FALSE(is_not_discv5(V5Error::kBadFlag));
  }
  SECTION("authdata-size past the end") {
    CHECK(header_error(forge("discv5", 1, 0, 1000, 32, 17)) == V5Error::kBadAuthSize);
    CHECK(header_error(forge("discv5", 1, 2, 0xffff, 200, 17)) == V5Error::kBadAuthSize);
    CHECK(header_error(forge("discv5", 1, 1, 25, 24, 0)) == V5Error::kBadAuthSize);
  }
  SECTION("authdata-size wrong for the flag") {
    CHECK(header_error(forge("discv5", 1, 0, 31, 31, 18)) == V5Error::kBadAuthSize);
    CHECK(header_error(forge("discv5", 1, 0, 33, 33, 17)) == V5Error::kBadAuthSize);
    CHECK(header_error(forge("discv5", 1, 1, 23, 23, 1)) == V5Error::kBadAuthSize);
    CHECK(header_error(forge("discv5", 1, 2, 130, 130, 17)) == V5Error::kBadAuthSize);
  }
  SECTION("WHOAREYOU with a message") {
    Bytes w = whoareyou;
    w.push_back(0);
    CHECK(header_error(w) == V5Error::kUnexpectedMessage);
  }
  SECTION("message too short for a tag") {
    // The vector PING with its ciphertext cut to 16 bytes (tag only, no type byte).
    CHECK(header_error(ByteView(ping).first(16 + 23 + 32 + 16)) == V5Error::kMessageTooShort);
    CHECK(header_error(ByteView(handshake).first(16 + 23 + 131 + 10)) == V5Error::kMessageTooShort);
  }
  SECTION("handshake sig-size and eph-key-size") {
    // Unmask the real handshake header, change a size byte, mask again.
    Scratch s;
    auto h = decode_header(handshake, b_masker(), s.header);
    REQUIRE(h);
    const std::size_t header_size = h->header_data.size() - 16;
    Bytes unmasked = bytes_of(h->header_data);
    unmasked.insert(unmasked.end(), h->message.begin(), h->message.end());
    Bytes sig = unmasked;
    sig[16 + 23 + 32] = 65;
    CHECK(header_error(mask_for_b(sig, header_size)) == V5Error::kBadSigSize);
    Bytes key = unmasked;
    key[16 + 23 + 33] = 64;
    CHECK(header_error(mask_for_b(key, header_size)) == V5Error::kBadEphKeySize);
    // Unchanged, the re-masked bytes are the original packet.
    CHECK(mask_for_b(unmasked, header_size) == handshake);
  }
}

TEST_CASE("v5wire: decryption fails on a wrong tag, key or header", "[v5wire][reject]") {
  const json& v = packet_vector("ping_message_packet");
  const crypto::AesGcm128 key(arr<16>(v["source_inputs"]["read_key_hex"]));
  Scratch s;
  SECTION("tag byte flipped") {
    Bytes p = hx(v["packet_hex"]);
    p.back() ^= 0x01;
    auto h = decode_header(p, b_masker(), s.header);
    REQUIRE(h);
    auto pt = open_message(*h, key, s.plain);
    REQUIRE_FALSE(pt);
    CHECK(pt.error() == V5Error::kDecryptFailed);
  }
  SECTION("wrong key") {
    const Bytes p = hx(v["packet_hex"]);
    auto h = decode_header(p, b_masker(), s.header);
    REQUIRE(h);
    crypto::AesKey other = arr<16>(v["source_inputs"]["read_key_hex"]);
    other[15] = 1;
    CHECK(open_message(*h, crypto::AesGcm128(other), s.plain).error() == V5Error::kDecryptFailed);
  }
  SECTION("masked src-id changed: the AD differs") {
    Bytes p = hx(v["packet_hex"]);
    p[16 + 23 + 5] ^= 0x80;
    auto h = decode_header(p, b_masker(), s.header);
    REQUIRE(h);
    CHECK(open_message(*h, key, s.plain).error() == V5Error::kDecryptFailed);
  }
  SECTION("plaintext buffer too small") {
    const Bytes p = hx(v["packet_hex"]);
    auto h = decode_header(p, b_masker(), s.header);
    REQUIRE(h);
    ByteArray<7> tiny{};
    CHECK(open_message(*h, key, tiny).error() == V5Error::kBufferTooSmall);
  }
}

// ---- Message rejections ----------------------------------------------------------------------

TEST_CASE("v5wire: message rejections", "[v5wire][reject]") {
  SECTION("empty and unknown types") {
    CHECK(message_error({}) == V5Error::kEmptyMessage);
    CHECK(message_error(hex_or_die("00c20101")) == V5Error::kUnknownMessage);
    CHECK(message_error(hex_or_die("07c20101")) == V5Error::kUnknownMessage);
    CHECK(message_error(hex_or_die("ffc20101")) == V5Error::kUnknownMessage);
  }
  SECTION("req-id of 9 bytes") {
    CHECK(message_error(hex_or_die("01cb89010203040506070809"
                                   "01")) == V5Error::kBadReqId);
    CHECK(message_error(hex_or_die("06cb89010203040506070809"
                                   "80")) == V5Error::kBadReqId);
    ByteArray<64> buf{};
    CHECK(encode_ping(buf, hex_or_die("010203040506070809"), 1).error() == V5Error::kBadReqId);
    // 8 bytes are fine.
    CHECK(
        decode_message(hex_or_die("01ca880102030405060708"
                                  "01")));
  }
  SECTION("malformed RLP") {
    CHECK(message_error(hex_or_die("01")) == V5Error::kBadRlp);            // no body
    CHECK(message_error(hex_or_die("018401020304")) == V5Error::kBadRlp);  // not a list
    CHECK(message_error(hex_or_die("01c3010203")) == V5Error::kBadRlp);    // extra element
    CHECK(message_error(hex_or_die("01c101")) == V5Error::kBadRlp);        // missing enr-seq
    CHECK(message_error(hex_or_die("01c2010100")) == V5Error::kBadRlp);    // trailing byte
    CHECK(message_error(hex_or_die("01c401820001")) == V5Error::kBadRlp);  // non-minimal int
    CHECK(message_error(hex_or_die("01c50189")) == V5Error::kBadRlp);      // truncated
    CHECK(message_error(hex_or_die("01c2c001")) == V5Error::kBadRlp);      // list as req-id
    CHECK(message_error(hex_or_die("03c20101")) == V5Error::kBadRlp);      // FINDNODE, int not list
    CHECK(message_error(hex_or_die("04c3010180")) == V5Error::kBadRlp);    // NODES, no list
  }
  SECTION("PONG recipient ip and port") {
    // [req=1, seq=1, ip=5 bytes, port=1]
    CHECK(message_error(hex_or_die("02c9010185010203040501")) == V5Error::kBadIp);
    CHECK(message_error(hex_or_die("02c40101"
                                   "80"
                                   "01")) == V5Error::kBadIp);
    // port 65536
    CHECK(message_error(hex_or_die("02cb01018401020304830100"
                                   "00")) == V5Error::kBadPort);
    auto ok =
        decode_message(hex_or_die("02ca01018401020304"
                                  "82ffff"));
    REQUIRE(ok);
    CHECK(std::get<Pong>(*ok).recipient_port == 0xffff);
  }
  SECTION("FINDNODE distances") {
    CHECK(message_error(hex_or_die("03c601c482010101")) == V5Error::kBadDistance);  // 257
    std::vector<std::uint16_t> many(kMaxFindNodeDistances + 1, 5);
    ByteArray<1024> buf{};
    CHECK(encode_findnode(buf, {}, many).error() == V5Error::kTooManyDistances);
    const std::vector<std::uint16_t> over{257};
    CHECK(encode_findnode(buf, {}, over).error() == V5Error::kBadDistance);
    // 258 one-byte entries on the wire.
    Bytes body(258, 0x05);
    Bytes plain = cat({hex_or_die("03f90106"
                                  "80"
                                  "f90102"),
                       body});
    REQUIRE(plain.size() == 1 + 3 + 1 + 3 + 258);
    CHECK(message_error(plain) == V5Error::kTooManyDistances);
    body.pop_back();  // 257 are accepted
    plain = cat({hex_or_die("03f90105"
                            "80"
                            "f90101"),
                 body});
    auto m = decode_message(plain);
    REQUIRE(m);
    CHECK(std::get<FindNode>(*m).distances.size() == 257);
  }
  SECTION("NODES element that is not a list") {
    CHECK(message_error(hex_or_die("04c70101c4c0820102")) == V5Error::kBadRecord);
  }
}

// ---- NODES splitting and packet size limits --------------------------------------------------

TEST_CASE("v5wire: NODES split of 16 records of 300 bytes", "[v5wire]") {
  // A 300-byte RLP list: f9 0129 || b9 0126 || 294 bytes.
  std::vector<Bytes> storage;
  for (int i = 0; i < 16; ++i) {
    Bytes r = {0xf9, 0x01, 0x29, 0xb9, 0x01, 0x26};
    r.resize(300, static_cast<std::uint8_t>(i));
    storage.push_back(r);
  }
  std::vector<ByteView> records(storage.begin(), storage.end());
  const std::size_t total = nodes_message_count(records);
  CHECK(total == 6);  // 3 records (900 bytes) fit the 1000-byte budget, 16 = 5 * 3 + 1

  const NodeId src = node_id("node_a");
  const crypto::AesCtr128 dest(masking_key(node_id("node_b")));
  const crypto::AesGcm128 key(crypto::AesKey{7});
  std::size_t seen = 0;
  for (std::size_t i = 0; i < total; ++i) {
    Scratch s;
    auto plain = encode_nodes_part(s.plain, hex_or_die("0102030405060708"), records, i);
    REQUIRE(plain);
    auto packet = encode_message_packet(s.out, dest, src, Nonce{}, MaskingIv{}, key, *plain);
    REQUIRE(packet);
    CHECK(packet->size() <= kMaxPacketSize);
    auto h = decode_header(*packet, b_masker(), s.header);
    REQUIRE(h);
    ByteArray<kMaxPacketSize> pt{};
    auto opened = open_message(*h, key, pt);
    REQUIRE(opened);
    auto m = decode_message(*opened);
    REQUIRE(m);
    const Nodes& n = std::get<Nodes>(*m);
    CHECK(n.total == total);
    for (ByteView r : n.records) {
      REQUIRE(seen < storage.size());
      CHECK(bytes_of(r) == storage[seen]);
      ++seen;
    }
  }
  CHECK(seen == 16);
  ByteArray<kMaxPacketSize> buf{};
  CHECK(encode_nodes_part(buf, {}, records, total).error() == V5Error::kBadArgument);

  SECTION("empty answer is one message") {
    CHECK(nodes_message_count({}) == 1);
    auto plain = encode_nodes_part(buf, hex_or_die("01"), {}, 0);
    REQUIRE(plain);
    auto m = decode_message(*plain);
    REQUIRE(m);
    CHECK(std::get<Nodes>(*m).total == 1);
    CHECK(std::get<Nodes>(*m).records.empty());
  }
  SECTION("budget boundaries") {
    const std::span<const ByteView> all(records);
    CHECK(nodes_message_count(all.first(3)) == 1);
    CHECK(nodes_message_count(all.first(4)) == 2);
    CHECK(nodes_message_count(all, 300) == 16);
    CHECK(nodes_message_count(all, 10) == 16);  // an oversized record travels alone
    CHECK(nodes_message_count(all, 1200) == 4);
  }
}

TEST_CASE("v5wire: encoder limits", "[v5wire][reject]") {
  const crypto::AesCtr128 dest(masking_key(node_id("node_b")));
  const crypto::AesGcm128 key(crypto::AesKey{});
  const NodeId src = node_id("node_a");
  ByteArray<2048> out{};
  // 71 bytes of header + 16 tag: 1193 bytes of plaintext is the most that fits in 1280.
  Bytes plain(kMaxPacketSize - kMessagePacketHeaderEnd - crypto::kGcmTagSize, 1);
  auto fits = encode_message_packet(out, dest, src, Nonce{}, MaskingIv{}, key, plain);
  REQUIRE(fits);
  CHECK(fits->size() == kMaxPacketSize);
  plain.push_back(1);
  CHECK(encode_message_packet(out, dest, src, Nonce{}, MaskingIv{}, key, plain).error() ==
        V5Error::kTooLarge);
  CHECK(encode_message_packet(out, dest, src, Nonce{}, MaskingIv{}, key, {}).error() ==
        V5Error::kEmptyMessage);
  ByteArray<100> small{};
  CHECK(
      encode_message_packet(small, dest, src, Nonce{}, MaskingIv{}, key, ByteView(plain).first(20))
          .error() == V5Error::kBufferTooSmall);
  const Bytes not_a_list = {0x01};
  CHECK(encode_handshake(out, dest, src, Nonce{}, MaskingIv{}, crypto::Signature{},
                         crypto::CompressedPublicKey{}, not_a_list, key, ByteView(plain).first(5))
            .error() == V5Error::kBadRecord);
  ByteArray<4> tiny{};
  CHECK(encode_ping(tiny, hex_or_die("01020304"), 1).error() == V5Error::kBufferTooSmall);
}

TEST_CASE("v5wire: accept_handshake rejects a non-handshake header and bad keys",
          "[v5wire][reject]") {
  Scratch s;
  const Bytes ping = hx(packet_vector("ping_message_packet")["packet_hex"]);
  auto h = decode_header(ping, b_masker(), s.header);
  REQUIRE(h);
  const Bytes challenge(kChallengeDataSize, 0);
  CHECK(
      accept_handshake(*h, challenge, node_pubkey("node_a"), node_key("node_b"), node_id("node_b"))
          .error() == V5Error::kBadArgument);
  // Initiator with an invalid ephemeral key (zero is not a valid scalar).
  auto hs =
      make_initiator_handshake(node_key("node_a"), crypto::PrivateKey{}, node_pubkey("node_b"),
                               node_id("node_a"), node_id("node_b"), challenge);
  REQUIRE_FALSE(hs);
  CHECK(hs.error() == V5Error::kBadEphemeralKey);
}

TEST_CASE("v5wire: burst-unmasked header prefixes decode exactly like one-by-one unmasking",
          "[v5wire]") {
  std::vector<Bytes> packets;
  for (const char* name : {"ping_message_packet", "whoareyou_packet",
                           "ping_handshake_packet_without_enr", "ping_handshake_packet_with_enr"}) {
    packets.push_back(hx(packet_vector(name)["packet_hex"]));
  }
  // Shapes around the size limits and a few forged/garbage packets, 40 in all (> one chunk of
  // 32 inside unmask_header_prefixes).
  const Bytes ping = packets[0];                              // a copy: push_back below reallocates
  packets.push_back(Bytes(ping.begin(), ping.begin() + 62));  // too small: no prefix
  packets.push_back(Bytes(ping.begin(), ping.begin() + 63));  // shorter than a full prefix
  Bytes big = ping;
  big.resize(kMaxPacketSize, 0x5a);
  packets.push_back(big);
  big.push_back(0);  // too large: no prefix
  packets.push_back(big);
  packets.push_back(forge("discv4", 1, 0, 32, 32, 17));
  packets.push_back(forge("discv5", 1, 0, 31, 31, 17));
  std::uint8_t fill = 1;
  while (packets.size() < 40) {
    packets.push_back(Bytes(63 + fill * 7, fill));
    ++fill;
  }
  std::vector<ByteView> views(packets.begin(), packets.end());
  std::vector<HeaderPrefix> prefixes(views.size());
  unmask_header_prefixes(views, b_masker(), prefixes);

  for (std::size_t i = 0; i < packets.size(); ++i) {
    INFO("packet " << i << " size " << packets[i].size());
    const ByteView p = packets[i];
    const bool in_range = p.size() >= kMinPacketSize && p.size() <= kMaxPacketSize;
    REQUIRE(prefixes[i].size ==
            (in_range ? std::min<std::size_t>(p.size() - 16, kHeaderPrefixSize) : 0));
    if (in_range) {  // the prefix is the unmasked header, byte for byte
      Bytes expect(prefixes[i].size);
      b_masker().apply(p.first(16), p.subspan(16, expect.size()), expect);
      CHECK(equal(prefixes[i].view(), expect));
    }
    Scratch one;
    Scratch burst;
    const auto a = decode_header(p, b_masker(), one.header);
    const auto b = decode_header(p, b_masker(), burst.header, prefixes[i].view());
    REQUIRE(a.has_value() == b.has_value());
    if (!a) {
      CHECK(a.error() == b.error());
      continue;
    }
    CHECK(a->flag == b->flag);
    CHECK(a->nonce == b->nonce);
    CHECK(a->src_id == b->src_id);
    CHECK(equal(a->header_data, b->header_data));
    CHECK(equal(a->authdata, b->authdata));
    CHECK(equal(a->message, b->message));
    CHECK(equal(a->record, b->record));
  }
  // The four vectors decode (the burst path is not vacuous).
  for (std::size_t i = 0; i < 4; ++i) {
    Scratch s;
    CHECK(decode_header(packets[i], b_masker(), s.header, prefixes[i].view()));
  }
  // A prefix of the wrong size is ignored: the decoder unmasks for itself.
  Scratch s;
  const auto h = decode_header(ping, b_masker(), s.header, prefixes[0].view().first(10));
  REQUIRE(h);
  CHECK(h->flag == Flag::kMessage);
  // The prefix is trusted (the caller's contract: it is this packet's): a changed prefix
  // decides the outcome, so the decoder really reads it instead of unmasking again.
  HeaderPrefix changed = prefixes[0];
  changed.bytes[0] ^= 1;  // "discv5" -> "eiscv5"
  const auto bad = decode_header(ping, b_masker(), s.header, changed.view());
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == V5Error::kBadProtocolId);
}

TEST_CASE("v5wire: PONG (written directly) equals the generic RLP encoding at every boundary",
          "[v5wire]") {
  const std::vector<std::uint64_t> seqs = {0,          1,          0x7f,   0x80,
                                           0xff,       0x100,      0xffff, 0x10000,
                                           0xffffffff, 1ULL << 32, ~0ULL,  0x0102030405060708ULL};
  const std::vector<std::uint16_t> ports = {0, 1, 0x7f, 0x80, 0xff, 0x100, 30303, 65535};
  const std::vector<IpAddress> ips = {IpAddress::v4(127, 0, 0, 1), IpAddress::v4(0, 0, 0, 0),
                                      *IpAddress::parse("fd00::1")};
  const Bytes id_bytes = hex_or_die("000102030405067f");
  int checked = 0;
  for (std::size_t id_len = 0; id_len <= kMaxReqIdSize; ++id_len) {
    for (const Bytes& req_id : {Bytes(id_bytes.begin(), id_bytes.begin() + id_len),
                                Bytes(id_len, 0x80), Bytes(id_len, 0x00)}) {
      for (const auto seq : seqs) {
        for (const auto& ip : ips) {
          for (const auto port : ports) {
            rlp::Builder b;
            const std::size_t list = b.begin_list();
            b.add_string(req_id);
            b.add_uint(seq);
            b.add_string(ip.view());
            b.add_uint(port);
            b.end_list(list);
            Bytes expect{static_cast<std::uint8_t>(MessageType::kPong)};
            expect.insert(expect.end(), b.bytes().begin(), b.bytes().end());
            Bytes buf(kMaxPacketSize);
            const auto got = encode_pong(buf, req_id, seq, ip, port);
            REQUIRE(got);
            REQUIRE(equal(*got, expect));
            // and it decodes back
            const auto m = decode_message(*got);
            REQUIRE(m);
            const auto& pong = std::get<Pong>(*m);
            CHECK(equal(pong.req_id, req_id));
            CHECK(pong.enr_seq == seq);
            CHECK(pong.recipient_ip == ip);
            CHECK(pong.recipient_port == port);
            ++checked;
          }
        }
      }
    }
  }
  CHECK(checked == 9 * 3 * 12 * 3 * 8);
  // Exactly-sized and too-small buffers go through the checked path.
  const Bytes req_id = hex_or_die("0102030405060708");
  Bytes full(kMaxPacketSize);
  const auto ref = encode_pong(full, req_id, ~0ULL, *IpAddress::parse("fd00::1"), 65535);
  REQUIRE(ref);
  Bytes exact(ref->size());
  const auto e = encode_pong(exact, req_id, ~0ULL, *IpAddress::parse("fd00::1"), 65535);
  REQUIRE(e);
  CHECK(equal(*e, *ref));
  Bytes small(ref->size() - 1);
  const auto s = encode_pong(small, req_id, ~0ULL, *IpAddress::parse("fd00::1"), 65535);
  REQUIRE_FALSE(s);
  CHECK(s.error() == V5Error::kBufferTooSmall);
  Bytes id9(9, 1);
  CHECK(encode_pong(full, id9, 1, IpAddress::v4(127, 0, 0, 1), 1).error() == V5Error::kBadReqId);
}
