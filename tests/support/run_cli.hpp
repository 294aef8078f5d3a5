// Runs the built p2pgrid binary (P2P_CLI_PATH) in a shell and captures stdout, stderr and the
// exit status, for end-to-end tests of the command line.
#pragma once

#include <string>

namespace p2pgrid::test {

struct CliResult {
  int status = -1;
  std::string out, err;
};

/// `args` is appended to the binary's path as shell words (quote paths yourself).
CliResult run_cli(const std::string& args);

/// Any shell command, captured the same way.
CliResult run_command(const std::string& command);

}  // namespace p2pgrid::test
