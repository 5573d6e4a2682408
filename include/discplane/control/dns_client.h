// A small blocking DNS client for the control plane, on c-ares: TXT queries only, against the
// system resolver (/etc/resolv.conf) or one configured server ("127.0.0.1:5353"), with a
// per-try timeout and a try count, so one lookup takes at most timeout * tries. Not for the
// dataplane (it blocks). One instance per thread: a c-ares channel is not thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "discplane/common/result.h"

namespace discplane::control {

enum class DnsError : std::uint8_t {
  kNotFound,       // NXDOMAIN, or the name has no TXT record
  kTimeout,        // no answer within timeout * tries
  kServerFailure,  // SERVFAIL / REFUSED / connection refused
  kBadResponse,    // an answer c-ares could not parse
  kCancelled,      // the client was torn down mid-query
  kOther,
};
std::string_view to_string(DnsError e);

class DnsClient {
 public:
  struct Options {
    // "" = the system resolver; else "ADDRESS:PORT" or "[V6]:PORT" (port 53 if left out).
    std::string server;
    std::chrono::milliseconds timeout{2000};  // per try
    int tries = 2;
  };
  // Errors name the problem in one line (bad server string, c-ares init failure).
  [[nodiscard]] static Result<std::unique_ptr<DnsClient>, std::string> create(
      const Options& options);
  ~DnsClient();
  DnsClient(const DnsClient&) = delete;
  DnsClient& operator=(const DnsClient&) = delete;

  // The TXT records of `name`, each record's character-strings joined (a TXT record over 255
  // bytes is published as several strings). `cancel`, when set, is checked every 100 ms and
  // ends the wait with kCancelled (so a stopping thread need not wait out the timeout).
  [[nodiscard]] Result<std::vector<std::string>, DnsError> lookup_txt(
      const std::string& name, const std::atomic<bool>* cancel = nullptr);

  // "c-ares 1.18.1"
  static std::string library_version();

 private:
  struct Impl;
  explicit DnsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace discplane::control
