// What a benchmark knows about its queries: the true (query, reference) matches, edit families, hard negatives.
#pragma once

#include <set>
#include <string>
#include <vector>

namespace neardup::bench {

struct GroundTruthPair {
    std::string query_id;
    std::string reference_id;
    friend bool operator==(const GroundTruthPair&, const GroundTruthPair&) = default;
};

// The DISC21 ground truth: every query of the benchmark, and every (query, reference) pair that is a true
// copy. A query listed without a reference has no match in the index; a query may match several references.
struct GroundTruth {
    std::vector<std::string> query_ids;   // each query once, in first-seen order
    std::vector<GroundTruthPair> pairs;   // each true pair once, in file order
    friend bool operator==(const GroundTruth&, const GroundTruth&) = default;
};

// One row of queries.csv: how a query was made.
struct QueryInfo {
    std::string query_id;
    std::string source_id;  // the photo the query was derived from (empty for a query made from nothing indexed)
    bool in_index = false;  // whether that source is in the index, i.e. the query should be found
    std::string family;     // edit family, the unit of per-family recall ("crop", "overlay", "collage", ...)
    std::string edits;      // the edit chain as the dataset wrote it; kept verbatim
    std::string split;      // "train" (for tuning) or "test" (reported); all queries of one source share it
    friend bool operator==(const QueryInfo&, const QueryInfo&) = default;
};

// One row of hard_negatives.csv: a query that is NOT a copy but looks like one (same product, another photo).
struct HardNegative {
    std::string query_id;
    std::string related_reference_id;  // the reference a careless matcher would confuse it with
    friend bool operator==(const HardNegative&, const HardNegative&) = default;
};

// Everything evaluate() needs besides predictions. queries and hard_negatives may be empty (files absent).
struct BenchmarkTruth {
    GroundTruth ground_truth;
    std::vector<QueryInfo> queries;
    std::vector<HardNegative> hard_negatives;
    // References archived as thumbnails: their pairs are also reported together as one more row of the
    // family tables (kThumbnailFamily).
    std::set<std::string> thumbnail_references;
};

}  // namespace neardup::bench
