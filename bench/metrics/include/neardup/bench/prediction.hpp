// What one method answered for the benchmark's queries: scored (query, reference) candidates.
#pragma once

#include <string>
#include <vector>

namespace neardup::bench {

struct Prediction {
    std::string query_id;
    std::string reference_id;
    float score = 0;     // higher means more similar; only the order of scores matters
    bool match = false;  // the method's own decision: would it report this pair as a copy?
    friend bool operator==(const Prediction&, const Prediction&) = default;
};

struct MethodPredictions {
    std::string method;  // short name shown in reports ("pdq", "pdq+orb")
    std::vector<Prediction> predictions;
};

// DISC21 scores every (query, reference) pair once and evaluate() refuses repeats. A method that can
// propose one pair several times (e.g. through several dihedral variants) collapses them with this:
// one prediction per pair with the highest score, a match if any of the repeats was. Order: first-seen.
std::vector<Prediction> collapse_duplicate_predictions(std::vector<Prediction> predictions);

}  // namespace neardup::bench
