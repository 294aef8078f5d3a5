// Helpers for tests of error paths: the message an operation fails with, and a check that it
// names everything it should (file, line, key, value, what was expected).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <initializer_list>
#include <string>

#include "p2pgrid/core/error.hpp"

namespace p2pgrid::test {

/// The message of the p2pgrid::Error thrown by f, "(no error)" if none, or a message starting
/// with "non-p2pgrid exception" for any other exception (which is itself a bug to report).
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("non-p2pgrid exception: ") + e.what();
  }
  return "(no error)";
}

/// Expects every part to appear in msg.
inline void expect_mentions(const std::string& msg, std::initializer_list<std::string> parts) {
  for (const std::string& p : parts)
    EXPECT_NE(msg.find(p), std::string::npos) << "missing \"" << p << "\" in: " << msg;
}

}  // namespace p2pgrid::test
