// PDQ hashes for exchange with partners: computed the way ThreatExchange's reference tools compute them, so
// that a hash list written here matches the lists partners write from the same files.
//
// The reference hasher (ThreatExchange pdq/cpp `pdq-photo-hasher`) reads the full-size image, squashes one
// whose width or height is over 512 px to exactly 512x512 by nearest neighbour, and hashes that. Both
// conventions below do the same; they differ only in how pixels are read:
//   neardup         the image as a viewer shows it: EXIF/TIFF orientation applied, alpha composited onto
//                   white, 16-bit samples scaled to 8 bits (value / 257). What `neardup` searches with.
//   threatexchange  the pixels as stored, as the reference reads them: orientation ignored, alpha dropped.
// On an 8-bit image without orientation or alpha both give the reference's hash bit for bit (up to float
// rounding on coefficients that tie with the median). Where they differ: an EXIF-rotated JPEG (a different
// image: ~128 bits apart), a partly transparent PNG (transparent pixels' stored colours vs white). 16-bit
// images hash alike under neither: the reference reads them into 8-bit storage keeping the low byte of each
// sample, which is noise; both conventions here scale them.
//
// The search signature's PDQ (signature.hpp) is cheaper (a DCT-reduced decode, an aspect-keeping 512 px
// frame) and lies within ~12 bits of these.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "neardup/engine/decode.hpp"
#include "neardup/engine/error.hpp"
#include "neardup/engine/pdq.hpp"

namespace neardup {

enum class PdqConvention { neardup, threatexchange };

std::string_view to_string(PdqConvention convention);
// "neardup" or "threatexchange"; nothing for any other name.
std::optional<PdqConvention> parse_pdq_convention(std::string_view name);

// The decode options of a convention; max_pixels and min_side come from `limits`.
DecodeOptions exchange_decode_options(PdqConvention convention, const DecodeOptions& limits = {});

// The reference's frame: an image with a side over 512 px squashed to 512x512 by nearest neighbour.
cv::Mat pdq_reference_frame(const cv::Mat& image);

// The exchange hash of encoded image bytes. Errors are decode_image's.
Result<PdqHash> exchange_pdq(std::span<const std::uint8_t> bytes, PdqConvention convention, const DecodeOptions& limits = {});

}  // namespace neardup
