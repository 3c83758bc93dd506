// Streams files through read -> signature -> consumer as a bounded oneTBB pipeline.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "neardup/engine/signature.hpp"
#include "neardup/indexer/image_files.hpp"

namespace neardup::indexer {

struct FingerprintOutcome {
    std::size_t index = 0;            // position in the input list
    std::filesystem::path path;
    std::uintmax_t file_bytes = 0;
    Result<Signature> signature = Error{ErrorCode::empty_input, "not computed"};
};

struct FingerprintJobOptions {
    // Files over this size are refused before reading (a listing photo is a few MB).
    std::uintmax_t max_file_bytes = kMaxImageFileBytes;
    // Files in flight at once: bounds memory whatever the number of files, keeps every core busy.
    std::size_t max_in_flight = 8;
};

// Calls `consume` once per file, in input order, from one thread at a time. Read and signature work runs
// in parallel on the oneTBB pool.
void run_fingerprint_job(const std::vector<std::filesystem::path>& files, const SignatureExtractor& extractor,
                         const FingerprintJobOptions& options, const std::function<void(FingerprintOutcome&)>& consume);

}  // namespace neardup::indexer
