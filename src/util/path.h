// Path helpers shared by the storage layer and its tests.
#pragma once

#include <string>

namespace omendb::util {

// Directory part of `path` as Env::SyncDir callers name it: no trailing
// slash, "." for a bare file name, "/" for a file in the root.
inline std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace omendb::util
