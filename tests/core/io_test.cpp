// Atomic writes (io.hpp): the new content replaces the old in one rename, no temporary file is
// left behind, and a write that cannot happen is an error naming the path that keeps the old
// file as it was.
#include "p2pgrid/core/io.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "p2pgrid/core/error.hpp"
#include "support/temp_dir.hpp"

namespace p2pgrid {
namespace {

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    names.push_back(entry.path().filename().string());
  return names;
}

TEST(AtomicWrite, ReplacesTheOldContentAndLeavesNoTemporaryFile) {
  const std::string dir = test::fresh_temp_dir();
  const std::string path = dir + "/out/result.json";  // the folder is created
  write_text_file_atomic(path, "old\n");
  EXPECT_EQ(read_text_file(path), "old\n");
  const std::string big(3 << 20, 'x');  // several write() calls' worth
  write_text_file_atomic(path, big);
  EXPECT_EQ(read_text_file(path), big);
  write_text_file_atomic(path, "");
  EXPECT_EQ(read_text_file(path), "");
  EXPECT_EQ(names_in(dir + "/out"), std::vector<std::string>{"result.json"});
}

TEST(AtomicWrite, AFailedWriteNamesThePathAndKeepsTheOldFile) {
  const std::string dir = test::fresh_temp_dir();
  const std::string path = dir + "/result.json";
  write_text_file_atomic(path, "old\n");
  // A folder where the new file's parent should be: the folder cannot be created.
  write_text_file_atomic(dir + "/plain", "a file\n");
  try {
    write_text_file_atomic(dir + "/plain/result.json", "new\n");
    ADD_FAILURE() << "no error for a parent that is a file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/plain/result.json"), std::string::npos)
        << e.what();
  }
  // The target is a folder: the rename fails, the old content and no temporary file remain.
  std::filesystem::create_directories(dir + "/taken/inner");
  try {
    write_text_file_atomic(dir + "/taken", "new\n");
    ADD_FAILURE() << "no error for a target that is a folder";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/taken"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/taken/inner"));
  // A name that ends in a slash says a folder too: said so, and no folder is made for it.
  for (const std::string& folder : {dir + "/taken/", dir + "/new_folder/"}) {
    try {
      write_text_file_atomic(folder, "new\n");
      ADD_FAILURE() << "no error for " << folder;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(folder + ": expected a file name, not a folder"),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(read_text_file(path), "old\n");
  std::vector<std::string> names = names_in(dir);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"plain", "result.json", "taken"}));
}

TEST(AtomicWrite, AnUnreadableFileIsAnErrorNamingIt) {
  const std::string dir = test::fresh_temp_dir();
  try {  // a folder opens as a stream and reads as empty text ("not valid JSON" downstream)
    read_text_file(dir);
    ADD_FAILURE() << "no error for a folder";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir + ": is a folder, expected a file"), std::string::npos)
        << e.what();
  }
  const std::string missing = dir + "/nothing.json";
  try {
    read_text_file(missing);
    ADD_FAILURE() << "no error for a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing + ": cannot open for reading"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace p2pgrid
