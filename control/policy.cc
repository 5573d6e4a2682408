// config.policy -> disc::NetPolicySpec, with the ban file (see policy.h).
#include "discplane/control/policy.h"

#include <fstream>
#include <sstream>

namespace discplane::control {

namespace {

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

}  // namespace

Result<void, ConfigError> parse_ban_list(std::string_view text, std::string_view name,
                                         disc::NetPolicySpec& out) {
  int line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (const auto hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = trim(line);
    if (line.empty()) {
      continue;
    }
    // A node id is 64 hex digits; anything with '.' or ':' is an address or a prefix.
    if (line.find_first_of(".:") == std::string_view::npos) {
      if (auto id = node_id_from_hex(line)) {
        out.banned_ids.push_back(*id);
        continue;
      }
    } else if (auto c = disc::Cidr::parse(line)) {
      out.banned.push_back(*c);
      continue;
    }
    return tl::unexpected(ConfigError{
        std::string(name), line_no, 0, "policy.ban.file",
        "bad entry \"" + std::string(line) + "\" (want a 64-hex-digit node id, an IP or a CIDR)"});
  }
  return {};
}

Result<disc::NetPolicySpec, ConfigError> policy_spec_of(const Config::Policy& policy) {
  disc::NetPolicySpec spec;
  spec.banned_ids = policy.ban.node_ids;
  for (const IpAddress& ip : policy.ban.ips) {
    spec.banned.push_back(disc::Cidr{ip, static_cast<std::uint8_t>(ip.is_v4() ? 32 : 128)});
  }
  spec.banned.insert(spec.banned.end(), policy.ban.cidrs.begin(), policy.ban.cidrs.end());
  spec.allow = policy.allow;
  if (!policy.ban.file.empty()) {
    std::ifstream in(policy.ban.file, std::ios::binary);
    if (!in) {
      return tl::unexpected(
          ConfigError{policy.ban.file, 0, 0, "policy.ban.file", "cannot open ban file"});
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (auto ok = parse_ban_list(text.str(), policy.ban.file, spec); !ok) {
      return tl::unexpected(std::move(ok.error()));
    }
  }
  return spec;
}

std::string describe(const disc::NetPolicy& p) {
  std::string s = "policy: " + std::to_string(p.banned_ids()) + " banned node ids, " +
                  std::to_string(p.banned_ranges()) + " banned address ranges, ";
  s += p.has_allow_list() ? "allow list of " + std::to_string(p.allow_ranges()) + " ranges"
                          : "no allow list";
  return s;
}

}  // namespace discplane::control
