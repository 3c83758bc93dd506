// Bulk indexing: files -> (read, SHA-256, plan, decode, signature) in parallel -> batched durable commits.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "neardup/indexer/image_files.hpp"
#include "neardup/store/store.hpp"

namespace neardup::indexer {

struct IndexInput {
    std::string key;
    std::filesystem::path path;
    store::Labels labels;
};

// Inputs from a manifest CSV: header `key,path[,label...]`; each further column is a label named by its
// header. Paths are relative to the manifest's folder unless absolute. Throws std::runtime_error with the
// line number on a malformed file.
std::vector<IndexInput> read_manifest(const std::filesystem::path& csv);
// Inputs from files: the key is the file name without its extension; every input gets `labels`.
std::vector<IndexInput> inputs_from_files(const std::vector<std::filesystem::path>& files, const store::Labels& labels);

enum class IndexOutcome { added, replaced, unchanged, failed };

struct IndexEvent {
    const IndexInput* input;
    IndexOutcome outcome;
    Error error;  // set when failed
};

struct IndexJobOptions {
    bool replace = false;
    std::uintmax_t max_file_bytes = kMaxImageFileBytes;
    std::size_t max_in_flight = 8;
    std::size_t batch_size = 64;           // rows per catalog transaction
    std::size_t snapshot_every = 50'000;   // adds between index snapshots during long runs
};

struct IndexSummary {
    std::size_t added = 0, replaced = 0, unchanged = 0, failed = 0;
};

// Runs the job; `on_event` is called once per input, in input order, from one thread at a time. What has
// been reported as added is durable; a killed run re-run with the same inputs finishes the rest.
IndexSummary run_index_job(store::Store& store, const std::vector<IndexInput>& inputs, const IndexJobOptions& options,
                           const std::function<void(const IndexEvent&)>& on_event);

}  // namespace neardup::indexer
