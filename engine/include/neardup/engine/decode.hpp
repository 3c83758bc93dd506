// Bytes in memory -> a canonical 8-bit BGR image, with the limits that keep hostile input harmless.
#pragma once

#include <cstdint>
#include <span>

#include <opencv2/core/mat.hpp>

#include "neardup/engine/error.hpp"
#include "neardup/engine/image_header.hpp"

namespace neardup {

struct DecodeOptions {
    // Refuse images whose header dimensions exceed this many pixels, before decoding anything.
    // 50 MP covers every camera and scanner photo a listing carries; bombs claim far more.
    std::uint64_t max_pixels = 50'000'000;
    // Refuse images whose shorter side is below this: nothing in them survives to a fingerprint.
    std::uint32_t min_side = 32;
    // When > 0, the decoder may decode at 1/2, 1/4 or 1/8 scale (JPEG DCT-domain scaling) as long as the
    // longer side stays at or above this many pixels. 0 decodes at full size.
    std::uint32_t min_long_side = 0;
    // How pixels are read. The defaults show the image as a viewer does: EXIF/TIFF orientation applied,
    // alpha composited onto white. Off: the pixels as stored (ThreatExchange's PDQ tools read them so,
    // see pdq_exchange.hpp): orientation ignored, alpha dropped (the colour channels as they are).
    bool apply_orientation = true;
    bool composite_alpha = true;
};

struct DecodedImage {
    cv::Mat bgr;               // CV_8UC3, orientation applied, alpha flattened onto white (as DecodeOptions say)
    ImageFormat format;
    std::uint32_t width = 0;   // full-size dimensions after orientation (bgr may be smaller: see scale)
    std::uint32_t height = 0;
    int scale_denominator = 1; // bgr is 1/scale_denominator of the full size
};

// Decodes JPEG, PNG, WebP, BMP, TIFF and PNM bytes. EXIF orientation (JPEG) and TIFF orientation are applied;
// grayscale, 16-bit, CMYK (JPEG) and alpha are brought to 8-bit BGR. Every failure is a typed Error
// (see probe_image_header, plus too_large, too_small, decode_failed); nothing here throws for bad bytes.
Result<DecodedImage> decode_image(std::span<const std::uint8_t> bytes, const DecodeOptions& options = {});

// Brings any OpenCV image (1/3/4 channels, 8/16-bit or float) to 8-bit BGR, alpha composited onto white
// (or, with composite_alpha false, dropped).
cv::Mat to_canonical_bgr(const cv::Mat& image, bool composite_alpha = true);

}  // namespace neardup
