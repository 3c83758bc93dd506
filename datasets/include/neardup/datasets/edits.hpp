// The counterfeit-listing edits that turn an original photo into a benchmark query, each drawn with OpenCV.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <opencv2/core/mat.hpp>

namespace neardup::datasets {

// Primary edit family of a query. The names are part of the benchmark's queries.csv contract.
enum class EditFamily : int {
    crop,
    rescale,
    aspect,
    jpeg,
    colour,
    greyscale,
    blur_noise,
    text_overlay,
    watermark,
    mirror,
    rotate_small,
    rotate_90,
    perspective,
    frame,
    new_background,
    collage,
    screenshot,
    crop_heavy,     // a crop keeping 25-50 % of the area
    collage_dense,  // a grid of 4-9 tiles, the copy one of them
    text_dense,     // price stickers and listing text covering 20-40 % of the photo
    hard_negative,  // not an edit: a different photo of an indexed object (its own chain follows)
};

// Every family that is an edit of the original (all but hard_negative), in declaration order.
inline constexpr std::array<EditFamily, 20> kEditFamilies = {
    EditFamily::crop,         EditFamily::rescale,      EditFamily::aspect,     EditFamily::jpeg,
    EditFamily::colour,       EditFamily::greyscale,    EditFamily::blur_noise, EditFamily::text_overlay,
    EditFamily::watermark,    EditFamily::mirror,       EditFamily::rotate_small, EditFamily::rotate_90,
    EditFamily::perspective,  EditFamily::frame,        EditFamily::new_background, EditFamily::collage,
    EditFamily::screenshot,   EditFamily::crop_heavy,   EditFamily::collage_dense, EditFamily::text_dense,
};

std::string_view to_string(EditFamily family) noexcept;
std::optional<EditFamily> edit_family_from_string(std::string_view name) noexcept;

using Rng = std::mt19937_64;

// What an edit may draw on besides the image itself.
struct EditInputs {
    // Alpha mask of the original's object (CV_8UC1, same size as the original), empty when the original is a
    // plain photo. Only new_background uses it, and only while the image still has the original's geometry.
    cv::Mat object_alpha;
    // Photos that are never indexed: collage tiles and new backgrounds come from here.
    std::span<const cv::Mat> other_photos;
};

// One applied edit: the image after it, and a short label for the chain ("crop:0.62"); labels hold no commas.
struct EditStep {
    cv::Mat image;
    std::string label;
};

// Applies one edit with parameters drawn from `rng`. `image` is 8-bit BGR; so is the result.
// Throws std::invalid_argument for hard_negative (not an edit) or an empty image.
EditStep apply_edit(EditFamily family, const cv::Mat& image, Rng& rng, const EditInputs& inputs);

// A finished query: the JPEG bytes and the chain that made them ("crop:0.62+text_overlay+jpeg:q84").
struct EditedQuery {
    std::vector<std::uint8_t> jpeg;
    cv::Mat image;  // the decoded JPEG, for contact sheets
    std::vector<std::string> chain;
    std::string chain_text() const;
};

// Builds a chain of 1 to 3 edits: `primary` plus 0-2 secondary edits drawn from the lighter families, applied
// in the order a seller works (cut-out and composition, geometry, colour, collage, frame, overlays, screenshot,
// recompression), and ends with a JPEG encode (quality 70-95, or the jpeg edit's own quality).
// `max_chain` caps the number of edits (1 gives the primary alone).
EditedQuery make_query(const cv::Mat& original, EditFamily primary, Rng& rng, const EditInputs& inputs,
                       int max_chain = 3);

// Encodes BGR as JPEG at `quality`; throws std::runtime_error when OpenCV refuses.
std::vector<std::uint8_t> encode_jpeg(const cv::Mat& bgr, int quality);

}  // namespace neardup::datasets
