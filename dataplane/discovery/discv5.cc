// discv5.1 behaviour of the merged engine (devp2p discv5-wire.md, discv5-theory.md): header
// plausibility, sessions keyed by (node id, endpoint), WHOAREYOU challenges with per-IP and
// global limits, both sides of the handshake, the six messages, and our requests (random
// packet -> WHOAREYOU -> handshake, timeout with one retry). The codec (v5wire) does the
// bytes; the table, lookups and votes are the Engine's.
#include "discv5.h"

#include <algorithm>
#include <bitset>

#include "discplane/wire/v5wire.h"

#include "rate_limit.h"

namespace discplane::disc {

using v5wire::MessageType;

namespace {

constexpr std::size_t kMaxPacket = v5wire::kMaxPacketSize;
// Room for a message's plaintext in an ordinary message packet.
constexpr std::size_t kMaxMessagePlaintext =
    kMaxPacket - v5wire::kMessagePacketHeaderEnd - crypto::kGcmTagSize;
// A request may have to travel inside a handshake packet with our record (<= 300 bytes), so
// the plaintext we keep for it must fit there: 16 + 23 + 131 + 300 + tag.
constexpr std::size_t kMaxRequestPlaintext =
    kMaxPacket - v5wire::kMaskingIvSize - v5wire::kStaticHeaderSize -
    v5wire::kHandshakeAuthdataMinSize - kMaxEnrSize - crypto::kGcmTagSize;
static_assert(kMaxRequestPlaintext < kMaxMessagePlaintext);
// A TALKRESP adds at most type(1) + list(3) + req-id(9) + string prefix(3) to the response.
constexpr std::size_t kMaxTalkResponse = kMaxMessagePlaintext - 16;
constexpr std::size_t kReqIdSize = 8;
// Requests a scan of the deadline list acts on per pass (the rest wait 10 ms).
constexpr std::size_t kDeadlineBatch = 256;
// Rate-limit buckets idle this long are full again: prune() forgets them.
constexpr std::int64_t kBucketIdleNs = 60 * kSecond;
// Records taken from one NODES message (a 1000-byte budget holds fewer than 16).
constexpr std::size_t kMaxRecordsPerNodes = 32;

std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

struct SessionKey {
  NodeId id{};
  Endpoint endpoint;
  friend bool operator==(const SessionKey& a, const SessionKey& b) noexcept {
    return equal_words(a.id, b.id) && a.endpoint == b.endpoint;
  }
};
struct SessionKeyHash {
  std::size_t operator()(const SessionKey& k) const noexcept {
    return NodeIdHash{}(k.id) ^ static_cast<std::size_t>(mix64(EndpointHash{}(k.endpoint)));
  }
};
// Request ids and nonces are ours (random): mixing is enough.
struct U64Hash {
  std::size_t operator()(std::uint64_t v) const noexcept {
    return static_cast<std::size_t>(mix64(v));
  }
};
struct NonceHash {
  std::size_t operator()(const v5wire::Nonce& n) const noexcept {
    std::uint64_t a;
    std::uint32_t b;
    std::memcpy(&a, n.data(), 8);
    std::memcpy(&b, n.data() + 8, 4);
    return static_cast<std::size_t>(mix64(a ^ (static_cast<std::uint64_t>(b) << 17)));
  }
};

std::uint64_t load_req_id(ByteView req_id) {
  std::uint64_t v = 0;
  std::memcpy(&v, req_id.data(), kReqIdSize);
  return v;
}

std::size_t type_index(MessageType t) {
  return static_cast<std::size_t>(t);
}
constexpr std::size_t kWhoareyouIndex = 0;
constexpr std::size_t kHandshakeIndex = 7;

}  // namespace

struct Discv5State::Impl {
  // An established session. Key schedules are built once, at the handshake; a message on
  // the session then costs two AES operations and no allocation. The schedules are inline,
  // so a session is one 2.3 KB block right after its key in the map's slot: a ping reads
  // the key's line and ~13 lines of key schedules in that block, and chases no pointer
  // (with thousands of sessions these lines come from L3: fewer of them, closer together,
  // is what the session count costs). Hot fields first, next to the header-mask schedule.
  struct Session {
    Session(const crypto::AesKey& read_key, const crypto::AesKey& write_key, const NodeId& peer,
            const crypto::PublicKey& peer_key) noexcept
        : masker(v5wire::masking_key(peer)),
          read(read_key),
          write(write_key),
          public_key(peer_key) {}
    crypto::AesCtr128 masker;  // header mask for packets to the peer
    std::int64_t last_used_ns = 0;
    std::uint32_t nonce_counter = 0;
    crypto::AesGcm128 read;
    crypto::AesGcm128 write;
    crypto::PublicKey public_key{};  // cold: read when a response is accepted
  };
  // A WHOAREYOU we sent. The packet itself is kept so that a repeated trigger gets the very
  // same challenge (geth: a second challenge would invalidate a handshake already underway).
  struct Challenge {
    v5wire::ChallengeData data{};
    ByteArray<v5wire::kWhoareyouPacketSize> packet{};
    std::uint64_t enr_seq = 0;
    std::int64_t sent_ns = 0;
  };
  enum class Kind : std::uint8_t { kPing, kFindNode, kEnr, kTalk };
  enum class State : std::uint8_t {
    kQueued,         // another request to the node is handshaking: sent when it completes
    kRandomSent,     // random packet sent, awaiting WHOAREYOU
    kHandshakeSent,  // carried by our handshake packet
    kSent,           // sent on a session
  };
  // One request of ours. The plaintext is kept: a WHOAREYOU makes us re-send it inside the
  // handshake, and a timeout re-sends it once.
  struct Request {
    Kind kind = Kind::kPing;
    State state = State::kQueued;
    NodeRef node;
    std::uint32_t lookup_slot = 0;
    std::int64_t sent_ns = 0;
    std::uint8_t retries = 0;
    v5wire::Nonce nonce{};
    std::array<std::uint16_t, 3> distances{};
    std::uint8_t distance_count = 0;
    std::uint8_t responses = 0;  // NODES messages received
    std::uint16_t plaintext_size = 0;
    std::array<std::uint8_t, kMaxRequestPlaintext> plaintext{};
  };

  explicit Impl(Engine& e);

  // ---- helpers ----
  void random_bytes(MutableByteView out) noexcept;
  v5wire::Nonce next_nonce(std::uint32_t& counter) noexcept;
  v5wire::MaskingIv masking_iv() noexcept;
  MutableByteView tx() noexcept;
  void commit(std::size_t size, const Endpoint& to, std::size_t counter_index) noexcept;
  template <class Encode>
  std::optional<v5wire::Nonce> send_on_session(const SessionKey& key, Encode&& encode) noexcept;
  bool whoareyou_allowed(const IpAddress& ip) noexcept;
  void store_session(const SessionKey& key, Session&& s) noexcept;

  // ---- incoming, verify then handle ----
  void on_message_packet(const v5wire::Header& h, const Endpoint& from) noexcept;
  void on_whoareyou(const v5wire::Header& h, const Endpoint& from) noexcept;
  void on_handshake(const v5wire::Header& h, const Endpoint& from) noexcept;
  void send_whoareyou(const v5wire::Header& h, const Endpoint& from) noexcept;
  void dispatch(const v5wire::Message& m, const SessionKey& key) noexcept;
  void handle_ping(const v5wire::Ping& m, const SessionKey& key) noexcept;
  void handle_pong(const v5wire::Pong& m, const SessionKey& key) noexcept;
  void handle_findnode(const v5wire::FindNode& m, const SessionKey& key) noexcept;
  void handle_nodes(const v5wire::Nodes& m, const SessionKey& key) noexcept;
  void handle_talkreq(const v5wire::TalkReq& m, const SessionKey& key) noexcept;
  bool request_allowed(const SessionKey& key) noexcept;
  void handle_talkresp(const v5wire::TalkResp& m, const SessionKey& key) noexcept;
  Request* solicited(ByteView req_id, Kind kind, const SessionKey& key) noexcept;

  // ---- outgoing requests ----
  template <class Encode>
  bool start_request(Kind kind, const NodeRef& node, std::uint32_t slot, Encode&& encode,
                     std::uint64_t* id_out = nullptr) noexcept;
  void transmit(std::uint64_t id, Request& r) noexcept;
  bool random_packet_pending(const SessionKey& key, std::uint64_t except) const noexcept;
  void flush_waiting(const SessionKey& key) noexcept;
  void fail(std::uint64_t id) noexcept;

  Engine& engine;
  crypto::AesCtr128 own_masker;  // unmasks headers sent to us: key = our id[0:16]
  crypto::AesGcm128 junk_key;    // seals the random packets that provoke a WHOAREYOU
  FixedLruMap<SessionKey, Session, SessionKeyHash> sessions;
  FixedLruMap<SessionKey, Challenge, SessionKeyHash> challenges;
  FixedLruMap<std::uint64_t, Request, U64Hash> requests;
  // A WHOAREYOU carries no source id, only the nonce of the packet it answers: this map
  // finds the request from that nonce.
  FixedLruMap<v5wire::Nonce, std::uint64_t, NonceHash> by_nonce;
  KeyedRateLimiter<IpAddress, IpOnlyHash> whoareyou_ips;
  TokenBucket global_bucket;
  RequestLimiter request_limiter;
  std::uint32_t random_packet_counter = 0;

  // Scratch, reused for every packet.
  std::array<std::uint8_t, kMaxPacket> header_scratch{};
  std::array<std::uint8_t, kMaxPacket> plaintext_scratch{};
  std::array<std::uint8_t, kMaxTalkResponse> talk_scratch{};
  std::array<std::uint8_t, 512> random_pool{};
  std::size_t random_used = random_pool.size();
  std::array<ByteView, 16> record_scratch{};
  std::array<const PeerEntry*, 32> entry_scratch{};
  std::array<PeerInfo, kMaxRecordsPerNodes> found_scratch{};
  std::array<enr::Record, kMaxRecordsPerNodes> record_decoded{};
};

namespace {
crypto::AesKey random_key(crypto::RandomSource& rng) {
  crypto::AesKey k;
  rng.fill(k);
  return k;
}
}  // namespace

Discv5State::Impl::Impl(Engine& e)
    : engine(e),
      own_masker(v5wire::masking_key(e.local().id)),
      junk_key(random_key(e.rng())),
      sessions(e.config().max_sessions),
      challenges(e.config().max_challenges),
      requests(e.config().v5_max_pending),
      by_nonce(e.config().v5_max_pending),
      whoareyou_ips(e.config().whoareyou_rate_limit_ips),
      request_limiter(e.config().v5_request_limits) {}

// ---- helpers ---------------------------------------------------------------------------------

// Nonces and IVs come from a pool refilled in bulk from the engine's source.
void Discv5State::Impl::random_bytes(MutableByteView out) noexcept {
  std::size_t done = 0;
  while (done < out.size()) {
    if (random_used == random_pool.size()) {
      engine.rng().fill(random_pool);
      random_used = 0;
    }
    const std::size_t n = std::min(out.size() - done, random_pool.size() - random_used);
    std::memcpy(out.data() + done, random_pool.data() + random_used, n);
    random_used += n;
    done += n;
  }
}

// 32-bit counter || 64 random bits (discv5-wire.md recommends exactly this).
v5wire::Nonce Discv5State::Impl::next_nonce(std::uint32_t& counter) noexcept {
  v5wire::Nonce n;
  ++counter;
  n[0] = static_cast<std::uint8_t>(counter >> 24);
  n[1] = static_cast<std::uint8_t>(counter >> 16);
  n[2] = static_cast<std::uint8_t>(counter >> 8);
  n[3] = static_cast<std::uint8_t>(counter);
  random_bytes(MutableByteView(n).subspan(4));
  return n;
}

v5wire::MaskingIv Discv5State::Impl::masking_iv() noexcept {
  v5wire::MaskingIv iv;
  random_bytes(iv);
  return iv;
}

MutableByteView Discv5State::Impl::tx() noexcept {
  MutableByteView buf = engine.tx_buffer();
  return buf.size() > kMaxPacket ? buf.first(kMaxPacket) : buf;
}

void Discv5State::Impl::commit(std::size_t size, const Endpoint& to, std::size_t index) noexcept {
  ++engine.counters().tx_v5[std::min(index, engine.counters().tx_v5.size() - 1)];
  engine.tx_commit(size, to);
}

// Encodes a message into the TX buffer right where the packet's ciphertext goes and seals
// it in place. Returns the nonce used, or nothing when no packet went out.
template <class Encode>
std::optional<v5wire::Nonce> Discv5State::Impl::send_on_session(const SessionKey& key,
                                                                Encode&& encode) noexcept {
  Session* s = sessions.peek(key);
  if (s == nullptr) {
    return std::nullopt;
  }
  MutableByteView buf = tx();
  if (buf.size() < kMaxPacket) {
    return std::nullopt;
  }
  auto pt = encode(buf.subspan(v5wire::kMessagePacketHeaderEnd, kMaxMessagePlaintext));
  if (!pt || pt->empty()) {
    engine.counters().drop(Drop::kEncodeFailed);
    return std::nullopt;
  }
  const std::uint8_t type = (*pt)[0];  // read before the plaintext is sealed in place
  const v5wire::Nonce nonce = next_nonce(s->nonce_counter);
  auto packet = v5wire::encode_message_packet(buf, s->masker, engine.local().id, nonce,
                                              masking_iv(), s->write, *pt);
  if (!packet) {
    engine.counters().drop(Drop::kEncodeFailed);
    return std::nullopt;
  }
  commit(packet->size(), key.endpoint, type);
  return nonce;
}

bool Discv5State::Impl::whoareyou_allowed(const IpAddress& ip) noexcept {
  const ServerConfig& c = engine.config();
  const std::int64_t now = engine.now().mono_ns;
  if (!whoareyou_ips.allow(ip, c.whoareyou_per_ip_rate, c.whoareyou_per_ip_burst, now)) {
    return false;
  }
  return take_token(global_bucket, c.whoareyou_global_rate, c.whoareyou_global_burst, now);
}

void Discv5State::Impl::store_session(const SessionKey& key, Session&& s) noexcept {
  s.last_used_ns = engine.now().mono_ns;
  if (sessions.insert(key, std::move(s)).evicted) {
    ++engine.counters().v5_sessions_evicted;
  }
}

// ---- public face -----------------------------------------------------------------------------

Discv5State::Discv5State(Engine& engine) : impl_(std::make_unique<Impl>(engine)) {}
Discv5State::~Discv5State() = default;

// Cheap: size, then 23 bytes of AES-CTR. No GCM, no ECDSA.
void Discv5State::unmask_header_prefixes(std::span<const ByteView> packets,
                                         std::span<v5wire::HeaderPrefix> out) const noexcept {
  v5wire::unmask_header_prefixes(packets, impl_->own_masker, out);
}

void Discv5State::on_packet(ByteView payload, const Endpoint& from,
                            ByteView header_prefix) noexcept {
  Impl& s = *impl_;
  auto h = v5wire::decode_header(payload, s.own_masker, s.header_scratch, header_prefix);
  if (!h) {
    // Neither discv4 (the engine checked first) nor a discv5 header: not discovery at all.
    s.engine.counters().drop(v5wire::is_not_discv5(h.error()) ? Drop::kNotDiscovery
                                                              : Drop::kV5Malformed);
    return;
  }
  if (h->flag != v5wire::Flag::kWhoareyou && equal_words(h->src_id, s.engine.local().id)) {
    s.engine.counters().drop(Drop::kV5Malformed);  // our own id: a reflection
    return;
  }
  if (h->flag != v5wire::Flag::kWhoareyou && !s.engine.admits_sender(h->src_id)) {
    return;  // banned node id (counted)
  }
  switch (h->flag) {
    case v5wire::Flag::kMessage:
      s.on_message_packet(*h, from);
      break;
    case v5wire::Flag::kWhoareyou:
      ++s.engine.counters().rx_v5[kWhoareyouIndex];
      s.on_whoareyou(*h, from);
      break;
    case v5wire::Flag::kHandshake:
      ++s.engine.counters().rx_v5[kHandshakeIndex];
      s.on_handshake(*h, from);
      break;
  }
}

// ---- message packets -------------------------------------------------------------------------
// Decrypted with the session of (src id, source endpoint). A packet from the same id at
// another endpoint does not use the session: it is challenged, so a session cannot be
// redirected by spoofing the source address.
void Discv5State::Impl::on_message_packet(const v5wire::Header& h, const Endpoint& from) noexcept {
  const SessionKey key{h.src_id, from};
  Session* s = sessions.find(key);
  if (s == nullptr) {
    send_whoareyou(h, from);
    return;
  }
  auto pt = v5wire::open_message(h, s->read, plaintext_scratch);
  if (!pt) {
    send_whoareyou(h, from);  // the peer lost the session (restart): handshake again
    return;
  }
  s->last_used_ns = engine.now().mono_ns;
  auto m = v5wire::decode_message(*pt);
  if (!m) {
    engine.counters().drop(Drop::kV5Malformed);
    return;
  }
  dispatch(*m, key);
}

// ---- WHOAREYOU/v5 (sending) ------------------------------------------------------------------
// While a challenge for (id, endpoint) is pending, the same packet is sent again (as geth):
// a fresh challenge would break a handshake the peer may already be computing.
void Discv5State::Impl::send_whoareyou(const v5wire::Header& h, const Endpoint& from) noexcept {
  if (!whoareyou_allowed(from.ip)) {
    engine.counters().drop(Drop::kV5WhoareyouLimited);
    return;
  }
  const SessionKey key{h.src_id, from};
  const std::int64_t now = engine.now().mono_ns;
  if (Challenge* c = challenges.peek(key);
      c != nullptr && now - c->sent_ns < engine.config().handshake_timeout_ns) {
    MutableByteView buf = tx();
    if (buf.size() < c->packet.size()) {
      return;
    }
    std::memcpy(buf.data(), c->packet.data(), c->packet.size());
    ++engine.counters().v5_whoareyou_resent;
    commit(c->packet.size(), from, kWhoareyouIndex);
    return;
  }
  MutableByteView buf = tx();
  if (buf.size() < v5wire::kWhoareyouPacketSize) {
    return;
  }
  const PeerEntry* known = engine.table().find_any(h.src_id);
  const std::uint64_t enr_seq = known != nullptr && known->enr_size > 0 ? known->enr_seq : 0;
  v5wire::IdNonce id_nonce;
  engine.rng().fill(id_nonce);
  // Building the peer's masker costs one small allocation; challenges are not steady state.
  const crypto::AesCtr128 masker(v5wire::masking_key(h.src_id));
  auto w = v5wire::encode_whoareyou(buf, masker, h.nonce, id_nonce, enr_seq, masking_iv());
  if (!w) {
    engine.counters().drop(Drop::kEncodeFailed);
    return;
  }
  Challenge c;
  c.data = w->challenge_data;
  std::memcpy(c.packet.data(), w->packet.data(), c.packet.size());
  c.enr_seq = enr_seq;
  c.sent_ns = now;
  (void)challenges.insert(key, c);
  ++engine.counters().v5_whoareyou_sent;
  commit(w->packet.size(), from, kWhoareyouIndex);
}

// ---- WHOAREYOU/v5 (receiving) ----------------------------------------------------------------
// Must answer a packet of ours (by its nonce) and come from where we sent it. We answer with
// a handshake carrying the original request; the session is ours from now on.
void Discv5State::Impl::on_whoareyou(const v5wire::Header& h, const Endpoint& from) noexcept {
  const std::uint64_t* id = by_nonce.peek(h.nonce);
  Request* r = id != nullptr ? requests.peek(*id) : nullptr;
  if (r == nullptr || r->node.endpoint != from || r->state == State::kHandshakeSent) {
    engine.counters().drop(Drop::kV5UnknownWhoareyou);
    return;
  }
  const std::uint64_t req_id = *id;
  (void)by_nonce.erase(h.nonce);  // one handshake per packet of ours

  crypto::PublicKey remote = r->node.public_key;
  if (remote == crypto::PublicKey{}) {
    auto ref = engine.resolve(r->node.id);
    if (!ref || ref->public_key == crypto::PublicKey{}) {
      engine.counters().drop(Drop::kV5UnknownWhoareyou);
      return;
    }
    remote = ref->public_key;
    r->node.public_key = remote;
  }
  crypto::PrivateKey eph;
  do {
    engine.rng().fill(eph);
  } while (!crypto::is_valid_private_key(eph));
  const LocalNode& local = engine.local();
  auto hs = v5wire::make_initiator_handshake(local.private_key, eph, remote, local.id, r->node.id,
                                             h.header_data);
  if (!hs) {
    engine.counters().drop(Drop::kV5UnknownWhoareyou);
    return;
  }
  // We initiate: we write with the initiator key and read with the recipient key.
  Session s(/*read_key=*/hs->keys.recipient_key, /*write_key=*/hs->keys.initiator_key, r->node.id,
            remote);
  const SessionKey key{r->node.id, from};
  const ByteView record = h.enr_seq < local.record.seq() ? local.record.raw() : ByteView{};

  MutableByteView buf = tx();
  if (buf.size() < kMaxPacket) {
    return;
  }
  const v5wire::Nonce nonce = next_nonce(s.nonce_counter);
  auto packet = v5wire::encode_handshake(buf, s.masker, local.id, nonce, masking_iv(),
                                         hs->id_signature, hs->eph_pubkey, record, s.write,
                                         ByteView(r->plaintext.data(), r->plaintext_size));
  if (!packet) {
    engine.counters().drop(Drop::kEncodeFailed);
    return;
  }
  r->state = State::kHandshakeSent;
  r->nonce = nonce;
  r->sent_ns = engine.now().mono_ns;
  ++engine.counters().v5_handshakes_initiated;
  commit(packet->size(), from, kHandshakeIndex);
  store_session(key, std::move(s));
  (void)req_id;
  flush_waiting(key);
}

// ---- HANDSHAKE/v5 ----------------------------------------------------------------------------
// Needs our pending challenge for (src id, endpoint). The signature is checked over the
// challenge we stored, never over anything the packet supplies; the session exists only
// once its first message decrypted.
void Discv5State::Impl::on_handshake(const v5wire::Header& h, const Endpoint& from) noexcept {
  const SessionKey key{h.src_id, from};
  const Challenge* found = challenges.peek(key);
  if (found == nullptr) {
    engine.counters().drop(Drop::kV5BadHandshake);
    return;
  }
  // The challenge is used up by this packet whether or not it is accepted (as geth's codec):
  // kept after a refusal, it would be re-sent for the node's next packets with the nonce of
  // this one, which the peer ignores as unsolicited, and the peer would be stuck until it
  // expired. A fresh trigger now gets a fresh WHOAREYOU.
  const Challenge challenge = *found;
  const Challenge* c = &challenge;
  (void)challenges.erase(key);
  std::optional<enr::Record> record;
  crypto::PublicKey remote{};
  if (!h.record.empty()) {
    auto r = engine.verified_record(h.record);
    if (!r || r->node_id() != h.src_id) {
      engine.counters().drop(Drop::kV5BadHandshake);
      return;
    }
    record = *r;
    remote = r->public_key();
  } else {
    // Without a record we need the key from elsewhere, and a peer told (by enr-seq 0) that
    // we hold no record of it must send one.
    auto ref = engine.resolve(h.src_id);
    if (c->enr_seq == 0 || !ref || ref->public_key == crypto::PublicKey{}) {
      engine.counters().drop(Drop::kV5BadHandshake);
      return;
    }
    remote = ref->public_key;
  }
  const LocalNode& local = engine.local();
  auto keys = v5wire::accept_handshake(h, c->data, remote, local.private_key, local.id);
  if (!keys) {
    engine.counters().drop(Drop::kV5BadHandshake);
    return;
  }
  // We are the recipient: read with the initiator key, write with the recipient key.
  Session s(/*read_key=*/keys->initiator_key, /*write_key=*/keys->recipient_key, h.src_id, remote);
  auto pt = v5wire::open_message(h, s.read, plaintext_scratch);
  if (!pt) {
    engine.counters().drop(Drop::kV5BadHandshake);
    return;
  }
  auto m = v5wire::decode_message(*pt);
  if (!m) {
    engine.counters().drop(Drop::kV5BadHandshake);
    return;
  }
  store_session(key, std::move(s));
  ++engine.counters().v5_handshakes_accepted;
  // As geth: an inbound handshake puts the node in the table only when it can be contacted
  // back, i.e. its record carries a UDP endpoint (or we already hold it). Clients whose
  // records have none (crawlers, testers) get answers but no table slot to go stale in.
  const bool reachable = record ? (record->udp_endpoint_v4() || record->udp_endpoint_v6())
                                : engine.table().find_any(h.src_id) != nullptr;
  if (reachable) {
    engine.on_node_seen(Protocol::kV5, NodeRef{h.src_id, remote, from},
                        record ? &*record : nullptr);
  }
  flush_waiting(key);
  dispatch(*m, key);
}

// ---- messages: one short handler each ------------------------------------------------------

void Discv5State::Impl::dispatch(const v5wire::Message& m, const SessionKey& key) noexcept {
  ++engine.counters().rx_v5[type_index(v5wire::type_of(m))];
  std::visit(
      [&](const auto& msg) {
        using T = std::decay_t<decltype(msg)>;
        if constexpr (std::is_same_v<T, v5wire::Ping>) {
          handle_ping(msg, key);
        } else if constexpr (std::is_same_v<T, v5wire::Pong>) {
          handle_pong(msg, key);
        } else if constexpr (std::is_same_v<T, v5wire::FindNode>) {
          handle_findnode(msg, key);
        } else if constexpr (std::is_same_v<T, v5wire::Nodes>) {
          handle_nodes(msg, key);
        } else if constexpr (std::is_same_v<T, v5wire::TalkReq>) {
          handle_talkreq(msg, key);
        } else {
          handle_talkresp(msg, key);
        }
      },
      m);
}

// A response counts only for an outstanding request of that kind, to that node and endpoint.
Discv5State::Impl::Request* Discv5State::Impl::solicited(ByteView req_id, Kind kind,
                                                         const SessionKey& key) noexcept {
  Request* r = req_id.size() == kReqIdSize ? requests.peek(load_req_id(req_id)) : nullptr;
  const bool kind_ok =
      r != nullptr && (r->kind == kind || (kind == Kind::kFindNode && r->kind == Kind::kEnr));
  if (!kind_ok || r->node.id != key.id || r->node.endpoint != key.endpoint) {
    engine.counters().drop(Drop::kV5Unsolicited);
    return nullptr;
  }
  const Session* s = sessions.peek(key);
  // The peer decrypted our message and answered under the session keys: it is who it claims.
  engine.on_node_seen(
      Protocol::kV5,
      NodeRef{key.id, s != nullptr ? s->public_key : r->node.public_key, key.endpoint}, nullptr);
  return r;
}

// ---- PING/v5 ---------------------------------------------------------------------------------
// PONG to the packet's source, which is also the recipient address we report.
void Discv5State::Impl::handle_ping(const v5wire::Ping& m, const SessionKey& key) noexcept {
  (void)send_on_session(key, [&](MutableByteView out) {
    return v5wire::encode_pong(out, m.req_id, engine.local().record.seq(), key.endpoint.ip,
                               key.endpoint.port);
  });
}

// ---- PONG/v5 ---------------------------------------------------------------------------------
void Discv5State::Impl::handle_pong(const v5wire::Pong& m, const SessionKey& key) noexcept {
  Request* r = solicited(m.req_id, Kind::kPing, key);
  if (r == nullptr) {
    return;
  }
  (void)requests.erase(load_req_id(m.req_id));
  engine.on_pong(Protocol::kV5, key.id, key.endpoint, Endpoint{m.recipient_ip, m.recipient_port},
                 m.enr_seq);
}

// FINDNODE and TALKREQ draw answers larger than they are (up to ~5 KB of NODES for ~100 B):
// even on an established session they are rate limited per source IP and per node id, so
// one peer cannot turn the node into a traffic source at line rate. Honest peers ask a few
// times per lookup, far below the limits.
bool Discv5State::Impl::request_allowed(const SessionKey& key) noexcept {
  if (request_limiter.allow(key.endpoint.ip, key.id, engine.now().mono_ns)) {
    return true;
  }
  engine.counters().drop(Drop::kV5RequestLimited);
  return false;
}

// ---- FINDNODE/v5 -----------------------------------------------------------------------------
// Distance 0 is our own record; others come from the table (entries with a record only).
// Duplicates are skipped (as geth); at most findnode_results records, split into NODES
// messages of <= 1280 bytes, each carrying the total.
void Discv5State::Impl::handle_findnode(const v5wire::FindNode& m, const SessionKey& key) noexcept {
  if (!request_allowed(key)) {
    return;
  }
  const std::size_t limit =
      std::min<std::size_t>(engine.config().findnode_results, record_scratch.size());
  std::bitset<v5wire::kMaxDistance + 1> seen;
  std::size_t n = 0;
  for (const std::uint16_t d : m.distances) {
    if (n >= limit) {
      break;
    }
    if (d > v5wire::kMaxDistance || seen.test(d)) {
      continue;
    }
    seen.set(d);
    if (d == 0) {
      record_scratch[n++] = engine.local().record.raw();
      continue;
    }
    // Only nodes known to speak discv5 (a dual-protocol table also holds discv4-only nodes),
    // those verified live on discv5 first.
    const std::size_t found = engine.table().nodes_at_distance(d, entry_scratch, kFlagV5, true);
    for (std::size_t i = 0; i < found && n < limit; ++i) {
      if (entry_scratch[i]->enr_size > 0) {
        record_scratch[n++] = entry_scratch[i]->enr_bytes();
      }
    }
  }
  const std::span<const ByteView> records(record_scratch.data(), n);
  const std::size_t parts = v5wire::nodes_message_count(records);
  for (std::size_t i = 0; i < parts; ++i) {
    if (!send_on_session(key, [&](MutableByteView out) {
          return v5wire::encode_nodes_part(out, m.req_id, records, i);
        })) {
      return;
    }
  }
}

// ---- NODES/v5 --------------------------------------------------------------------------------
// For an outstanding FINDNODE only. Up to `total` messages (capped at max_nodes_responses);
// each record must verify and lie at a distance we asked for.
void Discv5State::Impl::handle_nodes(const v5wire::Nodes& m, const SessionKey& key) noexcept {
  if (m.total == 0) {  // the spec says total >= 1: not an answer we can account for
    engine.counters().drop(Drop::kV5Malformed);
    return;
  }
  Request* r = solicited(m.req_id, Kind::kFindNode, key);
  if (r == nullptr) {
    return;
  }
  const std::uint64_t id = load_req_id(m.req_id);
  const std::uint64_t total = std::clamp<std::uint64_t>(
      m.total, 1, std::max<std::uint32_t>(1, engine.config().max_nodes_responses));
  ++r->responses;
  const bool final = r->responses >= total;

  std::size_t n = 0;
  for (const ByteView raw : m.records) {
    if (n == found_scratch.size()) {
      break;
    }
    auto rec = engine.verified_record(raw);
    if (!rec) {
      engine.counters().drop(Drop::kV5BadRecord);
      continue;
    }
    const int d = log_distance(rec->node_id(), key.id);
    bool asked = false;
    for (std::size_t i = 0; i < r->distance_count; ++i) {
      asked = asked || r->distances[i] == d;
    }
    if (!asked) {
      engine.counters().drop(Drop::kV5BadRecord);
      continue;
    }
    record_decoded[n] = *rec;
    const enr::Record& kept = record_decoded[n];
    PeerInfo& info = found_scratch[n];
    info = PeerInfo{};
    info.id = kept.node_id();
    info.public_key = kept.public_key();
    info.endpoint4 = kept.udp_endpoint_v4().value_or(Endpoint{});
    info.endpoint6 = kept.udp_endpoint_v6().value_or(Endpoint{});
    info.enr = kept.raw();
    info.enr_seq = kept.seq();
    info.protocols = kFlagV5;
    if (info.endpoint4.valid() || info.endpoint6.valid() || r->kind == Kind::kEnr) {
      ++n;
    }
  }

  if (r->kind == Kind::kEnr) {
    (void)requests.erase(id);
    for (std::size_t i = 0; i < n; ++i) {
      if (record_decoded[i].node_id() == key.id) {
        engine.on_record(Protocol::kV5, record_decoded[i]);
      }
    }
    return;
  }
  const std::uint32_t slot = r->lookup_slot;
  if (final) {
    (void)requests.erase(id);
  }
  engine.on_nodes(Protocol::kV5, slot, key.id, std::span<const PeerInfo>(found_scratch.data(), n),
                  final, std::span<const enr::Record>(record_decoded.data(), n));
}

// ---- TALKREQ/v5 ------------------------------------------------------------------------------
// The registered handler's answer, or an empty TALKRESP for an unknown protocol.
void Discv5State::Impl::handle_talkreq(const v5wire::TalkReq& m, const SessionKey& key) noexcept {
  if (!request_allowed(key)) {
    return;
  }
  ++engine.counters().v5_talk_requests;
  std::size_t size = 0;
  if (TalkHandler* handler = engine.talk_handler(m.protocol)) {
    size = std::min((*handler)(m.request, key.id, key.endpoint, talk_scratch), talk_scratch.size());
  }
  (void)send_on_session(key, [&](MutableByteView out) {
    return v5wire::encode_talkresp(out, m.req_id, ByteView(talk_scratch.data(), size));
  });
}

// ---- TALKRESP/v5 -----------------------------------------------------------------------------
void Discv5State::Impl::handle_talkresp(const v5wire::TalkResp& m, const SessionKey& key) noexcept {
  if (solicited(m.req_id, Kind::kTalk, key) != nullptr) {
    const std::uint64_t id = load_req_id(m.req_id);
    (void)requests.erase(id);
    engine.on_talk_response(id, key.id, key.endpoint, m.response);
  }
}

// ---- outgoing requests -----------------------------------------------------------------------

template <class Encode>
bool Discv5State::Impl::start_request(Kind kind, const NodeRef& node, std::uint32_t slot,
                                      Encode&& encode, std::uint64_t* id_out) noexcept {
  if (!node.endpoint.valid() || node.id == engine.local().id || requests.full()) {
    return false;
  }
  std::uint64_t id = 0;
  do {
    id = engine.rng().next_u64();
  } while (requests.peek(id) != nullptr);
  Request r;
  r.kind = kind;
  r.node = node;
  r.lookup_slot = slot;
  std::array<std::uint8_t, kReqIdSize> req_id;
  std::memcpy(req_id.data(), &id, kReqIdSize);
  auto pt = encode(MutableByteView(r.plaintext), ByteView(req_id), r);
  if (!pt) {
    engine.counters().drop(Drop::kEncodeFailed);
    return false;
  }
  r.plaintext_size = static_cast<std::uint16_t>(pt->size());
  Request* stored = requests.insert(id, std::move(r)).value;
  if (id_out != nullptr) {
    *id_out = id;
  }
  transmit(id, *stored);
  return true;
}

// On the session when there is one; else behind a handshake already underway; else a
// random packet, whose WHOAREYOU starts the handshake.
void Discv5State::Impl::transmit(std::uint64_t id, Request& r) noexcept {
  const SessionKey key{r.node.id, r.node.endpoint};
  r.sent_ns = engine.now().mono_ns;
  const ByteView plaintext(r.plaintext.data(), r.plaintext_size);
  if (sessions.peek(key) != nullptr) {
    auto nonce =
        send_on_session(key, [&](MutableByteView out) -> Result<ByteView, v5wire::V5Error> {
          std::memcpy(out.data(), plaintext.data(), plaintext.size());
          return ByteView(out.data(), plaintext.size());
        });
    r.state = State::kSent;
    if (nonce) {
      r.nonce = *nonce;
      (void)by_nonce.insert(*nonce, id);  // the peer may have lost the session: WHOAREYOU
    }
    return;
  }
  if (random_packet_pending(key, id)) {
    r.state = State::kQueued;
    return;
  }
  r.state = State::kRandomSent;
  MutableByteView buf = tx();
  if (buf.size() < kMaxPacket) {
    return;
  }
  std::array<std::uint8_t, 20> junk{};
  random_bytes(junk);
  const v5wire::Nonce nonce = next_nonce(random_packet_counter);
  const crypto::AesCtr128 masker(v5wire::masking_key(r.node.id));
  auto packet = v5wire::encode_message_packet(buf, masker, engine.local().id, nonce, masking_iv(),
                                              junk_key, junk);
  if (!packet) {
    engine.counters().drop(Drop::kEncodeFailed);
    return;
  }
  r.nonce = nonce;
  (void)by_nonce.insert(nonce, id);
  commit(packet->size(), r.node.endpoint, r.plaintext[0]);
}

bool Discv5State::Impl::random_packet_pending(const SessionKey& key,
                                              std::uint64_t except) const noexcept {
  bool pending = false;
  requests.for_each([&](const std::uint64_t& id, const Request& r) {
    pending = pending || (id != except && r.state == State::kRandomSent && r.node.id == key.id &&
                          r.node.endpoint == key.endpoint);
  });
  return pending;
}

// A session with the node now exists: requests waiting for it (queued, or sent as random
// packets that the handshake overtook) go out on it.
void Discv5State::Impl::flush_waiting(const SessionKey& key) noexcept {
  std::array<std::uint64_t, 64> ids{};
  std::size_t n = 0;
  requests.for_each([&](const std::uint64_t& id, const Request& r) {
    if (n < ids.size() && (r.state == State::kQueued || r.state == State::kRandomSent) &&
        r.node.id == key.id && r.node.endpoint == key.endpoint) {
      ids[n++] = id;
    }
  });
  for (std::size_t i = 0; i < n; ++i) {
    if (Request* r = requests.peek(ids[i])) {
      transmit(ids[i], *r);
    }
  }
}

void Discv5State::Impl::fail(std::uint64_t id) noexcept {
  Request* r = requests.peek(id);
  if (r == nullptr) {
    return;
  }
  const Kind kind = r->kind;
  const NodeId node = r->node.id;
  const std::uint32_t slot = r->lookup_slot;
  const std::uint8_t responses = r->responses;
  (void)by_nonce.erase(r->nonce);
  (void)requests.erase(id);
  ++engine.counters().v5_request_timeouts;
  if (kind == Kind::kPing) {
    engine.on_ping_failed(Protocol::kV5, node);
  } else if (kind == Kind::kFindNode) {
    if (responses > 0) {
      engine.on_nodes(Protocol::kV5, slot, node, {}, true);  // partial answer: take it
    } else {
      engine.on_query_failed(Protocol::kV5, slot, node);
    }
  }
}

bool Discv5State::send_ping(const NodeRef& node) noexcept {
  Impl& s = *impl_;
  bool pending = false;
  s.requests.for_each([&](const std::uint64_t&, const Impl::Request& r) {
    pending = pending || (r.kind == Impl::Kind::kPing && r.node.id == node.id);
  });
  if (pending) {
    return false;  // one liveness check per node at a time
  }
  return s.start_request(Impl::Kind::kPing, node, 0,
                         [&](MutableByteView out, ByteView req_id, Impl::Request&) {
                           return v5wire::encode_ping(out, req_id, s.engine.local().record.seq());
                         });
}

void Discv5State::send_findnode(const NodeRef& node, const NodeId& target,
                                std::uint32_t lookup_slot) noexcept {
  Impl& s = *impl_;
  const bool sent = s.start_request(
      Impl::Kind::kFindNode, node, lookup_slot,
      [&](MutableByteView out, ByteView req_id, Impl::Request& r) {
        r.distance_count =
            static_cast<std::uint8_t>(lookup_distances(target, node.id, r.distances));
        return v5wire::encode_findnode(
            out, req_id, std::span<const std::uint16_t>(r.distances.data(), r.distance_count));
      });
  if (!sent) {
    s.engine.on_query_failed(Protocol::kV5, lookup_slot, node.id);
  }
}

void Discv5State::request_enr(const NodeRef& node) noexcept {
  Impl& s = *impl_;
  bool pending = false;
  s.requests.for_each([&](const std::uint64_t&, const Impl::Request& r) {
    pending = pending || (r.kind == Impl::Kind::kEnr && r.node.id == node.id);
  });
  if (pending) {
    return;
  }
  (void)s.start_request(Impl::Kind::kEnr, node, 0,
                        [&](MutableByteView out, ByteView req_id, Impl::Request& r) {
                          r.distances[0] = 0;
                          r.distance_count = 1;
                          return v5wire::encode_findnode(
                              out, req_id, std::span<const std::uint16_t>(r.distances.data(), 1));
                        });
}

bool Discv5State::send_talkreq(const NodeRef& node, ByteView protocol, ByteView request,
                               std::uint64_t* req_id) noexcept {
  return impl_->start_request(
      Impl::Kind::kTalk, node, 0,
      [&](MutableByteView out, ByteView id, Impl::Request&) {
        return v5wire::encode_talkreq(out, id, protocol, request);
      },
      req_id);
}

bool Discv5State::request_pending(std::uint64_t req_id) const noexcept {
  return impl_->requests.peek(req_id) != nullptr;
}

// ---- deadlines -------------------------------------------------------------------------------
// A request gets v5_request_timeout_ns, then one retry (on the session if one exists by
// then, else a new random packet), then fails. Challenges live handshake_timeout_ns.
void Discv5State::run_deadlines() noexcept {
  Impl& s = *impl_;
  const std::int64_t now = s.engine.now().mono_ns;
  const std::int64_t timeout = s.engine.config().v5_request_timeout_ns;
  std::array<std::uint64_t, kDeadlineBatch> due{};
  std::size_t n = 0;
  s.requests.for_each([&](const std::uint64_t& id, const Impl::Request& r) {
    if (n < due.size() && now - r.sent_ns >= timeout) {
      due[n++] = id;
    }
  });
  for (std::size_t i = 0; i < n; ++i) {
    Impl::Request* r = s.requests.peek(due[i]);
    if (r == nullptr) {
      continue;  // finished by an earlier failure's consequences
    }
    if (r->retries == 0) {
      ++r->retries;
      ++s.engine.counters().v5_request_retries;
      (void)s.by_nonce.erase(r->nonce);
      s.transmit(due[i], *r);
    } else {
      s.fail(due[i]);
    }
  }
  const std::int64_t handshake_timeout = s.engine.config().handshake_timeout_ns;
  // Challenges are never touched after insertion, so the oldest is the least recent.
  while (auto oldest = s.challenges.oldest()) {
    if (now - oldest->second->sent_ns < handshake_timeout) {
      break;
    }
    (void)s.challenges.erase(SessionKey(*oldest->first));
  }
}

void Discv5State::prune() noexcept {
  Impl& s = *impl_;
  const std::int64_t now = s.engine.now().mono_ns;
  const std::int64_t idle = s.engine.config().session_idle_timeout_ns;
  s.sessions.erase_if([&](const SessionKey&, const Impl::Session& session) {
    if (now - session.last_used_ns > idle) {
      ++s.engine.counters().v5_sessions_expired;
      return true;
    }
    return false;
  });
  const std::int64_t handshake_timeout = s.engine.config().handshake_timeout_ns;
  s.challenges.erase_if([&](const SessionKey&, const Impl::Challenge& c) {
    return now - c.sent_ns >= handshake_timeout;
  });
  s.whoareyou_ips.prune(now, kBucketIdleNs);
  s.request_limiter.prune(now, kBucketIdleNs);
}

void Discv5State::cancel_lookup(std::uint32_t lookup_slot) noexcept {
  Impl& s = *impl_;
  s.requests.erase_if([&](const std::uint64_t&, const Impl::Request& r) {
    if (r.kind == Impl::Kind::kFindNode && r.lookup_slot == lookup_slot) {
      (void)s.by_nonce.erase(r.nonce);
      return true;
    }
    return false;
  });
}

std::size_t Discv5State::session_count() const noexcept {
  return impl_->sessions.size();
}
std::size_t Discv5State::bytes_per_session() const noexcept {
  return impl_->sessions.reserved_bytes() / impl_->sessions.capacity();
}
std::size_t Discv5State::pending_challenges() const noexcept {
  return impl_->challenges.size();
}
std::size_t Discv5State::pending_requests() const noexcept {
  return impl_->requests.size();
}

}  // namespace discplane::disc
