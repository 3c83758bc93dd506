#include "neardup/engine/decode.hpp"

#include <algorithm>
#include <array>
#include <string>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace neardup {
namespace {

// Applies an EXIF/TIFF orientation value (1..8) to an image read as stored.
cv::Mat apply_orientation(const cv::Mat& img, int orientation) {
    cv::Mat out;
    switch (orientation) {
        case 2: cv::flip(img, out, 1); break;
        case 3: cv::rotate(img, out, cv::ROTATE_180); break;
        case 4: cv::flip(img, out, 0); break;
        case 5: cv::transpose(img, out); break;
        case 6: cv::rotate(img, out, cv::ROTATE_90_CLOCKWISE); break;
        case 7: cv::transpose(img, out); cv::rotate(out, out, cv::ROTATE_180); break;
        case 8: cv::rotate(img, out, cv::ROTATE_90_COUNTERCLOCKWISE); break;
        default: out = img;
    }
    return out;
}

int jpeg_reduced_flag(int denominator) {
    switch (denominator) {
        case 2: return cv::IMREAD_REDUCED_COLOR_2;
        case 4: return cv::IMREAD_REDUCED_COLOR_4;
        case 8: return cv::IMREAD_REDUCED_COLOR_8;
        default: return cv::IMREAD_COLOR;
    }
}

}  // namespace

cv::Mat to_canonical_bgr(const cv::Mat& image, bool composite_alpha) {
    cv::Mat img8;
    switch (image.depth()) {
        case CV_8U: img8 = image; break;
        case CV_16U: image.convertTo(img8, CV_8U, 1.0 / 257.0); break;
        case CV_32F:
        case CV_64F: image.convertTo(img8, CV_8U, 255.0); break;  // float images are in [0, 1]
        default: image.convertTo(img8, CV_8U); break;
    }
    cv::Mat bgr;
    if (img8.channels() == 1) {
        cv::cvtColor(img8, bgr, cv::COLOR_GRAY2BGR);
    } else if (img8.channels() == 3) {
        bgr = img8;
    } else if (img8.channels() == 4 && !composite_alpha) {
        cv::cvtColor(img8, bgr, cv::COLOR_BGRA2BGR);
    } else if (img8.channels() == 4) {
        // Composite onto white: cut-out product shots are transparent around the object, and a listing shows them on white.
        bgr.create(img8.size(), CV_8UC3);
        for (int y = 0; y < img8.rows; ++y) {
            const auto* src = img8.ptr<cv::Vec4b>(y);
            auto* dst = bgr.ptr<cv::Vec3b>(y);
            for (int x = 0; x < img8.cols; ++x) {
                const int a = src[x][3];
                for (int c = 0; c < 3; ++c) dst[x][c] = static_cast<std::uint8_t>((src[x][c] * a + 255 * (255 - a) + 127) / 255);
            }
        }
    } else {
        throw std::invalid_argument("to_canonical_bgr: unsupported channel count " + std::to_string(img8.channels()));
    }
    return bgr;
}

Result<DecodedImage> decode_image(std::span<const std::uint8_t> bytes, const DecodeOptions& options) {
    auto header = probe_image_header(bytes);
    if (!header) return header.error();
    const ImageHeader& h = header.value();
    const std::uint64_t pixels = std::uint64_t{h.width} * h.height;
    if (pixels > options.max_pixels) {
        return make_error(ErrorCode::too_large, std::string(to_string(h.format)) + " image of " + std::to_string(h.width) +
                                                    "x" + std::to_string(h.height) + " pixels is over the limit of " +
                                                    std::to_string(options.max_pixels) + " pixels");
    }
    if (h.width < options.min_side || h.height < options.min_side) {
        return make_error(ErrorCode::too_small, std::string(to_string(h.format)) + " image of " + std::to_string(h.width) +
                                                    "x" + std::to_string(h.height) + " is below the minimum side of " +
                                                    std::to_string(options.min_side) + " pixels");
    }

    // cv::imdecode picks its decoder by signature, not by the format probed above: bytes that its decoder for
    // this format rejects fall through to the next decoders, and the DICOM reader (GDCM) looks for "DICM" at
    // byte 128, after any header of ours. Its reader then trusts the element lengths it finds (a 2.3 GB
    // allocation from a 1 KB WebP, found by fuzz/image). A real image of ours carries those four bytes there
    // about once in 4 billion.
    static constexpr std::array<std::uint8_t, 4> kDicom = {'D', 'I', 'C', 'M'};
    if (bytes.size() >= 132 && std::equal(kDicom.begin(), kDicom.end(), bytes.begin() + 128)) {
        return make_error(ErrorCode::decode_failed, std::string(to_string(h.format)) +
                                                        " image carries a DICOM signature at byte 128, which OpenCV would "
                                                        "decode as DICOM; refused");
    }
    DecodedImage out{{}, h.format};
    // OpenCV reads from a Mat header over the caller's bytes; no copy.
    const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8U, const_cast<std::uint8_t*>(bytes.data()));
    cv::Mat raw;
    try {
        if (h.format == ImageFormat::jpeg) {
            // JPEG has no alpha; IMREAD_COLOR converts grayscale and CMYK and applies EXIF orientation, and the
            // reduced modes scale in the DCT domain, which skips most of the decoding work.
            int denominator = 1;
            const std::uint32_t long_side = std::max(h.width, h.height);
            if (options.min_long_side > 0) {
                while (denominator < 8 && long_side / (denominator * 2) >= options.min_long_side) denominator *= 2;
            }
            // The decoder rounds each side up (ceil(side / d)), so a nearly square image can come out exactly
            // square, and then its aspect no longer tells whether EXIF orientation turned it (below). Such an
            // image decodes at the largest reduction that keeps its two sides apart (found by fuzz/image).
            const auto reduced_side = [](std::uint32_t side, int d) { return (side + std::uint32_t(d) - 1) / std::uint32_t(d); };
            while (denominator > 1 && h.width != h.height &&
                   reduced_side(h.width, denominator) == reduced_side(h.height, denominator))
                denominator /= 2;
            raw = cv::imdecode(buffer, jpeg_reduced_flag(denominator) | (options.apply_orientation ? 0 : cv::IMREAD_IGNORE_ORIENTATION));
            out.scale_denominator = denominator;
        } else {
            raw = cv::imdecode(buffer, cv::IMREAD_UNCHANGED);  // keeps alpha and 16-bit depth for to_canonical_bgr
            if (!raw.empty() && options.apply_orientation) raw = apply_orientation(raw, h.orientation);
        }
    } catch (const cv::Exception& e) {
        return make_error(ErrorCode::decode_failed, std::string(to_string(h.format)) + " decoder failed: " + e.what());
    }
    if (raw.empty()) {
        return make_error(ErrorCode::decode_failed, std::string(to_string(h.format)) + " decoder rejected the data (" +
                                                        std::to_string(bytes.size()) + " bytes, corrupt or cut short)");
    }
    if (raw.channels() == 2) return make_error(ErrorCode::decode_failed, "two-channel images are not supported");
    out.bgr = to_canonical_bgr(raw, options.composite_alpha);
    const bool swapped = (h.width > h.height) != (out.bgr.cols > out.bgr.rows) && h.width != h.height;
    out.width = swapped ? h.height : h.width;
    out.height = swapped ? h.width : h.height;
    return out;
}

}  // namespace neardup
