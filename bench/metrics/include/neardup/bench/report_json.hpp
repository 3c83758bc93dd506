// The report as JSON for tools, and back. Absent values (no P0.99 point, no decision precision) are null.
// A method's "pr_curve" is three columns, "thresholds", "true_positives", "predictions" (at or above each
// threshold); precision = true_positives / predictions and recall = true_positives / ground_truth_pairs.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "neardup/bench/bench_error.hpp"
#include "neardup/bench/report.hpp"

namespace neardup::bench {

// Version of the JSON layout, written as "format_version"; bump when a field changes meaning.
inline constexpr int kReportFormatVersion = 1;

nlohmann::json report_to_json(const Report& report);
// Refuses (malformed_json) text that is not JSON, another format_version, or a missing or mistyped field.
BenchResult<Report> report_from_json(std::string_view text, std::string_view source);

}  // namespace neardup::bench
