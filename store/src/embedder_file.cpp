#include "neardup/store/embedder_file.hpp"

#include <fstream>
#include <system_error>
#include <vector>

namespace neardup::store {

Result<std::shared_ptr<const Embedder>> load_embedder_file(const std::filesystem::path& file, EmbedderOptions options) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(file, ec);
    if (ec) return make_error(ErrorCode::io_error, "embedding model " + file.string() + ": " + ec.message());
    if (size > kMaxEmbedderFileBytes)
        return make_error(ErrorCode::io_error, "embedding model " + file.string() + " is " + std::to_string(size) + " bytes, over the 2 GiB limit");
    std::ifstream in(file, std::ios::binary);
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
    if (!in || !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size())))
        return make_error(ErrorCode::io_error, "embedding model " + file.string() + ": cannot be read");
    auto embedder = Embedder::load(bytes, options);
    if (!embedder) return make_error(ErrorCode::bad_model, embedder.error().message + " (" + file.string() + ")");
    return embedder;
}

}  // namespace neardup::store
