#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "neardup/engine/embedding.hpp"
#include "neardup/engine/signature.hpp"
#include "support/image_bytes.hpp"
#include "support/sample_photos.hpp"

using namespace neardup;

namespace {

// tests/fixtures/embedder/tiny-embedder.onnx (made by make_tiny_embedder.py beside it): 4x4 block means of
// the normalised 16x16 RGB input, flattened channel-major, times W[i][j] = (((7i + 13j) % 11) - 5) / 5.
constexpr int kTinyInput = 16;
constexpr int kTinyDimension = 24;

std::vector<std::uint8_t> fixture(const std::string& name) {
    return test::read_bytes(std::filesystem::path(NEARDUP_FIXTURES_DIR) / "embedder" / name);
}

std::shared_ptr<const Embedder> tiny_embedder() {
    EmbedderOptions options;
    options.input_side = kTinyInput;
    auto loaded = Embedder::load(fixture("tiny-embedder.onnx"), options);
    REQUIRE(loaded.ok());
    return loaded.value();
}

cv::Mat photo(const std::string& name) { return cv::imread(test::sample_photo(name).string(), cv::IMREAD_COLOR); }

// The tiny model's embedding of an image, computed by hand: the same resize, RGB order and normalisation,
// then block means, the projection and the unit length, in plain loops.
std::vector<float> by_hand(const cv::Mat& bgr) {
    const EmbedderOptions o;
    cv::Mat small;
    cv::resize(bgr, small, cv::Size(kTinyInput, kTinyInput), 0, 0, cv::INTER_AREA);
    std::vector<double> blocks(48, 0.0);
    for (int y = 0; y < kTinyInput; ++y)
        for (int x = 0; x < kTinyInput; ++x) {
            const cv::Vec3b p = small.at<cv::Vec3b>(y, x);
            for (int c = 0; c < 3; ++c) {  // c in RGB order; the pixel is BGR
                const double v = (p[2 - c] / 255.0 - o.mean[c]) / o.std[c];
                blocks[c * 16 + (y / 4) * 4 + x / 4] += v / 16.0;
            }
        }
    std::vector<double> out(kTinyDimension, 0.0);
    for (int i = 0; i < 48; ++i)
        for (int j = 0; j < kTinyDimension; ++j) out[j] += blocks[i] * ((((7 * i + 13 * j) % 11) - 5) / 5.0);
    double norm = 0;
    for (double v : out) norm += v * v;
    std::vector<float> unit;
    for (double v : out) unit.push_back(static_cast<float>(v / std::sqrt(norm)));
    return unit;
}

}  // namespace

TEST_CASE("an embedding is the model's output on the resized, normalised RGB image, at unit length", "[embedding]") {
    const auto embedder = tiny_embedder();
    CHECK(embedder->dimension() == kTinyDimension);
    for (const char* name : {"coffee.jpg", "dome.jpg"}) {
        INFO(name);
        const cv::Mat image = photo(name);
        const std::vector<float> v = embedder->embed(image);
        const std::vector<float> expected = by_hand(image);
        REQUIRE(v.size() == expected.size());
        double norm = 0;
        for (std::size_t i = 0; i < v.size(); ++i) {
            CHECK(v[i] == Approx(expected[i]).margin(1e-4));
            norm += double(v[i]) * v[i];
        }
        CHECK(norm == Approx(1.0).margin(1e-5));
    }
}

TEST_CASE("an embedding's identity names the model bytes and the input side", "[embedding]") {
    const auto model = fixture("tiny-embedder.onnx");
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    REQUIRE(EVP_Digest(model.data(), model.size(), digest, &n, EVP_sha256(), nullptr) == 1);
    std::string hex;
    for (unsigned int i = 0; i < n; ++i) hex += fmt::format("{:02x}", digest[i]);
    CHECK(tiny_embedder()->identity() == "onnx-sha256:" + hex + "/16");
    // The same bytes at another input side: the tiny model's projection fits 16 px only, so it does not run.
    EmbedderOptions larger;
    larger.input_side = 32;
    const auto r = Embedder::load(model, larger);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::bad_model);
    CHECK(r.error().message.rfind("embedding model: OpenCV cannot read or run it: ", 0) == 0);
}

TEST_CASE("copies of one photo embed closer to each other than to other photos", "[embedding]") {
    const auto embedder = tiny_embedder();
    const cv::Mat coffee = photo("coffee.jpg");
    cv::Mat smaller, brighter;
    cv::resize(coffee, smaller, cv::Size(coffee.cols / 3, coffee.rows / 3), 0, 0, cv::INTER_AREA);
    coffee.convertTo(brighter, -1, 1.0, 20.0);
    const auto a = embedder->embed(coffee);
    const auto other = embedder->embed(photo("dome.jpg"));
    for (const cv::Mat* copy : {&smaller, &brighter}) {
        const auto b = embedder->embed(*copy);
        CHECK(cosine_similarity(a, b) > 0.95f);
        CHECK(cosine_similarity(a, b) > cosine_similarity(a, other) + 0.05f);
    }
    CHECK(cosine_similarity(a, a) == Approx(1.0f).margin(1e-5));
    CHECK(cosine_similarity(a, std::vector<float>(3, 1.0f)) == 0.0f);  // other dimension: not comparable
    CHECK(cosine_similarity({}, a) == 0.0f);
}

TEST_CASE("many threads embedding at once get what one thread gets", "[embedding][concurrency]") {
    const auto embedder = tiny_embedder();
    const std::vector<cv::Mat> images = {photo("coffee.jpg"), photo("dome.jpg")};
    std::vector<std::vector<float>> expected;
    for (const auto& image : images) expected.push_back(embedder->embed(image));
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 20; ++i) {
                const std::size_t which = static_cast<std::size_t>(t + i) % images.size();
                if (embedder->embed(images[which]) != expected[which]) ++wrong;
            }
        });
    for (auto& t : threads) t.join();
    CHECK(wrong == 0);
}

TEST_CASE("models that cannot serve as embedders are refused with the exact error", "[embedding][bad_input]") {
    EmbedderOptions options;
    options.input_side = kTinyInput;
    SECTION("empty bytes") {
        const auto r = Embedder::load({}, options);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ErrorCode::bad_model);
        CHECK(r.error().message == "embedding model: the model file is empty");
    }
    SECTION("bytes that are not an ONNX model") {
        const auto jpeg = test::read_bytes(test::sample_photo("coffee.jpg"));
        const auto r = Embedder::load(jpeg, options);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ErrorCode::bad_model);
        CHECK(r.error().message.rfind("embedding model: OpenCV cannot read or run it: ", 0) == 0);
    }
    SECTION("a truncated model") {
        auto model = fixture("tiny-embedder.onnx");
        model.resize(model.size() / 2);
        const auto r = Embedder::load(model, options);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ErrorCode::bad_model);
    }
    SECTION("a model whose output is a map, not a vector") {
        const auto r = Embedder::load(fixture("spatial-output.onnx"), options);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message == "embedding model: its output (1x3x4x4) is not one float vector per image");
    }
    SECTION("an input side out of range") {
        options.input_side = 4;
        const auto r = Embedder::load(fixture("tiny-embedder.onnx"), options);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message == "embedding model: input side 4 is outside 8..2048 pixels");
    }
}

TEST_CASE("signatures carry the embedding of the whole image, queries and references alike", "[embedding][signature]") {
    SignatureOptions options;
    options.embedder = tiny_embedder();
    const SignatureExtractor extractor(options);
    const auto bytes = test::read_bytes(test::sample_photo("coffee.jpg"));
    const Signature reference = extractor.compute(bytes).value();
    const QuerySignature query = extractor.compute_query(bytes).value();
    REQUIRE(reference.embedding.size() == static_cast<std::size_t>(kTinyDimension));
    REQUIRE(query.signature.embedding.size() == static_cast<std::size_t>(kTinyDimension));
    // The query decodes larger (its fine frame); the embedding's resize makes the two agree closely.
    CHECK(cosine_similarity(reference.embedding, query.signature.embedding) > 0.999f);
    CHECK(SignatureExtractor().compute(bytes).value().embedding.empty());  // no embedder, no embedding
}
