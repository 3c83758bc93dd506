// Fuzzes the image intake: probe_image_header, then decode_image at full size and DCT-reduced.
// Checks that the pixel limit holds on what is decoded, not only on what the header says, and that the
// reduced decode agrees with the full one.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <span>
#include <string>

#include <opencv2/core.hpp>

#include "neardup/engine/decode.hpp"
#include "neardup/engine/image_header.hpp"

namespace {

// Small enough that a seed-sized image decodes in well under a millisecond, large enough for every seed
// (the largest is 96x64) to pass: the bomb guard is what is exercised past it.
constexpr std::uint64_t kMaxPixels = 128 * 128;
// Long side kept by the reduced decode: 64-pixel seeds decode at 1/2, larger ones lower.
constexpr std::uint32_t kReducedLongSide = 16;

void fail(const char* what) {
    std::fprintf(stderr, "fuzz_image: property violated: %s\n", what);
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    cv::setNumThreads(0);  // one thread: deterministic and cheaper per run
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> bytes(data, size);
    const auto header = neardup::probe_image_header(bytes);

    neardup::DecodeOptions full;
    full.max_pixels = kMaxPixels;
    const auto decoded = neardup::decode_image(bytes, full);
    if (std::getenv("NEARDUP_FUZZ_TRACE"))  // to see what the seeds reach
        std::fprintf(stderr, "%s\n", decoded ? (std::string(neardup::to_string(decoded.value().format)) + " " +
                                                std::to_string(decoded.value().width) + "x" + std::to_string(decoded.value().height)).c_str()
                                             : decoded.error().message.c_str());
    if (!header) {
        // decode_image probes first: the same refusal.
        if (decoded || decoded.error().code != header.error().code) fail("decode disagrees with a failed probe");
        return 0;
    }
    if (!decoded) {
        if (decoded.error().message.empty()) fail("an error without a message");
        return 0;
    }
    const neardup::DecodedImage& image = decoded.value();
    if (image.format != header.value().format) fail("decoded format differs from the probed one");
    if (image.bgr.type() != CV_8UC3 || image.bgr.empty()) fail("decoded image is not 8-bit BGR");
    if (image.scale_denominator != 1) fail("full-size decode was reduced");
    if (std::uint64_t(image.bgr.cols) * std::uint64_t(image.bgr.rows) > kMaxPixels)
        fail("decoded more pixels than the limit (header and decoder disagree)");
    if (std::uint64_t(image.width) * image.height != std::uint64_t(header.value().width) * header.value().height)
        fail("reported size is not the header's, up to orientation");
    if (std::uint32_t(image.bgr.cols) != image.width || std::uint32_t(image.bgr.rows) != image.height)
        fail("decoded pixels are not the size the header announced");

    neardup::DecodeOptions reduced = full;
    reduced.min_long_side = kReducedLongSide;
    const auto small = neardup::decode_image(bytes, reduced);
    if (!small) return 0;  // a cut-short stream may fail one decoder path and not the other
    const int d = small.value().scale_denominator;
    if (d != 1 && d != 2 && d != 4 && d != 8) fail("scale denominator outside 1, 2, 4, 8");
    if (small.value().width != image.width || small.value().height != image.height)
        fail("reduced decode reports another full size");
    if (small.value().bgr.cols > image.bgr.cols || small.value().bgr.rows > image.bgr.rows)
        fail("reduced decode is larger than the full one");
    return 0;
}
