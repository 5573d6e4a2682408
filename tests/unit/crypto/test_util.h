// Helpers shared by the crypto unit tests: JSON vector loading and hex conversion.
#pragma once

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "discplane/common/bytes.h"

namespace discplane::crypto_test {

inline nlohmann::json load_vectors(const std::string& file) {
  std::ifstream in(std::string(DP_TEST_DATA_DIR) + "/" + file);
  return nlohmann::json::parse(in);
}

inline Bytes text(std::string_view s) {
  const ByteView v = as_bytes(s);
  return Bytes(v.begin(), v.end());
}

inline Bytes hex(const nlohmann::json& j) {
  return hex_or_die(j.get<std::string>());
}

template <std::size_t N>
ByteArray<N> hex_array(const nlohmann::json& j) {
  Bytes b = hex(j);
  if (b.size() != N) {
    throw std::runtime_error("vector has wrong length");
  }
  return to_array<N>(b);
}

}  // namespace discplane::crypto_test
