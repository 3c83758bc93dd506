// Reads an image's format and dimensions from its header bytes, without decoding pixels.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "neardup/engine/error.hpp"

namespace neardup {

// The formats neardup decodes: those whose dimensions can be checked before any pixel is decoded,
// so a decompression bomb is refused while it is still a few bytes.
enum class ImageFormat { jpeg, png, webp, bmp, tiff, pnm };

std::string_view to_string(ImageFormat format) noexcept;

struct ImageHeader {
    ImageFormat format;
    std::uint32_t width = 0;   // as stored, before any EXIF/TIFF orientation is applied
    std::uint32_t height = 0;
    int orientation = 1;       // TIFF/EXIF orientation 1..8 where the header carries it (TIFF only), else 1
};

// Identifies the format by its magic bytes and reads the stored dimensions.
// Errors: empty_input, unsupported_format, truncated (header or stream cut short), decode_failed (malformed header).
Result<ImageHeader> probe_image_header(std::span<const std::uint8_t> bytes);

}  // namespace neardup
