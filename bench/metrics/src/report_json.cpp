#include "neardup/bench/report_json.hpp"

#include <optional>

namespace neardup::bench {
namespace {

using nlohmann::json;

template <class T>
json optional_to_json(const std::optional<T>& v) {
    return v ? json(*v) : json(nullptr);
}

json point_to_json(const PrPoint& p) {
    return json{{"threshold", p.threshold},
                {"precision", p.precision},
                {"recall", p.recall},
                {"true_positives", p.true_positives},
                {"predictions", p.predictions}};
}

json operating_point_to_json(const RecallAtPrecision& r) {
    return json{{"min_precision", r.min_precision}, {"point", r.point ? point_to_json(*r.point) : json(nullptr)}};
}

json method_to_json(const MethodMetrics& m) {
    json families = json::array();
    for (const FamilyRecall& f : m.families)
        families.push_back(json{{"family", f.family},
                                {"ground_truth_pairs", f.ground_truth_pairs},
                                {"found_by_decision", f.found_by_decision},
                                {"decision_recall", f.decision_recall},
                                {"found_at_p99", optional_to_json(f.found_at_p99)},
                                {"recall_at_p99", optional_to_json(f.recall_at_p99)}});
    // Columns, and no precision or recall: they follow exactly from the counts, and a curve has a point per
    // distinct score (half a million for a DISC21-sized run), so every byte per point counts.
    json thresholds = json::array(), true_positives = json::array(), predictions = json::array();
    for (const PrPoint& p : m.pr_curve) {
        thresholds.push_back(p.threshold);
        true_positives.push_back(p.true_positives);
        predictions.push_back(p.predictions);
    }
    json curve{{"thresholds", std::move(thresholds)},
               {"true_positives", std::move(true_positives)},
               {"predictions", std::move(predictions)}};
    return json{{"method", m.method},
                {"ground_truth_pairs", m.ground_truth_pairs},
                {"predictions", m.predictions},
                {"correct_predictions", m.correct_predictions},
                {"predictions_for_unknown_queries", m.predictions_for_unknown_queries},
                {"micro_ap", m.micro_ap},
                {"at_p90", operating_point_to_json(m.at_p90)},
                {"at_p99", operating_point_to_json(m.at_p99)},
                {"decision",
                 {{"matches", m.decision.matches},
                  {"true_matches", m.decision.true_matches},
                  {"false_matches", m.decision.false_matches},
                  {"precision", optional_to_json(m.decision.precision)},
                  {"recall", m.decision.recall}}},
                {"families", std::move(families)},
                {"hard_negatives",
                 {{"queries", m.hard_negatives.queries},
                  {"false_matches", m.hard_negatives.false_matches},
                  {"related_false_matches", m.hard_negatives.related_false_matches}}},
                {"pr_curve", std::move(curve)}};
}

// Reading: nlohmann throws json::exception on a missing key or a wrong type; report_from_json turns that
// into a malformed_json error, with the path of the field being read.
struct Reader {
    std::string path;

    const json& at(const json& j, const char* key) {
        path_push(key);
        if (!j.is_object() || !j.contains(key)) throw std::out_of_range("missing field " + path);
        return j.at(key);
    }
    template <class T>
    T get(const json& j, const char* key) {
        const json& v = at(j, key);
        T out = v.get<T>();
        path_pop();
        return out;
    }
    template <class T>
    std::optional<T> get_optional(const json& j, const char* key) {
        const json& v = at(j, key);
        std::optional<T> out;
        if (!v.is_null()) out = v.get<T>();
        path_pop();
        return out;
    }
    void path_push(const std::string& key) { path += "/" + key; }
    void path_pop() { path.erase(path.rfind('/')); }

    PrPoint point(const json& j) {
        PrPoint p;
        p.threshold = get<float>(j, "threshold");
        p.precision = get<double>(j, "precision");
        p.recall = get<double>(j, "recall");
        p.true_positives = get<std::size_t>(j, "true_positives");
        p.predictions = get<std::size_t>(j, "predictions");
        return p;
    }
    RecallAtPrecision operating_point(const json& j, const char* key) {
        const json& o = at(j, key);
        RecallAtPrecision r;
        r.min_precision = get<double>(o, "min_precision");
        const json& p = at(o, "point");
        if (!p.is_null()) r.point = point(p);
        path_pop();
        path_pop();
        return r;
    }
    MethodMetrics method(const json& j) {
        MethodMetrics m;
        m.method = get<std::string>(j, "method");
        m.ground_truth_pairs = get<std::size_t>(j, "ground_truth_pairs");
        m.predictions = get<std::size_t>(j, "predictions");
        m.correct_predictions = get<std::size_t>(j, "correct_predictions");
        m.predictions_for_unknown_queries = get<std::size_t>(j, "predictions_for_unknown_queries");
        m.micro_ap = get<double>(j, "micro_ap");
        m.at_p90 = operating_point(j, "at_p90");
        m.at_p99 = operating_point(j, "at_p99");
        const json& d = at(j, "decision");
        m.decision.matches = get<std::size_t>(d, "matches");
        m.decision.true_matches = get<std::size_t>(d, "true_matches");
        m.decision.false_matches = get<std::size_t>(d, "false_matches");
        m.decision.precision = get_optional<double>(d, "precision");
        m.decision.recall = get<double>(d, "recall");
        path_pop();
        const json& fs = at(j, "families");
        for (std::size_t k = 0; k < fs.size(); ++k) {
            path_push(std::to_string(k));
            const json& f = fs.at(k);
            FamilyRecall r;
            r.family = get<std::string>(f, "family");
            r.ground_truth_pairs = get<std::size_t>(f, "ground_truth_pairs");
            r.found_by_decision = get<std::size_t>(f, "found_by_decision");
            r.decision_recall = get<double>(f, "decision_recall");
            r.found_at_p99 = get_optional<std::size_t>(f, "found_at_p99");
            r.recall_at_p99 = get_optional<double>(f, "recall_at_p99");
            m.families.push_back(std::move(r));
            path_pop();
        }
        path_pop();
        const json& h = at(j, "hard_negatives");
        m.hard_negatives.queries = get<std::size_t>(h, "queries");
        m.hard_negatives.false_matches = get<std::size_t>(h, "false_matches");
        m.hard_negatives.related_false_matches = get<std::size_t>(h, "related_false_matches");
        path_pop();
        const json& curve = at(j, "pr_curve");
        const auto thresholds = get<std::vector<float>>(curve, "thresholds");
        const auto true_positives = get<std::vector<std::size_t>>(curve, "true_positives");
        const auto predictions = get<std::vector<std::size_t>>(curve, "predictions");
        if (true_positives.size() != thresholds.size() || predictions.size() != thresholds.size())
            throw std::out_of_range("columns of " + path + " differ in length");
        for (std::size_t k = 0; k < thresholds.size(); ++k) {
            if (predictions[k] == 0 || true_positives[k] > predictions[k] || m.ground_truth_pairs == 0)
                throw std::out_of_range("point " + std::to_string(k) + " of " + path + " has impossible counts");
            m.pr_curve.push_back(PrPoint{thresholds[k],
                                         static_cast<double>(true_positives[k]) / static_cast<double>(predictions[k]),
                                         static_cast<double>(true_positives[k]) / static_cast<double>(m.ground_truth_pairs),
                                         true_positives[k], predictions[k]});
        }
        path_pop();
        return m;
    }
};

}  // namespace

nlohmann::json report_to_json(const Report& report) {
    json methods = json::array();
    for (const MethodMetrics& m : report.methods) methods.push_back(method_to_json(m));
    return json{{"format_version", kReportFormatVersion},
                {"title", report.title},
                {"dataset", report.dataset},
                {"command", report.command},
                {"machine", report.machine},
                {"methods", std::move(methods)}};
}

BenchResult<Report> report_from_json(std::string_view text, std::string_view source) {
    const json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded())
        return make_bench_error(BenchErrorCode::malformed_json, source, 0, "not valid JSON");
    Reader r;
    try {
        const int version = r.get<int>(j, "format_version");
        if (version != kReportFormatVersion)
            return make_bench_error(BenchErrorCode::malformed_json, source, 0,
                                    "format_version " + std::to_string(version) + ", this build reads " +
                                        std::to_string(kReportFormatVersion));
        Report report;
        report.title = r.get<std::string>(j, "title");
        report.dataset = r.get<std::string>(j, "dataset");
        report.command = r.get<std::string>(j, "command");
        report.machine = r.get<std::string>(j, "machine");
        const json& methods = r.at(j, "methods");
        for (std::size_t k = 0; k < methods.size(); ++k) {
            r.path_push(std::to_string(k));
            report.methods.push_back(r.method(methods.at(k)));
            r.path_pop();
        }
        return report;
    } catch (const std::exception& e) {
        // A type error names the value's type, not the field: add the field's path.
        const std::string what = dynamic_cast<const std::out_of_range*>(&e) != nullptr
                                     ? std::string(e.what())
                                     : "field " + r.path + ": " + e.what();
        return make_bench_error(BenchErrorCode::malformed_json, source, 0, what);
    }
}

}  // namespace neardup::bench
