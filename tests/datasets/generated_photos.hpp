// Photo-like generated images and temporary folders for the dataset tests.
#pragma once

#include <filesystem>
#include <string>

#include <opencv2/core/mat.hpp>

namespace neardup::test {

// A picture with random coloured shapes over a gradient plus sensor-like noise, distinct per seed (PDQ
// distance well above the duplicate threshold) and not flat anywhere, so it passes the benchmark's screening.
cv::Mat photo_like(int width, int height, int seed);

// A fresh, empty folder under the system temp folder, removed when the object dies.
class TempDir {
public:
    explicit TempDir(const std::string& name);
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

void write_image(const std::filesystem::path& path, const cv::Mat& image);
void write_text(const std::filesystem::path& path, const std::string& text);

}  // namespace neardup::test
