// Locates the real sample photos that Debian packages ship (installed by scripts/install-deps.sh).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace neardup::test {

// Every *.jpg under the sample folders, sorted by path. Fails the calling test when none is found.
std::vector<std::filesystem::path> sample_photos();
// The sample photo whose file name (not path) is `name`, e.g. "coffee.jpg".
std::filesystem::path sample_photo(const std::string& name);
std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path);

}  // namespace neardup::test
