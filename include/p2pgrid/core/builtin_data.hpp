// Data files embedded in the binary at build time (cmake/P2PEmbed.cmake), by name:
// "ieee141" -> data/networks/ieee141.json. Lets `builtin:NAME` work where only the binary is.
#pragma once

#include <map>
#include <string>

namespace p2pgrid {

/// name -> file content, for every embedded file.
const std::map<std::string, std::string>& builtin_files();

}  // namespace p2pgrid
