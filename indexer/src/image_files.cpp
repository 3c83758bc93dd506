#include "neardup/indexer/image_files.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <system_error>

namespace neardup::indexer {

bool has_image_extension(const std::filesystem::path& path) {
    static constexpr std::array<std::string_view, 11> kExtensions = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif",
                                                                      ".tiff", ".pbm", ".pgm", ".ppm", ".pnm"};
    std::string ext = path.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    return std::find(kExtensions.begin(), kExtensions.end(), ext) != kExtensions.end();
}

FileList collect_image_files(const std::vector<std::string>& arguments) {
    FileList out;
    for (const auto& arg : arguments) {
        std::error_code ec;
        const std::filesystem::path p(arg);
        if (std::filesystem::is_directory(p, ec)) {
            std::vector<std::filesystem::path> found;
            for (auto it = std::filesystem::recursive_directory_iterator(
                     p, std::filesystem::directory_options::skip_permission_denied, ec);
                 !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
                if (it->is_regular_file(ec) && has_image_extension(it->path())) found.push_back(it->path());
            }
            std::sort(found.begin(), found.end());
            out.files.insert(out.files.end(), found.begin(), found.end());
        } else if (std::filesystem::exists(p, ec)) {
            out.files.push_back(p);
        } else {
            out.missing.push_back(arg);
        }
    }
    return out;
}

Result<std::vector<std::uint8_t>> read_file(const std::filesystem::path& path, std::uintmax_t max_bytes) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) return make_error(ErrorCode::io_error, "cannot read " + path.string() + ": " + ec.message());
    if (size > max_bytes)
        return make_error(ErrorCode::too_large, path.string() + " is " + std::to_string(size) +
                                                    " bytes, over the file size limit of " + std::to_string(max_bytes));
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(ErrorCode::io_error, "cannot open " + path.string());
    std::vector<std::uint8_t> bytes(size);
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
    if (static_cast<std::uintmax_t>(in.gcount()) != size) return make_error(ErrorCode::io_error, "short read from " + path.string());
    return bytes;
}

}  // namespace neardup::indexer
