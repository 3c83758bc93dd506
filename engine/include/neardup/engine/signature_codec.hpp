// The versioned binary form of a Signature, as stored in the catalog and sent between processes.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "neardup/engine/error.hpp"
#include "neardup/engine/signature.hpp"

namespace neardup {

// Format version written by serialize(); deserialize() reads this version only and says so otherwise.
inline constexpr std::uint8_t kSignatureFormatVersion = 1;

// Little-endian, fixed layout: "NDSG", version, flags, sizes, hashes, then keypoints (6 bytes each) and
// descriptors, then (flag 2) the embedding: a 16-bit dimension and that many 32-bit floats. About 80 bytes
// plus 38 per ORB keypoint and 4 per embedding value. Builds that predate the embedding flag refuse a
// signature that has one (unknown flags).
std::vector<std::uint8_t> serialize(const Signature& signature);

// Errors: corrupt_signature (bad magic, wrong length, inconsistent fields), unsupported_version.
Result<Signature> deserialize_signature(std::span<const std::uint8_t> bytes);

}  // namespace neardup
