// Errors are values: every fallible function returns Result<T, E> with E an enum
// class of its layer. tl::expected is not [[nodiscard]], so mark each function.
#pragma once

#include <tl/expected.hpp>

namespace discplane {

template <class T, class E>
using Result = tl::expected<T, E>;

template <class E>
constexpr tl::unexpected<E> fail(E e) {
  return tl::unexpected<E>(e);
}

}  // namespace discplane
