// Whole-file reads and atomic writes (see io.hpp).
#include "p2pgrid/core/io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "p2pgrid/core/error.hpp"

namespace p2pgrid {

std::string read_text_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))  // an ifstream opens it and reads nothing
    throw Error(path + ": is a folder, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open for reading (" + std::strerror(errno) + ")");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {
/// A path that names a folder (or ends in '/') cannot be a file's: an Error naming it.
void require_file_name(const std::filesystem::path& target, const std::string& path) {
  std::error_code ec;
  if (target.filename().empty() || std::filesystem::is_directory(target, ec))
    throw Error(path + ": expected a file name, not a folder");
}
}  // namespace

void write_text_file_atomic(const std::string& path, const std::string& text) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  require_file_name(target, path);
  std::error_code ec;
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), ec);
    if (ec) throw Error(path + ": cannot create folder " + target.parent_path().string() + " (" +
                        ec.message() + ")");
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  // Written and synced to disk before the rename, and the folder synced after it, so that a
  // crash or a power loss leaves the old file or the new one, never an empty one.
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw Error(path + ": cannot write (its temporary file " + tmp +
                " cannot be opened: " + std::strerror(errno) + ")");
  auto fail = [&](const std::string& what) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    std::remove(tmp.c_str());
    throw Error(tmp + ": " + what + " (" + reason + ")");
  };
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write failed");
    done += std::size_t(n);
  }
  if (::fsync(fd) != 0) fail("fsync failed");
  if (::close(fd) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(tmp.c_str());
    throw Error(tmp + ": close failed (" + reason + ")");
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw Error(path + ": cannot move " + tmp + " into place (" + ec.message() + ")");
  }
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {  // best effort: some file systems do not sync folders
    ::fsync(dir);
    ::close(dir);
  }
}

void check_file_writable(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  require_file_name(target, path);
  std::error_code ec;
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  if (!fs::exists(folder, ec)) {
    // The write would create the missing folders: the nearest one that exists must take them.
    fs::path up = folder;
    while (!up.empty() && up != up.parent_path() && !fs::exists(up, ec)) up = up.parent_path();
    if (up.empty()) up = ".";
    if (!fs::is_directory(up, ec))
      throw Error(path + ": cannot create folder " + folder.string() + " (" + up.string() +
                  " is not a folder)");
    if (::access(up.c_str(), W_OK | X_OK) != 0)
      throw Error(path + ": cannot create folder " + folder.string() + " in " + up.string() + " (" +
                  std::strerror(errno) + ")");
    return;
  }
  if (!fs::is_directory(folder, ec))
    throw Error(path + ": cannot write there (" + folder.string() + " is not a folder)");
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(path + ": cannot write in its folder (" + std::strerror(errno) + ")");
  ::close(fd);
  std::remove(tmp.c_str());
}

bool path_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

}  // namespace p2pgrid
