// Names of the drop reasons, as they appear in metrics labels and logs.
#include "discplane/discovery/counters.h"

namespace discplane::disc {

std::string_view to_string(Drop d) {
  switch (d) {
    case Drop::kTooSmall:
      return "too_small";
    case Drop::kTooLarge:
      return "too_large";
    case Drop::kNotDiscovery:
      return "not_discovery";
    case Drop::kV4Malformed:
      return "v4_malformed";
    case Drop::kV4UnknownType:
      return "v4_unknown_type";
    case Drop::kV4Expired:
      return "v4_expired";
    case Drop::kV4Unsolicited:
      return "v4_unsolicited";
    case Drop::kV4Unbonded:
      return "v4_unbonded";
    case Drop::kV4BadRecord:
      return "v4_bad_record";
    case Drop::kV4Replayed:
      return "v4_replayed";
    case Drop::kV5Malformed:
      return "v5_malformed";
    case Drop::kV5WhoareyouLimited:
      return "v5_whoareyou_rate_limited";
    case Drop::kV5UnknownWhoareyou:
      return "v5_unknown_whoareyou";
    case Drop::kV5BadHandshake:
      return "v5_bad_handshake";
    case Drop::kV5Unsolicited:
      return "v5_unsolicited";
    case Drop::kV5BadRecord:
      return "v5_bad_record";
    case Drop::kDisabledProtocol:
      return "disabled_protocol";
    case Drop::kTxFull:
      return "tx_full";
    case Drop::kEncodeFailed:
      return "encode_failed";
    case Drop::kPolicyBanned:
      return "policy_banned";
    case Drop::kPolicyNotAllowed:
      return "policy_not_allowed";
    case Drop::kV4AmpLimited:
      return "v4_amplification_limited";
    case Drop::kV4RequestLimited:
      return "v4_request_rate_limited";
    case Drop::kV5RequestLimited:
      return "v5_request_rate_limited";
    case Drop::kCount:
      break;
  }
  return "unknown";
}

}  // namespace discplane::disc
