#include "neardup/engine/embedding.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <mutex>

#include <openssl/evp.h>
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>
#include <tbb/task_arena.h>

namespace neardup {
namespace {

std::string sha256_hex(std::span<const std::uint8_t> bytes) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int n = 0;
    EVP_Digest(bytes.data(), bytes.size(), digest.data(), &n, EVP_sha256(), nullptr);  // cannot fail in memory
    std::string hex;
    char two[3];
    for (unsigned int i = 0; i < n; ++i) {
        std::snprintf(two, sizeof two, "%02x", digest[i]);
        hex += two;
    }
    return hex;
}

std::string shape_of(const cv::Mat& m) {
    std::string out;
    for (int i = 0; i < m.dims; ++i) out += (i ? "x" : "") + std::to_string(m.size[i]);
    return out;
}

Error bad_model(const std::string& what) { return make_error(ErrorCode::bad_model, "embedding model: " + what); }

}  // namespace

struct Embedder::Network {
    cv::dnn::Net net;
};

struct Embedder::Pool {
    std::mutex mutex;
    std::vector<std::unique_ptr<Network>> idle;
};

Embedder::Embedder(std::vector<std::uint8_t> model, EmbedderOptions options, std::string identity)
    : model_(std::move(model)), options_(options), identity_(std::move(identity)), pool_(std::make_unique<Pool>()) {}

Embedder::~Embedder() = default;

Result<std::shared_ptr<const Embedder>> Embedder::load(std::span<const std::uint8_t> model, EmbedderOptions options) {
    if (model.empty()) return bad_model("the model file is empty");
    if (options.input_side < 8 || options.input_side > 2048)
        return bad_model("input side " + std::to_string(options.input_side) + " is outside 8..2048 pixels");
    for (float s : options.std)
        if (!(s > 0)) return bad_model("a normalisation std is not positive");
    std::shared_ptr<Embedder> out(new Embedder(std::vector<std::uint8_t>(model.begin(), model.end()), options,
                                               "onnx-sha256:" + sha256_hex(model) + "/" + std::to_string(options.input_side)));
    // One run on a grey image finds the output's size, and whether the model runs on this input at all.
    try {
        auto network = out->borrow();
        const cv::Mat probe(options.input_side, options.input_side, CV_8UC3, cv::Scalar::all(128));
        network->net.setInput(out->input_blob(probe));
        const cv::Mat result = network->net.forward();
        int vector_dims = 0;  // dimensions other than 1 after the batch
        for (int i = 1; i < result.dims; ++i) vector_dims += result.size[i] > 1 ? 1 : 0;
        if (result.dims < 2 || result.size[0] != 1 || vector_dims > 1 || result.type() != CV_32F)
            return bad_model("its output (" + shape_of(result) + ") is not one float vector per image");
        const auto dimension = static_cast<int>(result.total());
        if (dimension < 2 || static_cast<std::size_t>(dimension) > kMaxEmbeddingValues)
            return bad_model("its output has " + std::to_string(dimension) + " values (2 to 65535 expected)");
        out->dimension_ = dimension;
        out->give_back(std::move(network));
    } catch (const cv::Exception& e) {
        return bad_model(std::string("OpenCV cannot read or run it: ") + e.what());
    } catch (const std::bad_alloc&) {
        return bad_model("out of memory reading or running it");
    }
    return std::shared_ptr<const Embedder>(std::move(out));
}

std::unique_ptr<Embedder::Network> Embedder::borrow() const {
    {
        std::lock_guard lock(pool_->mutex);
        if (!pool_->idle.empty()) {
            auto network = std::move(pool_->idle.back());
            pool_->idle.pop_back();
            return network;
        }
    }
    // A new instance for this caller (throws cv::Exception on a model OpenCV cannot read: load() catches it).
    auto network = std::make_unique<Network>();
    network->net = cv::dnn::readNetFromONNX(reinterpret_cast<const char*>(model_.data()), model_.size());
    if (network->net.empty()) CV_Error(cv::Error::StsParseError, "the ONNX importer returned an empty network");
    return network;
}

void Embedder::give_back(std::unique_ptr<Network> network) const {
    std::lock_guard lock(pool_->mutex);
    pool_->idle.push_back(std::move(network));
}

cv::Mat Embedder::input_blob(const cv::Mat& bgr) const {
    cv::Mat resized;
    const cv::Size side(options_.input_side, options_.input_side);
    // INTER_AREA where a side shrinks (no aliasing from a large photo), linear when a thumbnail grows.
    const bool shrinking = bgr.cols > side.width || bgr.rows > side.height;
    cv::resize(bgr, resized, side, 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
    cv::Mat rgb;
    cv::cvtColor(resized, rgb, cv::COLOR_BGR2RGB);
    cv::Mat normalised;
    rgb.convertTo(normalised, CV_32FC3, 1.0 / 255.0);
    const auto& o = options_;
    cv::subtract(normalised, cv::Scalar(o.mean[0], o.mean[1], o.mean[2]), normalised);
    cv::divide(normalised, cv::Scalar(o.std[0], o.std[1], o.std[2]), normalised);
    return cv::dnn::blobFromImage(normalised);  // HWC -> NCHW, values as they are
}

std::vector<float> Embedder::run(Network& network, const cv::Mat& blob) const {
    network.net.setInput(blob);
    // Isolated: OpenCV's own parallel loops run on oneTBB here, and a wait inside them must not pick up
    // another of the caller's tasks (which could borrow a second network for an embedding of its own).
    cv::Mat result;
    tbb::this_task_arena::isolate([&] { result = network.net.forward(); });
    std::vector<float> v(result.ptr<float>(), result.ptr<float>() + result.total());
    double norm = 0;
    for (float x : v) norm += static_cast<double>(x) * x;
    if (!std::isfinite(norm) || norm <= 0) return std::vector<float>(v.size(), 0.0f);
    const auto scale = static_cast<float>(1.0 / std::sqrt(norm));
    for (float& x : v) x *= scale;
    return v;
}

std::vector<float> Embedder::embed(const cv::Mat& bgr) const {
    if (bgr.empty() || bgr.type() != CV_8UC3) throw std::invalid_argument("Embedder::embed: expects a non-empty 8-bit BGR image");
    const cv::Mat blob = input_blob(bgr);
    auto network = borrow();
    std::vector<float> v = run(*network, blob);
    give_back(std::move(network));
    return v;
}

float cosine_similarity(std::span<const float> a, std::span<const float> b) noexcept {
    if (a.empty() || a.size() != b.size()) return 0.0f;
    float dot = 0;
    for (std::size_t i = 0; i < a.size(); ++i) dot += a[i] * b[i];
    return dot;
}

}  // namespace neardup
