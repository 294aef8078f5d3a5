// The one error type of p2pgrid: every bad input (file, key, line, value) ends up here with a
// message that names where it happened and what was expected.
#pragma once

#include <stdexcept>
#include <string>

namespace p2pgrid {

/// Thrown for user-facing errors (bad files, configs, arguments). The CLI prints what() and
/// exits with status 2; anything else escaping is a bug.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace p2pgrid
