#include "generated_photos.hpp"

#include <fstream>
#include <random>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <unistd.h>

namespace neardup::test {

cv::Mat photo_like(int width, int height, int seed) {
    cv::RNG rng(static_cast<std::uint64_t>(seed) * 7919 + 17);
    cv::Mat img(height, width, CV_8UC3);
    const cv::Vec3d a(rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255));
    const cv::Vec3d b(rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255));
    const double angle = rng.uniform(0.0, CV_PI);
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            const double t = 0.5 + 0.5 * std::sin(std::cos(angle) * x / width * 3 + std::sin(angle) * y / height * 3);
            const cv::Vec3d c = a * (1 - t) + b * t;
            img.at<cv::Vec3b>(y, x) = cv::Vec3b(cv::saturate_cast<uchar>(c[0]), cv::saturate_cast<uchar>(c[1]), cv::saturate_cast<uchar>(c[2]));
        }
    const int scale = std::min(width, height);
    for (int i = 0; i < 40; ++i) {
        const cv::Point p(rng.uniform(0, width), rng.uniform(0, height));
        const cv::Scalar colour(rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255));
        if (i % 2) cv::circle(img, p, rng.uniform(scale / 20, scale / 4), colour, cv::FILLED, cv::LINE_AA);
        else cv::rectangle(img, cv::Rect(p, cv::Size(rng.uniform(scale / 10, scale / 2), rng.uniform(scale / 10, scale / 2))), colour, cv::FILLED);
    }
    cv::Mat noise(img.size(), CV_16SC3);
    rng.fill(noise, cv::RNG::NORMAL, 0, 6);
    cv::Mat sum;
    img.convertTo(sum, CV_16SC3);
    sum += noise;
    sum.convertTo(img, CV_8UC3);
    return img;
}

TempDir::TempDir(const std::string& name) {
    path_ = std::filesystem::temp_directory_path() / ("neardup-datasets-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

void write_image(const std::filesystem::path& path, const cv::Mat& image) {
    std::filesystem::create_directories(path.parent_path());
    if (!cv::imwrite(path.string(), image)) throw std::runtime_error("cannot write " + path.string());
}

void write_text(const std::filesystem::path& path, const std::string& text) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << text;
}

}  // namespace neardup::test
