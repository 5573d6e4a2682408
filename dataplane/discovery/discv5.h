// Discv5State: the discv5-only half of the engine (private header). It holds what only
// discv5 needs: the message nonce counter, sessions (keyed by node id AND endpoint, LRU
// bounded, idle timeout), requests in flight by request id and by packet nonce, WHOAREYOU
// challenges we sent, the per-IP and global WHOAREYOU limits, and the masking key of our
// own id. Everything shared (table, signer, record, votes, lookups) is the Engine's.
#pragma once

#include <cstdint>
#include <memory>

#include "discplane/common/bytes.h"

#include "engine.h"

namespace discplane::disc {

class Discv5State {
 public:
  explicit Discv5State(Engine& engine);
  ~Discv5State();

  void on_packet(ByteView payload, const Endpoint& from, ByteView header_prefix = {}) noexcept;
  // The header prefixes of a burst, unmasked with our own id's masker in one AES-CTR burst.
  void unmask_header_prefixes(std::span<const ByteView> packets,
                              std::span<v5wire::HeaderPrefix> out) const noexcept;

  // ---- per-protocol primitives used by revalidate / lookup / bootstrap ----
  // PING on the session with the node (handshaking first when there is none). Returns true
  // when a packet was sent; the PONG or the timeout is reported through Engine::on_pong /
  // Engine::on_ping_failed.
  bool send_ping(const NodeRef& node) noexcept;
  // FINDNODE with lookup_distances(target, node.id) for lookup `lookup_slot`; answers go to
  // Engine::on_nodes, failures and timeouts to Engine::on_query_failed.
  void send_findnode(const NodeRef& node, const NodeId& target, std::uint32_t lookup_slot) noexcept;
  // FINDNODE [0]: fetch the node's current record (after a PONG with a newer enr-seq).
  void request_enr(const NodeRef& node) noexcept;
  // TALKREQ to the node (handshaking first when needed). The TALKRESP is matched to the
  // request and counted; `req_id`, when given, receives the request id (see request_pending).
  bool send_talkreq(const NodeRef& node, ByteView protocol, ByteView request,
                    std::uint64_t* req_id = nullptr) noexcept;
  // Is the request still outstanding (not answered, not failed)?
  bool request_pending(std::uint64_t req_id) const noexcept;

  void run_deadlines() noexcept;  // request timeouts and one retry, handshake timeouts
  void prune() noexcept;          // idle sessions, stale challenges
  void cancel_lookup(std::uint32_t lookup_slot) noexcept;

  std::size_t session_count() const noexcept;
  // Memory one session slot reserves (its keys inline, its share of links and buckets).
  std::size_t bytes_per_session() const noexcept;
  std::size_t pending_challenges() const noexcept;
  std::size_t pending_requests() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace discplane::disc
