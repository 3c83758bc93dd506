#include <catch2/catch.hpp>

#include <thread>

#include "neardup/engine/signature.hpp"
#include "support/image_bytes.hpp"
#include "support/sample_photos.hpp"

using namespace neardup;

TEST_CASE("a signature holds every fingerprint of one photo", "[signature]") {
    const auto bytes = test::read_bytes(test::sample_photo("sample2_1920.jpg"));
    SignatureOptions options;
    options.dihedral = true;
    const SignatureExtractor extractor(options);
    const Signature s = extractor.compute(bytes).value();
    CHECK(s.width == 1920u);
    CHECK(s.height == 1278u);
    CHECK(s.pdq.quality == 100);
    REQUIRE(s.pdq_dihedral.size() == 8u);
    CHECK(s.pdq_dihedral[0] == s.pdq.hash);
    CHECK(s.features.size() > 100u);
    CHECK(s.features.size() <= 256u);
    CHECK(std::max(s.features.frame_width, s.features.frame_height) == 512);
    const Signature plain = SignatureExtractor().compute(bytes).value();
    CHECK(plain.pdq_dihedral.empty());
    CHECK(plain.pdq == s.pdq);
}

TEST_CASE("decode errors come back as typed errors", "[signature][bad_input]") {
    const SignatureExtractor extractor;
    const std::vector<std::uint8_t> junk = {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'};
    const auto r = extractor.compute(junk);
    CHECK(r.error().code == ErrorCode::unsupported_format);
    CHECK_THROWS_AS(r.value(), ResultError);
}

TEST_CASE("compute_many in parallel equals one-by-one, errors stay in their slot", "[signature][concurrency]") {
    std::vector<std::vector<std::uint8_t>> files;
    for (const auto& p : test::sample_photos()) files.push_back(test::read_bytes(p));
    files.resize(std::min<std::size_t>(files.size(), 10));
    files.insert(files.begin() + 3, std::vector<std::uint8_t>{});  // a bad input among good ones
    std::vector<std::span<const std::uint8_t>> inputs(files.begin(), files.end());
    const SignatureExtractor extractor;
    const auto parallel = extractor.compute_many(inputs);
    REQUIRE(parallel.size() == files.size());
    CHECK(parallel[3].error().code == ErrorCode::empty_input);
    for (std::size_t i = 0; i < files.size(); ++i) {
        if (i == 3) continue;
        INFO(i);
        CHECK(parallel[i].value() == extractor.compute(files[i]).value());
    }
}

TEST_CASE("one extractor is safe to use from many threads", "[signature][concurrency]") {
    const auto bytes = test::read_bytes(test::sample_photo("coffee.jpg"));
    const SignatureExtractor extractor;
    const Signature expected = extractor.compute(bytes).value();
    std::vector<std::thread> threads;
    std::atomic<int> mismatches{0};
    for (int t = 0; t < 6; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 3; ++i)
                if (!(extractor.compute(bytes).value() == expected)) ++mismatches;
        });
    for (auto& t : threads) t.join();
    CHECK(mismatches == 0);
}

TEST_CASE("a query signature computed in parallel equals the one computed part after part", "[signature][concurrency]") {
    SignatureOptions serial_options;
    serial_options.parallel_query = false;
    const SignatureExtractor parallel, serial(serial_options);
    REQUIRE(parallel.options().parallel_query);
    // Two photos at their own size (coarse and fine frames), at 600 px (coarse frame only) and at 300 px (a
    // thumbnail: the frame upscaled).
    for (const char* name : {"sample2_1920.jpg", "coffee.jpg"}) {
        INFO(name);
        const auto bytes = test::read_bytes(test::sample_photo(name));
        const auto image = parallel.decode_query(bytes).value();
        for (const int long_side : {0, 600, 300}) {
            INFO(long_side);
            cv::Mat bgr = image.bgr;
            if (long_side > 0) bgr = downscale_to(bgr, long_side);
            const QuerySignature a = parallel.compute_query(bgr, image.width, image.height);
            const QuerySignature b = serial.compute_query(bgr, image.width, image.height);
            // Features in the fine frame's coordinates where there is one (1024 px), else the coarse one's.
            const int frame = std::max(a.signature.features.frame_width, a.signature.features.frame_height);
            const int side = std::max(bgr.cols, bgr.rows);
            CHECK(frame == (side > 640 ? std::min(side, 1024) : std::max(448, std::min(side, 512))));
            CHECK(a.signature.features.size() > 100u);
            CHECK(a.mirrored_features.size() > 100u);
            CHECK(a.signature == b.signature);
            CHECK(a.mirrored_features == b.mirrored_features);
        }
    }
}
