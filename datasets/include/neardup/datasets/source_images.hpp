// The photos a benchmark is built from: a list of files with their package and role, loaded, screened and
// de-duplicated so that no unlabelled copy of one photo appears twice in the ground truth.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "neardup/engine/hash256.hpp"

namespace neardup::datasets {

enum class SourceRole {
    photo,       // a photograph: may be indexed, queried, or used as a collage tile / background
    cutout,      // an object photo with an alpha channel: flattened onto a studio background to look like a product
    distractor,  // indexed only, never queried (astrophotos and the like: volume for the index)
};

std::string_view to_string(SourceRole role) noexcept;

// One line of a sources list: where a file came from and what it may be used for.
struct SourceEntry {
    std::string package;  // Debian package name
    std::string version;  // Debian package version
    std::string prefix;   // short id prefix for this package, [a-z0-9]+ ("tux", "esky")
    SourceRole role = SourceRole::photo;
    std::string group;    // non-empty: every entry with this group shows the same object in a different photo
    std::filesystem::path path;
};

// Reads a sources list: tab-separated `package version prefix role group path`, '#' comments and blank lines
// skipped. Throws std::runtime_error naming the file and line for a malformed line or unknown role.
std::vector<SourceEntry> read_sources_list(const std::filesystem::path& list);
void write_sources_list(const std::filesystem::path& list, const std::vector<SourceEntry>& entries);

// The CI set: every *.jpg under the given folders (the libjs-jquery-* examples). The 1144953-*-2x.jpg photos
// show one shoe and form the group "shoe". Package and version come from the folder (/usr/share/doc/<package>).
std::vector<SourceEntry> jquery_example_sources(const std::vector<std::filesystem::path>& folders);

// Longest side of a normalised source: enough for every fingerprint, small enough to keep the build fast.
inline constexpr int kSourceMaxSide = 1024;

// A source decoded and brought to the form the benchmark uses.
struct LoadedSource {
    cv::Mat bgr;    // 8-bit BGR, longest side <= kSourceMaxSide; cut-outs already flattened
    cv::Mat alpha;  // cut-outs only: the object's mask, same size as bgr
};

// Decodes a source file. Cut-outs are cropped to their object, padded and flattened onto a light studio
// background chosen from `seed`. Throws std::runtime_error naming the file when it cannot be read.
LoadedSource load_source(const SourceEntry& entry, std::uint64_t seed);

// What screening measured for one source.
struct SourceStats {
    int width = 0, height = 0;
    Hash256 pdq;
    int pdq_quality = 0;
    std::array<Hash256, 8> pdq_dihedral{};
    // Fraction of the object's pixels whose 3x3 neighbourhood is one flat colour: drawings and renders are
    // mostly flat, photographs almost never (sensor noise). Measured on the source before resizing.
    double flat_fraction = 0;
};

SourceStats measure_source(const SourceEntry& entry, const LoadedSource& loaded);

// Screening limits. Values were chosen by looking at contact sheets of the Debian sources: drawings sit above
// 0.35 flat fraction, photos below 0.2; under 100 px a stamp is an icon (many photo stamps are 100-160 px).
struct ScreeningLimits {
    int min_side = 100;
    double max_flat_fraction = 0.3;
    int min_pdq_quality = 50;  // PDQ's own advice: below 50 the hash says little (flat images)
    // Two sources at most this PDQ distance (any of the eight symmetries) are one photo. PDQ's authors
    // suggest 31 for matching; 40 is looser, so that re-encoded and resized copies are caught too.
    int duplicate_distance = 40;
};

// Indices of the entries that pass screening, with exact and near repeats (within and across packages, in any
// of the eight symmetries) reduced to the first one in the list. Members of one group are compared with the
// rest of the set but not with each other: they are labelled as different photos of one object.
struct ScreeningResult {
    std::vector<std::size_t> kept;
    std::size_t dropped_small = 0, dropped_flat = 0, dropped_low_quality = 0, dropped_duplicate = 0;
};
ScreeningResult screen_sources(const std::vector<SourceEntry>& entries, const std::vector<SourceStats>& stats,
                               const ScreeningLimits& limits = {});

}  // namespace neardup::datasets
