// Loads the embedding model a command or the server was given (--embedder FILE): the file's bytes, read
// whole, to engine/embedding.hpp.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "neardup/engine/embedding.hpp"

namespace neardup::store {

// The largest model file read (ONNX's protobuf form cannot exceed 2 GiB; copy-detection models are ~100 MB).
inline constexpr std::uintmax_t kMaxEmbedderFileBytes = 2ull << 30;

// io_error when the file cannot be read or is over the limit; bad_model as Embedder::load.
Result<std::shared_ptr<const Embedder>> load_embedder_file(const std::filesystem::path& file, EmbedderOptions options = {});

}  // namespace neardup::store
