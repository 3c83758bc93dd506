#include "neardup/engine/pdq_exchange.hpp"

#include <opencv2/imgproc.hpp>

namespace neardup {

std::string_view to_string(PdqConvention convention) {
    return convention == PdqConvention::threatexchange ? "threatexchange" : "neardup";
}

std::optional<PdqConvention> parse_pdq_convention(std::string_view name) {
    if (name == "neardup") return PdqConvention::neardup;
    if (name == "threatexchange") return PdqConvention::threatexchange;
    return std::nullopt;
}

DecodeOptions exchange_decode_options(PdqConvention convention, const DecodeOptions& limits) {
    DecodeOptions o;
    o.max_pixels = limits.max_pixels;
    o.min_side = limits.min_side;
    o.min_long_side = 0;  // full size: the reference decodes every pixel before it samples 512 of them
    o.apply_orientation = convention == PdqConvention::neardup;
    o.composite_alpha = convention == PdqConvention::neardup;
    return o;
}

cv::Mat pdq_reference_frame(const cv::Mat& image) {
    constexpr int kSide = 512;
    if (image.cols <= kSide && image.rows <= kSide) return image;
    cv::Mat out;
    cv::resize(image, out, cv::Size(kSide, kSide), 0, 0, cv::INTER_NEAREST);
    return out;
}

Result<PdqHash> exchange_pdq(std::span<const std::uint8_t> bytes, PdqConvention convention, const DecodeOptions& limits) {
    auto decoded = decode_image(bytes, exchange_decode_options(convention, limits));
    if (!decoded) return decoded.error();
    return pdq_hash(pdq_reference_frame(decoded.value().bgr));
}

}  // namespace neardup
