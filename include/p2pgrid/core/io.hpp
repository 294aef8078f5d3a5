// File helpers shared by every command: whole-file reads with clear errors, atomic writes
// (temporary file in the same folder, then rename) so that an interrupted run loses no data.
#pragma once

#include <string>

namespace p2pgrid {

/// Reads a whole file; throws p2pgrid::Error naming the path if it cannot be opened.
std::string read_text_file(const std::string& path);

/// Writes `text` to `path` atomically: PATH.tmp.<pid> is written, flushed, then renamed over
/// `path`. Creates missing parent folders. Throws p2pgrid::Error on failure.
void write_text_file_atomic(const std::string& path, const std::string& text);

/// Checks, before a long run, that write_text_file_atomic(path, ...) will be able to write, and
/// leaves nothing behind: where `path`'s folder exists, writes and removes the temporary file
/// beside `path` (`path` itself is not touched); where it does not, the nearest folder that
/// exists must take the new ones. Throws p2pgrid::Error naming the path otherwise.
void check_file_writable(const std::string& path);

/// True if a file or folder exists at `path`.
bool path_exists(const std::string& path);

}  // namespace p2pgrid
