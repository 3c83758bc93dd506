#include "neardup/bench/prediction.hpp"

#include <cmath>
#include <unordered_map>

#include "pair_key.hpp"

namespace neardup::bench {

std::vector<Prediction> collapse_duplicate_predictions(std::vector<Prediction> predictions) {
    std::vector<Prediction> kept;
    kept.reserve(predictions.size());
    std::unordered_map<std::string, std::size_t> slot;  // pair -> index in kept
    for (Prediction& p : predictions) {
        const auto [it, inserted] = slot.emplace(detail::pair_key(p.query_id, p.reference_id), kept.size());
        if (inserted) {
            kept.push_back(std::move(p));
            continue;
        }
        Prediction& first = kept[it->second];
        // A NaN is left for evaluate() to refuse rather than silently lost here.
        if (p.score > first.score || std::isnan(p.score)) first.score = p.score;
        first.match = first.match || p.match;
    }
    return kept;
}

}  // namespace neardup::bench
