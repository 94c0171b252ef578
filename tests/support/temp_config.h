#pragma once
// A config file in a fresh temporary directory, for tests that start echod with --config.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace echod::test {

/// A config file in a fresh temporary directory, removed with the object.
class TempConfig {
 public:
  TempConfig() {
    char tmpl[] = "/tmp/echod-admin-XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/echod.json";
  }
  ~TempConfig() { std::filesystem::remove_all(dir_); }
  void write(const std::string& text) const {
    const std::string tmp = path_ + ".tmp";
    std::ofstream(tmp) << text;
    std::filesystem::rename(tmp, path_);  // the reader never sees half a file
  }
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

}  // namespace echod::test
