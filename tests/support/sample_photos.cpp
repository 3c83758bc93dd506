#include "support/sample_photos.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace neardup::test {

std::vector<std::filesystem::path> sample_photos() {
    std::vector<std::filesystem::path> out;
    std::stringstream dirs(NEARDUP_SAMPLE_DIRS);
    std::string dir;
    while (std::getline(dirs, dir, '|')) {
        if (!std::filesystem::is_directory(dir)) continue;
        for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
            if (e.is_regular_file() && e.path().extension() == ".jpg") out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    if (out.empty())
        throw std::runtime_error(std::string("no sample photos under ") + NEARDUP_SAMPLE_DIRS +
                                 ": run scripts/install-deps.sh");
    return out;
}

std::filesystem::path sample_photo(const std::string& name) {
    for (const auto& p : sample_photos())
        if (p.filename() == name) return p;
    throw std::runtime_error("sample photo not found: " + name);
}

std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path.string());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace neardup::test
