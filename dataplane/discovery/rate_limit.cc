// Token buckets (see rate_limit.h).
#include "rate_limit.h"

#include <algorithm>

namespace discplane::disc {

bool take_token(TokenBucket& b, std::uint32_t rate, std::uint32_t burst,
                std::int64_t now_ns) noexcept {
  if (!b.used) {
    b.used = true;
    b.tokens = burst;
  } else {
    const double elapsed = static_cast<double>(now_ns - b.last_ns) / static_cast<double>(kSecond);
    b.tokens = std::min<double>(burst, b.tokens + elapsed * rate);
  }
  b.last_ns = now_ns;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return true;
  }
  return false;
}

}  // namespace discplane::disc
