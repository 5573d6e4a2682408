// Anti-amplification budget (see amp_budget.h).
#include "amp_budget.h"

#include <algorithm>

namespace discplane::disc {

AmpBudget::AmpBudget(std::uint32_t max_ips, std::uint32_t per_ip_burst, std::uint32_t global_burst)
    : ips_(std::max<std::uint32_t>(1, max_ips)),
      per_ip_burst_(per_ip_burst),
      global_burst_(global_burst),
      global_(global_burst) {}

std::int64_t& AmpBudget::account(const IpAddress& ip) noexcept {
  std::int64_t* credit = ips_.find(ip);
  if (credit == nullptr) {
    credit = ips_.insert(ip, per_ip_burst_).value;
  }
  return *credit;
}

void AmpBudget::earn(const IpAddress& ip, std::size_t bytes) noexcept {
  const auto n = static_cast<std::int64_t>(bytes);
  std::int64_t& credit = account(ip);
  credit = std::min(per_ip_burst_, credit + n);
  global_ = std::min(global_burst_, global_ + n);
}

bool AmpBudget::affordable(const IpAddress& ip, std::size_t bytes) noexcept {
  const auto n = static_cast<std::int64_t>(bytes);
  return global_ >= n && account(ip) >= n;
}

void AmpBudget::spend(const IpAddress& ip, std::size_t bytes) noexcept {
  const auto n = static_cast<std::int64_t>(bytes);
  account(ip) -= n;
  global_ -= n;
}

void AmpBudget::spend_held(const IpAddress& ip, std::size_t bytes) noexcept {
  const auto n = static_cast<std::int64_t>(bytes);
  std::int64_t& credit = account(ip);
  credit = std::max<std::int64_t>(0, credit - n);
  global_ = std::max<std::int64_t>(0, global_ - n);
}

std::int64_t AmpBudget::ip_credit(const IpAddress& ip) noexcept {
  const std::int64_t* credit = ips_.peek(ip);
  return credit != nullptr ? *credit : per_ip_burst_;
}

}  // namespace discplane::disc
