// The operator's HTTP API (cpp-httplib, JSON via nlohmann), on its own threads. It serves
// only published snapshots and never touches the engine; the commands it can give, a lookup
// and a probe, go through Appliance::request_lookup / request_probe (the control thread
// forwards them to the core).
//   GET  /v1/node              our ENR, enode URL, node id, external address (and its source),
//                              kernel_rx_dropped (socket receive-buffer overflows)
//   GET  /v1/peers             the table; ?protocol=v4|v5 ?distance=N ?live=true|false ?limit=N
//   GET  /v1/peers/{node_id}   one entry (400: not 64 hex digits, 404: not in the table)
//   GET  /v1/buckets           fill of each non-empty bucket
//   GET  /v1/health            ok + snapshot age (503 when stale or shut down), peers,
//                              sessions, kernel_rx_dropped
//   POST /v1/lookup            {"protocol": "v4"|"v5", "target": hex id (optional)}: waits for
//                              the lookup's result (504 when it does not come in time)
//   POST /v1/ping              {"node": enode URL | ENR, "protocol": "v4"|"v5", "timeout_ms"}:
//                              PING from our identity; the PONG's endpoint and rtt (probe.h)
//   POST /v1/resolve           same body: the node's current record (ENRRequest / FINDNODE 0)
//   POST /v1/talk              {"node": ENR, "talk_protocol": s, "request": hex}: TALKRESP hex
//                              (these three: 504 on no answer, 400 for a node we will not ask)
//   GET  /metrics              Prometheus text format (metrics.h)
// Errors are JSON objects {"error": "..."} with a 4xx/5xx status.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "discplane/common/endpoint.h"
#include "discplane/common/result.h"
#include "discplane/control/appliance.h"

namespace discplane::control {

class ApiServer {
 public:
  struct Options {
    // How long POST /v1/lookup waits for the lookup's result before answering 504.
    std::chrono::milliseconds lookup_timeout{10'000};
    // /v1/health answers 503 when the newest snapshot is older than this.
    std::chrono::milliseconds stale_after{5'000};
  };

  // Binds `listen` (port 0: any free port, see endpoint()) and starts serving. The appliance
  // must outlive the server. Errors are one line ("cannot bind ...").
  [[nodiscard]] static Result<std::unique_ptr<ApiServer>, std::string> start(
      Appliance& appliance, const Endpoint& listen);
  [[nodiscard]] static Result<std::unique_ptr<ApiServer>, std::string> start(Appliance& appliance,
                                                                             const Endpoint& listen,
                                                                             Options options);
  ~ApiServer();  // stop()s
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Stops accepting, ends waiting lookups (503) and joins the server thread. Idempotent.
  void stop();
  // The bound endpoint.
  Endpoint endpoint() const;

 private:
  struct Impl;
  explicit ApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace discplane::control
