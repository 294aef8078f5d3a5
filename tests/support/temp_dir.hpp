// A fresh folder per test for the files a test writes and reads back, so that a file left by an
// earlier run (or another test) can never stand in for one the code under test failed to write.
// Removed when the test process exits (ctest runs each test in a process of its own).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

namespace p2pgrid::test {

/// The folders made in this process, by test name.
inline std::map<std::string, std::string>& temp_dirs_made() {
  static std::map<std::string, std::string> made;
  return made;
}

/// TempDir()/p2pgrid_<suite>_<test>_<pid>: emptied and created at the test's first call, the
/// same folder at its later calls; its path without a trailing slash.
inline std::string fresh_temp_dir() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string("p2pgrid_") + info->test_suite_name() + "_" + info->name() + "_" +
                     std::to_string(::getpid());
  for (char& c : name)  // parameterized names hold '/'
    if (c == '/') c = '_';
  auto& made = temp_dirs_made();
  const auto found = made.find(name);
  if (found != made.end()) return found->second;
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  if (made.empty())
    std::atexit([] {
      std::error_code ec;
      for (const auto& entry : temp_dirs_made()) std::filesystem::remove_all(entry.second, ec);
    });
  made[name] = dir.string();
  return dir.string();
}

}  // namespace p2pgrid::test
