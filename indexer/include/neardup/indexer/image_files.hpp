// Finds the image files a command was given: files as named, directories walked recursively.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "neardup/engine/error.hpp"

namespace neardup::indexer {

// True for the extensions neardup decodes (case-insensitive): jpg, jpeg, png, webp, bmp, tif, tiff, pbm, pgm, ppm, pnm.
bool has_image_extension(const std::filesystem::path& path);

struct FileList {
    std::vector<std::filesystem::path> files;  // explicitly named files (any extension) + image files found in directories, sorted per directory
    std::vector<std::string> missing;          // arguments that do not exist
};
FileList collect_image_files(const std::vector<std::string>& arguments);

// The largest image file the commands read (64 MiB: a 50 MP photo is well under it).
inline constexpr std::uintmax_t kMaxImageFileBytes = 64ull << 20;

// Reads a whole file. Refuses files over max_bytes (too_large) rather than allocating for them;
// other failures are io_error.
Result<std::vector<std::uint8_t>> read_file(const std::filesystem::path& path, std::uintmax_t max_bytes);

}  // namespace neardup::indexer
