// DnsClient on c-ares: one channel per client, queries driven by poll() on the channel's
// sockets until the callback fires (c-ares does the retries, the TCP fallback for truncated
// answers and the timeouts; we only bound the whole wait once more as a safety net).
#include "discplane/control/dns_client.h"

#include <ares.h>
#include <poll.h>

#include <mutex>
#include <optional>

#include "discplane/common/endpoint.h"

namespace discplane::control {

namespace {

DnsError error_of(int status) {
  switch (status) {
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
      return DnsError::kNotFound;
    case ARES_ETIMEOUT:
      return DnsError::kTimeout;
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_ECONNREFUSED:
      return DnsError::kServerFailure;
    case ARES_EBADRESP:
    case ARES_EFORMERR:
      return DnsError::kBadResponse;
    case ARES_EDESTRUCTION:
    case ARES_ECANCELLED:
      return DnsError::kCancelled;
    default:
      return DnsError::kOther;
  }
}

// ares_library_init is process-wide and not thread-safe; it is a no-op on Linux but the API
// asks for it.
void init_library_once() {
  static std::once_flag once;
  std::call_once(once, [] { (void)ares_library_init(ARES_LIB_INIT_ALL); });
}

}  // namespace

std::string_view to_string(DnsError e) {
  switch (e) {
    case DnsError::kNotFound:
      return "not found";
    case DnsError::kTimeout:
      return "timeout";
    case DnsError::kServerFailure:
      return "server failure";
    case DnsError::kBadResponse:
      return "bad response";
    case DnsError::kCancelled:
      return "cancelled";
    case DnsError::kOther:
      return "DNS error";
  }
  return "?";
}

struct DnsClient::Impl {
  ares_channel channel = nullptr;
  Options options;
  ~Impl() {
    if (channel != nullptr) {
      ares_destroy(channel);
    }
  }
};

DnsClient::DnsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DnsClient::~DnsClient() = default;

std::string DnsClient::library_version() {
  return std::string("c-ares ") + ares_version(nullptr);
}

Result<std::unique_ptr<DnsClient>, std::string> DnsClient::create(const Options& options) {
  init_library_once();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  ares_options opts{};
  opts.timeout = static_cast<int>(options.timeout.count());
  opts.tries = options.tries;
  // No search domains: tree names are absolute.
  opts.flags = ARES_FLAG_NOSEARCH;
  const int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS;
  if (int rc = ares_init_options(&impl->channel, &opts, mask); rc != ARES_SUCCESS) {
    impl->channel = nullptr;
    return tl::unexpected(std::string("c-ares init failed: ") + ares_strerror(rc));
  }
  if (!options.server.empty()) {
    // Validate it ourselves (c-ares accepts hostnames-less CSV quietly otherwise), then hand
    // c-ares its own "addr:port" / "[v6]:port" form.
    std::string csv = options.server;
    auto ep = Endpoint::parse(csv);
    if (!ep) {
      auto ip = IpAddress::parse(csv);
      if (!ip) {
        return tl::unexpected("bad DNS server \"" + options.server +
                              "\" (want ADDRESS[:PORT], IPv6 as [ADDRESS]:PORT)");
      }
      csv = Endpoint{*ip, 53}.to_string();
    }
    if (int rc = ares_set_servers_ports_csv(impl->channel, csv.c_str()); rc != ARES_SUCCESS) {
      return tl::unexpected("c-ares rejected DNS server \"" + options.server +
                            "\": " + ares_strerror(rc));
    }
  }
  return std::unique_ptr<DnsClient>(new DnsClient(std::move(impl)));
}

namespace {

struct TxtQuery {
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<std::string> records;
};

void on_txt_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto& q = *static_cast<TxtQuery*>(arg);
  q.done = true;
  q.status = status;
  if (status != ARES_SUCCESS) {
    return;
  }
  ares_txt_ext* txt = nullptr;
  if (int rc = ares_parse_txt_reply_ext(abuf, alen, &txt); rc != ARES_SUCCESS) {
    q.status = rc;
    return;
  }
  for (ares_txt_ext* t = txt; t != nullptr; t = t->next) {
    if (t->record_start || q.records.empty()) {
      q.records.emplace_back();
    }
    q.records.back().append(reinterpret_cast<const char*>(t->txt), t->length);
  }
  ares_free_data(txt);
}

}  // namespace

Result<std::vector<std::string>, DnsError> DnsClient::lookup_txt(const std::string& name,
                                                                 const std::atomic<bool>* cancel) {
  constexpr int kClassIn = 1;   // ns_c_in
  constexpr int kTypeTxt = 16;  // ns_t_txt
  TxtQuery q;
  ares_channel ch = impl_->channel;
  ares_query(ch, name.c_str(), kClassIn, kTypeTxt, &on_txt_answer, &q);
  // c-ares times the query out itself; this outer bound only guards against a stuck loop.
  const auto limit = std::chrono::steady_clock::now() +
                     impl_->options.timeout * (impl_->options.tries + 1) + std::chrono::seconds(1);
  while (!q.done) {
    if (std::chrono::steady_clock::now() > limit ||
        (cancel != nullptr && cancel->load(std::memory_order_relaxed))) {
      ares_cancel(ch);  // fires the callback with ARES_ECANCELLED
      break;
    }
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    const int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
    pollfd fds[ARES_GETSOCK_MAXNUM];
    nfds_t n = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      const bool r = ARES_GETSOCK_READABLE(bits, i);
      const bool w = ARES_GETSOCK_WRITABLE(bits, i);
      if (!r && !w) {
        continue;
      }
      fds[n].fd = socks[i];
      fds[n].events = static_cast<short>((r ? POLLIN : 0) | (w ? POLLOUT : 0));
      fds[n].revents = 0;
      ++n;
    }
    timeval tv{};
    timeval max{0, 100 * 1000};
    ares_timeout(ch, &max, &tv);
    const int wait_ms = static_cast<int>(tv.tv_sec * 1000 + tv.tv_usec / 1000);
    const int ready = ::poll(fds, n, wait_ms);
    if (ready <= 0) {
      ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
      continue;
    }
    for (nfds_t i = 0; i < n; ++i) {
      const bool readable = fds[i].revents & (POLLIN | POLLERR | POLLHUP);
      const bool writable = fds[i].revents & POLLOUT;
      ares_process_fd(ch, readable ? fds[i].fd : ARES_SOCKET_BAD,
                      writable ? fds[i].fd : ARES_SOCKET_BAD);
    }
  }
  if (q.status != ARES_SUCCESS) {
    return tl::unexpected(error_of(q.status));
  }
  return std::move(q.records);
}

}  // namespace discplane::control
