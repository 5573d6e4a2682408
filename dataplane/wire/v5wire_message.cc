// discv5.1 message bodies (message-type || RLP list) for types 1..6, decoded into views of the
// plaintext and encoded into caller buffers, plus the NODES splitting helpers.
// Topic messages (7..10) are not implemented and decode as kUnknownMessage.
#include <cstring>
#include <utility>

#include "discplane/wire/v5wire.h"

namespace discplane::v5wire {
namespace {

using rlp::ListReader;

// Every RLP failure inside a message is one kind of error for the counters.
template <class T>
bool take(Result<T, rlp::RlpError>&& r, T& out) noexcept {
  if (!r) {
    return false;
  }
  out = std::move(*r);
  return true;
}

#define DP_TAKE(expr, var)         \
  if (!take((expr), (var))) {      \
    return fail(V5Error::kBadRlp); \
  }

Result<ByteView, V5Error> read_req_id(ListReader& r) noexcept {
  ByteView id;
  DP_TAKE(r.next_string(), id);
  if (id.size() > kMaxReqIdSize) {
    return fail(V5Error::kBadReqId);
  }
  return id;
}

Result<Message, V5Error> decode_ping(ListReader& r) noexcept {
  Ping m;
  auto id = read_req_id(r);
  if (!id) {
    return fail(id.error());
  }
  m.req_id = *id;
  DP_TAKE(r.next_uint(), m.enr_seq);
  return Message(m);
}

Result<Message, V5Error> decode_pong(ListReader& r) noexcept {
  Pong m;
  auto id = read_req_id(r);
  if (!id) {
    return fail(id.error());
  }
  m.req_id = *id;
  DP_TAKE(r.next_uint(), m.enr_seq);
  ByteView ip;
  DP_TAKE(r.next_string(), ip);
  auto addr = IpAddress::from_bytes(ip);
  if (!addr) {
    return fail(V5Error::kBadIp);
  }
  m.recipient_ip = *addr;
  std::uint64_t port = 0;
  DP_TAKE(r.next_uint(), port);
  if (port > 0xffff) {
    return fail(V5Error::kBadPort);
  }
  m.recipient_port = static_cast<std::uint16_t>(port);
  return Message(m);
}

Result<Message, V5Error> decode_findnode(ListReader& r) noexcept {
  FindNode m;
  auto id = read_req_id(r);
  if (!id) {
    return fail(id.error());
  }
  m.req_id = *id;
  rlp::Item list;
  DP_TAKE(r.next(), list);
  if (!list.is_list) {
    return fail(V5Error::kBadRlp);
  }
  ListReader d(list.payload);
  std::size_t count = 0;
  while (!d.at_end()) {
    std::uint64_t distance = 0;
    DP_TAKE(d.next_uint(), distance);
    if (distance > kMaxDistance) {
      return fail(V5Error::kBadDistance);
    }
    if (++count > kMaxFindNodeDistances) {
      return fail(V5Error::kTooManyDistances);
    }
  }
  m.distances = DistanceList(list.payload, count);
  return Message(m);
}

Result<Message, V5Error> decode_nodes(ListReader& r) noexcept {
  Nodes m;
  auto id = read_req_id(r);
  if (!id) {
    return fail(id.error());
  }
  m.req_id = *id;
  DP_TAKE(r.next_uint(), m.total);
  rlp::Item list;
  DP_TAKE(r.next(), list);
  if (!list.is_list) {
    return fail(V5Error::kBadRlp);
  }
  ListReader records(list.payload);
  std::size_t count = 0;
  while (!records.at_end()) {
    rlp::Item record;
    DP_TAKE(records.next(), record);
    if (!record.is_list) {
      return fail(V5Error::kBadRecord);
    }
    ++count;
  }
  m.records = RecordList(list.payload, count);
  return Message(m);
}

Result<Message, V5Error> decode_talkreq(ListReader& r) noexcept {
  TalkReq m;
  auto id = read_req_id(r);
  if (!id) {
    return fail(id.error());
  }
  m.req_id = *id;
  DP_TAKE(r.next_string(), m.protocol);
  DP_TAKE(r.next_string(), m.request);
  return Message(m);
}

Result<Message, V5Error> decode_talkresp(ListReader& r) noexcept {
  TalkResp m;
  auto id = read_req_id(r);
  if (!id) {
    return fail(id.error());
  }
  m.req_id = *id;
  DP_TAKE(r.next_string(), m.response);
  return Message(m);
}

#undef DP_TAKE

// Runs `body` on an RLP encoder placed after the type byte and closes the outer list.
template <class Body>
Result<ByteView, V5Error> encode_body(MutableByteView out, MessageType type, ByteView req_id,
                                      Body&& body) noexcept {
  if (req_id.size() > kMaxReqIdSize) {
    return fail(V5Error::kBadReqId);
  }
  if (out.empty()) {
    return fail(V5Error::kBufferTooSmall);
  }
  out[0] = static_cast<std::uint8_t>(type);
  rlp::Encoder enc(out.subspan(1));
  const std::size_t list = enc.begin_list();
  enc.add_string(req_id);
  body(enc);
  enc.end_list(list);
  if (!enc.ok()) {
    return fail(V5Error::kBufferTooSmall);
  }
  return ByteView(out.data(), 1 + enc.size());
}

bool is_rlp_list(ByteView record) noexcept {
  return !record.empty() && record[0] >= 0xc0;
}

// Greedy packing: the end (exclusive) of the message that starts at `begin`.
std::size_t chunk_end(std::span<const ByteView> records, std::size_t begin,
                      std::size_t budget) noexcept {
  std::size_t end = begin;
  std::size_t used = 0;
  while (end < records.size() && (end == begin || used + records[end].size() <= budget)) {
    used += records[end].size();
    ++end;
  }
  return end;
}

}  // namespace

std::string_view name(MessageType t) noexcept {
  switch (t) {
    case MessageType::kPing:
      return "PING";
    case MessageType::kPong:
      return "PONG";
    case MessageType::kFindNode:
      return "FINDNODE";
    case MessageType::kNodes:
      return "NODES";
    case MessageType::kTalkReq:
      return "TALKREQ";
    case MessageType::kTalkResp:
      return "TALKRESP";
  }
  return "UNKNOWN";
}

Result<Message, V5Error> decode_message(ByteView plaintext) noexcept {
  if (plaintext.empty()) {
    return fail(V5Error::kEmptyMessage);
  }
  const std::uint8_t type = plaintext[0];
  if (type < static_cast<std::uint8_t>(MessageType::kPing) ||
      type > static_cast<std::uint8_t>(MessageType::kTalkResp)) {
    return fail(V5Error::kUnknownMessage);
  }
  auto item = rlp::decode_exact(plaintext.subspan(1));
  if (!item || !item->is_list) {
    return fail(V5Error::kBadRlp);
  }
  ListReader r(item->payload);
  Result<Message, V5Error> m = fail(V5Error::kUnknownMessage);
  switch (static_cast<MessageType>(type)) {
    case MessageType::kPing:
      m = decode_ping(r);
      break;
    case MessageType::kPong:
      m = decode_pong(r);
      break;
    case MessageType::kFindNode:
      m = decode_findnode(r);
      break;
    case MessageType::kNodes:
      m = decode_nodes(r);
      break;
    case MessageType::kTalkReq:
      m = decode_talkreq(r);
      break;
    case MessageType::kTalkResp:
      m = decode_talkresp(r);
      break;
  }
  if (m && !r.at_end()) {
    return fail(V5Error::kBadRlp);  // extra list elements
  }
  return m;
}

Result<ByteView, V5Error> encode_ping(MutableByteView out, ByteView req_id,
                                      std::uint64_t enr_seq) noexcept {
  return encode_body(out, MessageType::kPing, req_id,
                     [&](rlp::Encoder& enc) { enc.add_uint(enr_seq); });
}

Result<ByteView, V5Error> encode_pong(MutableByteView out, ByteView req_id, std::uint64_t enr_seq,
                                      const IpAddress& recipient_ip,
                                      std::uint16_t recipient_port) noexcept {
  if (!recipient_ip.valid()) {
    return fail(V5Error::kBadIp);
  }
  if (req_id.size() > kMaxReqIdSize) {
    return fail(V5Error::kBadReqId);
  }
  // The hottest answer (a PING on a session): written directly, without the generic
  // encoder's list reservation and move. Every item is shorter than 56 bytes and so is the
  // whole list (at most 9 + 9 + 17 + 3 = 38), so every header is one byte.
  constexpr std::size_t kMaxPong = 2 + (1 + kMaxReqIdSize) + 9 + (1 + 16) + 3;
  if (out.size() < kMaxPong) {
    return encode_body(out, MessageType::kPong, req_id, [&](rlp::Encoder& enc) {
      enc.add_uint(enr_seq);
      enc.add_string(recipient_ip.view());
      enc.add_uint(recipient_port);
    });  // small buffers: the checked generic path reports kBufferTooSmall exactly
  }
  std::uint8_t* const start = out.data();
  std::uint8_t* p = start + 2;
  const auto put_short_string = [&p](const std::uint8_t* data, std::size_t n) noexcept {
    if (n == 1 && data[0] < 0x80) {
      *p++ = data[0];
      return;
    }
    *p++ = static_cast<std::uint8_t>(0x80 + n);
    if (n != 0) {
      std::memcpy(p, data, n);
      p += n;
    }
  };
  const auto put_uint = [&](std::uint64_t v) noexcept {
    std::uint8_t be[8];
    std::size_t n = 0;
    for (std::uint64_t x = v; x != 0; x >>= 8) {
      ++n;
    }
    for (std::size_t i = 0; i < n; ++i) {
      be[i] = static_cast<std::uint8_t>(v >> (8 * (n - 1 - i)));
    }
    put_short_string(be, n);  // zero: 0x80, the empty string
  };
  put_short_string(req_id.data(), req_id.size());
  put_uint(enr_seq);
  put_short_string(recipient_ip.view().data(), recipient_ip.view().size());
  put_uint(recipient_port);
  start[0] = static_cast<std::uint8_t>(MessageType::kPong);
  start[1] = static_cast<std::uint8_t>(0xc0 + (p - start - 2));
  return ByteView(start, static_cast<std::size_t>(p - start));
}

Result<ByteView, V5Error> encode_findnode(MutableByteView out, ByteView req_id,
                                          std::span<const std::uint16_t> distances) noexcept {
  if (distances.size() > kMaxFindNodeDistances) {
    return fail(V5Error::kTooManyDistances);
  }
  for (std::uint16_t d : distances) {
    if (d > kMaxDistance) {
      return fail(V5Error::kBadDistance);
    }
  }
  return encode_body(out, MessageType::kFindNode, req_id, [&](rlp::Encoder& enc) {
    const std::size_t list = enc.begin_list();
    for (std::uint16_t d : distances) {
      enc.add_uint(d);
    }
    enc.end_list(list);
  });
}

Result<ByteView, V5Error> encode_nodes(MutableByteView out, ByteView req_id, std::uint64_t total,
                                       std::span<const ByteView> records) noexcept {
  for (ByteView record : records) {
    if (!is_rlp_list(record)) {
      return fail(V5Error::kBadRecord);
    }
  }
  return encode_body(out, MessageType::kNodes, req_id, [&](rlp::Encoder& enc) {
    enc.add_uint(total);
    const std::size_t list = enc.begin_list();
    for (ByteView record : records) {
      enc.add_raw(record);
    }
    enc.end_list(list);
  });
}

Result<ByteView, V5Error> encode_talkreq(MutableByteView out, ByteView req_id, ByteView protocol,
                                         ByteView request) noexcept {
  return encode_body(out, MessageType::kTalkReq, req_id, [&](rlp::Encoder& enc) {
    enc.add_string(protocol);
    enc.add_string(request);
  });
}

Result<ByteView, V5Error> encode_talkresp(MutableByteView out, ByteView req_id,
                                          ByteView response) noexcept {
  return encode_body(out, MessageType::kTalkResp, req_id,
                     [&](rlp::Encoder& enc) { enc.add_string(response); });
}

std::size_t nodes_message_count(std::span<const ByteView> records, std::size_t budget) noexcept {
  std::size_t count = 0;
  std::size_t begin = 0;
  do {
    begin = chunk_end(records, begin, budget);
    ++count;
  } while (begin < records.size());
  return count;
}

Result<ByteView, V5Error> encode_nodes_part(MutableByteView out, ByteView req_id,
                                            std::span<const ByteView> records, std::size_t index,
                                            std::size_t budget) noexcept {
  std::size_t total = 0;
  std::size_t begin = 0;
  std::size_t part_begin = 0;
  std::size_t part_end = 0;
  do {
    const std::size_t end = chunk_end(records, begin, budget);
    if (total == index) {
      part_begin = begin;
      part_end = end;
    }
    begin = end;
    ++total;
  } while (begin < records.size());
  if (index >= total) {
    return fail(V5Error::kBadArgument);
  }
  return encode_nodes(out, req_id, total, records.subspan(part_begin, part_end - part_begin));
}

}  // namespace discplane::v5wire
