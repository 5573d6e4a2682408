// Operator probes (msg::Ping, msg::Resolve, msg::TalkRequest): one node asked, one answer per
// probe through EngineObserver::on_probe_done, over discv4 and discv5, between two engines
// that know nothing of each other beforehand (as discctl's ephemeral identity does).
#include <vector>

#include <catch2/catch.hpp>

#include "discplane/discovery/server.h"
#include "discplane/wire/enr.h"
#include "discplane/wire/v4wire.h"

#include "unit/discovery/engine_harness.h"

using namespace discplane;
using namespace discplane::disc;
using discplane::test::FakeClock;

namespace {

struct Answer {
  std::uint64_t tag = 0;
  ProbeResult result;
  Bytes record;  // raw, when result.record was set
  Bytes talk;
};

class Recorder final : public EngineObserver {
 public:
  void on_lookup_done(std::uint64_t, Protocol, const NodeId&,
                      std::span<const FoundNode>) noexcept override {}
  void on_local_record_changed(const enr::Record&) noexcept override {}
  void on_probe_done(std::uint64_t tag, const ProbeResult& r) noexcept override {
    Answer a{tag, r, {}, Bytes(r.talk_response.begin(), r.talk_response.end())};
    if (r.record != nullptr) {
      a.record.assign(r.record->raw().begin(), r.record->raw().end());
    }
    a.result.record = nullptr;  // not valid after the call
    a.result.talk_response = {};
    answers.push_back(std::move(a));
  }
  std::vector<Answer> answers;
};

msg::ProbeTarget target_of(const test::Node& n) {
  return msg::ProbeTarget{n.pubkey(), n.endpoint};
}

struct Pair {
  FakeClock clock;
  test::Network net{clock};
  Recorder recorder;
  test::Node* a = nullptr;
  test::Node* b = nullptr;
  explicit Pair(ServerConfig b_config = {}) {
    a = &net.add(test::loopback(32001), 21, ServerConfig{}, &recorder);
    b = &net.add(test::loopback(32002), 22, b_config);
  }
};

}  // namespace

TEST_CASE("probe v4: PING answered with the endpoint the PONG reports and the peer's seq",
          "[engine][probe]") {
  Pair p;
  p.net.send(*p.a, msg::Ping{Protocol::kV4, target_of(*p.b), 7});
  p.net.run_for_ms(50);
  REQUIRE(p.recorder.answers.size() == 1);
  const Answer& a = p.recorder.answers[0];
  CHECK(a.tag == 7);
  CHECK(a.result.kind == ProbeKind::kPing);
  CHECK(a.result.outcome == ProbeOutcome::kAnswered);
  CHECK(a.result.protocol == Protocol::kV4);
  CHECK(a.result.id == p.b->id());
  CHECK(a.result.from == p.b->endpoint);
  CHECK(a.result.reported == p.a->endpoint);
  REQUIRE(a.result.enr_seq.has_value());
  CHECK(*a.result.enr_seq == p.b->server->local_record().seq());
  CHECK(a.result.elapsed_ns >= 0);
  // Answered once: later time passing reports nothing more.
  p.net.run_for_ms(6000);
  CHECK(p.recorder.answers.size() == 1);
}

TEST_CASE("probe v4: resolve bonds then fetches the record with ENRRequest", "[engine][probe]") {
  Pair p;
  p.net.send(*p.a, msg::Resolve{Protocol::kV4, target_of(*p.b), 8});
  p.net.run_for_ms(200);
  REQUIRE(p.recorder.answers.size() == 1);
  const Answer& a = p.recorder.answers[0];
  CHECK(a.tag == 8);
  CHECK(a.result.kind == ProbeKind::kResolve);
  CHECK(a.result.outcome == ProbeOutcome::kAnswered);
  const ByteView raw = p.b->server->local_record().raw();
  CHECK(a.record == Bytes(raw.begin(), raw.end()));
  CHECK(p.a->server->counters().rx_v4[static_cast<std::size_t>(v4wire::PacketType::kENRResponse)] ==
        1);
}

TEST_CASE("probe v5: PING handshakes first and resolve is FINDNODE at distance 0",
          "[engine][probe]") {
  Pair p;
  p.net.send(*p.a, msg::Ping{Protocol::kV5, target_of(*p.b), 1});
  p.net.run_for_ms(50);
  REQUIRE(p.recorder.answers.size() == 1);
  CHECK(p.recorder.answers[0].result.outcome == ProbeOutcome::kAnswered);
  CHECK(p.recorder.answers[0].result.reported == p.a->endpoint);
  CHECK(p.recorder.answers[0].result.enr_seq == p.b->server->local_record().seq());
  CHECK(p.a->server->counters().v5_handshakes_initiated == 1);

  p.net.send(*p.a, msg::Resolve{Protocol::kV5, target_of(*p.b), 2});
  p.net.run_for_ms(50);
  REQUIRE(p.recorder.answers.size() == 2);
  const Answer& r = p.recorder.answers[1];
  CHECK(r.tag == 2);
  CHECK(r.result.outcome == ProbeOutcome::kAnswered);
  const ByteView raw = p.b->server->local_record().raw();
  CHECK(r.record == Bytes(raw.begin(), raw.end()));
  CHECK(p.a->server->counters().v5_handshakes_initiated == 1);  // the session was reused
}

TEST_CASE(
    "probe v5: TALKREQ answered with the handler's TALKRESP and an unknown protocol with an empty "
    "one",
    "[engine][probe]") {
  Pair p;
  p.net.send(*p.b, msg::RegisterTalkProtocol{"echo", [](ByteView req, const NodeId&,
                                                        const Endpoint&, MutableByteView out) {
                                               std::copy(req.begin(), req.end(), out.begin());
                                               out[req.size()] = 0x2a;
                                               return req.size() + 1;
                                             }});
  p.net.send(*p.a, msg::TalkRequest{target_of(*p.b), "echo", Bytes{1, 2, 3}, 3});
  p.net.run_for_ms(50);
  REQUIRE(p.recorder.answers.size() == 1);
  CHECK(p.recorder.answers[0].result.kind == ProbeKind::kTalk);
  CHECK(p.recorder.answers[0].result.outcome == ProbeOutcome::kAnswered);
  CHECK(p.recorder.answers[0].talk == Bytes{1, 2, 3, 0x2a});

  p.net.send(*p.a, msg::TalkRequest{target_of(*p.b), "nope", Bytes{9}, 4});
  p.net.run_for_ms(50);
  REQUIRE(p.recorder.answers.size() == 2);
  CHECK(p.recorder.answers[1].tag == 4);
  CHECK(p.recorder.answers[1].result.outcome == ProbeOutcome::kAnswered);
  CHECK(p.recorder.answers[1].talk.empty());
}

TEST_CASE("probe: a silent node times out at the probe's deadline and only once",
          "[engine][probe]") {
  for (const Protocol proto : {Protocol::kV4, Protocol::kV5}) {
    Pair p;
    p.b->up = false;
    const std::int64_t timeout = 3 * kSecond;
    p.net.send(*p.a, msg::Resolve{proto, target_of(*p.b), 5, timeout});
    p.net.run_for_ms(2500);
    CHECK(p.recorder.answers.empty());
    p.net.run_for_ms(1000);
    REQUIRE(p.recorder.answers.size() == 1);
    CHECK(p.recorder.answers[0].result.outcome == ProbeOutcome::kTimeout);
    CHECK(p.recorder.answers[0].result.elapsed_ns >= timeout);
    CHECK(p.recorder.answers[0].result.elapsed_ns < timeout + kSecond);
    p.net.run_for_ms(5000);
    CHECK(p.recorder.answers.size() == 1);
  }
}

TEST_CASE(
    "probe v5: a ping the protocol gives up on (retry spent) is a timeout before the "
    "deadline",
    "[engine][probe]") {
  Pair p;
  p.b->up = false;
  p.net.send(*p.a, msg::Ping{Protocol::kV5, target_of(*p.b), 6, 30 * kSecond});
  p.net.run_for_ms(3000);
  REQUIRE(p.recorder.answers.size() == 1);
  CHECK(p.recorder.answers[0].result.outcome == ProbeOutcome::kTimeout);
  CHECK(p.recorder.answers[0].result.elapsed_ns < 3 * kSecond);
}

TEST_CASE(
    "probe: refused without sending (own id or bad endpoint or disabled protocol) and busy "
    "past kMaxProbes",
    "[engine][probe]") {
  ServerConfig b_config;
  Pair p;
  const auto sent_before = p.a->tx.sent.size();
  p.net.send(*p.a, msg::Ping{Protocol::kV4, target_of(*p.a), 1});  // ourselves
  p.net.send(*p.a, msg::Ping{Protocol::kV5, msg::ProbeTarget{p.b->pubkey(), Endpoint{}}, 2});
  CHECK(p.a->tx.sent.size() == sent_before);
  REQUIRE(p.recorder.answers.size() == 2);
  CHECK(p.recorder.answers[0].result.outcome == ProbeOutcome::kRefused);
  CHECK(p.recorder.answers[1].result.outcome == ProbeOutcome::kRefused);
  CHECK(std::string(name(ProbeOutcome::kRefused)) == "refused");

  FakeClock clock;
  test::Network net(clock);
  Recorder rec;
  ServerConfig v5_only;
  v5_only.enable_v4 = false;
  test::Node& a = net.add(test::loopback(32011), 31, v5_only, &rec);
  test::Node& b = net.add(test::loopback(32012), 32);
  net.send(a, msg::Ping{Protocol::kV4, target_of(b), 3});
  REQUIRE(rec.answers.size() == 1);
  CHECK(rec.answers[0].result.outcome == ProbeOutcome::kRefused);
  CHECK(a.tx.sent.empty());

  // kMaxProbes in flight to a silent node: the next one is busy; the slots free at the deadline.
  b.up = false;
  for (std::uint64_t i = 0; i < msg::kMaxProbes + 1; ++i) {
    net.send(a, msg::TalkRequest{target_of(b), "x", Bytes{}, 100 + i, kSecond});
  }
  REQUIRE(rec.answers.size() == 2);
  CHECK(rec.answers[1].tag == 100 + msg::kMaxProbes);
  CHECK(rec.answers[1].result.outcome == ProbeOutcome::kBusy);
  net.run_for_ms(1500);
  CHECK(rec.answers.size() == 2 + msg::kMaxProbes);
  net.send(a, msg::TalkRequest{target_of(b), "x", Bytes{}, 999, kSecond});
  CHECK(rec.answers.size() == 2 + msg::kMaxProbes);  // accepted: a slot was free again
}

TEST_CASE("probe: name() of the new inbox messages", "[engine][probe]") {
  CHECK(std::string(name(InMessage{msg::Ping{}})) == "ping");
  CHECK(std::string(name(InMessage{msg::Resolve{}})) == "resolve");
  CHECK(std::string(name(InMessage{msg::TalkRequest{}})) == "talk-request");
}

TEST_CASE("probe v4: a second ping and resolve within the same second are not replays",
          "[engine][probe]") {
  // Deterministic signatures: the same request with the same expiration is the same bytes,
  // which the peer's replay filter drops. Each goes out with a later expiration instead.
  Pair p;
  for (std::uint64_t tag = 1; tag <= 2; ++tag) {
    p.net.send(*p.a, msg::Ping{Protocol::kV4, target_of(*p.b), tag});
    p.net.run_for_ms(20);
    p.net.send(*p.a, msg::Resolve{Protocol::kV4, target_of(*p.b), 10 + tag});
    p.net.run_for_ms(20);
  }
  REQUIRE(p.recorder.answers.size() == 4);
  for (const Answer& a : p.recorder.answers) {
    CHECK(a.result.outcome == ProbeOutcome::kAnswered);
  }
  CHECK(p.b->server->counters().dropped(Drop::kV4Replayed) == 0);
}
