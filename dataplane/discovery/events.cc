// Names of the engine events, as the packet log prints them.
#include "discplane/discovery/events.h"

namespace discplane::disc {

std::string_view to_string(EventKind k) {
  switch (k) {
    case EventKind::kDrop:
      return "drop";
    case EventKind::kBond:
      return "bond";
    case EventKind::kHandshakeInitiated:
      return "handshake-initiated";
    case EventKind::kHandshakeAccepted:
      return "handshake-accepted";
    case EventKind::kNodeAdded:
      return "node-added";
    case EventKind::kPolicyApplied:
      return "policy-applied";
  }
  return "?";
}

}  // namespace discplane::disc
