// A fresh folder per test for the files a test writes and reads back, so that a file left by an
// earlier run (or another test) can never stand in for one the code under test failed to write.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace p2pgrid::test {

/// TempDir()/p2pgrid_<suite>_<test>_<pid>, emptied and created; its path without a trailing
/// slash.
inline std::string fresh_temp_dir() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string("p2pgrid_") + info->test_suite_name() + "_" + info->name() + "_" +
                     std::to_string(::getpid());
  for (char& c : name)  // parameterized names hold '/'
    if (c == '/') c = '_';
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace p2pgrid::test
