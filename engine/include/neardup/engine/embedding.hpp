// Image embeddings from a user-supplied ONNX model (OpenCV dnn): one unit-length float vector per image,
// compared by cosine similarity. A copy-detection model (for example SSCD exported to ONNX) gives vectors
// that stay close under the edits local features lose (heavy overlays, recolouring, collages' small tiles).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "neardup/engine/error.hpp"

namespace neardup {

// The most values an embedding may have (the signature codec stores its size in 16 bits).
inline constexpr std::size_t kMaxEmbeddingValues = 65535;

struct EmbedderOptions {
    // The model's square input, in pixels: the image is resized to it (aspect not kept, so nothing is cut).
    int input_side = 224;
    // Per-channel normalisation of RGB values in [0, 1]: (v - mean) / std. ImageNet's statistics, which
    // torchvision-trained models (SSCD among them) expect.
    float mean[3] = {0.485f, 0.456f, 0.406f};
    float std[3] = {0.229f, 0.224f, 0.225f};
};

// Loaded once; embed() is const and safe from many threads (each concurrent caller borrows its own network
// instance, since an OpenCV dnn::Net keeps per-run state).
class Embedder {
public:
    // The model's bytes (an ONNX file's contents). bad_model when OpenCV cannot read it, when it does not
    // run on an input of options.input_side, or when its output is not one vector of 2 to 65535 values.
    static Result<std::shared_ptr<const Embedder>> load(std::span<const std::uint8_t> model, EmbedderOptions options = {});
    ~Embedder();

    // What built the vectors: "onnx-sha256:<hex of the model bytes>/<input side>". Vectors of different
    // identities are not comparable; an index records the one that built it.
    const std::string& identity() const noexcept { return identity_; }
    int dimension() const noexcept { return dimension_; }
    const EmbedderOptions& options() const noexcept { return options_; }

    // The L2-normalised embedding of an 8-bit BGR image; all zeros when the model's output is zero or not
    // finite (similar to nothing).
    std::vector<float> embed(const cv::Mat& bgr) const;
    // The network's input for an image: NCHW float RGB, resized and normalised (what embed() runs on).
    cv::Mat input_blob(const cv::Mat& bgr) const;

private:
    struct Network;
    Embedder(std::vector<std::uint8_t> model, EmbedderOptions options, std::string identity);
    struct Pool;
    std::unique_ptr<Network> borrow() const;
    void give_back(std::unique_ptr<Network> network) const;
    std::vector<float> run(Network& network, const cv::Mat& blob) const;

    std::vector<std::uint8_t> model_;
    EmbedderOptions options_;
    std::string identity_;
    int dimension_ = 0;
    std::unique_ptr<Pool> pool_;  // idle networks, shared by const callers under its own lock
};

// Cosine similarity of two unit vectors of one identity (their dot product); 0 when either is empty or the
// dimensions differ.
float cosine_similarity(std::span<const float> a, std::span<const float> b) noexcept;

}  // namespace neardup
