// Files of the index directory written so that a crash or a power loss leaves either the old file or the whole
// new one: a temporary file, fsync, rename, fsync of the directory; and the SHA-256 that names their contents.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace faiss {
struct IOWriter;
}

namespace neardup::store {

// Writes `dir/name` through `write` and makes it durable; returns the SHA-256 (lowercase hex) of the bytes
// written. Throws StoreError on any failure (disk full, read-only directory, permissions) and then leaves
// nothing under `name` that was not there before, nor a temporary file.
std::string write_file_durably(const std::filesystem::path& dir, const std::string& name,
                               const std::function<void(faiss::IOWriter&)>& write);
// The same for a text.
std::string write_file_durably(const std::filesystem::path& dir, const std::string& name, std::string_view text);

// SHA-256 (lowercase hex) of a file's contents; StoreError when it cannot be read.
std::string sha256_file(const std::filesystem::path& file);

// fsync of a directory, so that the renames and creations in it survive a power loss.
void sync_directory(const std::filesystem::path& dir);

}  // namespace neardup::store
