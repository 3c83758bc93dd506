// Loaders for the on-disk layouts of public near-duplicate sets (and of the offline benchmark) into one shape:
// references to index, queries to search, and the (query, reference) pairs that should match.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace neardup::datasets {

struct DatasetImage {
    std::string id;  // unique within its list; stable across runs (derived from the file name)
    std::filesystem::path path;
};

struct GroundTruthPair {
    std::string query_id;
    std::string reference_id;
};

struct LoadedDataset {
    std::string name;
    std::vector<DatasetImage> references;  // sorted by id
    std::vector<DatasetImage> queries;     // sorted by id
    // One row per matching (query, reference); a query without rows has no match in the references.
    std::vector<GroundTruthPair> ground_truth;
};

// A folder that does not have the layout a loader expects. The message names the set, the path and what is wrong.
class DatasetLayoutError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// INRIA Copydays: originals `<root>/original/NNNN00.jpg`; every other image below `<root>` (whatever folders the
// attack archives unpack to: jpegqual/<quality>/, the crops, the strong attacks) is a query of the original of
// its block (name / 100).
// Query ids are the path below root with '/' as '_', without extension ("crops_50_200000").
LoadedDataset load_copydays(const std::filesystem::path& root);

// INRIA Holidays: `<root>/jpg/NNNNNN.jpg` (or the images directly in root). Images with the same name / 100 show
// one scene; the first of each group is the query, the others its references.
LoadedDataset load_holidays(const std::filesystem::path& root);

// UKBench: `<root>/full/ukbenchNNNNN.jpg` (or directly in root), four photos per object (number / 4). Every
// image is both a reference and a query, and matches the four of its group (itself included), as the set's
// top-4 score counts them.
LoadedDataset load_ukbench(const std::filesystem::path& root);

// California-ND: photos in `<root>/Photos/` (numbered in sorted file-name order) and the annotators' mean
// near-duplicate probability as an N x N text matrix `<root>/similarity.csv` (comma or space separated).
// Pairs with probability >= `threshold` (i != j) are ground truth; every photo is a reference and a query.
LoadedDataset load_california_nd(const std::filesystem::path& root, double threshold = 0.5);

// DISC21 (Image Similarity Challenge 2021) dev set: `<root>/dev_ground_truth.csv` (header query_id,reference_id;
// empty reference_id = no match), queries QNNNNN.jpg below `<root>/dev_queries`, references RNNNNNN.jpg below
// `<root>/references` (any depth: the archives unpack into nested folders).
LoadedDataset load_disc21_dev(const std::filesystem::path& root);

// The offline benchmark written by neardup-make-benchmark (references/, queries/, ground_truth.csv).
LoadedDataset load_offline_benchmark(const std::filesystem::path& root);

}  // namespace neardup::datasets
