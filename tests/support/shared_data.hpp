// Locates ../shared/data (read-only reference data beside the checkout). Tests that need it call
// P2P_REQUIRE_SHARED(path) and skip cleanly on a user's machine without ../shared, and fail
// instead when P2P_REQUIRE_SHARED_DATA is set (CI, which always has it), so that a moved folder
// cannot turn the checks against published values into skips.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "p2pgrid/core/io.hpp"

namespace p2pgrid::test {

/// Absolute path of a file under ../shared/data, e.g. "networks/case33bw.m".
inline std::string shared_data(const std::string& relative) {
  return std::string(P2P_SHARED_DATA_DIR) + "/" + relative;
}

}  // namespace p2pgrid::test

#define P2P_REQUIRE_SHARED(var, relative)                                 \
  const std::string var = ::p2pgrid::test::shared_data(relative);         \
  if (!::p2pgrid::path_exists(var)) {                                     \
    if (std::getenv("P2P_REQUIRE_SHARED_DATA"))                           \
      FAIL() << "P2P_REQUIRE_SHARED_DATA is set but there is no " << var; \
    GTEST_SKIP() << "no ../shared data: " << var;                         \
  }                                                                       \
  static_assert(true, "")
